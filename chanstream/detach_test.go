package chanstream_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cspstream/streams/chanstream"
	"github.com/cspstream/streams/testutil"
)

// detachPayload is what a peer sends after its preamble: a pattern in
// which a lost, repeated or reordered byte shows.
func detachPayload(n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i*31 + i/251)
	}
	return p
}

// readAllAsync reads c to EOF in a goroutine; the result arrives on the
// channel returned.
func readAllAsync(c net.Conn) <-chan []byte {
	ch := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(c)
		ch <- b
	}()
	return ch
}

// TestDetach hands a TCP connection on after a line-based preamble, with
// writes queued: every byte the peer sent after the preamble arrives once,
// in order, in the unread bytes or on the conn; the queued writes reach
// the peer before what is written on the detached conn; and the stream is
// closed while the conn is not.
func TestDetach(t *testing.T) {
	for _, tc := range []struct {
		name    string
		payload int
		opts    []chanstream.Option
	}{
		{"small", 100, nil},
		{"read ahead", 1 << 20, nil},
		{"small limit", 256 << 10, []chanstream.Option{chanstream.WithLimit(64)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			testutil.CheckLeaks(t)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			peer, sc := testutil.TCPPair(t)
			r, w := chanstream.New(sc, append(tc.opts, chanstream.WithServerSide())...)
			defer func() {
				w.Abort()
				w.WaitClosed(ctx)
			}()

			payload := detachPayload(tc.payload)
			sent := make(chan error, 1)
			go func() {
				_, err := peer.Write(append([]byte("HELLO proto\r\n"), payload...))
				sent <- err
			}()
			received := readAllAsync(peer)

			if line, err := r.ReadLine(ctx); string(line) != "HELLO proto\r\n" || err != nil {
				t.Fatalf("ReadLine() = %q, %v; want the preamble", line, err)
			}
			queued := bytes.Repeat([]byte("queued;"), 64<<10) // more than a socket takes at once
			w.WriteString("OK\r\n")
			w.Write(queued)

			nc, unread, err := w.Detach(ctx)
			if err != nil {
				t.Fatalf("Detach() = %v", err)
			}
			if nc != sc {
				t.Fatalf("Detach() returned %T %p; want the conn given to New", nc, nc)
			}
			if len(unread) > len(payload) || !bytes.Equal(unread, payload[:len(unread)]) {
				t.Fatalf("unread = %d bytes, not a prefix of the payload", len(unread))
			}
			rest := make([]byte, len(payload)-len(unread))
			if _, err := io.ReadFull(nc, rest); err != nil || !bytes.Equal(rest, payload[len(unread):]) {
				t.Fatalf("read %d bytes after the %d unread from the detached conn: %v, equal %v", len(rest), len(unread), err, bytes.Equal(rest, payload[len(unread):]))
			}
			if err := <-sent; err != nil {
				t.Fatalf("peer Write() = %v", err)
			}
			t.Logf("%d bytes unread, %d on the conn", len(unread), len(rest))

			// The stream is closed; the conn is the caller's.
			if err := w.WaitClosed(ctx); err != nil {
				t.Fatalf("WaitClosed() after Detach = %v", err)
			}
			if _, err := r.ReadLine(ctx); !errors.Is(err, chanstream.ErrClosed) {
				t.Errorf("ReadLine() after Detach = %v; want ErrClosed", err)
			}
			if _, err := w.WriteString("late"); !errors.Is(err, chanstream.ErrClosed) {
				t.Errorf("WriteString() after Detach = %v; want ErrClosed", err)
			}
			if !w.IsClosing() {
				t.Errorf("IsClosing() after Detach = false; want true")
			}
			w.Abort() // no longer reaches the conn
			if _, err := nc.Write([]byte("AFTER")); err != nil {
				t.Fatalf("Write on the detached conn = %v", err)
			}
			nc.(*net.TCPConn).CloseWrite()
			got := <-received
			want := append(append([]byte("OK\r\n"), queued...), "AFTER"...)
			if !bytes.Equal(got, want) {
				t.Fatalf("peer received %d bytes; want %d: the queued writes, then AFTER", len(got), len(want))
			}
		})
	}
}

