package chanstream_test

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cspstream/streams/chanstream"
	"github.com/cspstream/streams/testutil"
)

// ctlConn: a net.Conn whose Read blocks until closed or until a read
// deadline in the past is set; onPast runs inside SetReadDeadline(past).
type ctlConn struct {
	mu     sync.Mutex
	past   bool
	wakeCh chan struct{}
	done   chan struct{}
	once   sync.Once
	onPast func()
}

func newCtl() *ctlConn { return &ctlConn{wakeCh: make(chan struct{}, 1), done: make(chan struct{})} }
func (c *ctlConn) Read(p []byte) (int, error) {
	for {
		c.mu.Lock()
		past := c.past
		c.mu.Unlock()
		if past {
			return 0, os.ErrDeadlineExceeded
		}
		select {
		case <-c.done:
			return 0, net.ErrClosed
		case <-c.wakeCh:
		}
	}
}
func (c *ctlConn) Write(p []byte) (int, error)        { return len(p), nil }
func (c *ctlConn) Close() error                       { c.once.Do(func() { close(c.done) }); return nil }
func (c *ctlConn) LocalAddr() net.Addr                { return nil }
func (c *ctlConn) RemoteAddr() net.Addr               { return nil }
func (c *ctlConn) SetDeadline(t time.Time) error      { return nil }
func (c *ctlConn) SetWriteDeadline(t time.Time) error { return nil }
func (c *ctlConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.past = !t.IsZero() && t.Before(time.Now())
	past := c.past
	c.mu.Unlock()
	select {
	case c.wakeCh <- struct{}{}:
	default:
	}
	if past && c.onPast != nil {
		c.onPast()
	}
	return nil
}

// A: Abort after the reader goroutine parked but before parkGoroutine reads
// parked -> parkGoroutine's inner drain loop receives from the closed chunks
// channel forever (busy spin), holding the read token.
func TestReviewUpgradeAbortSpin(t *testing.T) {
	for i := 0; i < 20; i++ {
		c := newCtl()
		_, w := chanstream.New(c)
		c.onPast = func() {
			time.Sleep(20 * time.Millisecond) // reader goroutine: timeout -> park -> parked<- -> select
			_ = w.Abort()                     // park sees closed -> finish -> close(chunks)
			<-w.Done()
		}
		res := make(chan error, 1)
		go func() {
			res <- w.Upgrade(context.Background(), func(ctx context.Context, nc net.Conn, _ []byte) (net.Conn, error) { return nc, nil })
		}()
		select {
		case err := <-res:
			t.Logf("iteration %d: Upgrade returned %v", i, err)
		case <-time.After(20 * time.Second):
			t.Fatalf("iteration %d: Upgrade never returned (spinning in parkGoroutine)", i)
		}
	}
}

// B: FeedEOF, a read that sees it, then the source delivers: the chunk may
// be queued after endFed, and stays counted forever.
func TestReviewFeedEOFBufferedStuck(t *testing.T) {
	ctx := context.Background()
	for i := 0; i < 50; i++ {
		pr, pw := io.Pipe()
		r := chanstream.NewReader(pr)
		time.Sleep(5 * time.Millisecond) // reader goroutine blocked in pr.Read
		r.FeedEOF()
		if b, err := r.ReadUpTo(ctx, 10); b != nil || err != io.EOF {
			t.Fatalf("ReadUpTo = %q, %v", b, err)
		}
		pw.Write([]byte("hello"))
		time.Sleep(10 * time.Millisecond)
		pw.Close()
		if r.Buffered() != 0 || !r.AtEOF() {
			b, err := r.ReadUpTo(ctx, 10)
			t.Fatalf("iteration %d: after FeedEOF and EOF read: Buffered()=%d AtEOF()=%v; ReadUpTo=%q,%v", i, r.Buffered(), r.AtEOF(), b, err)
		}
	}
}

// B2: bytes delivered after FeedEOF reach the application.
func TestReviewFeedEOFDeliversLaterBytes(t *testing.T) {
	ctx := context.Background()
	for i := 0; i < 50; i++ {
		pr, pw := io.Pipe()
		r := chanstream.NewReader(pr)
		time.Sleep(5 * time.Millisecond) // reader goroutine blocked in pr.Read
		r.FeedEOF()
		pw.Write([]byte("late"))
		time.Sleep(5 * time.Millisecond)
		b, err := r.ReadUpTo(ctx, 10)
		pw.Close()
		if b != nil {
			t.Fatalf("iteration %d: ReadUpTo after FeedEOF = %q, %v; FeedEOF doc says later bytes are discarded", i, b, err)
		}
	}
}

