package chanstream

import (
	"crypto/tls"
	"net"
	"time"
)

// DefaultLimit is the Reader's default buffer limit, asyncio's 64 KiB.
const DefaultLimit = 64 << 10

// DefaultHighWater is the Writer's default high watermark; the low
// watermark defaults to a quarter of it.
const DefaultHighWater = 64 << 10

// Option configures a stream. One option type serves every constructor;
// an option that has no meaning for a constructor is ignored by it.
type Option func(*config)

// config is what the options set. err is the first invalid option; the
// constructors report it (New, NewReader and NewWriter panic with it).
type config struct {
	limit      int
	high, low  int
	serverSide bool

	tls              *tls.Config
	handshakeTimeout time.Duration
	shutdownTimeout  time.Duration

	network    string
	localAddr  string
	heDelay    time.Duration
	interleave int
	keepAlive  time.Duration
	dialer     *net.Dialer

	err error
}

func newConfig(opts []Option) *config {
	c := &config{
		limit:            DefaultLimit,
		high:             DefaultHighWater,
		low:              DefaultHighWater / 4,
		handshakeTimeout: 60 * time.Second,
		shutdownTimeout:  30 * time.Second,
		network:          "tcp",
		heDelay:          250 * time.Millisecond,
		interleave:       1,
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

func (c *config) invalid(err error) {
	if c.err == nil {
		c.err = err
	}
}

// mustConfig returns the config of opts or panics with the first invalid
// option's error, for constructors that have no error result.
func mustConfig(opts []Option) *config {
	c := newConfig(opts)
	if c.err != nil {
		panic(c.err)
	}
	return c
}

// WithLimit sets the Reader's buffer limit (default [DefaultLimit]): the
// longest line or separator search ReadLine and ReadUntil accept, and half
// of the read-ahead the Reader keeps before it stops reading the source.
// n ≤ 0 is invalid.
func WithLimit(n int) Option {
	return func(c *config) {
		if n <= 0 {
			c.invalid(invalid("with limit", "limit %d ≤ 0", n))
			return
		}
		c.limit = n
	}
}

// WithWriteBufferLimits sets the Writer's watermarks exactly: Drain waits
// while more than high bytes are queued, until at most low remain. It is
// invalid unless high ≥ low ≥ 0.
func WithWriteBufferLimits(high, low int) Option {
	return func(c *config) {
		if err := checkWatermarks(high, low); err != nil {
			c.invalid(err)
			return
		}
		c.high, c.low = high, low
	}
}

func checkWatermarks(high, low int) error {
	if low < 0 || high < low {
		return invalid("write buffer limits", "need high ≥ low ≥ 0, have high %d, low %d", high, low)
	}
	return nil
}

// WithServerSide marks the stream as the accepting side of its connection
// (the server package sets it); see [Writer.ServerSide].
func WithServerSide() Option { return func(c *config) { c.serverSide = true } }

// WithTLS makes OpenConnection run a TLS client handshake right after
// connecting. ServerName comes from the host unless cfg sets it.
func WithTLS(cfg *tls.Config) Option { return func(c *config) { c.tls = cfg } }

// WithTLSHandshakeTimeout bounds the TLS handshake (default 60 s).
func WithTLSHandshakeTimeout(d time.Duration) Option {
	return func(c *config) { c.handshakeTimeout = d }
}

// WithTLSShutdownTimeout bounds the flush and close_notify after Close over
// TLS (default 30 s); then the connection is closed regardless.
func WithTLSShutdownTimeout(d time.Duration) Option {
	return func(c *config) { c.shutdownTimeout = d }
}

// WithNetwork selects the address family OpenConnection dials: "tcp"
// (default), "tcp4" or "tcp6".
func WithNetwork(network string) Option { return func(c *config) { c.network = network } }

// WithLocalAddr binds the local end to addr ("host:port") before connecting.
func WithLocalAddr(addr string) Option { return func(c *config) { c.localAddr = addr } }

// WithHappyEyeballsDelay sets the RFC 8305 delay between connection
// attempts (default 250 ms); 0 tries one address at a time, in order.
func WithHappyEyeballsDelay(d time.Duration) Option {
	return func(c *config) { c.heDelay = d }
}

// WithInterleave sets how many addresses of the first family come before
// the other family's first (default 1 when happy eyeballs is on).
func WithInterleave(n int) Option { return func(c *config) { c.interleave = n } }

// WithKeepAlive sets the TCP keep-alive period; d < 0 disables keep-alive.
func WithKeepAlive(d time.Duration) Option { return func(c *config) { c.keepAlive = d } }

// WithDialer makes OpenConnection use d for every connection attempt.
func WithDialer(d *net.Dialer) Option { return func(c *config) { c.dialer = d } }
