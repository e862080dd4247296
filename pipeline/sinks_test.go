package pipeline_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/cspstream/streams/chanstream"
	"github.com/cspstream/streams/pipeline"
	"github.com/cspstream/streams/testutil"
)

// syncBuffer is a bytes.Buffer safe for a writer goroutine and a test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.b.Bytes())
}

// TestLinesMapWriteTo runs the whole chain over loopback connections, in
// order, with small watermarks so that WriteTo drains often.
func TestLinesMapWriteTo(t *testing.T) {
	testutil.CheckLeaks(t)
	ctx := watchdog(t)
	in, inPeer := testutil.Loopback(t)
	out, outPeer := testutil.Loopback(t, chanstream.WithWriteBufferLimits(256, 64))
	data := makeInput(3000, 4)
	go func() {
		inPeer.W.Write(data)
		inPeer.W.WriteEOF()
	}()
	p := pipeline.New(ctx)
	upper := pipeline.Map(p, pipeline.Lines(p, in.R), func(_ context.Context, b []byte) ([]byte, error) {
		return bytes.ToUpper(b), nil
	})
	pipeline.WriteTo(p, out.W, upper)
	if err := waitErr(ctx, t, p); err != nil {
		t.Fatalf("Wait() = %v", err)
	}
	out.W.WriteEOF()
	got, err := outPeer.R.ReadAll(ctx)
	if err != nil {
		t.Fatalf("ReadAll: %v", err)
	}
	if !bytes.Equal(got, bytes.ToUpper(data)) {
		t.Fatalf("peer got %d bytes, not the input upper-cased (%d bytes)", len(got), len(data))
	}
}

// A write error ends the pipeline with it.
func TestWriteToError(t *testing.T) {
	testutil.CheckLeaks(t)
	ctx := watchdog(t)
	w := chanstream.NewWriter(io.Discard)
	w.Close()
	p := pipeline.New(ctx)
	pipeline.WriteTo(p, w, pipeline.Lines(p, chanstream.NewReader(bytes.NewReader(makeInput(100, 5)))))
	if err := waitErr(ctx, t, p); !errors.Is(err, chanstream.ErrClosed) {
		t.Fatalf("Wait() = %v; want ErrClosed", err)
	}
	w.WaitClosed(ctx)
}

// stuckWriter is a sink whose Write blocks until release is closed: a peer
// that stopped reading.
type stuckWriter struct {
	entered chan struct{} // closed at the first Write
	release chan struct{}
	once    sync.Once
}

func (s *stuckWriter) Write(p []byte) (int, error) {
	s.once.Do(func() { close(s.entered) })
	<-s.release
	return len(p), nil
}

// WriteTo waiting in Drain on a sink that does not take its bytes is ended
// by a cancel.
func TestWriteToCancelInDrain(t *testing.T) {
	testutil.CheckLeaks(t)
	wd := watchdog(t)
	sink := &stuckWriter{entered: make(chan struct{}), release: make(chan struct{})}
	w := chanstream.NewWriter(sink, chanstream.WithWriteBufferLimits(1024, 0))
	ctx, cancel := context.WithCancel(wd)
	p := pipeline.New(ctx)
	in := make(chan []byte)
	pipeline.WriteTo(p, w, in)
	in <- bytes.Repeat([]byte("x"), 4096) // over the high watermark: WriteTo drains
	<-sink.entered                        // and the writer goroutine is stuck in Write
	cancel()
	if err := waitErr(wd, t, p); err != context.Canceled {
		t.Fatalf("Wait() = %v; want context.Canceled", err)
	}
	close(sink.release)
	w.Close()
	if err := w.WaitClosed(wd); err != nil {
		t.Fatal(err)
	}
}

// TestCopy passes a stream and its half-close from one connection to
// another, in each direction, while the other direction stays open; over
// plain sockets and through FaultConns that split and delay every read and
// write on the proxy's side.
func TestCopy(t *testing.T) {
	split := testutil.Faults{MaxRead: 97, MaxWrite: 61, Delay: 20 * time.Microsecond}
	for _, faults := range []bool{false, true} {
		t.Run(fmt.Sprintf("faults=%v", faults), func(t *testing.T) {
			testutil.CheckLeaks(t)
			if faults {
				a, aPeer := testutil.FaultLoopback(t, testutil.Faults{}, split)
				b, bPeer := testutil.FaultLoopback(t, split, testutil.Faults{}, chanstream.WithWriteBufferLimits(4096, 1024))
				testCopy(t, b, a, aPeer, bPeer)
				return
			}
			a, aPeer := testutil.Loopback(t)
			b, bPeer := testutil.Loopback(t, chanstream.WithWriteBufferLimits(4096, 1024))
			testCopy(t, b, a, aPeer, bPeer)
		})
	}
}

