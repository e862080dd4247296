package chanstream_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/cspstream/streams/chanstream"
	"github.com/cspstream/streams/testutil"
)

// TestMaxWriteBuffer fills a capped queue towards a peer that does not
// read: each of Write, WriteString and WriteLines that would pass the cap
// returns (0, ErrWriteBufferFull) and queues nothing; what fits is queued;
// once the peer reads, every accepted byte arrives, in order, and nothing
// refused does.
func TestMaxWriteBuffer(t *testing.T) {
	testutil.CheckLeaks(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	const max = 1000
	// A pipe, not a socket: the peer's reads say exactly when bytes leave.
	p1, p2 := net.Pipe()
	// High just under the cap: a full queue is above it, so Drain waits for empty.
	_, w := chanstream.New(p1, chanstream.WithWriteBufferLimits(max-1, 0), chanstream.WithMaxWriteBuffer(max))
	defer func() {
		w.Abort()
		p2.Close()
		w.WaitClosed(ctx)
	}()
	if got := w.MaxWriteBuffer(); got != max {
		t.Fatalf("MaxWriteBuffer() = %d; want %d", got, max)
	}

	var want bytes.Buffer
	accept := func(name string, n int, err error, p string) {
		t.Helper()
		if n != len(p) || err != nil {
			t.Fatalf("%s(%d bytes) with %d queued = %d, %v; want %d, nil", name, len(p), w.Buffered(), n, err, len(p))
		}
		want.WriteString(p)
	}
	refuse := func(name string, n int, err error, before int) {
		t.Helper()
		if n != 0 || err != chanstream.ErrWriteBufferFull {
			t.Fatalf("%s past the cap = %d, %v; want 0, ErrWriteBufferFull", name, n, err)
		}
		if got := w.Buffered(); got != before {
			t.Fatalf("%s past the cap: Buffered() = %d, was %d; want nothing queued", name, got, before)
		}
	}
	a := strings.Repeat("a", 600)
	n, err := w.WriteString(a)
	accept("WriteString", n, err, a)
	n, err = w.Write([]byte(strings.Repeat("b", 401))) // 1001
	refuse("Write", n, err, 600)
	n, err = w.WriteString(strings.Repeat("c", 401))
	refuse("WriteString", n, err, 600)
	n, err = w.WriteLines([]byte(strings.Repeat("d", 200)), []byte(strings.Repeat("e", 201)))
	refuse("WriteLines", n, err, 600)
	n, err = w.WriteLines([]byte(strings.Repeat("f", 200)), []byte(strings.Repeat("g", 200))) // exactly the cap
	accept("WriteLines", n, err, strings.Repeat("f", 200)+strings.Repeat("g", 200))
	n, err = w.Write([]byte("h"))
	refuse("Write", n, err, max)
	n, err = w.Write(nil)
	if n != 0 || err != nil {
		t.Fatalf("Write(nil) at the cap = %d, %v; want 0, nil", n, err)
	}
	if s := w.Stats(); s.WriteQueuedPeak != max {
		t.Fatalf("WriteQueuedPeak = %d; want %d", s.WriteQueuedPeak, max)
	}

	// The peer reads: the queue empties and Writes fit again.
	got := make([]byte, want.Len())
	if _, err := io.ReadFull(p2, got); err != nil || !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("peer read %q, %v; want %q", got, err, want.Bytes())
	}
	if err := w.Drain(ctx); err != nil {
		t.Fatalf("Drain() = %v", err)
	}
	n, err = w.WriteString("after\n")
	if n != 6 || err != nil {
		t.Fatalf("WriteString after the peer read = %d, %v; want 6, nil", n, err)
	}
	line := make([]byte, 6)
	if _, err := io.ReadFull(p2, line); err != nil || string(line) != "after\n" {
		t.Fatalf("peer read %q, %v; want %q", line, err, "after\n")
	}
}

