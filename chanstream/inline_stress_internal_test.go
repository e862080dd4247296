package chanstream

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// TestInlineStressChunkInterrupted: while Reader.WriteTo's first whole chunk
// is being written inline (testHookInlineWrite, w.mu released), another
// caller Writes, WriteLines, Closes, WriteEOFs or Aborts the Writer. The
// chunk's unwritten rest goes out before the interloping Write, which
// arrives whole; after Close and WriteEOF the peer gets exactly the bytes
// WriteTo reports; after Abort a prefix; the counts agree.
func TestInlineStressChunkInterrupted(t *testing.T) {
	if !rawReadSupported {
		t.Skip("no raw writes on this platform")
	}
	for _, action := range []string{"write", "writelines", "close", "eof", "abort"} {
		t.Run(action, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			r, w0, w, srcPeer, dstPeer, src := copyRig(t, ctx)
			rec := bytes.Repeat([]byte{0xEE}, 20000)

			var calls atomic.Int64
			fired := make(chan struct{})
			var hookErr error
			var bufferedIn int
			testHookInlineWrite = func() {
				if calls.Add(1) != 1 {
					return
				}
				defer close(fired)
				bufferedIn = w.Buffered()
				switch action {
				case "write":
					if n, err := w.Write(rec); n != len(rec) || err != nil {
						hookErr = errors.Join(hookErr, err, errors.New("short write"))
					}
				case "writelines":
					if n, err := w.WriteLines(rec[:7], rec[7:12000], rec[12000:]); n != len(rec) || err != nil {
						hookErr = errors.Join(hookErr, err, errors.New("short write lines"))
					}
				case "close":
					hookErr = w.Close()
				case "eof":
					hookErr = w.WriteEOF()
				case "abort":
					hookErr = w.Abort()
				}
			}
			defer func() { testHookInlineWrite = nil }()

			sent := make(chan error, 1)
			go func() {
				_, err := srcPeer.Write(src)
				sent <- errors.Join(err, srcPeer.CloseWrite())
			}()
			type res struct {
				n   int64
				err error
			}
			copied := make(chan res, 1)
			go func() {
				n, err := r.WriteTo(w)
				copied <- res{n, err}
			}()
			select {
			case <-fired:
			case <-ctx.Done():
				t.Fatal("no inline write was made")
			}
			if hookErr != nil {
				t.Fatalf("%s during the inline write: %v", action, hookErr)
			}
			if bufferedIn < 1 {
				t.Errorf("Buffered() = %d during an inline write; want the bytes being written", bufferedIn)
			}
			if action == "write" || action == "writelines" {
				// Let WriteTo finish, then close: every byte goes out.
				go func() {
					res := <-copied
					_ = w.Close()
					copied <- res
				}()
			}
			got, rerr := io.ReadAll(dstPeer)
			var cr res
			select {
			case cr = <-copied:
			case <-ctx.Done():
				t.Fatal("WriteTo did not return")
			}
			_ = w0.Abort()
			<-sent
			switch action {
			case "write", "writelines":
				if rerr != nil || cr.err != nil || cr.n != int64(len(src)) {
					t.Fatalf("peer read %d, %v; WriteTo = %d, %v", len(got), rerr, cr.n, cr.err)
				}
				k := bytes.IndexByte(got, 0xEE)
				if k < 0 || len(got) != len(src)+len(rec) ||
					!bytes.Equal(got[:k], src[:k]) || !bytes.Equal(got[k:k+len(rec)], rec) || !bytes.Equal(got[k+len(rec):], src[k:]) {
					t.Fatalf("peer got %d bytes, the Write at %d: not the copied stream with the Write whole after the first chunk", len(got), k)
				}
				if k < inlineLarge {
					t.Errorf("the Write arrived after %d copied bytes: inside the chunk being written", k)
				}
			case "close", "eof":
				if !errors.Is(cr.err, ErrClosed) {
					t.Errorf("WriteTo = %d, %v; want ErrClosed", cr.n, cr.err)
				}
				if rerr != nil || !bytes.Equal(got, src[:cr.n]) {
					t.Fatalf("peer got %d bytes (%v); want exactly the %d WriteTo reported", len(got), rerr, cr.n)
				}
			case "abort":
				if cr.err == nil {
					t.Errorf("WriteTo = %d, nil after Abort", cr.n)
				}
				if len(got) > len(src) || !bytes.Equal(got, src[:len(got)]) {
					t.Fatalf("peer got %d bytes, not a prefix of the stream", len(got))
				}
			}
			_ = w.Close()
			<-w.Done()
			if action != "abort" {
				if b := w.Buffered(); b != 0 {
					t.Errorf("Buffered() = %d at the end", b)
				}
				if s := w.Stats().BytesWritten; s != int64(len(got)) {
					t.Errorf("BytesWritten = %d; peer got %d", s, len(got))
				}
			}
		})
	}
}

