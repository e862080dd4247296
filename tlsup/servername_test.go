package tlsup_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"testing"

	"github.com/cspstream/streams/chanstream"
	"github.com/cspstream/streams/testutil"
	"github.com/cspstream/streams/tlsup"
)

// TestStartTLSClientServerNameFromDialHost: a client config without a
// ServerName verifies the host the stream was dialed to ("localhost", which
// the certificate names), as OpenConnection does; ExtraInfo("sslcontext")
// is then the config the handshake ran with.
func TestStartTLSClientServerNameFromDialHost(t *testing.T) {
	ctx := testCtx(t)
	srvCfg, cliCfg := configs(t)
	cliCfg.ServerName = ""
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	testutil.Serve(t, ln, func(c net.Conn) {
		r, w := chanstream.New(c, chanstream.WithServerSide())
		defer func() { w.Close(); w.WaitClosed(context.Background()) }()
		served <- func() error {
			if err := tlsup.StartTLS(ctx, w, srvCfg); err != nil {
				return err
			}
			line, err := r.ReadLine(ctx)
			if err != nil {
				return err
			}
			w.Write(line)
			return w.Drain(ctx)
		}()
	})
	r, w, err := chanstream.OpenConnection(ctx, fmt.Sprintf("localhost:%d", ln.Addr().(*net.TCPAddr).Port), chanstream.WithNetwork("tcp4"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { w.Close(); w.WaitClosed(ctx) }()
	if err := tlsup.StartTLS(ctx, w, cliCfg); err != nil {
		t.Fatalf("StartTLS with no ServerName on a stream dialed to localhost = %v; want nil", err)
	}
	w.WriteString("hello\n")
	readLine(t, ctx, r, "hello\n")
	if err := <-served; err != nil {
		t.Fatalf("server: %v", err)
	}
	got, _ := w.ExtraInfo("sslcontext").(*tls.Config)
	if got == nil || got.ServerName != "localhost" || got.RootCAs != cliCfg.RootCAs {
		t.Errorf("ExtraInfo(sslcontext) = %v; want the config in use, ServerName localhost", got)
	}
	if cliCfg.ServerName != "" {
		t.Error("StartTLS modified the caller's config")
	}
}

// TestStartTLSClientNoServerName: a client config without a ServerName on
// a stream that was not dialed by name fails before the stream is touched:
// it goes on in plain text, both ways.
func TestStartTLSClientNoServerName(t *testing.T) {
	ctx := testCtx(t)
	_, cliCfg := configs(t)
	cliCfg.ServerName = ""
	client, server := testutil.Loopback(t)
	client.W.WriteString("queued before\n")
	err := tlsup.StartTLS(ctx, client.W, cliCfg, tlsup.AsClient())
	if !errors.Is(err, chanstream.ErrInvalidArgument) {
		t.Fatalf("StartTLS(no ServerName, no dial host) = %v; want ErrInvalidArgument", err)
	}
	readLine(t, ctx, server.R, "queued before\n")
	client.W.WriteString("still plain\n")
	readLine(t, ctx, server.R, "still plain\n")
	server.W.WriteString("back\n")
	readLine(t, ctx, client.R, "back\n")
	if client.W.IsClosing() || client.R.Err() != nil {
		t.Error("the stream was closed or failed by the refused StartTLS")
	}
}

// TestStartTLSSSLContext: ExtraInfo("sslcontext") after StartTLS is the
// config given, on both sides.
func TestStartTLSSSLContext(t *testing.T) {
	ctx := testCtx(t)
	srvCfg, cliCfg := configs(t)
	client, server := testutil.Loopback(t)
	errs := make(chan error, 1)
	go func() { errs <- tlsup.StartTLS(ctx, server.W, srvCfg) }()
	if err := tlsup.StartTLS(ctx, client.W, cliCfg); err != nil {
		t.Fatal(err)
	}
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	if got := client.W.ExtraInfo("sslcontext"); got != cliCfg {
		t.Errorf("client ExtraInfo(sslcontext) = %v; want the config given", got)
	}
	if got := server.W.ExtraInfo("sslcontext"); got != srvCfg {
		t.Errorf("server ExtraInfo(sslcontext) = %v; want the config given", got)
	}
}

// TestStartTLSNilArguments: a nil ctx or Writer is ErrInvalidArgument.
func TestStartTLSNilArguments(t *testing.T) {
	srvCfg, _ := configs(t)
	var nilCtx context.Context
	_, server := testutil.Loopback(t)
	if err := tlsup.StartTLS(nilCtx, server.W, srvCfg); !errors.Is(err, chanstream.ErrInvalidArgument) {
		t.Errorf("StartTLS(nil ctx) = %v; want ErrInvalidArgument", err)
	}
	if err := tlsup.StartTLS(context.Background(), nil, srvCfg); !errors.Is(err, chanstream.ErrInvalidArgument) {
		t.Errorf("StartTLS(nil Writer) = %v; want ErrInvalidArgument", err)
	}
}