// testCopy proxies between a and b (a's peer is aPeer, b's bPeer).
func testCopy(t *testing.T, b, a, aPeer, bPeer testutil.End) {
	ctx := watchdog(t)
	p := pipeline.New(ctx)
	pipeline.Copy(p, b.W, a.R) // aPeer → bPeer
	pipeline.Copy(p, a.W, b.R) // bPeer → aPeer
	up, down := makeInput(5000, 6), makeInput(3000, 7)

	go func() {
		aPeer.W.Write(up)
		aPeer.W.WriteEOF()
	}()
	got, err := bPeer.R.ReadAll(ctx) // ends at the half-close Copy passed on
	if err != nil || !bytes.Equal(got, up) {
		t.Fatalf("upstream: %d bytes, %v; want %d bytes, nil", len(got), err, len(up))
	}
	// The other direction still works after the half-close.
	bPeer.W.Write(down)
	bPeer.W.WriteEOF()
	got, err = aPeer.R.ReadAll(ctx)
	if err != nil || !bytes.Equal(got, down) {
		t.Fatalf("downstream: %d bytes, %v; want %d bytes, nil", len(got), err, len(down))
	}
	if err := waitErr(ctx, t, p); err != nil {
		t.Fatalf("Wait() = %v", err)
	}
}

// Copy into a sink that cannot half-close closes it at EOF.
func TestCopyClosesWithoutHalfClose(t *testing.T) {
	testutil.CheckLeaks(t)
	ctx := watchdog(t)
	var sink syncBuffer
	w := chanstream.NewWriter(&sink) // not an io.Closer: CanWriteEOF is false
	if w.CanWriteEOF() {
		t.Fatal("CanWriteEOF() = true for a plain io.Writer")
	}
	data := makeInput(2000, 8)
	p := pipeline.New(ctx)
	pipeline.Copy(p, w, chanstream.NewReader(bytes.NewReader(data)))
	if err := waitErr(ctx, t, p); err != nil {
		t.Fatalf("Wait() = %v", err)
	}
	if err := w.WaitClosed(ctx); err != nil {
		t.Fatalf("Writer not closed by Copy: %v", err)
	}
	if !bytes.Equal(sink.Bytes(), data) {
		t.Fatalf("sink holds %d bytes; want %d", len(sink.Bytes()), len(data))
	}
}

// A cancelled Copy leaves what it did not take in its Reader: what the
// destination got and what the Reader still holds make the input.
func TestCopyCancelLosesNothing(t *testing.T) {
	testutil.CheckLeaks(t)
	wd := watchdog(t)
	src, srcPeer := testutil.Loopback(t)
	dst, dstPeer := testutil.Loopback(t, chanstream.WithWriteBufferLimits(8<<10, 0))
	data := bytes.Repeat(makeInput(1000, 9), 128) // ~8 MB: more than the sockets buffer
	go func() {
		srcPeer.W.Write(data)
		srcPeer.W.WriteEOF()
	}()
	ctx, cancel := context.WithCancel(wd)
	p := pipeline.New(ctx)
	pipeline.Copy(p, dst.W, src.R)
	// dstPeer reads a little, then stops: Copy blocks in Drain.
	first, err := dstPeer.R.ReadExactly(wd, 100<<10)
	if err != nil {
		t.Fatalf("ReadExactly: %v", err)
	}
	cancel()
	if err := waitErr(wd, t, p); err != context.Canceled {
		t.Fatalf("Wait() = %v; want context.Canceled", err)
	}
	dst.W.WriteEOF() // what Copy queued still goes out
	rest, err := dstPeer.R.ReadAll(wd)
	if err != nil {
		t.Fatalf("peer ReadAll: %v", err)
	}
	left, err := src.R.ReadAll(wd)
	if err != nil {
		t.Fatalf("source ReadAll: %v", err)
	}
	got := append(append(first, rest...), left...)
	if !bytes.Equal(got, data) {
		t.Fatalf("copied %d + left %d bytes do not make the input (%d bytes)", len(first)+len(rest), len(left), len(data))
	}
	if len(left) == 0 {
		t.Fatal("Copy took everything: the test did not cancel mid-stream")
	}
}

// A reset source ends Copy with the error.
func TestCopySourceError(t *testing.T) {
	testutil.CheckLeaks(t)
	ctx := watchdog(t)
	errBoom := errors.New("boom")
	var sink syncBuffer
	w := chanstream.NewWriter(&sink)
	defer w.WaitClosed(ctx)
	defer w.Close()
	src := io.MultiReader(bytes.NewReader([]byte("some bytes")), iotest.ErrReader(errBoom))
	p := pipeline.New(ctx)
	pipeline.Copy(p, w, chanstream.NewReader(src))
	if err := waitErr(ctx, t, p); !errors.Is(err, errBoom) {
		t.Fatalf("Wait() = %v; want %v", err, errBoom)
	}
	if w.IsClosing() {
		t.Fatal("Copy closed its destination after an error")
	}
}

// A write error of dst ends Copy, and the bytes Copy took from src for
// that write go back to src: a src handed on has no hole.
func TestCopyWriteErrorKeepsBytes(t *testing.T) {
	testutil.CheckLeaks(t)
	ctx := watchdog(t)
	w := chanstream.NewWriter(io.Discard)
	w.Close() // every Write fails with ErrClosed
	data := makeInput(200, 7)
	src := chanstream.NewReader(bytes.NewReader(data))
	p := pipeline.New(ctx)
	pipeline.Copy(p, w, src)
	if err := waitErr(ctx, t, p); !errors.Is(err, chanstream.ErrClosed) {
		t.Fatalf("Wait() = %v; want ErrClosed", err)
	}
	w.WaitClosed(ctx)
	got, err := src.ReadAll(ctx)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("src after the failed Copy: %d bytes, %v; want all %d bytes back", len(got), err, len(data))
	}
}
