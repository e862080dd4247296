package chanstream

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync"

	"github.com/cspstream/streams/internal/connlabel"
)

// Writer writes to one byte sink with asyncio's flow control. Write queues
// a copy and returns; the writer goroutine writes everything queued with one
// writev. Drain waits on the watermark. For New(conn), the Writer also
// holds the connection's lifetime: Close, Abort, WaitClosed. All methods
// are safe for concurrent use.
type Writer struct {
	// Set at construction, never changed.
	c   *conn
	max int // WithMaxWriteBuffer's cap on queued; 0: none (maxbuf.go)

	// Owned by the writer goroutine.
	spare [][]byte    // the previous batch's slice, reused as the next queue
	bufs  net.Buffers // scratch headers for writev, full capacity kept
	out   net.Buffers // the copy of bufs that WriteTo consumes (a field, so it does not escape per call)

	mu       sync.Mutex // guards the fields below
	dst      io.Writer  // what the owner of the write side writes to: the conn, or NewWriter's sink; replaced by Upgrade
	raw      *rawWriter // an inline write's way to dst (inline.go); nil where dst is not a plain socket
	inlAt    int64      // the Reader's consumed count at the last inline write (see conn.responding)
	queue    [][]byte   // chunks from getChunk (or ReadFrom), in order
	queued   int        // bytes queued or being written
	high     int
	low      int
	above    bool          // queued passed high and has not yet fallen to low: Drain waits
	drained  chan struct{} // queuedChangedLocked at low → a waiting Drain, which passes it on; cap 1; made by the first Drain that waits; never closed
	drainers int           // Drain calls waiting on drained
	reserved int           // bytes ReadFrom may queue once its Read returns, counted against max (maxbuf.go)
	emptied  chan struct{} // non-nil while Upgrade, or a writer waiting for room under max, waits for the write side to settle; closed by settledLocked
	state    writeState    // what the application asked for
	owner    writeOwner    // who may write dst now
	stats    writeStats    // Stats's counters (stats.go)
}

// writeState is what the application has asked of the write side.
type writeState uint8

const (
	stateOpen       writeState = iota
	stateEOF                   // WriteEOF: no more writes; half-close after the queue
	stateHalfClosed            // WriteEOF's half-close is done
	stateClosing               // Close: no more writes; close after the queue
	stateAborted               // Abort: queue dropped, connection closed
)

// writeOwner says who owns the write side: the one code that may write to
// dst. Ownership passes only under Writer.mu.
type writeOwner uint8

const (
	ownerNone      writeOwner = iota // nobody: a Write may write inline or start the writer goroutine
	ownerGoroutine                   // the writer goroutine (run)
	ownerInline                      // a Write making its one non-blocking write (inline.go)
	ownerUpgrade                     // Upgrade, between flushing the queue and installing the new conn
)

// New adopts conn — asyncio's sock= — and returns its Reader and Writer.
// It starts the stream's reader goroutine, which reads conn for the
// stream's life; a writer goroutine runs while there is something to
// write. They end after Close or Abort, or when the connection fails; Done
// and WaitClosed report it. The stream owns conn from now on. With
// WithTLS, conn is wrapped in a TLS client (or server, with
// WithServerSide) whose handshake the reader goroutine runs first, bounded
// by WithTLSHandshakeTimeout; a failed handshake is what reads and Err
// report. A nil conn, an invalid option (WithLimit ≤ 0, bad watermarks) or
// one New cannot apply (a dial option) panics with an error wrapping
// ErrInvalidArgument. It does not block.
func New(conn net.Conn, opts ...Option) (*Reader, *Writer) {
	cfg := mustConfigFor(useNew, conn, opts) // check.go: panics on a nil conn or an option New cannot apply
	orig := conn
	conn = cfg.wrapTLS(conn) // WithTLS: a *tls.Conn over conn; the reader goroutine runs its handshake
	c := newConn(cfg)
	c.nc, c.closer = conn, conn
	c.labels = connlabel.Of(conn)
	c.w = newWriter(c, conn, cfg)
	c.r = newReader(conn, cfg, c)
	if conn != orig {
		c.r.hs = conn.(*tls.Conn)
	}
	c.spawn(c.r.readLoop)
	return c.r, c.w
}

// NewWriter returns a Writer over dst, any byte sink. Its writer goroutine
// runs while bytes are queued, and ends the stream after Close or Abort,
// or when dst fails. Close and WriteEOF close dst after the queue is
// written when dst is an io.Closer. Invalid watermarks panic with an error
// wrapping ErrInvalidArgument. It does not block.
func NewWriter(dst io.Writer, opts ...Option) *Writer {
	cfg := mustConfigFor(useNewWriter, dst, opts)
	c := newConn(cfg)
	c.labels = connlabel.Of(dst) // a net.Conn has addresses; other sinks are not labelled
	if cl, ok := dst.(io.Closer); ok {
		c.closer = cl
	}
	c.w = newWriter(c, dst, cfg)
	return c.w
}

