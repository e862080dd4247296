package chanstream

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"
)

// socketPair returns a stream made by New over a plain TCP socket on
// loopback, and the socket's peer.
func socketPair(t *testing.T) (*Reader, *Writer, *net.TCPConn) {
	t.Helper()
	peer, c := rawPair(t)
	r, w := New(c)
	t.Cleanup(func() {
		_ = w.Abort()
		<-w.Done()
	})
	return r, w, peer
}

// waitingRead starts ReadUpTo(ctx, 64) in a goroutine and returns once it
// is about to wait for a chunk with nothing buffered, with a channel that
// gets its result.
func waitingRead(t *testing.T, ctx context.Context, r *Reader) <-chan readResult {
	t.Helper()
	waiting := hookWait(t)
	res := make(chan readResult, 1)
	go func() {
		b, err := r.ReadUpTo(ctx, 64)
		res <- readResult{b, err}
	}()
	select {
	case <-waiting:
	case <-time.After(10 * time.Second):
		t.Fatal("the read never waited")
	}
	return res
}

// hookWait returns a channel that gets a value each time a read is about to
// wait for the reader goroutine (coalescing), until t ends.
func hookWait(t *testing.T) <-chan struct{} {
	waiting := make(chan struct{}, 1)
	testHookReadWait = func() {
		select {
		case waiting <- struct{}{}:
		default:
		}
	}
	t.Cleanup(func() { testHookReadWait = nil })
	return waiting
}

type readResult struct {
	b   []byte
	err error
}

func recvResult(t *testing.T, res <-chan readResult) readResult {
	t.Helper()
	select {
	case got := <-res:
		return got
	case <-time.After(10 * time.Second):
		t.Fatal("a waiting read was not woken")
		return readResult{}
	}
}