// CountInlineWrites counts inline writes (every Writer's) until t ends; the
// external adversarial tests use it to see that they took the inline path.
func CountInlineWrites(t testing.TB) func() int64 {
	var n atomic.Int64
	testHookInlineWrite = func() { n.Add(1) }
	t.Cleanup(func() { testHookInlineWrite = nil })
	return n.Load
}

// TestInlineStressDrainDuringInlineWrite: with the default watermarks and unread
// input buffered, a Write of more than the high watermark used to be
// queued, and a concurrent Drain waited for it; now it goes inline, and a
// Drain made while that write is in flight — bytes Buffered counts, above
// high — must still not return nil before they are written (Drain "waits
// while more than high bytes are queued").
func TestInlineStressDrainDuringInlineWrite(t *testing.T) {
	if !rawReadSupported {
		t.Skip("no raw writes on this platform")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, peer := rawPair(t)
	_ = peer.SetDeadline(time.Now().Add(10 * time.Second))
	r, w := New(conn)
	defer func() {
		_ = w.Abort()
		<-w.Done()
	}()
	inFlight := make(chan int, 1)
	release := make(chan struct{})
	var calls atomic.Int64
	testHookInlineWrite = func() {
		if calls.Add(1) == 1 {
			inFlight <- w.Buffered()
			<-release
		}
	}
	defer func() { testHookInlineWrite = nil }()
	if _, err := peer.Write([]byte("unread")); err != nil {
		t.Fatal(err)
	}
	pre, err := r.ReadExactly(ctx, 6)
	if err != nil {
		t.Fatal(err)
	}
	r.Unread(pre) // read-ahead buffered: the application is not answering
	msg := bytes.Repeat([]byte{'z'}, DefaultHighWater+1)
	wrote := make(chan error, 1)
	go func() {
		_, err := w.Write(msg)
		wrote <- err
	}()
	var buffered int
	select {
	case buffered = <-inFlight:
	case err := <-wrote:
		// Queued (as before the change): Drain waits on the watermark.
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Drain(ctx); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(peer, got); err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("peer: %v", err)
		}
		return
	case <-ctx.Done():
		t.Fatal("the Write neither went inline nor returned")
	}
	drained := make(chan error, 1)
	go func() { drained <- w.Drain(ctx) }()
	// Drain either returns (at once) or waits; the write is held until we
	// look, so a return now is a return with the bytes unwritten.
	var early error
	returned := false
	select {
	case early = <-drained:
		returned = true
	case <-time.After(100 * time.Millisecond): // bound on a wait that must block, not synchronisation
	}
	b2 := w.Buffered()
	close(release)
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	if !returned {
		if err := <-drained; err != nil {
			t.Fatal(err)
		}
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(peer, got); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("peer: %v", err)
	}
	if returned && early == nil {
		t.Errorf("Drain returned nil while an inline write of %d bytes was in flight (Buffered() = %d, then %d; high watermark %d)", len(msg), buffered, b2, DefaultHighWater)
	}
}

