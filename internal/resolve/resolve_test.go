package resolve

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"testing"
)

func TestHost(t *testing.T) {
	a := netip.MustParseAddr
	lookup := func(_ context.Context, network, host string) ([]netip.Addr, error) {
		switch host {
		case "dup.test":
			// A resolver may list an address twice, or once mapped.
			return []netip.Addr{a("127.0.0.1"), a("::1"), a("127.0.0.1"), a("::ffff:127.0.0.1"), a("::1")}, nil
		case "six.test":
			return []netip.Addr{a("::1")}, nil
		}
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	empty := []netip.Addr{a("0.0.0.0"), a("::")}
	for _, tc := range []struct {
		network, host string
		want          []netip.Addr
	}{
		{"tcp", "dup.test", []netip.Addr{a("127.0.0.1"), a("::1")}},
		{"tcp4", "dup.test", []netip.Addr{a("127.0.0.1")}},
		{"tcp6", "dup.test", []netip.Addr{a("::1")}},
		{"tcp", "::ffff:127.0.0.1", []netip.Addr{a("127.0.0.1")}},
		{"tcp", "", empty},
		{"tcp6", "", []netip.Addr{a("::")}},
	} {
		got, err := Host(context.Background(), lookup, tc.network, tc.host, empty)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("Host(%s, %q) = %v, %v; want %v", tc.network, tc.host, got, err, tc.want)
		}
	}
	var ae *net.AddrError
	if got, err := Host(context.Background(), lookup, "tcp4", "six.test", empty); !errors.As(err, &ae) {
		t.Errorf("Host(tcp4, six.test) = %v, %v; want a *net.AddrError", got, err)
	}
	var de *net.DNSError
	if _, err := Host(context.Background(), nil, "tcp", "x.invalid", empty); !errors.As(err, &de) || !de.IsNotFound {
		t.Errorf("Host(x.invalid) = %v; want a not-found *net.DNSError without a lookup", err)
	}
}

func TestPort(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want uint16
	}{{"80", 80}, {"0", 0}, {"65535", 65535}, {"", 0}} {
		if got, err := Port(context.Background(), nil, tc.in); err != nil || got != tc.want {
			t.Errorf("Port(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	if got, err := Port(context.Background(), nil, "65536"); err == nil {
		t.Errorf("Port(65536) = %d; want an error", got)
	}
}

func TestIsInvalidName(t *testing.T) {
	for host, want := range map[string]bool{
		"invalid": true, "x.invalid": true, "a.b.INVALID.": true, "x.invalid.": true,
		"invalid.example": false, "xinvalid": false, "localhost": false, "": false,
	} {
		if got := IsInvalidName(host); got != want {
			t.Errorf("IsInvalidName(%q) = %v; want %v", host, got, want)
		}
	}
}