// TestSocketReadIsWoken: each thing that may end a read's wait over a
// socket does, and the stream goes on reading afterwards.
func TestSocketReadIsWoken(t *testing.T) {
	t.Run("unread", func(t *testing.T) {
		r, _, peer := socketPair(t)
		res := waitingRead(t, context.Background(), r)
		r.Unread([]byte("back"))
		if got := recvResult(t, res); string(got.b) != "back" || got.err != nil {
			t.Fatalf("ReadUpTo = %q, %v; want %q, nil", got.b, got.err, "back")
		}
		goesOn(t, r, peer)
	})
	t.Run("ctx", func(t *testing.T) {
		r, _, peer := socketPair(t)
		ctx, cancel := context.WithCancel(context.Background())
		res := waitingRead(t, ctx, r)
		cancel()
		if got := recvResult(t, res); got.b != nil || got.err != context.Canceled {
			t.Fatalf("ReadUpTo = %q, %v; want nil, context.Canceled", got.b, got.err)
		}
		goesOn(t, r, peer)
	})
	t.Run("netconn-deadline", func(t *testing.T) {
		r, w, peer := socketPair(t)
		nc := NetConn(r, w)
		if err := nc.SetReadDeadline(time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		res := make(chan error, 1)
		waiting := hookWait(t)
		go func() {
			_, err := nc.Read(make([]byte, 64))
			res <- err
		}()
		<-waiting
		if err := nc.SetReadDeadline(time.Unix(1, 0)); err != nil { // moved into the past: wakes the Read
			t.Fatal(err)
		}
		select {
		case err := <-res:
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("Read = %v; want os.ErrDeadlineExceeded", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a NetConn deadline did not wake the read")
		}
		if err := nc.SetReadDeadline(time.Time{}); err != nil {
			t.Fatal(err)
		}
		goesOn(t, r, peer)
	})
	t.Run("feedeof", func(t *testing.T) {
		r, _, peer := socketPair(t)
		res := waitingRead(t, context.Background(), r)
		r.FeedEOF()
		if got := recvResult(t, res); got.b != nil || got.err != io.EOF {
			t.Fatalf("ReadUpTo = %q, %v; want nil, io.EOF", got.b, got.err)
		}
		if _, err := peer.Write([]byte("after")); err != nil && !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, syscall.EPIPE) {
			t.Fatal(err)
		}
		if b, err := r.ReadUpTo(context.Background(), 64); b != nil || err != io.EOF {
			t.Fatalf("ReadUpTo after FeedEOF = %q, %v; want nil, io.EOF (bytes after FeedEOF are not read)", b, err)
		}
	})
	t.Run("close", func(t *testing.T) {
		r, w, _ := socketPair(t)
		res := waitingRead(t, context.Background(), r)
		w.Close()
		if got := recvResult(t, res); got.b != nil || !errors.Is(got.err, ErrClosed) {
			t.Fatalf("ReadUpTo = %q, %v; want nil, ErrClosed", got.b, got.err)
		}
	})
	t.Run("reset", func(t *testing.T) {
		r, w, peer := socketPair(t)
		res := waitingRead(t, context.Background(), r)
		_ = peer.SetLinger(0)
		peer.Close()
		got := recvResult(t, res)
		if got.b != nil || got.err == nil || errors.Is(got.err, ErrClosed) {
			t.Fatalf("ReadUpTo = %q, %v; want nil and the reset", got.b, got.err)
		}
		if !errors.Is(got.err, syscall.ECONNRESET) {
			t.Fatalf("ReadUpTo = %v; want ECONNRESET", got.err)
		}
		select { // a failed read ends the stream
		case <-w.Done():
		case <-time.After(10 * time.Second):
			t.Fatal("the stream did not end after its read met the reset")
		}
	})
}

// goesOn checks that r still reads what peer sends.
func goesOn(t *testing.T, r *Reader, peer net.Conn) {
	t.Helper()
	testHookReadWait = nil
	if _, err := peer.Write([]byte("more\n")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if line, err := r.ReadLine(ctx); string(line) != "more\n" || err != nil {
		t.Fatalf("ReadLine after the wake = %q, %v; want %q, nil", line, err, "more\n")
	}
}

// TestSocketCancelLosesNothing: reads whose ctx is cancelled at random
// moments — before they look, while they wait for the reader goroutine, as
// bytes arrive — consume nothing; every byte the peer sent is read once, in
// order.
func TestSocketCancelLosesNothing(t *testing.T) {
	r, _, peer := socketPair(t)
	want := make([]byte, 256<<10)
	for i := range want {
		want[i] = byte(i * 7 / 5)
	}
	// The peer keeps at most two pieces ahead of the reader, so that reads
	// often find the socket empty and wait.
	progress := make(chan int, len(want)) // bytes read so far, after each read (at most one read per byte: never blocks)
	sent := make(chan error, 1)
	go func() {
		read := 0
		for off := 0; off < len(want); off += 1000 {
			for read < off-1000 {
				read = <-progress
			}
			if _, err := peer.Write(want[off:min(off+1000, len(want))]); err != nil {
				sent <- err
				return
			}
		}
		sent <- nil
	}()
	var (
		got       []byte
		cancelled int
		atWait    func() // cancels the read in progress when it is about to wait
	)
	testHookReadWait = func() { // runs in the reading goroutine: no race on atWait
		if atWait != nil {
			atWait()
		}
	}
	defer func() { testHookReadWait = nil }()
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; len(got) < len(want); i++ {
		if time.Now().After(deadline) {
			t.Fatalf("read %d of %d bytes in 30 s", len(got), len(want))
		}
		ctx, cancel := context.WithCancel(context.Background())
		atWait = nil
		switch i % 3 {
		case 0:
			go cancel() // races with the read
		case 1:
			atWait = cancel // ends the wait for a chunk
		}
		b, err := r.ReadUpTo(ctx, 777)
		cancel()
		switch {
		case err == context.Canceled:
			if b != nil {
				t.Fatalf("a cancelled read returned %d bytes", len(b))
			}
			cancelled++
		case err != nil:
			t.Fatalf("ReadUpTo: %v", err)
		default:
			got = append(got, b...)
			progress <- len(got)
		}
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		i := 0
		for i < len(got) && got[i] == want[i] {
			i++
		}
		t.Fatalf("bytes differ from offset %d", i)
	}
	t.Logf("%d reads cancelled", cancelled)
}

// TestErrAfterClose: with no read in progress, a local Close or Abort
// shows in Err and AtEOF once the stream is done.
func TestErrAfterClose(t *testing.T) {
	for _, abort := range []bool{true, false} {
		r, w, _ := socketPair(t)
		if abort {
			w.Abort()
		} else {
			w.Close()
		}
		<-w.Done()
		if err := r.Err(); !errors.Is(err, ErrClosed) {
			t.Errorf("abort=%v: Err() = %v; want ErrClosed", abort, err)
		}
		if !r.AtEOF() {
			t.Errorf("abort=%v: AtEOF() = false after Done", abort)
		}
		if b, err := r.ReadUpTo(context.Background(), 8); b != nil || !errors.Is(err, ErrClosed) {
			t.Errorf("abort=%v: ReadUpTo = %q, %v; want nil, ErrClosed", abort, b, err)
		}
	}
}

// TestFeedEOFThenUpgrade: after FeedEOF, Upgrade says the source has
// ended and does not call fn, even when no read has run since.
func TestFeedEOFThenUpgrade(t *testing.T) {
	r, w, _ := socketPair(t)
	r.FeedEOF()
	called := false
	err := w.Upgrade(context.Background(), func(_ context.Context, c net.Conn, _ []byte) (net.Conn, error) {
		called = true
		return c, nil
	})
	if err == nil || called {
		t.Fatalf("Upgrade after FeedEOF = %v, fn called %v; want an error, fn not called", err, called)
	}
	if !errors.Is(err, io.EOF) {
		t.Fatalf("Upgrade after FeedEOF = %v; want it to say the source ended (io.EOF)", err)
	}
}

// TestNetConnDeadlinesLoseNothing: NetConn read deadlines of a few
// microseconds expire at every point of a read over a socket — before it
// looks, while it waits, as bytes arrive — and not one counted record is
// lost or read twice.
func TestNetConnDeadlinesLoseNothing(t *testing.T) {
	r, w, peer := socketPair(t)
	nc := NetConn(r, w)
	const records = 5000
	progress := make(chan int, records+1) // records read so far; never blocks
	sent := make(chan error, 1)
	go func() { // at most 16 records ahead of the reader: reads often wait
		read := 0
		for i := range records {
			for read < i-16 {
				read = <-progress
			}
			if _, err := peer.Write(binary.BigEndian.AppendUint32(nil, uint32(i))); err != nil {
				sent <- err
				return
			}
		}
		sent <- nil
	}()
	var (
		buf      []byte
		next     uint32
		timeouts int
		p        = make([]byte, 3) // records straddle reads
	)
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; next < records; i++ {
		if time.Now().After(deadline) {
			t.Fatalf("read %d of %d records in 30 s", next, records)
		}
		if err := nc.SetReadDeadline(time.Now().Add(time.Duration(i%4) * 15 * time.Microsecond)); err != nil {
			t.Fatal(err)
		}
		k, err := nc.Read(p)
		buf = append(buf, p[:k]...)
		if err != nil {
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatal(err)
			}
			timeouts++
			continue
		}
		for ; len(buf) >= 4; buf = buf[4:] {
			if got := binary.BigEndian.Uint32(buf); got != next {
				t.Fatalf("record %d read as %d", next, got)
			}
			next++
		}
		progress <- int(next)
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	t.Logf("%d reads timed out", timeouts)
}

// TestOverUnixSocket: over a Unix stream socket a cancelled wait leaves
// the stream reading.
func TestOverUnixSocket(t *testing.T) {
	ln, err := net.Listen("unix", t.TempDir()+"/s")
	if err != nil {
		t.Skip("no unix sockets here:", err)
	}
	defer ln.Close()
	peer, err := net.Dial("unix", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	r, w := New(c)
	defer func() {
		_ = w.Abort()
		<-w.Done()
	}()
	ctx, cancel := context.WithCancel(context.Background())
	res := waitingRead(t, ctx, r)
	cancel()
	if got := recvResult(t, res); got.b != nil || got.err != context.Canceled {
		t.Fatalf("ReadUpTo = %q, %v; want nil, context.Canceled", got.b, got.err)
	}
	goesOn(t, r, peer)
}

// TestCleanEndStaysClean: after a clean EOF or FeedEOF, a local Close
// does not turn Err into an error.
func TestCleanEndStaysClean(t *testing.T) {
	for _, how := range []string{"eof", "feedeof"} {
		r, w, peer := socketPair(t)
		if how == "eof" {
			peer.Close()
			if b, err := r.ReadUpTo(context.Background(), 8); b != nil || err != io.EOF {
				t.Fatalf("ReadUpTo = %q, %v; want nil, io.EOF", b, err)
			}
		} else {
			r.FeedEOF()
		}
		w.Close()
		<-w.Done()
		if err := r.Err(); err != nil {
			t.Errorf("%s: Err() after Close = %v; want nil", how, err)
		}
		if !r.AtEOF() {
			t.Errorf("%s: AtEOF() = false", how)
		}
	}
}

func TestSetTLSShutdownTimeoutInvalid(t *testing.T) {
	_, w, _ := socketPair(t)
	if err := w.SetTLSShutdownTimeout(0); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("SetTLSShutdownTimeout(0) = %v; want ErrInvalidArgument", err)
	}
}

// eventually waits, bounded, for cond: for states that no channel reports
// (AtEOF, Err), reached by the reader goroutine on its own.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10 s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestPeerFINSeenWithoutARead: the reader goroutine is always reading, so
// a peer's FIN makes AtEOF true with no read call, once the bytes before
// it are consumed, and Err stays nil.
func TestPeerFINSeenWithoutARead(t *testing.T) {
	r, _, peer := socketPair(t)
	if _, err := peer.Write([]byte("last")); err != nil {
		t.Fatal(err)
	}
	if err := peer.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "Buffered() == 4", func() bool { return r.Buffered() == 4 })
	eventually(t, "the EOF behind the bytes", func() bool { return r.ended.Load() })
	if r.AtEOF() {
		t.Fatal("AtEOF() = true with 4 bytes unread")
	}
	if b, err := r.ReadUpTo(context.Background(), 64); string(b) != "last" || err != nil {
		t.Fatalf("ReadUpTo = %q, %v; want %q, nil", b, err, "last")
	}
	if !r.AtEOF() {
		t.Fatal("AtEOF() = false after the peer's FIN and every byte read")
	}
	if err := r.Err(); err != nil {
		t.Fatalf("Err() = %v after a clean FIN; want nil", err)
	}
}

// TestPeerResetSeenWithoutARead: a peer's reset with no read call pending
// shows in Err (ECONNRESET) and makes Drain return it at once, with
// nothing queued and with bytes stuck in the queue.
func TestPeerResetSeenWithoutARead(t *testing.T) {
	t.Run("nothing-queued", func(t *testing.T) {
		r, w, peer := socketPair(t)
		_ = peer.SetLinger(0)
		peer.Close()
		eventually(t, "Err() after the reset", func() bool { return r.Err() != nil })
		if err := r.Err(); !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("Err() = %v; want ECONNRESET", err)
		}
		if err := w.Drain(context.Background()); !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("Drain() = %v; want ECONNRESET", err)
		}
		<-w.Done() // the failure ended the stream
	})
	t.Run("queued", func(t *testing.T) {
		r, w, peer := socketPair(t)
		big := make([]byte, 16<<20) // more than both socket buffers: some stays queued, the peer never reads
		if _, err := w.Write(big); err != nil {
			t.Fatal(err)
		}
		drained := make(chan error, 1)
		go func() { drained <- w.Drain(context.Background()) }()
		_ = peer.SetLinger(0)
		peer.Close()
		select {
		case err := <-drained:
			// The reader goroutine or the writer goroutine meets the reset
			// first; the other then sees EPIPE or EOF.
			if !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, syscall.EPIPE) {
				t.Fatalf("Drain() = %v; want the reset", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Drain did not return after the peer's reset")
		}
		if r.Err() == nil {
			t.Fatal("Err() = nil after the reset")
		}
		<-w.Done()
	})
}

