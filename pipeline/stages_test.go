package pipeline_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cspstream/streams/pipeline"
	"github.com/cspstream/streams/testutil"
)

// count is a stage sending 0, 1, …, n-1 (forever when n < 0).
func count(p *pipeline.Pipeline, n int) <-chan int {
	out := make(chan int)
	p.Go(func(ctx context.Context) error {
		defer close(out)
		for i := 0; n < 0 || i < n; i++ {
			select {
			case out <- i:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	})
	return out
}

func ints(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}

func TestMapOrder(t *testing.T) {
	testutil.CheckLeaks(t)
	ctx := watchdog(t)
	p := pipeline.New(ctx)
	var calls int
	out := pipeline.Map(p, count(p, 1000), func(ctx context.Context, v int) (int, error) {
		calls++ // one at a time: no race with itself
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		return v * 3, nil
	})
	got := collect(ctx, t, out)
	if err := waitErr(ctx, t, p); err != nil {
		t.Fatalf("Wait() = %v", err)
	}
	if len(got) != 1000 || calls != 1000 {
		t.Fatalf("%d items, %d calls; want 1000, 1000", len(got), calls)
	}
	for i, v := range got {
		if v != 3*i {
			t.Fatalf("item %d = %d; want %d", i, v, 3*i)
		}
	}
}

func TestMapOneAtATime(t *testing.T) {
	testutil.CheckLeaks(t)
	ctx := watchdog(t)
	p := pipeline.New(ctx)
	var mu sync.Mutex
	inside := 0
	out := pipeline.Map(p, count(p, 200), func(ctx context.Context, v int) (int, error) {
		mu.Lock()
		inside++
		n := inside
		mu.Unlock()
		defer func() { mu.Lock(); inside--; mu.Unlock() }()
		if n != 1 {
			return 0, errors.New("f called concurrently")
		}
		return v, nil
	})
	collect(ctx, t, out)
	if err := waitErr(ctx, t, p); err != nil {
		t.Fatalf("Wait() = %v", err)
	}
}

func TestFilterOrder(t *testing.T) {
	testutil.CheckLeaks(t)
	ctx := watchdog(t)
	p := pipeline.New(ctx)
	got := collect(ctx, t, pipeline.Filter(p, count(p, 1000), func(v int) bool { return v%7 == 3 }))
	if err := waitErr(ctx, t, p); err != nil {
		t.Fatalf("Wait() = %v", err)
	}
	var want []int
	for i := range 1000 {
		if i%7 == 3 {
			want = append(want, i)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("Filter = %v; want %v", got, want)
	}
}

func TestBatchSizes(t *testing.T) {
	for _, tc := range []struct {
		n, size int
		wait    time.Duration
	}{
		{0, 3, 0}, {1, 3, 0}, {3, 3, 0}, {10, 3, 0}, {10, 1, 0}, {1000, 64, time.Hour}, {5, 10, -1},
	} {
		t.Run("", func(t *testing.T) {
			testutil.CheckLeaks(t)
			ctx := watchdog(t)
			p := pipeline.New(ctx)
			got := collect(ctx, t, pipeline.Batch(p, count(p, tc.n), tc.size, tc.wait))
			if err := waitErr(ctx, t, p); err != nil {
				t.Fatalf("Wait() = %v", err)
			}
			// The input is sent with no pause: every batch is full, but the last.
			var all []int
			for i, b := range got {
				if len(b) != tc.size && i != len(got)-1 || len(b) == 0 || len(b) > tc.size {
					t.Fatalf("batch %d of %d has %d items; size %d", i, len(got), len(b), tc.size)
				}
				all = append(all, b...)
			}
			if !slices.Equal(all, ints(tc.n)) && tc.n > 0 {
				t.Fatalf("batches join to %v; want 0..%d", all, tc.n-1)
			}
			if want := (tc.n + tc.size - 1) / tc.size; len(got) != want {
				t.Fatalf("%d batches; want %d", len(got), want)
			}
		})
	}
}

func TestMerge(t *testing.T) {
	testutil.CheckLeaks(t)
	ctx := watchdog(t)
	p := pipeline.New(ctx)
	const k, n = 4, 500
	var ins []<-chan int
	for j := range k {
		ins = append(ins, pipeline.Map(p, count(p, n), func(_ context.Context, v int) (int, error) { return j*n + v, nil }))
	}
	got := collect(ctx, t, pipeline.Merge(p, ins...))
	if err := waitErr(ctx, t, p); err != nil {
		t.Fatalf("Wait() = %v", err)
	}
	if len(got) != k*n {
		t.Fatalf("%d items; want %d", len(got), k*n)
	}
	next := make([]int, k) // each input's order is kept
	for _, v := range got {
		j := v / n
		if v%n != next[j] {
			t.Fatalf("input %d: item %d after %d", j, v%n, next[j]-1)
		}
		next[j]++
	}
}

func TestMergeNone(t *testing.T) {
	ctx := watchdog(t)
	p := pipeline.New(ctx)
	if got := collect(ctx, t, pipeline.Merge[int](p)); len(got) != 0 {
		t.Fatalf("Merge() sent %v", got)
	}
	if err := p.Wait(); err != nil {
		t.Fatalf("Wait() = %v", err)
	}
}

func TestBroadcast(t *testing.T) {
	testutil.CheckLeaks(t)
	ctx := watchdog(t)
	p := pipeline.New(ctx)
	const n = 1000
	outs := pipeline.Broadcast(p, count(p, n), 3)
	got := make([][]int, len(outs))
	var wg sync.WaitGroup
	for i, out := range outs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for v := range out {
				got[i] = append(got[i], v)
				if i == 0 && v%50 == 0 {
					time.Sleep(time.Millisecond) // a slow receiver sets the pace, no more
				}
			}
		}()
	}
	wg.Wait()
	if err := waitErr(ctx, t, p); err != nil {
		t.Fatalf("Wait() = %v", err)
	}
	for i := range got {
		if !slices.Equal(got[i], ints(n)) {
			t.Fatalf("output %d got %d items, not 0..%d in order", i, len(got[i]), n-1)
		}
	}
}

// stageCases build each stage over an endless input; run returns the
// channels the stage closes.
var stageCases = []struct {
	name string
	run  func(p *pipeline.Pipeline, in <-chan int) []<-chan int
}{
	{"Map", func(p *pipeline.Pipeline, in <-chan int) []<-chan int {
		return []<-chan int{pipeline.Map(p, in, func(_ context.Context, v int) (int, error) { return v, nil })}
	}},
	{"Filter", func(p *pipeline.Pipeline, in <-chan int) []<-chan int {
		return []<-chan int{pipeline.Filter(p, in, func(v int) bool { return v%2 == 0 })}
	}},
	{"Batch", func(p *pipeline.Pipeline, in <-chan int) []<-chan int {
		return []<-chan int{pipeline.Map(p, pipeline.Batch(p, in, 5, time.Millisecond),
			func(_ context.Context, b []int) (int, error) { return b[0], nil })}
	}},
	{"Merge", func(p *pipeline.Pipeline, in <-chan int) []<-chan int {
		return []<-chan int{pipeline.Merge(p, in, count(p, -1))}
	}},
	{"Broadcast", func(p *pipeline.Pipeline, in <-chan int) []<-chan int {
		return pipeline.Broadcast(p, in, 3)
	}},
}

// TestStageCancel cancels the pipeline with each stage mid-stream — its
// receivers reading, or not reading at all — and checks that every stage
// returns, closes its outputs, and leaves no goroutine behind.
func TestStageCancel(t *testing.T) {
	for _, sc := range stageCases {
		for _, k := range []int{0, 1, 10, 100} {
			t.Run(sc.name, func(t *testing.T) {
				testutil.CheckLeaks(t)
				wd := watchdog(t)
				ctx, cancel := context.WithCancel(wd)
				defer cancel()
				p := pipeline.New(ctx)
				outs := sc.run(p, count(p, -1))
				for range k {
					for _, out := range outs { // Broadcast: every output must be read
						<-out
					}
				}
				cancel()
				if err := waitErr(wd, t, p); err != context.Canceled {
					t.Fatalf("Wait() = %v; want context.Canceled", err)
				}
				for _, out := range outs {
					collect(wd, t, out) // closed
				}
			})
		}
	}
}

// TestStageError fails a Map downstream of each stage: the error ends the
// pipeline, and every channel is closed.
func TestStageError(t *testing.T) {
	errStop := errors.New("stop")
	for _, sc := range stageCases {
		t.Run(sc.name, func(t *testing.T) {
			testutil.CheckLeaks(t)
			wd := watchdog(t)
			p := pipeline.New(wd)
			outs := sc.run(p, count(p, -1))
			n := 0
			failing := pipeline.Map(p, outs[0], func(_ context.Context, v int) (int, error) {
				if n++; n == 20 {
					return 0, errStop
				}
				return v, nil
			})
			collect(wd, t, failing)
			if err := waitErr(wd, t, p); err != errStop {
				t.Fatalf("Wait() = %v; want %v", err, errStop)
			}
			for _, out := range outs[1:] {
				collect(wd, t, out)
			}
		})
	}
}