// TestMaxWriteBufferInline: over a real socket, where a Write to an empty
// queue goes to the socket inline, a Write larger than the cap is refused
// all the same, and one that fits is written.
func TestMaxWriteBufferInline(t *testing.T) {
	testutil.CheckLeaks(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client, server := testutil.Loopback(t, chanstream.WithWriteBufferLimits(100, 10), chanstream.WithMaxWriteBuffer(100))
	// Make the server "answering" (it has consumed what it received), so
	// that its next Write would go inline.
	client.W.WriteString("ping\n")
	if _, err := server.R.ReadLine(ctx); err != nil {
		t.Fatalf("ReadLine() = %v", err)
	}
	if n, err := server.W.Write(bytes.Repeat([]byte{'x'}, 101)); n != 0 || err != chanstream.ErrWriteBufferFull {
		t.Fatalf("inline-eligible Write(101) under a cap of 100 = %d, %v; want 0, ErrWriteBufferFull", n, err)
	}
	if n, err := server.W.WriteString("pong\n"); n != 5 || err != nil {
		t.Fatalf("WriteString(pong) = %d, %v; want 5, nil", n, err)
	}
	if line, err := client.R.ReadLine(ctx); string(line) != "pong\n" || err != nil {
		t.Fatalf("client ReadLine() = %q, %v; want %q (nothing of the refused Write)", line, err, "pong\n")
	}
	if s := server.W.Stats(); s.BytesWritten != 5 {
		t.Fatalf("BytesWritten = %d; want 5", s.BytesWritten)
	}
}

// TestMaxWriteBufferSetLimits: SetWriteBufferLimits may not raise high
// above the cap; at the cap and below, it may.
func TestMaxWriteBufferSetLimits(t *testing.T) {
	testutil.CheckLeaks(t)
	w := chanstream.NewWriter(io.Discard, chanstream.WithWriteBufferLimits(100, 10), chanstream.WithMaxWriteBuffer(200))
	defer func() {
		w.Close()
		w.WaitClosed(context.Background())
	}()
	if err := w.SetWriteBufferLimits(201, 10); !errors.Is(err, chanstream.ErrInvalidArgument) {
		t.Errorf("SetWriteBufferLimits(201, 10) under a cap of 200 = %v; want ErrInvalidArgument", err)
	}
	if high, low := w.WriteBufferLimits(); high != 100 || low != 10 {
		t.Errorf("after the refused call: limits %d, %d; want unchanged 100, 10", high, low)
	}
	if err := w.SetWriteBufferLimits(200, 50); err != nil {
		t.Errorf("SetWriteBufferLimits(200, 50) under a cap of 200 = %v; want nil", err)
	}
	if err := chanstream.NewWriter(io.Discard).SetWriteBufferLimits(1<<30, 0); err != nil {
		t.Errorf("SetWriteBufferLimits(1<<30, 0) without a cap = %v; want nil", err)
	}
}

// TestMaxWriteBufferWaiters: the writes that wait — ReadFrom and NetConn's
// Write — stay under the cap and wait for room instead of failing; every
// byte arrives in order.
func TestMaxWriteBufferWaiters(t *testing.T) {
	testutil.CheckLeaks(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const max = 4096
	payload := make([]byte, 300<<10)
	for i := range payload {
		payload[i] = byte(i * 7 / 5)
	}
	for _, tc := range []struct {
		name  string
		write func(w *chanstream.Writer, r *chanstream.Reader) error
	}{
		{"ReadFrom", func(w *chanstream.Writer, _ *chanstream.Reader) error {
			_, err := w.ReadFrom(bytes.NewReader(payload))
			return err
		}},
		{"NetConn", func(w *chanstream.Writer, r *chanstream.Reader) error {
			_, err := chanstream.NetConn(r, w).Write(payload)
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client, server := testutil.Loopback(t, chanstream.WithWriteBufferLimits(max/2, 0), chanstream.WithMaxWriteBuffer(max))
			done := make(chan error, 1)
			go func() { done <- tc.write(client.W, client.R) }()
			got, err := server.R.ReadExactly(ctx, len(payload))
			if err != nil || !bytes.Equal(got, payload) {
				t.Fatalf("ReadExactly() = %d bytes, %v; want the payload", len(got), err)
			}
			if err := <-done; err != nil {
				t.Fatalf("%s = %v; want nil", tc.name, err)
			}
			if s := client.W.Stats(); s.WriteQueuedPeak > max || s.BytesWritten != int64(len(payload)) {
				t.Fatalf("Stats() = %+v; want WriteQueuedPeak ≤ %d, BytesWritten %d", s, max, len(payload))
			}
		})
	}
}

// TestMaxWriteBufferCopy: io.Copy from a stream's Reader into a capped
// Writer (Reader.WriteTo) waits for room under the cap instead of failing
// with ErrWriteBufferFull, and every byte arrives; the queue never passes
// the cap, though the source's chunks are as large as it.
func TestMaxWriteBufferCopy(t *testing.T) {
	const max = 64 << 10
	src, mid := testutil.Loopback(t)
	out, dst := testutil.Loopback(t, chanstream.WithMaxWriteBuffer(max))
	payload := bytes.Repeat([]byte("0123456789abcdef"), 4<<20/16)
	go func() {
		src.W.Write(payload)
		src.W.Close()
	}()
	copied := make(chan error, 1)
	go func() {
		_, err := io.Copy(dst.W, mid.R)
		dst.W.Close()
		copied <- err
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got, err := out.R.ReadAll(ctx)
	if err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("ReadAll = %d bytes, %v; want the %d bytes sent", len(got), err, len(payload))
	}
	if err := <-copied; err != nil {
		t.Fatalf("io.Copy into a capped Writer = %v; want nil", err)
	}
	if s := dst.W.Stats(); s.WriteQueuedPeak > max {
		t.Fatalf("WriteQueuedPeak = %d; want at most the cap %d", s.WriteQueuedPeak, max)
	}
}
