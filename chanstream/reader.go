package chanstream

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// chunkQueue is the capacity of the chunk channel: how many reads the
// reader goroutine may be ahead of the application, in addition to the byte
// bound (2×limit) it keeps with Buffered.
const chunkQueue = 4

// Reader reads from one byte source with asyncio's read modes. Its reader
// goroutine — the only code that reads the source — reads ahead into pooled
// chunks and hands them over a bounded channel; read calls take them under
// a token. All methods are safe for concurrent use; concurrent reads are
// served one at a time.
type Reader struct {
	// Set at construction, never changed.
	limit int
	c     *conn     // the stream's core; nil for NewReader
	src   io.Reader // the first source; later ones arrive on resume
	// hs is New's WithTLS layer over the conn, whose handshake the reader
	// goroutine runs first (bounded by the deadline New set); else nil.
	hs   *tls.Conn
	gate gate          // the read token
	fed  chan struct{} // closed by FeedEOF, under mu; stops the reader goroutine
	// The reader goroutine's channels.
	chunks chan []byte   // reader goroutine → token holder; cap chunkQueue bounds read-ahead; closed by the reader goroutine as it exits
	kick   chan struct{} // Unread, FeedEOF → a waiting read; cap 1, coalescing; never closed
	srcErr error         // written by the reader goroutine before it closes chunks
	// Upgrade's hand-shake with the reader goroutine (see park).
	parkReq chan struct{}  // Upgrade → reader goroutine; cap 1; never closed
	parked  chan struct{}  // reader goroutine → Upgrade; cap 1; never closed
	resume  chan io.Reader // Upgrade → parked reader goroutine: the new source; cap 1; never closed

	// Shared counters.
	buffered atomic.Int64 // bytes received from the source and not consumed, wherever they are
	want     atomic.Int64 // bytes the read in progress needs buffered (ReadExactly n; MaxInt64 for ReadAll)
	ended    atomic.Bool  // the source ended (EOF, error, close) or FeedEOF was called; set under mu
	fedEOF   atomic.Bool  // FeedEOF was called; set under mu
	pending  atomic.Bool  // unread holds bytes
	paused   atomic.Bool  // the reader goroutine waits on unpause
	consumed atomic.Int64 // bytes consumed by reads, ever (for the inline write's question, conn.responding)

	// Owned by the holder of the read token.
	buf     []byte // unconsumed bytes are buf[off:]
	off     int
	eof     bool  // chunks is closed and drained, or FeedEOF: no more bytes will come
	termErr error // why: io.EOF, or the source's error

	mu      sync.Mutex    // guards the fields below
	unread  []byte        // bytes put back while the token was held elsewhere, in reading order
	unpause chan struct{} // non-nil while the reader goroutine is paused; closed by the read side
	err     error         // Err(): the error that ended the source, or nil
	fedSeen bool          // endFed ran: chunks sent later are discarded by finish

	stats readStats // Stats's counters (stats.go): atomics of the reader goroutine, and pause times under mu; last, off the token holder's cache lines
}

// NewReader returns a Reader over src, any byte source: a pipe, a file, a
// standard input. It starts the reader goroutine, which reads src ahead of
// the application; that goroutine returns when src returns an error or
// io.EOF, or after FeedEOF once its pending Read returns. A WithLimit ≤ 0
// panics with an error wrapping ErrInvalidArgument. It does not block.
func NewReader(src io.Reader, opts ...Option) *Reader {
	r := newReader(src, mustConfigFor(useNewReader, src, opts), nil)
	go r.readLoop()
	return r
}

func newReader(src io.Reader, cfg *config, c *conn) *Reader {
	return &Reader{
		limit:   cfg.limit,
		c:       c,
		src:     src,
		fed:     make(chan struct{}),
		chunks:  make(chan []byte, chunkQueue),
		kick:    make(chan struct{}, 1),
		parkReq: make(chan struct{}, 1),
		parked:  make(chan struct{}, 1),
		resume:  make(chan io.Reader, 1),
	}
}

// closedCh is the stream's closed channel, or nil (never ready) without one.
func (r *Reader) closedCh() <-chan struct{} {
	if r.c == nil {
		return nil
	}
	return r.c.closed
}

