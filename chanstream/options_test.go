package chanstream_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cspstream/streams/chanstream"
	"github.com/cspstream/streams/testutil"
)

// optCase is one option with a valid value, for the table of where options
// apply (doc.go, "Options").
type optCase struct {
	name string
	opt  chanstream.Option
}

func allOptions(clientTLS, serverTLS *tls.Config) []optCase {
	return []optCase{
		{"WithLimit", chanstream.WithLimit(100)},
		{"WithWriteBufferLimits", chanstream.WithWriteBufferLimits(100, 10)},
		{"WithTLS", chanstream.WithTLS(clientTLS)},
		{"WithTLSHandshakeTimeout", chanstream.WithTLSHandshakeTimeout(time.Second)},
		{"WithTLSShutdownTimeout", chanstream.WithTLSShutdownTimeout(time.Second)},
		{"WithServerSide", chanstream.WithServerSide()},
		{"WithNetwork", chanstream.WithNetwork("tcp4")},
		{"WithLocalAddr", chanstream.WithLocalAddr("127.0.0.1:0")},
		{"WithHappyEyeballsDelay", chanstream.WithHappyEyeballsDelay(time.Millisecond)},
		{"WithInterleave", chanstream.WithInterleave(2)},
		{"WithKeepAlive", chanstream.WithKeepAlive(time.Second)},
		{"WithDialer", chanstream.WithDialer(&net.Dialer{})},
		{"WithMaxWriteBuffer", chanstream.WithMaxWriteBuffer(1 << 20)},
	}
}

// panicErr runs f and returns the error it panicked with, or nil.
func panicErr(t *testing.T, f func()) (err error) {
	t.Helper()
	defer func() {
		if v := recover(); v != nil {
			e, ok := v.(error)
			if !ok {
				t.Fatalf("panicked with %v (%T); want an error", v, v)
			}
			err = e
		}
	}()
	f()
	return nil
}

// wantNamed fails t unless err wraps ErrInvalidArgument and names name.
func wantNamed(t *testing.T, call, name string, err error) {
	t.Helper()
	if !errors.Is(err, chanstream.ErrInvalidArgument) || !strings.Contains(err.Error(), name) {
		t.Errorf("%s with %s: %v; want an error wrapping ErrInvalidArgument that names %s", call, name, err, name)
	}
	if err != nil && strings.Count(err.Error(), "chanstream:") != 1 {
		t.Errorf("%s with %s: %q; want one \"chanstream:\" prefix", call, name, err)
	}
}

// TestOptionsNotApplied tests every "no" cell of the package doc's table of
// options: the call fails naming the option (New, NewReader and NewWriter
// panic), and nothing is started. Every "yes" cell of the constructors
// that cannot dial is checked to succeed.
func TestOptionsNotApplied(t *testing.T) {
	serverTLS, clientTLS := testutil.SelfSignedTLS(t)
	clientTLS = clientTLS.Clone()
	clientTLS.ServerName = "localhost"
	_ = serverTLS
	yes := map[string]map[string]bool{
		"New":            {"WithLimit": true, "WithWriteBufferLimits": true, "WithMaxWriteBuffer": true, "WithTLSShutdownTimeout": true, "WithServerSide": true},
		"NewReader":      {"WithLimit": true},
		"NewWriter":      {"WithWriteBufferLimits": true, "WithMaxWriteBuffer": true},
		"OpenConnection": {"WithLimit": true, "WithWriteBufferLimits": true, "WithMaxWriteBuffer": true, "WithTLS": true, "WithTLSHandshakeTimeout": true, "WithTLSShutdownTimeout": true, "WithNetwork": true, "WithLocalAddr": true, "WithHappyEyeballsDelay": true, "WithInterleave": true, "WithKeepAlive": true, "WithDialer": true},
		"server":         {"WithLimit": true, "WithWriteBufferLimits": true, "WithMaxWriteBuffer": true, "WithTLSShutdownTimeout": true, "WithServerSide": true},
	}
	yes["NewContext"] = yes["New"]
	for _, oc := range allOptions(clientTLS, serverTLS) {
		t.Run(oc.name, func(t *testing.T) {
			if !yes["New"][oc.name] && oc.name != "WithTLS" {
				// WithTLS and WithTLSHandshakeTimeout (with WithTLS) apply to
				// New: TestNewTLS. Alone, the timeout is a "no".
				a, b := net.Pipe()
				defer a.Close()
				defer b.Close()
				wantNamed(t, "New", oc.name, panicErr(t, func() { chanstream.New(a, oc.opt) }))
				_, _, err := chanstream.NewContext(context.Background(), a, oc.opt)
				wantNamed(t, "NewContext", oc.name, err)
				wantNamed(t, "CheckOptions", oc.name, chanstream.CheckOptions(oc.opt))
			} else if oc.name != "WithTLS" {
				a, b := net.Pipe()
				defer b.Close()
				_, w := chanstream.New(a, oc.opt)
				w.Abort()
				w.WaitClosed(context.Background())
			}
			if !yes["NewReader"][oc.name] {
				wantNamed(t, "NewReader", oc.name, panicErr(t, func() { chanstream.NewReader(strings.NewReader(""), oc.opt) }))
			} else {
				r := chanstream.NewReader(strings.NewReader(""), oc.opt)
				r.ReadAll(context.Background())
			}
			if !yes["NewWriter"][oc.name] {
				wantNamed(t, "NewWriter", oc.name, panicErr(t, func() { chanstream.NewWriter(io.Discard, oc.opt) }))
			} else {
				w := chanstream.NewWriter(io.Discard, oc.opt)
				w.Close()
				w.WaitClosed(context.Background())
			}
			if !yes["OpenConnection"][oc.name] {
				// Refused before anything is dialed: nothing listens there.
				_, _, err := chanstream.OpenConnection(context.Background(), "127.0.0.1:1", oc.opt)
				wantNamed(t, "OpenConnection", oc.name, err)
			}
			err := chanstream.CheckServerOptions(oc.opt)
			if !yes["server"][oc.name] {
				wantNamed(t, "CheckServerOptions", oc.name, err)
			} else if err != nil {
				t.Errorf("CheckServerOptions(%s) = %v; want nil", oc.name, err)
			}
		})
	}
}

