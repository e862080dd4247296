package chanstream_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cspstream/streams/chanstream"
	"github.com/cspstream/streams/testutil"
)

// Writer tests over real loopback TCP. Every test is bounded by wtCtx's
// watchdog, joins every goroutine it starts (wtGo/wtWait), and checks for
// leaked goroutines at its end (testutil.CheckLeaks; TestMain checks the
// whole package too). Short ctx timeouts below are bounds on operations
// that must block, never synchronisation.

const (
	wtTimeout = 20 * time.Second // the watchdog of every test
	wtChunk   = 32 << 10         // the stream's read and write chunk
	wtSockBuf = 64 << 10         // SO_SNDBUF / SO_RCVBUF for peers that must fill up
	wtBlocked = 50 * time.Millisecond
)

// wtCtx returns the test's watchdog ctx.
func wtCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wtTimeout)
	t.Cleanup(cancel)
	return ctx
}

// wtPattern returns n bytes that repeat only every 251 bytes, so that lost,
// repeated or reordered chunks show.
func wtPattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i%251) ^ seed
	}
	return b
}

// wtGo runs f in a goroutine; its result arrives on the returned channel.
func wtGo(f func() error) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- f() }()
	return ch
}

// wtWait returns what the goroutine behind ch returned, failing the test
// when ctx ends first.
func wtWait(t *testing.T, ctx context.Context, ch <-chan error, what string) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		t.Fatalf("%s: still running at the watchdog: %v", what, ctx.Err())
		return nil
	}
}

// wtNew adopts conn, and aborts and waits for the stream when t ends.
func wtNew(t *testing.T, conn net.Conn, opts ...chanstream.Option) (*chanstream.Reader, *chanstream.Writer) {
	t.Helper()
	r, w := chanstream.New(conn, opts...)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = w.Abort()
		if err := w.WaitClosed(ctx); err != nil {
			t.Errorf("stream did not close: %v", err)
		}
	})
	return r, w
}

// wtSmallBuffers shrinks the kernel's buffers between a writer and a peer
// that does not read, so that what the kernel can hold (well under 1 MiB)
// is small beside what the tests queue.
func wtSmallBuffers(t *testing.T, writer, reader net.Conn) {
	t.Helper()
	if err := writer.(*net.TCPConn).SetWriteBuffer(wtSockBuf); err != nil {
		t.Fatal(err)
	}
	if err := reader.(*net.TCPConn).SetReadBuffer(wtSockBuf); err != nil {
		t.Fatal(err)
	}
}

// wtDeadline makes a raw peer conn fail rather than block past ctx.
func wtDeadline(t *testing.T, ctx context.Context, c net.Conn) {
	t.Helper()
	if d, ok := ctx.Deadline(); ok {
		if err := c.SetDeadline(d); err != nil {
			t.Fatal(err)
		}
	}
}

// wtWriteAll queues data in pieces of size each; every Write must take all.
func wtWriteAll(w *chanstream.Writer, data []byte, size int) error {
	for off := 0; off < len(data); off += size {
		p := data[off:min(off+size, len(data))]
		if n, err := w.Write(p); n != len(p) || err != nil {
			return fmt.Errorf("Write(%d bytes) at %d = %d, %v; want %d, nil", len(p), off, n, err, len(p))
		}
	}
	return nil
}

// wtReadSlowly reads exactly len(want) bytes from r, step bytes at a time,
// and compares them with want.
func wtReadSlowly(ctx context.Context, r *chanstream.Reader, want []byte, step int) error {
	got := 0
	for got < len(want) {
		b, err := r.ReadUpTo(ctx, min(step, len(want)-got))
		if err != nil {
			return fmt.Errorf("ReadUpTo after %d of %d bytes: %v", got, len(want), err)
		}
		if !bytes.Equal(b, want[got:got+len(b)]) {
			return fmt.Errorf("bytes %d..%d differ from what was written", got, got+len(b))
		}
		got += len(b)
	}
	return nil
}

func wtIsReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// wtPanicErr returns the error f panics with; nil if it does not panic.
func wtPanicErr(f func()) (err error) {
	defer func() {
		if v := recover(); v != nil {
			var ok bool
			if err, ok = v.(error); !ok {
				err = fmt.Errorf("panic with a %T, not an error: %v", v, v)
			}
		}
	}()
	f()
	return nil
}

// TestWriterPeerNeverReads: Write never waits for the network, the queue
// grows, Drain and a graceful close block (until a ctx or Abort ends them),
// and Abort ends everything at once.
func TestWriterPeerNeverReads(t *testing.T) {
	testutil.CheckLeaks(t)
	ctx := wtCtx(t)
	c, s := testutil.Loopback(t)
	wtSmallBuffers(t, c.W.Conn(), s.W.Conn())

	const total, piece = 16 << 20, 1 << 20
	data := wtPattern(total, 1)
	var samples []int
	done := wtGo(func() error {
		for off := 0; off < total; off += piece {
			if n, err := c.W.Write(data[off : off+piece]); n != piece || err != nil {
				return fmt.Errorf("Write at %d = %d, %v; want %d, nil", off, n, err, piece)
			}
			samples = append(samples, c.W.Buffered())
		}
		return nil
	})
	// Write must not wait for a peer that never reads: 16 MiB go into the
	// queue well within the watchdog.
	if err := wtWait(t, ctx, done, "Write of 16 MiB to a peer that never reads"); err != nil {
		t.Fatal(err)
	}
	if first, last := samples[0], samples[len(samples)-1]; last <= first || last < total/2 {
		t.Fatalf("Buffered() went from %d to %d over 16 MiB of writes; want it to grow past %d", first, last, total/2)
	}

	dctx, cancel := context.WithTimeout(ctx, wtBlocked)
	err := c.W.Drain(dctx)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Drain with a peer that never reads = %v; want context.DeadlineExceeded", err)
	}
	if n := c.W.Buffered(); n < total/2 {
		t.Fatalf("Buffered() = %d after a cancelled Drain; want the queue kept (> %d)", n, total/2)
	}

	// A graceful close cannot finish: the flush waits for the peer.
	if err := c.W.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	if !c.W.IsClosing() {
		t.Fatal("IsClosing() = false after Close")
	}
	wctx, cancel := context.WithTimeout(ctx, wtBlocked)
	err = c.W.WaitClosed(wctx)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitClosed while the flush is stuck = %v; want context.DeadlineExceeded", err)
	}

	// A Drain waiting through all this is woken by Abort.
	drain := wtGo(func() error { return c.W.Drain(ctx) })
	if err := c.W.Abort(); err != nil {
		t.Fatalf("Abort() = %v", err)
	}
	if n := c.W.Buffered(); n != 0 {
		t.Errorf("Buffered() = %d after Abort; want 0", n)
	}
	if err := wtWait(t, ctx, drain, "Drain across Abort"); !errors.Is(err, chanstream.ErrClosed) {
		t.Errorf("Drain waiting at Abort = %v; want ErrClosed", err)
	}
	if err := c.W.WaitClosed(ctx); err != nil {
		t.Fatalf("WaitClosed after Abort = %v", err)
	}
	select {
	case <-c.W.Done():
	default:
		t.Fatal("Done() not closed after WaitClosed returned nil")
	}
	if n, err := c.W.Write([]byte("x")); n != 0 || !errors.Is(err, chanstream.ErrClosed) {
		t.Errorf("Write after Abort = %d, %v; want 0, ErrClosed", n, err)
	}
	// The peer gets what reached its kernel, a prefix, then the end.
	got, err := s.R.ReadAll(ctx)
	if err != nil && !wtIsReset(err) {
		t.Fatalf("peer ReadAll = %d bytes, %v; want nil or a reset", len(got), err)
	}
	if len(got) >= total || !bytes.Equal(got, data[:len(got)]) {
		t.Fatalf("peer got %d bytes (prefix ok: %v); want a prefix shorter than %d", len(got), bytes.Equal(got, data[:min(len(got), total)]), total)
	}
}

