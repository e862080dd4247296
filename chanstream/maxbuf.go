package chanstream

import "errors"

// The write queue's hard cap (WithMaxWriteBuffer). asyncio's queue is
// unbounded and so is ours by default; a server that would rather refuse
// a Write than hold an unbounded queue for a peer that stopped reading
// sets a cap. Writes that return at once (Write, WriteString, WriteLines)
// refuse what would not fit; writes that wait (ReadFrom, NetConn's Write)
// wait for room instead. queued counts bytes being written too, the inline
// write's included, so the cap bounds everything the Writer holds.

// ErrWriteBufferFull is returned, unwrapped, by Write, WriteString and
// WriteLines when queuing their bytes would take the write queue past the
// cap set with [WithMaxWriteBuffer]; nothing is queued then. The stream is
// unchanged: after Drain, or once the peer has read, a Write may fit.
var ErrWriteBufferFull = errors.New("chanstream: write buffer full")

// WithMaxWriteBuffer caps the Writer's queue at n bytes, counting bytes
// being written: a Write, WriteString or WriteLines that would queue past
// it queues nothing and returns (0, [ErrWriteBufferFull]), whether it
// would have written inline or not; ReadFrom and NetConn's Write wait for
// room instead. 0, the default, leaves the queue unbounded, as asyncio's
// is. n < 0 is invalid, and so is a cap below the high watermark
// ([WithWriteBufferLimits], default [DefaultHighWater]), whatever the
// order of the options; [Writer.SetWriteBufferLimits] refuses to raise the
// high watermark above it.
func WithMaxWriteBuffer(n int) Option {
	return func(c *config) {
		c.given |= optMaxWriteBuffer
		if n < 0 {
			c.invalid(invalid("WithMaxWriteBuffer", "cap %d < 0", n))
			return
		}
		c.maxWrite = n
	}
}

// checkMaxWrite is checkFor's test of the cap against the high watermark,
// once every option has been applied.
func (c *config) checkMaxWrite() error {
	if c.maxWrite > 0 && c.maxWrite < c.high {
		return invalid("WithMaxWriteBuffer", "cap %d below the high watermark %d", c.maxWrite, c.high)
	}
	return nil
}

// MaxWriteBuffer returns the write queue's cap, or 0 when it is unbounded.
func (w *Writer) MaxWriteBuffer() int { return w.max }

// fullLocked reports whether queuing n more bytes would pass the cap.
// w.mu is held.
func (w *Writer) fullLocked(n int) bool {
	return w.max > 0 && w.queued+w.reserved+n > w.max
}

// reserve returns how much of a k-byte read ReadFrom may queue: k when
// there is no cap; else up to the room under the cap, which it reserves
// until unreserveLocked, waiting while there is none.
func (w *Writer) reserve(k int) (int, error) {
	if w.max == 0 {
		return k, nil
	}
	w.mu.Lock()
	for {
		if err := w.writableLocked(); err != nil {
			w.mu.Unlock()
			return 0, wrap("read from", err)
		}
		if room := w.max - w.queued - w.reserved; room > 0 {
			k = min(k, room)
			w.reserved += k
			w.mu.Unlock()
			return k, nil
		}
		w.mu.Unlock()
		_ = w.waitRoom(nil, 1)
		w.mu.Lock()
	}
}

// unreserveLocked gives back what reserve reserved (nothing without a
// cap). w.mu is held.
func (w *Writer) unreserveLocked(k int) {
	if w.max == 0 {
		return
	}
	w.reserved -= k
	w.settledLocked() // a writer waiting in waitSettled looks again
}

// unreserve is unreserveLocked without w.mu.
func (w *Writer) unreserve(k int) {
	if w.max == 0 {
		return
	}
	w.mu.Lock()
	w.unreserveLocked(k)
	w.mu.Unlock()
}

// waitRoom returns at once when n bytes fit under the cap; else it waits
// until the queue is written out (settledLocked) or a reservation is given
// back (unreserveLocked), or the stream closes, or stop is closed (then it
// returns errStopped). The caller looks again: another writer may have
// taken the room. n is at most the cap, so an empty queue has room.
func (w *Writer) waitRoom(stop <-chan struct{}, n int) error {
	w.mu.Lock()
	if !w.fullLocked(n) {
		w.mu.Unlock()
		return nil
	}
	ch := w.settlingLocked()
	w.mu.Unlock()
	select {
	case <-ch:
	case <-w.c.closed:
	case <-stop:
		return errStopped
	}
	return nil
}

// piece is the most NetConn's Write queues at once: writePiece, or the cap
// when it is smaller, so that a piece always fits an empty queue.
func (w *Writer) piece() int {
	if w.max > 0 {
		return min(writePiece, w.max)
	}
	return writePiece
}
