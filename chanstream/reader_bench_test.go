package chanstream_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/cspstream/streams/chanstream"
	"github.com/cspstream/streams/testutil"
)

// Read benchmarks: each of ours beside its plain-Go counterpart, over the
// same kind of loopback TCP pair fed at full speed by a goroutine that
// writes pre-built lines in big writes. One op is one line (or one
// line-sized ReadExactly), so ns/op compares lines/s directly.
//
// The plain side is measured twice: bufio.NewReader (4 KiB, what users get)
// and bufio.NewReaderSize(conn, 32 KiB), the size of our chunks, so the
// difference in read syscalls can be told from the difference in code.

var bnLineSizes = []struct {
	name string
	n    int
}{
	{"64B", 64},
	{"1KiB", 1 << 10},
}

// bnFeedBlock is the size of the feeder's writes.
const bnFeedBlock = 64 << 10

var bnNewline = []byte{'\n'}

// bnLines returns a block of whole lines of size n, each ending in '\n'.
func bnLines(n int) []byte {
	line := append(bytes.Repeat([]byte{'x'}, n-1), '\n')
	return bytes.Repeat(line, max(1, bnFeedBlock/n))
}

// bnFeed returns the reading end of a loopback TCP pair whose other end is
// written by a goroutine: b.N lines of size n, in big writes, as fast as
// the reader takes them. The goroutine starts writing when start is
// called (after the timer is reset). A cleanup closes both ends and waits
// for the goroutine; closeReader, when set, is run first (it owns rd).
func bnFeed(b *testing.B, n int, closeReader func()) (rd net.Conn, start func()) {
	b.Helper()
	wr, rd := testutil.TCPPair(b)
	block := bnLines(n)
	perBlock := len(block) / n
	begin := make(chan struct{})
	done := make(chan struct{})
	lines := b.N
	go func() {
		defer close(done)
		<-begin // closed by start, or by the cleanup if the benchmark never started
		for left := lines; left > 0; {
			k := min(left, perBlock)
			if _, err := wr.Write(block[:k*n]); err != nil {
				return // the reader side went away
			}
			left -= k
		}
	}()
	var started bool
	b.Cleanup(func() {
		if closeReader != nil {
			closeReader()
		}
		rd.Close()
		wr.Close() // unblocks a feeder stuck in Write
		if !started {
			close(begin)
		}
		<-done
	})
	return rd, func() { started = true; close(begin) }
}

// bnStream is bnFeed read through chanstream.New.
func bnStream(b *testing.B, n int) (r *chanstream.Reader, start func()) {
	b.Helper()
	var w *chanstream.Writer
	rd, start := bnFeed(b, n, func() {
		if w == nil {
			return
		}
		_ = w.Abort()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := w.WaitClosed(ctx); err != nil {
			b.Errorf("WaitClosed: %v", err)
		}
	})
	r, w = chanstream.New(rd)
	return r, start
}

// bnBufio is bnFeed read through a bufio.Reader of the given size
// (0: bufio.NewReader's default).
func bnBufio(b *testing.B, n, size int) (br *bufio.Reader, start func()) {
	b.Helper()
	rd, start := bnFeed(b, n, nil)
	if size == 0 {
		return bufio.NewReader(rd), start
	}
	return bufio.NewReaderSize(rd, size), start
}

// bnBufioSizes are the two bufio variants: default and our chunk size.
var bnBufioSizes = []struct {
	suffix string
	size   int
}{
	{"", 0},
	{"/buf32KiB", 32 << 10},
}

func BenchmarkReadLine(b *testing.B) {
	for _, sz := range bnLineSizes {
		b.Run(sz.name, func(b *testing.B) {
			n := sz.n
			r, start := bnStream(b, n)
			ctx := context.Background()
			b.SetBytes(int64(n))
			b.ReportAllocs()
			b.ResetTimer()
			start()
			for range b.N {
				line, err := r.ReadLine(ctx)
				if len(line) != n || err != nil {
					b.Fatalf("ReadLine() = %d bytes, %v; want %d, nil", len(line), err, n)
				}
			}
		})
	}
}

func BenchmarkBufioReadBytes(b *testing.B) {
	for _, sz := range bnLineSizes {
		for _, bs := range bnBufioSizes {
			b.Run(sz.name+bs.suffix, func(b *testing.B) {
				n := sz.n
				br, start := bnBufio(b, n, bs.size)
				b.SetBytes(int64(n))
				b.ReportAllocs()
				b.ResetTimer()
				start()
				for range b.N {
					line, err := br.ReadBytes('\n')
					if len(line) != n || err != nil {
						b.Fatalf("ReadBytes() = %d bytes, %v; want %d, nil", len(line), err, n)
					}
				}
			})
		}
	}
}

func BenchmarkReadUntil(b *testing.B) {
	for _, sz := range bnLineSizes {
		b.Run(sz.name, func(b *testing.B) {
			n := sz.n
			r, start := bnStream(b, n)
			ctx := context.Background()
			b.SetBytes(int64(n))
			b.ReportAllocs()
			b.ResetTimer()
			start()
			for range b.N {
				line, err := r.ReadUntil(ctx, bnNewline)
				if len(line) != n || err != nil {
					b.Fatalf("ReadUntil() = %d bytes, %v; want %d, nil", len(line), err, n)
				}
			}
		})
	}
}

// BenchmarkBufioReadSlice is ReadUntil's counterpart. ReadSlice returns a
// view of bufio's buffer, so it allocates nothing; ReadUntil returns a copy.
func BenchmarkBufioReadSlice(b *testing.B) {
	for _, sz := range bnLineSizes {
		for _, bs := range bnBufioSizes {
			b.Run(sz.name+bs.suffix, func(b *testing.B) {
				n := sz.n
				br, start := bnBufio(b, n, bs.size)
				b.SetBytes(int64(n))
				b.ReportAllocs()
				b.ResetTimer()
				start()
				for range b.N {
					line, err := br.ReadSlice('\n')
					if len(line) != n || err != nil {
						b.Fatalf("ReadSlice() = %d bytes, %v; want %d, nil", len(line), err, n)
					}
				}
			})
		}
	}
}

func BenchmarkReadExactly(b *testing.B) {
	for _, sz := range bnLineSizes {
		b.Run(sz.name, func(b *testing.B) {
			n := sz.n
			r, start := bnStream(b, n)
			ctx := context.Background()
			b.SetBytes(int64(n))
			b.ReportAllocs()
			b.ResetTimer()
			start()
			for range b.N {
				p, err := r.ReadExactly(ctx, n)
				if len(p) != n || err != nil {
					b.Fatalf("ReadExactly(%d) = %d bytes, %v; want %d, nil", n, len(p), err, n)
				}
			}
		})
	}
}

// BenchmarkIoReadFull is ReadExactly's counterpart: io.ReadFull from a
// bufio.Reader into one reused buffer, the plain-Go idiom. It allocates
// nothing; ReadExactly returns a fresh slice.
func BenchmarkIoReadFull(b *testing.B) {
	for _, sz := range bnLineSizes {
		for _, bs := range bnBufioSizes {
			b.Run(sz.name+bs.suffix, func(b *testing.B) {
				n := sz.n
				br, start := bnBufio(b, n, bs.size)
				p := make([]byte, n)
				b.SetBytes(int64(n))
				b.ReportAllocs()
				b.ResetTimer()
				start()
				for range b.N {
					if k, err := io.ReadFull(br, p); k != n || err != nil {
						b.Fatalf("io.ReadFull(%d) = %d, %v; want %d, nil", n, k, err, n)
					}
				}
			})
		}
	}
}
