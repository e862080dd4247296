package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cspstream/streams/chanstream"
	"github.com/cspstream/streams/server"
	"github.com/cspstream/streams/testutil"
)

func TestMain(m *testing.M) { testutil.VerifyTestMain(m) }

// start serves Handler on 127.0.0.1:0 and reports, for every session, the
// TLS state its stream ended with (the zero state when it never was TLS).
func start(t *testing.T, cfg *tls.Config) (*server.Server, <-chan tls.ConnectionState) {
	t.Helper()
	states := make(chan tls.ConnectionState, 8)
	h := Handler(cfg)
	srv, err := server.Start(context.Background(), "127.0.0.1:0", func(ctx context.Context, r *chanstream.Reader, w *chanstream.Writer) error {
		err := h(ctx, r, w)
		st, _ := w.ExtraInfo("tls").(tls.ConnectionState)
		states <- st
		return err
	}, server.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return srv, states
}

// TestOpenSSLClient drives the server with a client nobody here wrote:
// openssl s_client -starttls smtp, verifying the certificate for
// localhost. What it sends after the handshake comes back byte for byte,
// and both ends say the session is TLS.
func TestOpenSSLClient(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl is not installed (apt-get install openssl): the s_client interop test did not run")
	}
	serverCfg, _ := testutil.SelfSignedTLS(t)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	leaf := serverCfg.Certificates[0].Leaf
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	srv, states := start(t, serverCfg)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, openssl, "s_client", "-starttls", "smtp",
		"-connect", srv.Addrs()[0].String(), "-servername", "localhost",
		"-CAfile", ca, "-verify_hostname", "localhost", "-verify_return_error",
		"-brief", "-nocommands")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var payload bytes.Buffer
	for i := range 200 {
		fmt.Fprintf(&payload, "line %d: %s\n", i, strings.Repeat("QRkK0123456789", i%9))
	}
	payload.WriteString("a last line without a newline, then bytes\x00\x01\xff")
	if _, err := stdin.Write(payload.Bytes()); err != nil {
		t.Fatalf("write to openssl: %v (stderr: %s)", err, &stderr)
	}
	got := make([]byte, payload.Len())
	if _, err := io.ReadFull(stdout, got); err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("read the echo from openssl: %v (got %q; stderr: %s)", err, got, &stderr)
	}
	stdin.Close() // openssl ends the session
	rest, _ := io.ReadAll(stdout)
	if err := cmd.Wait(); err != nil {
		t.Errorf("openssl: %v (stderr: %s)", err, &stderr)
	}
	if !bytes.Equal(got, payload.Bytes()) || len(rest) != 0 {
		t.Fatalf("echo through openssl differs: got %q then %q; want %q", got, rest, payload.Bytes())
	}
	if !strings.Contains(stderr.String(), "Protocol version: TLS") || !strings.Contains(stderr.String(), "Verification: OK") {
		t.Errorf("openssl does not report a verified TLS session:\n%s", &stderr)
	}
	select {
	case st := <-states:
		if !st.HandshakeComplete || st.ServerName != "localhost" {
			t.Errorf("the server's session: handshake complete %v, server name %q; want a TLS session for localhost", st.HandshakeComplete, st.ServerName)
		}
	case <-ctx.Done():
		t.Fatal("the server's handler did not return")
	}
}
