package tlsup

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/cspstream/streams/chanstream"
)

type config struct {
	handshakeTimeout time.Duration
	shutdownTimeout  time.Duration // 0: the stream's own (WithTLSShutdownTimeout, 30 s by default)
	side             side
	err              error // the first invalid option
}

type side uint8

const (
	sideOfStream side = iota // w.ServerSide()
	sideServer
	sideClient
)

// Option configures StartTLS.
type Option func(*config)

// WithHandshakeTimeout bounds the handshake (default 60 s); when it passes,
// StartTLS fails and the stream is aborted. d ≤ 0 is invalid.
func WithHandshakeTimeout(d time.Duration) Option {
	return func(c *config) { c.handshakeTimeout = c.positive("handshake timeout", d, c.handshakeTimeout) }
}

// WithShutdownTimeout bounds Close's flush and close_notify after the
// upgrade; then the connection is closed regardless. Without it the
// stream's own bound holds (chanstream.WithTLSShutdownTimeout, default
// 30 s). d ≤ 0 is invalid.
func WithShutdownTimeout(d time.Duration) Option {
	return func(c *config) { c.shutdownTimeout = c.positive("shutdown timeout", d, c.shutdownTimeout) }
}

// AsServer runs the server side of the handshake, whatever the stream's
// side.
func AsServer() Option { return func(c *config) { c.side = sideServer } }

// AsClient runs the client side of the handshake, whatever the stream's
// side.
func AsClient() Option { return func(c *config) { c.side = sideClient } }

// positive returns d, or old after recording the error when d ≤ 0.
func (c *config) positive(what string, d, old time.Duration) time.Duration {
	if d <= 0 {
		c.fail(fmt.Errorf("%w: %s %v ≤ 0", chanstream.ErrInvalidArgument, what, d))
		return old
	}
	return d
}

func (c *config) fail(err error) {
	if c.err == nil {
		c.err = err
	}
}

// StartTLS upgrades w's stream to TLS with cfg and returns once the
// handshake is done: asyncio's start_tls. It writes what is queued first,
// in plain text, and waits for a read in progress to finish (as
// [chanstream.Writer.Upgrade]); the bytes received and not read go to the
// handshake. The side is w.ServerSide() unless AsServer or AsClient says
// otherwise. A client verifies the server's name, as tls.Client does: when
// cfg has no ServerName and does not set InsecureSkipVerify, the name is
// the host the stream was dialed to ([chanstream.Writer.DialHost], the
// host of chanstream.OpenConnection's address), in a clone of cfg; a
// stream that was not dialed by name (New, NewContext) has none, and then
// StartTLS returns an error wrapping [chanstream.ErrInvalidArgument]
// before it touches the stream.
//
// It returns ctx.Err() when ctx ends before the handshake starts, with the
// stream as it was. A failed or timed-out handshake (ctx ending during it
// too) aborts the stream and returns an error that says "tls handshake"
// and wraps the cause; the stream's reads and Reader.Err then report it
// too. After Close or Abort it returns an error wrapping
// [chanstream.ErrClosed]; on a stream whose source has ended, one saying
// so; for a NewWriter, one wrapping errors.ErrUnsupported. An invalid
// option, a nil ctx, w or cfg returns an error wrapping
// [chanstream.ErrInvalidArgument] and changes nothing. It blocks until the
// handshake ends.
//
// A second StartTLS runs TLS inside the first, as asyncio does. After
// StartTLS, ExtraInfo("sslcontext") is the config the handshake ran with:
// cfg, or its clone with the dialed host as ServerName.
func StartTLS(ctx context.Context, w *chanstream.Writer, cfg *tls.Config, opts ...Option) error {
	c := config{handshakeTimeout: 60 * time.Second}
	for _, o := range opts {
		o(&c)
	}
	switch {
	case ctx == nil:
		c.fail(fmt.Errorf("%w: nil ctx", chanstream.ErrInvalidArgument))
	case w == nil:
		c.fail(fmt.Errorf("%w: nil Writer", chanstream.ErrInvalidArgument))
	case cfg == nil:
		c.fail(fmt.Errorf("%w: nil tls.Config", chanstream.ErrInvalidArgument))
	}
	if c.err != nil {
		return fmt.Errorf("tlsup: start tls: %w", c.err)
	}
	server := c.side == sideServer || (c.side == sideOfStream && w.ServerSide())
	if !server && cfg.ServerName == "" && !cfg.InsecureSkipVerify && w.Conn() != nil {
		// A client must verify the server's name, as tls.Client does; take
		// the host the stream was dialed to, as OpenConnection does.
		host := w.DialHost()
		if host == "" {
			return fmt.Errorf("tlsup: start tls: %w: no ServerName in the config and no host the stream was dialed to (set ServerName)", chanstream.ErrInvalidArgument)
		}
		cfg = cfg.Clone()
		cfg.ServerName = host
		if ip, err := netip.ParseAddr(host); err == nil {
			cfg.ServerName = ip.WithZone("").String() // a zone is not part of the certificate's name
		}
	}
	err := w.Upgrade(ctx, func(ctx context.Context, conn net.Conn, unread []byte) (net.Conn, error) {
		if len(unread) > 0 {
			conn = &replayConn{Conn: conn, unread: unread}
		}
		var tc *tls.Conn
		if server {
			tc = tls.Server(conn, cfg)
		} else {
			tc = tls.Client(conn, cfg)
		}
		hctx, cancel := context.WithTimeout(ctx, c.handshakeTimeout)
		defer cancel()
		if err := tc.HandshakeContext(hctx); err != nil {
			if ctx.Err() == nil && errors.Is(hctx.Err(), context.DeadlineExceeded) {
				return nil, fmt.Errorf("tls handshake: timed out after %v: %w", c.handshakeTimeout, err)
			}
			return nil, fmt.Errorf("tls handshake: %w", err)
		}
		if c.shutdownTimeout > 0 { // before Upgrade goes on: a Close made meanwhile is bounded by it
			_ = w.SetTLSShutdownTimeout(c.shutdownTimeout)
		}
		w.SetTLSConfig(cfg) // ExtraInfo("sslcontext")
		return tc, nil
	})
	switch {
	case err == nil:
		return nil
	case err == ctx.Err(): // ended before the handshake: the stream goes on as it was
		return err
	}
	return fmt.Errorf("tlsup: start tls: %w", err)
}

// replayConn is a connection with the bytes read from it before the
// upgrade put back in front: the TLS layer reads them first. NetConn says
// what it wraps, so that the stream's ExtraInfo("socket") and
// unix.PeerCredentials look through it. Used by the TLS layer alone.
type replayConn struct {
	net.Conn
	unread []byte
}

func (c *replayConn) Read(p []byte) (int, error) {
	if len(c.unread) > 0 {
		n := copy(p, c.unread)
		c.unread = c.unread[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// NetConn returns the connection under c.
func (c *replayConn) NetConn() net.Conn { return c.Conn }
