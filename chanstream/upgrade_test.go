package chanstream_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cspstream/streams/chanstream"
	"github.com/cspstream/streams/testutil"
)

// Upgrade tests: a toy "encryption" (XOR with wtKey) stands in for TLS, so
// that a raw peer can tell plaintext from what went through the wrapper.

const wtKey = 0x5a

// wtXOR returns p XORed with wtKey.
func wtXOR(p []byte) []byte {
	b := bytes.Clone(p)
	for i := range b {
		b[i] ^= wtKey
	}
	return b
}

// wtXORConn is the conn an upgrade returns: it XORs what it reads and
// writes. pre, when set, is read (and decrypted) before the conn: the bytes
// the stream had already read, replayed.
type wtXORConn struct {
	net.Conn
	pre     []byte // read by the reader goroutine only
	read    atomic.Int64
	written atomic.Int64
}

func (c *wtXORConn) Read(p []byte) (int, error) {
	var n int
	var err error
	if len(c.pre) > 0 {
		n = copy(p, c.pre)
		c.pre = c.pre[n:]
	} else {
		n, err = c.Conn.Read(p)
	}
	for i := range p[:n] {
		p[i] ^= wtKey
	}
	c.read.Add(int64(n))
	return n, err
}

func (c *wtXORConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(wtXOR(p))
	c.written.Add(int64(n))
	return n, err
}

// wtNoCall is an upgrade function that must not be called.
func wtNoCall(t *testing.T) func(context.Context, net.Conn, []byte) (net.Conn, error) {
	return func(context.Context, net.Conn, []byte) (net.Conn, error) {
		t.Error("the upgrade function was called")
		return nil, errors.New("wt: must not be called")
	}
}

