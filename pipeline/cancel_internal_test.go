package pipeline

import (
	"context"
	"testing"
)

// A closed done wins over room in out: a cancelled stage hands nothing on.
func TestSendCancelledWins(t *testing.T) {
	done := make(chan struct{})
	close(done)
	out := make(chan int, 1)
	for range 100 {
		if send(done, out, 1) {
			t.Fatal("send() = true with done closed and room in out; want false")
		}
	}
	if len(out) != 0 {
		t.Fatalf("out holds %d items; want 0", len(out))
	}
}

// WriteTo's batching takes nothing more once done is closed, though items
// are waiting.
func TestGatherCancelledTakesNothing(t *testing.T) {
	done := make(chan struct{})
	close(done)
	in := make(chan []byte, 10)
	for range 10 {
		in <- []byte("x")
	}
	batch := gather(done, in, [][]byte{[]byte("first")}, 5)
	if len(batch) != 1 || len(in) != 10 {
		t.Fatalf("gather() with done closed: batch of %d, %d left in in; want 1, 10", len(batch), len(in))
	}
	open := make(chan struct{})
	if batch := gather(open, in, nil, 0); len(batch) != 10 {
		t.Fatalf("gather() = %d items; want all 10 waiting", len(batch))
	}
}

// A cancelled Batch takes none of the items waiting in its input.
func TestBatchCancelledTakesNothing(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for range 20 { // before the fix each run took an item half of the time
		in := make(chan int, 50)
		for i := range 50 {
			in <- i
		}
		p := New(ctx)
		out := Batch(p, in, 1000, 0)
		if err := p.Wait(); err != context.Canceled {
			t.Fatalf("Wait() = %v; want context.Canceled", err)
		}
		for range out {
		}
		if len(in) != 50 {
			t.Fatalf("cancelled Batch took %d items; want 0", 50-len(in))
		}
	}
}