// TestDrainWatermarks: Drain returns at once while at most high bytes are
// queued, and otherwise only once the peer has read the queue down to low.
func TestDrainWatermarks(t *testing.T) {
	tests := []struct{ high, low int }{
		{256 << 10, 64 << 10},
		{256 << 10, 0}, // low 0: Drain waits for an empty queue
		{512 << 10, 512 << 10},
		{0, 0},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("high=%d,low=%d", tt.high, tt.low), func(t *testing.T) {
			testutil.CheckLeaks(t)
			ctx := wtCtx(t)
			// Start with marks far above what gets queued.
			c, s := testutil.Loopback(t, chanstream.WithWriteBufferLimits(64<<20, 0))
			wtSmallBuffers(t, c.W.Conn(), s.W.Conn())
			const total = 4 << 20
			data := wtPattern(total, 2)
			if err := wtWriteAll(c.W, data, 256<<10); err != nil {
				t.Fatal(err)
			}
			if n := c.W.Buffered(); n <= 2<<20 {
				t.Fatalf("Buffered() = %d with a peer that does not read; want > %d (the kernel holds less)", n, 2<<20)
			}
			// Stuck above low but at most high: Drain must not wait (a
			// Drain that did would wait for ever here, as nobody reads).
			dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err := c.W.Drain(dctx)
			cancel()
			if err != nil {
				t.Fatalf("Drain with %d bytes queued <= high = %v; want nil at once", c.W.Buffered(), err)
			}

			if err := c.W.SetWriteBufferLimits(tt.high, tt.low); err != nil {
				t.Fatalf("SetWriteBufferLimits(%d, %d) = %v", tt.high, tt.low, err)
			}
			if h, l := c.W.WriteBufferLimits(); h != tt.high || l != tt.low {
				t.Fatalf("WriteBufferLimits() = %d, %d; want %d, %d", h, l, tt.high, tt.low)
			}
			dctx, cancel = context.WithTimeout(ctx, wtBlocked)
			err = c.W.Drain(dctx)
			cancel()
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Drain above high with nobody reading = %v; want context.DeadlineExceeded", err)
			}

			peer := wtGo(func() error { return wtReadSlowly(ctx, s.R, data, 16<<10) })
			if err := c.W.Drain(ctx); err != nil {
				t.Fatalf("Drain while the peer reads = %v", err)
			}
			if n := c.W.Buffered(); n > tt.low {
				t.Errorf("Buffered() = %d right after Drain returned; want <= low = %d", n, tt.low)
			}
			if err := wtWait(t, ctx, peer, "peer reading"); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestDrainSeesNewLimits: raising the marks wakes a Drain that waits.
func TestDrainSeesNewLimits(t *testing.T) {
	testutil.CheckLeaks(t)
	ctx := wtCtx(t)
	c, s := testutil.Loopback(t, chanstream.WithWriteBufferLimits(64<<10, 16<<10))
	wtSmallBuffers(t, c.W.Conn(), s.W.Conn())
	if err := wtWriteAll(c.W, wtPattern(4<<20, 3), 1<<20); err != nil {
		t.Fatal(err)
	}
	drain := wtGo(func() error { return c.W.Drain(ctx) })
	if err := c.W.SetWriteBufferLimits(64<<20, 64<<20); err != nil {
		t.Fatal(err)
	}
	if err := wtWait(t, ctx, drain, "Drain after the marks were raised"); err != nil {
		t.Fatalf("Drain = %v; want nil once the queue is below the new low mark", err)
	}
}

// TestWriterBufferLimits: defaults, setting, and rejecting invalid marks.
func TestWriterBufferLimits(t *testing.T) {
	testutil.CheckLeaks(t)
	ctx := wtCtx(t)
	c, _ := testutil.Loopback(t)
	if h, l := c.W.WriteBufferLimits(); h != chanstream.DefaultHighWater || l != chanstream.DefaultHighWater/4 {
		t.Fatalf("default WriteBufferLimits() = %d, %d; want %d, %d", h, l, chanstream.DefaultHighWater, chanstream.DefaultHighWater/4)
	}
	for _, m := range [][2]int{{100, 50}, {7, 7}, {0, 0}, {1 << 30, 0}} {
		if err := c.W.SetWriteBufferLimits(m[0], m[1]); err != nil {
			t.Fatalf("SetWriteBufferLimits(%d, %d) = %v; want nil", m[0], m[1], err)
		}
		if h, l := c.W.WriteBufferLimits(); h != m[0] || l != m[1] {
			t.Fatalf("WriteBufferLimits() = %d, %d; want %d, %d", h, l, m[0], m[1])
		}
	}
	if err := c.W.SetWriteBufferLimits(300, 100); err != nil {
		t.Fatal(err)
	}
	invalid := [][2]int{{1, 2}, {-1, -1}, {5, -1}, {-1, 0}, {-5, -10}}
	for _, m := range invalid {
		err := c.W.SetWriteBufferLimits(m[0], m[1])
		if !errors.Is(err, chanstream.ErrInvalidArgument) {
			t.Errorf("SetWriteBufferLimits(%d, %d) = %v; want ErrInvalidArgument", m[0], m[1], err)
		}
		if h, l := c.W.WriteBufferLimits(); h != 300 || l != 100 {
			t.Errorf("after SetWriteBufferLimits(%d, %d) failed: WriteBufferLimits() = %d, %d; want 300, 100 unchanged", m[0], m[1], h, l)
		}
	}

	for _, m := range invalid {
		name := fmt.Sprintf("WithWriteBufferLimits(%d,%d)", m[0], m[1])
		t.Run(name, func(t *testing.T) {
			cc, _ := testutil.TCPPair(t)
			var w *chanstream.Writer
			err := wtPanicErr(func() { _, w = chanstream.New(cc, chanstream.WithWriteBufferLimits(m[0], m[1])) })
			if w != nil { // it did not panic: end what it started
				_ = w.Abort()
				_ = w.WaitClosed(ctx)
			}
			if !errors.Is(err, chanstream.ErrInvalidArgument) {
				t.Errorf("New(conn, %s) panicked with %v; want a panic with an error wrapping ErrInvalidArgument", name, err)
			}
			w = nil
			err = wtPanicErr(func() { w = chanstream.NewWriter(io.Discard, chanstream.WithWriteBufferLimits(m[0], m[1])) })
			if w != nil {
				_ = w.Abort()
				_ = w.WaitClosed(ctx)
			}
			if !errors.Is(err, chanstream.ErrInvalidArgument) {
				t.Errorf("NewWriter(io.Discard, %s) panicked with %v; want a panic with an error wrapping ErrInvalidArgument", name, err)
			}
		})
	}
}

// TestResetByPeer: a peer that resets (SO_LINGER 0, then close). Reads
// return every byte received before the reset, then the reset; writes and
// Drain fail at once and never hang.
func TestResetByPeer(t *testing.T) {
	reset := func(t *testing.T, peer net.Conn) {
		t.Helper()
		if err := peer.(*net.TCPConn).SetLinger(0); err != nil {
			t.Fatal(err)
		}
		if err := peer.Close(); err != nil {
			t.Fatal(err)
		}
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()

	// The reader goroutine sees the reset first.
	t.Run("read", func(t *testing.T) {
		testutil.CheckLeaks(t)
		ctx := wtCtx(t)
		cc, sc := testutil.TCPPair(t)
		r, w := wtNew(t, cc)
		// One write, one segment: once "line1\n" is read, "partial" is here too.
		if _, err := sc.Write([]byte("line1\npartial")); err != nil {
			t.Fatal(err)
		}
		if line, err := r.ReadLine(ctx); string(line) != "line1\n" || err != nil {
			t.Fatalf("ReadLine() = %q, %v; want %q, nil", line, err, "line1\n")
		}
		reset(t, sc)
		line, err := r.ReadLine(ctx)
		if string(line) != "partial" || !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("ReadLine() after the reset = %q, %v; want %q, ECONNRESET", line, err, "partial")
		}
		if line, err := r.ReadLine(ctx); line != nil || !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("ReadLine() again = %q, %v; want nil, ECONNRESET", line, err)
		}
		if err := r.Err(); !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("Err() = %v; want ECONNRESET", err)
		}
		if n, err := w.Write([]byte("more")); n != 0 || !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("Write after the reset = %d, %v; want 0, ECONNRESET", n, err)
		}
		// Drain reports the failure at once, even with an ended ctx.
		if err := w.Drain(cancelled); !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("Drain after the reset = %v; want ECONNRESET", err)
		}
		if !w.IsClosing() {
			t.Error("IsClosing() = false after the connection failed")
		}
		if err := w.WaitClosed(ctx); err != nil {
			t.Fatalf("WaitClosed() = %v", err)
		}
	})

	// The writer meets the reset first: the reader goroutine is paused
	// (the Reader is full), so only the writes can see it.
	t.Run("write", func(t *testing.T) {
		testutil.CheckLeaks(t)
		ctx := wtCtx(t)
		cc, sc := testutil.TCPPair(t)
		r, w := wtNew(t, cc, chanstream.WithLimit(16))
		msg := wtPattern(100, 4)
		if _, err := sc.Write(msg); err != nil {
			t.Fatal(err)
		}
		// The 100 bytes came in one read; 90 left > 2×limit: the reader
		// goroutine stops reading the connection.
		if b, err := r.ReadExactly(ctx, 10); !bytes.Equal(b, msg[:10]) || err != nil {
			t.Fatalf("ReadExactly(10) = %q, %v", b, err)
		}
		reset(t, sc)

		buf := wtPattern(256<<10, 5)
		var werr error
		for werr == nil && ctx.Err() == nil {
			if _, werr = w.Write(buf); werr == nil {
				werr = w.Drain(ctx)
			}
		}
		if !wtIsReset(werr) {
			t.Fatalf("Write/Drain into a reset connection = %v; want ECONNRESET or EPIPE", werr)
		}
		if err := w.Drain(cancelled); !wtIsReset(err) {
			t.Errorf("Drain after the failure = %v; want ECONNRESET or EPIPE at once", err)
		}
		if n, err := w.Write([]byte("x")); n != 0 || !wtIsReset(err) {
			t.Errorf("Write after the failure = %d, %v; want 0, ECONNRESET or EPIPE", n, err)
		}
		if b, err := r.ReadExactly(ctx, 90); !bytes.Equal(b, msg[10:]) || err != nil {
			t.Fatalf("ReadExactly(90) of the bytes buffered before the reset = %d bytes, %v; want them, nil", len(b), err)
		}
		if b, err := r.ReadUpTo(ctx, 10); b != nil || !wtIsReset(err) {
			t.Fatalf("ReadUpTo() after the buffered bytes = %q, %v; want nil, ECONNRESET or EPIPE", b, err)
		}
		if err := w.WaitClosed(ctx); err != nil {
			t.Fatalf("WaitClosed() = %v", err)
		}
	})
	// Drain is waiting (the peer does not read) when the reset comes.
	t.Run("drain", func(t *testing.T) {
		testutil.CheckLeaks(t)
		ctx := wtCtx(t)
		cc, sc := testutil.TCPPair(t)
		r, w := wtNew(t, cc)
		wtSmallBuffers(t, cc, sc)
		if err := wtWriteAll(w, wtPattern(4<<20, 17), 1<<20); err != nil {
			t.Fatal(err)
		}
		dctx, cancel := context.WithTimeout(ctx, wtBlocked)
		err := w.Drain(dctx)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Drain with a peer that does not read = %v; want context.DeadlineExceeded", err)
		}
		drain := wtGo(func() error { return w.Drain(ctx) })
		reset(t, sc)
		if err := wtWait(t, ctx, drain, "Drain across the reset"); !wtIsReset(err) {
			t.Fatalf("Drain waiting at the reset = %v; want ECONNRESET or EPIPE", err)
		}
		if n, err := w.Write([]byte("x")); n != 0 || !wtIsReset(err) {
			t.Errorf("Write after the reset = %d, %v; want 0, ECONNRESET or EPIPE", n, err)
		}
		// The kernel reports the reset to one call: when the writer's
		// took it, the reader's recv sees a plain EOF. The stream knows
		// better: reads (and Err) report the failure, as asyncio's
		// connection_lost(exc) sets the reader's exception.
		if b, err := r.ReadUpTo(ctx, 10); b != nil || !wtIsReset(err) {
			t.Errorf("ReadUpTo() after the reset = %q, %v; want nil, ECONNRESET or EPIPE (not a clean EOF)", b, err)
		}
		if err := r.Err(); !wtIsReset(err) {
			t.Errorf("Err() after the reset = %v; want ECONNRESET or EPIPE", err)
		}
		if err := w.WaitClosed(ctx); err != nil {
			t.Fatalf("WaitClosed() = %v", err)
		}
	})
}

