package chanstream

import (
	"bytes"
	"context"
	"errors"
	"io"
	"iter"
	"math"
)

// Each read mode is the same loop: take the token; look in the buffer; if
// the answer is not there, wait for more (wait returns ctx.Err() with the
// buffer untouched). A read consumes bytes only when it returns them.

var newline = [][]byte{{'\n'}}

// ReadUpTo reads at most n bytes: asyncio's read(n). It blocks until at
// least one byte is buffered, then returns what is there, up to n. n == 0
// returns an empty slice at once; n < 0 reads to EOF like ReadAll. At EOF
// with nothing buffered it returns (nil, io.EOF). When ctx ends first it
// returns ctx.Err() and consumes nothing. After the source failed it returns
// the buffered bytes first, then the error; after a local Close, an error
// that errors.Is(err, ErrClosed). The slice is the caller's.
func (r *Reader) ReadUpTo(ctx context.Context, n int) ([]byte, error) {
	if n < 0 {
		return r.ReadAll(ctx)
	}
	if err := r.acquire(ctx); err != nil {
		return nil, err
	}
	defer r.gate.unlock()
	if n == 0 {
		return []byte{}, nil
	}
	for {
		if d := r.data(); len(d) > 0 {
			return r.take(min(n, len(d))), nil
		}
		if r.eof {
			return r.endResult("read")
		}
		if !r.waitUntil(ctx.Done()) {
			return nil, ctx.Err()
		}
	}
}

// ReadAll reads until EOF and returns every byte with a nil error:
// asyncio's read(-1). It holds the whole stream in memory. When ctx ends
// first it returns ctx.Err() and consumes nothing: the bytes gathered so far
// stay buffered. When the source fails it returns the bytes with the error.
func (r *Reader) ReadAll(ctx context.Context) ([]byte, error) {
	if err := r.acquire(ctx); err != nil {
		return nil, err
	}
	defer r.gate.unlock()
	r.want.Store(math.MaxInt64) // the reader goroutine must not pause under us
	defer r.want.Store(0)
	for !r.eof {
		if !r.waitUntil(ctx.Done()) {
			return nil, ctx.Err()
		}
	}
	b := r.takeAll()
	if r.termErr != io.EOF {
		return b, wrap("read all", r.termErr)
	}
	if b == nil {
		b = []byte{}
	}
	return b, nil
}

// ReadLine reads one line, up to and including "\n": asyncio's readline.
// At EOF it returns the last line without "\n" and a nil error, then
// (nil, io.EOF). A line longer than the limit returns a *LimitOverrunError
// after discarding as asyncio does: through the "\n" when one is buffered,
// else everything buffered (the rest of that line comes back from the next
// read). Cancellation, errors and Close are as for ReadUpTo. The slice is
// the caller's; it is the only allocation.
func (r *Reader) ReadLine(ctx context.Context) ([]byte, error) {
	if err := r.acquire(ctx); err != nil {
		return nil, err
	}
	defer r.gate.unlock()
	// Fast path: a whole line within the limit is already buffered.
	if !r.pending.Load() {
		if i := bytes.IndexByte(r.buf[r.off:], '\n'); i >= 0 && i <= r.limit {
			return r.take(i + 1), nil
		}
	}
	line, err := r.until(ctx, "read line", newline)
	if over, ok := err.(*LimitOverrunError); ok {
		d := r.buf[r.off:] // as until saw it
		if over.Consumed < len(d) && d[over.Consumed] == '\n' {
			r.skip(over.Consumed + 1)
		} else {
			r.skip(len(d))
		}
		return nil, err
	}
	if inc, ok := err.(*IncompleteReadError); ok {
		if len(inc.Partial) == 0 {
			return nil, io.EOF
		}
		return inc.Partial, nil
	}
	return line, err
}

