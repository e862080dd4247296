// Package resolve turns the host and port of a "host:port" address into
// IP addresses and a port number, for chanstream's OpenConnection (the
// addresses to dial) and server's Start (the addresses to bind), so that
// both read an address the same way.
package resolve

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// LookupFunc resolves a host name to addresses of network ("ip", "ip4",
// "ip6"), as net.Resolver.LookupNetIP does.
type LookupFunc func(ctx context.Context, network, host string) ([]netip.Addr, error)

// Host returns the addresses of host that network ("tcp", "tcp4" or
// "tcp6") allows, IPv4-mapped IPv6 addresses as IPv4, each once, in the
// resolver's order. An IP literal is itself; a name is looked up with
// lookup, except under the reserved ".invalid" domain, which fails at once
// with a not-found *net.DNSError (RFC 6761). The empty host means what the
// caller says: empty (a client's loopback, a server's every interface),
// filtered by network like the rest. No address of the network is a
// *net.AddrError. It blocks only in lookup.
func Host(ctx context.Context, lookup LookupFunc, network, host string, empty []netip.Addr) ([]netip.Addr, error) {
	var ips []netip.Addr
	switch ip, err := netip.ParseAddr(host); {
	case host == "":
		ips = empty
	case err == nil:
		ips = []netip.Addr{ip}
	case IsInvalidName(host):
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	default:
		ipNet := "ip"
		switch network {
		case "tcp4":
			ipNet = "ip4"
		case "tcp6":
			ipNet = "ip6"
		}
		if ips, err = lookup(ctx, ipNet, host); err != nil {
			return nil, err
		}
	}
	kept := make([]netip.Addr, 0, len(ips))
	for _, ip := range ips {
		ip = ip.Unmap()
		if (network == "tcp4" && !ip.Is4()) || (network == "tcp6" && !ip.Is6()) || contains(kept, ip) {
			continue
		}
		kept = append(kept, ip)
	}
	if len(kept) == 0 {
		return nil, &net.AddrError{Err: "no " + network + " address", Addr: host}
	}
	return kept, nil
}

func contains(ips []netip.Addr, ip netip.Addr) bool {
	for _, x := range ips {
		if x == ip {
			return true
		}
	}
	return false
}

// Port parses a port number or looks up a TCP service name with res (nil:
// net.DefaultResolver). It blocks only in the lookup.
func Port(ctx context.Context, res *net.Resolver, port string) (uint16, error) {
	if n, err := strconv.ParseUint(port, 10, 16); err == nil {
		return uint16(n), nil
	}
	if res == nil {
		res = net.DefaultResolver
	}
	n, err := res.LookupPort(ctx, "tcp", port)
	if err != nil {
		return 0, err
	}
	return uint16(n), nil
}

// IsInvalidName reports whether host is under the reserved ".invalid"
// top-level domain, which never resolves (RFC 6761, section 6.4).
func IsInvalidName(host string) bool {
	host = strings.TrimSuffix(host, ".")
	const tld = ".invalid"
	return strings.EqualFold(host, tld[1:]) ||
		(len(host) > len(tld) && strings.EqualFold(host[len(host)-len(tld):], tld))
}