// TestCloseFlushes: Close stops new writes at once, writes every queued
// byte, then closes; the peer reads all of it, then EOF.
func TestCloseFlushes(t *testing.T) {
	testutil.CheckLeaks(t)
	ctx := wtCtx(t)
	c, s := testutil.Loopback(t)
	const total = 8 << 20
	data := wtPattern(total, 6)
	if err := wtWriteAll(c.W, data, 1<<20); err != nil {
		t.Fatal(err)
	}
	if c.W.IsClosing() {
		t.Fatal("IsClosing() = true before Close")
	}
	if err := c.W.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	if !c.W.IsClosing() {
		t.Fatal("IsClosing() = false after Close")
	}
	if n, err := c.W.Write([]byte("late")); n != 0 || !errors.Is(err, chanstream.ErrClosed) {
		t.Errorf("Write after Close = %d, %v; want 0, ErrClosed", n, err)
	}
	if n, err := c.W.WriteString("late"); n != 0 || !errors.Is(err, chanstream.ErrClosed) {
		t.Errorf("WriteString after Close = %d, %v; want 0, ErrClosed", n, err)
	}
	if n, err := c.W.WriteLines([]byte("late")); n != 0 || !errors.Is(err, chanstream.ErrClosed) {
		t.Errorf("WriteLines after Close = %d, %v; want 0, ErrClosed", n, err)
	}
	if err := c.W.WriteEOF(); !errors.Is(err, chanstream.ErrClosed) {
		t.Errorf("WriteEOF after Close = %v; want ErrClosed", err)
	}
	if err := c.W.Drain(ctx); !errors.Is(err, chanstream.ErrClosed) {
		t.Errorf("Drain after Close = %v; want ErrClosed", err)
	}
	if err := c.W.Close(); err != nil {
		t.Errorf("second Close() = %v; want nil", err)
	}
	got, err := s.R.ReadAll(ctx)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("peer ReadAll = %d bytes (equal: %v), %v; want the %d bytes written, nil", len(got), bytes.Equal(got, data), err, total)
	}
	if b, err := s.R.ReadUpTo(ctx, 1); b != nil || err != io.EOF {
		t.Errorf("peer ReadUpTo after everything = %q, %v; want nil, io.EOF", b, err)
	}
	if err := c.W.WaitClosed(ctx); err != nil {
		t.Fatalf("WaitClosed() = %v", err)
	}
	if n := c.W.Buffered(); n != 0 {
		t.Errorf("Buffered() = %d after the flush; want 0", n)
	}
	if err := c.W.Close(); err != nil {
		t.Errorf("Close() after WaitClosed = %v; want nil", err)
	}
	if !c.W.IsClosing() {
		t.Error("IsClosing() = false after the close")
	}
}

