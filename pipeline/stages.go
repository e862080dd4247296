package pipeline

import (
	"context"
	"sync/atomic"
	"time"
)

// Every stage below runs in one goroutine of the pipeline (Merge: one per
// input), receives until its input is closed or the pipeline is cancelled,
// and closes its output as it returns, on every path. A stage that is
// cancelled returns the ctx's error; items it had received and not sent
// are dropped (they were delivered to it). Outputs are buffered channels of
// a fixed capacity (queueCap): memory in flight is bounded, and a slow
// consumer slows every stage before it.

// Map sends f(ctx, v) for each v received from in, one at a time and in
// order, on the channel it returns. The first error from f ends the
// pipeline with that error; f's ctx is the pipeline's.
func Map[T, U any](p *Pipeline, in <-chan T, f func(ctx context.Context, v T) (U, error)) <-chan U {
	need("map", "pipeline,input,func", p != nil, in != nil, f != nil)
	out := make(chan U, queueCap) // Map → next stage; closed by Map as it returns
	p.Go(func(ctx context.Context) error {
		defer close(out)
		done := ctx.Done()
		for {
			v, ok, err := recv(ctx, done, in)
			if !ok {
				return err
			}
			u, err := f(ctx, v)
			if err != nil {
				return err
			}
			if !send(done, out, u) {
				return ctx.Err()
			}
		}
	})
	return out
}

// Filter sends on the channel it returns, in order, the items of in for
// which keep returns true.
func Filter[T any](p *Pipeline, in <-chan T, keep func(T) bool) <-chan T {
	need("filter", "pipeline,input,func", p != nil, in != nil, keep != nil)
	out := make(chan T, queueCap) // Filter → next stage; closed by Filter as it returns
	p.Go(func(ctx context.Context) error {
		defer close(out)
		done := ctx.Done()
		for {
			v, ok, err := recv(ctx, done, in)
			if !ok {
				return err
			}
			if keep(v) && !send(done, out, v) {
				return ctx.Err()
			}
		}
	})
	return out
}

// Batch gathers the items of in, in order, into slices of size items and
// sends each on the channel it returns: when it is full, or maxWait after
// its first item arrived, whichever comes first, and, when in closes, the
// last partial one. maxWait ≤ 0 means no time limit. Each slice is new and
// belongs to its receiver. size < 1 panics with an error wrapping
// chanstream.ErrInvalidArgument. While a full batch waits to be sent, Batch
// takes nothing from in.
func Batch[T any](p *Pipeline, in <-chan T, size int, maxWait time.Duration) <-chan []T {
	need("batch", "pipeline,input", p != nil, in != nil)
	if size < 1 {
		invalid("batch", "size %d < 1", size)
	}
	out := make(chan []T, queueCap) // Batch → next stage; closed by Batch as it returns
	p.Go(func(ctx context.Context) error {
		defer close(out)
		done := ctx.Done()
		// One timer for the stage, armed at a batch's first item. Since Go
		// 1.23 a stopped or reset timer delivers no stale tick.
		timer := time.NewTimer(time.Hour)
		timer.Stop()
		defer timer.Stop()
		var (
			batch   []T
			expired <-chan time.Time // timer.C while a batch is open with a time limit, else nil
		)
		flush := func() bool {
			b := batch
			batch, expired = nil, nil
			timer.Stop()
			return send(done, out, b)
		}
		for {
			// A cancel wins over a ready item or tick: probe first, as
			// select picks at random among ready cases.
			if isDone(done) {
				return ctx.Err()
			}
			select {
			case v, ok := <-in:
				if !ok {
					if len(batch) > 0 && !flush() {
						return ctx.Err()
					}
					return nil
				}
				if batch == nil {
					batch = make([]T, 0, size)
					if maxWait > 0 {
						timer.Reset(maxWait)
						expired = timer.C
					}
				}
				batch = append(batch, v)
				if len(batch) == size && !flush() {
					return ctx.Err()
				}
			case <-expired:
				if !flush() {
					return ctx.Err()
				}
			case <-done:
				return ctx.Err()
			}
		}
	})
	return out
}

// Merge sends the items of every input on the channel it returns, as they
// arrive: the order of each input is kept, the inputs are interleaved. The
// channel is closed when every input is closed (at once when there is
// none), or when the pipeline is cancelled.
func Merge[T any](p *Pipeline, ins ...<-chan T) <-chan T {
	need("merge", "pipeline", p != nil)
	for _, in := range ins {
		need("merge", "input", in != nil)
	}
	out := make(chan T, queueCap) // forwarders → next stage; closed by the last forwarder to return
	if len(ins) == 0 {
		close(out)
		return out
	}
	var running atomic.Int32
	running.Store(int32(len(ins)))
	for _, in := range ins {
		p.Go(func(ctx context.Context) error {
			defer func() {
				if running.Add(-1) == 0 {
					close(out)
				}
			}()
			done := ctx.Done()
			for {
				v, ok, err := recv(ctx, done, in)
				if !ok {
					return err
				}
				if !send(done, out, v) {
					return ctx.Err()
				}
			}
		})
	}
	return out
}

// Broadcast sends every item of in, in order, on each of the n channels it
// returns. An item goes to every output before the next item is taken, so
// the slowest receiver sets the pace; each output buffers up to 128 items,
// and nothing more. Receivers share the item: a slice or pointer sent to one
// output is the same one the others get. n < 1 panics with an error
// wrapping chanstream.ErrInvalidArgument.
func Broadcast[T any](p *Pipeline, in <-chan T, n int) []<-chan T {
	need("broadcast", "pipeline,input", p != nil, in != nil)
	if n < 1 {
		invalid("broadcast", "n %d < 1", n)
	}
	outs := make([]chan T, n) // Broadcast → receivers; all closed by Broadcast as it returns
	ret := make([]<-chan T, n)
	for i := range outs {
		outs[i] = make(chan T, queueCap)
		ret[i] = outs[i]
	}
	p.Go(func(ctx context.Context) error {
		defer func() {
			for _, out := range outs {
				close(out)
			}
		}()
		done := ctx.Done()
		for {
			v, ok, err := recv(ctx, done, in)
			if !ok {
				return err
			}
			for _, out := range outs {
				if !send(done, out, v) {
					return ctx.Err()
				}
			}
		}
	})
	return ret
}
