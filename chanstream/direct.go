package chanstream

import (
	"context"
	"time"
)

// Direct reads. When the source of a New stream is a plain socket (see
// plainSocket), there is no reader goroutine: the goroutine that holds the
// read token reads the socket itself when the read in progress needs more
// bytes — one read(2) into a pooled chunk and, on EAGAIN, a wait in the
// runtime's poller without the chunk, as net.Conn's Read does. So an idle
// connection costs no goroutine and no buffer, and a message costs no
// hand-off between goroutines; the kernel's receive buffer is the read-ahead
// and its window the back-pressure.
//
// What may end such a wait early changes its state first — the read's ctx
// ends, a NetConn read deadline passes, Unread or FeedEOF — and then calls
// interrupt, which sets a read deadline in the past while a read is
// waiting; the read wakes, clears it and looks again. For a ctx, the read
// registers the interrupt with context.AfterFunc at its first EAGAIN and
// keeps it for later reads under the same ctx (watch), so a read that finds
// bytes waiting registers nothing, and a handler reading under one ctx
// registers once. Close and Abort close the socket, which wakes the read
// too, and end the watch.
//
// A stream stays direct until Upgrade replaces its connection with one
// that is not a plain socket (TLS); from then on a reader goroutine reads it.

// aLongTimeAgo is a read deadline that has passed: it wakes a waiting read.
var aLongTimeAgo = time.Unix(1, 0)

// interrupt wakes a direct read waiting in the poller, if there is one. It
// does not block.
func (r *Reader) interrupt() {
	if rr := r.direct.Load(); rr != nil {
		rr.wake()
	}
}

// wake is interrupt for rr. Under mu, so that a read that has ended has
// also cleared the deadline, and a late wake cannot touch a later user of
// the connection (Upgrade's fn).
func (rr *rawReader) wake() {
	rr.mu.Lock()
	if rr.blocking && !rr.interrupted {
		rr.interrupted = true
		_ = rr.conn.SetReadDeadline(aLongTimeAgo)
	}
	rr.mu.Unlock()
}

// begin and end bracket a direct read: between them wake may interrupt it.
func (rr *rawReader) begin(ctx context.Context) {
	if ctx != nil && ctx.Done() != nil {
		rr.ctx = ctx
	}
	rr.mu.Lock()
	rr.blocking = true
	rr.mu.Unlock()
}

// end returns whether the read was interrupted, with the deadline cleared.
func (rr *rawReader) end() bool {
	rr.ctx = nil
	rr.mu.Lock()
	interrupted := rr.interrupted
	if interrupted {
		_ = rr.conn.SetReadDeadline(time.Time{})
	}
	rr.blocking, rr.interrupted = false, false
	rr.mu.Unlock()
	return interrupted
}

// watch makes sure that ctx's end wakes a waiting read: it registers
// interrupt with context.AfterFunc unless ctx is the one already watched.
// A watch that fires while no read waits does nothing (wake finds no read);
// a read under an ended ctx returns before it waits.
func (rr *rawReader) watch(ctx context.Context) {
	done := ctx.Done()
	rr.mu.Lock()
	defer rr.mu.Unlock()
	if done == rr.watching || rr.ended {
		return
	}
	if rr.unwatch != nil {
		rr.unwatch()
	}
	rr.watching, rr.unwatch = done, context.AfterFunc(ctx, rr.interrupt)
}

// stopWatch ends the ctx watch for good: the stream has ended, or reads go
// to another rawReader (Upgrade). A long-lived ctx then holds nothing of it.
func (rr *rawReader) stopWatch() {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	rr.ended = true
	if rr.unwatch != nil {
		rr.unwatch()
		rr.unwatch = nil
	}
}

// readDirect is waitUntil for a direct Reader: it reads the socket until
// one chunk is buffered or the source has ended (true), or Unread or
// FeedEOF changed something (true), or stop is closed (false). ctx, when
// not nil, is the ctx whose Done stop is; without one, stop's closer calls
// interrupt (NetConn's deadlines). The token is held.
func (r *Reader) readDirect(rr *rawReader, stop <-chan struct{}, ctx context.Context) bool {
	for {
		rr.begin(ctx)
		// Look after begin: a change made from now on interrupts the read.
		if r.pending.Load() || r.fedEOF.Load() || isClosedChan(stop) {
			rr.end()
			switch {
			case r.pending.Load():
				return true
			case r.fedEOF.Load():
				r.endFed()
				return true
			}
			return false
		}
		c, n, err := rr.read()
		interrupted := rr.end()
		if n > 0 && !r.fedEOF.Load() { // bytes read after FeedEOF are discarded
			r.buffered.Add(int64(n))
			r.absorb(c[:n], true)
		} else {
			putChunk(c)
		}
		switch {
		case err == nil:
			return true
		case interrupted && isTimeout(err):
			if n > 0 {
				return true
			}
			continue // look again
		}
		r.eof, r.termErr = true, r.recordEnd(err)
		rr.stopWatch()
		return true
	}
}
