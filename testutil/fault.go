package testutil

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// ErrReset is the error a [FaultConn]'s own Read and Write return once it
// has reset the connection (Faults.ResetAfter, [FaultConn.Reset]), wrapped
// in a *net.OpError. It wraps syscall.ECONNRESET, so code that classifies
// a real reset with errors.Is classifies this one alike.
var ErrReset = fmt.Errorf("testutil: injected reset: %w", syscall.ECONNRESET)

// Faults says what a [FaultConn] does to the bytes passing through it. The
// zero value passes them on unchanged. Byte counts are over both
// directions: bytes read and bytes written, together. A call moves no
// more than the bytes left before a reset or a stall when it starts; with
// a Read and a Write running at once the count may pass the mark by what
// the other one moved meanwhile.
type Faults struct {
	// MaxRead > 0: each Read reads a random 1..MaxRead bytes at most from
	// the wrapped conn (never more than len(p)), so a reader sees the
	// stream in small, uneven pieces.
	MaxRead int
	// MaxWrite > 0: each Write goes to the wrapped conn in pieces of a
	// random 1..MaxWrite bytes, one Write call each, so the peer receives
	// them in small, uneven pieces.
	MaxWrite int
	// Delay > 0: before each Read and before each piece written, wait a
	// random time from 0 to Delay — a slow reader, a slow writer.
	Delay time.Duration
	// ResetAfter > 0: once this many bytes have passed, the connection is
	// reset — a real RST (SetLinger(0) and Close) when the wrapped conn is
	// a *net.TCPConn, a plain Close otherwise — and the FaultConn's Read
	// and Write return [ErrReset]. The bytes up to the count pass; a
	// Write across it returns the count written and ErrReset.
	ResetAfter int64
	// StallAfter > 0: once this many bytes have passed, Read and Write
	// block, moving nothing, until Close, Reset or their deadline — a peer
	// that hangs with the connection open.
	StallAfter int64
	// Seed seeds the random sizes and delays: the same Seed, the same
	// choices in the same order of calls. 0 picks a random seed.
	Seed uint64
}

// FaultConn is a net.Conn that injects faults into the conn it wraps, as
// its [Faults] say: reads and writes split into small pieces, delays,
// a reset after so many bytes, a stall. Wrap either end of a real
// connection: the wrapped end's user meets the faults directly, its peer
// meets what they do to the wire (small segments, a slow or stalled
// party, an RST).
//
// Its deadlines are the net.Conn contract: a Read or Write waiting in a
// delay or a stall returns an error that is a net.Error with Timeout()
// true and errors.Is os.ErrDeadlineExceeded when its deadline passes (a
// deadline in the past ends a waiting call at once), and Close ends every
// waiting call with net.ErrClosed. All methods are safe for concurrent
// use. A FaultConn is not a syscall.Conn: code that reads a socket
// directly when it finds one (chanstream does) reads through the
// FaultConn instead.
type FaultConn struct {
	net.Conn
	f Faults

	closed    chan struct{} // closed once by Close or a reset
	closeOnce sync.Once
	rd, wd    deadline

	mu     sync.Mutex // guards the fields below
	rng    *rand.Rand
	passed int64 // bytes moved both ways
	reset  bool  // the conn was reset: Read and Write return ErrReset
}

// NewFaultConn returns c wrapped so that f's faults apply to everything
// read and written through the result. The FaultConn owns c: closing it
// closes c.
func NewFaultConn(c net.Conn, f Faults) *FaultConn {
	seed := f.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	return &FaultConn{
		Conn:   c,
		f:      f,
		closed: make(chan struct{}),
		rd:     newDeadline(),
		wd:     newDeadline(),
		rng:    rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
	}
}

// Passed returns how many bytes have passed through c, read and written
// together. It does not block.
func (c *FaultConn) Passed() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.passed
}

// fault is what the byte budget allows a call now.
type fault int

const (
	pass  fault = iota // up to n bytes may move
	stall              // nothing may move until Close or a deadline
	reset              // the conn is (now) reset
)

