package chanstream

import (
	"context"
	"net/netip"
	"sync"
	"sync/atomic"
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

// readsBegun counts, for every Reader, the reads its goroutine has begun,
// watched or not (ReadsBegun).
var readsBegun sync.Map // *Reader → *atomic.Int64

func init() {
	testHookChunk = func(r *Reader, c []byte, err error) {
		if c == nil && err == nil {
			n, _ := readsBegun.LoadOrStore(r, new(atomic.Int64))
			n.(*atomic.Int64).Add(1)
		}
		if f, ok := chunkWatchers.Load(r); ok {
			f.(func([]byte, error))(c, err)
		}
	}
}

// WatchChunks makes f see every read r's goroutine makes of its source —
// (nil, nil) as it begins, then the bytes (f must not keep them) and the
// error — until stop is called;
// the tests record over a socket what a recording io.Reader records over
// NewReader.
func WatchChunks(r *Reader, f func(c []byte, err error)) (stop func()) {
	chunkWatchers.Store(r, f)
	return func() { chunkWatchers.Delete(r) }
}

// ReadsBegun returns how many reads of its source r's goroutine has begun,
// counted from the start — also before WatchChunks could be called.
func ReadsBegun(r *Reader) int64 {
	if n, ok := readsBegun.Load(r); ok {
		return n.(*atomic.Int64).Load()
	}
	return 0
}
