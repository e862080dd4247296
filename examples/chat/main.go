// Command chat is a line chat server on server.Start. A client's first
// line is its name; every later line goes to everyone else as
// "name: line". Joins and leaves are announced as "* name joined" and
// "* name left".
//
// Each handler selects over its client's incoming lines, the room's
// broadcast channel and its context, and never blocks on its client's
// network: Write only queues. A client that does not read falls behind;
// once its write buffer has stayed above the high watermark for -slow
// (2 s), it is disconnected instead of slowing the room or growing
// without bound.
//
//	go run ./examples/chat -addr 127.0.0.1:8888
//	nc 127.0.0.1 8888
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
	"syscall"
	"time"

	"github.com/cspstream/streams/chanstream"
	"github.com/cspstream/streams/server"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8888", "host:port to listen on")
	slow := flag.Duration("slow", 2*time.Second, "disconnect a client whose write buffer stays above high water this long")
	high := flag.Int("highwater", chanstream.DefaultHighWater, "write buffer high watermark, bytes")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *addr, *slow, *high, os.Stdout, nil); err != nil {
		log.Fatal(err)
	}
}

// run serves the chat on addr until ctx ends. ready, if not nil, gets the
// server's address once it listens.
func run(ctx context.Context, addr string, slow time.Duration, high int, out io.Writer, ready chan<- string) error {
	rm := newRoom(out)
	// Low water = high water: Drain returns as soon as the buffer is back
	// at high water, so a Drain bounded by slow fails only when the buffer
	// stayed above high water all that time.
	srv, err := server.Start(ctx, addr, rm.handler(slow),
		server.WithStreamOptions(chanstream.WithWriteBufferLimits(high, high)))
	if err != nil {
		return err
	}
	go rm.run()
	fmt.Fprintf(rm.out, "Serving on %v\n", srv.Addrs()[0])
	if ready != nil {
		ready <- srv.Addrs()[0].String()
	}
	err = srv.ServeForever(ctx)
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	serr := srv.Shutdown(sctx)
	rm.stop()
	if serr != nil {
		return serr
	}
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// handler serves one client: name first, then lines both ways.
func (rm *room) handler(slow time.Duration) server.Handler {
	return func(ctx context.Context, r *chanstream.Reader, w *chanstream.Writer) error {
		ctx, cancel := context.WithCancel(ctx)
		lines := readLines(ctx, r)
		defer func() {
			cancel()
			for range lines { // the reading goroutine has ended when lines closes
			}
		}()

		w.WriteString("Your name?\n")
		var name string
		select {
		case line, ok := <-lines:
			if !ok {
				return nil
			}
			name = trimEOL(line)
		case <-ctx.Done():
			return ctx.Err()
		}
		m := rm.join(name)
		defer rm.leave(m)

		var (
			incoming = lines        // nil while a line waits for the room: one at a time
			pending  message        // this client's line for the room, until the room takes it
			toRoom   chan<- message // rm.in while pending is set, else nil
			drained  chan error     // a Drain bounded by slow runs while this is non-nil
		)
		defer func() {
			if drained != nil {
				cancel() // ends the Drain
				<-drained
			}
		}()
		for {
			select {
			case line, ok := <-incoming:
				if !ok {
					return nil // EOF or a read error: the client is gone
				}
				pending = message{from: m, text: []byte(name + ": " + trimEOL(line) + "\n")}
				toRoom, incoming = rm.in, nil
			case toRoom <- pending:
				toRoom, incoming = nil, lines
			case text := <-m.inbox:
				w.Write(text) // never waits for the network
				if drained == nil && w.Buffered() > rm.high(w) {
					drained = drainWithin(ctx, w, slow)
				}
			case err := <-drained:
				drained = nil
				if errors.Is(err, context.DeadlineExceeded) {
					fmt.Fprintf(rm.out, "* %s disconnected: too slow\n", name)
					w.Abort()
					return nil
				}
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
}

// drainWithin runs one Drain bounded by d and reports its result: nil once
// the buffer fell to the low watermark (here the high one),
// context.DeadlineExceeded if it did not.
func drainWithin(ctx context.Context, w *chanstream.Writer, d time.Duration) chan error {
	ch := make(chan error, 1) // buffered: the goroutine never waits for the handler
	go func() {
		dctx, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		ch <- w.Drain(dctx)
	}()
	return ch
}

// readLines delivers r's lines until EOF, an error or ctx's end, then
// closes the channel. Lines that do not fit the limit are skipped.
func readLines(ctx context.Context, r *chanstream.Reader) chan []byte {
	lines := make(chan []byte)
	go func() {
		defer close(lines)
		for line, err := range r.Lines(ctx) {
			var overrun *chanstream.LimitOverrunError
			if errors.As(err, &overrun) {
				continue
			}
			if err != nil {
				return
			}
			select {
			case lines <- line:
			case <-ctx.Done():
				return
			}
		}
	}()
	return lines
}

func trimEOL(line []byte) string {
	n := len(line)
	if n > 0 && line[n-1] == '\n' {
		n--
	}
	if n > 0 && line[n-1] == '\r' {
		n--
	}
	return string(line[:n])
}
