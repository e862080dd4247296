package chanstream_test

// Socket options read back with getsockopt: Linux's option numbers and
// descriptor type, so this file builds on Linux only.

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cspstream/streams/chanstream"
	"github.com/cspstream/streams/testutil"
)

// TestOpenConnectionSocketOptions: TCP_NODELAY is on; keep-alive follows
// WithKeepAlive; WithLocalAddr binds; WithNetwork picks the family.
func TestOpenConnectionSocketOptions(t *testing.T) {
	testutil.CheckLeaks(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ln := echoServer(t, "127.0.0.1:0")
	addr := ln.Addr().String()
	sockopt := func(t *testing.T, w *chanstream.Writer, level, opt int) int {
		t.Helper()
		rc, err := w.Conn().(*net.TCPConn).SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		var v int
		var serr error
		if err := rc.Control(func(fd uintptr) { v, serr = syscall.GetsockoptInt(int(fd), level, opt) }); err != nil || serr != nil {
			t.Fatalf("getsockopt: %v, %v", err, serr)
		}
		return v
	}
	t.Run("defaults", func(t *testing.T) {
		r, w, err := chanstream.OpenConnection(ctx, addr)
		if err != nil {
			t.Fatal(err)
		}
		defer closeStream(t, w)
		if v := sockopt(t, w, syscall.IPPROTO_TCP, syscall.TCP_NODELAY); v == 0 {
			t.Errorf("TCP_NODELAY off")
		}
		roundTrip(t, ctx, r, w)
	})
	t.Run("keep-alive off", func(t *testing.T) {
		_, w, err := chanstream.OpenConnection(ctx, addr, chanstream.WithKeepAlive(-1))
		if err != nil {
			t.Fatal(err)
		}
		defer closeStream(t, w)
		if v := sockopt(t, w, syscall.SOL_SOCKET, syscall.SO_KEEPALIVE); v != 0 {
			t.Errorf("SO_KEEPALIVE = %d; want 0", v)
		}
	})
	t.Run("keep-alive 7s", func(t *testing.T) {
		_, w, err := chanstream.OpenConnection(ctx, addr, chanstream.WithKeepAlive(7*time.Second),
			chanstream.WithDialer(&net.Dialer{KeepAlive: -1}))
		if err != nil {
			t.Fatal(err)
		}
		defer closeStream(t, w)
		if v := sockopt(t, w, syscall.SOL_SOCKET, syscall.SO_KEEPALIVE); v != 1 {
			t.Errorf("SO_KEEPALIVE = %d; want 1", v)
		}
		if v := sockopt(t, w, syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE); v != 7 {
			t.Errorf("TCP_KEEPIDLE = %d; want 7", v)
		}
	})
	t.Run("local address", func(t *testing.T) {
		p := freePort(t)
		r, w, err := chanstream.OpenConnection(ctx, addr, chanstream.WithLocalAddr(net.JoinHostPort("127.0.0.1", strconv.Itoa(p))))
		if err != nil {
			t.Fatal(err)
		}
		defer closeStream(t, w)
		if got := w.LocalAddr().(*net.TCPAddr).Port; got != p {
			t.Errorf("local port %d; want %d", got, p)
		}
		roundTrip(t, ctx, r, w)
	})
	t.Run("tcp4 only", func(t *testing.T) {
		needIPv6(t)
		log := &attemptLog{}
		_, w, err := chanstream.OpenConnection(ctx, "localhost:"+strconv.Itoa(portOf(ln)), chanstream.WithNetwork("tcp4"),
			chanstream.WithLookup(dualLocalhost()), chanstream.WithDialer(&net.Dialer{ControlContext: log.control}))
		if err != nil {
			t.Fatal(err)
		}
		defer closeStream(t, w)
		if started, _ := log.snapshot(); len(started) != 1 || !strings.HasPrefix(started[0], "127.0.0.1:") {
			t.Errorf("attempts %v; want 127.0.0.1 only", started)
		}
	})
	t.Run("tcp6 only", func(t *testing.T) {
		needIPv6(t)
		_, _, err := chanstream.OpenConnection(ctx, "localhost:"+strconv.Itoa(portOf(ln)), chanstream.WithNetwork("tcp6"),
			chanstream.WithLookup(dualLocalhost()))
		if !errors.Is(err, syscall.ECONNREFUSED) || strings.Contains(err.Error(), "127.0.0.1") {
			t.Errorf("OpenConnection over tcp6 = %v; want ::1 refused, 127.0.0.1 untried", err)
		}
	})
}
