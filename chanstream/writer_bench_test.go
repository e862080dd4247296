package chanstream_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/cspstream/streams/chanstream"
	"github.com/cspstream/streams/testutil"
)

// Write benchmarks: Write+Drain per op beside a plain conn.Write, over a
// loopback TCP pair whose peer discards everything with io.Copy. The final
// flush (Close and WaitClosed for ours, Close for the plain conn) is timed,
// so bytes still queued at the end are paid for.

var bnWriteSizes = []struct {
	name string
	n    int
}{
	{"1KiB", 1 << 10},
	{"64KiB", 64 << 10},
}

// bnSink returns the writing end of a loopback TCP pair whose other end is
// read to EOF and discarded by a goroutine. A cleanup closes both ends and
// waits for the goroutine; closeWriter, when set, is run first (it owns wr).
func bnSink(b *testing.B, closeWriter func()) net.Conn {
	b.Helper()
	wr, rd := testutil.TCPPair(b)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = io.Copy(io.Discard, rd)
	}()
	b.Cleanup(func() {
		if closeWriter != nil {
			closeWriter()
		}
		wr.Close()
		rd.Close()
		<-done
	})
	return wr
}

func BenchmarkWriteDrain(b *testing.B) {
	for _, sz := range bnWriteSizes {
		b.Run(sz.name, func(b *testing.B) {
			var w *chanstream.Writer
			wr := bnSink(b, func() {
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
			_, w = chanstream.New(wr)
			p := bytes.Repeat([]byte{'x'}, sz.n)
			ctx := context.Background()
			b.SetBytes(int64(sz.n))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if k, err := w.Write(p); k != len(p) || err != nil {
					b.Fatalf("Write() = %d, %v; want %d, nil", k, err, len(p))
				}
				if err := w.Drain(ctx); err != nil {
					b.Fatalf("Drain() = %v; want nil", err)
				}
			}
			_ = w.Close()
			if err := w.WaitClosed(ctx); err != nil {
				b.Fatalf("WaitClosed() = %v; want nil", err)
			}
		})
	}
}

func BenchmarkConnWrite(b *testing.B) {
	for _, sz := range bnWriteSizes {
		b.Run(sz.name, func(b *testing.B) {
			wr := bnSink(b, nil)
			p := bytes.Repeat([]byte{'x'}, sz.n)
			b.SetBytes(int64(sz.n))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if k, err := wr.Write(p); k != len(p) || err != nil {
					b.Fatalf("Write() = %d, %v; want %d, nil", k, err, len(p))
				}
			}
			_ = wr.Close()
		})
	}
}
