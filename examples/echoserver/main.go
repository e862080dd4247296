// Command echoserver is the TCP echo server of asyncio's streams
// documentation (handle_echo with start_server and serve_forever), on
// server.Start. It prints the same lines, serves until SIGINT or SIGTERM,
// and then shuts down cleanly: it stops listening, ends every handler's
// context and waits for them (at most 5 s).
//
//	go run ./examples/echoserver -addr 127.0.0.1:8888
//	printf 'Hello World!' | nc 127.0.0.1 8888
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cspstream/streams/chanstream"
	"github.com/cspstream/streams/internal/pyrepr"
	"github.com/cspstream/streams/server"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8888", "host:port to listen on")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *addr, os.Stdout); err != nil {
		log.Fatal(err)
	}
}

// shutdownTimeout bounds the wait for handlers after a signal.
const shutdownTimeout = 5 * time.Second

// run serves addr until ctx ends (the signal), then shuts the server down.
func run(ctx context.Context, addr string, stdout io.Writer) error {
	out := &syncWriter{w: stdout}
	srv, err := server.Start(ctx, addr, handleEcho(out))
	if err != nil {
		return err
	}
	addrs := make([]string, len(srv.Addrs()))
	for i, a := range srv.Addrs() {
		addrs[i] = pyrepr.Addr(a)
	}
	fmt.Fprintf(out, "Serving on %s\n", strings.Join(addrs, ", "))

	err = srv.ServeForever(ctx)
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if serr := srv.Shutdown(sctx); serr != nil {
		return serr
	}
	if errors.Is(err, context.Canceled) {
		return nil // the signal: a clean stop
	}
	return err
}

// handleEcho is the seed's handle_echo: read up to 100 bytes, write them
// back, close.
func handleEcho(out io.Writer) server.Handler {
	return func(ctx context.Context, r *chanstream.Reader, w *chanstream.Writer) error {
		data, err := r.ReadUpTo(ctx, 100)
		if err != nil && err != io.EOF { // at EOF, asyncio's read returns b''
			return err
		}
		message := string(data)
		addr := pyrepr.Addr(w.RemoteAddr())
		fmt.Fprintf(out, "Received %s from %s\n", pyrepr.String(message), addr)

		fmt.Fprintf(out, "Send: %s\n", pyrepr.String(message))
		w.Write(data)
		if err := w.Drain(ctx); err != nil {
			return err
		}

		fmt.Fprintln(out, "Close the connection")
		w.Close()
		return w.WaitClosed(ctx)
	}
}

// syncWriter keeps the lines of concurrent handlers whole.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
