package testutil

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/cspstream/streams/chanstream"
)

// End is one end of a connection as a stream.
type End struct {
	R *chanstream.Reader
	W *chanstream.Writer
}

// closeWait bounds how long the cleanup waits for a pair to close.
const closeWait = 10 * time.Second

// Loopback returns the two ends of a real TCP connection on 127.0.0.1,
// each through chanstream.New with opts (the server end also with
// WithServerSide). Both ends are aborted, and waited for, when t ends; a
// test that wants a graceful close calls Close itself.
func Loopback(t testing.TB, opts ...chanstream.Option) (client, server End) {
	t.Helper()
	cc, sc := TCPPair(t)
	return pair(t, cc, sc, opts)
}

// FaultLoopback is [Loopback] with each end's connection wrapped in a
// [FaultConn]: the client's with cf, the server's with sf. Both streams
// then read through a reader goroutine (a FaultConn is not a socket), and
// each end's Writer.Conn is its *FaultConn.
func FaultLoopback(t testing.TB, cf, sf Faults, opts ...chanstream.Option) (client, server End) {
	t.Helper()
	cc, sc := TCPPair(t)
	return pair(t, NewFaultConn(cc, cf), NewFaultConn(sc, sf), opts)
}

func pair(t testing.TB, cc, sc net.Conn, opts []chanstream.Option) (client, server End) {
	t.Helper()
	client.R, client.W = chanstream.New(cc, opts...)
	server.R, server.W = chanstream.New(sc, append(opts[:len(opts):len(opts)], chanstream.WithServerSide())...)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), closeWait)
		defer cancel()
		for _, w := range []*chanstream.Writer{client.W, server.W} {
			_ = w.Abort()
			if err := w.WaitClosed(ctx); err != nil {
				t.Errorf("testutil: loopback end did not close: %v", err)
			}
		}
	})
	return client, server
}

// TCPPair returns the two ends of a real TCP connection on 127.0.0.1 as
// plain net.Conns, closed when t ends unless the test closed them first.
func TCPPair(t testing.TB) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testutil: listen: %v", err)
	}
	defer ln.Close()
	type accepted struct {
		c   net.Conn
		err error
	}
	ch := make(chan accepted, 1)
	go func() {
		c, err := ln.Accept()
		ch <- accepted{c, err}
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("testutil: dial: %v", err)
	}
	a := <-ch
	if a.err != nil {
		client.Close()
		t.Fatalf("testutil: accept: %v", a.err)
	}
	t.Cleanup(func() {
		client.Close()
		a.c.Close()
	})
	return client, a.c
}
