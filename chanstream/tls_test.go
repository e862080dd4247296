package chanstream_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cspstream/streams/chanstream"
	"github.com/cspstream/streams/testutil"
)

// tlsServer listens on 127.0.0.1 and runs serve on each accepted raw
// connection; the listener and every connection are closed, and every
// serve joined, when t ends.
func tlsServer(t *testing.T, serve func(c net.Conn)) net.Listener {
	t.Helper()
	return serveTCP(t, "127.0.0.1:0", serve)
}

// lengthEcho serves one request: an 8-byte big-endian length, then that
// many bytes, echoed; then it closes (with close_notify over TLS).
func lengthEcho(c io.ReadWriteCloser) {
	defer c.Close()
	var hdr [8]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		return
	}
	io.CopyN(c, c, int64(binary.BigEndian.Uint64(hdr[:])))
}

// echoExchange sends payload with its length to a lengthEcho server and
// checks that exactly it comes back, then EOF.
func echoExchange(t *testing.T, ctx context.Context, r *chanstream.Reader, w *chanstream.Writer, payload []byte) {
	t.Helper()
	var hdr [8]byte
	binary.BigEndian.PutUint64(hdr[:], uint64(len(payload)))
	w.WriteLines(hdr[:], payload) // queued; the writer goroutine sends while we read
	got, err := r.ReadExactly(ctx, len(payload))
	if err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("echo of %d bytes: got %d bytes, %v; equal %v", len(payload), len(got), err, bytes.Equal(got, payload))
	}
	if rest, err := r.ReadUpTo(ctx, 1); err != io.EOF {
		t.Fatalf("after the echo: %q, %v; want io.EOF", rest, err)
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rng := rand.NewChaCha8([32]byte{byte(n), byte(n >> 8), byte(n >> 16)})
	rng.Read(b)
	return b
}

var echoSizes = []int{1, 1000, 64<<10 + 1, 1 << 20, 8 << 20}

// TestOpenConnectionTLS: round trips up to 8 MiB over TLS, ServerName from
// the host, the user's config untouched, asyncio's TLS extra info.
func TestOpenConnectionTLS(t *testing.T) {
	testutil.CheckLeaks(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	serverCfg, clientCfg := testutil.SelfSignedTLS(t)
	ln := tlsServer(t, func(c net.Conn) { lengthEcho(tls.Server(c, serverCfg)) })
	addr := net.JoinHostPort("localhost", strconv.Itoa(portOf(ln)))
	for _, n := range echoSizes {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			r, w, err := chanstream.OpenConnection(ctx, addr, chanstream.WithTLS(clientCfg))
			if err != nil {
				t.Fatalf("OpenConnection: %v", err)
			}
			defer closeStream(t, w)
			echoExchange(t, ctx, r, w, randomBytes(n))
			if err := r.Err(); err != nil {
				t.Fatalf("Err() = %v after a clean close_notify", err)
			}
		})
	}
	if clientCfg.ServerName != "" {
		t.Fatalf("the user's config was modified: ServerName %q", clientCfg.ServerName)
	}

	t.Run("extra info", func(t *testing.T) {
		_, w, err := chanstream.OpenConnection(ctx, addr, chanstream.WithTLS(clientCfg))
		if err != nil {
			t.Fatalf("OpenConnection: %v", err)
		}
		defer closeStream(t, w)
		tc, ok := w.ExtraInfo("ssl_object").(*tls.Conn)
		if !ok || tc != w.Conn() {
			t.Fatalf("ssl_object = %T; want the *tls.Conn", w.ExtraInfo("ssl_object"))
		}
		st, ok := w.ExtraInfo("tls").(tls.ConnectionState)
		if !ok || !st.HandshakeComplete || st.ServerName != "localhost" {
			t.Fatalf("tls = %+v; want a complete handshake for localhost", st)
		}
		if got := w.ExtraInfo("sslcontext"); got != clientCfg {
			t.Errorf("sslcontext = %v; want the config given", got)
		}
		if got, ok := w.ExtraInfo("peercert").(*x509.Certificate); !ok || got.Subject.CommonName != "streams test" {
			t.Errorf("peercert = %v; want the server's certificate", w.ExtraInfo("peercert"))
		}
		if got := w.ExtraInfo("cipher"); got != tls.CipherSuiteName(st.CipherSuite) || got == "" {
			t.Errorf("cipher = %v; want %q", got, tls.CipherSuiteName(st.CipherSuite))
		}
		if raw, ok := w.ExtraInfo("socket").(*net.TCPConn); !ok || raw != tc.NetConn() {
			t.Errorf("socket = %T; want the TCP connection under TLS", w.ExtraInfo("socket"))
		}
		if w.CanWriteEOF() {
			t.Errorf("CanWriteEOF() = true over TLS")
		}
		if err := w.WriteEOF(); !errors.Is(err, errors.ErrUnsupported) {
			t.Errorf("WriteEOF() = %v over TLS; want ErrUnsupported", err)
		}
	})

	t.Run("server name from the config", func(t *testing.T) {
		serverCfg, clientCfg := testutil.SelfSignedTLS(t, "example.test")
		ln := tlsServer(t, func(c net.Conn) { lengthEcho(tls.Server(c, serverCfg)) })
		cfg := clientCfg.Clone()
		cfg.ServerName = "example.test"
		r, w, err := chanstream.OpenConnection(ctx, ln.Addr().String(), chanstream.WithTLS(cfg))
		if err != nil {
			t.Fatalf("OpenConnection: %v", err)
		}
		defer closeStream(t, w)
		if st := w.ExtraInfo("tls").(tls.ConnectionState); st.ServerName != "example.test" {
			t.Fatalf("ServerName %q; want example.test", st.ServerName)
		}
		echoExchange(t, ctx, r, w, []byte("x"))
	})
}

