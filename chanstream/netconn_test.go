package chanstream_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/cspstream/streams/chanstream"
	"github.com/cspstream/streams/testutil"
	"golang.org/x/net/nettest"
)

// netConnPair returns the two ends of a real TCP connection on loopback,
// each a stream through NetConn, and a stop func that closes both and
// waits until every goroutine of both streams has returned (aborting them
// if a graceful close does not finish in time).
func netConnPair(t *testing.T, tlsOn bool) (c1, c2 net.Conn, stop func()) {
	t.Helper()
	cc, sc := testutil.TCPPair(t)
	if tlsOn {
		serverCfg, clientCfg := testutil.SelfSignedTLS(t)
		cfg := clientCfg.Clone()
		cfg.ServerName = "localhost"
		tc, ts := tls.Client(cc, cfg), tls.Server(sc, serverCfg)
		errs := make(chan error, 1)
		go func() { errs <- ts.Handshake() }()
		if err := tc.Handshake(); err != nil {
			t.Fatalf("client handshake: %v", err)
		}
		if err := <-errs; err != nil {
			t.Fatalf("server handshake: %v", err)
		}
		cc, sc = tc, ts
	}
	r1, w1 := chanstream.New(cc, chanstream.WithTLSShutdownTimeout(5*time.Second))
	r2, w2 := chanstream.New(sc, chanstream.WithServerSide(), chanstream.WithTLSShutdownTimeout(5*time.Second))
	c1, c2 = chanstream.NetConn(r1, w1), chanstream.NetConn(r2, w2)
	stop = func() {
		c1.Close()
		c2.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, w := range []*chanstream.Writer{w1, w2} {
			if err := w.WaitClosed(ctx); err != nil {
				t.Errorf("stream did not close after Close: %v", err)
				w.Abort()
				w.WaitClosed(context.Background())
			}
		}
	}
	return c1, c2, stop
}

func TestNetConnNettest(t *testing.T) {
	for _, tc := range []struct {
		name  string
		tlsOn bool
	}{{"TCP", false}, {"TLS", true}} {
		t.Run(tc.name, func(t *testing.T) {
			nettest.TestConn(t, func() (c1, c2 net.Conn, stop func(), err error) {
				c1, c2, stop = netConnPair(t, tc.tlsOn)
				return c1, c2, stop, nil
			})
		})
	}
}

// isTimeout reports whether err is a timeout as net.Conn users test it.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() && errors.Is(err, os.ErrDeadlineExceeded)
}

// TestNetConnCloseUnblocks: a Close from another goroutine ends a Read
// waiting for data and a Write waiting for a peer that does not read.
func TestNetConnCloseUnblocks(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	client, server := testutil.Loopback(t)
	c := chanstream.NetConn(client.R, client.W)
	errs := make(chan error, 2)
	go func() {
		_, err := c.Read(make([]byte, 10))
		errs <- err
	}()
	go func() {
		_, err := c.Write(make([]byte, 64<<20)) // far more than the socket buffers hold
		errs <- err
	}()
	for client.W.Buffered() == 0 { // the Write has queued and waits in drain
		select {
		case err := <-errs:
			t.Fatalf("a call returned before Close: %v", err)
		case <-time.After(time.Millisecond):
		}
	}
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for range 2 {
		select {
		case err := <-errs:
			if !errors.Is(err, net.ErrClosed) {
				t.Errorf("call after Close = %v; want net.ErrClosed", err)
			}
		case <-ctx.Done():
			t.Fatal("a call did not return after Close")
		}
	}
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Read after Close = %v; want net.ErrClosed", err)
	}
	if err := c.SetDeadline(time.Now()); !errors.Is(err, net.ErrClosed) {
		t.Errorf("SetDeadline after Close = %v; want net.ErrClosed", err)
	}
	if err := c.Close(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("second Close = %v; want net.ErrClosed", err)
	}
	_ = server.W.Abort() // the peer never read: end the flush
	if err := client.W.WaitClosed(ctx); err != nil {
		t.Fatalf("WaitClosed: %v", err)
	}
}

// TestNetConnGracefulClose: bytes written before Close all arrive, then EOF.
func TestNetConnGracefulClose(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	client, server := testutil.Loopback(t)
	c := chanstream.NetConn(client.R, client.W)
	if c.LocalAddr().String() != client.W.LocalAddr().String() || c.RemoteAddr().String() != server.W.LocalAddr().String() {
		t.Fatalf("addresses %v → %v; want %v → %v", c.LocalAddr(), c.RemoteAddr(), client.W.LocalAddr(), server.W.LocalAddr())
	}
	want := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	done := make(chan []byte, 1)
	go func() {
		got, _ := server.R.ReadAll(ctx)
		done <- got
	}()
	if n, err := c.Write(want); n != len(want) || err != nil {
		t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(want))
	}
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if got := <-done; !bytes.Equal(got, want) {
		t.Fatalf("peer got %d bytes; want the %d written", len(got), len(want))
	}
	if err := client.W.WaitClosed(ctx); err != nil {
		t.Fatalf("WaitClosed: %v", err)
	}
}

// TestNetConnCloseWrite: CloseWrite half-closes, and reading goes on.
func TestNetConnCloseWrite(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	client, server := testutil.Loopback(t)
	c := chanstream.NetConn(client.R, client.W)
	c.Write([]byte("question"))
	if err := c.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
		t.Fatalf("CloseWrite: %v", err)
	}
	if got, err := server.R.ReadAll(ctx); string(got) != "question" || err != nil {
		t.Fatalf("peer ReadAll = %q, %v; want %q, nil", got, err, "question")
	}
	server.W.WriteString("answer")
	server.W.Close()
	if got, err := io.ReadAll(c); string(got) != "answer" || err != nil {
		t.Fatalf("ReadAll = %q, %v; want %q, nil", got, err, "answer")
	}
	c.Close()
}

// TestNetConnCarriesTLS: crypto/tls runs over two streams through NetConn.
func TestNetConnCarriesTLS(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	serverCfg, clientCfg := testutil.SelfSignedTLS(t)
	client, server := testutil.Loopback(t)
	cfg := clientCfg.Clone()
	cfg.ServerName = "localhost"
	tc := tls.Client(chanstream.NetConn(client.R, client.W), cfg)
	ts := tls.Server(chanstream.NetConn(server.R, server.W), serverCfg)
	want := bytes.Repeat([]byte("tls over streams "), 64<<10)
	done := make(chan error, 1)
	go func() {
		_, err := io.CopyN(ts, ts, int64(len(want))) // echo, then close_notify
		if err == nil {
			err = ts.Close()
		}
		done <- err
	}()
	wrote := make(chan error, 1)
	go func() {
		_, err := tc.Write(want)
		wrote <- err
	}()
	got, err := io.ReadAll(tc)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("read %d bytes, %v; want the %d written", len(got), err, len(want))
	}
	if err := <-wrote; err != nil {
		t.Fatalf("Write: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("server: %v", err)
	}
	tc.Close()
	for _, w := range []*chanstream.Writer{client.W, server.W} {
		if err := w.WaitClosed(ctx); err != nil {
			t.Fatalf("WaitClosed: %v", err)
		}
	}
}
