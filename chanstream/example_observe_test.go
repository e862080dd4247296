package chanstream_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/cspstream/streams/chanstream"
)

// Stats tells what a stream has done: here one line each way.
func ExampleWriter_Stats() {
	client, server := net.Pipe()
	go func() { // the peer echoes one line
		line, _ := bufio.NewReader(client).ReadString('\n')
		client.Write([]byte(line))
		client.Close()
	}()
	ctx := context.Background()
	r, w := chanstream.New(server)
	w.WriteString("ping\n")
	if _, err := r.ReadLine(ctx); err != nil {
		log.Fatal(err)
	}
	w.Close()
	w.WaitClosed(ctx)
	s := w.Stats()
	fmt.Println("read:", s.BytesRead, "written:", s.BytesWritten, "drain waits:", s.DrainWaits)
	// Output:
	// read: 5 written: 5 drain waits: 0
}

// A capped write queue refuses a Write that would not fit, instead of
// growing while the peer does not read.
func ExampleWithMaxWriteBuffer() {
	client, server := net.Pipe() // the peer does not read yet
	_, w := chanstream.New(server,
		chanstream.WithWriteBufferLimits(1024, 256),
		chanstream.WithMaxWriteBuffer(2048))
	defer func() {
		w.Abort()
		client.Close()
		w.WaitClosed(context.Background())
	}()
	n, err := w.Write(make([]byte, 1500))
	fmt.Println(n, err)
	n, err = w.Write(make([]byte, 1000))
	fmt.Println(n, err, errors.Is(err, chanstream.ErrWriteBufferFull))
	fmt.Println("queued:", w.Buffered())
	// Output:
	// 1500 <nil>
	// 0 chanstream: write buffer full true
	// queued: 1500
}

// After a line-based preamble, Detach hands the connection to code that
// speaks another protocol: the bytes already read ahead come first, then
// the connection itself.
func ExampleWriter_Detach() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	go func() { // the client: a preamble, then the other protocol at once
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			return
		}
		defer c.Close()
		c.Write([]byte("UPGRADE raw\r\nhello over the raw conn\n"))
		reply, _ := io.ReadAll(c)
		fmt.Printf("client got %q\n", reply)
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := ln.Accept()
	if err != nil {
		log.Fatal(err)
	}
	r, w := chanstream.New(conn, chanstream.WithServerSide())
	preamble, err := r.ReadLine(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("preamble %q\n", preamble)
	w.WriteString("OK\r\n")
	raw, unread, err := w.Detach(ctx) // "OK" is written first
	if err != nil {
		log.Fatal(err)
	}
	defer raw.Close()
	// The other protocol reads the unread bytes, then the conn.
	line, err := bufio.NewReader(io.MultiReader(bytes.NewReader(unread), raw)).ReadString('\n')
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("raw line %q\n", line)
	raw.Write([]byte("bye\n"))
	raw.(*net.TCPConn).CloseWrite()
	w.WaitClosed(ctx) // the stream is over; the conn is ours
	io.Copy(io.Discard, raw)
	// Output:
	// preamble "UPGRADE raw\r\n"
	// raw line "hello over the raw conn\n"
	// client got "OK\r\nbye\n"
}

// Every goroutine of a stream carries the pprof labels chanstream.remote
// and chanstream.local, so a goroutine profile names the connection.
func Example_goroutineLabels() {
	client, server := net.Pipe()
	r, w := chanstream.New(server)
	defer func() {
		w.Abort()
		client.Close()
		w.WaitClosed(context.Background())
	}()
	go client.Write([]byte("hi\n"))
	r.ReadLine(context.Background()) // the reader goroutine runs

	var profile strings.Builder
	pprof.Lookup("goroutine").WriteTo(&profile, 1)
	// net.Pipe's addresses are both "pipe"; a TCP stream shows its ports.
	fmt.Println(strings.Contains(profile.String(), `"chanstream.local":"pipe", "chanstream.remote":"pipe"`))
	// Output:
	// true
}
