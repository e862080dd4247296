package chanstream

import (
	"context"
	"fmt"
	"net"
)

// NewContext adopts conn, a connection the caller dialed (a Unix-domain
// socket, a net.Pipe, a TCP connection made some other way), and returns
// its Reader and Writer as [New] does, after the [WithTLS] client
// handshake when that option is given. [OpenConnection] runs the same
// code after it connects; unix.OpenConnection calls NewContext.
//
// Unlike New, NewContext does not panic: an invalid option is an error
// wrapping [ErrInvalidArgument]. With WithTLS, conn is wrapped in a TLS
// client and the handshake runs before the Reader and Writer start,
// bounded by ctx and [WithTLSHandshakeTimeout]; the config is cloned and
// never modified. As there is no host name here, the config must name the
// server (tls.Config.ServerName) unless it sets InsecureSkipVerify;
// otherwise the error wraps ErrInvalidArgument.
//
// NewContext owns conn once called: on any error conn is closed, so the
// caller has nothing to clean up. A handshake error says "tls handshake";
// when ctx ended during it, the error wraps ctx.Err(). Without WithTLS,
// NewContext does not block and ctx is not used.
func NewContext(ctx context.Context, conn net.Conn, opts ...Option) (*Reader, *Writer, error) {
	c := newConfig(opts)
	if c.err == nil && c.tls != nil && c.tls.ServerName == "" && !c.tls.InsecureSkipVerify {
		c.err = fmt.Errorf("%w: tls: no ServerName in the config and no host to take it from", ErrInvalidArgument)
	}
	if c.err != nil {
		_ = conn.Close()
		return nil, nil, fmt.Errorf("chanstream: new: %w", c.err)
	}
	r, w, err := c.adopt(ctx, conn, "", opts)
	if err != nil {
		return nil, nil, fmt.Errorf("chanstream: new: %w", err)
	}
	return r, w, nil
}

// adopt is the code NewContext and OpenConnection share, for a config
// without an error: the TLS client handshake when c asks for one (its
// ServerName defaults to host when host is not ""), then New. On error
// conn is closed.
func (c *config) adopt(ctx context.Context, conn net.Conn, host string, opts []Option) (*Reader, *Writer, error) {
	if c.tls != nil {
		tc, err := c.handshake(ctx, conn, host)
		if err != nil {
			return nil, nil, err
		}
		conn = tc
	}
	r, w := New(conn, opts...)
	return r, w, nil
}
