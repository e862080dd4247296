//go:build unix

package server

import (
	"net"
	"syscall"
)

// control sets the socket options of c on a socket Start makes, after Go's
// defaults and before bind.
func (c *config) control(network, address string, rc syscall.RawConn) error {
	var err error
	cerr := rc.Control(func(fd uintptr) {
		if c.reuseAddrSet {
			err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_REUSEADDR, boolInt(c.reuseAddr))
			if err != nil {
				return
			}
		}
		if c.reusePort {
			if soReusePort < 0 {
				err = syscall.ENOPROTOOPT
				return
			}
			err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, soReusePort, 1)
		}
	})
	if cerr != nil {
		return cerr
	}
	if err != nil {
		return &net.OpError{Op: "setsockopt", Net: network, Err: err}
	}
	return nil
}

// setBacklog calls listen(2) again with the backlog n: Go listens with
// somaxconn, and a second listen on a listening socket only sets the
// backlog (Linux and the BSDs).
func setBacklog(ln net.Listener, n int) error {
	sc, ok := ln.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	var lerr error
	if err := rc.Control(func(fd uintptr) { lerr = syscall.Listen(int(fd), n) }); err != nil {
		return err
	}
	if lerr != nil {
		return &net.OpError{Op: "listen", Net: ln.Addr().Network(), Addr: ln.Addr(), Err: lerr}
	}
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