// readLoop is the reader goroutine: the only code that reads the source.
// It waits until the Reader has room (waitRoom), reads one chunk (a
// rawReader's read for a plain socket, readOther else) and hands it over
// (deliver), and parks when Upgrade asks; it returns when the source ends
// or the stream closes. It parks shallow: between the goroutine's start
// and the poller there are only readLoop and the rawReader's read, with
// small frames, and nothing allocates down there (pooledChunk), so its
// stack stays at the 2 KiB a goroutine starts with, read(2) included.
func (r *Reader) readLoop() error {
	r.applyLabels()
	err := r.handshake()
	src := r.src
	rr := newRawReader(src)
	for err == nil {
		if err = r.waitRoom(); err == nil {
			if testHookChunk != nil {
				testHookChunk(r, nil, nil) // about to read
			}
			for {
				if rr != nil {
					err = r.deliver(rr.read())
				} else {
					err = r.deliver(r.readOther(src))
				}
				if err != errNoChunk {
					break
				}
				putChunk(newChunk()) // and read again: the room was there when the read began
			}
		}
		if err != nil && r.parkAsked(err) {
			src, err = r.park()
			rr = newRawReader(src)
		}
	}
	r.finish(err)
	return nil
}

// handshake runs the TLS handshake of New's WithTLS layer, if any, and
// clears the deadline that bounds it.
//
//go:noinline
func (r *Reader) handshake() error {
	if r.hs == nil {
		return nil
	}
	if err := r.hs.Handshake(); err != nil {
		return fmt.Errorf("tls handshake: %w", err)
	}
	return r.hs.SetDeadline(time.Time{})
}

// readOther reads one chunk from src, a source that is not a plain socket
// (rawReader reads those). It returns the chunk (nil or empty when nothing
// was read), the bytes in it and the error.
//
//go:noinline
func (r *Reader) readOther(src io.Reader) ([]byte, int, error) {
	if tc, ok := src.(*tls.Conn); ok {
		return r.readTLS(tc)
	}
	c := getChunk()
	n, err := src.Read(c)
	return c, n, err
}

// deliver hands the chunk a read returned to the reading side and
// returns the read's error. A chunk read after FeedEOF, or that the stream
// closed before it was taken, is dropped.
//
//go:noinline
func (r *Reader) deliver(c []byte, n int, err error) error {
	if err == errNoChunk {
		return err // nothing was read: readLoop allocates a chunk and reads again
	}
	if testHookChunk != nil {
		testHookChunk(r, c[:n], err)
	}
	if n == 0 {
		putChunk(c)
		return err
	}
	select {
	case <-r.fed: // FeedEOF came during the Read: these bytes are discarded
		putChunk(c)
		return io.EOF
	default:
	}
	r.noteReceived(int64(n), r.buffered.Add(int64(n)))
	select {
	case r.chunks <- c[:n]: // the channel has room: no select over three
		return err
	default:
	}
	select {
	case r.chunks <- c[:n]:
		return err
	case <-r.closedCh():
		err = ErrClosed
	case <-r.fed:
		err = io.EOF
	}
	r.buffered.Add(-int64(n)) // dropped: the stream has ended
	putChunk(c)
	return err
}

// testHookChunk, when set by the tests (before any stream exists), sees
// every read the reader goroutine makes of its source: (nil, nil) as it
// begins, then the bytes read and the error. It must not keep c.
var testHookChunk func(r *Reader, c []byte, err error)

// readTLS reads tc as a rawReader reads a plain socket: without holding a chunk
// while it waits. A one-byte Read waits for the next record; then a Read
// with a read deadline in the past takes, into a chunk, what the TLS layer
// already holds — crypto/tls keeps a partial record over a timeout, so
// nothing is lost. It returns the chunk (nil when nothing was read), the
// bytes in it and the error. Upgrade's wake-up (a past deadline with a
// park request) survives the deadline being cleared here.
func (r *Reader) readTLS(tc *tls.Conn) ([]byte, int, error) {
	var one [1]byte
	n, err := tc.Read(one[:])
	if n == 0 {
		return nil, 0, err
	}
	c := getChunk()
	c[0] = one[0]
	if err != nil {
		return c, 1, err
	}
	_ = tc.SetReadDeadline(aLongTimeAgo)
	k, err := tc.Read(c[1:])
	_ = tc.SetReadDeadline(time.Time{})
	if len(r.parkReq) > 0 {
		_ = tc.SetReadDeadline(aLongTimeAgo) // Upgrade's wake-up, which the line above may have cleared
	}
	if err != nil && isTimeout(err) {
		err = nil // nothing more was there yet
	}
	return c, 1 + k, err
}