// TestUpgradeUnread: fn gets exactly the bytes received and not consumed —
// those in the Reader's buffer and those still queued between the
// goroutines — and they never reach the application afterwards, whether fn
// replays them through its conn or consumes them itself.
func TestUpgradeUnread(t *testing.T) {
	tests := []struct {
		name   string
		extra  int  // bytes after "UNREAD-BYTES", sent in the same write
		replay bool // fn replays unread through its conn; else it consumes the handshake
		limit  int  // WithLimit; 0 for the default
	}{
		{"discard", 0, false, 0},
		{"discard/200KiB", 200 << 10, false, 0},
		{"replay", 0, true, 0},
		{"replay/200KiB", 200 << 10, true, 0},
		// With a large limit the reader goroutine does not pause: it fills
		// the chunk channel and blocks sending the next chunk.
		{"discard/200KiB/limit=1MiB", 200 << 10, false, 1 << 20},
		{"replay/200KiB/limit=1MiB", 200 << 10, true, 1 << 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			testutil.CheckLeaks(t)
			ctx := wtCtx(t)
			cc, sc := testutil.TCPPair(t)
			wtDeadline(t, ctx, sc)
			var opts []chanstream.Option
			if tt.limit > 0 {
				opts = append(opts, chanstream.WithLimit(tt.limit))
			}
			r, w := wtNew(t, cc, opts...)

			payload := append([]byte("UNREAD-BYTES"), wtPattern(tt.extra, 12)...)
			// replay: the peer pipelines its encrypted stream right after the
			// command, as a TLS client may send its ClientHello. discard: the
			// payload is a plaintext handshake that fn consumes.
			wire := payload
			if tt.replay {
				wire = wtXOR(payload)
			}
			peer := wtGo(func() error {
				// One write: "UNREAD-BYTES" arrives with "BEFORE\n".
				if _, err := sc.Write(append([]byte("BEFORE\n"), wire...)); err != nil {
					return err
				}
				ping := make([]byte, len("PING\n"))
				if _, err := io.ReadFull(sc, ping); err != nil {
					return err
				}
				if string(wtXOR(ping)) != "PING\n" {
					return fmt.Errorf("peer got %q after the upgrade; want %q XORed", ping, "PING\n")
				}
				_, err := sc.Write(wtXOR([]byte("AFTER\n")))
				return err
			})

			if line, err := r.ReadLine(ctx); string(line) != "BEFORE\n" || err != nil {
				t.Fatalf("ReadLine() = %q, %v; want %q, nil", line, err, "BEFORE\n")
			}
			// Nothing consumes between here and fn: it gets at least these.
			buffered := r.Buffered()

			var unread []byte
			var nc *wtXORConn
			calls := 0
			var during <-chan error // a read started while fn runs
			err := w.Upgrade(ctx, func(ctx context.Context, conn net.Conn, u []byte) (net.Conn, error) {
				calls++
				// Upgrade holds the read token: this read waits for it, then
				// reads from the new conn.
				during = wtGo(func() error {
					if tt.replay {
						if b, err := r.ReadExactly(ctx, len(payload)); !bytes.Equal(b, payload) || err != nil {
							return fmt.Errorf("ReadExactly(%d) started during fn = %d bytes starting %.20q, %v; want the payload once, decrypted", len(payload), len(b), b, err)
						}
					}
					// Nothing of the old stream comes before the first line after it.
					if line, err := r.ReadLine(ctx); string(line) != "AFTER\n" || err != nil {
						return fmt.Errorf("ReadLine() after Upgrade = %.40q, %v; want %q, nil", line, err, "AFTER\n")
					}
					return nil
				})
				if conn != cc {
					return nil, fmt.Errorf("fn got conn %v; want the raw conn", conn)
				}
				unread = bytes.Clone(u)
				if !tt.replay {
					// The handshake: take what the stream had, read the rest
					// of it from the conn, keep nothing.
					rest := make([]byte, max(0, len(payload)-len(u)))
					if d, ok := ctx.Deadline(); ok {
						_ = conn.SetReadDeadline(d)
					}
					if _, err := io.ReadFull(conn, rest); err != nil {
						return nil, fmt.Errorf("reading the rest of the handshake: %w", err)
					}
					_ = conn.SetReadDeadline(time.Time{})
					if !bytes.Equal(append(bytes.Clone(u), rest...), payload) {
						return nil, errors.New("unread + the rest from the conn != what the peer sent after BEFORE")
					}
					nc = &wtXORConn{Conn: conn}
					return nc, nil
				}
				nc = &wtXORConn{Conn: conn, pre: u}
				return nc, nil
			})
			if err != nil || calls != 1 {
				t.Fatalf("Upgrade() = %v with fn called %d times; want nil, once", err, calls)
			}
			t.Logf("Buffered() before Upgrade: %d; fn got %d unread bytes", buffered, len(unread))
			if len(unread) < buffered {
				t.Errorf("fn got %d unread bytes; want at least the %d Buffered() reported", len(unread), buffered)
			}
			plain := unread
			if tt.replay {
				plain = wtXOR(unread)
			}
			if tt.extra == 0 && string(plain) != "UNREAD-BYTES" {
				t.Fatalf("fn got unread %q; want exactly %q", plain, "UNREAD-BYTES")
			}
			if len(plain) < len("UNREAD-BYTES") || len(plain) > len(payload) || !bytes.Equal(plain, payload[:len(plain)]) {
				t.Fatalf("fn got %d unread bytes starting %.20q; want a prefix of %.20q... starting with UNREAD-BYTES", len(plain), plain, payload)
			}
			if w.Conn() != net.Conn(nc) || w.ExtraInfo("socket") != net.Conn(nc) {
				t.Errorf("after Upgrade: Conn() = %T, ExtraInfo(socket) = %T; want the conn fn returned", w.Conn(), w.ExtraInfo("socket"))
			}

			if !tt.replay {
				// fn kept the unread bytes: the Reader holds none of them
				// (the peer sends more only after PING).
				if n := r.Buffered(); n != 0 {
					t.Errorf("Buffered() = %d after Upgrade; want 0 (fn owns the unread bytes)", n)
				}
			}
			if _, err := w.WriteString("PING\n"); err != nil {
				t.Fatal(err)
			}
			if err := wtWait(t, ctx, during, "read started during fn"); err != nil {
				t.Error(err)
			}
			if err := wtWait(t, ctx, peer, "peer"); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if err := w.WaitClosed(ctx); err != nil {
				t.Fatal(err)
			}
			// The goroutines have returned: their counts are final.
			if nc.written.Load() != int64(len("PING\n")) || nc.read.Load() == 0 {
				t.Errorf("through the upgraded conn: %d bytes written, %d read; want %d written, some read", nc.written.Load(), nc.read.Load(), len("PING\n"))
			}
		})
	}
}