// ReadUntil reads up to and including a separator: asyncio's readuntil.
// With no separator given it uses "\n"; with several, the shortest result
// that ends in any of them wins. At EOF before a separator it returns a
// *IncompleteReadError with the bytes read (Expected -1) and empties the
// buffer. When no separator starts within the limit it returns a
// *LimitOverrunError and leaves the buffer as it was. An empty separator is
// ErrInvalidArgument. Cancellation, errors and Close are as for ReadUpTo.
func (r *Reader) ReadUntil(ctx context.Context, seps ...[]byte) ([]byte, error) {
	if len(seps) == 0 {
		seps = newline
	}
	for _, s := range seps {
		if len(s) == 0 {
			return nil, invalid("read until", "empty separator")
		}
	}
	if err := r.acquire(ctx); err != nil {
		return nil, err
	}
	defer r.gate.unlock()
	return r.until(ctx, "read until", seps)
}

// until is readuntil of asyncio 3.13; the token is held.
func (r *Reader) until(ctx context.Context, op string, seps [][]byte) ([]byte, error) {
	r.mustHoldToken()
	minLen, maxLen := len(seps[0]), len(seps[0])
	for _, s := range seps[1:] {
		minLen, maxLen = min(minLen, len(s)), max(maxLen, len(s))
	}
	scanned := 0 // no match starts before it (asyncio's offset)
	for {
		if r.pending.Load() {
			r.mergeUnread()
			scanned = 0 // bytes came in front
		}
		d := r.buf[r.off:]
		if len(d)-scanned >= minLen {
			if start, end := match(d, seps, scanned); end >= 0 {
				if start > r.limit {
					return nil, &LimitOverrunError{Consumed: start, Limit: r.limit}
				}
				return r.take(end), nil
			}
			scanned = max(0, len(d)+1-maxLen)
			if scanned > r.limit {
				return nil, &LimitOverrunError{Consumed: scanned, Limit: r.limit}
			}
		}
		if r.eof {
			if r.termErr == io.EOF {
				return nil, &IncompleteReadError{Partial: r.takeAll(), Expected: -1}
			}
			return r.endResult(op)
		}
		if !r.waitUntil(ctx.Done()) {
			return nil, ctx.Err()
		}
	}
}

// match finds, at or after from, the separator occurrence that ends first;
// of two that end at the same place, the shorter separator (asyncio sorts
// them by length). end is -1 when none is there.
func match(d []byte, seps [][]byte, from int) (start, end int) {
	start, end = -1, -1
	for _, sep := range seps {
		var i int
		if len(sep) == 1 {
			i = bytes.IndexByte(d[from:], sep[0])
		} else {
			i = bytes.Index(d[from:], sep)
		}
		if i < 0 {
			continue
		}
		i += from
		if e := i + len(sep); end < 0 || e < end || (e == end && i > start) {
			start, end = i, e
		}
	}
	return start, end
}

// ReadExactly reads exactly n bytes: asyncio's readexactly. At EOF before n
// bytes it returns a *IncompleteReadError with the bytes read and Expected n.
// n may exceed the limit: the Reader then holds up to n bytes. n < 0 is
// ErrInvalidArgument; n == 0 returns an empty slice. Cancellation, errors and
// Close are as for ReadUpTo.
func (r *Reader) ReadExactly(ctx context.Context, n int) ([]byte, error) {
	if n < 0 {
		return nil, invalid("read exactly", "negative size %d", n)
	}
	if err := r.acquire(ctx); err != nil {
		return nil, err
	}
	defer r.gate.unlock()
	if n == 0 {
		return []byte{}, nil
	}
	for {
		d := r.data()
		if len(d) >= n {
			if r.want.Load() != 0 {
				r.want.Store(0)
			}
			return r.take(n), nil
		}
		if r.eof {
			r.want.Store(0)
			if r.termErr == io.EOF {
				return nil, &IncompleteReadError{Partial: r.takeAll(), Expected: n}
			}
			return r.endResult("read exactly")
		}
		r.want.Store(int64(n)) // allow the goroutine to hold n bytes
		if !r.waitUntil(ctx.Done()) {
			r.want.Store(0)
			return nil, ctx.Err()
		}
	}
}

