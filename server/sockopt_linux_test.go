package server_test

import (
	"context"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/cspstream/streams/chanstream"
	"github.com/cspstream/streams/server"
)

func TestKeepAlive(t *testing.T) {
	keepAlive := func(t *testing.T, listener bool, opts ...server.Option) int {
		got := make(chan int, 1)
		h := func(ctx context.Context, r *chanstream.Reader, w *chanstream.Writer) error {
			rc, err := w.Conn().(*net.TCPConn).SyscallConn()
			if err != nil {
				return err
			}
			v := -1
			rc.Control(func(fd uintptr) { v, _ = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_KEEPALIVE) })
			got <- v
			return nil
		}
		var srv *server.Server
		if listener {
			ln, err := net.Listen("tcp", "127.0.0.1:0") // Go enables keep-alive on what it accepts
			if err != nil {
				t.Fatal(err)
			}
			if srv, err = server.StartListener(ln, h, append(opts, server.WithLogger(quietLogger()))...); err != nil {
				t.Fatal(err)
			}
			defer shutdown(t, srv)
		} else {
			srv = start(t, h, opts...)
		}
		dial(t, srv.Addrs()[0])
		select {
		case v := <-got:
			return v
		case <-time.After(watchdog):
			t.Fatal("handler did not run")
			return -1
		}
	}
	for _, listener := range []bool{false, true} {
		if v := keepAlive(t, listener, server.WithKeepAlive(-1)); v != 0 {
			t.Fatalf("SO_KEEPALIVE with WithKeepAlive(-1) (StartListener %v) = %d; want 0", listener, v)
		}
		if v := keepAlive(t, listener, server.WithKeepAlive(30*time.Second)); v != 1 {
			t.Fatalf("SO_KEEPALIVE with WithKeepAlive(30s) (StartListener %v) = %d; want 1", listener, v)
		}
	}
}

// TestReuseAddress reads SO_REUSEADDR on the accepted socket, which Linux
// copies from the listening one.
func TestReuseAddress(t *testing.T) {
	reuse := func(t *testing.T, opts ...server.Option) int {
		got := make(chan int, 1)
		srv := start(t, func(ctx context.Context, r *chanstream.Reader, w *chanstream.Writer) error {
			rc, err := w.Conn().(*net.TCPConn).SyscallConn()
			if err != nil {
				return err
			}
			v := -1
			rc.Control(func(fd uintptr) { v, _ = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_REUSEADDR) })
			got <- v
			return nil
		}, opts...)
		dial(t, srv.Addrs()[0])
		return <-got
	}
	if v := reuse(t); v != 1 {
		t.Fatalf("SO_REUSEADDR by default = %d; want 1", v)
	}
	if v := reuse(t, server.WithReuseAddress(false)); v != 0 {
		t.Fatalf("SO_REUSEADDR with WithReuseAddress(false) = %d; want 0", v)
	}
}
