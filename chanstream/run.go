package chanstream

import (
	"io"
)

// run is the writer goroutine: while it owns the write side
// (ownerGoroutine), the only code that writes the sink. It writes
// everything queued with one writev, half-closes after WriteEOF, closes
// after Close, and stops at Abort or a failure. It runs only while there is
// work: startLocked starts it in the stream's group, and it returns when
// nothing is queued and no close is pending, so an idle connection has no
// writer goroutine.
func (w *Writer) run() error {
	w.c.labels.Apply()
	for w.step() {
	}
	return nil
}

// startLocked starts the writer goroutine unless the write side has an
// owner, or the stream is closing (nothing is left to write then). w.mu
// is held.
func (w *Writer) startLocked() {
	if w.owner == ownerNone && w.c.spawn(w.run) {
		w.owner = ownerGoroutine
	}
}

// step does one piece of work and returns true, or finds none, gives up
// the write side and returns false.
func (w *Writer) step() bool {
	w.mu.Lock()
	switch {
	case w.state == stateAborted || isDone(w.c.closed):
		// Closed: whatever is queued will not be written.
	case len(w.queue) > 0:
		batch, dst := w.queue, w.dst
		w.queue = w.spare[:0]
		w.mu.Unlock()
		w.flush(batch, dst)
		return true // a failed write closed the stream: the next step sees it
	case w.state == stateEOF:
		w.state = stateHalfClosed
		dst := w.dst
		w.mu.Unlock()
		if err := w.halfClose(dst); err != nil {
			w.c.closeNow(err, false)
		}
		return true
	case w.state == stateClosing:
		w.mu.Unlock()
		w.c.closeNow(nil, true)
		return true // the next step sees the stream closed
	}
	defer w.mu.Unlock()
	w.owner = ownerNone
	w.settledLocked()
	return false
}

// flush writes batch to dst with one writev, then gives its chunks back.
// A failed write closes the stream.
func (w *Writer) flush(batch [][]byte, dst io.Writer) {
	n := 0
	for _, c := range batch {
		n += len(c)
	}
	w.bufs = append(w.bufs[:0], batch...)
	w.out = w.bufs // WriteTo consumes the slice it is called on
	k, err := w.out.WriteTo(dst)
	clear(w.bufs)
	for i, c := range batch {
		putChunk(c)
		batch[i] = nil
	}
	w.mu.Lock()
	w.spare = batch[:0]
	w.stats.written += k
	if w.state != stateAborted { // Abort already dropped the count
		if err != nil {
			w.c.fail(err) // before Drain can wake below
		}
		w.queued -= n
	}
	w.queuedChangedLocked()
	w.mu.Unlock()
	if err != nil {
		w.c.closeNow(err, false)
	}
}

// halfClose ends the sink's write side after WriteEOF: CloseWrite, or for
// a NewWriter sink that cannot half-close, Close.
func (w *Writer) halfClose(dst io.Writer) error {
	if c, ok := dst.(interface{ CloseWrite() error }); ok {
		return c.CloseWrite()
	}
	if c, ok := dst.(io.Closer); ok {
		w.c.sinkClosed()
		return c.Close()
	}
	return nil
}
