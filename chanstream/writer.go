package chanstream

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
)

// Writer writes to one byte sink with asyncio's flow control. Write queues
// a copy and returns; the writer goroutine writes everything queued with one
// writev. Drain waits on the watermark. For New(conn), the Writer also owns
// the connection's lifetime: Close, Abort, WaitClosed. All methods are safe
// for concurrent use.
type Writer struct {
	// Set at construction, never changed.
	r          *Reader // the Reader of the same connection; nil for NewWriter
	serverSide bool
	tlsConfig  *tls.Config   // the config OpenConnection used, for ExtraInfo; nil otherwise
	closed     chan struct{} // closed once by closeNow, before the connection is closed; every blocking select watches it
	closeOnce  sync.Once     // guards closeNow
	group      errgroup.Group

	// Owned by the writer goroutine.
	spare [][]byte    // the previous batch's slice, reused as the next queue
	bufs  net.Buffers // scratch headers for writev, full capacity kept
	out   net.Buffers // the copy of bufs that WriteTo consumes (a field, so it does not escape per call)

	mu         sync.Mutex // guards the fields below
	conn       net.Conn   // nil for NewWriter; replaced by Upgrade
	dst        io.Writer  // what the writer goroutine writes to: conn, or NewWriter's sink
	queue      [][]byte   // chunks from getChunk (or ReadFrom), in order
	queued     int        // bytes queued or being written
	high       int
	low        int
	above      bool          // queued passed high and has not yet fallen to low: Drain waits
	drained    chan struct{} // queuedChangedLocked at low → a waiting Drain, which passes it on; cap 1; made by the first Drain that waits; never closed
	drainers   int           // Drain calls waiting on drained
	emptied    chan struct{} // non-nil while Upgrade waits for queued == 0; closed by queuedChangedLocked
	state      writeState
	halfed     bool  // the half-close (or NewWriter's close) has been done
	sinkClosed bool  // WriteEOF closed a NewWriter sink that cannot half-close
	held       bool  // Upgrade holds the writer goroutine off the connection
	running    bool  // a writer goroutine runs (see run); stays true once one has ended the stream
	err        error // the stream's first failure, from either side; sticky

	// The TLS shutdown bound (tls.go).
	shutdownTimeout time.Duration // guarded by mu; set at construction and by SetTLSShutdownTimeout
	shutdownTimer   *time.Timer   // guarded by mu; armed by Close over TLS, stopped by closeNow

	// Also guarded by mu: the inline write (inline.go).
	raw    *rawWriter // for an inline write to conn; nil where conn is not a plain socket
	inline bool       // an inline Write holds the write token and is writing
	inlAt  int64      // r.consumed at the last inline write; -1 before the first

	// Also guarded by mu: the end (afterclose.go).
	ended  bool          // every goroutine of the stream has returned
	done   chan struct{} // Done's channel, made by its first call; closed once ended
	afters []*afterFunc  // AfterClose registrations, started once ended
}

type writeState uint8

const (
	stateOpen    writeState = iota
	stateEOF                // WriteEOF: no more writes; half-close after the queue
	stateClosing            // Close: no more writes; close after the queue
	stateAborted            // Abort: queue dropped, connection closed
)

// New adopts conn — asyncio's sock= — and returns its Reader and Writer.
// Over a plain TCP or Unix stream socket it starts no goroutine: reads read
// the socket themselves, and the writer goroutine runs while there is
// something to write. Over anything else (a *tls.Conn, a net.Pipe) it
// starts a reader goroutine too. They end after Close or Abort, or when the
// connection fails; Done and WaitClosed report it. The stream owns conn
// from now on. An invalid option (WithLimit ≤ 0, bad
// watermarks) panics with an error wrapping ErrInvalidArgument.
func New(conn net.Conn, opts ...Option) (*Reader, *Writer) {
	c := mustConfigFor(useNew, conn, opts) // options.go, check.go: panics on a nil conn or an option New cannot apply
	conn = c.wrapTLS(conn)                 // WithTLS: a *tls.Conn over conn, its handshake started and bounded
	w := newWriter(conn, c)
	w.conn = conn
	w.raw = newRawWriter(conn)
	w.inlAt = -1
	w.r = newReader(conn, c, w)
	if rr := newRawReader(conn); rr != nil {
		w.r.direct.Store(rr) // no reader goroutine: reads read the socket
	} else {
		w.r.withGoroutine()
		w.group.Go(w.r.readLoop)
	}
	return w.r, w
}

// NewWriter returns a Writer over dst, any byte sink. Its writer goroutine
// runs while bytes are queued, and ends the stream after Close or Abort,
// or when dst fails. Close and
// WriteEOF close dst after the queue is written when dst is an io.Closer.
// Invalid watermarks panic with an error wrapping ErrInvalidArgument.
func NewWriter(dst io.Writer, opts ...Option) *Writer {
	return newWriter(dst, mustConfigFor(useNewWriter, dst, opts))
}

func newWriter(dst io.Writer, c *config) *Writer {
	return &Writer{
		serverSide: c.serverSide,
		tlsConfig:  c.tls,
		closed:     make(chan struct{}),
		dst:        dst,
		high:       c.high,
		low:        c.low,

		shutdownTimeout: c.shutdownTimeout,
	}
}

