package testutil_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/cspstream/streams/testutil"
)

func TestMain(m *testing.M) { testutil.VerifyTestMain(m) }

func TestLoopback(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client, server := testutil.Loopback(t)
	if client.W.ServerSide() || !server.W.ServerSide() {
		t.Fatalf("ServerSide: client %v, server %v; want false, true", client.W.ServerSide(), server.W.ServerSide())
	}
	if got := client.W.RemoteAddr().(*net.TCPAddr); !got.IP.IsLoopback() {
		t.Fatalf("remote address %v is not loopback", got)
	}
	client.W.WriteString("ping\n")
	line, err := server.R.ReadLine(ctx)
	if string(line) != "ping\n" || err != nil {
		t.Fatalf("ReadLine() = %q, %v; want %q, nil", line, err, "ping\n")
	}
	server.W.WriteString("pong\n")
	line, err = client.R.ReadLine(ctx)
	if string(line) != "pong\n" || err != nil {
		t.Fatalf("ReadLine() = %q, %v; want %q, nil", line, err, "pong\n")
	}
}

func TestSelfSignedTLS(t *testing.T) {
	serverCfg, clientCfg := testutil.SelfSignedTLS(t, "example.test", "10.1.2.3")
	for _, name := range []string{"localhost", "127.0.0.1", "::1", "example.test", "10.1.2.3"} {
		t.Run(name, func(t *testing.T) {
			cc, sc := testutil.TCPPair(t)
			cfg := clientCfg.Clone()
			cfg.ServerName = name
			tc, ts := tls.Client(cc, cfg), tls.Server(sc, serverCfg)
			errs := make(chan error, 1)
			go func() { errs <- ts.Handshake() }()
			if err := tc.Handshake(); err != nil {
				t.Fatalf("client handshake for %s: %v", name, err)
			}
			if err := <-errs; err != nil {
				t.Fatalf("server handshake: %v", err)
			}
		})
	}
	t.Run("other name refused", func(t *testing.T) {
		cc, sc := testutil.TCPPair(t)
		cfg := clientCfg.Clone()
		cfg.ServerName = "other.test"
		errs := make(chan error, 1)
		go func() { errs <- tls.Server(sc, serverCfg).Handshake() }()
		if err := tls.Client(cc, cfg).Handshake(); err == nil {
			t.Fatal("handshake for a name not in the certificate succeeded")
		}
		cc.Close()
		<-errs
	})
}

// recorder is a testing.TB that keeps its cleanups and errors to itself.
type recorder struct {
	testing.TB
	cleanups []func()
	errors   int
	msgs     []string // what Error reported
}

func (r *recorder) Helper()               {}
func (r *recorder) Cleanup(f func())      { r.cleanups = append(r.cleanups, f) }
func (r *recorder) Error(args ...any)     { r.errors++; r.msgs = append(r.msgs, fmt.Sprint(args...)) }
func (r *recorder) Errorf(string, ...any) { r.errors++ }
func (r *recorder) runCleanups() {
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
}

func TestCheckLeaks(t *testing.T) {
	rec := &recorder{TB: t}
	testutil.CheckLeaks(rec)
	stop := make(chan struct{})
	exited := make(chan struct{})
	go func() { <-stop; close(exited) }()
	rec.runCleanups() // the goroutine is still running: a leak
	close(stop)
	<-exited
	if rec.errors == 0 {
		t.Fatal("CheckLeaks did not report a running goroutine")
	}

	rec = &recorder{TB: t}
	testutil.CheckLeaks(rec)
	rec.runCleanups()
	if rec.errors != 0 {
		t.Fatal("CheckLeaks reported a leak with no goroutine started")
	}
}

// TestServe: each connection is served; stop ends a serve that waits on its
// peer (by closing the connection) and returns only when it has returned.
func TestServe(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan string, 2)
	started := make(chan struct{}, 2) // a serve began: its connection is tracked
	stop := testutil.Serve(t, ln, func(c net.Conn) {
		started <- struct{}{}
		buf := make([]byte, 16)
		n, err := c.Read(buf) // the second client never writes: only stop ends this
		served <- string(buf[:n])
		if err == nil {
			c.Write(buf[:n])
		}
	})
	c1, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	c1.Write([]byte("ping"))
	got := make([]byte, 4)
	c1.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := c1.Read(got); string(got[:n]) != "ping" || err != nil {
		t.Fatalf("echo = %q, %v; want ping", got[:n], err)
	}
	c2, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if s := <-served; s != "ping" {
		t.Fatalf("served %q first; want ping", s)
	}
	<-started
	<-started // the silent connection's serve runs: stop must end it (one accepted during stop is closed unserved instead)
	stop()
	select { // stop returned, so the silent connection's serve has returned too
	case s := <-served:
		if s != "" {
			t.Fatalf("the silent connection's serve read %q", s)
		}
	default:
		t.Fatal("stop returned before the serve waiting on a silent peer did")
	}
	stop() // again: nothing happens
}

// slowAccept is a listener whose Accept, after accepting, waits until the
// listener has been closed before it returns the connection: the window in
// which Serve has a connection it does not track yet, held open.
type slowAccept struct {
	net.Listener
	closed   chan struct{} // closed by Close
	once     sync.Once
	accepted chan net.Conn // the connection Accept returned late
}

func (l *slowAccept) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	<-l.closed
	l.accepted <- c
	return c, nil
}

func (l *slowAccept) Close() error {
	l.once.Do(func() { close(l.closed) })
	return l.Listener.Close()
}

// TestServeStopClosesLateConnection: a connection accepted but not yet
// tracked when stop runs is closed too, so stop returns (it hung before).
func TestServeStopClosesLateConnection(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := &slowAccept{Listener: inner, closed: make(chan struct{}), accepted: make(chan net.Conn, 1)}
	served := make(chan struct{}, 1)
	stop := testutil.Serve(t, ln, func(c net.Conn) {
		served <- struct{}{}
		io.Copy(io.Discard, c) // returns when c is closed: only stop closes it
	})
	c, err := net.Dial("tcp", inner.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	stopped := make(chan struct{})
	go func() { stop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		c.Close() // the serve's peer: lets the stuck serve, and stop, return
		<-stopped
		t.Fatal("stop did not return: the connection accepted during stop was left open")
	}
	select {
	case <-served: // it may or may not have been served; either way it is closed now
	default:
	}
	if _, err := (<-ln.accepted).Write([]byte("x")); err == nil {
		t.Fatal("the connection accepted during stop is still open after stop")
	}
}

// TestNewSelfSignedTLS: the sibling for programs returns configs that make
// a handshake for a host given, and two calls make two certificates.
func TestNewSelfSignedTLS(t *testing.T) {
	serverCfg, clientCfg, err := testutil.NewSelfSignedTLS("demo.test")
	if err != nil {
		t.Fatalf("NewSelfSignedTLS: %v", err)
	}
	cc, sc := testutil.TCPPair(t)
	cfg := clientCfg.Clone()
	cfg.ServerName = "demo.test"
	errs := make(chan error, 1)
	go func() { errs <- tls.Server(sc, serverCfg).Handshake() }()
	if err := tls.Client(cc, cfg).Handshake(); err != nil {
		t.Fatalf("client handshake: %v", err)
	}
	if err := <-errs; err != nil {
		t.Fatalf("server handshake: %v", err)
	}
	other, _, err := testutil.NewSelfSignedTLS()
	if err != nil {
		t.Fatal(err)
	}
	if other.Certificates[0].Leaf.Equal(serverCfg.Certificates[0].Leaf) {
		t.Error("two calls made the same certificate")
	}
}
