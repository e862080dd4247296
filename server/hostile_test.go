package server_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cspstream/streams/chanstream"
	"github.com/cspstream/streams/server"
	"github.com/cspstream/streams/testutil"
)

// waitFor polls cond until it holds, for at most 10 s: for states no
// channel announces (a count the server lowers after its handler returns).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after 10 s: not %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestSlowloris: 100 clients that send a request line a byte at a time,
// slowly, never finishing it, do not slow the others: 20 clients doing 20
// round trips each are all served meanwhile, in far less time than one
// slow line takes; then Shutdown ends every handler, the slow ones too, in
// time.
func TestSlowloris(t *testing.T) {
	const slow, fast, trips = 100, 20, 20
	srv, err := server.Start(context.Background(), "127.0.0.1:0", lineEcho, server.WithLogger(quietLogger()))
	if err != nil {
		t.Fatal(err)
	}
	defer shutdown(t, srv)
	addr := srv.Addrs()[0].String()

	line := "GET /" + strings.Repeat("a", 1000) + "\n" // about 10 s at 0..20 ms a byte
	var (
		slowWG   sync.WaitGroup
		finished atomic.Int32
		slowConn []*testutil.FaultConn
	)
	for i := range slow {
		raw, err := net.DialTimeout("tcp", addr, watchdog)
		if err != nil {
			t.Fatal(err)
		}
		fc := testutil.NewFaultConn(raw, testutil.Faults{MaxWrite: 1, Delay: 20 * time.Millisecond, Seed: uint64(i + 1)})
		slowConn = append(slowConn, fc)
		slowWG.Add(1)
		go func() {
			defer slowWG.Done()
			if _, err := fc.Write([]byte(line)); err == nil {
				finished.Add(1)
			}
		}()
	}
	defer func() {
		for _, fc := range slowConn {
			fc.Close() // ends a Write still dripping
		}
		slowWG.Wait()
	}()
	waitFor(t, "every slow client connected", func() bool { return srv.ActiveConns() == slow })

	start := time.Now()
	var fastWG sync.WaitGroup
	errs := make(chan error, fast)
	for i := range fast {
		fastWG.Add(1)
		go func() {
			defer fastWG.Done()
			errs <- func() error {
				c, err := net.DialTimeout("tcp", addr, watchdog)
				if err != nil {
					return err
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(watchdog))
				br := bufio.NewReader(c)
				for j := range trips {
					msg := strings.Repeat(string(rune('a'+i%26)), j+1) + "\n"
					if _, err := io.WriteString(c, msg); err != nil {
						return err
					}
					if got, err := br.ReadString('\n'); got != msg || err != nil {
						return errors.New("echo " + got + " != " + msg)
					}
				}
				return nil
			}()
		}()
	}
	fastWG.Wait()
	took := time.Since(start)
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("a fast client beside the slow ones: %v", err)
		}
	}
	if took > 5*time.Second {
		t.Fatalf("%d fast clients × %d round trips took %v beside %d slow clients", fast, trips, took, slow)
	}
	if n := finished.Load(); n != 0 {
		t.Fatalf("%d slow clients finished their line: the test did not overlap them", n)
	}
	t.Logf("%d×%d round trips beside %d slowloris clients: %v", fast, trips, slow, took.Round(time.Millisecond))

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start = time.Now()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown with %d slow clients mid-line = %v after %v; want nil", slow, err, time.Since(start))
	}
	if n := srv.ActiveConns(); n != 0 {
		t.Fatalf("ActiveConns() = %d after Shutdown", n)
	}
}

