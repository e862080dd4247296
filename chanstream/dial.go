package chanstream

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/cspstream/streams/internal/connlabel"
	"github.com/cspstream/streams/internal/resolve"
)

// OpenConnection connects to addr ("host:port") and returns the
// connection's Reader and Writer, as New does: asyncio's open_connection.
//
// The host is resolved under ctx, and every address it resolves to is a
// candidate (only one family with [WithNetwork] "tcp4" or "tcp6"). The
// candidates are tried as RFC 8305 (happy eyeballs) and asyncio say: the
// families interleaved ([WithInterleave]), each attempt started
// [WithHappyEyeballsDelay] after the one before it, or at once when that one
// fails; the first connection wins and every other is closed. With a delay
// of 0 the addresses are tried one at a time, in order. [WithDialer],
// [WithLocalAddr] and [WithKeepAlive] shape every attempt; TCP_NODELAY is
// on, as asyncio sets it. With [WithTLS] a TLS client handshake follows,
// bounded by [WithTLSHandshakeTimeout] and ctx; WithTLS(nil) is a zero
// tls.Config, as tls.Dial uses, and ServerName comes from the host unless
// the config sets it. The host is the stream's [Writer.DialHost].
//
// OpenConnection blocks until connected, or until every attempt failed or
// ctx ended; no attempt, goroutine or socket outlives it. Errors name addr:
// an invalid option, one OpenConnection does not take ([WithServerSide]),
// a nil ctx or an address without a port wraps [ErrInvalidArgument]; a name that does not resolve, the resolver's
// *net.DNSError; when every attempt failed, the errors of all of them joined
// (errors.Is(err, syscall.ECONNREFUSED) holds when one was refused); when
// ctx ended, ctx.Err() joined with them; a failed handshake says "tls
// handshake" and closes the socket. Names under the reserved ".invalid"
// top-level domain fail at once, without a query (RFC 6761).
func OpenConnection(ctx context.Context, addr string, opts ...Option) (*Reader, *Writer, error) {
	c := newConfig(opts)
	err := c.checkFor(useDial, nil)
	if err == nil && ctx == nil {
		err = invalid("OpenConnection", "nil ctx")
	}
	if err != nil {
		return nil, nil, withOp("open connection "+addr, err)
	}
	conn, host, err := c.connect(ctx, addr)
	if err != nil {
		return nil, nil, withOp("open connection "+addr, err)
	}
	r, w, err := c.adopt(ctx, conn, host, opts)
	if err != nil {
		return nil, nil, withOp("open connection "+addr, err)
	}
	return r, w, nil
}

// target is one connection attempt: an address of the peer and the local
// address to bind for it (nil: the dialer's).
type target struct {
	network string // "tcp4" or "tcp6"
	addr    netip.AddrPort
	local   net.Addr
	err     error // why this address cannot be tried (no local address of its family)
}

// connect resolves addr and races the attempts. It returns the winning
// connection and the host, for TLS's ServerName.
func (c *config) connect(ctx context.Context, addr string) (net.Conn, string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, "", fmt.Errorf("%w: %w", ErrInvalidArgument, err)
	}
	d := c.baseDialer()
	res := d.Resolver // WithDialer's resolver holds for names and ports
	if res == nil {
		res = net.DefaultResolver
	}
	var lookup resolve.LookupFunc = res.LookupNetIP
	if c.lookup != nil {
		lookup = c.lookup
	}
	ips, p, err := c.resolve(ctx, res, lookup, host, port)
	if err != nil {
		return nil, "", err
	}
	var locals []netip.Addr
	var localPort uint16
	if c.localAddr != "" {
		lh, lp, err := net.SplitHostPort(c.localAddr)
		if err != nil {
			return nil, "", invalidCause("local address", err)
		}
		if lh != "" {
			if locals, localPort, err = c.resolve(ctx, res, lookup, lh, lp); err != nil {
				return nil, "", fmt.Errorf("local address: %w", err)
			}
		} else if localPort, err = resolve.Port(ctx, res, lp); err != nil {
			return nil, "", fmt.Errorf("local address: %w", err)
		}
	}
	n := c.interleave
	if n < 0 { // unset: asyncio turns interleaving on with happy eyeballs
		n = 0
		if c.heDelay > 0 {
			n = 1
		}
	}
	ips = interleave(ips, n)
	targets := make([]target, len(ips))
	for i, ip := range ips {
		t := &targets[i]
		t.addr = netip.AddrPortFrom(ip, p)
		t.network = "tcp6"
		if ip.Is4() {
			t.network = "tcp4"
		}
		if c.localAddr != "" {
			t.local, t.err = localFor(ip, locals, localPort, c.localAddr)
		}
	}
	conn, err := race(ctx, d, targets, c.heDelay)
	return conn, host, err
}

// baseDialer is the dialer every attempt copies: the user's, with the
// keep-alive option applied.
func (c *config) baseDialer() *net.Dialer {
	d := new(net.Dialer)
	if c.dialer != nil {
		*d = *c.dialer // a copy: the user's dialer is never modified
	}
	switch {
	case c.keepAlive < 0:
		d.KeepAlive = -1
		d.KeepAliveConfig.Enable = false
	case c.keepAlive > 0:
		d.KeepAlive = c.keepAlive
		if d.KeepAliveConfig.Enable {
			d.KeepAliveConfig.Idle = c.keepAlive
		}
	}
	return d
}

