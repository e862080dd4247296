package chanstream

import (
	"context"
	"io"
	"sync"
)

// LineFeed delivers a Reader's lines on a channel, for a select next to
// other channels, and can be stopped and started again without losing or
// reordering a line. Make one with [Reader.LineFeed]; always call Stop.
//
//	feed := r.LineFeed(ctx)
//	defer feed.Stop()
//	for {
//		select {
//		case line, ok := <-feed.C:
//			if !ok {
//				return feed.Err() // nil at EOF
//			}
//			handle(line)
//		case <-tick.C:
//			...
//		}
//	}
//
// After Stop returns, the Reader holds every line the feed did not deliver,
// in order: the next read — or the next LineFeed — starts with the first
// line nobody received from C.
type LineFeed struct {
	// C delivers the lines one at a time, each as ReadLine returns it: "\n"
	// included, the last line of the stream possibly without it; each slice
	// belongs to its receiver. It is unbuffered, so a line is either
	// received or still in the Reader. It is closed after the last line:
	// at EOF, when the stream fails (after the bytes it had), on a line
	// longer than the limit (ReadLine's *LimitOverrunError), when the ctx
	// given to LineFeed ends, or by Stop.
	C <-chan []byte

	// Set at construction, never changed.
	r      *Reader
	cancel context.CancelFunc // ends the goroutine's ctx; Stop and the goroutine's end call it
	done   chan struct{}      // closed by the feed's goroutine as it returns, after C and err

	mu  sync.Mutex // guards err
	err error      // why C was closed: nil at EOF and after Stop
}

// LineFeed starts a goroutine that reads r line by line (ReadLine) and
// delivers the lines on the returned feed's C; see [LineFeed]. Stop ends
// it. Like every reader of r, it shares r's bytes with other reads: while
// the feed runs, read r only through it. A nil ctx panics with an error
// wrapping [ErrInvalidArgument]. It does not block.
func (r *Reader) LineFeed(ctx context.Context) *LineFeed {
	if ctx == nil {
		panic(invalid("LineFeed", "nil ctx"))
	}
	fctx, cancel := context.WithCancel(ctx)
	c := make(chan []byte) // feed goroutine → receiver; unbuffered: an undelivered line stays the feed's to put back; closed by the feed goroutine
	f := &LineFeed{C: c, r: r, cancel: cancel, done: make(chan struct{})}
	go f.run(ctx, fctx, c)
	return f
}

// run is the feed's goroutine; parent is the ctx given to LineFeed, ctx
// its child that Stop cancels.
func (f *LineFeed) run(parent, ctx context.Context, c chan<- []byte) {
	f.r.applyLabels()
	err := f.feed(ctx, c)
	if err != nil && err == ctx.Err() && parent.Err() == nil {
		err = nil // Stop: not an error
	}
	f.mu.Lock()
	f.err = err
	f.mu.Unlock()
	close(c)
	f.cancel()
	close(f.done)
}

// feed delivers lines until the stream ends or ctx does, and returns why
// (nil at EOF). A line whose send ctx ends is put back in front of the
// Reader.
func (f *LineFeed) feed(ctx context.Context, c chan<- []byte) error {
	for {
		line, err := f.r.ReadLine(ctx) // consumes nothing when ctx ends first
		if len(line) > 0 {
			if ctx.Err() != nil { // an ended ctx wins over a receiver that is ready
				f.r.Unread(line)
				return ctx.Err()
			}
			select {
			case c <- line:
			case <-ctx.Done():
				f.r.Unread(line) // not delivered: back in front, before any later byte
				return ctx.Err()
			}
		}
		if err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
	}
}

// Stop ends the feed and waits for its goroutine to return. A line the
// feed had read and not delivered is put back in front of the Reader, so
// that the next read returns it. It returns what Err returns; after Stop,
// C is closed. Stop is idempotent and safe for concurrent use. It blocks
// only while the goroutine returns: a read it was waiting in ends at once.
func (f *LineFeed) Stop() error {
	f.cancel()
	<-f.done
	return f.Err()
}

// Err returns why C was closed: nil at EOF and after Stop, the ctx's error
// when the ctx given to LineFeed ended, a *LimitOverrunError, or the
// stream's error. It is nil while the feed runs.
func (f *LineFeed) Err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}