// budget returns how many of want bytes a call may move now — at most the
// bytes left before a reset or a stall, and a random 1..max (max > 0) —
// or the fault due when none may.
func (c *FaultConn) budget(want, max int) (int, fault) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.reset {
		return 0, reset
	}
	if c.f.StallAfter > 0 && c.passed >= c.f.StallAfter {
		return 0, stall
	}
	if c.f.ResetAfter > 0 && c.passed >= c.f.ResetAfter {
		return 0, reset // reached by the other direction; account resets
	}
	n := want
	if max > 0 {
		n = min(n, 1+c.rng.IntN(max))
	}
	if c.f.ResetAfter > 0 {
		n = int(min(int64(n), c.f.ResetAfter-c.passed))
	}
	if c.f.StallAfter > 0 {
		n = int(min(int64(n), c.f.StallAfter-c.passed))
	}
	return n, pass
}

// account counts n bytes moved, and resets the conn once ResetAfter is
// reached.
func (c *FaultConn) account(n int) {
	c.mu.Lock()
	c.passed += int64(n)
	due := c.f.ResetAfter > 0 && c.passed >= c.f.ResetAfter && !c.reset
	c.mu.Unlock()
	if due {
		c.Reset()
	}
}

// delay returns a random wait from 0 to Delay.
func (c *FaultConn) delay() time.Duration {
	if c.f.Delay <= 0 {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Duration(c.rng.Int64N(int64(c.f.Delay) + 1))
}

// wait blocks for d (forever when d < 0) or until Close or dl's deadline.
func (c *FaultConn) wait(op string, d time.Duration, dl *deadline) error {
	var timer <-chan time.Time
	if d >= 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		timer = t.C
	}
	select {
	case <-timer:
		return nil
	case <-dl.wait():
		return c.opError(op, os.ErrDeadlineExceeded)
	case <-c.closed:
		return c.closedError(op)
	}
}

// Read reads up to len(p) bytes — fewer with MaxRead — from the wrapped
// conn, after a Delay; it blocks as the wrapped conn's Read does, and in a
// delay or a stall until its deadline or Close. It returns 0 and an error
// wrapping [ErrReset] once the conn has been reset.
func (c *FaultConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return c.Conn.Read(p)
	}
	if isClosed(c.rd.wait()) {
		return 0, c.opError("read", os.ErrDeadlineExceeded)
	}
	if err := c.wait("read", c.delay(), &c.rd); err != nil {
		return 0, err
	}
	for {
		n, f := c.budget(len(p), c.f.MaxRead)
		switch f {
		case reset:
			return 0, c.opError("read", ErrReset)
		case stall:
			if err := c.wait("read", -1, &c.rd); err != nil {
				return 0, err
			}
			continue // woken only by a deadline or Close: not reached
		}
		got, err := c.Conn.Read(p[:n])
		c.account(got)
		if err != nil {
			err = c.resetError("read", err)
		}
		return got, err
	}
}

// Write writes p to the wrapped conn, in pieces of MaxWrite bytes at most,
// each after a Delay. It blocks until all of p is written, the wrapped
// conn fails, its deadline passes or Close; at a reset it returns what was
// written and an error wrapping [ErrReset]; in a stall it blocks until its
// deadline or Close. As net.Conn's, it returns an error when n < len(p).
func (c *FaultConn) Write(p []byte) (int, error) {
	if isClosed(c.wd.wait()) {
		return 0, c.opError("write", os.ErrDeadlineExceeded)
	}
	written := 0
	for written < len(p) {
		if err := c.wait("write", c.delay(), &c.wd); err != nil {
			return written, err
		}
		n, f := c.budget(len(p)-written, c.f.MaxWrite)
		switch f {
		case reset:
			return written, c.opError("write", ErrReset)
		case stall:
			if err := c.wait("write", -1, &c.wd); err != nil {
				return written, err
			}
			continue
		}
		m, err := c.Conn.Write(p[written : written+n])
		written += m
		c.account(m)
		if err != nil {
			return written, c.resetError("write", err)
		}
	}
	if len(p) == 0 {
		return c.Conn.Write(p)
	}
	return written, nil
}

// CloseWrite half-closes the wrapped conn when it can (a TCP or Unix
// conn); otherwise it returns an error wrapping errors.ErrUnsupported.
// After a reset it returns an error wrapping [ErrReset].
func (c *FaultConn) CloseWrite() error {
	c.mu.Lock()
	wasReset := c.reset
	c.mu.Unlock()
	if wasReset {
		return c.opError("close", ErrReset)
	}
	if hc, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return hc.CloseWrite()
	}
	return c.opError("close", errors.ErrUnsupported)
}

