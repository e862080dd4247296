package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/cspstream/streams/testutil"
)

// BenchmarkProxy moves 64 KiB writes from clients through a proxy to a
// target that discards them, over 1 and 16 connections at once: this
// proxy (two pipeline.Copy stages per connection) side by side with a
// plain io.Copy proxy over net.Conn. On Linux io.Copy between two TCP
// connections splices in the kernel; "iocopy-buffered" hides that, so it
// copies through a 32 KiB buffer as any user-space proxy must.
//
//	go test -run '^$' -bench Proxy -count=5 ./examples/proxy/
func BenchmarkProxy(b *testing.B) {
	for _, conns := range []int{1, 16} {
		for _, impl := range []struct {
			name  string
			start func(b *testing.B, target string) string
		}{
			{"pipeline", startBenchProxy},
			{"iocopy", func(b *testing.B, target string) string { return startPlainProxy(b, target, false) }},
			{"iocopy-buffered", func(b *testing.B, target string) string { return startPlainProxy(b, target, true) }},
		} {
			b.Run(fmt.Sprintf("%s/conns=%d", impl.name, conns), func(b *testing.B) {
				target := startDiscard(b)
				benchThrough(b, impl.start(b, target), conns)
			})
		}
	}
}

const writeSize = 64 << 10

// benchThrough writes b.N × 64 KiB over conns connections to addr, half-closes
// each, and waits for the EOF that comes back once the target has read all.
func benchThrough(b *testing.B, addr string, conns int) {
	b.SetBytes(writeSize)
	cs := make([]net.Conn, conns)
	for i := range cs {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		cs[i] = c
	}
	buf := make([]byte, writeSize)
	b.ResetTimer()
	cpu0 := cpuTime()
	var wg sync.WaitGroup
	for i, c := range cs {
		n := b.N / conns
		if i < b.N%conns {
			n++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.SetDeadline(time.Now().Add(5 * time.Minute))
			for range n {
				if _, err := c.Write(buf); err != nil {
					b.Error(err)
					return
				}
			}
			c.(*net.TCPConn).CloseWrite()
			if _, err := io.Copy(io.Discard, c); err != nil {
				b.Error(err)
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	// The whole process: clients, proxy and target. The clients and the
	// target cost the same under every proxy, so differences are the proxy's.
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
}

// startDiscard starts a target that reads each connection to EOF, then
// closes it.
func startDiscard(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	testutil.Serve(b, ln, func(c net.Conn) { io.Copy(io.Discard, c) })
	return ln.Addr().String()
}

// startBenchProxy starts this command's proxy in front of target.
func startBenchProxy(b *testing.B, target string) string {
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := start(ctx, "127.0.0.1:0", target, quiet)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		cancel()
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer scancel()
		srv.Shutdown(sctx)
	})
	return srv.Addrs()[0].String()
}

// onlyConn hides a connection's ReadFrom and WriteTo from io.Copy.
type onlyConn struct{ net.Conn }

// startPlainProxy starts the plain proxy: per connection, io.Copy each
// way, CloseWrite at EOF.
func startPlainProxy(b *testing.B, target string, buffered bool) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	copyHalf := func(dst, src *net.TCPConn) {
		if buffered {
			io.Copy(onlyConn{dst}, onlyConn{src})
		} else {
			io.Copy(dst, src)
		}
		dst.CloseWrite()
	}
	testutil.Serve(b, ln, func(c net.Conn) {
		t, err := net.Dial("tcp", target)
		if err != nil {
			return
		}
		defer t.Close()
		var half sync.WaitGroup
		half.Add(1)
		go func() { defer half.Done(); copyHalf(t.(*net.TCPConn), c.(*net.TCPConn)) }()
		copyHalf(c.(*net.TCPConn), t.(*net.TCPConn))
		half.Wait()
	})
	return ln.Addr().String()
}
