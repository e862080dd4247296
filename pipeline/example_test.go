package pipeline_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"strings"
	"time"

	"github.com/cspstream/streams/chanstream"
	"github.com/cspstream/streams/pipeline"
)

// A pipeline reads lines, transforms them and writes them out; Wait
// returns when every stage is done.
func ExampleNew() {
	ctx := context.Background()
	r := chanstream.NewReader(strings.NewReader("alpha\nbeta\ngamma\n"))
	w := chanstream.NewWriter(struct{ io.Writer }{os.Stdout}) // hides os.Stdout's Close from w.Close

	p := pipeline.New(ctx)
	lines := pipeline.Lines(p, r)
	numbered := pipeline.Map(p, lines, func(_ context.Context, line []byte) ([]byte, error) {
		return append([]byte(fmt.Sprintf("%d ", len(line)-1)), line...), nil
	})
	pipeline.WriteTo(p, w, numbered)
	if err := p.Wait(); err != nil {
		log.Fatal(err)
	}
	w.Close()
	w.WaitClosed(ctx)
	// Output:
	// 5 alpha
	// 4 beta
	// 5 gamma
}

// Lines sends each line with its "\n"; the channel closes at EOF. It can
// be ranged over, or received from in a select.
func ExampleLines() {
	ctx := context.Background()
	r := chanstream.NewReader(strings.NewReader("one\ntwo\nthree"))
	p := pipeline.New(ctx)
	for line := range pipeline.Lines(p, r) {
		fmt.Printf("%q\n", line)
	}
	if err := p.Wait(); err != nil {
		log.Fatal(err)
	}
	// Output:
	// "one\n"
	// "two\n"
	// "three"
}

// A cancelled pipeline puts back into the Reader the lines nobody
// received: the next reader goes on from there.
func ExampleLines_cancel() {
	r := chanstream.NewReader(strings.NewReader("one\ntwo\nthree\nfour\n"))
	ctx, cancel := context.WithCancel(context.Background())
	p := pipeline.New(ctx)
	lines := pipeline.Lines(p, r)
	fmt.Printf("received %q\n", <-lines)
	cancel()
	fmt.Println(p.Wait())
	rest, _ := r.ReadAll(context.Background())
	fmt.Printf("left in the Reader: %q\n", rest)
	// Output:
	// received "one\n"
	// context canceled
	// left in the Reader: "two\nthree\nfour\n"
}

// Map runs one item at a time, in order; an error ends the pipeline.
func ExampleMap() {
	ctx := context.Background()
	r := chanstream.NewReader(strings.NewReader("3\n1\n4\n1\nfive\n9\n"))
	p := pipeline.New(ctx)
	numbers := pipeline.Map(p, pipeline.Lines(p, r), func(_ context.Context, line []byte) (int, error) {
		var n int
		_, err := fmt.Sscanf(string(line), "%d\n", &n)
		return n, err
	})
	for n := range numbers {
		fmt.Println(n)
	}
	fmt.Println("Wait:", p.Wait())
	// Output:
	// 3
	// 1
	// 4
	// 1
	// Wait: expected integer
}

// WriteTo writes every item and drains the Writer at its high watermark,
// so a slow peer slows the pipeline; it leaves closing to the caller.
func ExampleWriteTo() {
	ctx := context.Background()
	var sink bytes.Buffer
	w := chanstream.NewWriter(&sink, chanstream.WithWriteBufferLimits(16, 4))
	p := pipeline.New(ctx)
	items := make(chan []byte)
	p.Go(func(ctx context.Context) error {
		defer close(items)
		for _, s := range []string{"many ", "small ", "writes ", "in ", "order\n"} {
			select {
			case items <- []byte(s):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	})
	pipeline.WriteTo(p, w, items)
	if err := p.Wait(); err != nil {
		log.Fatal(err)
	}
	w.Close()
	w.WaitClosed(ctx) // the writer goroutine is done with sink
	fmt.Print(sink.String())
	// Output:
	// many small writes in order
}

// Batch groups items by size, or by time after a batch's first item.
func ExampleBatch() {
	ctx := context.Background()
	r := chanstream.NewReader(strings.NewReader("a\nb\nc\nd\ne\n"))
	p := pipeline.New(ctx)
	for batch := range pipeline.Batch(p, pipeline.Lines(p, r), 2, time.Minute) {
		fmt.Printf("%q\n", batch)
	}
	if err := p.Wait(); err != nil {
		log.Fatal(err)
	}
	// Output:
	// ["a\n" "b\n"]
	// ["c\n" "d\n"]
	// ["e\n"]
}
