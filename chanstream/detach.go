package chanstream

import (
	"context"
	"errors"
	"net"
	"time"
)

// Detach hands the connection back to the caller: it writes everything
// queued, stops the stream's goroutines and returns the connection with
// the bytes already read from it that no read has consumed (nil when there
// are none), including bytes still on their way from the reader goroutine.
// The next byte read from the returned conn is the one after them; nothing
// is lost or read twice. Over TLS the *tls.Conn is returned (the bytes it
// has decrypted and not yet delivered stay inside it). Use it to pass a
// connection to another protocol's library after a line-based preamble: an
// HTTP Upgrade, a PROXY protocol header.
//
// It blocks until the queue is written — a peer that does not read holds
// it — and the reader goroutine has parked, as [Writer.Upgrade] does;
// Writes made meanwhile are written before Detach returns. Afterwards the
// Reader and Writer are closed: reads return an error that errors.Is(err,
// [ErrClosed]), so do writes; Done is closed and WaitClosed returns once
// the goroutines have ended (at once, for all practical purposes), and
// AfterClose functions run. The conn is not closed: it belongs to the
// caller, and Close and Abort of the Writer no longer reach it.
//
// When ctx ends before the connection is handed over, Detach returns
// ctx.Err() and the stream goes on as before, nothing consumed. After
// Close, WriteEOF or Abort — also when one comes during Detach — it
// returns an error wrapping ErrClosed; when the connection has failed, that
// failure; when the source has already ended (the peer's EOF was read), an
// error saying so, and the stream goes on. It is not supported for
// NewWriter (errors.ErrUnsupported). A nil ctx is ErrInvalidArgument.
//
// In a server handler, the handler's ctx ends when the stream closes, so
// after Detach; a handler that goes on with the conn uses a ctx of its own
// (context.WithoutCancel) and closes the conn itself.
func (w *Writer) Detach(ctx context.Context) (net.Conn, []byte, error) {
	if ctx == nil {
		return nil, nil, invalid("detach", "nil ctx")
	}
	if w.c.r == nil {
		return nil, nil, wrap("detach", errors.ErrUnsupported)
	}
	return w.c.detach(ctx)
}

// detach is Detach, on Upgrade's machinery: the Reader's token, the
// Writer's settled queue (hold), the reader goroutine parked; then, where
// Upgrade calls its fn, the stream is closed without its connection.
func (c *conn) detach(ctx context.Context) (net.Conn, []byte, error) {
	r, w := c.r, c.w
	w.mu.Lock()
	err := w.upgradableLocked()
	w.mu.Unlock()
	if err != nil {
		return nil, nil, wrap("detach", err)
	}
	if err := r.acquire(ctx); err != nil {
		return nil, nil, err
	}
	defer r.gate.unlock()
	for {
		if err := w.hold(ctx, "detach"); err != nil {
			return nil, nil, err
		}
		nc := c.netConn()
		if err := r.parkGoroutine(nc); err != nil {
			_ = w.release(nil)
			return nil, nil, wrap("detach", err)
		}
		if err := nc.SetReadDeadline(time.Time{}); err != nil {
			w.Abort()
			return nil, nil, wrap("detach", err)
		}
		if err := ctx.Err(); err != nil {
			// Ended while parking: go on as before; the chunks gathered stay buffered.
			r.resume <- nc
			_ = w.release(nil)
			return nil, nil, err
		}
		switch err := w.commitDetach(); {
		case err == nil:
			unread := r.takeAll()
			c.closeNow(nil, false) // closes nothing: commitDetach took the conn away; the parked goroutine sees closed and ends
			return nc, unread, nil
		case err != errRetry:
			r.resume <- nc // cap 1: never blocks; the goroutine sees the close or reads on
			_ = w.release(nil)
			return nil, nil, wrap("detach", err)
		}
		// Writes came while the goroutine parked: let the writer goroutine
		// write them, and try again.
		r.resume <- nc
		_ = w.release(nil)
	}
}

// errRetry is commitDetach's "writes came in: flush them and try again".
var errRetry = errors.New("chanstream: retry")

// commitDetach is the point of no return of Detach. With the write side
// held and the reader goroutine parked, and nothing queued since hold, it
// closes the Writer to writes and takes the connection away from closeNow,
// under w.mu, so that a concurrent Abort cannot close the conn it hands
// over. It returns errRetry when Writes were queued meanwhile, and the
// reason when the Writer was closed or aborted meanwhile.
func (w *Writer) commitDetach() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.upgradableLocked(); err != nil {
		return err
	}
	if isDone(w.c.closed) {
		return ErrClosed
	}
	if w.queued > 0 {
		return errRetry
	}
	w.state = stateAborted // writes: ErrClosed; IsClosing: true
	w.owner = ownerNone    // nothing may start a writer goroutine: closeNow follows
	w.c.mu.Lock()          // Writer.mu, then conn.mu
	w.c.closer = nil
	w.c.mu.Unlock()
	return nil
}