// Write queues a copy of p and returns len(p) at once; it never waits for
// the network (call Drain for back-pressure). After Close, WriteEOF or Abort
// it returns an error that errors.Is(err, ErrClosed); after the connection
// failed, that failure. Nothing is queued when it returns an error.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	if err := w.writableLocked(); err != nil {
		w.mu.Unlock()
		return 0, wrap("write", err)
	}
	if w.raw != nil && !w.running && !w.held && len(w.queue) == 0 && len(p) > 0 && w.respondingLocked() {
		return w.writeInline(p)
	}
	appendTo(w, p)
	w.queuedChangedLocked()
	w.startLocked()
	w.mu.Unlock()
	return len(p), nil
}

// WriteString is Write of a string, without converting it first.
func (w *Writer) WriteString(s string) (int, error) {
	w.mu.Lock()
	if err := w.writableLocked(); err != nil {
		w.mu.Unlock()
		return 0, wrap("write", err)
	}
	appendTo(w, s)
	w.queuedChangedLocked()
	w.startLocked()
	w.mu.Unlock()
	return len(s), nil
}

// WriteLines queues copies of bufs as one unit — no other Write comes
// between them — and returns the bytes queued. Errors are as for Write.
func (w *Writer) WriteLines(bufs ...[]byte) (int, error) {
	w.mu.Lock()
	if err := w.writableLocked(); err != nil {
		w.mu.Unlock()
		return 0, wrap("write lines", err)
	}
	n := 0
	for _, b := range bufs {
		appendTo(w, b)
		n += len(b)
	}
	w.queuedChangedLocked()
	w.startLocked()
	w.mu.Unlock()
	return n, nil
}

// ReadFrom implements io.ReaderFrom: it reads src until EOF into queued
// chunks, with no extra copy, and drains whenever the queue passes the high
// watermark, so io.Copy into a Writer holds about high bytes at most. It
// returns the bytes queued and nil at EOF, src's error, or the Writer's.
func (w *Writer) ReadFrom(src io.Reader) (int64, error) {
	var total int64
	for {
		if err := w.Drain(context.Background()); err != nil {
			return total, err
		}
		c := getChunk()
		n, rerr := src.Read(c)
		if n > 0 {
			w.mu.Lock()
			if err := w.writableLocked(); err != nil {
				w.mu.Unlock()
				putChunk(c)
				return total, wrap("read from", err)
			}
			w.queue = append(w.queue, c[:n])
			w.queued += n
			w.queuedChangedLocked()
			w.startLocked()
			w.mu.Unlock()
			total += int64(n)
		} else {
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

// writableLocked says why a write is refused, or nil.
func (w *Writer) writableLocked() error {
	if w.err != nil {
		return w.err
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
		w.armShutdownLocked()
	}
	w.mu.Unlock()
	w.poke()
	return nil
}

// Abort drops what is queued and closes the connection now. Later writes
// return ErrClosed; reads return what was received, then ErrClosed.
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
	w.closeNow(cause, false)
	w.poke()
}

// IsClosing reports whether Close or Abort was called or the connection
// has closed. It stays false after WriteEOF.
func (w *Writer) IsClosing() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.state >= stateClosing {
		return true
	}
	select {
	case <-w.closed:
		return true
	default:
		return false
	}
}

// WaitClosed blocks until the stream is closed and every goroutine of it
// has returned, or ctx ends (then it returns ctx.Err()). It returns nil once
// closed, whatever ended the stream.
func (w *Writer) WaitClosed(ctx context.Context) error {
	select {
	case <-w.Done():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Done returns a channel that is closed when WaitClosed would return nil.
func (w *Writer) Done() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done == nil { // made on demand: most streams never ask
		w.done = make(chan struct{})
		if w.ended {
			close(w.done)
		}
	}
	return w.done
}

// closeNow closes the connection once, recording cause as the stream's
// failure when it is the first. The closed channel is closed before the
// connection, so a goroutine woken by the failed Read or Write sees why.
//
// Only the graceful close after Close's flush closes a TLS connection with
// its close_notify; Abort and failures close the socket under it at once,
// as asyncio's abort sends nothing. A NewWriter sink that WriteEOF already
// closed is not closed twice.
func (w *Writer) closeNow(cause error, graceful bool) {
	w.closeOnce.Do(func() {
		w.mu.Lock()
		if cause != nil && w.err == nil {
			w.err = cause
		}
		dst, closedByEOF := w.dst, w.sinkClosed
		w.mu.Unlock()
		close(w.closed)
		if tc, ok := dst.(*tls.Conn); ok && !graceful {
			dst = socketOf(tc) // the socket: an abort sends nothing, not even an inner layer's close_notify
		}
		if c, ok := dst.(io.Closer); ok && !closedByEOF {
			_ = c.Close()
		}
		if w.r != nil {
			w.r.sawClose(w.failure())
		}
		w.stopShutdown()
		w.poke() // a writer goroutine ends the stream: closes done
	})
}

// readEnded is the reader goroutine's report that the source ended with
// err; it returns what reads are to return after the buffered bytes. A
// failure of an open stream aborts it, as asyncio does, and reads return
// the stream's first failure — also instead of io.EOF, since Linux reports a
// reset once: when a write met it, the next read sees a plain EOF.
func (w *Writer) readEnded(err error) error {
	if err == io.EOF {
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.err != nil {
			return w.err
		}
		return io.EOF
	}
	select {
	case <-w.closed: // closed locally, or after an earlier failure
	default:
		w.closeNow(err, false)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	return err
}

// failure returns the stream's first failure, or nil.
func (w *Writer) failure() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}