// C: graceful Close during Upgrade closes the raw conn under fn.
func TestReviewCloseDuringUpgrade(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _ := testutil.Loopback(t)
	var werr error
	err := c.W.Upgrade(ctx, func(ctx context.Context, nc net.Conn, _ []byte) (net.Conn, error) {
		_ = c.W.Close() // another goroutine would do this; Close does not block
		time.Sleep(100 * time.Millisecond)
		_, werr = nc.Write([]byte("handshake"))
		return nc, nil
	})
	t.Logf("Upgrade = %v; fn's write on the raw conn after Close = %v", err, werr)
	if werr != nil {
		t.Errorf("Close during Upgrade closed the conn fn owns: %v", werr)
	}
}

// C2: WriteEOF during Upgrade half-closes the raw conn under fn.
func TestReviewWriteEOFDuringUpgrade(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, s := testutil.Loopback(t)
	var weofErr, werr error
	err := c.W.Upgrade(ctx, func(ctx context.Context, nc net.Conn, _ []byte) (net.Conn, error) {
		weofErr = c.W.WriteEOF()
		time.Sleep(100 * time.Millisecond)
		_, werr = nc.Write([]byte("handshake"))
		return nc, nil
	})
	b, rerr := s.R.ReadUpTo(ctx, 100)
	t.Logf("Upgrade = %v; WriteEOF = %v; fn write = %v; peer read %q, %v", err, weofErr, werr, b, rerr)
	if werr != nil {
		t.Errorf("WriteEOF during Upgrade half-closed the conn fn owns: %v", werr)
	}
}

// C3: Upgrade after WriteEOF is accepted and fn gets a half-closed conn.
func TestReviewUpgradeAfterWriteEOF(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _ := testutil.Loopback(t)
	if err := c.W.WriteEOF(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	called := false
	err := c.W.Upgrade(ctx, func(ctx context.Context, nc net.Conn, _ []byte) (net.Conn, error) {
		called = true
		_, werr := nc.Write([]byte("x"))
		return nc, werr
	})
	if called || !errors.Is(err, chanstream.ErrClosed) {
		t.Errorf("Upgrade after WriteEOF = %v (fn called: %v); want ErrClosed without calling fn", err, called)
	}
}

type countCloser struct{ n atomic.Int32 }

func (c *countCloser) Write(p []byte) (int, error) { return len(p), nil }
func (c *countCloser) Close() error {
	if c.n.Add(1) > 1 {
		return errors.New("closed twice")
	}
	return nil
}

// D: NewWriter, WriteEOF then Close closes the sink twice.
func TestReviewNewWriterDoubleClose(t *testing.T) {
	cc := &countCloser{}
	w := chanstream.NewWriter(cc)
	if err := w.WriteEOF(); err != nil {
		t.Fatal(err)
	}
	for cc.n.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	w.Close()
	w.WaitClosed(context.Background())
	if n := cc.n.Load(); n != 1 {
		t.Errorf("sink closed %d times", n)
	}
}

// E: Upgrade waits for an empty queue; concurrent writers keep it non-empty.
func TestReviewUpgradeStarvedByWrites(t *testing.T) {
	c, s := testutil.Loopback(t)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(5)
	go func() { defer wg.Done(); io.Copy(io.Discard, s.R) }()
	for range 4 {
		go func() {
			defer wg.Done()
			p := make([]byte, 512)
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := c.W.Write(p); err != nil {
					return
				}
				if err := c.W.Drain(context.Background()); err != nil {
					return
				}
			}
		}()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	start := time.Now()
	err := c.W.Upgrade(ctx, func(ctx context.Context, nc net.Conn, _ []byte) (net.Conn, error) { return nc, nil })
	t.Logf("Upgrade with a concurrent writer = %v after %v", err, time.Since(start))
	close(stop)
	c.W.Abort()
	s.W.Abort()
	wg.Wait()
	if err != nil {
		t.Error("Upgrade starved by concurrent Writes")
	}
}