// TestAbortDrops: Abort drops the queue and closes at once.
func TestAbortDrops(t *testing.T) {
	testutil.CheckLeaks(t)
	ctx := wtCtx(t)
	c, s := testutil.Loopback(t)
	wtSmallBuffers(t, c.W.Conn(), s.W.Conn())
	const total = 16 << 20
	data := wtPattern(total, 7)
	if err := wtWriteAll(c.W, data, 1<<20); err != nil {
		t.Fatal(err)
	}
	if err := c.W.Abort(); err != nil {
		t.Fatalf("Abort() = %v", err)
	}
	if !c.W.IsClosing() {
		t.Error("IsClosing() = false after Abort")
	}
	if n := c.W.Buffered(); n != 0 {
		t.Errorf("Buffered() = %d after Abort; want 0", n)
	}
	// Promptly: no flush is attempted.
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := c.W.WaitClosed(wctx); err != nil {
		t.Fatalf("WaitClosed() after Abort = %v", err)
	}
	if n, err := c.W.Write([]byte("x")); n != 0 || !errors.Is(err, chanstream.ErrClosed) {
		t.Errorf("Write after Abort = %d, %v; want 0, ErrClosed", n, err)
	}
	if err := c.W.Drain(ctx); !errors.Is(err, chanstream.ErrClosed) {
		t.Errorf("Drain after Abort = %v; want ErrClosed", err)
	}
	if err := c.W.Close(); err != nil {
		t.Errorf("Close() after Abort = %v; want nil", err)
	}
	if err := c.W.Abort(); err != nil {
		t.Errorf("second Abort() = %v; want nil", err)
	}
	got, err := s.R.ReadAll(ctx)
	if err != nil && !wtIsReset(err) {
		t.Fatalf("peer ReadAll = %d bytes, %v; want EOF (nil) or a reset", len(got), err)
	}
	if len(got) >= total {
		t.Fatalf("peer got %d bytes; want fewer than the %d queued", len(got), total)
	}
	if !bytes.Equal(got, data[:len(got)]) {
		t.Fatalf("peer's %d bytes are not a prefix of what was written", len(got))
	}
}