func newWriter(c *conn, dst io.Writer, cfg *config) *Writer {
	return &Writer{
		c:     c,
		dst:   dst,
		raw:   newRawWriter(dst),
		inlAt: -1,
		max:   cfg.maxWrite,
		high:  cfg.high,
		low:   cfg.low,
	}
}

// Write queues a copy of p and returns len(p) at once; it never waits for
// the network (call Drain for back-pressure). When nothing is queued it may
// first offer p to the socket with one non-blocking write and queue only
// what the socket did not take (inline.go). After Close, WriteEOF or Abort
// it returns an error that errors.Is(err, ErrClosed); after the connection
// failed, that failure. Nothing is queued when it returns an error.
func (w *Writer) Write(p []byte) (int, error) {
	return write(w, p, p)
}

// WriteString is Write of a string, without converting it first.
func (w *Writer) WriteString(s string) (int, error) {
	return write(w, s, stringBytes(s))
}

// write is Write and WriteString; view is p's bytes.
func write[T []byte | string](w *Writer, p T, view []byte) (int, error) {
	w.mu.Lock()
	if err := w.writableLocked(); err != nil {
		w.mu.Unlock()
		return 0, wrap("write", err)
	}
	if w.fullLocked(len(p)) { // before the inline write too: it may queue what the socket does not take
		w.mu.Unlock()
		return 0, ErrWriteBufferFull
	}
	if len(p) > 0 && w.inlineLocked(len(p)) {
		w.writeInline(view, nil, false) // releases w.mu
		return len(p), nil
	}
	appendTo(w, p)
	w.queuedChangedLocked()
	w.startLocked()
	w.mu.Unlock()
	return len(p), nil
}

// WriteLines queues copies of bufs as one unit — no other Write comes
// between them — and returns the bytes queued. Like Write, it may offer
// them to the socket first. Errors are as for Write.
func (w *Writer) WriteLines(bufs ...[]byte) (int, error) {
	n := 0
	for _, b := range bufs {
		n += len(b)
	}
	w.mu.Lock()
	if err := w.writableLocked(); err != nil {
		w.mu.Unlock()
		return 0, wrap("write lines", err)
	}
	if w.fullLocked(n) {
		w.mu.Unlock()
		return 0, ErrWriteBufferFull
	}
	for len(bufs) > 0 && len(bufs[0]) == 0 {
		bufs = bufs[1:]
	}
	if len(bufs) > 0 && w.inlineLocked(n) {
		w.writeInline(bufs[0], bufs[1:], false) // releases w.mu
		return n, nil
	}
	for _, b := range bufs {
		appendTo(w, b)
	}
	w.queuedChangedLocked()
	w.startLocked()
	w.mu.Unlock()
	return n, nil
}

// ReadFrom implements io.ReaderFrom: it reads src until EOF into chunks
// that it writes with no extra copy — each offered to the socket inline as
// a Write of its size would be, the rest queued — and drains whenever the
// queue passes the high watermark, so io.Copy into a Writer holds about
// high bytes at most. Under a [WithMaxWriteBuffer] cap it reads only what
// fits and waits for room when there is none. It returns the bytes taken
// and nil at EOF, src's error, or the Writer's.
func (w *Writer) ReadFrom(src io.Reader) (int64, error) {
	var total int64
	for {
		if err := w.Drain(context.Background()); err != nil {
			return total, err
		}
		c := getChunk()
		k, err := w.reserve(len(c)) // all of c, or the room under WithMaxWriteBuffer's cap
		if err != nil {
			putChunk(c)
			return total, err
		}
		n, rerr := src.Read(c[:k])
		if n > 0 {
			w.mu.Lock()
			w.unreserveLocked(k)
			if err := w.writableLocked(); err != nil {
				w.mu.Unlock()
				putChunk(c)
				return total, wrap("read from", err)
			}
			w.giveChunkLocked(c[:n]) // releases w.mu
			total += int64(n)
		} else {
			w.unreserve(k)
			putChunk(c)
		}
		if rerr == io.EOF {
			return total, nil
		}
		if rerr != nil {
			return total, rerr
		}
	}
}

// writeChunk writes c, a pooled chunk the caller gives up, as Write would
// but without the copy (Reader.WriteTo). On error c goes back to the pool.
func (w *Writer) writeChunk(c []byte) (int, error) {
	w.mu.Lock()
	if err := w.writableLocked(); err != nil {
		w.mu.Unlock()
		putChunk(c)
		return 0, wrap("write", err)
	}
	w.giveChunkLocked(c) // releases w.mu
	return len(c), nil
}