// TestOpenConnectionTLSHandshakeFails: an untrusted certificate, a silent
// server (the handshake timeout) and a ctx cancelled during the handshake
// each give an error that says tls, and close the socket.
func TestOpenConnectionTLSHandshakeFails(t *testing.T) {
	testutil.CheckLeaks(t)
	wd, stop := context.WithTimeout(context.Background(), 30*time.Second)
	defer stop()
	serverCfg, clientCfg := testutil.SelfSignedTLS(t)

	// closed gets one report per accepted connection, once the client side
	// has closed it (the server's read ends).
	closed := make(chan struct{}, 4)
	hello := make(chan struct{}, 4) // the client's first handshake bytes arrived
	silent := tlsServer(t, func(c net.Conn) {
		if _, err := c.Read(make([]byte, 1)); err == nil {
			hello <- struct{}{}
		}
		io.Copy(io.Discard, c) // never answers; ends when the client closes
		closed <- struct{}{}
	})
	untrusted := tlsServer(t, func(c net.Conn) {
		tls.Server(c, serverCfg).Handshake()
		io.Copy(io.Discard, c)
		closed <- struct{}{}
	})
	waitClosed := func(t *testing.T) {
		t.Helper()
		select {
		case <-closed:
		case <-wd.Done():
			t.Fatal("the client did not close its socket")
		}
	}

	t.Run("untrusted", func(t *testing.T) {
		other := clientCfg.Clone()
		other.RootCAs = x509.NewCertPool()
		_, _, err := chanstream.OpenConnection(wd, untrusted.Addr().String(), chanstream.WithTLS(other))
		var verr *tls.CertificateVerificationError
		if !errors.As(err, &verr) || !strings.Contains(err.Error(), "tls handshake") || !strings.Contains(err.Error(), untrusted.Addr().String()) {
			t.Fatalf("OpenConnection = %v; want a certificate error saying tls handshake and the address", err)
		}
		waitClosed(t)
	})
	t.Run("timeout", func(t *testing.T) {
		_, _, err := chanstream.OpenConnection(wd, silent.Addr().String(),
			chanstream.WithTLS(clientCfg), chanstream.WithTLSHandshakeTimeout(200*time.Millisecond))
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "tls handshake: timed out") || wd.Err() != nil {
			t.Fatalf("OpenConnection = %v; want a tls handshake timeout, before the watchdog", err)
		}
		<-hello
		waitClosed(t)
	})
	t.Run("ctx cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(wd)
		go func() { <-hello; cancel() }()
		_, _, err := chanstream.OpenConnection(ctx, silent.Addr().String(), chanstream.WithTLS(clientCfg))
		cancel()
		if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "tls handshake") {
			t.Fatalf("OpenConnection = %v; want context.Canceled from the tls handshake", err)
		}
		waitClosed(t)
	})
}

// TestTLSShutdownTimeout: over TLS, a peer that stopped reading cannot hold
// Close and WaitClosed past the shutdown timeout, for OpenConnection, for
// New of a *tls.Conn, and for a stream upgraded to TLS (STARTTLS).
func TestTLSShutdownTimeout(t *testing.T) {
	testutil.CheckLeaks(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	serverCfg, clientCfg := testutil.SelfSignedTLS(t)
	handshaken := make(chan struct{}, 3)
	ln := tlsServer(t, func(c net.Conn) {
		tc := tls.Server(c, serverCfg)
		if tc.Handshake() == nil {
			handshaken <- struct{}{}
		}
		<-ctx.Done() // stops reading; closed by the cleanup
	})
	const timeout = 300 * time.Millisecond
	open := map[string]func(t *testing.T) (*chanstream.Reader, *chanstream.Writer){
		"OpenConnection": func(t *testing.T) (*chanstream.Reader, *chanstream.Writer) {
			r, w, err := chanstream.OpenConnection(ctx, ln.Addr().String(),
				chanstream.WithTLS(clientCfg), chanstream.WithTLSShutdownTimeout(timeout))
			if err != nil {
				t.Fatal(err)
			}
			return r, w
		},
		"New": func(t *testing.T) (*chanstream.Reader, *chanstream.Writer) {
			c, err := tls.Dial("tcp", ln.Addr().String(), clientCfg)
			if err != nil {
				t.Fatal(err)
			}
			return chanstream.New(c, chanstream.WithTLSShutdownTimeout(timeout))
		},
		"Upgrade": func(t *testing.T) (*chanstream.Reader, *chanstream.Writer) {
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			r, w := chanstream.New(c, chanstream.WithTLSShutdownTimeout(timeout))
			cfg := clientCfg.Clone()
			cfg.ServerName = "127.0.0.1"
			err = w.Upgrade(ctx, func(ctx context.Context, c net.Conn, unread []byte) (net.Conn, error) {
				tc := tls.Client(c, cfg)
				return tc, tc.HandshakeContext(ctx)
			})
			if err != nil {
				t.Fatal(err)
			}
			return r, w
		},
	}
	for name, open := range open {
		t.Run(name, func(t *testing.T) {
			r, w := open(t)
			<-handshaken
			w.Write(make([]byte, 32<<20)) // more than the socket buffers hold
			w.Close()
			if err := w.WaitClosed(ctx); err != nil {
				t.Fatalf("WaitClosed = %v; want the shutdown timeout to close the stream", err)
			}
			if err := r.Err(); !errors.Is(err, chanstream.ErrClosed) || !strings.Contains(err.Error(), "tls shutdown timed out") {
				t.Fatalf("Err() = %v; want the shutdown timeout, wrapping ErrClosed", err)
			}
		})
	}
}
