package chanstream

import "sync"

// chunkSize is the size of every pooled buffer: one read of the source, one
// unit of the write queue, and the Reader's buffer while it fits in one.
const chunkSize = 64 << 10

// chunkPool holds *[chunkSize]byte: a pointer, so Get and Put do not allocate.
var chunkPool = sync.Pool{New: func() any { return new([chunkSize]byte) }}

// getChunk returns a buffer of length and capacity chunkSize.
func getChunk() []byte { return chunkPool.Get().(*[chunkSize]byte)[:] }

// putChunk returns b's array to the pool. Buffers of another capacity were
// not made by getChunk and are left to the garbage collector. The caller
// must hold no other reference to b.
func putChunk(b []byte) {
	if cap(b) != chunkSize {
		return
	}
	chunkPool.Put((*[chunkSize]byte)(b[:chunkSize]))
}
