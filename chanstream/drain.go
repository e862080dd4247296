package chanstream

import (
	"context"
	"errors"
	"time"
)

// Drain waits for the write queue to go from above the high watermark to
// at most the low one: asyncio's drain. It returns nil at once when at most
// high bytes are queued. It returns at once with the stream's failure —
// from either side, a reset read included — when the connection has
// failed, and with an error that errors.Is(err, ErrClosed) after Close or
// Abort; so it never hangs on a dead peer. When ctx ends first it returns
// ctx.Err(); the queue is unchanged. A nil ctx is ErrInvalidArgument.
func (w *Writer) Drain(ctx context.Context) error {
	if ctx == nil {
		return invalid("drain", "nil ctx")
	}
	if err := w.drainUntil(ctx.Done()); err != errStopped {
		return err
	}
	return ctx.Err()
}

// errStopped is what drainUntil and the NetConn paths return when their
// stop channel closed.
var errStopped = errors.New("chanstream: stopped")

// drainUntil is Drain that gives up, returning errStopped, once stop is
// closed.
func (w *Writer) drainUntil(stop <-chan struct{}) error {
	w.mu.Lock()
	err := w.drainErrLocked()
	if err != nil || !w.above {
		w.mu.Unlock()
		return err
	}
	if w.drained == nil {
		w.drained = make(chan struct{}, 1) // once per Writer: waiting allocates nothing after
	}
	ch := w.drained
	w.drainers++
	began := time.Now()
	for {
		w.mu.Unlock()
		select {
		case <-ch:
		case <-w.c.closed:
		case <-stop:
			w.mu.Lock()
			w.drainers--
			w.noteDrainLocked(began)
			w.mu.Unlock()
			return errStopped
		}
		w.mu.Lock()
		err := w.drainErrLocked()
		if err == nil && isDone(w.c.closed) {
			err = wrap("drain", ErrClosed)
		}
		if err != nil || !w.above {
			w.drainers--
			w.noteDrainLocked(began)
			if w.drainers > 0 {
				wakeOne(ch) // pass the wake-up on to the next waiter
			}
			w.mu.Unlock()
			return err
		}
		// Above again (or a stale wake-up): wait for the next fall to low.
	}
}

func isDone(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// wakeOne leaves a wake-up in ch, a cap-1 channel, unless one is there.
func wakeOne(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

func (w *Writer) drainErrLocked() error {
	if err := w.c.failure(); err != nil {
		return wrap("drain", err)
	}
	if w.state >= stateClosing {
		return wrap("drain", ErrClosed)
	}
	return nil
}

// WriteBufferLimits returns the high and low watermarks.
func (w *Writer) WriteBufferLimits() (high, low int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.high, w.low
}

// SetWriteBufferLimits sets both watermarks exactly; low 0 makes Drain wait
// for an empty queue. It returns an error wrapping ErrInvalidArgument,
// changing nothing, unless high ≥ low ≥ 0 and, under a [WithMaxWriteBuffer]
// cap, high ≤ the cap. A Drain waiting now sees the new marks.
func (w *Writer) SetWriteBufferLimits(high, low int) error {
	if err := checkWatermarks(high, low); err != nil {
		return err
	}
	if w.max > 0 && high > w.max {
		return invalid("write buffer limits", "high %d above the cap %d (WithMaxWriteBuffer)", high, w.max)
	}
	w.mu.Lock()
	w.high, w.low = high, low
	w.queuedChangedLocked()
	w.mu.Unlock()
	return nil
}

// queuedChangedLocked keeps the watermark in step with queued: above from
// passing high until falling to low. Falling to low wakes one waiting
// Drain, which wakes the next as it returns, so every waiter sees it
// without a fresh channel per wait.
func (w *Writer) queuedChangedLocked() {
	w.noteQueuedLocked()
	switch {
	case w.queued > w.high:
		w.above = true
	case w.queued <= w.low && w.above:
		w.above = false
		if w.drainers > 0 {
			wakeOne(w.drained)
		}
	}
	w.settledLocked()
}

// settlingLocked returns the channel settledLocked closes once nothing is
// queued and nobody owns the write side (Upgrade and Detach wait for it),
// or once a reservation under the cap is given back (waitRoom). w.mu is
// held.
func (w *Writer) settlingLocked() <-chan struct{} {
	if w.emptied == nil {
		w.emptied = make(chan struct{})
	}
	return w.emptied
}

// settledLocked closes emptied, the channel Upgrade waits on, once nothing
// is queued and nobody owns the write side.
func (w *Writer) settledLocked() {
	if w.emptied != nil && w.queued == 0 && w.owner == ownerNone {
		close(w.emptied) // the only closer
		w.emptied = nil
	}
}
