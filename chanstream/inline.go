package chanstream

import (
	"net"
	"os"
	"syscall"
)

// A Write that finds nothing queued and no writer goroutine running, in a
// stream whose application has read everything received since its last
// such write (see respondingLocked), writes p itself with one non-blocking
// write(2): in the request/response case the bytes go out without a copy,
// a pooled chunk or a goroutine hand-off. Whatever the socket does not take at once is queued for the
// writer goroutine as usual, so Write still never waits for the network.
// The write side has one owner at a time: Writer.running is the token,
// held by the writer goroutine or by an inline Write (Writer.inline).

// rawWriter makes the non-blocking attempt on a plain stream socket
// (*net.TCPConn, a stream *net.UnixConn), chosen as for rawReader. Used
// only by the holder of the write token.
type rawWriter struct {
	conn net.Conn
	rc   syscall.RawConn
	try  func(fd uintptr) bool // rw.tryWrite, made once

	p     []byte
	n     int
	errno error
}

// newRawWriter returns a rawWriter for dst, or nil where dst is not a
// plain stream socket.
func newRawWriter(dst any) *rawWriter {
	conn, rc := plainSocket(dst)
	if rc == nil {
		return nil
	}
	rw := &rawWriter{conn: conn, rc: rc}
	rw.try = rw.tryWrite
	return rw
}

// tryWrite is the RawConn.Write callback: one attempt, never a wait.
func (rw *rawWriter) tryWrite(fd uintptr) bool {
	for {
		n, err := sysWrite(fd, rw.p)
		switch err {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			n, err = 0, nil
		}
		rw.n, rw.errno = max(n, 0), err
		return true
	}
}

// write writes what the socket takes of p now. It returns how much, and
// the socket's error as net.Conn's Write would; when the conn is closed or
// its write deadline has passed it returns 0, nil and leaves the report to
// the writer goroutine's Write.
func (rw *rawWriter) write(p []byte) (int, error) {
	rw.p = p
	err := rw.rc.Write(rw.try)
	n, errno := rw.n, rw.errno
	rw.p, rw.n, rw.errno = nil, 0, nil
	if err != nil {
		return 0, nil
	}
	if errno != nil {
		return 0, &net.OpError{Op: "write", Net: rw.conn.LocalAddr().Network(),
			Source: rw.conn.LocalAddr(), Addr: rw.conn.RemoteAddr(), Err: os.NewSyscallError("write", errno)}
	}
	return n, nil
}

// respondingLocked is the inline write's heuristic: the application has
// read since the last inline write and consumed everything received — it
// is answering and will wait for the peer next, so the bytes should go out
// now. Otherwise (a run of Writes with no read between, or pipelined input
// still buffered) Writes queue and the writer goroutine batches them into
// one writev.
func (w *Writer) respondingLocked() bool {
	r := w.r
	if r == nil || r.buffered.Load() != 0 {
		return false
	}
	c := r.consumed.Load()
	if c == w.inlAt {
		return false
	}
	w.inlAt = c
	return true
}

// testHookInlineWrite, when set by a test, runs in an inline Write after it
// has taken the write token and before it writes.
var testHookInlineWrite func()

// writeInline is Write's path when nothing is queued and the write token
// is free: w.mu is held, and released here.
func (w *Writer) writeInline(p []byte) (int, error) {
	w.running, w.inline = true, true
	w.queued += len(p) // being written: Buffered counts it
	raw := w.raw
	w.mu.Unlock()
	if testHookInlineWrite != nil {
		testHookInlineWrite()
	}
	n, err := raw.write(p)
	w.mu.Lock()
	w.inline = false
	if w.state != stateAborted { // Abort already dropped the count
		w.queued -= len(p)
	}
	if err != nil && w.err == nil && w.state != stateAborted {
		w.err = err
	}
	if rest := p[n:]; len(rest) > 0 && err == nil && w.state != stateAborted {
		if later := w.queue; len(later) > 0 {
			// In front of what other Writes queued meanwhile.
			w.queue = nil
			appendTo(w, rest)
			w.queue = append(w.queue, later...)
		} else {
			appendTo(w, rest)
		}
	}
	w.queuedChangedLocked()
	w.running = false
	if len(w.queue) > 0 || w.state != stateOpen || isDone(w.closed) {
		w.startLocked()
	}
	w.mu.Unlock()
	if err != nil {
		w.closeNow(err, false)
	}
	return len(p), nil
}
