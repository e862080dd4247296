//go:build go1.25

package pipeline_test

import (
	"context"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cspstream/streams/pipeline"
)

// In a synctest bubble time moves only when every goroutine is blocked, so
// Batch's maxWait is checked exactly, with no real waiting.

func TestBatchMaxWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := pipeline.New(context.Background())
		in := make(chan int)
		out := pipeline.Batch(p, in, 3, time.Second)
		ready := func() ([]int, bool) {
			synctest.Wait()
			select {
			case b := <-out:
				return b, true
			default:
				return nil, false
			}
		}

		in <- 1
		time.Sleep(999 * time.Millisecond)
		if b, ok := ready(); ok {
			t.Fatalf("batch %v sent before maxWait", b)
		}
		in <- 2 // a later item does not extend the deadline
		time.Sleep(time.Millisecond)
		if b, ok := ready(); !ok || !slices.Equal(b, []int{1, 2}) {
			t.Fatalf("at maxWait after the first item: %v, %v; want [1 2]", b, ok)
		}

		// No open batch: no timer runs.
		time.Sleep(time.Hour)
		if b, ok := ready(); ok {
			t.Fatalf("batch %v sent with no item", b)
		}

		// Full before maxWait: sent at once, and its timer does not fire
		// for the next batch.
		start := time.Now()
		in <- 3
		in <- 4
		in <- 5
		if b, ok := ready(); !ok || !slices.Equal(b, []int{3, 4, 5}) {
			t.Fatalf("full batch: %v, %v; want [3 4 5]", b, ok)
		}
		time.Sleep(500 * time.Millisecond)
		in <- 6
		time.Sleep(time.Until(start.Add(time.Second)))
		if b, ok := ready(); ok {
			t.Fatalf("batch %v sent at the earlier batch's deadline", b)
		}
		time.Sleep(500 * time.Millisecond)
		if b, ok := ready(); !ok || !slices.Equal(b, []int{6}) {
			t.Fatalf("at maxWait: %v, %v; want [6]", b, ok)
		}

		// The input closes with a partial batch: sent at once.
		in <- 7
		close(in)
		if b, ok := ready(); !ok || !slices.Equal(b, []int{7}) {
			t.Fatalf("last partial batch: %v, %v; want [7]", b, ok)
		}
		if _, ok := <-out; ok {
			t.Fatal("output not closed after the input")
		}
		if err := p.Wait(); err != nil {
			t.Fatalf("Wait() = %v", err)
		}
	})
}

// Broadcast takes no more input than its slowest output lets it: with one
// output never read, it holds a bounded number of items.
func TestBroadcastSlowestSetsPace(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		p := pipeline.New(ctx)
		in := make(chan int)
		outs := pipeline.Broadcast(p, in, 2)
		sent := 0
		go func() {
			for i := 0; ; i++ {
				select {
				case in <- i:
					sent++
				case <-ctx.Done():
					return
				}
			}
		}()
		var fast []int
		go func() {
			for v := range outs[1] {
				fast = append(fast, v)
			}
		}()
		synctest.Wait() // every goroutine blocked: the broadcaster waits on outs[0]
		// One item in the broadcaster's hands, a full buffer on the unread
		// output; the input's own hand-off may count one more.
		if sent > pipeline.QueueCap+2 || len(fast) > sent {
			t.Fatalf("with one output unread, %d items taken, %d delivered to the other; want a small bound", sent, len(fast))
		}
		t.Logf("%d items taken with one output unread", sent)
		// Reading the slow output lets everything go on, in order.
		for i := range 2 * pipeline.QueueCap {
			if v := <-outs[0]; v != i {
				t.Fatalf("slow output: item %d = %d", i, v)
			}
		}
		cancel()
		if err := p.Wait(); err != context.Canceled {
			t.Fatalf("Wait() = %v", err)
		}
		synctest.Wait()
		if !slices.Equal(fast, ints(len(fast))) || len(fast) < 2*pipeline.QueueCap {
			t.Fatalf("fast output got %d items, not in order from 0", len(fast))
		}
	})
}