// TestReadAllWithUnread: ReadAll over a socket returns bytes put back
// before it, and bytes put back while it waits, in front of what the peer
// sends — and is woken by the Unread without spinning.
func TestReadAllWithUnread(t *testing.T) {
	t.Run("before", func(t *testing.T) {
		r, _, peer := socketPair(t)
		r.Unread([]byte("back,"))
		if _, err := peer.Write([]byte("sent")); err != nil {
			t.Fatal(err)
		}
		peer.CloseWrite()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if b, err := r.ReadAll(ctx); string(b) != "back,sent" || err != nil {
			t.Fatalf("ReadAll = %q, %v; want %q, nil", b, err, "back,sent")
		}
	})
	t.Run("while-waiting", func(t *testing.T) {
		r, _, peer := socketPair(t)
		if _, err := peer.Write([]byte("first,")); err != nil {
			t.Fatal(err)
		}
		eventually(t, "Buffered() == 6", func() bool { return r.Buffered() == 6 })
		waiting := hookWait(t)
		res := make(chan readResult, 1)
		go func() {
			b, err := r.ReadAll(context.Background())
			res <- readResult{b, err}
		}()
		<-waiting
		r.Unread([]byte("back,"))
		<-waiting // woken by the Unread, waiting again: nothing spins
		if _, err := peer.Write([]byte("last")); err != nil {
			t.Fatal(err)
		}
		peer.CloseWrite()
		got := recvResult(t, res)
		if string(got.b) != "back,first,last" || got.err != nil {
			t.Fatalf("ReadAll = %q, %v; want %q, nil", got.b, got.err, "back,first,last")
		}
	})
}
