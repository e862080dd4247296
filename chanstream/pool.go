package chanstream

import (
	"sync"
	"unsafe"
)

// chunkSize is the size of every pooled buffer: one read of the source, one
// unit of the write queue, and the Reader's buffer while it fits in one.
const chunkSize = 64 << 10

// chunkPool holds *[chunkSize]byte: a pointer, so Get and Put do not
// allocate. It has no New: the reader goroutine's read must not allocate
// deep in its stack (pooledChunk).
var chunkPool sync.Pool

// getChunk returns a buffer of length and capacity chunkSize.
func getChunk() []byte {
	if c := pooledChunk(); c != nil {
		return c
	}
	return newChunk()
}

// pooledChunk returns a chunk from the pool, or nil when it has none.
func pooledChunk() []byte {
	if p, ok := chunkPool.Get().(*[chunkSize]byte); ok {
		return p[:]
	}
	return nil
}

// newChunk allocates a chunk.
//
//go:noinline
func newChunk() []byte { return new([chunkSize]byte)[:] }

// putChunk gives b's array back: to chunkPool when getChunk made it, to
// its class of grownPools when grow did; others are left to the garbage
// collector. The caller must hold no other reference to b.
func putChunk(b []byte) {
	switch c := cap(b); {
	case c == chunkSize:
		chunkPool.Put((*[chunkSize]byte)(b[:chunkSize]))
	case c > chunkSize && c <= chunkSize<<maxGrownClass && c&(c-1) == 0:
		grownPools[grownClass(c)].Put(unsafe.Pointer(unsafe.SliceData(b)))
	}
}

// Grown buffers. When the Reader's buffer must hold more than a chunk — a
// line or a separator search longer than a chunk, a ReadExactly beyond
// one — it grows to a power-of-two multiple of chunkSize. Those buffers are
// pooled per size too, so that a Reader discarding an overlong line over
// and over (ReadLine past the limit) reuses one rather than allocating as
// much as it discards; a pool holds nothing past two garbage collections,
// so an idle Reader still holds no buffer.

// maxGrownClass is the largest pooled class: chunkSize<<maxGrownClass.
const maxGrownClass = 5

// grownPools[k] holds the arrays of buffers of capacity chunkSize<<k
// (k ≥ 1), as an unsafe.Pointer to their first byte: pointer-like, so
// that Put does not allocate a slice header.
var grownPools [maxGrownClass + 1]sync.Pool

// grownClass returns k for a capacity of chunkSize<<k.
func grownClass(c int) int {
	k := 0
	for chunkSize<<k < c {
		k++
	}
	return k
}

// grow returns an empty buffer with capacity at least n > chunkSize: a
// pooled one of the smallest class that fits, or a new one.
func grow(n int) []byte {
	if n > chunkSize<<maxGrownClass {
		return make([]byte, 0, n)
	}
	k := grownClass(n)
	if p, ok := grownPools[k].Get().(unsafe.Pointer); ok {
		return unsafe.Slice((*byte)(p), chunkSize<<k)[:0]
	}
	return make([]byte, 0, chunkSize<<k)
}
