package chanstream

import (
	"context"
	"io"
)

// The Reader's buffer. Every function here is for the holder of the read
// token. The buffer is a pooled chunk adopted as it arrived while it fits,
// a larger array of the Reader's own when it must grow; either way it goes
// back (to the pool or the collector) as soon as it is emptied, so an idle
// Reader holds no buffer.

// acquire takes the read token, or returns ctx.Err() and consumes nothing;
// a nil ctx is an invalid argument.
// A ctx that has already ended wins over buffered data.
func (r *Reader) acquire(ctx context.Context) error {
	if ctx == nil {
		return invalid("read", "nil ctx")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if r.gate.tryLock() {
		return nil
	}
	return r.gate.lock(ctx)
}

// data returns the unconsumed bytes, first moving in anything Unread put back.
func (r *Reader) data() []byte {
	r.mustHoldToken()
	if r.pending.Load() {
		r.mergeUnread()
	}
	return r.buf[r.off:]
}

// waitUntil adds at least one chunk to the buffer, records the end of the
// source, or returns because Unread or FeedEOF changed something (true); it
// returns false, the buffer as it was, once stop is closed (a read's
// ctx.Done()). It takes the next chunk from the reader goroutine's
// channel. Its frame is small, as the select it blocks in is the top of a
// waiting handler's stack: the rest is out of line (ready, unwant).
func (r *Reader) waitUntil(stop <-chan struct{}) bool {
	r.mustHoldToken()
	if r.ready() {
		return true
	}
	raised := r.raiseWant()
	select {
	case c, ok := <-r.chunks:
		r.absorb(c, ok)
	case <-r.kick: // Unread or FeedEOF: look again
	case <-stop:
		r.unwant(raised)
		return false
	}
	r.unwant(raised)
	return true
}

// ready takes in a chunk that is already there, or FeedEOF's end, and
// reports whether it did: waitUntil's path that does not wait.
//
//go:noinline
func (r *Reader) ready() bool {
	select {
	case c, ok := <-r.chunks:
		r.absorb(c, ok)
		return true
	default:
	}
	select {
	case <-r.fed:
		r.endFed()
		return true
	default:
	}
	return false
}

// raiseWant readies the reader goroutine before a read waits. A read that
// needs more than everything received lets the goroutine read past its
// bound if it paused, as asyncio resumes reading before it waits. Up to the
// limit it never stands paused (it resumes at the limit); beyond, want is
// raised — stored before maybeUnpause reads the flag, while pause stores
// the flag before it reads want, so one of them sees the other — and
// raiseWant returns the value unwant restores, or -1.
//
//go:noinline
func (r *Reader) raiseWant() int64 {
	prev := int64(-1)
	if need := int64(len(r.buf)-r.off) + 1; need > int64(r.limit) {
		if p := r.want.Load(); need > p {
			prev = p
			r.want.Store(need)
		}
	}
	r.maybeUnpause()
	if testHookReadWait != nil {
		testHookReadWait()
	}
	return prev
}

// unwant restores want after a wait that raised it.
func (r *Reader) unwant(prev int64) {
	if prev >= 0 {
		r.want.Store(prev)
	}
}

// testHookReadWait, when set by a test, runs in a read that found nothing
// to take and is about to wait for the reader goroutine.
var testHookReadWait func()

// endFed takes in the chunks already queued, then ends the stream: FeedEOF.
func (r *Reader) endFed() {
	r.mustHoldToken()
	r.mu.Lock() // against finish: a chunk sent after this drain is discarded there
	defer r.mu.Unlock()
	for !r.eof {
		select {
		case c, ok := <-r.chunks:
			r.absorb(c, ok)
		default:
			r.eof, r.termErr = true, io.EOF
			r.fedSeen = true
		}
	}
}

// absorb adds chunk c to the buffer; !ok means the reader goroutine has
// finished and r.srcErr says why.
func (r *Reader) absorb(c []byte, ok bool) {
	r.mustHoldToken()
	if !ok {
		r.eof, r.termErr = true, r.srcErr
		if r.termErr == io.EOF && r.c != nil {
			// A write may have met the reset after the goroutine saw EOF.
			if err := r.c.failure(); err != nil {
				r.termErr = err
			}
		}
		return
	}
	if r.off == len(r.buf) {
		putChunk(r.buf)
		r.buf, r.off = c, 0 // adopt the chunk: no copy
		return
	}
	if cap(r.buf)-len(r.buf) < len(c) {
		rest := len(r.buf) - r.off
		if rest+len(c) <= cap(r.buf) {
			copy(r.buf, r.buf[r.off:])
			r.buf = r.buf[:rest]
		} else {
			nb := grow(max(2*cap(r.buf), rest+len(c)))[:rest]
			copy(nb, r.buf[r.off:])
			putChunk(r.buf)
			r.buf = nb
		}
		r.off = 0
	}
	r.buf = append(r.buf, c...)
	putChunk(c)
}

// take returns a copy of the next n bytes and consumes them.
func (r *Reader) take(n int) []byte {
	r.mustHoldToken()
	src := r.buf[r.off : r.off+n]
	b := make([]byte, len(src))
	copy(b, src) // make+copy of the same length: the compiler skips zeroing b
	r.skip(n)
	return b
}

// skip consumes n bytes.
func (r *Reader) skip(n int) {
	r.mustHoldToken()
	r.off += n
	if r.off == len(r.buf) {
		putChunk(r.buf)
		r.buf, r.off = nil, 0
	}
	r.buffered.Add(-int64(n))
	r.consumed.Add(int64(n))
	r.maybeUnpause()
}

// takeAll returns every unconsumed byte and consumes them, handing over
// the buffer itself where it is not a pooled chunk.
func (r *Reader) takeAll() []byte {
	r.mustHoldToken()
	d := r.data()
	if len(d) == 0 {
		return nil
	}
	if cap(r.buf) == chunkSize {
		return r.take(len(d))
	}
	r.buf, r.off = nil, 0
	r.buffered.Add(-int64(len(d)))
	r.consumed.Add(int64(len(d)))
	r.maybeUnpause()
	return d
}

// endResult returns the bytes and error a read returns when the source has
// ended before the read could complete: at a clean EOF, nothing and io.EOF;
// after an error, every buffered byte with the error (then the error alone).
func (r *Reader) endResult(op string) ([]byte, error) {
	r.mustHoldToken()
	if r.termErr == io.EOF {
		return nil, io.EOF
	}
	return r.takeAll(), wrap(op, r.termErr)
}

// wholeChunk consumes the buffer and returns it when it is a pooled chunk
// holding nothing consumed — the caller owns the chunk then — else nil and
// consumes nothing.
func (r *Reader) wholeChunk() []byte {
	r.mustHoldToken()
	if r.off != 0 || cap(r.buf) != chunkSize || r.pending.Load() {
		return nil
	}
	c := r.buf
	r.buf = nil
	r.buffered.Add(-int64(len(c)))
	r.consumed.Add(int64(len(c)))
	r.maybeUnpause()
	return c
}