// TestWriteEOFHalfClose: WriteEOF ends our direction after the queue;
// reading goes on, and the peer can still answer.
func TestWriteEOFHalfClose(t *testing.T) {
	testutil.CheckLeaks(t)
	ctx := wtCtx(t)
	c, s := testutil.Loopback(t)
	if !c.W.CanWriteEOF() || !s.W.CanWriteEOF() {
		t.Fatalf("CanWriteEOF() = %v, %v on TCP; want true", c.W.CanWriteEOF(), s.W.CanWriteEOF())
	}
	req := wtPattern(1<<20, 8)
	if err := wtWriteAll(c.W, req, 128<<10); err != nil {
		t.Fatal(err)
	}
	if err := c.W.WriteEOF(); err != nil {
		t.Fatalf("WriteEOF() = %v", err)
	}
	if c.W.IsClosing() {
		t.Error("IsClosing() = true after WriteEOF; want false")
	}
	if n, err := c.W.Write([]byte("late")); n != 0 || !errors.Is(err, chanstream.ErrClosed) {
		t.Errorf("Write after WriteEOF = %d, %v; want 0, ErrClosed", n, err)
	}
	if n, err := c.W.WriteString("late"); n != 0 || !errors.Is(err, chanstream.ErrClosed) {
		t.Errorf("WriteString after WriteEOF = %d, %v; want 0, ErrClosed", n, err)
	}
	if err := c.W.WriteEOF(); !errors.Is(err, chanstream.ErrClosed) {
		t.Errorf("second WriteEOF() = %v; want ErrClosed", err)
	}
	got, err := s.R.ReadAll(ctx)
	if err != nil || !bytes.Equal(got, req) {
		t.Fatalf("server ReadAll = %d bytes (equal: %v), %v; want the %d bytes, nil", len(got), bytes.Equal(got, req), err, len(req))
	}
	if !s.R.AtEOF() {
		t.Error("server AtEOF() = false after ReadAll")
	}
	if _, err := s.W.WriteString("reply\n"); err != nil {
		t.Fatalf("server WriteString = %v", err)
	}
	if err := s.W.Close(); err != nil {
		t.Fatal(err)
	}
	if line, err := c.R.ReadLine(ctx); string(line) != "reply\n" || err != nil {
		t.Fatalf("client ReadLine() = %q, %v; want %q, nil", line, err, "reply\n")
	}
	if line, err := c.R.ReadLine(ctx); line != nil || err != io.EOF {
		t.Fatalf("client ReadLine() at the end = %q, %v; want nil, io.EOF", line, err)
	}
	if c.W.IsClosing() {
		t.Error("IsClosing() = true after WriteEOF and the peer's close; want false until Close")
	}
	if err := c.W.Close(); err != nil {
		t.Fatal(err)
	}
	for _, w := range []*chanstream.Writer{c.W, s.W} {
		if err := w.WaitClosed(ctx); err != nil {
			t.Fatalf("WaitClosed() = %v", err)
		}
	}
}

// TestCloseReads: after a local Close or Abort, reads — one blocked at the
// time and later ones — return what is buffered, then ErrClosed.
func TestCloseReads(t *testing.T) {
	for _, how := range []string{"Close", "Abort"} {
		end := func(w *chanstream.Writer) error {
			if how == "Close" {
				return w.Close()
			}
			return w.Abort()
		}
		t.Run(how+"/blocked", func(t *testing.T) {
			testutil.CheckLeaks(t)
			ctx := wtCtx(t)
			c, s := testutil.Loopback(t)
			if _, err := s.W.WriteString("abc\ndef"); err != nil {
				t.Fatal(err)
			}
			if line, err := c.R.ReadLine(ctx); string(line) != "abc\n" || err != nil {
				t.Fatalf("ReadLine() = %q, %v", line, err)
			}
			type res struct {
				b   []byte
				err error
			}
			blocked := make(chan res, 1)
			go func() {
				b, err := c.R.ReadLine(ctx) // "def" has no "\n": waits
				blocked <- res{b, err}
			}()
			if err := end(c.W); err != nil {
				t.Fatal(err)
			}
			var got res
			select {
			case got = <-blocked:
			case <-ctx.Done():
				t.Fatal("a read blocked at the close did not return")
			}
			if string(got.b) != "def" || !errors.Is(got.err, chanstream.ErrClosed) {
				t.Fatalf("blocked ReadLine() = %q, %v; want %q, ErrClosed", got.b, got.err, "def")
			}
			if b, err := c.R.ReadLine(ctx); b != nil || !errors.Is(err, chanstream.ErrClosed) {
				t.Fatalf("later ReadLine() = %q, %v; want nil, ErrClosed", b, err)
			}
			if err := c.W.WaitClosed(ctx); err != nil {
				t.Fatal(err)
			}
		})
		t.Run(how+"/later", func(t *testing.T) {
			testutil.CheckLeaks(t)
			ctx := wtCtx(t)
			c, s := testutil.Loopback(t)
			if _, err := s.W.WriteString("abc\ndef\nghi"); err != nil {
				t.Fatal(err)
			}
			if line, err := c.R.ReadLine(ctx); string(line) != "abc\n" || err != nil {
				t.Fatalf("ReadLine() = %q, %v", line, err)
			}
			if err := end(c.W); err != nil {
				t.Fatal(err)
			}
			if err := c.W.WaitClosed(ctx); err != nil {
				t.Fatal(err)
			}
			if line, err := c.R.ReadLine(ctx); string(line) != "def\n" || err != nil {
				t.Fatalf("ReadLine() after %s = %q, %v; want %q, nil", how, line, err, "def\n")
			}
			if line, err := c.R.ReadLine(ctx); string(line) != "ghi" || !errors.Is(err, chanstream.ErrClosed) {
				t.Fatalf("ReadLine() = %q, %v; want %q, ErrClosed", line, err, "ghi")
			}
			if line, err := c.R.ReadLine(ctx); line != nil || !errors.Is(err, chanstream.ErrClosed) {
				t.Fatalf("ReadLine() = %q, %v; want nil, ErrClosed", line, err)
			}
			if n, err := c.R.Read(make([]byte, 10)); n != 0 || !errors.Is(err, chanstream.ErrClosed) {
				t.Fatalf("Read() = %d, %v; want 0, ErrClosed", n, err)
			}
			if b, err := c.R.ReadExactly(ctx, 1); b != nil || !errors.Is(err, chanstream.ErrClosed) {
				t.Fatalf("ReadExactly(1) = %q, %v; want nil, ErrClosed", b, err)
			}
			if err := c.R.Err(); !errors.Is(err, chanstream.ErrClosed) {
				t.Errorf("Err() = %v; want ErrClosed", err)
			}
		})
	}
}

// wtSampler is a source for io.Copy into a Writer that records the
// Writer's queue at every Read. It has no WriteTo, so io.Copy uses the
// Writer's ReadFrom.
type wtSampler struct {
	src        io.Reader
	w          *chanstream.Writer
	maxQueued  int
	maxRead    int
	readsSeen  int
	queuedSeen []int
}

func (s *wtSampler) Read(p []byte) (int, error) {
	q := s.w.Buffered()
	s.maxQueued = max(s.maxQueued, q)
	s.maxRead = max(s.maxRead, len(p))
	s.readsSeen++
	if s.readsSeen%64 == 0 {
		s.queuedSeen = append(s.queuedSeen, q)
	}
	return s.src.Read(p)
}

