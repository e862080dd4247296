package chanstream_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/cspstream/streams/chanstream"
	"github.com/cspstream/streams/testutil"
)

// TestNewContextErrors: invalid options and a TLS config without a
// ServerName are errors wrapping ErrInvalidArgument (no panic), and conn
// is closed.
func TestNewContextErrors(t *testing.T) {
	_, clientTLS := testutil.SelfSignedTLS(t)
	noName := clientTLS.Clone()
	noName.ServerName = ""
	for _, tc := range []struct {
		name string
		opts []chanstream.Option
	}{
		{"limit", []chanstream.Option{chanstream.WithLimit(0)}},
		{"watermarks", []chanstream.Option{chanstream.WithWriteBufferLimits(1, 2)}},
		{"no server name", []chanstream.Option{chanstream.WithTLS(noName)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := net.Pipe()
			defer b.Close()
			_, _, err := chanstream.NewContext(context.Background(), a, tc.opts...)
			if !errors.Is(err, chanstream.ErrInvalidArgument) {
				t.Fatalf("NewContext() = %v; want ErrInvalidArgument", err)
			}
			b.SetReadDeadline(time.Now().Add(10 * time.Second))
			if _, err := b.Read(make([]byte, 1)); err != io.EOF {
				t.Fatalf("peer Read after NewContext failed = %v; want io.EOF (conn closed)", err)
			}
		})
	}
}

// TestNewContextTLS: a caller-dialed TCP connection, the handshake run by
// NewContext, a round trip; and a peer that is not TLS fails it with
// "tls" in the error.
func TestNewContextTLS(t *testing.T) {
	serverTLS, clientTLS := testutil.SelfSignedTLS(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ln := tlsServer(t, func(c net.Conn) { lengthEcho(tls.Server(c, serverTLS)) })
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	cfg := clientTLS.Clone()
	cfg.ServerName = "127.0.0.1"
	r, w, err := chanstream.NewContext(ctx, conn, chanstream.WithTLS(cfg))
	if err != nil {
		t.Fatalf("NewContext: %v", err)
	}
	if _, ok := w.Conn().(*tls.Conn); !ok {
		t.Fatalf("Conn() is %T; want *tls.Conn", w.Conn())
	}
	echoExchange(t, ctx, r, w, randomBytes(1000))
	w.Close()
	if err := w.WaitClosed(ctx); err != nil {
		t.Fatalf("WaitClosed: %v", err)
	}

	// A peer that closes at once: the handshake fails.
	plain, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	accepted := make(chan struct{})
	go func() {
		defer close(accepted)
		if c, err := plain.Accept(); err == nil {
			c.Close()
		}
	}()
	conn, err = net.Dial("tcp", plain.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = chanstream.NewContext(ctx, conn, chanstream.WithTLS(cfg))
	<-accepted
	if err == nil || !strings.Contains(err.Error(), "tls") {
		t.Fatalf("NewContext against a closing peer = %v; want a tls handshake error", err)
	}
}
