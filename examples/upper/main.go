// Command upper copies standard input to standard output in upper case,
// line by line, as a pipeline: chanstream.NewReader(os.Stdin) → Lines →
// Map(upper-case) → WriteTo(chanstream.NewWriter(os.Stdout)).
//
//	printf 'hello\nworld\n' | go run ./examples/upper
//
// A slow reader of the output slows the reading of the input: nothing
// piles up in between.
package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log"
	"os"
	"os/signal"

	"github.com/cspstream/streams/chanstream"
	"github.com/cspstream/streams/pipeline"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Stdin, os.Stdout); err != nil && !errors.Is(err, context.Canceled) {
		log.Fatal(err) // an interrupt is a normal end, not an error
	}
}

// run upper-cases in to out until in's EOF, then flushes and closes out
// (if it is an io.Closer).
func run(ctx context.Context, in io.Reader, out io.Writer) error {
	r := chanstream.NewReader(in)
	w := chanstream.NewWriter(out)
	p := pipeline.New(ctx)
	lines := pipeline.Lines(p, r)
	upper := pipeline.Map(p, lines, func(_ context.Context, line []byte) ([]byte, error) {
		return bytes.ToUpper(line), nil
	})
	pipeline.WriteTo(p, w, upper)
	err := p.Wait()
	if err != nil {
		w.Abort()
		return err
	}
	w.Close() // flush, then close out
	return w.WaitClosed(ctx)
}
