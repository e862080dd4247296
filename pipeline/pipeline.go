package pipeline

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/cspstream/streams/chanstream"
	"golang.org/x/sync/errgroup"
)

// queueCap is the capacity of every channel a stage makes: how many items
// a stage may run ahead of the one after it. It lets a stage hand over
// several items per goroutine switch instead of one, and bounds what a
// pipeline holds in flight: queueCap items per channel.
const queueCap = 128

// Pipeline runs stages — sources, transforms, sinks — as goroutines under
// one errgroup. The first stage to fail cancels the others; Wait waits for
// all of them. Build a pipeline with the functions of this package (or
// Go for your own stages), then call Wait once.
type Pipeline struct {
	// Set at construction, never changed.
	parent context.Context
	ctx    context.Context // the group's; cancelled at the first error and when Wait returns
	g      *errgroup.Group

	mu       sync.Mutex    // guards reclaims
	reclaims []func() bool // one per source: put back what it sent and nobody received; true if there was some
}

// New returns an empty pipeline whose stages run under ctx: when ctx ends,
// every stage is cancelled and Wait returns ctx's error. A nil ctx panics
// with an error wrapping chanstream.ErrInvalidArgument.
func New(ctx context.Context) *Pipeline {
	if ctx == nil {
		invalid("new", "nil ctx")
	}
	g, gctx := errgroup.WithContext(ctx)
	return &Pipeline{parent: ctx, ctx: gctx, g: g}
}

// Context returns the context the stages run under. It is cancelled when a
// stage fails, when the ctx given to New ends, and when Wait returns; do
// not hand it to work that outlives the pipeline.
func (p *Pipeline) Context() context.Context { return p.ctx }

// Go runs f as a stage of the pipeline, in a goroutine of its own, with the
// pipeline's context. A non-nil error from f cancels every other stage and
// is what Wait returns if it is the first. Like every stage, f should
// return soon after its ctx ends; it must not call Wait. Go must not be
// called after Wait has returned. A nil f panics with an error wrapping
// chanstream.ErrInvalidArgument.
func (p *Pipeline) Go(f func(ctx context.Context) error) {
	if f == nil {
		invalid("go", "nil func")
	}
	p.g.Go(func() error {
		err := f(p.ctx)
		if err != nil {
			if perr := p.parent.Err(); perr != nil {
				// The parent ended before this stage failed: whatever the
				// stage says, the pipeline was cancelled.
				err = perr
			}
		}
		return err
	})
}

// Wait blocks until every stage has returned and returns the first error
// a stage returned, or nil. When the ctx given to New ended before any
// stage failed, the error is that ctx's error (context.Canceled or
// context.DeadlineExceeded), whatever the stages returned; it is also
// that error when every stage returned nil but items a source sent were
// still unreceived when ctx ended.
//
// When a stage failed or the ctx given to New has ended, Wait also puts
// back into each source's Reader, with Unread, the items the source had
// sent and no stage or receiver took from its channel (they go in front of
// the bytes the source never read): a Reader handed on after a failed or
// cancelled pipeline loses nothing and repeats nothing. A receiver outside
// the pipeline should stop receiving from a source's channel before it
// calls Wait. When the pipeline ends normally, items a receiver left in a
// source's channel stay there.
func (p *Pipeline) Wait() error {
	err := p.g.Wait()
	if err == nil && p.parent.Err() == nil {
		return nil
	}
	p.mu.Lock()
	reclaims := p.reclaims
	p.reclaims = nil
	p.mu.Unlock()
	for _, f := range reclaims {
		if f() && err == nil {
			// Every stage finished, but the cancel came before all the
			// sources' items were received: the pipeline did not complete.
			err = p.parent.Err()
		}
	}
	return err
}

// onFailure registers f to run in Wait after every stage has returned,
// when the pipeline failed or was cancelled. f reports whether it put
// anything back.
func (p *Pipeline) onFailure(f func() bool) {
	p.mu.Lock()
	p.reclaims = append(p.reclaims, f)
	p.mu.Unlock()
}

// invalid panics with an error wrapping chanstream.ErrInvalidArgument: a
// stage built with a bad argument is a programming mistake.
func invalid(op, format string, args ...any) {
	panic(fmt.Errorf("pipeline: %s: %w: %s", op, chanstream.ErrInvalidArgument, fmt.Sprintf(format, args...)))
}

// Nil arguments. Every function of this package checks its arguments at
// the call and panics with an error wrapping chanstream.ErrInvalidArgument
// for a nil Pipeline, Reader, Writer, function or input channel (a nil
// channel never delivers: its stage would wait until the pipeline is
// cancelled), rather than fail later inside a stage's goroutine.

// need panics with an error wrapping chanstream.ErrInvalidArgument unless
// every value in args is non-nil; names says what they are, in order.
func need(op string, names string, args ...bool) {
	for i, ok := range args {
		if !ok {
			invalid(op, "nil %s", strings.Split(names, ",")[i])
		}
	}
}

// recv returns the next item of in. ok is false when in is closed; err is
// ctx's error when ctx ended first. An ended ctx wins over a ready item, so
// a stage stops taking items once it is cancelled. The item already
// waiting is taken without a blocking select.
func recv[T any](ctx context.Context, done <-chan struct{}, in <-chan T) (v T, ok bool, err error) {
	if isDone(done) {
		return v, false, ctx.Err()
	}
	select {
	case v, ok = <-in:
		return v, ok, nil
	default:
	}
	select {
	case v, ok = <-in:
		return v, ok, nil
	case <-done:
		return v, false, ctx.Err()
	}
}

// send puts v on out, or returns false when done is closed first. A closed
// done wins over room in out, so a cancelled stage stops handing items on
// (a source then puts v back). When out has room it does so without a
// blocking select.
func send[T any](done <-chan struct{}, out chan<- T, v T) bool {
	if isDone(done) {
		return false
	}
	select {
	case out <- v:
		return true
	default:
	}
	select {
	case out <- v:
		return true
	case <-done:
		return false
	}
}

// isDone reports whether done is closed, without blocking: the probe that
// gives cancellation priority over a ready item, since select picks at
// random among ready cases. It costs a few nanoseconds (nil done: never).
func isDone(done <-chan struct{}) bool {
	select {
	case <-done:
		return true
	default:
		return false
	}
}
