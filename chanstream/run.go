package chanstream

import (
	"io"
)

// run is the writer goroutine: with an inline Write (inline.go), the only
// code that writes the sink; whichever holds the write token (running)
// does. It writes everything queued with one writev, half-closes after
// WriteEOF, closes after Close, and stops at Abort or a failure. It runs
// only while there is work: poke starts it, and it returns when nothing is
// queued and no close is pending, so an idle connection has no writer
// goroutine. The run that sees the stream end supervises it: it waits for
// the reader goroutine (the errgroup) and then closes done.
func (w *Writer) run() {
	for {
		switch w.step() {
		case stepIdle:
			return // poke starts the next run
		case stepEnd:
			_ = w.group.Wait()
			w.end()
			return
		}
	}
}

// A step's outcome.
type stepResult uint8

const (
	stepMore stepResult = iota // look for more work
	stepIdle                   // nothing to do: the goroutine returns (running is false)
	stepEnd                    // the stream has ended: supervise and return (running stays true)
)

// poke makes sure a writer goroutine runs to see what the caller changed.
func (w *Writer) poke() {
	w.mu.Lock()
	w.startLocked()
	w.mu.Unlock()
}

// startLocked starts the writer goroutine unless one is running, or has
// ended the stream.
func (w *Writer) startLocked() {
	if !w.running {
		w.running = true
		go w.run()
	}
}

// step does one piece of work, or finds none.
func (w *Writer) step() stepResult {
	w.mu.Lock()
	switch {
	case w.state == stateAborted:
		w.mu.Unlock()
		return stepEnd
	case len(w.queue) > 0 && !w.held:
		batch, dst := w.queue, w.dst
		w.queue = w.spare[:0]
		w.mu.Unlock()
		w.flush(batch, dst)
		return stepMore
	case len(w.queue) == 0 && w.state >= stateEOF && !w.halfed && !w.held:
		w.halfed = true
		dst, closing := w.dst, w.state == stateClosing
		_, halfCloser := dst.(interface{ CloseWrite() error })
		w.sinkClosed = !closing && !halfCloser
		w.mu.Unlock()
		if err := halfClose(dst, closing); err != nil {
			w.closeNow(err, false)
			return stepEnd
		}
		return stepMore
	case len(w.queue) == 0 && w.state == stateClosing && !w.held:
		w.mu.Unlock()
		w.closeNow(nil, true)
		return stepEnd
	}
	defer w.mu.Unlock()
	select {
	case <-w.closed: // closeNow pokes after closing it: one run sees it
		return stepEnd
	default:
		w.running = false
		return stepIdle
	}
}

// flush writes batch to dst with one writev, then gives its chunks back.
func (w *Writer) flush(batch [][]byte, dst io.Writer) {
	n := 0
	for _, c := range batch {
		n += len(c)
	}
	w.bufs = append(w.bufs[:0], batch...)
	w.out = w.bufs // WriteTo consumes the slice it is called on
	_, err := w.out.WriteTo(dst)
	clear(w.bufs)
	for i, c := range batch {
		putChunk(c)
		batch[i] = nil
	}
	w.mu.Lock()
	w.spare = batch[:0]
	if err != nil && w.err == nil && w.state != stateAborted {
		w.err = err // before Drain can wake below
	}
	if w.state != stateAborted { // Abort already dropped the count
		w.queued -= n
	}
	w.queuedChangedLocked()
	w.mu.Unlock()
	if err != nil {
		w.closeNow(err, false)
	}
}

// halfClose ends the sink's write side after WriteEOF. When Close follows
// at once there is nothing to do: the close ends both sides.
func halfClose(dst io.Writer, closing bool) error {
	if closing {
		return nil
	}
	if c, ok := dst.(interface{ CloseWrite() error }); ok {
		return c.CloseWrite()
	}
	if c, ok := dst.(io.Closer); ok {
		return c.Close()
	}
	return nil
}
