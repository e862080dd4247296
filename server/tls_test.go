package server_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cspstream/streams/chanstream"
	"github.com/cspstream/streams/server"
	"github.com/cspstream/streams/testutil"
)

func TestTLSHandshakeTimeout(t *testing.T) {
	serverTLS, clientTLS := testutil.SelfSignedTLS(t)
	var handled atomic.Int32
	srv := start(t, func(ctx context.Context, r *chanstream.Reader, w *chanstream.Writer) error {
		handled.Add(1)
		if _, ok := w.Conn().(*tls.Conn); !ok {
			t.Errorf("handler's Conn() is %T; want *tls.Conn", w.Conn())
		}
		return lineEcho(ctx, r, w)
	}, server.WithTLS(serverTLS), server.WithTLSHandshakeTimeout(3*time.Second))
	addr := srv.Addrs()[0].String()

	silent := dial(t, srv.Addrs()[0]) // connects and says nothing

	// Another client is served while the silent one holds its handshake.
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: watchdog}, "tcp", addr, clientTLS)
	if err != nil {
		t.Fatalf("TLS dial: %v", err)
	}
	defer c.Close()
	roundTrip(t, c, bufio.NewReader(c), "over tls\n")
	if n := srv.ActiveConns(); n != 2 {
		t.Fatalf("ActiveConns() = %d; want 2 (the silent client still in its handshake)", n)
	}

	// The silent client is dropped after the timeout, never handled.
	silent.SetReadDeadline(time.Now().Add(watchdog))
	start := time.Now()
	if n, err := silent.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("silent client read = %d, %v; want EOF when the server drops it", n, err)
	}
	if waited := time.Since(start); waited > watchdog/2 {
		t.Fatalf("silent client dropped after %v", waited)
	}
	if n := handled.Load(); n != 1 {
		t.Fatalf("handler ran %d times; want 1 (never for the silent client)", n)
	}
}

func TestTLSShutdown(t *testing.T) {
	serverTLS, clientTLS := testutil.SelfSignedTLS(t)
	srv := start(t, lineEcho, server.WithTLS(serverTLS), server.WithTLSShutdownTimeout(time.Second))
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: watchdog}, "tcp", srv.Addrs()[0].String(), clientTLS)
	if err != nil {
		t.Fatalf("TLS dial: %v", err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	roundTrip(t, c, br, "hello\n")
	ctx, cancel := context.WithTimeout(context.Background(), watchdog)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	c.SetReadDeadline(time.Now().Add(watchdog))
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("client read after Shutdown = %v; want EOF (close_notify)", err)
	}
}

// acceptSignal tells on accepted when Accept has returned a connection.
type acceptSignal struct {
	net.Listener
	accepted chan struct{}
}

func (l *acceptSignal) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.accepted <- struct{}{}
	}
	return c, err
}

// TestShutdownDuringHandshake: Shutdown ends a handshake in progress at
// once, long before the handshake timeout.
func TestShutdownDuringHandshake(t *testing.T) {
	serverTLS, _ := testutil.SelfSignedTLS(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	al := &acceptSignal{Listener: ln, accepted: make(chan struct{}, 1)}
	srv, err := server.StartListener(al, lineEcho, server.WithTLS(serverTLS), server.WithLogger(quietLogger())) // default timeout: 60 s
	if err != nil {
		t.Fatal(err)
	}
	silent := dial(t, ln.Addr())
	<-al.accepted
	ctx, cancel := context.WithTimeout(context.Background(), watchdog)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown = %v; want nil, the handshake cancelled", err)
	}
	silent.SetReadDeadline(time.Now().Add(watchdog))
	if _, err := silent.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("silent client read after Shutdown = %v; want EOF", err)
	}
}
