package chanstream

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"
)

// Upgrade replaces the connection under a live stream — the mechanism
// under STARTTLS. It takes the read token (waiting for a read in progress,
// or until ctx ends), writes everything queued, parks the reader and writer
// goroutines, and calls fn with the raw connection and every byte received
// from it that no read has consumed, including bytes still on their way
// from the reader goroutine. fn owns those bytes: they are never delivered
// to the application afterwards. Reads and writes then go on over the conn
// fn returns; Writes made meanwhile are queued and written to it.
//
// When ctx ends before fn is called, Upgrade returns ctx.Err() and the
// stream goes on as it was. If fn fails, the stream is aborted and the
// error returned. After Close or Abort it returns ErrClosed; on a stream
// whose source already ended, an error saying so, without calling fn. It is
// not supported for NewWriter.
func (w *Writer) Upgrade(ctx context.Context,
	fn func(ctx context.Context, conn net.Conn, unread []byte) (net.Conn, error)) error {
	if err := checkUpgrade(ctx, fn); err != nil { // check.go: a nil ctx or fn, before anything is touched
		return err
	}
	if w.c.r == nil {
		return wrap("upgrade", errors.ErrUnsupported)
	}
	return w.c.upgrade(ctx, fn)
}

// upgrade is Upgrade: it needs both halves. The order is the Reader's
// token, then the Writer's settled queue (hold), then the reader goroutine
// parked; each step undone in reverse if a later one fails.
func (c *conn) upgrade(ctx context.Context,
	fn func(ctx context.Context, conn net.Conn, unread []byte) (net.Conn, error)) error {
	r, w := c.r, c.w
	w.mu.Lock()
	err := w.upgradableLocked()
	w.mu.Unlock()
	if err != nil {
		return wrap("upgrade", err)
	}
	if err := r.acquire(ctx); err != nil {
		return err
	}
	defer r.gate.unlock()
	if err := w.hold(ctx, "upgrade"); err != nil {
		return err
	}
	conn := c.netConn()
	if err := r.parkGoroutine(conn); err != nil {
		_ = w.release(nil)
		return wrap("upgrade", err)
	}
	if err := conn.SetReadDeadline(time.Time{}); err != nil {
		w.Abort()
		return wrap("upgrade", err)
	}
	if err := ctx.Err(); err != nil {
		// Ended while parking: go on as before; the chunks gathered stay buffered.
		r.resume <- conn
		_ = w.release(nil)
		return err
	}
	unread := r.takeAll()
	nc, err := fn(ctx, conn, unread)
	if err == nil && nc == nil {
		err = errors.New("upgrade function returned no connection")
	}
	if err != nil {
		// Reads, Err and Writes say why the stream ended, and that it is closed.
		w.abort(fmt.Errorf("upgrade failed: %w: %w", err, ErrClosed))
		return fmt.Errorf("chanstream: upgrade: %w", err)
	}
	r.resume <- nc // cap 1: never blocks, even if the goroutine has gone
	if err := w.release(nc); err != nil {
		return wrap("upgrade", err)
	}
	return nil
}

// hold waits until every queued byte is written and the write side has no
// owner, then takes it (ownerUpgrade) until release. Writes go on queueing.
// op names the caller (Upgrade, Detach) in its errors.
func (w *Writer) hold(ctx context.Context, op string) error {
	for {
		w.mu.Lock()
		if err := w.upgradableLocked(); err != nil {
			w.mu.Unlock()
			return wrap(op, err)
		}
		if w.queued == 0 && w.owner == ownerNone {
			w.owner = ownerUpgrade
			w.mu.Unlock()
			return nil
		}
		ch := w.settlingLocked()
		w.mu.Unlock()
		select {
		case <-ch:
		case <-w.c.closed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (w *Writer) upgradableLocked() error {
	if err := w.c.failure(); err != nil {
		return err
	}
	if w.state != stateOpen {
		return ErrClosed
	}
	return nil
}

// release gives the write side back, over nc when it is not nil. If the
// stream was closed meanwhile (Abort during fn), nc is closed and release
// returns ErrClosed.
func (w *Writer) release(nc net.Conn) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.owner = ownerNone
	if w.state == stateAborted || isDone(w.c.closed) {
		if nc != nil {
			_ = nc.Close()
		}
		return ErrClosed
	}
	if nc != nil {
		w.c.replace(nc)
		w.dst, w.raw = nc, newRawWriter(nc)
		if w.state == stateClosing {
			w.c.armShutdown() // Close came during fn, over the plain conn: bound it now
		}
	}
	w.startLocked()
	return nil
}

// parkGoroutine stops the reader goroutine between two reads of conn and
// gathers every chunk it sent. The token is held. A read deadline in the
// past wakes the goroutine out of conn.Read; it sees the request and parks
// (see readLoop). Chunks are taken in while waiting, so a goroutine blocked
// on a full channel gets through to the request.
func (r *Reader) parkGoroutine(conn net.Conn) error {
	if r.eof {
		return r.endedErr()
	}
	if r.fedEOF.Load() { // the goroutine may not have seen it yet: the stream has ended all the same
		r.endFed()
		return r.endedErr()
	}
	r.parkReq <- struct{}{}
	if err := conn.SetReadDeadline(aLongTimeAgo); err != nil {
		select {
		case <-r.parkReq: // taken back before the goroutine saw it
			return err
		default: // the goroutine took it while paused, and parks without the deadline
		}
	}
	for {
		select {
		case <-r.parked:
			// Take the chunks it sent before parking.
			for {
				select {
				case c, ok := <-r.chunks:
					r.absorb(c, ok)
					if !ok { // closed (Close/Abort) after it parked
						return r.endedErr()
					}
				default:
					return nil
				}
			}
		case c, ok := <-r.chunks:
			r.absorb(c, ok)
			if !ok {
				_ = conn.SetReadDeadline(time.Time{})
				select { // the goroutine ended without seeing the request
				case <-r.parkReq:
				default:
				}
				return r.endedErr()
			}
		}
	}
}

// endedErr says why an upgrade cannot go on: the source has ended.
func (r *Reader) endedErr() error {
	if r.termErr == nil || errors.Is(r.termErr, ErrClosed) {
		return ErrClosed
	}
	return fmt.Errorf("source ended: %w", r.termErr)
}
