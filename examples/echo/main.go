// Command echo is asyncio's TCP echo server and client from one program,
// on loopback, with no set-up: it starts an echo server on 127.0.0.1, sends
// "Hello World!" with a client, prints what the client sees, shuts the
// server down and exits.
//
//	go run ./examples/echo
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"time"

	"github.com/cspstream/streams/chanstream"
	"github.com/cspstream/streams/internal/pyrepr"
	"github.com/cspstream/streams/server"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := run(ctx, os.Stdout, "Hello World!"); err != nil {
		log.Fatal(err)
	}
}

// run starts the server, runs the client against it and shuts the server
// down.
func run(ctx context.Context, out io.Writer, message string) error {
	srv, err := server.Start(ctx, "127.0.0.1:0", handleEcho)
	if err != nil {
		return err
	}
	clientErr := client(ctx, out, srv.Addrs()[0].String(), message)
	return errors.Join(clientErr, srv.Shutdown(ctx))
}

// client is the seed's tcp_echo_client.
func client(ctx context.Context, out io.Writer, addr, message string) error {
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	r, w := chanstream.New(conn)
	fmt.Fprintf(out, "Send: %s\n", pyrepr.String(message))
	w.WriteString(message)
	if err := w.Drain(ctx); err != nil {
		w.Abort()
		return err
	}
	data, err := r.ReadUpTo(ctx, 100)
	if err != nil {
		w.Abort()
		return fmt.Errorf("echo client: %w", err)
	}
	fmt.Fprintf(out, "Received: %s\n", pyrepr.String(string(data)))
	fmt.Fprintln(out, "Close the connection")
	w.Close()
	return w.WaitClosed(ctx)
}

// handleEcho is the seed's handle_echo: read up to 100 bytes, write them
// back, close.
func handleEcho(ctx context.Context, r *chanstream.Reader, w *chanstream.Writer) error {
	data, err := r.ReadUpTo(ctx, 100)
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, context.Canceled) {
			return nil
		}
		return err
	}
	w.Write(data)
	// The server closes the connection gracefully when the handler
	// returns; Shutdown aborts it if the peer never reads the echo.
	return w.Drain(ctx)
}