// TestDetachConcurrentWrites detaches while another goroutine writes
// numbered lines: every line whose Write succeeded reaches the peer, in
// order, before the detached conn's first byte; later Writes fail with
// ErrClosed.
func TestDetachConcurrentWrites(t *testing.T) {
	testutil.CheckLeaks(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	peer, sc := testutil.TCPPair(t)
	// high 0: each Drain waits for an empty queue, so the queue empties
	// between Writes and Detach gets its chance — and Writes still land
	// between its steps.
	_, w := chanstream.New(sc, chanstream.WithWriteBufferLimits(0, 0))
	defer func() {
		w.Abort()
		w.WaitClosed(ctx)
	}()
	received := readAllAsync(peer)
	last := make(chan int, 1)
	go func() {
		i := 0
		for ; ; i++ {
			if _, err := w.WriteString(strconv.Itoa(i) + "\n"); err != nil {
				if !errors.Is(err, chanstream.ErrClosed) {
					t.Errorf("WriteString(%d) = %v; want nil or ErrClosed", i, err)
				}
				break
			}
			w.Drain(ctx)
		}
		last <- i - 1
	}()
	nc, _, err := w.Detach(ctx)
	if err != nil {
		t.Fatalf("Detach() = %v", err)
	}
	n := <-last
	nc.Write([]byte("AFTER\n"))
	nc.(*net.TCPConn).CloseWrite()
	var want strings.Builder
	for i := 0; i <= n; i++ {
		fmt.Fprintf(&want, "%d\n", i)
	}
	want.WriteString("AFTER\n")
	if got := <-received; string(got) != want.String() {
		t.Fatalf("peer received %d bytes; want lines 0..%d then AFTER (%d bytes)", len(got), n, want.Len())
	}
}

// TestDetachCtx: a ctx that has ended, or ends while Detach waits for a
// peer that does not read, leaves the stream as it was: every byte
// buffered, and queued bytes still written.
func TestDetachCtx(t *testing.T) {
	testutil.CheckLeaks(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	peer, sc := testutil.TCPPair(t)
	r, w := chanstream.New(sc)
	defer func() {
		w.Abort()
		w.WaitClosed(ctx)
	}()
	peer.Write([]byte("one\ntwo\n"))
	if line, err := r.ReadLine(ctx); string(line) != "one\n" || err != nil {
		t.Fatalf("ReadLine() = %q, %v", line, err)
	}

	ended, end := context.WithCancel(ctx)
	end()
	if nc, unread, err := w.Detach(ended); err != context.Canceled || nc != nil || unread != nil {
		t.Fatalf("Detach(ended ctx) = %v, %q, %v; want nil, nil, context.Canceled", nc, unread, err)
	}

	// A peer that does not read: the flush cannot finish before the ctx ends.
	big := bytes.Repeat([]byte{'z'}, 16<<20)
	w.Write(big)
	short, stop := context.WithTimeout(ctx, 50*time.Millisecond)
	defer stop()
	if _, _, err := w.Detach(short); err != context.DeadlineExceeded {
		t.Fatalf("Detach() with the peer not reading = %v; want context.DeadlineExceeded", err)
	}

	// The stream goes on: the buffered line is there, writes go out.
	if line, err := r.ReadLine(ctx); string(line) != "two\n" || err != nil {
		t.Fatalf("ReadLine() after the failed Detaches = %q, %v; want %q", line, err, "two\n")
	}
	w.WriteString("end\n")
	w.Close()
	br := bufio.NewReader(peer)
	got := make([]byte, len(big))
	if _, err := io.ReadFull(br, got); err != nil || !bytes.Equal(got, big) {
		t.Fatalf("peer read the big write: %v", err)
	}
	if line, err := br.ReadString('\n'); line != "end\n" || err != nil {
		t.Fatalf("peer ReadString() = %q, %v; want %q", line, err, "end\n")
	}
	if err := w.WaitClosed(ctx); err != nil {
		t.Fatalf("WaitClosed() = %v", err)
	}
}

// TestDetachTLS: over TLS the *tls.Conn comes back, and reading it goes on
// where the stream stopped.
func TestDetachTLS(t *testing.T) {
	testutil.CheckLeaks(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	serverTLS, clientTLS := testutil.SelfSignedTLS(t)
	cc, sc := testutil.TCPPair(t)
	peer := tls.Server(sc, serverTLS)
	defer peer.Close()
	clientTLS = clientTLS.Clone()
	clientTLS.ServerName = "localhost"
	r, w := chanstream.New(cc, chanstream.WithTLS(clientTLS))
	defer func() {
		w.Abort()
		w.WaitClosed(ctx)
	}()
	payload := detachPayload(200 << 10)
	go peer.Write(append([]byte("220 ready\r\n"), payload...))
	received := readAllAsync(peer)

	if line, err := r.ReadLine(ctx); string(line) != "220 ready\r\n" || err != nil {
		t.Fatalf("ReadLine() = %q, %v", line, err)
	}
	w.WriteString("queued\r\n")
	nc, unread, err := w.Detach(ctx)
	if err != nil {
		t.Fatalf("Detach() = %v", err)
	}
	tc, ok := nc.(*tls.Conn)
	if !ok {
		t.Fatalf("Detach() returned a %T; want *tls.Conn", nc)
	}
	rest := make([]byte, len(payload)-len(unread))
	if _, err := io.ReadFull(tc, rest); err != nil || !bytes.Equal(append(unread, rest...), payload) {
		t.Fatalf("unread (%d) + conn (%d): %v; want the payload", len(unread), len(rest), err)
	}
	tc.Write([]byte("after\r\n"))
	tc.Close()
	if got := <-received; string(got) != "queued\r\nafter\r\n" {
		t.Fatalf("peer received %q; want %q", got, "queued\r\nafter\r\n")
	}
}

// TestDetachRefused: after Close, on NewWriter, with a nil ctx, and once
// the source ended, Detach refuses, and in the last case the stream goes
// on.
func TestDetachRefused(t *testing.T) {
	testutil.CheckLeaks(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	nw := chanstream.NewWriter(io.Discard)
	if _, _, err := nw.Detach(ctx); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("NewWriter(...).Detach() = %v; want errors.ErrUnsupported", err)
	}
	nw.Close()
	nw.WaitClosed(ctx)

	client, server := testutil.Loopback(t)
	//lint:ignore SA1012 a nil ctx is what is tested
	if _, _, err := server.W.Detach(nil); !errors.Is(err, chanstream.ErrInvalidArgument) { //nolint:staticcheck
		t.Errorf("Detach(nil) = %v; want ErrInvalidArgument", err)
	}

	// The peer's EOF has been read: refused, and the buffered bytes stay.
	client.W.WriteString("last words")
	client.W.WriteEOF()
	// ReadAll returns at the EOF: the reader goroutine has ended.
	if got, err := server.R.ReadAll(ctx); string(got) != "last words" || err != nil {
		t.Fatalf("ReadAll() = %q, %v", got, err)
	}
	server.R.Unread([]byte("last words"))
	if _, _, err := server.W.Detach(ctx); err == nil || errors.Is(err, chanstream.ErrClosed) {
		t.Errorf("Detach() after the source ended = %v; want an error that it ended", err)
	}
	if got, err := server.R.ReadAll(ctx); string(got) != "last words" || err != nil {
		t.Errorf("ReadAll() after the refused Detach = %q, %v; want the bytes", got, err)
	}

	server.W.Close()
	if _, _, err := server.W.Detach(ctx); !errors.Is(err, chanstream.ErrClosed) {
		t.Errorf("Detach() after Close = %v; want ErrClosed", err)
	}
}

// TestDetachClose: a Close made while Detach waits for the flush wins:
// Detach returns ErrClosed, and the stream writes its queue and closes the
// connection as Close asks.
func TestDetachClose(t *testing.T) {
	testutil.CheckLeaks(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	peer, sc := testutil.TCPPair(t)
	_, w := chanstream.New(sc)
	big := bytes.Repeat([]byte{'q'}, 16<<20) // more than the sockets hold: the flush waits for the peer
	w.Write(big)
	detached := make(chan error, 1)
	go func() {
		_, _, err := w.Detach(ctx)
		detached <- err
	}()
	w.Close()
	received := readAllAsync(peer) // the peer reads now: the flush can finish
	if err := <-detached; !errors.Is(err, chanstream.ErrClosed) {
		t.Fatalf("Detach() with a Close meanwhile = %v; want ErrClosed", err)
	}
	if got := <-received; !bytes.Equal(got, big) {
		t.Fatalf("peer received %d bytes then EOF; want the %d queued", len(got), len(big))
	}
	if err := w.WaitClosed(ctx); err != nil {
		t.Fatalf("WaitClosed() = %v", err)
	}
}
