package pipeline

import (
	"context"
	"errors"
	"io"

	"github.com/cspstream/streams/chanstream"
)

var newline = [][]byte{{'\n'}}

// Lines reads r line by line and sends each line, "\n" included, on the
// channel it returns: Split with "\n". The last line may lack the "\n".
// The channel is closed after the last line, at EOF, or when the pipeline
// is cancelled or fails.
//
// A line longer than r's limit ends the pipeline with a
// *chanstream.LimitOverrunError and, unlike Reader.ReadLine, consumes
// nothing of it: the Reader still holds the line. A source error (a reset,
// a local Close) ends the pipeline with that error once every line before
// it was sent. See Split for what a cancelled source puts back.
//
// Lines takes bytes from r in bulk, up to 32 KiB ahead of the lines it has
// sent, and cuts the lines itself; what it holds when it stops early goes
// back into r with the rest. Like every source, it must be r's only reader
// while the pipeline runs.
func Lines(p *Pipeline, r *chanstream.Reader) <-chan []byte {
	need("lines", "pipeline,Reader", p != nil, r != nil)
	s := newLineScanner(r)
	return source(p, r, s.next, s.putBack)
}

// Split reads r up to and including each separator (Reader.ReadUntil;
// none given means "\n"; with several, the shortest item that ends in any
// of them) and sends each item, separator included, on the channel it
// returns. At EOF it sends the bytes after the last separator, if any, as
// the last item. Each item is a new slice that belongs to its receiver.
// An empty separator panics with an error wrapping
// chanstream.ErrInvalidArgument.
//
// The source is cancel-safe: an item it read but did not deliver is put
// back in front of r with Unread — by the source when its send is
// cancelled, by Wait for the items left in the channel — so that r, handed
// on after a cancelled or failed pipeline, reads next exactly the bytes no
// receiver got. A separator beyond r's limit ends the pipeline with a
// *chanstream.LimitOverrunError, leaving those bytes in r; a source error
// ends it with that error, the bytes read before it put back in r.
func Split(p *Pipeline, r *chanstream.Reader, seps ...[]byte) <-chan []byte {
	need("split", "pipeline,Reader", p != nil, r != nil)
	if len(seps) == 0 {
		seps = newline
	} else {
		own := make([][]byte, len(seps)) // the caller may reuse seps
		for i, s := range seps {
			if len(s) == 0 {
				invalid("split", "empty separator")
			}
			own[i] = append([]byte(nil), s...)
		}
		seps = own
	}
	return source(p, r, func(ctx context.Context) ([]byte, error) {
		return readUntil(ctx, r, seps)
	}, nil)
}

// Chunks reads r in chunks of at most max bytes (Reader.ReadUpTo) and
// sends each on the channel it returns, until EOF. A chunk is what was
// buffered when it was read, up to max: chunk boundaries follow the
// network, not the data. Each chunk belongs to its receiver. max < 1
// panics with an error wrapping chanstream.ErrInvalidArgument.
// Cancellation and errors are as for Split.
func Chunks(p *Pipeline, r *chanstream.Reader, max int) <-chan []byte {
	need("chunks", "pipeline,Reader", p != nil, r != nil)
	if max < 1 {
		invalid("chunks", "max %d < 1", max)
	}
	return source(p, r, func(ctx context.Context) ([]byte, error) {
		return r.ReadUpTo(ctx, max)
	}, nil)
}

// readUntil is ReadUntil with the end of the stream as Lines wants it: the
// bytes after the last separator as a last item, then io.EOF.
func readUntil(ctx context.Context, r *chanstream.Reader, seps [][]byte) ([]byte, error) {
	b, err := r.ReadUntil(ctx, seps...)
	if err == nil {
		return b, nil
	}
	var inc *chanstream.IncompleteReadError
	if errors.As(err, &inc) {
		if len(inc.Partial) == 0 {
			return nil, io.EOF
		}
		return inc.Partial, nil
	}
	return b, err
}

// source runs read in a stage until io.EOF or an error, sending each item
// on the channel it returns. Every item read is either sent or put back
// into r: the one whose send is cancelled by the source itself, those
// still in the channel after a failure by Wait (onFailure), in front of it.
// putBack, if not nil, returns to r what read took ahead and still holds;
// the source calls it when it stops early, before it puts back an item.
func source(p *Pipeline, r *chanstream.Reader, read func(ctx context.Context) ([]byte, error), putBack func()) <-chan []byte {
	out := make(chan []byte, queueCap) // source → next stage; closed by the source as it returns
	p.onFailure(func() bool {
		// Every stage has returned, so out is closed and nobody else in the
		// pipeline receives from it: what is left was never delivered.
		var back []byte
		n := 0
		for b := range out {
			back = append(back, b...)
			n++
		}
		r.Unread(back)
		return n > 0
	})
	p.Go(func(ctx context.Context) error {
		defer close(out)
		done := ctx.Done()
		for {
			b, err := read(ctx)
			if err == io.EOF {
				return nil
			}
			if err != nil {
				if putBack != nil {
					putBack()
				}
				r.Unread(b) // bytes read with the error (a reset), if any
				return err
			}
			if !send(done, out, b) {
				if putBack != nil {
					putBack()
				}
				r.Unread(b)
				return ctx.Err()
			}
		}
	})
	return out
}
