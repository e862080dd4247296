package tlsup_test

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"testing"
	"time"

	"github.com/cspstream/streams/chanstream"
	"github.com/cspstream/streams/testutil"
	"github.com/cspstream/streams/tlsup"
)

// starttlsServer answers one STARTTLS line with "GO" on a stream over sc
// and runs StartTLS; it returns the stream, how long StartTLS took and
// its result.
func starttlsServer(t *testing.T, sc net.Conn, cfg *tls.Config, opts ...tlsup.Option) (*chanstream.Reader, *chanstream.Writer, time.Duration, error) {
	t.Helper()
	ctx := testCtx(t)
	r, w := chanstream.New(sc, chanstream.WithServerSide())
	t.Cleanup(func() {
		w.Abort()
		<-w.Done()
	})
	readLine(t, ctx, r, "STARTTLS\n")
	w.WriteString("GO\n")
	start := time.Now()
	err := tlsup.StartTLS(ctx, w, cfg, opts...)
	return r, w, time.Since(start), err
}

// TestStartTLSGarbageHello: a client that sends plain text where its
// ClientHello belongs fails the handshake at once (not at the timeout);
// the stream is aborted, TLS is never silently off: the garbage is never
// delivered as a line, and what the server writes afterwards is refused,
// never sent in plain text.
func TestStartTLSGarbageHello(t *testing.T) {
	srvCfg, _ := configs(t)
	cc, sc := testutil.TCPPair(t)
	garbage := "GET / HTTP/1.0\r\nHost: example\r\n\r\n" + string(bytes.Repeat([]byte("junk "), 2000)) + "\n"
	clientDone := make(chan []byte, 1)
	go func() {
		cc.SetDeadline(time.Now().Add(watchdog))
		cc.Write([]byte("STARTTLS\n"))
		buf := make([]byte, 3)
		io.ReadFull(cc, buf) // "GO\n"
		cc.Write([]byte(garbage))
		rest, _ := io.ReadAll(cc) // an alert, perhaps; then the end
		clientDone <- rest
	}()
	r, w, took, err := starttlsServer(t, sc, srvCfg, tlsup.WithHandshakeTimeout(watchdog))
	if err == nil {
		t.Fatal("StartTLS succeeded on a plain-text hello")
	}
	if took > watchdog/2 {
		t.Fatalf("StartTLS took %v to refuse garbage; want it at once, not at a timeout", took)
	}
	select {
	case <-w.Done():
	case <-time.After(watchdog):
		t.Fatal("the stream was not aborted after the failed handshake")
	}
	if line, err := r.ReadLine(testCtx(t)); err == nil {
		t.Fatalf("ReadLine after the failed handshake = %q; want an error", line)
	}
	if _, err := w.WriteString("secret\n"); err == nil {
		t.Fatal("WriteString after the failed handshake succeeded: it would go out in plain text")
	}
	rest := <-clientDone
	if bytes.Contains(rest, []byte("secret")) {
		t.Fatalf("the client received the server's plain text after the failed handshake: %q", rest)
	}
}

// TestStartTLSStalledHandshake: a client that sends part of its
// ClientHello and stalls is dropped once WithHandshakeTimeout passes, and
// not before.
func TestStartTLSStalledHandshake(t *testing.T) {
	ctx := testCtx(t)
	srvCfg, cliCfg := configs(t)
	cc, sc := testutil.TCPPair(t)
	if _, err := cc.Write([]byte("STARTTLS\n")); err != nil {
		t.Fatal(err)
	}
	// 40 bytes of the hello after the 9 of the line: the record header
	// and some of the message, then nothing.
	stalled := testutil.NewFaultConn(cc, testutil.Faults{StallAfter: 40})
	clientErr := make(chan error, 1)
	go func() {
		buf := make([]byte, 3)
		io.ReadFull(cc, buf) // "GO\n"
		clientErr <- tls.Client(stalled, cliCfg).HandshakeContext(ctx)
	}()
	const timeout = 300 * time.Millisecond
	_, w, took, err := starttlsServer(t, sc, srvCfg, tlsup.WithHandshakeTimeout(timeout))
	if err == nil {
		t.Fatal("StartTLS succeeded on half a hello")
	}
	if took < timeout || took > watchdog/2 {
		t.Fatalf("StartTLS gave up after %v; want the %v handshake timeout", took, timeout)
	}
	if stalled.Passed() != 40 {
		t.Fatalf("the client sent %d bytes of its hello; want 40", stalled.Passed())
	}
	<-w.Done()
	stalled.Close() // ends the client's stalled handshake
	if err := <-clientErr; err == nil {
		t.Fatal("the stalled client's handshake succeeded")
	}
}
