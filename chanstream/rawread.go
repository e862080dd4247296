package chanstream

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
)

// rawReader reads a socket the way net.Conn's Read does — try, and on
// EAGAIN wait in the runtime's poller — but takes the pooled chunk only for
// the try and gives it back before it waits. So an idle connection holds no
// read buffer while its reader goroutine is parked. It is used only for
// plain stream sockets (*net.TCPConn, a stream *net.UnixConn): a wrapper
// with bytes of its own (a *tls.Conn, anything that buffers) must be read
// through its Read. Owned by the reader goroutine.
type rawReader struct {
	conn net.Conn
	rc   syscall.RawConn
	try  func(fd uintptr) bool // rr.tryRead, made once: a method value per Read would allocate

	// Results of the last try.
	c     []byte
	n     int
	errno error
}

// newRawReader returns a rawReader for src, or nil when src must be read
// through its own Read.
func newRawReader(src io.Reader) *rawReader {
	conn, rc := plainSocket(src)
	if rc == nil {
		return nil
	}
	rr := &rawReader{conn: conn, rc: rc}
	rr.try = func(fd uintptr) bool { return rr.tryRead(fd) } // a closure: one frame fewer than a method value's wrapper
	return rr
}

// plainSocket returns v as a connection and its RawConn when v is a plain
// stream socket — a *net.TCPConn or a stream *net.UnixConn — that raw reads
// and writes may use on this platform; else nil, nil.
func plainSocket(v any) (net.Conn, syscall.RawConn) {
	if !rawReadSupported {
		return nil, nil
	}
	var (
		rc  syscall.RawConn
		err error
	)
	switch c := v.(type) {
	case *net.TCPConn:
		rc, err = c.SyscallConn()
	case *net.UnixConn:
		if c.LocalAddr().Network() != "unix" { // unixgram, unixpacket: datagrams
			return nil, nil
		}
		rc, err = c.SyscallConn()
	default:
		return nil, nil
	}
	if err != nil {
		return nil, nil
	}
	return v.(net.Conn), rc
}

// tryRead is the RawConn.Read callback: one read into a fresh chunk;
// false (wait for readability) on EAGAIN, with the chunk given back.
func (rr *rawReader) tryRead(fd uintptr) bool {
	if rr.c = pooledChunk(); rr.c == nil {
		return true // the pool is empty: read says so (errNoChunk)
	}
	for {
		n, err := sysRead(fd, rr.c)
		switch err {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			putChunk(rr.c)
			rr.c = nil
			return false
		}
		rr.n, rr.errno = n, err
		return true
	}
}

// errNoChunk is read's report that the pool had no chunk: the reader
// goroutine allocates one at the top of its stack and reads again, so that
// the allocation (with what it may do: assist the collector, start a
// cycle, sample the memory profile) never runs under the read's frames.
var errNoChunk = errors.New("chanstream: no pooled chunk")

// read waits until the socket is readable, then reads one chunk. It
// returns the chunk (the caller gives it back), the bytes read, and io.EOF
// or an error as net.Conn's Read would.
func (rr *rawReader) read() ([]byte, int, error) {
	err := rr.rc.Read(rr.try)
	if err == nil && rr.c == nil {
		return nil, 0, errNoChunk
	}
	c, n, errno := rr.c, rr.n, rr.errno
	rr.c, rr.errno = nil, nil
	if err != nil {
		// Closed, or the read deadline passed (Upgrade's park): the conn's
		// own Read reports it as usual, without reading.
		return rr.connRead(c)
	}
	if errno != nil {
		return c, 0, rr.readError(errno)
	}
	if n == 0 {
		return c, 0, io.EOF
	}
	return c, n, nil
}

// connRead reads c, or a fresh chunk when c is nil, with the conn's own
// Read. Out of line, as readError: read stays a small frame.
func (rr *rawReader) connRead(c []byte) ([]byte, int, error) {
	if c == nil {
		c = getChunk()
	}
	n, err := rr.conn.Read(c)
	return c, n, err
}

// readError is errno as net.Conn's Read reports it.
func (rr *rawReader) readError(errno error) error {
	return &net.OpError{Op: "read", Net: rr.conn.LocalAddr().Network(),
		Source: rr.conn.LocalAddr(), Addr: rr.conn.RemoteAddr(), Err: os.NewSyscallError("read", errno)}
}
