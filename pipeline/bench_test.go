package pipeline_test

import (
	"bufio"
	"context"
	"io"
	"testing"

	"github.com/cspstream/streams/chanstream"
	"github.com/cspstream/streams/pipeline"
)

// The same work — read 64-byte lines, upper-case each, write it out — as a
// pipeline of three stages and as one bufio loop. Run them together:
//
//	go test -run '^$' -bench 'Lines' -count=5 ./pipeline/
//
// Each op is one line; lines/s is the figure to compare.

var benchBlock = makeBlock(64)

func BenchmarkLines(b *testing.B) {
	b.Run("pipeline", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(64)
		cpu0 := cpuTime()
		ctx := context.Background()
		r := chanstream.NewReader(&lineGen{block: benchBlock, left: 64 * b.N})
		w := chanstream.NewWriter(io.Discard)
		p := pipeline.New(ctx)
		upper := pipeline.Map(p, pipeline.Lines(p, r), func(_ context.Context, line []byte) ([]byte, error) {
			upperInPlace(line)
			return line, nil
		})
		pipeline.WriteTo(p, w, upper)
		if err := p.Wait(); err != nil {
			b.Fatal(err)
		}
		w.Close()
		w.WaitClosed(ctx)
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lines/s")
		b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
	})
	b.Run("bufio-ReadBytes", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(64)
		cpu0 := cpuTime()
		br := bufio.NewReader(&lineGen{block: benchBlock, left: 64 * b.N})
		bw := bufio.NewWriter(io.Discard)
		for {
			line, err := br.ReadBytes('\n') // a line of its own, as a pipeline item is
			if len(line) > 0 {
				upperInPlace(line)
				bw.Write(line)
			}
			if err != nil {
				break
			}
		}
		bw.Flush()
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lines/s")
		b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
	})
	b.Run("bufio-ReadSlice", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(64)
		cpu0 := cpuTime()
		br := bufio.NewReader(&lineGen{block: benchBlock, left: 64 * b.N})
		bw := bufio.NewWriter(io.Discard)
		for {
			line, err := br.ReadSlice('\n') // no allocation: the line is bufio's
			if len(line) > 0 {
				upperInPlace(line)
				bw.Write(line)
			}
			if err != nil {
				break
			}
		}
		bw.Flush()
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lines/s")
		b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
	})
}
