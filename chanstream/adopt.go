package chanstream

import (
	"context"
	"crypto/tls"
	"net"
)

// NewContext adopts conn, a connection the caller dialed (a Unix-domain
// socket, a net.Pipe, a TCP connection made some other way), and returns
// its Reader and Writer as [New] does, after the [WithTLS] handshake when
// that option is given. [OpenConnection] runs the same code after it
// connects; unix.OpenConnection calls NewContext.
//
// Unlike New, NewContext does not panic: an invalid option, or one New
// would not take, is an error wrapping [ErrInvalidArgument] that names
// it, and so are a nil ctx and a nil conn. With WithTLS, conn is wrapped
// in a TLS client — a TLS server with [WithServerSide] — and the handshake
// runs before the Reader and Writer start, bounded by ctx and
// [WithTLSHandshakeTimeout]; the config is cloned and never modified. As
// there is no host name here, a client's config must name the server
// (tls.Config.ServerName) unless it sets InsecureSkipVerify; otherwise the
// error wraps ErrInvalidArgument.
//
// NewContext owns conn once called: on any error conn is closed, so the
// caller has nothing to clean up. A handshake error says "tls handshake";
// when ctx ended during it, the error wraps ctx.Err(). Without WithTLS,
// NewContext does not block and ctx is not used.
func NewContext(ctx context.Context, conn net.Conn, opts ...Option) (*Reader, *Writer, error) {
	if conn == nil {
		return nil, nil, nilArg(useNewContext)
	}
	c := newConfig(opts)
	err := c.checkFor(useNewContext, conn)
	if err == nil && ctx == nil {
		err = invalid("NewContext", "nil ctx")
	}
	if err != nil {
		_ = conn.Close()
		return nil, nil, err
	}
	r, w, err := c.adopt(ctx, conn, "", opts)
	if err != nil {
		return nil, nil, withOp("new context", err)
	}
	return r, w, nil
}

// adopt is the code NewContext and OpenConnection share, for a config
// that passed its check: the TLS handshake when c asks for one (a client's
// ServerName defaults to host when host is not ""), then New with opts and
// a last option that tells New both. host, when not "", is recorded as
// the stream's DialHost. On error conn is closed.
func (c *config) adopt(ctx context.Context, conn net.Conn, host string, opts []Option) (*Reader, *Writer, error) {
	if c.tlsSet {
		if c.tls == nil {
			c.tls = &tls.Config{} // a client's zero config, as tls.Dial; what sslcontext reports
		}
		tc, err := c.handshake(ctx, conn, host)
		if err != nil {
			return nil, nil, err
		}
		conn = tc
	}
	r, w := New(conn, append(opts[:len(opts):len(opts)], adopted(c.tls, host))...)
	return r, w, nil
}

// adopted is the last option adopt gives New: the dial options were
// OpenConnection's and have been applied, and WithTLS's layer is conn
// itself, its handshake done; tlsCfg is what ExtraInfo("sslcontext")
// reports; host is the one dialed, for DialHost.
func adopted(tlsCfg *tls.Config, host string) Option {
	return func(c *config) {
		c.dialHost = host
		c.given &^= dialOnly
		if c.tlsSet {
			c.tlsDone, c.tls = true, tlsCfg
		}
	}
}
