package chanstream

import (
	"crypto/tls"
	"net"
	"time"

	"github.com/cspstream/streams/internal/resolve"
)

// DefaultLimit is the Reader's default buffer limit, asyncio's 64 KiB.
const DefaultLimit = 64 << 10

// DefaultHighWater is the Writer's default high watermark; the low
// watermark defaults to a quarter of it.
const DefaultHighWater = 64 << 10

// Option configures a stream. One option type serves every constructor,
// and no option is ever ignored: one that a call cannot apply makes the
// call fail with an error wrapping [ErrInvalidArgument] that names the
// option (New, NewReader and NewWriter panic with it). The package doc's
// "Options" section has the table of which option applies where.
type Option func(*config)

// config is what the options set. err is the first invalid option; the
// constructors report it (New, NewReader and NewWriter panic with it).
type config struct {
	limit      int
	high, low  int
	maxWrite   int // WithMaxWriteBuffer (maxbuf.go); 0: unbounded
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
	lookup     resolve.LookupFunc // resolves names for OpenConnection; nil: the dialer's resolver (tests set it)

	given    optionSet // which options were given, for the checks of where they apply (check.go)
	tlsSet   bool      // WithTLS was given, with a nil config or not
	tlsDone  bool      // the conn is already the TLS layer WithTLS asked for (NewContext, OpenConnection)
	dialHost string    // the host OpenConnection dialed, for DialHost; set by adopt

	err error // the first invalid option value
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
		interleave:       -1, // unset: 1 when happy eyeballs is on, else 0
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

// WithLimit sets the Reader's buffer limit (default [DefaultLimit]): the
// longest line or separator search ReadLine and ReadUntil accept, and half
// of the read-ahead the Reader keeps before it stops reading the source.
// n ≤ 0 is invalid.
func WithLimit(n int) Option {
	return func(c *config) {
		c.given |= optLimit
		if n <= 0 {
			c.invalid(invalid("WithLimit", "limit %d ≤ 0", n))
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
		c.given |= optWriteBufferLimits
		if low < 0 || high < low {
			c.invalid(invalid("WithWriteBufferLimits", "need high ≥ low ≥ 0, have high %d, low %d", high, low))
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
func WithServerSide() Option {
	return func(c *config) { c.given |= optServerSide; c.serverSide = true }
}

// WithTLS runs TLS over the stream's connection: for OpenConnection and
// NewContext a handshake right after connecting, before they return; for
// New a tls.Client over conn — a tls.Server with [WithServerSide] — whose
// handshake the stream's reader goroutine runs first, without New waiting
// for it. That handshake is bounded by a deadline on conn,
// [WithTLSHandshakeTimeout] (default 60 s) after New, which the reader
// goroutine clears when the handshake succeeds (a Close ends it at once).
// A failed or timed-out handshake fails the
// stream: reads and Err report its error. Reads, writes and ExtraInfo's
// "peercert", "cipher" and "tls" wait for the handshake, as crypto/tls's
// do. Conn() is then the *tls.Conn, ExtraInfo("socket") conn. cfg is
// never modified. A nil cfg is a zero tls.Config for a
// client, as for tls.Dial: ServerName comes from the host OpenConnection
// dialed. A client needs a server name: cfg.ServerName, the host
// OpenConnection dialed, or cfg.InsecureSkipVerify; New and NewContext
// have no host, so without one of the others they fail. A server side
// needs a cfg with a certificate; WithTLS(nil) is invalid there.
// ExtraInfo("sslcontext") reports cfg (the zero config for nil).
func WithTLS(cfg *tls.Config) Option {
	return func(c *config) { c.given |= optTLS; c.tls, c.tlsSet = cfg, true }
}

// WithTLSHandshakeTimeout bounds the TLS handshake (default 60 s). d ≤ 0
// is invalid.
func WithTLSHandshakeTimeout(d time.Duration) Option {
	return func(c *config) {
		c.given |= optTLSHandshakeTimeout
		if d <= 0 {
			c.invalid(invalid("WithTLSHandshakeTimeout", "%v ≤ 0", d))
			return
		}
		c.handshakeTimeout = d
	}
}

// WithTLSShutdownTimeout bounds the flush and close_notify after Close over
// TLS (default 30 s) — whenever the connection is a *tls.Conn at Close:
// OpenConnection with WithTLS, New of a *tls.Conn, a stream upgraded to
// TLS. Then the connection is closed regardless. d ≤ 0 is invalid.
func WithTLSShutdownTimeout(d time.Duration) Option {
	return func(c *config) {
		c.given |= optTLSShutdownTimeout
		if d <= 0 {
			c.invalid(invalid("WithTLSShutdownTimeout", "%v ≤ 0", d))
			return
		}
		c.shutdownTimeout = d
	}
}

// WithNetwork selects the address family OpenConnection dials: "tcp"
// (default, both), "tcp4" or "tcp6" — asyncio's family. Any other network
// is invalid.
func WithNetwork(network string) Option {
	return func(c *config) {
		c.given |= optNetwork
		switch network {
		case "tcp", "tcp4", "tcp6":
			c.network = network
		default:
			c.invalid(invalid("WithNetwork", "unknown network %q (want tcp, tcp4 or tcp6)", network))
		}
	}
}

// WithLocalAddr binds the local end to addr ("host:port", port 0 for any)
// before connecting; each attempt binds the first of host's addresses of
// its family (asyncio's local_addr).
func WithLocalAddr(addr string) Option {
	return func(c *config) { c.given |= optLocalAddr; c.localAddr = addr }
}

// WithHappyEyeballsDelay sets the RFC 8305 delay between connection
// attempts (default 250 ms): the next address is tried when this much time
// has passed since the last attempt started, or at once when that attempt
// fails. 0 tries one address at a time, in order. d < 0 is invalid.
func WithHappyEyeballsDelay(d time.Duration) Option {
	return func(c *config) {
		c.given |= optHappyEyeballsDelay
		if d < 0 {
			c.invalid(invalid("WithHappyEyeballsDelay", "%v < 0", d))
			return
		}
		c.heDelay = d
	}
}

// WithInterleave sets how many addresses of the first family come before
// the other family's first (asyncio's interleave): the resolved addresses
// are grouped by family, n-1 of the first family's lead, then the families
// alternate. The default is 1 when happy eyeballs is on, and 0 — the
// resolver's order — when it is off. n < 0 is invalid.
func WithInterleave(n int) Option {
	return func(c *config) {
		c.given |= optInterleave
		if n < 0 {
			c.invalid(invalid("WithInterleave", "%d < 0", n))
			return
		}
		c.interleave = n
	}
}

// WithKeepAlive sets the TCP keep-alive period of OpenConnection's
// connection; d < 0 disables keep-alive; 0 (the default) leaves the
// dialer's setting (net.Dialer's default: on, every 15 s).
func WithKeepAlive(d time.Duration) Option {
	return func(c *config) { c.given |= optKeepAlive; c.keepAlive = d }
}

// WithDialer makes OpenConnection use d for every connection attempt: its
// Resolver, Control/ControlContext, Timeout, KeepAlive and LocalAddr hold
// unless another option sets them. Each attempt dials with a copy; d itself
// is never modified.
func WithDialer(d *net.Dialer) Option {
	return func(c *config) { c.given |= optDialer; c.dialer = d }
}
