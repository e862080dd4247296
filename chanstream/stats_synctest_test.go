//go:build go1.25

package chanstream_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cspstream/streams/chanstream"
)

// TestStatsReadPaused holds a Reader at 2×limit for a known time on the
// bubble's clock: ReadPaused counts the pause while it goes on, and exactly
// its length after the application read the Reader down.
func TestStatsReadPaused(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		pr, pw := io.Pipe()
		r := chanstream.NewReader(pr, chanstream.WithLimit(4)) // pauses above 8 bytes
		defer func() {
			pw.Close()
			r.ReadAll(ctx)
		}()
		if _, err := pw.Write(bytes.Repeat([]byte{'x'}, 16)); err != nil {
			t.Fatalf("pipe Write() = %v", err)
		}
		synctest.Wait() // the reader goroutine holds 16 bytes and waits for room
		if s := r.Stats(); s.ReadPaused != 0 {
			t.Fatalf("ReadPaused at the start of the pause = %v; want 0", s.ReadPaused)
		}
		time.Sleep(3 * time.Second)
		if s := r.Stats(); s.ReadPaused != 3*time.Second {
			t.Fatalf("ReadPaused during the pause = %v; want 3s", s.ReadPaused)
		}
		if _, err := r.ReadExactly(ctx, 16); err != nil {
			t.Fatalf("ReadExactly(16) = %v", err)
		}
		synctest.Wait() // the goroutine reads the pipe again
		time.Sleep(time.Second)
		if s := r.Stats(); s.ReadPaused != 3*time.Second || s.BytesRead != 16 {
			t.Fatalf("after the pause: Stats() = %+v; want ReadPaused 3s, BytesRead 16", s)
		}
	})
}

// TestStatsDrain: a Drain that returns at once is not counted; one that
// waits for a peer that reads 2 s later counts once, for 2 s.
func TestStatsDrain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		p1, p2 := net.Pipe()
		_, w := chanstream.New(p1, chanstream.WithWriteBufferLimits(8, 0))
		defer func() {
			w.Abort()
			p2.Close()
			w.WaitClosed(ctx)
		}()
		w.WriteString("1234")
		if err := w.Drain(ctx); err != nil {
			t.Fatalf("Drain() below high = %v", err)
		}
		w.WriteString("567890abcdef") // 16 bytes queued: above high
		drained := make(chan error, 1)
		go func() { drained <- w.Drain(ctx) }()
		synctest.Wait()
		time.Sleep(2 * time.Second)
		buf := make([]byte, 64)
		for n := 0; n < 16; {
			k, err := p2.Read(buf[n:])
			if err != nil {
				t.Fatalf("peer Read() = %v", err)
			}
			n += k
		}
		if err := <-drained; err != nil {
			t.Fatalf("Drain() = %v", err)
		}
		s := w.Stats()
		if s.DrainWaits != 1 || s.DrainWaited != 2*time.Second || s.BytesWritten != 16 || s.WriteQueuedPeak != 16 {
			t.Fatalf("Stats() = %+v; want DrainWaits 1, DrainWaited 2s, BytesWritten 16, WriteQueuedPeak 16", s)
		}
	})
}
