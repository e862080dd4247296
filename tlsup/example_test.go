package tlsup_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"log"
	"strings"

	"github.com/cspstream/streams/chanstream"
	"github.com/cspstream/streams/server"
	"github.com/cspstream/streams/tlsup"
)

// A server that speaks plain text until the client asks for TLS, and a
// client that asks: SMTP's STARTTLS, in miniature.
func ExampleStartTLS() {
	serverCfg, clientCfg := exampleTLS() // a self-signed certificate for "localhost", and a client that trusts it
	ctx := context.Background()

	srv, err := server.Start(ctx, "127.0.0.1:0", func(ctx context.Context, r *chanstream.Reader, w *chanstream.Writer) error {
		if line, err := r.ReadLine(ctx); err != nil || string(line) != "STARTTLS\r\n" {
			return fmt.Errorf("want STARTTLS, got %q, %v", line, err)
		}
		w.WriteString("220 go ahead\r\n")
		if err := tlsup.StartTLS(ctx, w, serverCfg); err != nil {
			return err
		}
		name, err := r.ReadLine(ctx) // over TLS from here on
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "250 hello %s", name)
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Shutdown(ctx)

	r, w, err := chanstream.OpenConnection(ctx, srv.Addrs()[0].String())
	if err != nil {
		log.Fatal(err)
	}
	w.WriteString("STARTTLS\r\n")
	line, _ := r.ReadLine(ctx)
	fmt.Println(strings.TrimSpace(string(line)))
	if err := tlsup.StartTLS(ctx, w, clientCfg); err != nil {
		log.Fatal(err)
	}
	w.WriteString("client\r\n")
	line, _ = r.ReadLine(ctx)
	fmt.Println(strings.TrimSpace(string(line)))
	state := w.ExtraInfo("tls").(tls.ConnectionState)
	fmt.Println(tls.VersionName(state.Version))
	w.Close()
	w.WaitClosed(ctx)
	// Output:
	// 220 go ahead
	// 250 hello client
	// TLS 1.3
}
