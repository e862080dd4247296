//go:build !unix

package server

import (
	"errors"
	"net"
	"syscall"
)

// control refuses SO_REUSEPORT, which this platform lacks; the other
// options keep Go's defaults here.
func (c *config) control(network, address string, rc syscall.RawConn) error {
	if c.reusePort {
		return &net.OpError{Op: "setsockopt", Net: network, Err: errors.ErrUnsupported}
	}
	return nil
}

// setBacklog leaves Go's backlog: this platform has no portable way to
// change it.
func setBacklog(ln net.Listener, n int) error { return nil }
