package server

import (
	"context"
	"net/netip"
)

// SetLookup replaces the name lookup of Start until the returned func is
// called.
func SetLookup(f func(ctx context.Context, network, host string) ([]netip.Addr, error)) (restore func()) {
	old := lookupNetIP
	lookupNetIP = f
	return func() { lookupNetIP = old }
}
