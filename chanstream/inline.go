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
// hand-off, and Write still never waits for the network. A small Write
// does so only when the application is answering — it has consumed every
// byte received since the last inline write (conn.responding) — so that a
// run of small Writes with no read between them is batched into one writev
// instead of costing a system call each. A Write of at least inlineLarge
// bytes always may: queuing it would cost a copy that is dearer than the
// system call it saves, and a streaming handler (read, write, drain) keeps
// its bytes moving while the Reader still holds read-ahead. Write,
// WriteString, WriteLines and Reader.WriteTo's whole chunks take this path.

// inlineLarge is the size from which a Write is offered to the socket even
// when the application has not caught up with its reads.
const inlineLarge = 16 << 10

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

// inlineLocked reports whether a Write of n bytes may write inline now:
// the sink is a plain socket, nothing is queued, nobody owns the write
// side, and the Write is large or the application is answering. w.mu is
// held.
func (w *Writer) inlineLocked(n int) bool {
	return w.raw != nil && w.owner == ownerNone && len(w.queue) == 0 &&
		(n >= inlineLarge || w.c.responding(&w.inlAt))
}

// testHookInlineWrite, when set by a test, runs in an inline Write after it
// has taken the write side and before it writes.
var testHookInlineWrite func()

// writeInline writes p inline and queues what the socket did not take,
// then more, in front of anything other Writes queued meanwhile. With own
// set, p is a pooled chunk the caller gives up (Reader.WriteTo): what the
// socket did not take of it is queued in it, not copied, and it goes back
// to the pool once written. w.mu is held, and released here.
func (w *Writer) writeInline(p []byte, more [][]byte, own bool) {
	w.owner = ownerInline
	w.queued += len(p) // being written: Buffered, Drain and the peak count it
	w.queuedChangedLocked()
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
			if own && len(rest) > 0 {
				w.queue = append(w.queue, p[:copy(p, rest)]) // the chunk itself, its unwritten bytes moved to the front
				w.queued += len(rest)
				own = false // the writer goroutine gives it back once written
			} else {
				appendTo(w, rest)
			}
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
	if own {
		putChunk(p)
	}
	if err != nil {
		w.c.closeNow(err, false)
	}
}

// stringBytes returns a view of s's bytes, for the socket to read.
func stringBytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }
