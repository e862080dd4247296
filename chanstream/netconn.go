package chanstream

import (
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// NetConn returns r and w — the two halves of one stream, from New or
// OpenConnection — as a net.Conn, for code that wants one (net/http,
// crypto/tls, an RPC library), with the whole net.Conn contract:
//
//   - Read blocks until bytes are buffered, as [Reader.Read], and returns
//     io.EOF at the end of the stream.
//   - Write waits: it queues p and drains ([Writer.Drain]), a piece at a
//     time, so that a slow peer holds it and a write deadline can expire.
//     It returns the bytes queued; they are written even when it returns an
//     error.
//   - SetDeadline, SetReadDeadline and SetWriteDeadline work as for a TCP
//     connection: a deadline in the past fails calls at once, one in the
//     future is armed, moved or cleared (zero) for calls already waiting.
//     A call that meets its deadline returns a *net.OpError wrapping
//     [os.ErrDeadlineExceeded] (a net.Error whose Timeout is true) and
//     consumes nothing.
//   - Close is graceful, as [Writer.Close]: queued bytes are written first,
//     in the background. It unblocks every Read and Write at once; they, and
//     later calls, return a *net.OpError wrapping [net.ErrClosed].
//   - LocalAddr and RemoteAddr are the connection's, or a placeholder for
//     streams without one (NewReader/NewWriter).
//
// All methods are safe for concurrent use; each Write is queued whole,
// never interleaved with another. A deadline costs one timer per call to a
// Set method, none per Read or Write. The returned conn also has CloseWrite
// ([Writer.WriteEOF]). Use [Writer.WaitClosed] to wait for the end after
// Close. A nil r or w panics with an error wrapping [ErrInvalidArgument].
func NetConn(r *Reader, w *Writer) net.Conn {
	if r == nil || w == nil {
		panic(invalid("NetConn", "nil Reader or Writer"))
	}
	c := &netConn{
		r:      r,
		w:      w,
		wtoken: make(chan struct{}, 1),
	}
	c.rd.init()
	c.wd.init()
	return c
}

// writePiece is how much one step of NetConn's Write queues before it
// drains: it bounds what a large Write adds to the queue.
const writePiece = 64 << 10

type netConn struct {
	// Set at construction, never changed.
	r      *Reader
	w      *Writer
	wtoken chan struct{} // cap 1: holding the slot is writing; a Write waits for it, or its deadline; never closed

	rd, wd    deadline
	closeOnce sync.Once
}

func (c *netConn) Read(p []byte) (int, error) {
	stop := c.rd.channel()
	if isClosedChan(stop) { // a past deadline wins over buffered bytes, as for a socket
		return 0, c.opError("read", c.rd.err())
	}
	if len(p) == 0 {
		return 0, nil
	}
	n, err := c.r.readInto(p, stop)
	switch err {
	case nil, io.EOF:
		return n, err
	case errStopped:
		return 0, c.opError("read", c.rd.err())
	}
	return n, c.opError("read", err)
}

func (c *netConn) Write(p []byte) (int, error) {
	stop := c.wd.channel()
	select {
	case c.wtoken <- struct{}{}:
	default:
		select {
		case c.wtoken <- struct{}{}:
		case <-stop:
			return 0, c.opError("write", c.wd.err())
		}
	}
	defer func() { <-c.wtoken }()
	n := 0
	for {
		if isClosedChan(stop) {
			return n, c.opError("write", c.wd.err())
		}
		k := min(len(p)-n, c.w.piece())
		if _, err := c.w.Write(p[n : n+k]); err == ErrWriteBufferFull {
			// Under WithMaxWriteBuffer's cap: a net.Conn's Write waits for room.
			if c.w.waitRoom(stop, k) == errStopped {
				return n, c.opError("write", c.wd.err())
			}
			continue
		} else if err != nil {
			return n, c.opError("write", err)
		}
		n += k
		if err := c.w.drainUntil(stop); err != nil {
			if err == errStopped {
				err = c.wd.err()
			}
			return n, c.opError("write", err)
		}
		if n == len(p) {
			return n, nil
		}
	}
}

// Close closes the conn: every waiting Read and Write returns now, and the
// stream closes gracefully (Writer.Close). A second Close returns an error
// wrapping net.ErrClosed.
func (c *netConn) Close() error {
	first := false
	c.closeOnce.Do(func() {
		first = true
		c.rd.close()
		c.wd.close()
	})
	if !first {
		return c.opError("close", net.ErrClosed)
	}
	return c.w.Close()
}

// CloseWrite half-closes the conn once queued bytes are written:
// Writer.WriteEOF.
func (c *netConn) CloseWrite() error {
	if c.wd.isClosed() {
		return c.opError("close", net.ErrClosed)
	}
	if err := c.w.WriteEOF(); err != nil {
		return c.opError("close", err)
	}
	return nil
}

func (c *netConn) LocalAddr() net.Addr {
	if a := c.w.LocalAddr(); a != nil {
		return a
	}
	return streamAddr{}
}

func (c *netConn) RemoteAddr() net.Addr {
	if a := c.w.RemoteAddr(); a != nil {
		return a
	}
	return streamAddr{}
}

func (c *netConn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

func (c *netConn) SetReadDeadline(t time.Time) error {
	if !c.rd.set(t) {
		return c.opError("set", net.ErrClosed)
	}
	return nil
}

func (c *netConn) SetWriteDeadline(t time.Time) error {
	if !c.wd.set(t) {
		return c.opError("set", net.ErrClosed)
	}
	return nil
}

// opError wraps err as net does, so that callers can test Timeout and
// errors.Is(err, net.ErrClosed).
func (c *netConn) opError(op string, err error) error {
	la, ra := c.LocalAddr(), c.RemoteAddr()
	return &net.OpError{Op: op, Net: la.Network(), Source: la, Addr: ra, Err: err}
}

// streamAddr is the address of a stream that has no connection.
type streamAddr struct{}

func (streamAddr) Network() string { return "chanstream" }
func (streamAddr) String() string  { return "chanstream" }

// deadline is one direction's deadline, as net.Pipe's pipeDeadline: a
// channel that is closed when the deadline passes — by a time.AfterFunc —
// or when the conn is closed. Calls wait on it; it is replaced only once
// closed, when a new deadline re-arms it, so a call waiting on it sees a
// moved deadline.
type deadline struct {
	mu     sync.Mutex // guards the fields below
	timer  *time.Timer
	cancel chan struct{} // closed by the timer's func or by close; replaced by set once closed
	closed bool          // the conn is closed: cancel stays closed
}

func (d *deadline) init() {
	d.cancel = make(chan struct{})
}

// set arms, moves or clears (t zero) the deadline; false after close.
func (d *deadline) set(t time.Time) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return false
	}
	if d.timer != nil && !d.timer.Stop() {
		<-d.cancel // the timer's func is closing it: wait, then replace it below
	}
	d.timer = nil
	expired := isClosedChan(d.cancel)
	if t.IsZero() {
		if expired {
			d.cancel = make(chan struct{})
		}
		return true
	}
	if dur := time.Until(t); dur > 0 {
		if expired {
			d.cancel = make(chan struct{})
		}
		ch := d.cancel
		d.timer = time.AfterFunc(dur, func() { close(ch) }) // the only closer while armed
		return true
	}
	if !expired {
		close(d.cancel) // a deadline in the past
	}
	return true
}

// channel returns the channel calls wait on.
func (d *deadline) channel() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cancel
}

// close closes the channel for good: Close.
func (d *deadline) close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	if d.timer != nil && !d.timer.Stop() {
		<-d.cancel // closed by the timer's func
	}
	d.timer = nil
	if !isClosedChan(d.cancel) {
		close(d.cancel)
	}
}

func (d *deadline) isClosed() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.closed
}

// err says why the channel closed: Close or the deadline.
func (d *deadline) err() error {
	if d.isClosed() {
		return net.ErrClosed
	}
	return os.ErrDeadlineExceeded
}

func isClosedChan(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