// TestOptionsTLSCombinations: the TLS cells that depend on the other
// options: the handshake timeout needs WithTLS; a client needs a server
// name where there is no host; a server needs a certificate.
func TestOptionsTLSCombinations(t *testing.T) {
	serverTLS, clientTLS := testutil.SelfSignedTLS(t)
	for _, tc := range []struct {
		name string
		opts []chanstream.Option
	}{
		{"WithTLSHandshakeTimeout", []chanstream.Option{chanstream.WithTLSHandshakeTimeout(time.Second)}},
		{"WithTLS", []chanstream.Option{chanstream.WithTLS(nil)}},
		{"WithTLS", []chanstream.Option{chanstream.WithTLS(clientTLS)}}, // no ServerName
		{"WithTLS", []chanstream.Option{chanstream.WithServerSide(), chanstream.WithTLS(nil)}},
		{"WithTLS", []chanstream.Option{chanstream.WithServerSide(), chanstream.WithTLS(clientTLS)}}, // no certificate
	} {
		a, b := net.Pipe()
		wantNamed(t, "New", tc.name, panicErr(t, func() { chanstream.New(a, tc.opts...) }))
		_, _, err := chanstream.NewContext(context.Background(), a, tc.opts...)
		wantNamed(t, "NewContext", tc.name, err)
		a.Close()
		b.Close()
	}
	_, _, err := chanstream.OpenConnection(context.Background(), "127.0.0.1:1", chanstream.WithTLSHandshakeTimeout(time.Second))
	wantNamed(t, "OpenConnection", "WithTLSHandshakeTimeout", err)
	if err := chanstream.CheckOptions(chanstream.WithServerSide(), chanstream.WithTLS(serverTLS)); err != nil {
		t.Errorf("CheckOptions(WithServerSide, WithTLS(server config)) = %v; want nil", err)
	}
	// NewWriter takes WithTLSShutdownTimeout over a *tls.Conn only.
	a, b := net.Pipe()
	defer b.Close()
	w := chanstream.NewWriter(tls.Client(a, &tls.Config{InsecureSkipVerify: true}), chanstream.WithTLSShutdownTimeout(time.Second))
	w.Abort()
	w.WaitClosed(context.Background())
}