// resolve returns the addresses of host that the network allows, each
// once, and the port, looked up with res. An empty host means the local
// system, as getaddrinfo(None) does.
func (c *config) resolve(ctx context.Context, res *net.Resolver, lookup resolve.LookupFunc, host, port string) ([]netip.Addr, uint16, error) {
	p, err := resolve.Port(ctx, res, port)
	if err != nil {
		return nil, 0, err
	}
	ips, err := resolve.Host(ctx, lookup, c.network, host, localSystem)
	if err != nil {
		return nil, 0, err
	}
	return ips, p, nil
}

// localSystem is what an empty host dials: the loopback addresses.
var localSystem = []netip.Addr{netip.IPv6Loopback(), netip.AddrFrom4([4]byte{127, 0, 0, 1})}

// localFor picks the first local address of ip's family.
func localFor(ip netip.Addr, locals []netip.Addr, port uint16, spec string) (net.Addr, error) {
	if len(locals) == 0 { // host "": any address of the family, this port
		return &net.TCPAddr{Port: int(port)}, nil
	}
	for _, l := range locals {
		if l.Is4() == ip.Is4() {
			return net.TCPAddrFromAddrPort(netip.AddrPortFrom(l, port)), nil
		}
	}
	return nil, fmt.Errorf("dial %s: no local address of its family in %s", ip, spec)
}

// interleave orders addresses as asyncio's _interleave_addrinfos: grouped
// by family in order of first appearance, the first first-1 of the first
// family lead, then the families alternate. first 0 keeps the order.
func interleave(ips []netip.Addr, first int) []netip.Addr {
	if first == 0 || len(ips) < 3 { // two addresses keep their order either way
		return ips
	}
	var a, b []netip.Addr // the first address's family, the other
	for _, ip := range ips {
		if ip.Is4() == ips[0].Is4() {
			a = append(a, ip)
		} else {
			b = append(b, ip)
		}
	}
	out := make([]netip.Addr, 0, len(ips))
	k := min(first-1, len(a))
	out, a = append(out, a[:k]...), a[k:]
	for len(a) > 0 || len(b) > 0 {
		if len(a) > 0 {
			out, a = append(out, a[0]), a[1:]
		}
		if len(b) > 0 {
			out, b = append(out, b[0]), b[1:]
		}
	}
	return out
}

// attempt is what one connection attempt reports.
type attempt struct {
	i    int
	conn net.Conn
	err  error
}

// race runs the attempts as RFC 8305's staggered start: one at a time
// after delay, or the next at once when the latest one fails. The first
// connection wins; race cancels the others and waits for every attempt to
// report — closing any other connection — before it returns, so no
// goroutine outlives it. One goroutine runs per live attempt; a single
// candidate is dialed in the caller's goroutine.
func race(ctx context.Context, d *net.Dialer, targets []target, delay time.Duration) (net.Conn, error) {
	if len(targets) == 1 {
		t := &targets[0]
		if t.err != nil {
			return nil, t.err
		}
		return dialOne(ctx, *d, t)
	}
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Every attempt sends exactly once; the capacity lets it do so without
	// waiting, so an attempt that loses never blocks.
	results := make(chan attempt, len(targets))
	errs := make([]error, len(targets))
	var timer *time.Timer
	var tick <-chan time.Time // the timer's channel while another attempt is due
	next, latest, live := 0, -1, 0
	start := func() {
		for ; next < len(targets); next++ {
			t := &targets[next]
			if t.err != nil {
				errs[next] = t.err
				continue
			}
			i := next
			latest, live = i, live+1
			go func() {
				connlabel.OfAddrs(t.local, net.TCPAddrFromAddrPort(t.addr)).Apply()
				conn, err := dialOne(ctx, *d, t)
				results <- attempt{i, conn, err}
			}()
			next++
			break
		}
		tick = nil
		if delay > 0 && next < len(targets) {
			if timer == nil {
				timer = time.NewTimer(delay)
			} else {
				timer.Reset(delay)
			}
			tick = timer.C
		}
	}
	start()
	var won net.Conn
	for live > 0 {
		select {
		case a := <-results:
			live--
			switch {
			case a.err != nil:
				errs[a.i] = a.err
				if a.i == latest && won == nil && ctx.Err() == nil {
					start() // RFC 8305: the latest failed, the next need not wait
				}
			case won == nil:
				won = a.conn
				cancel() // the others give up at once
				tick = nil
			default:
				a.conn.Close() // a loser that connected too
			}
			if live == 0 && won == nil && ctx.Err() == nil && next < len(targets) {
				start() // every attempt so far failed before its successor was due
			}
		case <-tick:
			tick = nil
			if ctx.Err() == nil {
				start()
			}
		}
	}
	if timer != nil {
		timer.Stop()
	}
	if won != nil {
		return won, nil
	}
	if err := parent.Err(); err != nil {
		return nil, errors.Join(append([]error{err}, errs...)...)
	}
	return nil, errors.Join(errs...)
}

// dialOne makes one attempt with its own copy of the dialer.
func dialOne(ctx context.Context, d net.Dialer, t *target) (net.Conn, error) {
	if t.local != nil {
		d.LocalAddr = t.local
	}
	return d.DialContext(ctx, t.network, t.addr.String())
}
