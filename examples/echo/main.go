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
	"golang.org/x/sync/errgroup"
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
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := serve(ctx, ln)
	clientErr := client(ctx, out, ln.Addr().String(), message)
	return errors.Join(clientErr, srv.shutdown())
}

// client is the seed's tcp_echo_client.
func client(ctx context.Context, out io.Writer, addr, message string) error {
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	r, w := chanstream.New(conn)
	fmt.Fprintf(out, "Send: %s\n", pyRepr(message))
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
	fmt.Fprintf(out, "Received: %s\n", pyRepr(string(data)))
	fmt.Fprintln(out, "Close the connection")
	w.Close()
	return w.WaitClosed(ctx)
}

// server is an accept loop over chanstream.New, one handler per
// connection, all under one errgroup.
type server struct {
	ln     net.Listener
	cancel context.CancelFunc
	g      *errgroup.Group
}

func serve(ctx context.Context, ln net.Listener) *server {
	ctx, cancel := context.WithCancel(ctx)
	g, ctx := errgroup.WithContext(ctx)
	s := &server{ln: ln, cancel: cancel, g: g}
	g.Go(func() error {
		for {
			conn, err := ln.Accept()
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return nil
				}
				return err
			}
			g.Go(func() error { return handleEcho(ctx, conn) })
		}
	})
	return s
}

// shutdown stops accepting, ends every handler and waits for them.
func (s *server) shutdown() error {
	s.ln.Close()
	s.cancel()
	return s.g.Wait()
}

// handleEcho is the seed's handle_echo: read up to 100 bytes, write them
// back, close.
func handleEcho(ctx context.Context, conn net.Conn) error {
	r, w := chanstream.New(conn, chanstream.WithServerSide())
	defer func() {
		// A peer that never reads the echo cannot hold the server past
		// shutdown: at ctx end the connection is aborted.
		if w.WaitClosed(ctx) != nil {
			w.Abort()
			w.WaitClosed(context.Background())
		}
	}()
	data, err := r.ReadUpTo(ctx, 100)
	if err != nil {
		w.Abort()
		if errors.Is(err, io.EOF) || errors.Is(err, context.Canceled) {
			return nil
		}
		return err
	}
	w.Write(data)
	if err := w.Drain(ctx); err != nil {
		w.Abort()
		return nil
	}
	return w.Close()
}

// pyRepr quotes s as Python's repr does for a plain ASCII string, so the
// output reads as the seed's.
func pyRepr(s string) string {
	return "'" + s + "'"
}
