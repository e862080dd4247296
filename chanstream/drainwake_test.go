package chanstream_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/cspstream/streams/chanstream"
	"github.com/cspstream/streams/testutil"
)

// TestDrainWakesEveryWaiter: when the queue falls to low, every Drain
// waiting returns — one of them having been cancelled meanwhile — and the
// next rise above high makes Drain wait again.
func TestDrainWakesEveryWaiter(t *testing.T) {
	testutil.CheckLeaks(t)
	ctx := wtCtx(t)
	c, s := testutil.Loopback(t, chanstream.WithWriteBufferLimits(64<<10, 16<<10))
	wtSmallBuffers(t, c.W.Conn(), s.W.Conn())
	if err := wtWriteAll(c.W, wtPattern(4<<20, 5), 1<<20); err != nil {
		t.Fatal(err)
	}
	const waiters = 8
	drains := make([]<-chan error, waiters)
	for i := range drains {
		drains[i] = wtGo(func() error { return c.W.Drain(ctx) })
	}
	cctx, cancel := context.WithCancel(ctx)
	cancelled := wtGo(func() error { return c.W.Drain(cctx) })
	cancel()
	if err := wtWait(t, ctx, cancelled, "cancelled Drain"); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Drain = %v; want context.Canceled", err)
	}
	// Nobody reads: they all still wait.
	for i, ch := range drains {
		select {
		case err := <-ch:
			t.Fatalf("Drain %d returned %v with the queue above high and nobody reading", i, err)
		default:
		}
	}
	// The queue is now at or below the new low mark: every waiter returns.
	if err := c.W.SetWriteBufferLimits(64<<20, 64<<20); err != nil {
		t.Fatal(err)
	}
	for i, ch := range drains {
		if err := wtWait(t, ctx, ch, fmt.Sprintf("Drain %d", i)); err != nil {
			t.Fatalf("Drain %d = %v; want nil", i, err)
		}
	}
	// Above high again: Drain waits again.
	if err := c.W.SetWriteBufferLimits(1<<20, 0); err != nil {
		t.Fatal(err)
	}
	dctx, dcancel := context.WithTimeout(ctx, wtBlocked)
	defer dcancel()
	if err := c.W.Drain(dctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Drain above high again = %v; want context.DeadlineExceeded", err)
	}
	// And Abort ends a waiting Drain.
	waiting := wtGo(func() error { return c.W.Drain(ctx) })
	_ = c.W.Abort()
	if err := wtWait(t, ctx, waiting, "Drain during Abort"); !errors.Is(err, chanstream.ErrClosed) {
		t.Fatalf("Drain during Abort = %v; want ErrClosed", err)
	}
}
