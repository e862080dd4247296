package chanstream_test

import (
	"context"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/cspstream/streams/chanstream"
	"github.com/cspstream/streams/testutil"
)

// TestIdleStreamHoldsNoBuffers: a stream over a TCP socket that was busy
// and is now idle holds no read chunk, no write chunk and one goroutine —
// its reader goroutine, parked in the poller — besides its structures
// (DESIGN.md, "Cost budget"). One held 32 KiB chunk per stream would be
// four times the bound below.
func TestIdleStreamHoldsNoBuffers(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 100 connections")
	}
	const (
		conns   = 100
		perConn = 8 << 10 // bytes of heap per idle stream, at most
	)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	base := idleHeap()
	baseG := runtime.NumGoroutine()
	ws := make([]*chanstream.Writer, 0, conns)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, w := range ws {
			_ = w.Abort()
			if err := w.WaitClosed(ctx); err != nil {
				t.Errorf("WaitClosed: %v", err)
			}
		}
	})
	msg := []byte("ping\n")
	for range conns {
		peer, sc := testutil.TCPPair(t)
		r, w := chanstream.New(sc)
		ws = append(ws, w)
		// Busy once: a message each way.
		if _, err := peer.Write(msg); err != nil {
			t.Fatal(err)
		}
		if line, err := r.ReadLine(ctx); string(line) != string(msg) || err != nil {
			t.Fatalf("ReadLine() = %q, %v; want %q, nil", line, err, msg)
		}
		if _, err := w.Write(msg); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(peer, got); string(got) != string(msg) || err != nil {
			t.Fatalf("peer read %q, %v; want %q, nil", got, err, msg)
		}
	}

	// Every writer goroutine returns once its queue is written; wait for
	// that (bounded). Then nothing is left but the reader goroutines.
	const perStream = 1
	for deadline := time.Now().Add(10 * time.Second); runtime.NumGoroutine()-baseG > perStream*conns; {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines for %d idle streams; want %d each", runtime.NumGoroutine()-baseG, conns, perStream)
		}
		time.Sleep(time.Millisecond)
	}
	grown := int64(idleHeap()) - int64(base)
	t.Logf("heap per idle stream (with both TCP ends): %d bytes", grown/conns)
	if grown > conns*perConn {
		t.Errorf("heap grew %d bytes for %d idle streams (%d each); want at most %d each",
			grown, conns, grown/conns, perConn)
	}
	runtime.KeepAlive(ws)
}

// idleHeap returns the live heap after two collections, which also empty
// the sync.Pools: what is left is what something holds.
func idleHeap() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
