// Command echoclient is the seed's TCP echo client (asyncio's
// tcp_echo_client): it connects with chanstream.OpenConnection, sends a
// message, prints the echo and closes.
//
//	go run ./examples/echoclient -addr 127.0.0.1:8888 -msg 'Hello World!'
//
// It prints, as the Python program does:
//
//	Send: 'Hello World!'
//	Received: 'Hello World!'
//	Close the connection
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"time"

	"github.com/cspstream/streams/chanstream"
	"github.com/cspstream/streams/internal/pyrepr"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		log.Fatal(err)
	}
}

// run is the program: flags in args, output to out.
func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("echoclient", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8888", "echo server `host:port`")
	msg := fs.String("msg", "Hello World!", "the message to send")
	if err := fs.Parse(args); err != nil {
		return err
	}
	r, w, err := chanstream.OpenConnection(ctx, *addr)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "Send: %s\n", pyrepr.String(*msg))
	w.WriteString(*msg)
	if err := w.Drain(ctx); err != nil {
		w.Abort()
		return err
	}
	data, err := r.ReadUpTo(ctx, 100)
	if err != nil {
		w.Abort()
		return fmt.Errorf("echoclient: read: %w", err)
	}
	fmt.Fprintf(out, "Received: %s\n", pyrepr.String(string(data)))
	fmt.Fprintln(out, "Close the connection")
	w.Close()
	return w.WaitClosed(ctx)
}