// TestReadFromBounded: io.Copy into a Writer whose peer reads slowly keeps
// the queue near the high watermark.
func TestReadFromBounded(t *testing.T) {
	tests := []struct {
		name string
		opts []chanstream.Option
		high int
	}{
		{"default", nil, chanstream.DefaultHighWater},
		{"256KiB", []chanstream.Option{chanstream.WithWriteBufferLimits(256<<10, 32<<10)}, 256 << 10},
		{"zero", []chanstream.Option{chanstream.WithWriteBufferLimits(0, 0)}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			testutil.CheckLeaks(t)
			ctx := wtCtx(t)
			c, s := testutil.Loopback(t, tt.opts...)
			wtSmallBuffers(t, c.W.Conn(), s.W.Conn())
			const total = 8<<20 + 12345
			data := wtPattern(total, 9)
			peer := wtGo(func() error {
				if err := wtReadSlowly(ctx, s.R, data, 4<<10); err != nil {
					return err
				}
				if b, err := s.R.ReadUpTo(ctx, 1); b != nil || err != io.EOF {
					return fmt.Errorf("peer ReadUpTo at the end = %q, %v; want nil, io.EOF", b, err)
				}
				return nil
			})
			src := &wtSampler{src: bytes.NewReader(data), w: c.W}
			n, err := io.Copy(c.W, src)
			if n != total || err != nil {
				t.Fatalf("io.Copy = %d, %v; want %d, nil", n, err, total)
			}
			if bound := tt.high + wtChunk + src.maxRead; src.maxQueued > bound {
				t.Errorf("Buffered() reached %d during io.Copy; want <= high + 32 KiB + one read = %d (samples %v)", src.maxQueued, bound, src.queuedSeen)
			}
			t.Logf("io.Copy: %d reads of up to %d bytes; Buffered() at most %d (high %d)", src.readsSeen, src.maxRead, src.maxQueued, tt.high)
			if err := c.W.Close(); err != nil {
				t.Fatal(err)
			}
			if err := wtWait(t, ctx, peer, "peer reading"); err != nil {
				t.Fatal(err)
			}
			if err := c.W.WaitClosed(ctx); err != nil {
				t.Fatal(err)
			}
		})
	}
}

var errWtSource = errors.New("wt: source failed")

// wtFailingReader returns its data, then fails.
type wtFailingReader struct{ data []byte }

