// Command starttls is a minimal SMTP-style server that switches to TLS on
// STARTTLS, with tlsup.StartTLS: it greets with 220, answers EHLO with a
// STARTTLS line, answers STARTTLS with 220, runs the TLS handshake on the
// same Reader and Writer, and from then on echoes back every byte it gets,
// over TLS. Its certificate is a self-signed one made at start
// (testutil.NewSelfSignedTLS), valid for localhost, 127.0.0.1 and ::1.
//
//	go run ./examples/starttls -addr 127.0.0.1:2525
//	openssl s_client -starttls smtp -connect 127.0.0.1:2525 -brief
//
// It serves until SIGINT or SIGTERM, then shuts down (at most 5 s).
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/cspstream/streams/chanstream"
	"github.com/cspstream/streams/server"
	"github.com/cspstream/streams/testutil"
	"github.com/cspstream/streams/tlsup"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:2525", "host:port to listen on")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *addr); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, addr string) error {
	cfg, _, err := testutil.NewSelfSignedTLS()
	if err != nil {
		return err
	}
	srv, err := server.Start(ctx, addr, Handler(cfg))
	if err != nil {
		return err
	}
	fmt.Printf("Serving on %v\n", srv.Addrs()[0])
	err = srv.ServeForever(ctx)
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if serr := srv.Shutdown(sctx); serr != nil {
		return serr
	}
	if errors.Is(err, context.Canceled) {
		return nil // a signal: a clean stop
	}
	return err
}

// Handler serves one SMTP-style session with cfg as the TLS server config.
func Handler(cfg *tls.Config) server.Handler {
	return func(ctx context.Context, r *chanstream.Reader, w *chanstream.Writer) error {
		w.WriteString("220 localhost ESMTP streams STARTTLS example\r\n")
		for {
			line, err := r.ReadLine(ctx)
			if len(line) > 0 { // a last line comes with the error that followed it
				switch cmd := strings.ToUpper(strings.TrimSpace(string(line))); {
				case strings.HasPrefix(cmd, "EHLO"):
					w.WriteString("250-localhost\r\n250 STARTTLS\r\n")
				case strings.HasPrefix(cmd, "HELO"):
					w.WriteString("250 localhost\r\n")
				case cmd == "STARTTLS":
					w.WriteString("220 Ready to start TLS\r\n") // queued writes go out before the handshake
					if err := tlsup.StartTLS(ctx, w, cfg); err != nil {
						return err
					}
					_, err := io.Copy(w, r) // the echo, over TLS, until the client ends
					return err
				case cmd == "QUIT":
					w.WriteString("221 Bye\r\n")
					return nil
				default:
					w.WriteString("530 Must issue a STARTTLS command first\r\n")
				}
			}
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
		}
	}
}
