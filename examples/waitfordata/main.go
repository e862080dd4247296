//go:build unix

// Command waitfordata is the seed's "register an open socket to wait for
// data using streams" example: a connected socket pair, one end adopted as
// a stream (asyncio's open_connection(sock=rsock), here chanstream.New), a
// read that waits, and the other end sending "abc".
//
//	go run ./examples/waitfordata
//
// It prints, as the Python program does:
//
//	Received: abc
package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/cspstream/streams/chanstream"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := run(ctx, os.Stdout); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, out io.Writer) error {
	// Create a pair of connected sockets.
	rsock, wsock, err := socketPair()
	if err != nil {
		return err
	}
	defer wsock.Close()

	// Register the open socket to wait for data.
	r, w := chanstream.New(rsock)

	// Simulate the reception of data from the network. asyncio's
	// loop.call_soon runs the send once the coroutine waits in its read;
	// here the sender waits for the go-ahead given as the read begins.
	reading := make(chan struct{})
	sent := make(chan error, 1)
	go func() {
		<-reading
		_, err := wsock.Write([]byte("abc"))
		sent <- err
	}()

	// Wait for data.
	close(reading)
	data, err := r.ReadUpTo(ctx, 100)
	if err != nil {
		w.Abort()
		<-sent
		return fmt.Errorf("waitfordata: read: %w", err)
	}
	if err := <-sent; err != nil {
		w.Abort()
		return fmt.Errorf("waitfordata: send: %w", err)
	}

	// Got data, we are done: close the socket.
	fmt.Fprintln(out, "Received:", string(data))
	w.Close()
	return w.WaitClosed(ctx)
	// The second socket is closed by the deferred wsock.Close.
}

// socketPair returns the two ends of syscall.Socketpair as net.Conns.
func socketPair() (net.Conn, net.Conn, error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("waitfordata: socketpair: %w", err)
	}
	a, err := fileConn(fds[0], "rsock")
	if err != nil {
		syscall.Close(fds[1])
		return nil, nil, err
	}
	b, err := fileConn(fds[1], "wsock")
	if err != nil {
		a.Close()
		return nil, nil, err
	}
	return a, b, nil
}

// fileConn makes a net.Conn of a socket descriptor; the descriptor itself
// is closed (net.FileConn works on a duplicate).
func fileConn(fd int, name string) (net.Conn, error) {
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	c, err := net.FileConn(f)
	if err != nil {
		return nil, fmt.Errorf("waitfordata: %s: %w", name, err)
	}
	return c, nil
}
