// Command selectlines is the README's "Lines in a select" program: a
// stream's lines received in a select next to a ticker, with nothing lost
// between iterations. On every tick it writes "ping\n" to the peer.
//
//	go run ./examples/selectlines                   # against a built-in line server on 127.0.0.1
//	go run ./examples/selectlines -addr host:port   # against any line server
//
// The built-in server sends three lines, waits for the first ping, answers
// "pong" and closes, so the program prints
//
//	got "one\n"
//	got "two\n"
//	got "three\n"
//	got "pong\n"
//	EOF
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"time"

	"github.com/cspstream/streams/chanstream"
)

func main() {
	addr := flag.String("addr", "", "line server to connect to (host:port); empty: a built-in one on 127.0.0.1")
	tick := flag.Duration("tick", 100*time.Millisecond, "how often to send a ping")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *addr, *tick, os.Stdout); err != nil {
		log.Fatal(err)
	}
}

// run connects to addr (or starts the built-in server) and runs the loop.
func run(ctx context.Context, addr string, tick time.Duration, out io.Writer) error {
	if addr == "" {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		served := make(chan struct{})
		go func() { defer close(served); lineServer(ln) }()
		defer func() { ln.Close(); <-served }()
		addr = ln.Addr().String()
	}
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	r, w := chanstream.New(conn)
	defer w.WaitClosed(context.Background())
	defer w.Close()
	return selectLoop(ctx, r, w, tick, out)
}

// selectLoop is the README's program. The feed's goroutine has returned
// when it does, and every line not printed is still in r.
func selectLoop(ctx context.Context, r *chanstream.Reader, w *chanstream.Writer, every time.Duration, out io.Writer) error {
	feed := r.LineFeed(ctx)
	defer feed.Stop() // waits for its goroutine; a line it held goes back into r

	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case line, ok := <-feed.C:
			if !ok {
				if err := feed.Err(); err != nil {
					return err // ctx ended, a line over the limit, or the connection failed
				}
				fmt.Fprintln(out, "EOF")
				return nil
			}
			fmt.Fprintf(out, "got %q\n", line) // the last line before an error comes too
		case <-tick.C:
			w.WriteString("ping\n") // never blocks; Drain when you want back-pressure
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// lineServer serves one connection: three lines, then "pong" after the
// first ping, then close.
func lineServer(ln net.Listener) {
	c, err := ln.Accept()
	if err != nil {
		return
	}
	defer c.Close()
	io.WriteString(c, "one\ntwo\nthree\n")
	br := bufio.NewReader(c)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		if line == "ping\n" {
			io.WriteString(c, "pong\n")
			return
		}
	}
}
