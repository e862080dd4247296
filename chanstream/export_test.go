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

// RawReadSupported says whether New over a plain socket makes a direct
// Reader — one with no reader goroutine — on this platform.
const RawReadSupported = rawReadSupported