// Lines returns an iterator over the lines of the stream, each as ReadLine
// returns it: asyncio's `async for line in reader`. It ends at EOF, or after
// yielding an error (ctx's, a limit overrun, the source's); breaking out of
// the loop consumes nothing more.
func (r *Reader) Lines(ctx context.Context) iter.Seq2[[]byte, error] {
	return func(yield func([]byte, error) bool) {
		for {
			line, err := r.ReadLine(ctx)
			if err == io.EOF {
				return
			}
			if !yield(line, err) || err != nil {
				return
			}
		}
	}
}

// Read implements io.Reader: it blocks until at least one byte is buffered
// and copies up to len(p) bytes into p. At EOF it returns 0, io.EOF; after
// the source failed, the buffered bytes first, then the error.
func (r *Reader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n, err := r.readInto(p, nil) // a nil stop never closes: no error from it
	if err == nil || err == io.EOF {
		return n, err
	}
	return n, wrap("read", err)
}

// readInto is Read that gives up, consuming nothing and returning
// errStopped, once stop is closed. The source's error is returned as it is.
func (r *Reader) readInto(p []byte, stop <-chan struct{}) (int, error) {
	if !r.gate.lockUntil(stop) {
		return 0, errStopped
	}
	defer r.gate.unlock()
	for {
		if d := r.data(); len(d) > 0 {
			n := copy(p, d)
			r.skip(n)
			return n, nil
		}
		if r.eof {
			return 0, r.termErr
		}
		if !r.waitUntil(stop) {
			return 0, errStopped
		}
	}
}

// writeOut writes d, the buffer's bytes, to w (sw when w is a *Writer)
// and consumes what was written: a pooled chunk that d is whole goes to sw
// without a copy (writeChunk); anything else is copied by w.Write.
func (r *Reader) writeOut(w io.Writer, sw *Writer, d []byte) (int, error) {
	if sw != nil && sw.max > 0 {
		return r.writeCapped(sw, d)
	}
	if sw != nil {
		if c := r.wholeChunk(); c != nil {
			return sw.writeChunk(c)
		}
	}
	n, err := w.Write(d)
	r.skip(n)
	return n, err
}

// writeCapped is writeOut to a Writer with WithMaxWriteBuffer: it waits
// for room under the cap and writes a piece of d that fits, rather than
// failing with ErrWriteBufferFull as a Write would.
func (r *Reader) writeCapped(sw *Writer, d []byte) (int, error) {
	k := min(len(d), sw.max)
	for {
		if err := sw.waitRoom(nil, k); err != nil {
			return 0, err
		}
		n, err := sw.Write(d[:k])
		if errors.Is(err, ErrWriteBufferFull) {
			continue // another Write took the room
		}
		r.skip(n)
		return n, err
	}
}

// WriteTo implements io.WriterTo: it writes every byte of the stream to w
// until EOF and returns nil then, as io.Copy does, or the source's or w's
// error. It blocks until then. When w is a *Writer it drains after each
// write, so io.Copy from a Reader to a Writer keeps the Writer's queue near
// its high watermark and a slow peer slows the source; and a chunk of the
// source that the buffer holds whole goes to the Writer without a copy:
// offered to the socket inline as a large Write is, and what the socket
// does not take queued in the chunk itself.
func (r *Reader) WriteTo(w io.Writer) (int64, error) {
	if err := r.acquire(context.Background()); err != nil {
		return 0, err
	}
	defer r.gate.unlock()
	sw, _ := w.(*Writer)
	var total int64
	for {
		if d := r.data(); len(d) > 0 {
			n, err := r.writeOut(w, sw, d)
			total += int64(n)
			if err == nil && sw != nil {
				err = sw.Drain(context.Background())
			}
			if err != nil {
				return total, err
			}
			continue
		}
		if r.eof {
			if r.termErr == io.EOF {
				return total, nil
			}
			return total, wrap("write to", r.termErr)
		}
		r.waitUntil(nil) // a nil stop never closes
	}
}