func (r *wtFailingReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, errWtSource
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

// TestReadFromErrors: ReadFrom returns the source's error with what it
// queued, and ErrClosed after Close.
func TestReadFromErrors(t *testing.T) {
	testutil.CheckLeaks(t)
	ctx := wtCtx(t)
	c, s := testutil.Loopback(t)
	data := wtPattern(100<<10, 10)
	n, err := c.W.ReadFrom(&wtFailingReader{data: data})
	if n != int64(len(data)) || !errors.Is(err, errWtSource) {
		t.Fatalf("ReadFrom(failing source) = %d, %v; want %d, errWtSource", n, err, len(data))
	}
	if got, err := s.R.ReadExactly(ctx, len(data)); !bytes.Equal(got, data) || err != nil {
		t.Fatalf("peer ReadExactly = %d bytes, %v; want what the source gave", len(got), err)
	}
	if n, err := c.W.ReadFrom(strings.NewReader("")); n != 0 || err != nil {
		t.Fatalf("ReadFrom(empty) = %d, %v; want 0, nil", n, err)
	}
	if err := c.W.Close(); err != nil {
		t.Fatal(err)
	}
	if n, err := c.W.ReadFrom(strings.NewReader("late")); n != 0 || !errors.Is(err, chanstream.ErrClosed) {
		t.Fatalf("ReadFrom after Close = %d, %v; want 0, ErrClosed", n, err)
	}
	if err := c.W.WaitClosed(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestWriterWriteLines: WriteLines and WriteString queue their bytes; each
// WriteLines is one unit, never split by a concurrent write.
func TestWriterWriteLines(t *testing.T) {
	testutil.CheckLeaks(t)
	ctx := wtCtx(t)
	c, s := testutil.Loopback(t)
	if n, err := c.W.WriteLines([]byte("a"), []byte("b\n"), nil, []byte("c\n")); n != 5 || err != nil {
		t.Fatalf("WriteLines = %d, %v; want 5, nil", n, err)
	}
	if n, err := c.W.WriteLines(); n != 0 || err != nil {
		t.Fatalf("WriteLines() = %d, %v; want 0, nil", n, err)
	}
	if n, err := c.W.WriteString("d\n"); n != 2 || err != nil {
		t.Fatalf("WriteString = %d, %v; want 2, nil", n, err)
	}
	for _, want := range []string{"ab\n", "c\n", "d\n"} {
		if line, err := s.R.ReadLine(ctx); string(line) != want || err != nil {
			t.Fatalf("ReadLine() = %q, %v; want %q, nil", line, err, want)
		}
	}

	// Concurrent units: a prefix, a body of up to 40 KiB (across chunk
	// boundaries), a suffix. Any interleaving breaks a line.
	const writers, units = 4, 100
	key := func(g, j int) string { return fmt.Sprintf("g%d-%03d:", g, j) }
	want := make(map[string]string)
	for g := range writers {
		for j := range units {
			body := bytes.Repeat([]byte{byte('a' + (g*31+j)%26)}, (g*7919+j*997)%(40<<10))
			want[key(g, j)] = key(g, j) + string(body) + ":end\n"
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for g := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range units {
				k := key(g, j)
				body := want[k][len(k) : len(want[k])-len(":end\n")]
				n, err := c.W.WriteLines([]byte(k), []byte(body), []byte(":end\n"))
				if n != len(want[k]) || err != nil {
					errs <- fmt.Errorf("WriteLines = %d, %v; want %d, nil", n, err, len(want[k]))
					return
				}
			}
		}()
	}
	seen := make(map[string]bool)
	var rerr error
	for range writers * units {
		line, err := s.R.ReadLine(ctx)
		if err != nil {
			rerr = fmt.Errorf("ReadLine() after %d lines = %v", len(seen), err)
			break
		}
		k := string(line[:min(len(line), len("g0-000:"))])
		if w, ok := want[k]; !ok || string(line) != w || seen[k] {
			rerr = fmt.Errorf("line %.40q... (%d bytes): split, interleaved or repeated", line, len(line))
			break
		}
		seen[k] = true
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if rerr != nil {
		t.Fatal(rerr)
	}
}

// TestWriterInfo: the connection, its addresses, ExtraInfo and ServerSide.
func TestWriterInfo(t *testing.T) {
	testutil.CheckLeaks(t)
	c, s := testutil.Loopback(t)
	if !s.W.ServerSide() || c.W.ServerSide() {
		t.Errorf("ServerSide() = client %v, server %v; want false, true", c.W.ServerSide(), s.W.ServerSide())
	}
	for _, e := range []struct {
		name    string
		w, peer *chanstream.Writer
	}{
		{"client", c.W, s.W},
		{"server", s.W, c.W},
	} {
		conn, ok := e.w.Conn().(*net.TCPConn)
		if !ok {
			t.Fatalf("%s: Conn() is a %T; want *net.TCPConn", e.name, e.w.Conn())
		}
		if got := e.w.ExtraInfo("socket"); got != net.Conn(conn) {
			t.Errorf("%s: ExtraInfo(socket) = %v; want Conn()", e.name, got)
		}
		if got, want := e.w.RemoteAddr(), conn.RemoteAddr(); got.String() != want.String() {
			t.Errorf("%s: RemoteAddr() = %v; want %v", e.name, got, want)
		}
		if got, want := e.w.LocalAddr(), conn.LocalAddr(); got.String() != want.String() {
			t.Errorf("%s: LocalAddr() = %v; want %v", e.name, got, want)
		}
		peername, ok := e.w.ExtraInfo("peername").(net.Addr)
		if !ok || peername.String() != e.peer.LocalAddr().String() {
			t.Errorf("%s: ExtraInfo(peername) = %v; want the peer's local address %v", e.name, peername, e.peer.LocalAddr())
		}
		sockname, ok := e.w.ExtraInfo("sockname").(net.Addr)
		if !ok || sockname.String() != e.w.LocalAddr().String() || sockname.String() != e.peer.RemoteAddr().String() {
			t.Errorf("%s: ExtraInfo(sockname) = %v; want %v", e.name, sockname, e.w.LocalAddr())
		}
		if ta, ok := sockname.(*net.TCPAddr); !ok || !ta.IP.IsLoopback() {
			t.Errorf("%s: sockname %v is not a loopback *net.TCPAddr", e.name, sockname)
		}
		for _, k := range []string{"nonexistent", "", "sslcontext", "ssl_object", "peercert", "cipher", "tls", "PEERNAME"} {
			if got := e.w.ExtraInfo(k); got != nil {
				t.Errorf("%s: ExtraInfo(%q) = %v; want nil", e.name, k, got)
			}
		}
	}

	// New(conn): Conn and "socket" are conn itself.
	cc, _ := testutil.TCPPair(t)
	_, w := wtNew(t, cc, chanstream.WithServerSide())
	if w.Conn() != cc || w.ExtraInfo("socket") != cc {
		t.Errorf("New(conn): Conn() = %v, ExtraInfo(socket) = %v; want conn itself", w.Conn(), w.ExtraInfo("socket"))
	}
	if !w.ServerSide() {
		t.Error("ServerSide() = false with WithServerSide")
	}
}

// wtSink is a sink with Close; it records what it had when it was closed.
type wtSink struct {
	mu       sync.Mutex
	buf      bytes.Buffer
	closes   int
	atClose  int
	writeErr error // returned by every Write once set
	failAt   int   // with writeErr: fail once buf holds at least this much
}

func (s *wtSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closes > 0 {
		return 0, io.ErrClosedPipe
	}
	if s.writeErr != nil && s.buf.Len() >= s.failAt {
		return 0, s.writeErr
	}
	return s.buf.Write(p)
}

func (s *wtSink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closes++
	s.atClose = s.buf.Len()
	return nil
}

// wtPlainSink has Write only.
type wtPlainSink struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *wtPlainSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

var errWtSink = errors.New("wt: sink failed")

// TestWriterNewWriter: a Writer over sinks that are not connections.
func TestWriterNewWriter(t *testing.T) {
	data := wtPattern(1<<20, 11)

	t.Run("pipe", func(t *testing.T) {
		testutil.CheckLeaks(t)
		ctx := wtCtx(t)
		pr, pw := io.Pipe()
		defer pr.Close()
		w := chanstream.NewWriter(pw)
		type res struct {
			b   []byte
			err error
		}
		got := make(chan res, 1)
		go func() {
			b, err := io.ReadAll(pr)
			got <- res{b, err}
		}()
		if err := wtWriteAll(w, data, 100<<10); err != nil {
			t.Fatal(err)
		}
		if n, err := w.WriteString("tail"); n != 4 || err != nil {
			t.Fatalf("WriteString = %d, %v", n, err)
		}
		if w.Conn() != nil || w.RemoteAddr() != nil || w.LocalAddr() != nil || w.ExtraInfo("peername") != nil || w.ExtraInfo("socket") != nil || w.ServerSide() {
			t.Errorf("NewWriter: Conn %v, RemoteAddr %v, LocalAddr %v, peername %v, socket %v, ServerSide %v; want nil, nil, nil, nil, nil, false",
				w.Conn(), w.RemoteAddr(), w.LocalAddr(), w.ExtraInfo("peername"), w.ExtraInfo("socket"), w.ServerSide())
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if n, err := w.Write([]byte("x")); n != 0 || !errors.Is(err, chanstream.ErrClosed) {
			t.Errorf("Write after Close = %d, %v; want 0, ErrClosed", n, err)
		}
		var r res
		select {
		case r = <-got:
		case <-ctx.Done():
			t.Fatal("the pipe was not closed after the flush")
		}
		want := append(bytes.Clone(data), "tail"...)
		if r.err != nil || !bytes.Equal(r.b, want) {
			t.Fatalf("pipe reader got %d bytes (equal: %v), %v; want %d bytes, nil", len(r.b), bytes.Equal(r.b, want), r.err, len(want))
		}
		if err := w.WaitClosed(ctx); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("pipe/WriteEOF", func(t *testing.T) {
		testutil.CheckLeaks(t)
		ctx := wtCtx(t)
		pr, pw := io.Pipe()
		defer pr.Close()
		w := chanstream.NewWriter(pw)
		done := wtGo(func() error {
			b, err := io.ReadAll(pr)
			if err != nil || !bytes.Equal(b, data) {
				return fmt.Errorf("pipe reader got %d bytes, %v; want %d bytes, nil", len(b), err, len(data))
			}
			return nil
		})
		if !w.CanWriteEOF() {
			t.Fatal("CanWriteEOF() = false for an io.Closer sink")
		}
		if err := wtWriteAll(w, data, 64<<10); err != nil {
			t.Fatal(err)
		}
		if err := w.WriteEOF(); err != nil {
			t.Fatalf("WriteEOF() = %v", err)
		}
		if w.IsClosing() {
			t.Error("IsClosing() = true after WriteEOF")
		}
		if err := wtWait(t, ctx, done, "pipe reader"); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if err := w.WaitClosed(ctx); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("closer", func(t *testing.T) {
		testutil.CheckLeaks(t)
		ctx := wtCtx(t)
		sink := &wtSink{}
		w := chanstream.NewWriter(sink)
		if err := wtWriteAll(w, data, 10000); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if err := w.WaitClosed(ctx); err != nil {
			t.Fatal(err)
		}
		sink.mu.Lock()
		defer sink.mu.Unlock()
		if sink.closes != 1 || sink.atClose != len(data) || !bytes.Equal(sink.buf.Bytes(), data) {
			t.Fatalf("sink closed %d times with %d bytes written, holding %d bytes; want closed once after all %d bytes", sink.closes, sink.atClose, sink.buf.Len(), len(data))
		}
	})

	t.Run("plain", func(t *testing.T) {
		testutil.CheckLeaks(t)
		ctx := wtCtx(t)
		sink := &wtPlainSink{}
		w := chanstream.NewWriter(sink)
		if w.CanWriteEOF() {
			t.Error("CanWriteEOF() = true for a sink without Close")
		}
		if err := w.WriteEOF(); !errors.Is(err, errors.ErrUnsupported) {
			t.Errorf("WriteEOF() = %v; want errors.ErrUnsupported", err)
		}
		if err := wtWriteAll(w, data, 50000); err != nil {
			t.Fatalf("after a refused WriteEOF: %v", err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if err := w.WaitClosed(ctx); err != nil {
			t.Fatal(err)
		}
		sink.mu.Lock()
		defer sink.mu.Unlock()
		if !bytes.Equal(sink.buf.Bytes(), data) {
			t.Fatalf("sink holds %d bytes; want the %d written", sink.buf.Len(), len(data))
		}
	})

	t.Run("failing", func(t *testing.T) {
		testutil.CheckLeaks(t)
		ctx := wtCtx(t)
		sink := &wtSink{writeErr: errWtSink, failAt: 1}
		w := chanstream.NewWriter(sink)
		if err := wtWriteAll(w, data[:1000], 1000); err != nil {
			t.Fatal(err)
		}
		// The sink takes the first write; the next one fails, whenever it comes.
		var werr error
		for werr == nil && ctx.Err() == nil {
			if _, werr = w.Write(data[:100<<10]); werr == nil {
				werr = w.Drain(ctx)
			}
		}
		if !errors.Is(werr, errWtSink) {
			t.Fatalf("Write/Drain into a failing sink = %v; want errWtSink", werr)
		}
		if err := w.WaitClosed(ctx); err != nil {
			t.Fatalf("WaitClosed() after the sink failed = %v", err)
		}
		if n, err := w.Write([]byte("x")); n != 0 || !errors.Is(err, errWtSink) {
			t.Errorf("Write after the failure = %d, %v; want 0, errWtSink", n, err)
		}
		if err := w.Drain(ctx); !errors.Is(err, errWtSink) {
			t.Errorf("Drain after the failure = %v; want errWtSink", err)
		}
		if !w.IsClosing() {
			t.Error("IsClosing() = false after the sink failed")
		}
	})

	t.Run("Drain", func(t *testing.T) {
		testutil.CheckLeaks(t)
		ctx := wtCtx(t)
		pr, pw := io.Pipe()
		defer pr.Close()
		const high, low = 1024, 256
		w := chanstream.NewWriter(pw, chanstream.WithWriteBufferLimits(high, low))
		peer := wtGo(func() error {
			var got []byte
			buf := make([]byte, 100) // a slow reader
			for {
				n, err := pr.Read(buf)
				got = append(got, buf[:n]...)
				if err == io.EOF {
					break
				}
				if err != nil {
					return err
				}
			}
			if !bytes.Equal(got, data[:64*512]) {
				return fmt.Errorf("pipe reader got %d bytes; want the %d written", len(got), 64*512)
			}
			return nil
		})
		for i := range 64 {
			if _, err := w.Write(data[i*512 : (i+1)*512]); err != nil {
				t.Fatal(err)
			}
			if err := w.Drain(ctx); err != nil {
				t.Fatalf("Drain() = %v", err)
			}
			if n := w.Buffered(); n > high {
				t.Fatalf("Buffered() = %d after Drain; want <= high = %d", n, high)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if err := wtWait(t, ctx, peer, "pipe reader"); err != nil {
			t.Fatal(err)
		}
		if err := w.WaitClosed(ctx); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("Abort", func(t *testing.T) {
		testutil.CheckLeaks(t)
		ctx := wtCtx(t)
		pr, pw := io.Pipe() // nobody reads: the writer goroutine blocks in Write
		defer pr.Close()
		w := chanstream.NewWriter(pw)
		if err := wtWriteAll(w, data, 1<<20); err != nil {
			t.Fatal(err)
		}
		if err := w.Abort(); err != nil {
			t.Fatal(err)
		}
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if err := w.WaitClosed(wctx); err != nil {
			t.Fatalf("WaitClosed() after Abort with the sink blocked = %v", err)
		}
		if n, err := pr.Read(make([]byte, 1)); n != 0 || err != io.EOF {
			t.Errorf("pipe Read after Abort = %d, %v; want 0, io.EOF (the sink was closed)", n, err)
		}
	})
}

// TestDrainAfterWriteFailure: when the sink fails, the queued bytes were
// not written; Drain must return the failure — never nil, never hang. The
// race between the failed write and the failure being recorded is narrow,
// so the test repeats it (up to a time budget well inside the watchdog).
func TestDrainAfterWriteFailure(t *testing.T) {
	testutil.CheckLeaks(t)
	ctx := wtCtx(t)
	data := wtPattern(256<<10, 18)
	nilDrains, rounds := 0, 0
	for start := time.Now(); rounds < 10000 && time.Since(start) < 5*time.Second; rounds++ {
		w := chanstream.NewWriter(&wtSink{writeErr: errWtSink})
		if _, err := w.Write(data); err != nil {
			t.Fatal(err)
		}
		dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := w.Drain(dctx)
		cancel()
		if err == nil {
			nilDrains++
		} else if !errors.Is(err, errWtSink) {
			t.Fatalf("round %d: Drain() = %v; want errWtSink", rounds, err)
		}
		if err := w.WaitClosed(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if nilDrains > 0 {
		t.Errorf("Drain() = nil in %d of %d rounds although every write failed; want errWtSink every time", nilDrains, rounds)
	}
	t.Logf("%d rounds", rounds)
}
