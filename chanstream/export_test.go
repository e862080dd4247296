package chanstream

import (
	"context"
	"net/netip"
	"sync"
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

// chunkWatchers maps a Reader to the function that sees its reads
// (WatchChunks).
var chunkWatchers sync.Map // *Reader → func([]byte, error)

func init() {
	testHookChunk = func(r *Reader, c []byte, err error) {
		if f, ok := chunkWatchers.Load(r); ok {
			f.(func([]byte, error))(c, err)
		}
	}
}

// WatchChunks makes f see every read r's goroutine makes of its source —
// the bytes (f must not keep them) and the error — until stop is called;
// the tests record over a socket what a recording io.Reader records over
// NewReader.
func WatchChunks(r *Reader, f func(c []byte, err error)) (stop func()) {
	chunkWatchers.Store(r, f)
	return func() { chunkWatchers.Delete(r) }
}