// Close closes the wrapped conn and ends every call waiting in a delay or
// a stall with net.ErrClosed. It does not block.
func (c *FaultConn) Close() error {
	c.closeOnce.Do(func() { close(c.closed) })
	return c.Conn.Close()
}

// Reset resets the connection now: over a *net.TCPConn the peer gets an
// RST (SetLinger(0), then Close), over anything else the conn is closed.
// Afterwards Read and Write return an error wrapping [ErrReset]. It does
// not block, and a second call does nothing more.
func (c *FaultConn) Reset() error {
	c.mu.Lock()
	if c.reset {
		c.mu.Unlock()
		return nil
	}
	c.reset = true
	c.mu.Unlock()
	if tc, ok := c.Conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	c.closeOnce.Do(func() { close(c.closed) })
	return c.Conn.Close()
}

// SetDeadline sets the read and write deadlines, of the FaultConn's
// delays and stalls and of the wrapped conn.
func (c *FaultConn) SetDeadline(t time.Time) error {
	c.rd.set(t)
	c.wd.set(t)
	return c.Conn.SetDeadline(t)
}

// SetReadDeadline sets the read deadline, of the FaultConn's delays and
// stalls and of the wrapped conn.
func (c *FaultConn) SetReadDeadline(t time.Time) error {
	c.rd.set(t)
	return c.Conn.SetReadDeadline(t)
}

// SetWriteDeadline sets the write deadline, of the FaultConn's delays and
// stalls and of the wrapped conn.
func (c *FaultConn) SetWriteDeadline(t time.Time) error {
	c.wd.set(t)
	return c.Conn.SetWriteDeadline(t)
}

// closedError is the error of a call that Close or a reset ended.
func (c *FaultConn) closedError(op string) error {
	c.mu.Lock()
	wasReset := c.reset
	c.mu.Unlock()
	if wasReset {
		return c.opError(op, ErrReset)
	}
	return c.opError(op, net.ErrClosed)
}

// resetError returns ErrReset for an error of the wrapped conn that a
// reset caused (the Close under it), and err otherwise.
func (c *FaultConn) resetError(op string, err error) error {
	c.mu.Lock()
	wasReset := c.reset
	c.mu.Unlock()
	if wasReset && errors.Is(err, net.ErrClosed) {
		return c.opError(op, ErrReset)
	}
	return err
}

func (c *FaultConn) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: c.LocalAddr().Network(), Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
}

// deadline is a channel closed when a deadline passes, replaced when the
// deadline is set again (as net.Pipe's pipeDeadline).
type deadline struct {
	mu     sync.Mutex // guards timer and cancel
	timer  *time.Timer
	cancel chan struct{} // closed when the deadline passes
}

func newDeadline() deadline { return deadline{cancel: make(chan struct{})} }

// set sets the deadline; the zero time clears it.
func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil && !d.timer.Stop() {
		<-d.cancel // the timer fired: wait for its func to close cancel
	}
	d.timer = nil
	closed := isClosed(d.cancel)
	if t.IsZero() {
		if closed {
			d.cancel = make(chan struct{})
		}
		return
	}
	if dur := time.Until(t); dur > 0 {
		if closed {
			d.cancel = make(chan struct{})
		}
		cancel := d.cancel
		d.timer = time.AfterFunc(dur, func() { close(cancel) })
		return
	}
	if !closed {
		close(d.cancel)
	}
}

// wait returns a channel closed when the deadline passes.
func (d *deadline) wait() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cancel
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// FaultListener wraps ln so that every connection it accepts is a
// [FaultConn] with the Faults that faults returns for it: faults(0) for the
// first connection accepted, faults(1) for the second, and so on (faults
// is called by Accept, one call at a time). A server under test sees its
// clients' connections through the faults.
func FaultListener(ln net.Listener, faults func(i int) Faults) net.Listener {
	return &faultListener{Listener: ln, faults: faults}
}

type faultListener struct {
	net.Listener
	faults func(int) Faults
	mu     sync.Mutex
	n      int // connections accepted; guarded by mu
}

// Accept waits for the next connection and returns it as a *FaultConn.
func (l *faultListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	i := l.n
	l.n++
	f := l.faults(i)
	l.mu.Unlock()
	return NewFaultConn(c, f), nil
}
