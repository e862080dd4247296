package pipeline

import (
	"context"
	"io"

	"github.com/cspstream/streams/chanstream"
)

// WriteTo writes each item of in to w, in order, and drains w whenever its
// queue is above the high watermark (Writer.Drain), so a slow peer slows
// the pipeline instead of growing w's queue. It ends when in is closed; it
// does not close w — Close or WriteEOF it after Wait. A write or drain
// error (the peer reset, w closed) ends the pipeline with that error; an
// item received when the pipeline was cancelled is dropped.
func WriteTo(p *Pipeline, w *chanstream.Writer, in <-chan []byte) {
	need("write to", "pipeline,Writer,input", p != nil, w != nil, in != nil)
	p.Go(func(ctx context.Context) error {
		done := ctx.Done()
		var batch [][]byte // the items taken at once, written as one unit
		for {
			b, ok, err := recv(ctx, done, in)
			if !ok {
				return err
			}
			// Take what else is waiting, so that one Write (one lock, one
			// wake-up of the writer goroutine) carries many small items.
			batch = gather(done, in, append(batch[:0], b), len(b))
			_, err = w.WriteLines(batch...)
			clear(batch) // the items are copied: let them go
			if err != nil {
				return err
			}
			// Drain returns at once at or below the high watermark.
			if err := w.Drain(ctx); err != nil {
				return err
			}
		}
	})
}

// gather appends to batch (size bytes so far) the items waiting in in,
// without blocking, so that one Write (one lock, one wake-up of the writer
// goroutine) carries many small items. It stops at maxBatch items or about
// maxBatchBytes, when in is empty or closed, and, checked before each item,
// when done is closed: a cancelled stage takes no more.
func gather(done <-chan struct{}, in <-chan []byte, batch [][]byte, size int) [][]byte {
	for len(batch) < maxBatch && size < maxBatchBytes && !isDone(done) {
		select {
		case b, ok := <-in:
			if !ok {
				return batch
			}
			batch = append(batch, b)
			size += len(b)
		default:
			return batch
		}
	}
	return batch
}

// WriteTo writes at most maxBatch items, or about maxBatchBytes, at once.
const (
	maxBatch      = queueCap
	maxBatchBytes = 32 << 10
)

// copyChunk is how much Copy takes from its Reader at a time, at most.
const copyChunk = 64 << 10

// Copy copies src to dst until src's EOF, then half-closes dst with
// WriteEOF, or closes it where dst cannot half-close (TLS, a sink that is
// not a connection; see Writer.CanWriteEOF). It drains dst as it goes, so
// it holds about dst's high watermark at most, and a slow dst slows the
// reading of src (and src's peer). Copy must be src's only reader while it
// runs.
//
// When the pipeline is cancelled, Copy stops: the bytes it has not taken
// stay in src (a read that is cancelled consumes nothing), the bytes it
// took are queued in dst; dst is neither half-closed nor closed. A read
// error of src or a write error of dst ends the pipeline with that error;
// after a write error the bytes that write was given are back in src
// (Unread), so every byte of src is either queued in dst or still in src.
func Copy(p *Pipeline, dst *chanstream.Writer, src *chanstream.Reader) {
	need("copy", "pipeline,Writer,Reader", p != nil, dst != nil, src != nil)
	p.Go(func(ctx context.Context) error {
		buf := make([]byte, copyChunk) // reused: Write copies out of it
		for {
			n, rerr := fill(ctx, src, buf)
			if n > 0 {
				if _, err := dst.Write(buf[:n]); err != nil {
					src.Unread(buf[:n]) // not queued: back to src, so it has no hole
					return err
				}
				if err := dst.Drain(ctx); err != nil {
					return err
				}
			}
			if rerr == io.EOF {
				break
			}
			if rerr != nil {
				return rerr
			}
		}
		if dst.CanWriteEOF() {
			return dst.WriteEOF()
		}
		return dst.Close()
	})
}
