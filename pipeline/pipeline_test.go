package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cspstream/streams/chanstream"
	"github.com/cspstream/streams/pipeline"
	"github.com/cspstream/streams/testutil"
)

// watchdog returns a ctx that ends the test's waits if something hangs.
func watchdog(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// collect receives from ch until it is closed, or fails t when ctx ends.
func collect[T any](ctx context.Context, t *testing.T, ch <-chan T) []T {
	t.Helper()
	var got []T
	for {
		select {
		case v, ok := <-ch:
			if !ok {
				return got
			}
			got = append(got, v)
		case <-ctx.Done():
			t.Fatalf("channel not closed: %v", ctx.Err())
		}
	}
}

// waitErr runs p.Wait with a watchdog.
func waitErr(ctx context.Context, t *testing.T, p *pipeline.Pipeline) error {
	t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- p.Wait() }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		t.Fatalf("Wait did not return: %v", ctx.Err())
		return nil
	}
}

func TestWaitReturnsFirstError(t *testing.T) {
	testutil.CheckLeaks(t)
	ctx := watchdog(t)
	errFirst := errors.New("first")
	p := pipeline.New(ctx)
	var returned atomic.Int32
	release := make(chan struct{})
	for range 3 {
		p.Go(func(ctx context.Context) error {
			<-ctx.Done() // cancelled by the failing stage
			<-release
			returned.Add(1)
			return fmt.Errorf("late: %w", ctx.Err())
		})
	}
	p.Go(func(ctx context.Context) error { return errFirst })
	done := make(chan error, 1)
	go func() { done <- p.Wait() }()
	close(release)
	select {
	case err := <-done:
		if err != errFirst {
			t.Fatalf("Wait() = %v; want %v", err, errFirst)
		}
	case <-ctx.Done():
		t.Fatal("Wait did not return")
	}
	if n := returned.Load(); n != 3 {
		t.Fatalf("Wait returned with %d of 3 stages returned", n)
	}
	if p.Context().Err() == nil {
		t.Fatal("Context() not cancelled after Wait")
	}
}

func TestWaitNil(t *testing.T) {
	testutil.CheckLeaks(t)
	ctx := watchdog(t)
	p := pipeline.New(ctx)
	for range 4 {
		p.Go(func(context.Context) error { return nil })
	}
	if err := waitErr(ctx, t, p); err != nil {
		t.Fatalf("Wait() = %v; want nil", err)
	}
	if p.Context().Err() == nil {
		t.Fatal("Context() not cancelled after Wait")
	}
}

// When the parent ctx ends first, Wait returns its error even when the
// stages return something else.
func TestWaitParentFirst(t *testing.T) {
	for _, tc := range []struct {
		name string
		mk   func() (context.Context, context.CancelFunc)
		want error
	}{
		{"cancel", func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) }, context.Canceled},
		{"deadline", func() (context.Context, context.CancelFunc) {
			return context.WithDeadline(context.Background(), time.Now().Add(time.Millisecond))
		}, context.DeadlineExceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			testutil.CheckLeaks(t)
			wd := watchdog(t)
			ctx, cancel := tc.mk()
			defer cancel()
			p := pipeline.New(ctx)
			started := make(chan struct{})
			p.Go(func(ctx context.Context) error {
				close(started)
				<-ctx.Done()
				return errors.New("a stage's own error after the cancel")
			})
			<-started
			if tc.want == context.Canceled {
				cancel()
			}
			if err := waitErr(wd, t, p); err != tc.want {
				t.Fatalf("Wait() = %v; want %v", err, tc.want)
			}
		})
	}
}

// A stage that failed before the parent was cancelled keeps its error.
func TestWaitStageBeforeParent(t *testing.T) {
	testutil.CheckLeaks(t)
	wd := watchdog(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := pipeline.New(ctx)
	errStage := errors.New("stage")
	failed := make(chan struct{})
	p.Go(func(context.Context) error { defer close(failed); return errStage })
	p.Go(func(ctx context.Context) error {
		<-ctx.Done()
		<-failed
		return ctx.Err()
	})
	<-failed
	cancel()
	if err := waitErr(wd, t, p); err != errStage {
		t.Fatalf("Wait() = %v; want %v", err, errStage)
	}
}

func TestInvalidArguments(t *testing.T) {
	ctx := watchdog(t)
	for _, tc := range []struct {
		name string
		f    func(p *pipeline.Pipeline)
	}{
		{"Batch size 0", func(p *pipeline.Pipeline) { pipeline.Batch(p, make(chan int), 0, 0) }},
		{"Batch size -1", func(p *pipeline.Pipeline) { pipeline.Batch(p, make(chan int), -1, time.Second) }},
		{"Broadcast n 0", func(p *pipeline.Pipeline) { pipeline.Broadcast(p, make(chan int), 0) }},
		{"Chunks max 0", func(p *pipeline.Pipeline) { pipeline.Chunks(p, nil, 0) }},
		{"Split empty separator", func(p *pipeline.Pipeline) { pipeline.Split(p, nil, []byte("x"), nil) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := pipeline.New(ctx)
			defer func() {
				v := recover()
				err, ok := v.(error)
				if !ok || !errors.Is(err, chanstream.ErrInvalidArgument) {
					t.Fatalf("panic value %v; want an error wrapping ErrInvalidArgument", v)
				}
				if err := p.Wait(); err != nil {
					t.Fatalf("Wait() = %v after a refused stage; want nil", err)
				}
			}()
			tc.f(p)
		})
	}
}