// TestUpgradeFlushesQueuedWrites: what was queued before Upgrade reaches
// the raw conn before fn runs; what is written after — or during fn — goes
// through the conn fn returns.
func TestUpgradeFlushesQueuedWrites(t *testing.T) {
	testutil.CheckLeaks(t)
	ctx := wtCtx(t)
	cc, sc := testutil.TCPPair(t)
	wtDeadline(t, ctx, sc)
	_, w := wtNew(t, cc)

	plain := append([]byte("PLAIN\n"), wtPattern(1<<20, 13)...)
	if err := wtWriteAll(w, plain, 256<<10); err != nil {
		t.Fatal(err)
	}
	const secret = "DURING\nSECRET\n"
	gotPlain := make(chan struct{})
	peer := wtGo(func() error {
		b := make([]byte, len(plain))
		if _, err := io.ReadFull(sc, b); err != nil {
			return err
		}
		if !bytes.Equal(b, plain) {
			return errors.New("peer: the bytes queued before Upgrade did not arrive as plaintext")
		}
		close(gotPlain)
		b = make([]byte, len(secret))
		if _, err := io.ReadFull(sc, b); err != nil {
			return err
		}
		if string(wtXOR(b)) != secret {
			return fmt.Errorf("peer got %q after the upgrade; want %q XORed", b, secret)
		}
		return nil
	})
	var inFn error
	var nc *wtXORConn
	err := w.Upgrade(ctx, func(ctx context.Context, conn net.Conn, unread []byte) (net.Conn, error) {
		if n := w.Buffered(); n != 0 {
			inFn = fmt.Errorf("Buffered() = %d when fn runs; want 0: the queue written first", n)
		}
		// The peer can read all of it from the raw conn before fn returns.
		select {
		case <-gotPlain:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		// A write made now waits for the new conn.
		if n, err := w.WriteString("DURING\n"); n != 7 || err != nil {
			inFn = fmt.Errorf("WriteString during fn = %d, %v", n, err)
		}
		nc = &wtXORConn{Conn: conn}
		return nc, nil
	})
	if err != nil {
		t.Fatalf("Upgrade() = %v", err)
	}
	if inFn != nil {
		t.Error(inFn)
	}
	if _, err := w.WriteString("SECRET\n"); err != nil {
		t.Fatal(err)
	}
	if err := wtWait(t, ctx, peer, "peer"); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.WaitClosed(ctx); err != nil {
		t.Fatal(err)
	}
	// The writer goroutine has returned: the count is final.
	if n := nc.written.Load(); n != int64(len(secret)) {
		t.Errorf("%d bytes went through the upgraded conn; want %d", n, len(secret))
	}
}

// TestUpgradeBothSides: both ends of a loopback connection upgrade, the
// client first; bytes it sends early are in the server's unread and
// replayed by the server's fn. Then bulk traffic both ways.
func TestUpgradeBothSides(t *testing.T) {
	testutil.CheckLeaks(t)
	ctx := wtCtx(t)
	c, s := testutil.Loopback(t)
	if _, err := c.W.WriteString("STARTXOR\n"); err != nil {
		t.Fatal(err)
	}
	var cx, sx *wtXORConn
	err := c.W.Upgrade(ctx, func(_ context.Context, conn net.Conn, unread []byte) (net.Conn, error) {
		if len(unread) != 0 {
			return nil, fmt.Errorf("client unread = %q; the server sent nothing", unread)
		}
		cx = &wtXORConn{Conn: conn}
		return cx, nil
	})
	if err != nil {
		t.Fatalf("client Upgrade() = %v", err)
	}
	if _, err := c.W.WriteString("HELLO\n"); err != nil { // may reach the server before it upgrades
		t.Fatal(err)
	}
	if line, err := s.R.ReadLine(ctx); string(line) != "STARTXOR\n" || err != nil {
		t.Fatalf("server ReadLine() = %q, %v", line, err)
	}
	err = s.W.Upgrade(ctx, func(_ context.Context, conn net.Conn, unread []byte) (net.Conn, error) {
		sx = &wtXORConn{Conn: conn, pre: unread}
		return sx, nil
	})
	if err != nil {
		t.Fatalf("server Upgrade() = %v", err)
	}
	if line, err := s.R.ReadLine(ctx); string(line) != "HELLO\n" || err != nil {
		t.Fatalf("server ReadLine() after both upgrades = %q, %v; want %q, nil", line, err, "HELLO\n")
	}
	if _, err := s.W.WriteString("WELCOME\n"); err != nil {
		t.Fatal(err)
	}
	if line, err := c.R.ReadLine(ctx); string(line) != "WELCOME\n" || err != nil {
		t.Fatalf("client ReadLine() = %q, %v; want %q, nil", line, err, "WELCOME\n")
	}

	up, down := wtPattern(2<<20, 14), wtPattern(2<<20, 15)
	server := wtGo(func() error {
		if err := wtWriteAll(s.W, down, 64<<10); err != nil {
			return err
		}
		got, err := s.R.ReadAll(ctx)
		if err != nil || !bytes.Equal(got, up) {
			return fmt.Errorf("server ReadAll = %d bytes (equal: %v), %v", len(got), bytes.Equal(got, up), err)
		}
		return s.W.Close()
	})
	if got, err := c.R.ReadExactly(ctx, len(down)); err != nil || !bytes.Equal(got, down) {
		t.Fatalf("client ReadExactly = %d bytes (equal: %v), %v", len(got), bytes.Equal(got, down), err)
	}
	if err := wtWriteAll(c.W, up, 64<<10); err != nil {
		t.Fatal(err)
	}
	if err := c.W.Close(); err != nil {
		t.Fatal(err)
	}
	if err := wtWait(t, ctx, server, "server"); err != nil {
		t.Fatal(err)
	}
	for _, w := range []*chanstream.Writer{c.W, s.W} {
		if err := w.WaitClosed(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if cx.written.Load() < int64(len(up)) || sx.read.Load() < int64(len(up)) || sx.written.Load() < int64(len(down)) || cx.read.Load() < int64(len(down)) {
		t.Errorf("through the wrappers: client wrote %d, read %d; server wrote %d, read %d; want every byte after the upgrades",
			cx.written.Load(), cx.read.Load(), sx.written.Load(), sx.read.Load())
	}
}

// TestUpgradeFails: a failing fn aborts the stream, and Upgrade returns
// its error.
func TestUpgradeFails(t *testing.T) {
	errBoom := errors.New("wt: handshake failed")
	for _, tt := range []struct {
		name string
		fn   func(context.Context, net.Conn, []byte) (net.Conn, error)
		is   error // what errors.Is must find; nil: any error
	}{
		{"error", func(context.Context, net.Conn, []byte) (net.Conn, error) { return nil, errBoom }, errBoom},
		{"error with conn", func(_ context.Context, c net.Conn, _ []byte) (net.Conn, error) { return c, errBoom }, errBoom},
		{"nil conn", func(context.Context, net.Conn, []byte) (net.Conn, error) { return nil, nil }, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			testutil.CheckLeaks(t)
			ctx := wtCtx(t)
			c, s := testutil.Loopback(t)
			if _, err := c.W.WriteString("queued\n"); err != nil {
				t.Fatal(err)
			}
			err := c.W.Upgrade(ctx, tt.fn)
			if err == nil || (tt.is != nil && !errors.Is(err, tt.is)) {
				t.Fatalf("Upgrade() = %v; want an error (wrapping %v)", err, tt.is)
			}
			if err := c.W.WaitClosed(ctx); err != nil {
				t.Fatalf("WaitClosed() after a failed Upgrade = %v; want the stream aborted", err)
			}
			if !c.W.IsClosing() {
				t.Error("IsClosing() = false after a failed Upgrade")
			}
			if n, err := c.W.Write([]byte("x")); n != 0 || err == nil {
				t.Errorf("Write after a failed Upgrade = %d, %v; want an error", n, err)
			}
			if b, err := c.R.ReadLine(ctx); b != nil || !errors.Is(err, chanstream.ErrClosed) {
				t.Errorf("ReadLine() after a failed Upgrade = %q, %v; want nil, ErrClosed", b, err)
			}
			// The peer got what was queued before Upgrade, then the end.
			got, err := s.R.ReadAll(ctx)
			if string(got) != "queued\n" || (err != nil && !wtIsReset(err)) {
				t.Errorf("peer ReadAll = %q, %v; want %q, then EOF or a reset", got, err, "queued\n")
			}
		})
	}
}

// TestUpgradeClosed: after Close or Abort, Upgrade returns ErrClosed
// without calling fn.
func TestUpgradeClosed(t *testing.T) {
	for _, how := range []string{"Close", "Abort"} {
		t.Run(how, func(t *testing.T) {
			testutil.CheckLeaks(t)
			ctx := wtCtx(t)
			c, _ := testutil.Loopback(t)
			if how == "Close" {
				_ = c.W.Close()
			} else {
				_ = c.W.Abort()
			}
			if err := c.W.Upgrade(ctx, wtNoCall(t)); !errors.Is(err, chanstream.ErrClosed) {
				t.Errorf("Upgrade() after %s = %v; want ErrClosed", how, err)
			}
			if err := c.W.WaitClosed(ctx); err != nil {
				t.Fatal(err)
			}
			if err := c.W.Upgrade(ctx, wtNoCall(t)); !errors.Is(err, chanstream.ErrClosed) {
				t.Errorf("Upgrade() after WaitClosed = %v; want ErrClosed", err)
			}
		})
	}
}

// TestUpgradeCancelled: a ctx that has already ended stops Upgrade before
// fn; the stream goes on as it was.
func TestUpgradeCancelled(t *testing.T) {
	testutil.CheckLeaks(t)
	ctx := wtCtx(t)
	c, s := testutil.Loopback(t)
	if _, err := s.W.WriteString("one\ntwo\n"); err != nil {
		t.Fatal(err)
	}
	if line, err := c.R.ReadLine(ctx); string(line) != "one\n" || err != nil {
		t.Fatalf("ReadLine() = %q, %v", line, err)
	}
	if _, err := c.W.WriteString("queued\n"); err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := c.W.Upgrade(cancelled, wtNoCall(t)); err != context.Canceled {
		t.Fatalf("Upgrade(cancelled ctx) = %v; want context.Canceled", err)
	}
	if c.W.IsClosing() {
		t.Fatal("IsClosing() = true after a cancelled Upgrade")
	}
	if line, err := c.R.ReadLine(ctx); string(line) != "two\n" || err != nil {
		t.Fatalf("ReadLine() after a cancelled Upgrade = %q, %v; want %q, nil", line, err, "two\n")
	}
	if _, err := c.W.WriteString("after\n"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"queued\n", "after\n"} {
		if line, err := s.R.ReadLine(ctx); string(line) != want || err != nil {
			t.Fatalf("peer ReadLine() = %q, %v; want %q, nil", line, err, want)
		}
	}
	if _, err := s.W.WriteString("three\n"); err != nil {
		t.Fatal(err)
	}
	if line, err := c.R.ReadLine(ctx); string(line) != "three\n" || err != nil {
		t.Fatalf("ReadLine() = %q, %v; want %q, nil", line, err, "three\n")
	}
}

// TestUpgradeCtxEndsWhileFlushing: a ctx that ends while Upgrade waits for
// the queue to be written returns ctx.Err() without calling fn; the stream
// goes on, and a later Upgrade works.
func TestUpgradeCtxEndsWhileFlushing(t *testing.T) {
	testutil.CheckLeaks(t)
	ctx := wtCtx(t)
	c, s := testutil.Loopback(t)
	wtSmallBuffers(t, c.W.Conn(), s.W.Conn())
	data := wtPattern(8<<20, 16)
	if err := wtWriteAll(c.W, data, 1<<20); err != nil {
		t.Fatal(err)
	}
	uctx, cancel := context.WithTimeout(ctx, wtBlocked)
	err := c.W.Upgrade(uctx, wtNoCall(t))
	cancel()
	if err != context.DeadlineExceeded {
		t.Fatalf("Upgrade() with a queue the peer does not read = %v; want context.DeadlineExceeded", err)
	}
	// Reading was not parked: a line from the peer comes through.
	if _, err := s.W.WriteString("ping\n"); err != nil {
		t.Fatal(err)
	}
	if line, err := c.R.ReadLine(ctx); string(line) != "ping\n" || err != nil {
		t.Fatalf("ReadLine() after the Upgrade gave up = %q, %v; want %q, nil", line, err, "ping\n")
	}
	if _, err := c.W.WriteString("tail\n"); err != nil {
		t.Fatal(err)
	}
	if err := wtReadSlowly(ctx, s.R, data, 1<<20); err != nil {
		t.Fatal(err)
	}
	if line, err := s.R.ReadLine(ctx); string(line) != "tail\n" || err != nil {
		t.Fatalf("peer ReadLine() = %q, %v; want %q, nil", line, err, "tail\n")
	}
	// Now the queue can be written: an Upgrade (to the same conn) works.
	calls := 0
	err = c.W.Upgrade(ctx, func(_ context.Context, conn net.Conn, unread []byte) (net.Conn, error) {
		calls++
		if len(unread) != 0 {
			return nil, fmt.Errorf("unread = %q; want none", unread)
		}
		return conn, nil
	})
	if err != nil || calls != 1 {
		t.Fatalf("second Upgrade() = %v, fn called %d times; want nil, once", err, calls)
	}
	if _, err := s.W.WriteString("pong\n"); err != nil {
		t.Fatal(err)
	}
	if line, err := c.R.ReadLine(ctx); string(line) != "pong\n" || err != nil {
		t.Fatalf("ReadLine() after the second Upgrade = %q, %v; want %q, nil", line, err, "pong\n")
	}
}

// TestUpgradeAfterEOF: once the source has ended there is nothing to
// upgrade; fn is not called.
func TestUpgradeAfterEOF(t *testing.T) {
	testutil.CheckLeaks(t)
	ctx := wtCtx(t)
	c, s := testutil.Loopback(t)
	if err := s.W.Close(); err != nil {
		t.Fatal(err)
	}
	if b, err := c.R.ReadAll(ctx); len(b) != 0 || err != nil {
		t.Fatalf("ReadAll() = %q, %v; want empty, nil", b, err)
	}
	if err := c.W.Upgrade(ctx, wtNoCall(t)); err == nil {
		t.Fatal("Upgrade() after EOF = nil; want an error")
	}
}

// TestUpgradeNewWriter: a Writer without a connection cannot upgrade.
func TestUpgradeNewWriter(t *testing.T) {
	testutil.CheckLeaks(t)
	ctx := wtCtx(t)
	w := chanstream.NewWriter(io.Discard)
	if err := w.Upgrade(ctx, wtNoCall(t)); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("NewWriter(...).Upgrade() = %v; want errors.ErrUnsupported", err)
	}
	_ = w.Close()
	if err := w.WaitClosed(ctx); err != nil {
		t.Fatal(err)
	}
}
