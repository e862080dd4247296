package server_test

import (
	"bufio"
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cspstream/streams/chanstream"
	"github.com/cspstream/streams/server"
)

// flakyListener fails its first Accepts with errs, then accepts from ln.
type flakyListener struct {
	net.Listener
	errs chan error
}

func (l *flakyListener) Accept() (net.Conn, error) {
	select {
	case err := <-l.errs:
		return nil, err
	default:
		return l.Listener.Accept()
	}
}

func TestTransientAcceptErrorsRetried(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fl := &flakyListener{Listener: ln, errs: make(chan error, 3)}
	for _, e := range []error{syscall.EMFILE, syscall.ENFILE, syscall.ECONNABORTED} {
		fl.errs <- &net.OpError{Op: "accept", Net: "tcp", Err: e}
	}
	var logs logBuffer
	srv, err := server.StartListener(fl, lineEcho, server.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	defer shutdown(t, srv)
	c := dial(t, ln.Addr())
	roundTrip(t, c, bufio.NewReader(c), "after three failures\n")
	for _, want := range []string{"too many open files", "too many open files in system", "software caused connection abort", "retry_in=5ms", "retry_in=10ms", "retry_in=20ms"} {
		if !strings.Contains(logs.String(), want) {
			t.Fatalf("log lacks %q:\n%s", want, logs.String())
		}
	}
}

func TestFatalAcceptErrorEndsServeForever(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("listener broke")
	fl := &flakyListener{Listener: ln, errs: make(chan error, 1)}
	fl.errs <- boom
	srv, err := server.StartListener(fl, lineEcho, server.WithLogger(quietLogger()), server.WithStartServing(false))
	if err != nil {
		t.Fatal(err)
	}
	defer shutdown(t, srv)
	if err := srv.ServeForever(testCtx(t)); !errors.Is(err, boom) {
		t.Fatalf("ServeForever = %v; want the accept error", err)
	}
	if srv.IsServing() {
		t.Fatal("IsServing() = true after a fatal accept error")
	}
}

func TestKeepAlive(t *testing.T) {
	keepAlive := func(t *testing.T, opts ...server.Option) int {
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
		srv := start(t, h, opts...)
		dial(t, srv.Addrs()[0])
		select {
		case v := <-got:
			return v
		case <-time.After(watchdog):
			t.Fatal("handler did not run")
			return -1
		}
	}
	if v := keepAlive(t, server.WithKeepAlive(-1)); v != 0 {
		t.Fatalf("SO_KEEPALIVE with WithKeepAlive(-1) = %d; want 0", v)
	}
	if v := keepAlive(t, server.WithKeepAlive(30*time.Second)); v != 1 {
		t.Fatalf("SO_KEEPALIVE with WithKeepAlive(30s) = %d; want 1", v)
	}
}
