package server

import (
	"context"
	"net/netip"
	"reflect"
	"testing"

	"github.com/cspstream/streams/internal/resolve"
)

// TestResolveEveryInterface checks what host "" binds without binding it:
// the tests listen on loopback only.
func TestResolveEveryInterface(t *testing.T) {
	for _, tc := range []struct {
		network string
		want    []netip.Addr
	}{
		{"tcp", []netip.Addr{netip.IPv4Unspecified(), netip.IPv6Unspecified()}},
		{"tcp4", []netip.Addr{netip.IPv4Unspecified()}},
		{"tcp6", []netip.Addr{netip.IPv6Unspecified()}},
	} {
		got, err := resolve.Host(context.Background(), lookupNetIP, tc.network, "", everyInterface)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("resolve(%s, \"\") = %v, %v; want %v", tc.network, got, err, tc.want)
		}
	}
	if got, err := resolve.Host(context.Background(), lookupNetIP, "tcp6", "127.0.0.1", everyInterface); err == nil {
		t.Errorf("resolve(tcp6, 127.0.0.1) = %v; want an error", got)
	}
	if got, err := resolve.Host(context.Background(), lookupNetIP, "tcp", "::ffff:127.0.0.1", everyInterface); err != nil || len(got) != 1 || got[0] != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("resolve(tcp, ::ffff:127.0.0.1) = %v, %v; want 127.0.0.1", got, err)
	}
}
