package chanstream

import (
	"net"
	"os"
	"syscall"
	"unsafe"
)

// The inline write. As asyncio's transport.write does, a Write that finds
// nothing queued and nobody owning the write side offers the bytes to the
// socket itself with one non-blocking write(2), and queues for the writer
// goroutine only what the socket did not take: in the request/response
// case the answer goes out without a copy, a pooled chunk or a goroutine
// hand-off, and Write still never waits for the network. It does so only
// when the application is answering — it has consumed every byte received
// since the last inline write (conn.responding) — so that a run of Writes
// with no read between them is batched into one writev instead of costing
// a system call each. Write, WriteString and WriteLines all take this path.

// rawWriter makes the non-blocking attempt on a plain stream socket
// (*net.TCPConn, a stream *net.UnixConn). Used only by the owner of the
// write side.
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

// inlineLocked reports whether a Write may write inline now: the sink is a
// plain socket, nothing is queued, nobody owns the write side, and the
// application is answering. w.mu is held.
func (w *Writer) inlineLocked() bool {
	return w.raw != nil && w.owner == ownerNone && len(w.queue) == 0 && w.c.responding(&w.inlAt)
}

// testHookInlineWrite, when set by a test, runs in an inline Write after it
// has taken the write side and before it writes.
var testHookInlineWrite func()

// writeInline writes p inline and queues what the socket did not take,
// then more, in front of anything other Writes queued meanwhile. w.mu is
// held, and released here.
func (w *Writer) writeInline(p []byte, more [][]byte) {
	w.owner = ownerInline
	w.queued += len(p) // being written: Buffered counts it
	raw := w.raw
	w.mu.Unlock()
	if testHookInlineWrite != nil {
		testHookInlineWrite()
	}
	n, err := raw.write(p)
	w.mu.Lock()
	w.stats.written += int64(n)
	w.owner = ownerNone
	if w.state != stateAborted { // Abort already dropped the count and the queue
		w.queued -= len(p)
		if err != nil {
			w.c.fail(err)
		} else if rest := p[n:]; len(rest) > 0 || len(more) > 0 {
			later := w.queue
			w.queue = nil
			appendTo(w, rest)
			for _, b := range more {
				appendTo(w, b)
			}
			w.queue = append(w.queue, later...)
		}
	}
	w.queuedChangedLocked()
	if len(w.queue) > 0 || w.state != stateOpen {
		w.startLocked()
	} else {
		w.settledLocked()
	}
	w.mu.Unlock()
	if err != nil {
		w.c.closeNow(err, false)
	}
}

// stringBytes returns a view of s's bytes, for the socket to read.
func stringBytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }
