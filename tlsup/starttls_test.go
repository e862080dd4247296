package tlsup_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/cspstream/streams/chanstream"
	"github.com/cspstream/streams/testutil"
	"github.com/cspstream/streams/tlsup"
)

func TestMain(m *testing.M) { testutil.VerifyTestMain(m) }

const watchdog = 20 * time.Second

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), watchdog)
	t.Cleanup(cancel)
	return ctx
}

// configs returns a server config and a client config that trusts it and
// names "localhost".
func configs(t *testing.T) (server, client *tls.Config) {
	server, client = testutil.SelfSignedTLS(t)
	client = client.Clone()
	client.ServerName = "localhost"
	return server, client
}

func readLine(t *testing.T, ctx context.Context, r *chanstream.Reader, want string) {
	t.Helper()
	line, err := r.ReadLine(ctx)
	if string(line) != want || err != nil {
		t.Fatalf("ReadLine() = %q, %v; want %q, nil", line, err, want)
	}
}

// TestStartTLS: a STARTTLS exchange between two streams — each side's
// default side (server.W is the server side) — then lines both ways over
// TLS, with the connection and ExtraInfo showing the TLS layer.
// Over FaultConns too: every record of the handshake and after it arrives
// in pieces of a few bytes, late.
func TestStartTLS(t *testing.T) {
	split := testutil.Faults{MaxRead: 7, MaxWrite: 11, Delay: 20 * time.Microsecond}
	for _, tc := range []struct {
		name   string
		faults bool
	}{{"plain", false}, {"split and delayed", true}} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.faults {
				client, server := testutil.FaultLoopback(t, split, split)
				testStartTLS(t, client, server, "*testutil.FaultConn")
				return
			}
			client, server := testutil.Loopback(t)
			testStartTLS(t, client, server, "*net.TCPConn")
		})
	}
}

func testStartTLS(t *testing.T, client, server testutil.End, socket string) {
	ctx := testCtx(t)
	srvCfg, cliCfg := configs(t)

	served := make(chan error, 1)
	go func() {
		served <- func() error {
			line, err := server.R.ReadLine(ctx)
			if err != nil || string(line) != "STARTTLS\n" {
				return errors.New("no STARTTLS line")
			}
			server.W.WriteString("GO\n")
			if err := tlsup.StartTLS(ctx, server.W, srvCfg); err != nil {
				return err
			}
			line, err = server.R.ReadLine(ctx)
			if err != nil {
				return err
			}
			_, err = server.W.Write(bytes.ToUpper(line))
			return err
		}()
	}()

	client.W.WriteString("STARTTLS\n")
	readLine(t, ctx, client.R, "GO\n")
	if err := tlsup.StartTLS(ctx, client.W, cliCfg); err != nil {
		t.Fatalf("client StartTLS: %v", err)
	}
	client.W.WriteString("over tls\n")
	readLine(t, ctx, client.R, "OVER TLS\n")
	if err := <-served; err != nil {
		t.Fatalf("server: %v", err)
	}

	for _, w := range []*chanstream.Writer{client.W, server.W} {
		if _, ok := w.Conn().(*tls.Conn); !ok {
			t.Errorf("Conn() = %T after StartTLS; want *tls.Conn", w.Conn())
		}
		if st, ok := w.ExtraInfo("tls").(tls.ConnectionState); !ok || !st.HandshakeComplete {
			t.Errorf("ExtraInfo(\"tls\") = %v; want a completed handshake", w.ExtraInfo("tls"))
		}
		if got := fmt.Sprintf("%T", w.ExtraInfo("socket")); got != socket {
			t.Errorf("ExtraInfo(\"socket\") = %s; want the %s under TLS", got, socket)
		}
		if w.CanWriteEOF() {
			t.Error("CanWriteEOF() = true over TLS")
		}
	}
}

// TestStartTLSReplaysBytesAlreadyRead: a client that sends its TLS hello
// right behind its STARTTLS line, without waiting for an answer. The hello
// bytes the server's Reader already holds — here some read and put back
// with Unread — go to the handshake, not to the application.
func TestStartTLSReplaysBytesAlreadyRead(t *testing.T) {
	ctx := testCtx(t)
	srvCfg, cliCfg := configs(t)
	cc, sc := testutil.TCPPair(t)
	r, w := chanstream.New(sc)
	defer func() {
		w.Abort()
		<-w.Done()
	}()

	clientErr := make(chan error, 1)
	go func() {
		clientErr <- func() error {
			if _, err := cc.Write([]byte("STARTTLS\n")); err != nil {
				return err
			}
			tc := tls.Client(cc, cliCfg)
			if err := tc.HandshakeContext(ctx); err != nil {
				return err
			}
			if _, err := tc.Write([]byte("after\n")); err != nil {
				return err
			}
			return nil
		}()
	}()

	readLine(t, ctx, r, "STARTTLS\n")
	hello, err := r.ReadUpTo(ctx, 5) // part of the TLS record header, then put back
	if err != nil || len(hello) == 0 || hello[0] != 0x16 {
		t.Fatalf("ReadUpTo() = % x, %v; want the start of a TLS handshake record", hello, err)
	}
	r.Unread(hello)
	if err := tlsup.StartTLS(ctx, w, srvCfg, tlsup.AsServer()); err != nil {
		t.Fatalf("StartTLS with the hello already read: %v", err)
	}
	readLine(t, ctx, r, "after\n")
	if err := <-clientErr; err != nil {
		t.Fatalf("client: %v", err)
	}
}

// TestStartTLSHandshakeTimeout: a peer that never answers the handshake
// makes StartTLS fail once WithHandshakeTimeout passes, with the stream
// aborted.
func TestStartTLSHandshakeTimeout(t *testing.T) {
	ctx := testCtx(t)
	srvCfg, _ := configs(t)
	_, sc := testutil.TCPPair(t) // the peer stays silent
	_, w := chanstream.New(sc)
	err := tlsup.StartTLS(ctx, w, srvCfg, tlsup.AsServer(), tlsup.WithHandshakeTimeout(100*time.Millisecond))
	if err == nil || !strings.Contains(err.Error(), "tls handshake: timed out") {
		t.Fatalf("StartTLS = %v; want a handshake timeout", err)
	}
	select {
	case <-w.Done():
	case <-ctx.Done():
		t.Fatal("the stream was not aborted after the failed handshake")
	}
}

// TestStartTLSBadCertificate: a client that does not trust the server's
// certificate fails, and says TLS; both streams are aborted.
func TestStartTLSBadCertificate(t *testing.T) {
	ctx := testCtx(t)
	srvCfg, _ := configs(t)
	_, otherCli := configs(t) // trusts another certificate
	client, server := testutil.Loopback(t)
	served := make(chan error, 1)
	go func() { served <- tlsup.StartTLS(ctx, server.W, srvCfg) }()
	err := tlsup.StartTLS(ctx, client.W, otherCli)
	var unknown x509.UnknownAuthorityError
	if err == nil || !strings.Contains(err.Error(), "tls handshake") || !errors.As(err, &unknown) {
		t.Fatalf("client StartTLS = %v; want a TLS handshake error about the certificate", err)
	}
	if err := <-served; err == nil {
		t.Fatal("server StartTLS succeeded against a client that refused it")
	}
	if err := client.R.Err(); err == nil || !strings.Contains(err.Error(), "tls handshake") || !errors.Is(err, chanstream.ErrClosed) {
		t.Fatalf("client Err() = %v; want the handshake's error, and closed", err)
	}
	for _, w := range []*chanstream.Writer{client.W, server.W} {
		if _, err := w.Write([]byte("x")); err == nil {
			t.Error("Write after a failed StartTLS succeeded; want the stream aborted")
		}
	}
}

// TestStartTLSRefusals: StartTLS that cannot start changes nothing: the
// stream goes on in plain text.
func TestStartTLSRefusals(t *testing.T) {
	srvCfg, _ := configs(t)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name string
		ctx  context.Context
		cfg  *tls.Config
		opts []tlsup.Option
		want error
	}{
		{"ctx ended", cancelled, srvCfg, nil, context.Canceled},
		{"nil config", context.Background(), nil, nil, chanstream.ErrInvalidArgument},
		{"zero handshake timeout", context.Background(), srvCfg, []tlsup.Option{tlsup.WithHandshakeTimeout(0)}, chanstream.ErrInvalidArgument},
		{"negative shutdown timeout", context.Background(), srvCfg, []tlsup.Option{tlsup.WithShutdownTimeout(-time.Second)}, chanstream.ErrInvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			client, server := testutil.Loopback(t)
			if err := tlsup.StartTLS(tc.ctx, server.W, tc.cfg, tc.opts...); !errors.Is(err, tc.want) {
				t.Fatalf("StartTLS = %v; want %v", err, tc.want)
			}
			client.W.WriteString("still plain\n")
			readLine(t, ctx, server.R, "still plain\n")
		})
	}
}

// TestStartTLSShutdownTimeout: after the upgrade, a peer that stops
// reading holds Close no longer than WithShutdownTimeout; the Reader then
// says the shutdown timed out.
func TestStartTLSShutdownTimeout(t *testing.T) {
	ctx := testCtx(t)
	srvCfg, cliCfg := configs(t)
	client, server := testutil.Loopback(t)
	served := make(chan error, 1)
	go func() { served <- tlsup.StartTLS(ctx, server.W, srvCfg) }()
	if err := tlsup.StartTLS(ctx, client.W, cliCfg, tlsup.WithShutdownTimeout(200*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	// The server reads no more: 16 MiB cannot all be written.
	client.W.Write(make([]byte, 16<<20))
	client.W.Close()
	if err := client.W.WaitClosed(ctx); err != nil {
		t.Fatalf("WaitClosed: %v; want the shutdown timeout to end the stream", err)
	}
	if err := client.R.Err(); err == nil || !strings.Contains(err.Error(), "tls shutdown timed out") {
		t.Fatalf("Err() = %v; want the shutdown timeout", err)
	}
}

// TestStartTLSPeerGone: StartTLS on a stream whose peer has already
// closed fails, and says why.
func TestStartTLSPeerGone(t *testing.T) {
	ctx := testCtx(t)
	_, cliCfg := configs(t)
	cc, sc := testutil.TCPPair(t)
	r, w := chanstream.New(sc)
	defer func() {
		w.Abort()
		<-w.Done()
	}()
	cc.Close()
	if b, err := r.ReadUpTo(ctx, 1); err != io.EOF {
		t.Fatalf("ReadUpTo() = %q, %v; want io.EOF", b, err)
	}
	if err := tlsup.StartTLS(ctx, w, cliCfg, tlsup.AsClient()); err == nil || !errors.Is(err, io.EOF) {
		t.Fatalf("StartTLS after EOF = %v; want an error saying the source ended", err)
	}
}

// TestStartTLSCloseDuringHandshake: a Close made while the handshake runs
// — over the plain connection still — is bounded by WithShutdownTimeout
// once the stream is TLS (found by review).
func TestStartTLSCloseDuringHandshake(t *testing.T) {
	ctx := testCtx(t)
	srvCfg, cliCfg := configs(t)
	inHandshake, closed := make(chan struct{}), make(chan struct{})
	srvCfg = srvCfg.Clone()
	srvCfg.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		close(inHandshake)
		<-closed
		return nil, nil
	}
	cc, sc := testutil.TCPPair(t)
	_, w := chanstream.New(sc)
	started := make(chan error, 1)
	go func() {
		started <- tlsup.StartTLS(ctx, w, srvCfg, tlsup.AsServer(), tlsup.WithShutdownTimeout(200*time.Millisecond))
	}()
	go tls.Client(cc, cliCfg).HandshakeContext(ctx) // then reads nothing
	<-inHandshake
	w.Write(make([]byte, 16<<20)) // more than the peer's buffers take
	w.Close()
	close(closed)
	if err := <-started; err != nil {
		t.Fatalf("StartTLS: %v", err)
	}
	if err := w.WaitClosed(ctx); err != nil {
		t.Fatalf("WaitClosed: %v; want the shutdown timeout to end the stream", err)
	}
}

// TestStartTLSKeepsStreamShutdownTimeout: without WithShutdownTimeout, the
// stream's own WithTLSShutdownTimeout bounds Close after the upgrade.
func TestStartTLSKeepsStreamShutdownTimeout(t *testing.T) {
	ctx := testCtx(t)
	srvCfg, cliCfg := configs(t)
	client, server := testutil.Loopback(t, chanstream.WithTLSShutdownTimeout(200*time.Millisecond))
	served := make(chan error, 1)
	go func() { served <- tlsup.StartTLS(ctx, server.W, srvCfg) }()
	if err := tlsup.StartTLS(ctx, client.W, cliCfg); err != nil {
		t.Fatal(err)
	}
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	client.W.Write(make([]byte, 16<<20)) // the server reads no more
	client.W.Close()
	if err := client.W.WaitClosed(ctx); err != nil {
		t.Fatalf("WaitClosed: %v", err)
	}
	if err := client.R.Err(); err == nil || !strings.Contains(err.Error(), "tls shutdown timed out after 200ms") {
		t.Fatalf("Err() = %v; want the stream's 200ms shutdown timeout", err)
	}
}

// TestStartTLSNewWriter: a NewWriter has no connection to upgrade.
func TestStartTLSNewWriter(t *testing.T) {
	srvCfg, _ := configs(t)
	w := chanstream.NewWriter(io.Discard)
	defer w.Close()
	if err := tlsup.StartTLS(context.Background(), w, srvCfg); !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("StartTLS on a NewWriter = %v; want errors.ErrUnsupported", err)
	}
}
