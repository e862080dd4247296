package chanstream

import (
	"context"
	"net/netip"
)

// WithLookup replaces OpenConnection's resolver in tests, so that a name
// can resolve to both loopback addresses (the machine's /etc/hosts may map
// "localhost" to 127.0.0.1 only).
func WithLookup(f func(ctx context.Context, network, host string) ([]netip.Addr, error)) Option {
	return func(c *config) { c.given |= optLookup; c.lookup = f }
}

// SetOwnerCheck turns the read token's owner check (owner.go) on or off;
// TestMain turns it on unless benchmarks run.
func SetOwnerCheck(on bool) { checkOwner = on }
