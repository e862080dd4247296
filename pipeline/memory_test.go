package pipeline_test

import (
	"bytes"
	"context"
	"fmt"
	"hash/crc32"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/cspstream/streams/chanstream"
	"github.com/cspstream/streams/pipeline"
	"github.com/cspstream/streams/testutil"
)

// makeBlock returns 64 lines of width bytes each, "\n" included, in lower
// case; lineGen repeats such a block.
func makeBlock(width int) []byte {
	var b bytes.Buffer
	for i := range 64 {
		line := fmt.Sprintf("%04d ", i)
		for len(line) < width-1 {
			line += string(rune('a' + (len(line)+i)%26))
		}
		b.WriteString(line + "\n")
	}
	return b.Bytes()
}

var lineBlock = makeBlock(256)

// lineGen yields block over and over, left bytes in all, without holding
// more than the block.
type lineGen struct {
	block []byte
	left  int
	off   int
}

func (g *lineGen) Read(p []byte) (int, error) {
	if g.left == 0 {
		return 0, io.EOF
	}
	n := 0
	for n < len(p) && g.left > 0 {
		k := copy(p[n:min(len(p), n+g.left)], g.block[g.off:])
		n += k
		g.left -= k
		g.off = (g.off + k) % len(g.block)
	}
	return n, nil
}

// upperInPlace upper-cases ASCII letters of b in place.
func upperInPlace(b []byte) {
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
}

// TestBoundedMemory sends memTestBytes (256 MiB; 32 MiB under -race) of
// lines through Lines → Map → WriteTo into a real loopback peer that reads
// slowly, sampling the heap all the while: the slow peer must slow the
// source instead of growing any queue, so the heap grows by a few MiB at
// most, whatever the volume.
func TestBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 256 MiB; skipped with -short")
	}
	testutil.CheckLeaks(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	total := memTestBytes - memTestBytes%len(lineBlock)

	cc, peer := testutil.TCPPair(t)
	_, out := chanstream.New(cc)
	defer out.WaitClosed(ctx)
	defer out.Abort()

	// The peer reads 64 KiB at a time with a pause after each read, slower
	// than the pipeline (without -race): the pipeline must wait for it.
	type result struct {
		n   int
		sum uint32
		err error
	}
	peerDone := make(chan result, 1)
	go func() {
		h := crc32.NewIEEE()
		buf := make([]byte, 64<<10)
		n := 0
		for {
			k, err := peer.Read(buf)
			h.Write(buf[:k])
			n += k
			if err != nil {
				if err == io.EOF {
					err = nil
				}
				peerDone <- result{n, h.Sum32(), err}
				return
			}
			time.Sleep(200 * time.Microsecond)
		}
	}()

	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	stopSampling := make(chan struct{})
	sampled := make(chan [2]uint64, 1) // max heap, samples
	go func() {
		var peak, samples uint64
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapAlloc)
			samples++
			select {
			case <-tick.C:
			case <-stopSampling:
				sampled <- [2]uint64{peak, samples}
				return
			}
		}
	}()

	start := time.Now()
	p := pipeline.New(ctx)
	upper := pipeline.Map(p, pipeline.Lines(p, chanstream.NewReader(&lineGen{block: lineBlock, left: total})),
		func(_ context.Context, line []byte) ([]byte, error) {
			upperInPlace(line) // the line is ours to change
			return line, nil
		})
	pipeline.WriteTo(p, out, upper)
	if err := p.Wait(); err != nil {
		t.Fatalf("Wait() = %v", err)
	}
	out.WriteEOF()
	res := <-peerDone
	close(stopSampling)
	s := <-sampled
	elapsed := time.Since(start)

	if res.err != nil || res.n != total {
		t.Fatalf("peer read %d bytes, %v; want %d, nil", res.n, res.err, total)
	}
	h := crc32.NewIEEE()
	upperBlock := bytes.ToUpper(lineBlock)
	for range total / len(lineBlock) {
		h.Write(upperBlock)
	}
	if res.sum != h.Sum32() {
		t.Fatalf("peer's checksum %08x; want %08x", res.sum, h.Sum32())
	}
	growth := int64(s[0]) - int64(base)
	t.Logf("%d MiB in %v (%.0f MB/s); heap %.1f MiB at start, peak growth %.1f MiB over %d samples",
		total>>20, elapsed.Round(time.Millisecond), float64(total)/elapsed.Seconds()/1e6,
		float64(base)/(1<<20), float64(growth)/(1<<20), s[1])
	if limit := int64(8 << 20); growth > limit {
		t.Fatalf("heap grew by %.1f MiB moving %d MiB; want under %d MiB", float64(growth)/(1<<20), total>>20, limit>>20)
	}
}
