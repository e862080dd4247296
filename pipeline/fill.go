package pipeline

import (
	"bytes"
	"context"
	"io"

	"github.com/cspstream/streams/chanstream"
)

// fill copies into buf what src has buffered, first waiting for one byte
// if it has none; it returns ctx.Err() with nothing taken when ctx ends
// first. Of the Reader's read modes only ReadUpTo both waits with a ctx and
// takes nothing when cancelled, but it returns a new slice: fill waits
// with ReadUpTo(ctx, 1) and takes the rest with Read, which returns at once
// while Buffered is above zero, into buf, with no allocation per chunk.
func fill(ctx context.Context, src *chanstream.Reader, buf []byte) (int, error) {
	n := 0
	if src.Buffered() == 0 {
		b, err := src.ReadUpTo(ctx, 1)
		n = copy(buf, b)
		if err != nil {
			return n, err
		}
	}
	if src.Buffered() == 0 {
		return n, nil
	}
	k, err := src.Read(buf[n:])
	n += k
	if n > 0 && err != nil && err != io.EOF {
		err = nil // the bytes first; the error comes back with the next read
	}
	return n, err
}

// lineScanner cuts lines out of bytes taken from a Reader in bulk (fill),
// so that a line costs a scan and a copy rather than a ReadUntil. A line
// it cannot cut within its buffer and the limit — longer than the buffer,
// or over the limit — goes back to the Reader with Unread and is read with
// ReadUntil, so that the Reader's rules (the limit, the overrun error)
// hold. Owned by the source's goroutine.
type lineScanner struct {
	r     *chanstream.Reader
	limit int
	buf   []byte // buf[start:end] was taken from r and not yet sent
	start int
	end   int
	err   error // from fill: io.EOF, the source's error or ctx's; the bytes before it come first
}

// scanBuf is the size of a lineScanner's buffer.
const scanBuf = 32 << 10

func newLineScanner(r *chanstream.Reader) *lineScanner {
	return &lineScanner{r: r, limit: r.Limit(), buf: make([]byte, scanBuf)}
}

// next returns the next line as a new slice, or io.EOF after the last, or
// an error (ctx's, a limit overrun, the source's); after an error, putBack
// returns the bytes it still holds to the Reader.
func (s *lineScanner) next(ctx context.Context) ([]byte, error) {
	for {
		pending := s.buf[s.start:s.end]
		if i := bytes.IndexByte(pending, '\n'); i >= 0 && i <= s.limit {
			line := make([]byte, i+1)
			copy(line, pending)
			s.start += i + 1
			return line, nil
		} else if i > s.limit || len(pending) > s.limit {
			return s.viaReader(ctx) // the Reader reports the overrun
		}
		if s.err != nil {
			if s.err == io.EOF && len(pending) > 0 {
				line := make([]byte, len(pending)) // the last line, without "\n"
				copy(line, pending)
				s.start = s.end
				return line, nil
			}
			return nil, s.err
		}
		if s.start > 0 { // keep the partial line, at the front
			s.end = copy(s.buf, pending)
			s.start = 0
		}
		if s.end == len(s.buf) {
			return s.viaReader(ctx) // a line longer than the buffer
		}
		var n int
		n, s.err = fill(ctx, s.r, s.buf[s.end:])
		s.end += n
	}
}

// viaReader puts back what s holds and reads the next line with ReadUntil.
func (s *lineScanner) viaReader(ctx context.Context) ([]byte, error) {
	s.putBack()
	return readUntil(ctx, s.r, newline)
}

// putBack returns the bytes s holds to the Reader, in front; the end of
// the stream, if fill met it, is the Reader's to report again after them.
func (s *lineScanner) putBack() {
	s.r.Unread(s.buf[s.start:s.end])
	s.start, s.end, s.err = 0, 0, nil
}