// waitRoom blocks while the Reader holds more than it may (see pauseAt),
// and handles FeedEOF, Close and Upgrade requests that arrive meanwhile.
//
//go:noinline
func (r *Reader) waitRoom() error {
	closed := r.closedCh()
	for {
		select {
		case <-r.fed:
			return io.EOF
		case <-closed:
			return ErrClosed
		default:
		}
		ch := r.pause()
		if ch == nil {
			return nil
		}
		select {
		case <-ch:
		case <-r.fed:
			return io.EOF
		case <-closed:
			return ErrClosed
		case <-r.parkReq:
			return errParkNow
		}
	}
}

// aLongTimeAgo is a read deadline that has passed: it wakes the reader
// goroutine out of a Read (Upgrade's park, readTLS's drain).
var aLongTimeAgo = time.Unix(1, 0)

// errParkNow is waitRoom's way to send the goroutine to park.
var errParkNow = errors.New("chanstream: park")

// isTimeout reports whether err is a timeout: a read deadline that passed
// (Upgrade's park, readTLS's drain) without an
// allocation, any other Timeout error with one.
func isTimeout(err error) bool {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// pauseAt is how many bytes the Reader may hold before its goroutine stops
// reading: 2×limit, or what the read in progress needs.
func (r *Reader) pauseAt() int64 { return max(2*int64(r.limit), r.want.Load()) }

// resumeAt is the level at which a paused goroutine reads again: the limit,
// or just under what the read in progress needs.
func (r *Reader) resumeAt() int64 { return max(int64(r.limit), r.want.Load()-1) }

// pause returns a channel to wait on when the Reader is full, else nil.
// The flag is set before the count is read, and the read side lowers the
// count before it reads the flag; so one of the two sees the other and no
// wake-up is lost.
func (r *Reader) pause() <-chan struct{} {
	if r.buffered.Load() <= r.pauseAt() {
		return nil // room: no flag, no lock
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.paused.Store(true)
	if r.buffered.Load() <= r.pauseAt() {
		r.paused.Store(false)
		r.pauseEndedLocked()
		return nil
	}
	r.unpause = make(chan struct{})
	r.pauseBeganLocked()
	return r.unpause
}

// maybeUnpause wakes a paused reader goroutine once the Reader has room.
func (r *Reader) maybeUnpause() {
	if !r.paused.Load() {
		return
	}
	r.mu.Lock()
	if r.unpause != nil && r.buffered.Load() <= r.resumeAt() {
		close(r.unpause) // the only closer
		r.unpause = nil
		r.paused.Store(false)
		r.pauseEndedLocked()
	}
	r.mu.Unlock()
}

// parkAsked reports whether err, a read's, means Upgrade wants the
// goroutine parked: waitRoom's errParkNow, or the past read deadline with
// which Upgrade woke a read.
//
//go:noinline
func (r *Reader) parkAsked(err error) bool {
	if err == errParkNow {
		return true
	}
	if len(r.parkReq) == 0 {
		return false // no request: not a park, and no errors.As (deep) on every end
	}
	return isTimeout(err) && r.parkRequested()
}

func (r *Reader) parkRequested() bool {
	select {
	case <-r.parkReq:
		return true
	default:
		return false
	}
}

// park acknowledges Upgrade's request and waits for the source to read
// from next.
//
//go:noinline
func (r *Reader) park() (io.Reader, error) {
	r.parked <- struct{}{}
	select {
	case src := <-r.resume:
		return src, nil
	case <-r.closedCh():
		return nil, ErrClosed
	}
}

// recordEnd records that the source ended with err and returns what reads
// are to return after the buffered bytes (see conn.readEnded).
func (r *Reader) recordEnd(err error) error {
	if r.c != nil {
		err = r.c.readEnded(err)
	}
	r.mu.Lock()
	if err != io.EOF && !r.fedEOF.Load() { // after FeedEOF the end stays clean; a reset still shows through conn's failure
		r.err = err
	}
	r.ended.Store(true)
	r.mu.Unlock()
	return err
}

// finish records why the source ended and closes chunks.
//
//go:noinline
func (r *Reader) finish(err error) {
	r.srcErr = r.recordEnd(err)
	r.mu.Lock()
	r.pauseEndedLocked()
	if r.fedSeen { // the reading side has ended on FeedEOF: nobody takes these
		for drained := false; !drained; {
			select {
			case c := <-r.chunks:
				r.buffered.Add(-int64(len(c)))
				putChunk(c)
			default:
				drained = true
			}
		}
	}
	r.mu.Unlock()
	close(r.chunks) // the only closer
}

// Err returns the error that ended the stream — a reset, a local close, a
// failed write — or nil while it is open and after a clean EOF: asyncio's
// exception(). Reads still deliver the bytes buffered before it. It does
// not block.
func (r *Reader) Err() error {
	r.mu.Lock()
	err := r.err
	r.mu.Unlock()
	if err == nil && r.c != nil {
		err = r.c.failure() // a write error ends reading too, as in asyncio
	}
	return err
}

// Buffered returns how many bytes were received from the source and not
// yet consumed, including those still on their way from the reader
// goroutine. It does not block.
func (r *Reader) Buffered() int { return int(r.buffered.Load()) }

// Limit returns the Reader's buffer limit.
func (r *Reader) Limit() int { return r.limit }

// AtEOF reports whether the source has ended (EOF, an error, a close or
// FeedEOF) and every byte has been consumed: a read would return at once
// with no data. The reader goroutine is always reading, so a peer's EOF
// or reset shows here without a read call. It does not block.
func (r *Reader) AtEOF() bool { return r.ended.Load() && r.buffered.Load() == 0 }

// FeedEOF ends the stream now, as if the source had reached EOF: reads
// return what is buffered, then io.EOF. The reader goroutine stops; bytes
// the source delivers after FeedEOF are discarded. It does not block.
func (r *Reader) FeedEOF() {
	r.mu.Lock()
	if !r.fedEOF.Load() {
		r.fedEOF.Store(true)
		r.ended.Store(true)
		close(r.fed) // the only closer
	}
	r.mu.Unlock()
	r.poke()
}

// Unread puts a copy of p back in front of the stream, as if it had never
// been read: the next read — or one waiting now — sees p before anything
// else. It does not block.
func (r *Reader) Unread(p []byte) {
	if len(p) == 0 {
		return
	}
	r.mu.Lock()
	r.unread = append(append(make([]byte, 0, len(p)+len(r.unread)), p...), r.unread...)
	r.notePeak(r.buffered.Add(int64(len(p))))
	r.pending.Store(true)
	r.mu.Unlock()
	r.poke()
}

// poke wakes a read waiting for data, if any.
func (r *Reader) poke() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// mergeUnread moves bytes put back by Unread in front of the buffer.
// Token holder only.
func (r *Reader) mergeUnread() {
	r.mustHoldToken()
	r.mu.Lock()
	u := r.unread
	r.unread = nil
	r.pending.Store(false)
	r.mu.Unlock()
	if r.off >= len(u) {
		// Room in front of the unconsumed bytes: no allocation.
		r.off -= len(u)
		copy(r.buf[r.off:], u)
		return
	}
	rest := r.buf[r.off:]
	nb := make([]byte, len(u)+len(rest), len(u)+len(rest)+chunkSize)
	copy(nb, u)
	copy(nb[len(u):], rest)
	putChunk(r.buf)
	r.buf, r.off = nb, 0
}

// caughtUp reports whether every byte received has been consumed and some
// were consumed since *mark, and moves *mark to now: the inline write's
// question (conn.responding). The caller guards mark.
func (r *Reader) caughtUp(mark *int64) bool {
	if r.buffered.Load() != 0 {
		return false
	}
	c := r.consumed.Load()
	if c == *mark {
		return false
	}
	*mark = c
	return true
}
