package server

import (
	"context"
	"net"
	"net/netip"
)

// SetLookup replaces the name lookup of Start until the returned func is
// called.
func SetLookup(f func(ctx context.Context, network, host string) ([]netip.Addr, error)) (restore func()) {
	old := lookupNetIP
	lookupNetIP = f
	return func() { lookupNetIP = old }
}

// Listeners returns the server's listeners, for tests that read their
// socket state.
func Listeners(s *Server) []net.Listener { return s.lns }
