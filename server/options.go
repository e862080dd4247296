package server

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"time"

	"github.com/cspstream/streams/chanstream"
)

// DefaultBacklog is the listen(2) backlog of the sockets Start makes,
// asyncio's default.
const DefaultBacklog = 100

// Option configures a Server. Invalid values make Start and StartListener
// return an error wrapping [chanstream.ErrInvalidArgument].
type Option func(*config)

// config is what the options set. err is the first invalid option.
type config struct {
	backlog          int
	reuseAddr        bool
	reuseAddrSet     bool
	reusePort        bool
	keepAlive        time.Duration
	keepAliveSet     bool
	tls              *tls.Config
	handshakeTimeout time.Duration
	shutdownTimeout  time.Duration
	handshakeSet     bool
	shutdownSet      bool
	startServing     bool
	streamOpts       []chanstream.Option
	network          string
	maxConns         int
	logger           *slog.Logger

	err error
}

func newConfig(opts []Option) *config {
	c := &config{
		backlog:          DefaultBacklog,
		handshakeTimeout: 60 * time.Second,
		startServing:     true,
		network:          "tcp",
	}
	for _, o := range opts {
		o(c)
	}
	if c.err == nil {
		c.err = c.check()
	}
	if c.logger == nil {
		c.logger = slog.Default()
	}
	return c
}

// check finds what no single option can see: combinations and stream options.
func (c *config) check() error {
	if c.tls == nil && (c.handshakeSet || c.shutdownSet) {
		return invalid("TLS timeouts are only meaningful with WithTLS")
	}
	if err := chanstream.CheckServerOptions(c.streamOpts...); err != nil {
		return fmt.Errorf("server: stream options: %w", err)
	}
	return nil
}

func (c *config) invalid(err error) {
	if c.err == nil {
		c.err = err
	}
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("server: %w: %s", chanstream.ErrInvalidArgument, fmt.Sprintf(format, args...))
}

// WithBacklog sets the listen(2) backlog of the sockets Start makes
// (default [DefaultBacklog]): how many connections the kernel completes and
// queues before the server accepts them. n < 0 is invalid. It has no effect
// on StartListener's listener.
func WithBacklog(n int) Option {
	return func(c *config) {
		if n < 0 {
			c.invalid(invalid("backlog %d < 0", n))
			return
		}
		c.backlog = n
	}
}

// WithReuseAddress sets SO_REUSEADDR on the sockets Start makes. Go sets it
// by default on Unix (as asyncio does), so only WithReuseAddress(false)
// changes anything there.
func WithReuseAddress(on bool) Option {
	return func(c *config) { c.reuseAddr, c.reuseAddrSet = on, true }
}

// WithReusePort sets SO_REUSEPORT on the sockets Start makes, so that
// several servers can bind the same port and the kernel spreads the
// connections among them. Where the platform lacks it, Start fails.
func WithReusePort(on bool) Option { return func(c *config) { c.reusePort = on } }

// WithKeepAlive sets the TCP keep-alive period of accepted connections;
// d < 0 disables keep-alive. Without it, Go's default (15 s) applies to the
// sockets Start makes and StartListener's connections are left as they are.
func WithKeepAlive(d time.Duration) Option {
	return func(c *config) { c.keepAlive, c.keepAliveSet = d, true }
}

// WithTLS makes the server run a TLS server handshake on every accepted
// connection, in that connection's goroutine, before its handler runs. A
// connection whose handshake fails or times out is closed; the handler
// never sees it.
func WithTLS(cfg *tls.Config) Option {
	return func(c *config) {
		if cfg == nil {
			c.invalid(invalid("nil TLS config"))
			return
		}
		c.tls = cfg
	}
}

// WithTLSHandshakeTimeout bounds each TLS handshake (default 60 s): a
// client that stays silent is dropped after d without holding up the accept
// loop or other clients. d ≤ 0 is invalid, and so is using it without
// WithTLS (asyncio's rule).
func WithTLSHandshakeTimeout(d time.Duration) Option {
	return func(c *config) {
		if d <= 0 {
			c.invalid(invalid("TLS handshake timeout %v ≤ 0", d))
			return
		}
		c.handshakeTimeout, c.handshakeSet = d, true
	}
}

// WithTLSShutdownTimeout bounds the flush and close_notify after a TLS
// connection's Close (chanstream's default 30 s applies without it); it is
// passed on as [chanstream.WithTLSShutdownTimeout]. d ≤ 0 is invalid, and
// so is using it without WithTLS.
func WithTLSShutdownTimeout(d time.Duration) Option {
	return func(c *config) {
		if d <= 0 {
			c.invalid(invalid("TLS shutdown timeout %v ≤ 0", d))
			return
		}
		c.shutdownTimeout, c.shutdownSet = d, true
	}
}

// WithStartServing(false) makes Start and StartListener bind and listen
// but accept nothing until StartServing or ServeForever (default true).
// The kernel still completes up to the backlog's worth of connections.
func WithStartServing(on bool) Option { return func(c *config) { c.startServing = on } }

// WithStreamOptions passes opts to [chanstream.New] for every accepted
// connection, after [chanstream.WithServerSide]. They are checked when the
// server is made ([chanstream.CheckServerOptions]): an option New would not
// take, and the options the server has its own of — chanstream.WithTLS
// (use [WithTLS]), chanstream.WithTLSHandshakeTimeout (use
// [WithTLSHandshakeTimeout]) and chanstream.WithKeepAlive (use
// [WithKeepAlive]) — make Start fail with an error wrapping
// [chanstream.ErrInvalidArgument] that names the option and points to the
// server's.
func WithStreamOptions(opts ...chanstream.Option) Option {
	return func(c *config) { c.streamOpts = append(c.streamOpts, opts...) }
}

// WithNetwork selects the address family Start binds: "tcp" (default,
// every family the host resolves to), "tcp4" or "tcp6" (asyncio's family).
func WithNetwork(network string) Option {
	return func(c *config) {
		switch network {
		case "tcp", "tcp4", "tcp6":
			c.network = network
		default:
			c.invalid(invalid("network %q (want tcp, tcp4 or tcp6)", network))
		}
	}
}

// WithMaxConns limits the server to n live connections: at n, the accept
// loops wait until one ends, and further clients wait in the backlog.
// 0 (default) means no limit; n < 0 is invalid.
func WithMaxConns(n int) Option {
	return func(c *config) {
		if n < 0 {
			c.invalid(invalid("max conns %d < 0", n))
			return
		}
		c.maxConns = n
	}
}

// WithLogger sets where the server logs (default slog.Default()): handler
// errors, recovered panics (the value, and the stack one attribute per
// frame: "stack.0", "stack.1", … from the panicking function down), failed
// TLS handshakes and accept errors; at Info, accepting paused at
// [WithMaxConns] and a Shutdown that aborted connections at its deadline;
// at Debug, accepting resumed, Shutdown's beginning and end, and handlers
// ended by their ctx.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// CheckOptions returns the error an invalid option in opts would make
// Start return — one wrapping [chanstream.ErrInvalidArgument] — or nil.
// Packages that make a listener before they call StartListener (unix) call
// it first, so that a bad option touches nothing. It does not block.
func CheckOptions(opts ...Option) error { return newConfig(opts).err }
