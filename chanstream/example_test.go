package chanstream_test

import (
	"context"
	"fmt"
	"log"
	"net"
	"time"

	"github.com/cspstream/streams/chanstream"
)

// echoOnce accepts one connection on ln and echoes one line back.
func echoOnce(ln net.Listener) {
	conn, err := ln.Accept()
	if err != nil {
		return
	}
	r, w := chanstream.New(conn, chanstream.WithServerSide())
	ctx := context.Background()
	if line, err := r.ReadLine(ctx); err == nil {
		w.Write(line)
	}
	w.Close()
	w.WaitClosed(ctx)
}

// The asyncio echo client, in Go: write, drain, read, close, wait.
func Example() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	go echoOnce(ln)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		log.Fatal(err)
	}
	r, w := chanstream.New(conn)
	fmt.Println("Send: Hello World!")
	w.WriteString("Hello World!\n")
	if err := w.Drain(ctx); err != nil {
		log.Fatal(err)
	}
	data, err := r.ReadUpTo(ctx, 100)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("Received: %q\n", data)
	w.Close()
	if err := w.WaitClosed(ctx); err != nil {
		log.Fatal(err)
	}
	// Output:
	// Send: Hello World!
	// Received: "Hello World!\n"
}

// Lines are read next to other channels: a read that is cancelled
// consumes nothing, so nothing is lost between selects.
func ExampleReader_ReadLine() {
	client, server := net.Pipe()
	r, w := chanstream.New(server)
	go func() {
		client.Write([]byte("first\nsecond\n"))
		client.Close()
	}()
	ctx := context.Background()
	for {
		line, err := r.ReadLine(ctx)
		if err != nil { // io.EOF after the last line
			break
		}
		fmt.Printf("%q\n", line)
	}
	w.Close()
	w.WaitClosed(ctx)
	// Output:
	// "first\n"
	// "second\n"
}

// Drain gives back-pressure: it waits while more than the high watermark
// is queued, until at most the low watermark is left.
func ExampleWriter_Drain() {
	client, server := net.Pipe()
	r, w := chanstream.New(client, chanstream.WithWriteBufferLimits(1024, 256))
	done := make(chan int)
	go func() { // a peer that reads everything
		n := 0
		buf := make([]byte, 4096)
		for {
			k, err := server.Read(buf)
			n += k
			if err != nil {
				done <- n
				return
			}
		}
	}()
	ctx := context.Background()
	chunk := make([]byte, 512)
	for range 16 {
		w.Write(chunk)
		if err := w.Drain(ctx); err != nil {
			log.Fatal(err)
		}
		if w.Buffered() > 1024 {
			log.Fatal("above the high watermark after Drain")
		}
	}
	w.Close()
	w.WaitClosed(ctx)
	_ = r
	fmt.Println("peer read", <-done, "bytes")
	// Output:
	// peer read 8192 bytes
}

// A stream's lines in a select next to a ticker and a ctx, through a
// LineFeed. Stop waits for the feed's goroutine and puts back the line it
// held, so a read after the loop starts exactly where the loop stopped.
func Example_select() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client, server := net.Pipe()
	r, w := chanstream.New(server)
	defer w.WaitClosed(ctx)
	defer w.Close()
	go func() {
		client.Write([]byte("one\ntwo\nthree\n"))
		client.Close()
	}()

	feed := r.LineFeed(ctx)
	defer feed.Stop()
	tick := time.NewTicker(time.Minute)
	defer tick.Stop()
	for {
		select {
		case line, ok := <-feed.C:
			if !ok {
				fmt.Println("EOF", feed.Err())
				return
			}
			fmt.Printf("line %q\n", line)
		case <-tick.C:
			fmt.Println("still waiting")
		case <-ctx.Done():
			return
		}
	}
	// Output:
	// line "one\n"
	// line "two\n"
	// line "three\n"
	// EOF <nil>
}
