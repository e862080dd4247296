package server_test

import (
	"bufio"
	"errors"
	"log/slog"
	"net"
	"strings"
	"syscall"
	"testing"

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
	if err := srv.ServeForever(testCtx(t)); !errors.Is(err, boom) {
		t.Fatalf("ServeForever again = %v; want the accept error again", err)
	}
}
