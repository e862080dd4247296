package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"syscall"

	"github.com/cspstream/streams/internal/resolve"
)

// listenAll binds and listens on every address addr's host resolves to, as
// asyncio's start_server does: host "" means every interface (0.0.0.0 and
// ::), a name means each of its addresses. With port 0 the first socket
// picks the port and the others bind the same one; if that port is taken on
// another address, the whole set is tried again (a few times) on a new one.
func listenAll(ctx context.Context, c *config, addr string) ([]net.Listener, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("server: listen %s: %w", addr, err)
	}
	port16, err := resolve.Port(ctx, nil, portStr)
	if err != nil {
		return nil, fmt.Errorf("server: listen %s: %w", addr, err)
	}
	port := int(port16)
	ips, err := resolve.Host(ctx, lookupNetIP, c.network, host, everyInterface)
	if err != nil {
		return nil, fmt.Errorf("server: listen %s: %w", addr, err)
	}
	for attempt := 1; ; attempt++ {
		lns, err := bindAll(ctx, c, ips, port)
		if err == nil {
			return lns, nil
		}
		if port != 0 || len(ips) == 1 || attempt == 3 || !errors.Is(err, syscall.EADDRINUSE) {
			return nil, err
		}
	}
}

// lookupNetIP resolves host names; tests replace it.
var lookupNetIP resolve.LookupFunc = net.DefaultResolver.LookupNetIP

// everyInterface is what the empty host binds: every IPv4 and every IPv6
// interface (resolve.Host keeps the network's family).
var everyInterface = []netip.Addr{netip.IPv4Unspecified(), netip.IPv6Unspecified()}

// bindAll listens on each of ips. An IPv6 address the host cannot bind
// (no IPv6, or ::1 not configured) is skipped when another address bound,
// so that "localhost" and "" work on IPv4-only hosts.
func bindAll(ctx context.Context, c *config, ips []netip.Addr, port int) ([]net.Listener, error) {
	lc := net.ListenConfig{Control: c.control, KeepAlive: c.keepAlive}
	var lns []net.Listener
	var skipped error
	for _, ip := range ips {
		network := "tcp4"
		if ip.Is6() {
			network = "tcp6" // Go sets IPV6_V6ONLY, as asyncio does
		}
		ln, err := lc.Listen(ctx, network, net.JoinHostPort(ip.String(), strconv.Itoa(port)))
		if err == nil {
			err = setBacklog(ln, c.backlog)
			if err != nil {
				ln.Close()
			}
		}
		if err != nil {
			if ip.Is6() && (errors.Is(err, syscall.EADDRNOTAVAIL) || errors.Is(err, syscall.EAFNOSUPPORT)) {
				skipped = err
				continue
			}
			closeAll(lns)
			return nil, fmt.Errorf("server: %w", err)
		}
		lns = append(lns, ln)
		if port == 0 {
			port = ln.Addr().(*net.TCPAddr).Port
		}
	}
	if len(lns) == 0 {
		return nil, fmt.Errorf("server: %w", skipped)
	}
	if skipped != nil {
		c.logger.Warn("server: address skipped", "err", skipped)
	}
	return lns, nil
}

func closeAll(lns []net.Listener) {
	for _, ln := range lns {
		ln.Close()
	}
}