// TestNilArguments: nil conns, sources, sinks, functions and contexts fail
// at the call with an error wrapping ErrInvalidArgument, and a stream
// given a nil argument goes on as before.
func TestNilArguments(t *testing.T) {
	var nilCtx context.Context
	for name, f := range map[string]func(){
		"New":       func() { chanstream.New(nil) },
		"NewReader": func() { chanstream.NewReader(nil) },
		"NewWriter": func() { chanstream.NewWriter(nil) },
		"NetConn":   func() { chanstream.NetConn(nil, nil) },
	} {
		if err := panicErr(t, f); !errors.Is(err, chanstream.ErrInvalidArgument) {
			t.Errorf("%s(nil) panicked with %v; want an error wrapping ErrInvalidArgument", name, err)
		}
	}
	if _, _, err := chanstream.NewContext(context.Background(), nil); !errors.Is(err, chanstream.ErrInvalidArgument) {
		t.Errorf("NewContext(ctx, nil) = %v; want ErrInvalidArgument", err)
	}
	if _, _, err := chanstream.OpenConnection(nilCtx, "127.0.0.1:1"); !errors.Is(err, chanstream.ErrInvalidArgument) {
		t.Errorf("OpenConnection(nil ctx) = %v; want ErrInvalidArgument", err)
	}
	a, b := net.Pipe()
	defer b.Close()
	if _, _, err := chanstream.NewContext(nilCtx, a); !errors.Is(err, chanstream.ErrInvalidArgument) {
		t.Errorf("NewContext(nil ctx) = %v; want ErrInvalidArgument", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	client, server := testutil.Loopback(t)
	if err := client.W.Upgrade(ctx, nil); !errors.Is(err, chanstream.ErrInvalidArgument) {
		t.Errorf("Upgrade(ctx, nil) = %v; want ErrInvalidArgument", err)
	}
	noop := func(_ context.Context, c net.Conn, _ []byte) (net.Conn, error) { return c, nil }
	if err := client.W.Upgrade(nilCtx, noop); !errors.Is(err, chanstream.ErrInvalidArgument) {
		t.Errorf("Upgrade(nil ctx, fn) = %v; want ErrInvalidArgument", err)
	}
	client.W.WriteString("still here\n")
	if line, err := server.R.ReadLine(ctx); string(line) != "still here\n" || err != nil {
		t.Errorf("after the bad Upgrades, ReadLine() = %q, %v; want %q, nil", line, err, "still here\n")
	}
	for name, f := range map[string]func() error{
		"ReadUpTo":    func() error { _, err := server.R.ReadUpTo(nilCtx, 1); return err },
		"ReadAll":     func() error { _, err := server.R.ReadAll(nilCtx); return err },
		"ReadLine":    func() error { _, err := server.R.ReadLine(nilCtx); return err },
		"ReadExactly": func() error { _, err := server.R.ReadExactly(nilCtx, 1); return err },
		"ReadUntil":   func() error { _, err := server.R.ReadUntil(nilCtx); return err },
		"Lines": func() error {
			for _, err := range server.R.Lines(nilCtx) {
				return err
			}
			return nil
		},
		"Drain":      func() error { return client.W.Drain(nilCtx) },
		"WaitClosed": func() error { return client.W.WaitClosed(nilCtx) },
	} {
		if err := f(); !errors.Is(err, chanstream.ErrInvalidArgument) {
			t.Errorf("%s(nil ctx) = %v; want ErrInvalidArgument", name, err)
		}
	}
}

// tcpPair returns the two ends of a real TCP connection on 127.0.0.1.
func tcpPair(t *testing.T) (client, server net.Conn) { return testutil.TCPPair(t) }

// TestNewTLS: New(conn, WithTLS(cfg)) runs TLS over conn — tls.Client, or
// tls.Server with WithServerSide — against a real crypto/tls peer over
// TCP; New returns before the peer has even started its handshake, and
// ExtraInfo reports the TLS layer.
func TestNewTLS(t *testing.T) {
	serverTLS, clientTLS := testutil.SelfSignedTLS(t)
	clientTLS = clientTLS.Clone()
	clientTLS.ServerName = "localhost"
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, serverSide := range []bool{false, true} {
		t.Run(fmt.Sprintf("serverSide=%v", serverSide), func(t *testing.T) {
			mine, theirs := tcpPair(t)
			var peer *tls.Conn
			var r *chanstream.Reader
			var w *chanstream.Writer
			if serverSide {
				r, w = wtNew(t, mine, chanstream.WithServerSide(), chanstream.WithTLS(serverTLS))
				peer = tls.Client(theirs, clientTLS)
			} else {
				r, w = wtNew(t, mine, chanstream.WithTLS(clientTLS))
				peer = tls.Server(theirs, serverTLS)
			}
			// New has returned; only now does the peer take part.
			peerDone := make(chan error, 1)
			go func() {
				defer peer.Close()
				line := make([]byte, len("ping\n"))
				if _, err := io.ReadFull(peer, line); err != nil {
					peerDone <- err
					return
				}
				_, err := peer.Write(bytes.ToUpper(line))
				peerDone <- err
			}()
			w.WriteString("ping\n")
			line, err := r.ReadLine(ctx)
			if string(line) != "PING\n" || err != nil {
				t.Fatalf("ReadLine() = %q, %v; want %q, nil", line, err, "PING\n")
			}
			if err := <-peerDone; err != nil {
				t.Fatalf("peer: %v", err)
			}
			if _, ok := w.Conn().(*tls.Conn); !ok {
				t.Errorf("Conn() is %T; want *tls.Conn", w.Conn())
			}
			if got := w.ExtraInfo("socket"); got != mine {
				t.Errorf("ExtraInfo(socket) = %v; want the conn given to New", got)
			}
			want := clientTLS
			if serverSide {
				want = serverTLS
			}
			if got := w.ExtraInfo("sslcontext"); got != want {
				t.Errorf("ExtraInfo(sslcontext) = %v; want the config given", got)
			}
		})
	}
}

// TestNewTLSNeverPlaintext: what is written to a New(conn, WithTLS(cfg))
// stream reaches the wire as TLS records, never as the plain bytes.
func TestNewTLSNeverPlaintext(t *testing.T) {
	_, clientTLS := testutil.SelfSignedTLS(t)
	clientTLS = clientTLS.Clone()
	clientTLS.ServerName = "localhost"
	mine, theirs := tcpPair(t)
	_, w := wtNew(t, mine, chanstream.WithTLS(clientTLS))
	w.WriteString("the secret\n")
	theirs.SetReadDeadline(time.Now().Add(20 * time.Second))
	hello := make([]byte, 5)
	if _, err := io.ReadFull(theirs, hello); err != nil {
		t.Fatalf("peer read: %v", err)
	}
	if hello[0] != 0x16 { // a TLS handshake record: the ClientHello
		t.Fatalf("first bytes on the wire %q; want a TLS handshake record", hello)
	}
	rest := make([]byte, int(hello[3])<<8|int(hello[4]))
	if _, err := io.ReadFull(theirs, rest); err != nil {
		t.Fatalf("peer read: %v", err)
	}
	if bytes.Contains(rest, []byte("secret")) {
		t.Fatal("the plain text is on the wire")
	}
	if !bytes.Contains(rest, []byte("localhost")) {
		t.Error("the ClientHello does not name localhost (ServerName)")
	}
}

// TestNewTLSHandshakeTimeout: a peer that never answers the handshake
// fails the stream once WithTLSHandshakeTimeout has passed: reads return a
// timeout and the stream closes.
func TestNewTLSHandshakeTimeout(t *testing.T) {
	_, clientTLS := testutil.SelfSignedTLS(t)
	clientTLS = clientTLS.Clone()
	clientTLS.ServerName = "localhost"
	mine, _ := tcpPair(t) // the peer stays silent
	start := time.Now()
	r, w := wtNew(t, mine, chanstream.WithTLS(clientTLS), chanstream.WithTLSHandshakeTimeout(100*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := r.ReadLine(ctx)
	if ctx.Err() != nil {
		t.Fatal("the handshake was not bounded: still waiting at the watchdog")
	}
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("ReadLine() = %v; want the handshake's timeout", err)
	}
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Errorf("failed after %v; want the handshake timeout (100ms) first", d)
	}
	if err := w.WaitClosed(ctx); err != nil {
		t.Errorf("WaitClosed() = %v; want the stream closed after the failed handshake", err)
	}
}

// TestOpenConnectionTLSNil: WithTLS(nil) is TLS with a zero config and the
// host as ServerName, as tls.Dial — never plain text. The peer, a plain
// listener, sees a ClientHello for localhost; the handshake then fails.
func TestOpenConnectionTLSNil(t *testing.T) {
	hellos := make(chan []byte, 1)
	ln := serveTCP(t, "127.0.0.1:0", func(c net.Conn) {
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		b := make([]byte, 512)
		n, _ := io.ReadAtLeast(c, b, 5)
		hellos <- b[:n]
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, _, err := chanstream.OpenConnection(ctx, fmt.Sprintf("localhost:%d", portOf(ln)),
		chanstream.WithTLS(nil), chanstream.WithNetwork("tcp4"))
	if err == nil || !strings.Contains(err.Error(), "tls handshake") {
		t.Errorf("OpenConnection(WithTLS(nil)) to a peer that is not TLS = %v; want a tls handshake error", err)
	}
	hello := <-hellos
	if len(hello) < 5 || hello[0] != 0x16 || !bytes.Contains(hello, []byte("localhost")) {
		t.Errorf("the peer got %q; want a ClientHello naming localhost", hello)
	}
}

// TestNewContextTLSServerSide: NewContext with WithServerSide runs the
// server side of the handshake.
func TestNewContextTLSServerSide(t *testing.T) {
	serverTLS, clientTLS := testutil.SelfSignedTLS(t)
	clientTLS = clientTLS.Clone()
	clientTLS.ServerName = "localhost"
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	mine, theirs := tcpPair(t)
	peer := tls.Client(theirs, clientTLS)
	peerDone := make(chan error, 1)
	go func() {
		defer peer.Close()
		_, err := io.WriteString(peer, "hello\n")
		peerDone <- err
	}()
	r, w, err := chanstream.NewContext(ctx, mine, chanstream.WithServerSide(), chanstream.WithTLS(serverTLS))
	if err != nil {
		t.Fatalf("NewContext: %v", err)
	}
	defer func() { w.Abort(); w.WaitClosed(ctx) }()
	if line, err := r.ReadLine(ctx); string(line) != "hello\n" || err != nil {
		t.Errorf("ReadLine() = %q, %v; want %q, nil", line, err, "hello\n")
	}
	if err := <-peerDone; err != nil {
		t.Errorf("peer: %v", err)
	}
}

// TestDialHost: OpenConnection records the host it dialed; New does not
// have one.
func TestDialHost(t *testing.T) {
	ln := serveTCP(t, "127.0.0.1:0", func(c net.Conn) { io.Copy(io.Discard, c); c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, w, err := chanstream.OpenConnection(ctx, fmt.Sprintf("localhost:%d", portOf(ln)), chanstream.WithNetwork("tcp4"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { w.Close(); w.WaitClosed(ctx) }()
	if got := w.DialHost(); got != "localhost" {
		t.Errorf("DialHost() = %q; want localhost", got)
	}
	a, b := net.Pipe()
	defer b.Close()
	_, w2 := wtNew(t, a)
	if got := w2.DialHost(); got != "" {
		t.Errorf("DialHost() of New = %q; want \"\"", got)
	}
}

// TestErrorTexts: one "chanstream:" per error, and the limit in a
// LimitOverrunError.
func TestErrorTexts(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r := chanstream.NewReader(strings.NewReader("0123456789abcdef\n"), chanstream.WithLimit(8))
	_, err := r.ReadUntil(ctx)
	var loe *chanstream.LimitOverrunError
	if !errors.As(err, &loe) || loe.Limit != 8 || !strings.Contains(err.Error(), "limit of 8 bytes") {
		t.Errorf("ReadUntil over the limit = %v; want a LimitOverrunError naming the limit of 8 bytes", err)
	}
	r.FeedEOF()
	errs := map[string]error{"LimitOverrunError": err}
	_, _, errs["OpenConnection without a port"] = chanstream.OpenConnection(ctx, "127.0.0.1")
	_, _, errs["OpenConnection with a local address without a port"] = chanstream.OpenConnection(ctx, "127.0.0.1:1", chanstream.WithLocalAddr("127.0.0.1"))
	_, _, errs["OpenConnection with a bad option"] = chanstream.OpenConnection(ctx, "127.0.0.1:1", chanstream.WithLimit(0))
	a, b := net.Pipe()
	defer b.Close()
	_, _, errs["NewContext with a bad option"] = chanstream.NewContext(ctx, a, chanstream.WithLimit(-1))
	_, _, errs["NewContext without a server name"] = chanstream.NewContext(ctx, a, chanstream.WithTLS(&tls.Config{}))
	client, _ := testutil.Loopback(t)
	client.W.Close()
	_, errs["Write after Close"] = client.W.WriteString("x")
	errs["Upgrade with nil fn"] = client.W.Upgrade(ctx, nil)
	for name, err := range errs {
		if err == nil {
			t.Errorf("%s: nil error", name)
			continue
		}
		if n := strings.Count(err.Error(), "chanstream:"); n != 1 {
			t.Errorf("%s: %q has %d \"chanstream:\" prefixes; want 1", name, err, n)
		}
	}
}
