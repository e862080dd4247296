package pipeline_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cspstream/streams/chanstream"
	"github.com/cspstream/streams/pipeline"
	"github.com/cspstream/streams/testutil"
)

// TestNilArguments: a nil Pipeline, Reader, Writer, function, input channel
// or ctx panics at the call with an error wrapping
// chanstream.ErrInvalidArgument — before any stage starts — instead of
// crashing a stage's goroutine later.
func TestNilArguments(t *testing.T) {
	client, server := testutil.Loopback(t)
	r, w := server.R, client.W
	var nilCtx context.Context
	ints := func() <-chan int { c := make(chan int); close(c); return c }()
	bytesIn := func() <-chan []byte { c := make(chan []byte); close(c); return c }()
	var nilInts <-chan int
	var nilBytes <-chan []byte
	var nilP *pipeline.Pipeline
	for name, f := range map[string]func(p *pipeline.Pipeline){
		"New(nil ctx)":  func(*pipeline.Pipeline) { pipeline.New(nilCtx) },
		"Go(nil)":       func(p *pipeline.Pipeline) { p.Go(nil) },
		"Map(nil func)": func(p *pipeline.Pipeline) { pipeline.Map[int, int](p, ints, nil) },
		"Map(nil input)": func(p *pipeline.Pipeline) {
			pipeline.Map(p, nilInts, func(context.Context, int) (int, error) { return 0, nil })
		},
		"Map(nil pipeline)": func(*pipeline.Pipeline) {
			pipeline.Map(nilP, ints, func(context.Context, int) (int, error) { return 0, nil })
		},
		"Filter(nil func)":    func(p *pipeline.Pipeline) { pipeline.Filter(p, ints, nil) },
		"Batch(nil input)":    func(p *pipeline.Pipeline) { pipeline.Batch(p, nilInts, 2, time.Second) },
		"Merge(nil input)":    func(p *pipeline.Pipeline) { pipeline.Merge(p, ints, nilInts) },
		"Broadcast(nil in)":   func(p *pipeline.Pipeline) { pipeline.Broadcast(p, nilInts, 2) },
		"Lines(nil Reader)":   func(p *pipeline.Pipeline) { pipeline.Lines(p, nil) },
		"Split(nil Reader)":   func(p *pipeline.Pipeline) { pipeline.Split(p, nil) },
		"Chunks(nil Reader)":  func(p *pipeline.Pipeline) { pipeline.Chunks(p, nil, 10) },
		"Lines(nil p)":        func(*pipeline.Pipeline) { pipeline.Lines(nilP, r) },
		"WriteTo(nil Writer)": func(p *pipeline.Pipeline) { pipeline.WriteTo(p, nil, bytesIn) },
		"WriteTo(nil input)":  func(p *pipeline.Pipeline) { pipeline.WriteTo(p, w, nilBytes) },
		"Copy(nil Writer)":    func(p *pipeline.Pipeline) { pipeline.Copy(p, nil, r) },
		"Copy(nil Reader)":    func(p *pipeline.Pipeline) { pipeline.Copy(p, w, nil) },
	} {
		t.Run(name, func(t *testing.T) {
			p := pipeline.New(context.Background())
			err := func() (err error) {
				defer func() {
					if v := recover(); v != nil {
						err, _ = v.(error)
						if err == nil {
							t.Fatalf("panicked with %v (%T); want an error", v, v)
						}
					}
				}()
				f(p)
				return nil
			}()
			if !errors.Is(err, chanstream.ErrInvalidArgument) {
				t.Fatalf("%s: panic %v; want an error wrapping ErrInvalidArgument", name, err)
			}
			if err := p.Wait(); err != nil {
				t.Fatalf("Wait() = %v; want nil: no stage was started", err)
			}
		})
	}
}