// TestInlineStressChunkUpgradeDetach: Upgrade or Detach begun while
// Reader.WriteTo's first chunk is being written inline waits for that
// write and its queued rest. After Upgrade (to a wrapper conn) the copy
// goes on and every byte arrives in order; after Detach, WriteTo ends
// with ErrClosed and the peer reads exactly the bytes WriteTo reports,
// then what the caller writes to the detached conn.
func TestInlineStressChunkUpgradeDetach(t *testing.T) {
	if !rawReadSupported {
		t.Skip("no raw writes on this platform")
	}
	for _, action := range []string{"upgrade", "detach"} {
		t.Run(action, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			r, w0, w, srcPeer, dstPeer, src := copyRig(t, ctx)
			type ended struct {
				c   net.Conn
				err error
			}
			done := make(chan ended, 1)
			var calls atomic.Int64
			testHookInlineWrite = func() {
				if calls.Add(1) != 1 {
					return
				}
				go func() { // they wait for this inline write: not in the hook
					if action == "detach" {
						c, unread, err := w.Detach(ctx)
						if err == nil && len(unread) != 0 {
							err = errors.New("unread bytes; the peer sent none")
						}
						done <- ended{c, err}
						return
					}
					err := w.Upgrade(ctx, func(_ context.Context, c net.Conn, unread []byte) (net.Conn, error) {
						if len(unread) != 0 {
							return nil, errors.New("unread bytes; the peer sent none")
						}
						return struct{ net.Conn }{c}, nil
					})
					done <- ended{nil, err}
				}()
			}
			defer func() { testHookInlineWrite = nil }()
			sent := make(chan error, 1)
			go func() {
				_, err := srcPeer.Write(src)
				sent <- errors.Join(err, srcPeer.CloseWrite())
			}()
			type res struct {
				n   int64
				err error
			}
			copied := make(chan res, 1)
			go func() {
				n, err := r.WriteTo(w)
				copied <- res{n, err}
			}()
			type peerRes struct {
				b   []byte
				err error
			}
			read := make(chan peerRes, 1)
			go func() {
				b, err := io.ReadAll(dstPeer)
				read <- peerRes{b, err}
			}()
			var e ended
			select {
			case e = <-done:
			case <-ctx.Done():
				t.Fatal("Upgrade/Detach did not return (or no inline write was made)")
			}
			if e.err != nil {
				t.Fatalf("%s: %v", action, e.err)
			}
			var cr res
			select {
			case cr = <-copied:
			case <-ctx.Done():
				t.Fatal("WriteTo did not return")
			}
			_ = w0.Abort()
			<-sent
			marker := []byte{0xFF, 0xFE}
			want := src
			if action == "detach" {
				// WriteTo may have copied everything while Detach retried.
				if !errors.Is(cr.err, ErrClosed) && (cr.err != nil || cr.n != int64(len(src))) {
					t.Errorf("WriteTo after Detach = %d, %v; want ErrClosed, or all %d copied", cr.n, cr.err, len(src))
				}
				if _, err := e.c.Write(marker); err != nil {
					t.Fatal(err)
				}
				_ = e.c.Close()
				want = append(bytes.Clone(src[:cr.n]), marker...)
			} else {
				if cr.err != nil || cr.n != int64(len(src)) {
					t.Fatalf("WriteTo = %d, %v; want %d, nil", cr.n, cr.err, len(src))
				}
				_ = w.Close()
			}
			var pr peerRes
			select {
			case pr = <-read:
			case <-ctx.Done():
				t.Fatal("peer did not reach EOF")
			}
			if pr.err != nil || !bytes.Equal(pr.b, want) {
				i := 0
				for i < min(len(pr.b), len(want)) && pr.b[i] == want[i] {
					i++
				}
				t.Fatalf("peer got %d bytes (%v), first difference at %d; want %d", len(pr.b), pr.err, i, len(want))
			}
			<-w.Done()
			if s := w.Stats().BytesWritten; action == "upgrade" && s != int64(len(pr.b)) {
				t.Errorf("BytesWritten = %d; peer got %d", s, len(pr.b))
			}
		})
	}
}

// copyRig sets up a copy between two real TCP connections: r (the read
// half of stream w0) reads what srcPeer sends, w writes to dstPeer through 16 KiB socket buffers (so
// inline writes are cut short), and src is 1 MiB of copy-stream bytes
// (below 0x80) for srcPeer to send. Both peers fail rather than block past
// ctx; both streams end with t.
func copyRig(t *testing.T, ctx context.Context) (r *Reader, w0, w *Writer, srcPeer, dstPeer *net.TCPConn, src []byte) {
	t.Helper()
	srcPeer, srcConn := rawPair(t)
	dstConn, dstPeer := rawPair(t)
	if err := dstConn.SetWriteBuffer(16 << 10); err != nil {
		t.Fatal(err)
	}
	if err := dstPeer.SetReadBuffer(16 << 10); err != nil {
		t.Fatal(err)
	}
	deadline, _ := ctx.Deadline()
	_ = srcPeer.SetDeadline(deadline)
	_ = dstPeer.SetDeadline(deadline)
	r, w0 = New(srcConn)
	_, w = New(dstConn)
	t.Cleanup(func() {
		_ = w0.Abort()
		_ = w.Abort()
		<-w0.Done()
		<-w.Done()
	})
	src = make([]byte, 1<<20)
	for i := range src {
		src[i] = (byte(i%113) ^ byte(i>>13)) & 0x7f
	}
	return r, w0, w, srcPeer, dstPeer, src
}