// TestTLSStalledHandshake: a client that sends part of its ClientHello and
// stalls is dropped at WithTLSHandshakeTimeout — not before — without its
// handler running, while another TLS client is served.
func TestTLSStalledHandshake(t *testing.T) {
	serverTLS, clientTLS := testutil.SelfSignedTLS(t)
	var handled atomic.Int32
	const timeout = 500 * time.Millisecond
	srv := start(t, func(ctx context.Context, r *chanstream.Reader, w *chanstream.Writer) error {
		handled.Add(1)
		return lineEcho(ctx, r, w)
	}, server.WithTLS(serverTLS), server.WithTLSHandshakeTimeout(timeout))
	addr := srv.Addrs()[0].String()

	begun := time.Now() // before the server can accept: a lower bound for its timeout
	raw := dial(t, srv.Addrs()[0])
	stalled := testutil.NewFaultConn(raw, testutil.Faults{StallAfter: 60})
	hsDone := make(chan error, 1)
	cfg := clientTLS.Clone()
	cfg.ServerName = "127.0.0.1"
	go func() { hsDone <- tls.Client(stalled, cfg).HandshakeContext(context.Background()) }()
	defer func() {
		stalled.Close()
		<-hsDone
	}()

	c, err := tls.DialWithDialer(&net.Dialer{Timeout: watchdog}, "tcp", addr, clientTLS)
	if err != nil {
		t.Fatalf("TLS dial beside a stalled handshake: %v", err)
	}
	defer c.Close()
	roundTrip(t, c, bufio.NewReader(c), "beside a stall\n")

	raw.SetReadDeadline(time.Now().Add(watchdog)) // the server's answer, read under the stalled client
	if _, err := io.Copy(io.Discard, raw); err != nil {
		t.Fatalf("the stalled client's connection ended with %v; want EOF", err)
	}
	if d := time.Since(begun); d < timeout || d > watchdog/2 {
		t.Fatalf("the stalled client was dropped after %v; want the %v handshake timeout", d, timeout)
	}
	if n := stalled.Passed(); n != 60 {
		t.Fatalf("the stalled client sent %d bytes; want 60", n)
	}
	if n := handled.Load(); n != 1 {
		t.Fatalf("handler ran %d times; want 1 (never for the stalled client)", n)
	}
	waitFor(t, "ActiveConns() == 1 after the stalled client was dropped", func() bool { return srv.ActiveConns() == 1 })
}

// TestHandlerCtxEndsOnPeerReset: a handler that waits on its ctx alone,
// reading nothing, learns of its peer's reset: its ctx ends (API.md, "Peer
// gone while nobody reads").
func TestHandlerCtxEndsOnPeerReset(t *testing.T) {
	started, ended := make(chan struct{}), make(chan struct{})
	srv := start(t, func(ctx context.Context, r *chanstream.Reader, w *chanstream.Writer) error {
		close(started)
		<-ctx.Done()
		close(ended)
		return nil
	})
	c := testutil.NewFaultConn(dial(t, srv.Addrs()[0]), testutil.Faults{})
	select {
	case <-started:
	case <-time.After(watchdog):
		t.Fatal("the handler did not start")
	}
	c.Reset()
	select {
	case <-ended:
	case <-time.After(5 * time.Second):
		t.Fatal("the handler's ctx did not end within 5 s of its peer's reset (nobody was reading)")
	}
}

// TestServerSideFaults: the server's own connections through FaultConns
// (StartListener over a FaultListener): reads and writes in random pieces
// with delays, and every fourth connection reset by the server after a
// random count. Clean clients get their payload back exactly; a reset
// client gets a prefix of it and then an error; ActiveConns returns to 0.
func TestServerSideFaults(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	const clients, size = 24, 64 << 10
	fln := testutil.FaultListener(ln, func(i int) testutil.Faults {
		f := testutil.Faults{MaxRead: 256 + i*97%2000, MaxWrite: 256 + i*211%3000, Delay: 20 * time.Microsecond, Seed: uint64(i + 1)}
		if i%4 == 3 {
			f.ResetAfter = int64(1 + i*4099%(2*size))
		}
		return f
	})
	srv, err := server.StartListener(fln, func(ctx context.Context, r *chanstream.Reader, w *chanstream.Writer) error {
		_, err := io.Copy(w, r)
		return err
	}, server.WithLogger(quietLogger()))
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	defer shutdown(t, srv)
	var wg sync.WaitGroup
	var clean, resets atomic.Int32
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			payload := make([]byte, size)
			rng := rand.New(rand.NewPCG(uint64(i), 3))
			for j := range payload {
				payload[j] = byte(rng.Uint32())
			}
			c, err := net.DialTimeout("tcp", ln.Addr().String(), watchdog)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(watchdog))
			werr := make(chan error, 1)
			go func() {
				_, err := c.Write(payload)
				if err == nil {
					err = c.(*net.TCPConn).CloseWrite()
				}
				werr <- err
			}()
			got, err := io.ReadAll(c)
			<-werr
			if !bytes.Equal(got, payload[:min(len(got), len(payload))]) {
				t.Errorf("client %d: the echo is not the payload's prefix", i)
				return
			}
			if err == nil && len(got) == len(payload) {
				clean.Add(1)
				return
			}
			resets.Add(1)
		}()
	}
	wg.Wait()
	// Which connection the server counts as i depends on accept order, so
	// only the totals are known: 6 of the 24 are reset by the server.
	if clean.Load() != clients-clients/4 || resets.Load() != clients/4 {
		t.Fatalf("%d clean echoes and %d reset; want %d and %d", clean.Load(), resets.Load(), clients-clients/4, clients/4)
	}
	waitFor(t, "ActiveConns() == 0", func() bool { return srv.ActiveConns() == 0 })
}
