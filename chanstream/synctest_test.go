//go:build go1.25

package chanstream_test

// Tests on testing/synctest's fake clock (Go 1.25 and newer): deadlines and
// timeouts measured exactly, over net.Pipe.

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cspstream/streams/chanstream"
	"github.com/cspstream/streams/testutil"
)

// TestNetConnDeadlines runs in a synctest bubble over net.Pipe, so the
// deadlines run on the bubble's clock: past, moved while a Read and a Write
// wait, and cleared.
func TestNetConnDeadlines(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p1, p2 := net.Pipe()
		r1, w1 := chanstream.New(p1, chanstream.WithWriteBufferLimits(8, 0))
		r2, w2 := chanstream.New(p2)
		c1 := chanstream.NetConn(r1, w1)
		defer func() {
			w1.Abort()
			w2.Abort()
			w1.WaitClosed(context.Background())
			w2.WaitClosed(context.Background())
		}()

		// Past: fails at once and consumes nothing.
		w2.WriteString("ab")
		synctest.Wait() // "ab" is buffered in r1
		c1.SetReadDeadline(time.Now().Add(-time.Second))
		if n, err := c1.Read(make([]byte, 8)); n != 0 || !isTimeout(err) {
			t.Fatalf("Read past deadline = %d, %v; want 0, timeout", n, err)
		}
		if n, err := c1.Write([]byte("x")); n != 1 || err != nil {
			t.Fatalf("Write with a read deadline past = %d, %v; want 1, nil", n, err)
		}
		c1.SetReadDeadline(time.Time{})
		buf := make([]byte, 8)
		if n, err := c1.Read(buf); string(buf[:n]) != "ab" || err != nil {
			t.Fatalf("Read after clearing = %q, %v; want %q, nil", buf[:n], err, "ab")
		}
		if got, err := r2.ReadExactly(context.Background(), 1); string(got) != "x" || err != nil {
			t.Fatalf("peer read %q, %v; want %q", got, err, "x")
		}

		// Extended while a Read waits: it does not time out at the old one.
		start := time.Now()
		c1.SetReadDeadline(start.Add(time.Second))
		type result struct {
			n   int
			err error
			at  time.Time
		}
		done := make(chan result, 1)
		go func() {
			n, err := c1.Read(buf)
			done <- result{n, err, time.Now()}
		}()
		synctest.Wait()
		c1.SetReadDeadline(start.Add(time.Hour))
		time.Sleep(2 * time.Second) // past the first deadline
		synctest.Wait()
		select {
		case res := <-done:
			t.Fatalf("Read returned %d, %v after the deadline was moved later", res.n, res.err)
		default:
		}
		// Then moved earlier: it times out then, not later.
		c1.SetReadDeadline(start.Add(5 * time.Second))
		res := <-done
		if !isTimeout(res.err) || res.at.Sub(start) != 5*time.Second {
			t.Fatalf("Read = %v at %v; want a timeout at 5s", res.err, res.at.Sub(start))
		}

		// Cleared while a Read waits: it waits for data.
		c1.SetReadDeadline(time.Now().Add(time.Second))
		go func() {
			n, err := c1.Read(buf)
			done <- result{n, err, time.Now()}
		}()
		synctest.Wait()
		c1.SetReadDeadline(time.Time{})
		time.Sleep(time.Minute)
		synctest.Wait()
		w2.WriteString("late")
		res = <-done
		if string(buf[:res.n]) != "late" || res.err != nil {
			t.Fatalf("Read after clearing = %q, %v; want %q, nil", buf[:res.n], res.err, "late")
		}

		// A Write waits in drain (the peer does not read): its deadline
		// expires; the bytes it reports were queued and reach the peer.
		c1.SetWriteDeadline(time.Now().Add(time.Second))
		n, err := c1.Write(bytes.Repeat([]byte("w"), 400<<10))
		if !isTimeout(err) || n == 0 || n == 400<<10 {
			t.Fatalf("Write = %d, %v; want 0 < n < %d and a timeout", n, err, 400<<10)
		}
		c1.SetWriteDeadline(time.Time{})
		got, err := r2.ReadExactly(context.Background(), n)
		if err != nil || !bytes.Equal(got, bytes.Repeat([]byte("w"), n)) {
			t.Fatalf("peer read %d bytes, %v; want the %d Write reported", len(got), err, n)
		}
	})
}

// TestTLSShutdownTimeoutClock runs over net.Pipe in a synctest bubble, so
// the default 30 s is measured on the bubble's clock: a peer that stopped
// reading holds WaitClosed exactly the timeout; a peer that reads lets the
// stream close at once, and the stopped timer changes nothing later.
func TestTLSShutdownTimeoutClock(t *testing.T) {
	serverCfg, clientCfg := testutil.SelfSignedTLS(t)
	certTime := time.Now()
	pair := func(t *testing.T) (*tls.Conn, *tls.Conn) {
		p1, p2 := net.Pipe()
		// TLS 1.2: its handshake flights strictly alternate, so it cannot
		// deadlock on net.Pipe's unbuffered writes as 1.3's can (the client
		// writes its change_cipher_spec while the server still writes).
		cfg, scfg := clientCfg.Clone(), serverCfg.Clone()
		cfg.ServerName = "localhost"
		cfg.MaxVersion, scfg.MaxVersion = tls.VersionTLS12, tls.VersionTLS12
		cfg.Time = func() time.Time { return certTime } // the bubble's clock starts in 2000
		tc, ts := tls.Client(p1, cfg), tls.Server(p2, scfg)
		errs := make(chan error, 1)
		go func() { errs <- ts.Handshake() }()
		if err := tc.Handshake(); err != nil {
			t.Fatal(err)
		}
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
		return tc, ts
	}
	synctest.Test(t, func(t *testing.T) {
		tc, ts := pair(t)
		defer ts.NetConn().Close()
		r, w := chanstream.New(tc)
		w.Write(make([]byte, 1<<20)) // net.Pipe holds nothing: the flush waits on the peer
		start := time.Now()
		w.Close()
		w.WaitClosed(context.Background())
		if d := time.Since(start); d != 30*time.Second {
			t.Fatalf("WaitClosed returned after %v; want the default 30s", d)
		}
		if err := r.Err(); !errors.Is(err, chanstream.ErrClosed) {
			t.Fatalf("Err() = %v; want the shutdown timeout", err)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		tc, ts := pair(t)
		got := make(chan int64, 1)
		go func() {
			n, _ := io.Copy(io.Discard, ts) // to the close_notify
			ts.Close()
			got <- n
		}()
		r, w := chanstream.New(tc)
		w.Write(make([]byte, 1<<20))
		start := time.Now()
		w.Close()
		w.WaitClosed(context.Background())
		if d := time.Since(start); d != 0 {
			t.Fatalf("WaitClosed took %v with a reading peer", d)
		}
		if n := <-got; n != 1<<20 {
			t.Fatalf("peer read %d bytes; want %d", n, 1<<20)
		}
		before := r.Err()       // nil, or the local close seen by the reader goroutine
		time.Sleep(time.Minute) // past the timeout: the stopped timer does nothing
		if err := r.Err(); err != before || (err != nil && strings.Contains(err.Error(), "tls shutdown")) {
			t.Fatalf("Err() = %v after a graceful close, then %v", before, err)
		}
	})
}
