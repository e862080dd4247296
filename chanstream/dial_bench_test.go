package chanstream_test

import (
	"context"
	"io"
	"net"
	"testing"

	"github.com/cspstream/streams/chanstream"
	"github.com/cspstream/streams/testutil"
)

// Dial benchmarks: OpenConnection and Close beside net.Dialer.DialContext
// and Close, to the same loopback listener, whose accept loop closes every
// connection at once. The client closes with SO_LINGER 0, so that a long
// run does not fill the port range with TIME_WAIT.
func BenchmarkOpenConnection(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	testutil.Serve(b, ln, func(net.Conn) {}) // accept and close
	addr := ln.Addr().String()
	ctx := context.Background()

	b.Run("DialContext", func(b *testing.B) {
		b.ReportAllocs()
		d := &net.Dialer{}
		for b.Loop() {
			c, err := d.DialContext(ctx, "tcp", addr)
			if err != nil {
				b.Fatal(err)
			}
			c.(*net.TCPConn).SetLinger(0)
			c.Close()
		}
	})
	// Close returns at once and the stream closes in the background: the
	// previous stream is joined after the next one is open, so at most one
	// is closing while the loop runs, and none when it ends.
	b.Run("OpenConnection", func(b *testing.B) {
		b.ReportAllocs()
		var prev *chanstream.Writer
		for b.Loop() {
			_, w, err := chanstream.OpenConnection(ctx, addr)
			if err != nil {
				b.Fatal(err)
			}
			w.Conn().(*net.TCPConn).SetLinger(0)
			w.Close()
			if prev != nil {
				prev.WaitClosed(ctx)
			}
			prev = w
		}
		prev.WaitClosed(ctx)
	})
	// Every stream closed and its goroutines gone before the next dial.
	b.Run("OpenConnection+WaitClosed", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, w, err := chanstream.OpenConnection(ctx, addr)
			if err != nil {
				b.Fatal(err)
			}
			w.Conn().(*net.TCPConn).SetLinger(0)
			w.Close()
			w.WaitClosed(ctx)
		}
	})
}

// NetConn throughput: 32 KiB writes from one end to the other of a
// loopback TCP pair, read with a 32 KiB buffer, for raw net.Conns beside
// streams through NetConn at both ends.
func BenchmarkNetConnThroughput(b *testing.B) {
	const size = 32 << 10
	run := func(b *testing.B, src, dst net.Conn) {
		b.SetBytes(size)
		b.ReportAllocs()
		buf := make([]byte, size)
		total := int64(b.N) * size
		done := make(chan error, 1)
		go func() {
			rbuf := make([]byte, size)
			var n int64
			for n < total {
				k, err := dst.Read(rbuf)
				n += int64(k)
				if err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
		b.ResetTimer()
		for range b.N {
			if _, err := src.Write(buf); err != nil {
				b.Fatal(err)
			}
		}
		if err := <-done; err != nil && err != io.EOF {
			b.Fatal(err)
		}
	}
	b.Run("raw", func(b *testing.B) {
		c1, c2 := testutil.TCPPair(b)
		run(b, c1, c2)
	})
	b.Run("NetConn", func(b *testing.B) {
		client, server := testutil.Loopback(b)
		run(b, chanstream.NetConn(client.R, client.W), chanstream.NetConn(server.R, server.W))
	})
}