// giveChunkLocked writes c, a non-empty pooled chunk the caller gives up,
// for writeChunk and ReadFrom: offered to the socket inline when a Write
// of its size would be, and what is left queued as it is. w.mu is held,
// and released here.
func (w *Writer) giveChunkLocked(c []byte) {
	if w.inlineLocked(len(c)) {
		w.writeInline(c, nil, true) // releases w.mu
		return
	}
	w.queue = append(w.queue, c)
	w.queued += len(c)
	w.queuedChangedLocked()
	w.startLocked()
	w.mu.Unlock()
}

// writableLocked says why a write is refused, or nil.
func (w *Writer) writableLocked() error {
	if err := w.c.failure(); err != nil {
		return err
	}
	if w.state != stateOpen {
		return ErrClosed
	}
	return nil
}

// appendTo copies p to the end of w's queue, filling the last chunk before
// it takes a new one from the pool. w.mu is held.
func appendTo[T []byte | string](w *Writer, p T) {
	w.queued += len(p)
	for len(p) > 0 {
		if n := len(w.queue); n > 0 {
			tail := w.queue[n-1]
			if cap(tail) == chunkSize && len(tail) < chunkSize {
				k := copy(tail[len(tail):chunkSize], p)
				w.queue[n-1] = tail[:len(tail)+k]
				p = p[k:]
				continue
			}
		}
		w.queue = append(w.queue, getChunk()[:0])
	}
}

// Buffered returns how many bytes are queued or being written:
// asyncio's get_write_buffer_size. It does not block.
func (w *Writer) Buffered() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.queued
}

// CanWriteEOF reports whether WriteEOF can half-close the sink: a
// connection with CloseWrite, but not TLS (asyncio), or a NewWriter sink
// that is an io.Closer.
func (w *Writer) CanWriteEOF() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return canWriteEOF(w.dst)
}

func canWriteEOF(dst io.Writer) bool {
	if _, ok := dst.(*tls.Conn); ok {
		return false
	}
	if _, ok := dst.(interface{ CloseWrite() error }); ok {
		return true
	}
	_, isConn := dst.(net.Conn)
	_, isCloser := dst.(io.Closer)
	return !isConn && isCloser
}

// WriteEOF refuses further writes and returns at once; the writer
// goroutine half-closes the sink once every queued byte is written. Reading
// goes on. It returns an error that errors.Is(err, errors.ErrUnsupported)
// where CanWriteEOF is false, and ErrClosed after Close, Abort or WriteEOF.
func (w *Writer) WriteEOF() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.writableLocked(); err != nil {
		return wrap("write eof", err)
	}
	if !canWriteEOF(w.dst) {
		return wrap("write eof", errors.ErrUnsupported)
	}
	w.state = stateEOF
	w.startLocked()
	return nil
}

// Close refuses further writes and returns at once; the writer goroutine
// writes what is queued, then closes the connection (for NewWriter, closes
// the sink if it is an io.Closer). Reads go on returning what was received,
// then ErrClosed. Close is idempotent and returns nil; WaitClosed waits for
// the end. A peer that never reads holds the flush until Abort — except
// over TLS, where the flush and the close_notify are bounded by
// WithTLSShutdownTimeout (default 30 s) from the first Close; then the
// socket is closed regardless and Reader.Err reports the timeout.
func (w *Writer) Close() error {
	w.mu.Lock()
	if w.state < stateClosing {
		w.state = stateClosing
		w.c.armShutdown()
		w.startLocked()
	}
	w.mu.Unlock()
	return nil
}

// Abort drops what is queued and closes the connection now. Later writes
// return ErrClosed; reads return what was received, then ErrClosed. It
// does not block.
func (w *Writer) Abort() error {
	w.abort(nil)
	return nil
}

// abort is Abort, recording cause (when not nil) as the stream's failure.
func (w *Writer) abort(cause error) {
	w.mu.Lock()
	w.state = stateAborted
	for i, c := range w.queue {
		putChunk(c)
		w.queue[i] = nil
	}
	w.queue = w.queue[:0]
	w.queued = 0 // bytes being written are dropped too: the connection closes under them
	w.queuedChangedLocked()
	w.mu.Unlock()
	w.c.closeNow(cause, false)
}

// IsClosing reports whether Close or Abort was called or the connection
// has closed. It stays false after WriteEOF. It does not block.
func (w *Writer) IsClosing() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.state >= stateClosing || isDone(w.c.closed)
}

// WaitClosed blocks until the stream is closed and every goroutine of it
// has returned, or ctx ends (then it returns ctx.Err()). It returns nil once
// closed, whatever ended the stream. A nil ctx is ErrInvalidArgument.
func (w *Writer) WaitClosed(ctx context.Context) error {
	if ctx == nil {
		return invalid("wait closed", "nil ctx")
	}
	select {
	case <-w.Done():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
