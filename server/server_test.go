package server_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cspstream/streams/chanstream"
	"github.com/cspstream/streams/server"
	"github.com/cspstream/streams/testutil"
)

// watchdog bounds every wait in these tests.
const watchdog = 20 * time.Second

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), watchdog)
	t.Cleanup(cancel)
	return ctx
}

// lineEcho writes back every line until EOF.
func lineEcho(ctx context.Context, r *chanstream.Reader, w *chanstream.Writer) error {
	for {
		line, err := r.ReadLine(ctx)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		w.Write(line)
		if err := w.Drain(ctx); err != nil {
			return err
		}
	}
}

// logBuffer is an io.Writer for slog that tests may read while the
// server writes.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// start starts a server on 127.0.0.1:0 that is shut down and waited for
// when t ends.
func start(t *testing.T, h server.Handler, opts ...server.Option) *server.Server {
	t.Helper()
	opts = append([]server.Option{server.WithLogger(quietLogger())}, opts...)
	srv, err := server.Start(context.Background(), "127.0.0.1:0", h, opts...)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { shutdown(t, srv) })
	return srv
}

func shutdown(t *testing.T, srv *server.Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), watchdog)
	defer cancel()
	srv.Shutdown(ctx)
	if err := srv.WaitClosed(ctx); err != nil {
		t.Errorf("WaitClosed: %v", err)
	}
}

func dial(t *testing.T, addr net.Addr) net.Conn {
	t.Helper()
	c, err := net.DialTimeout(addr.Network(), addr.String(), watchdog)
	if err != nil {
		t.Fatalf("dial %v: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// roundTrip sends line and reads one line back.
func roundTrip(t *testing.T, c net.Conn, br *bufio.Reader, line string) {
	t.Helper()
	c.SetDeadline(time.Now().Add(watchdog))
	if _, err := io.WriteString(c, line); err != nil {
		t.Fatalf("write: %v", err)
	}
	got, err := br.ReadString('\n')
	if got != line || err != nil {
		t.Fatalf("ReadString() = %q, %v; want %q, nil", got, err, line)
	}
}

func TestEcho(t *testing.T) {
	srv := start(t, lineEcho)
	if !srv.IsServing() {
		t.Fatal("IsServing() = false after Start")
	}
	c := dial(t, srv.Addrs()[0])
	br := bufio.NewReader(c)
	for _, line := range []string{"hello\n", "world\n"} {
		roundTrip(t, c, br, line)
	}
}

func TestCloseLeavesConnectionsAlive(t *testing.T) {
	srv := start(t, lineEcho)
	addr := srv.Addrs()[0]
	c := dial(t, addr)
	br := bufio.NewReader(c)
	roundTrip(t, c, br, "before\n")
	if err := srv.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if srv.IsServing() {
		t.Fatal("IsServing() = true after Close")
	}
	if c2, err := net.Dial("tcp", addr.String()); err == nil {
		c2.Close()
		t.Fatal("dial after Close succeeded")
	}
	roundTrip(t, c, br, "after\n")
	if n := srv.ActiveConns(); n != 1 {
		t.Fatalf("ActiveConns() = %d; want 1", n)
	}
	select {
	case <-srv.Done():
		t.Fatal("Done closed while a connection is live")
	default:
	}
	c.Close() // EOF: the handler returns, the server is done
	if err := srv.WaitClosed(testCtx(t)); err != nil {
		t.Fatalf("WaitClosed: %v", err)
	}
	if err := srv.StartServing(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("StartServing after Close = %v; want net.ErrClosed", err)
	}
}

func TestCloseClientsFlushes(t *testing.T) {
	payload := bytes.Repeat([]byte("0123456789abcdef"), 1<<18) // 4 MiB: far more than the socket buffers
	queued := make(chan struct{})
	srv := start(t, func(ctx context.Context, r *chanstream.Reader, w *chanstream.Writer) error {
		w.Write(payload)
		close(queued)
		_, err := r.ReadAll(ctx) // until CloseClients closes the stream
		return err
	})
	c := dial(t, srv.Addrs()[0])
	<-queued
	srv.CloseClients()
	c.SetDeadline(time.Now().Add(watchdog))
	got, err := io.ReadAll(c)
	if err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("read %d bytes, %v; want %d bytes, nil", len(got), err, len(payload))
	}
}

func TestAbortClients(t *testing.T) {
	started := make(chan struct{})
	srv := start(t, func(ctx context.Context, r *chanstream.Reader, w *chanstream.Writer) error {
		close(started)
		_, err := r.ReadAll(context.Background()) // ignores ctx: only the abort ends it
		return err
	})
	c := dial(t, srv.Addrs()[0])
	<-started
	srv.AbortClients()
	c.SetDeadline(time.Now().Add(watchdog))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("read after AbortClients succeeded")
	}
}

func TestShutdownIdleClients(t *testing.T) {
	testutil.CheckLeaks(t)
	const n = 500
	started := make(chan struct{}, n)
	srv := start(t, func(ctx context.Context, r *chanstream.Reader, w *chanstream.Writer) error {
		started <- struct{}{}
		_, err := r.ReadLine(ctx)
		return err
	})
	conns := make([]net.Conn, n)
	for i := range conns {
		conns[i] = dial(t, srv.Addrs()[0])
	}
	for range n {
		<-started
	}
	if got := srv.ActiveConns(); got != n {
		t.Fatalf("ActiveConns() = %d; want %d", got, n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), watchdog)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown = %v; want nil before the deadline", err)
	}
	if got := srv.ActiveConns(); got != 0 {
		t.Fatalf("ActiveConns() after Shutdown = %d; want 0", got)
	}
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(watchdog))
		if _, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("client read after Shutdown = %v; want EOF", err)
		}
	}
}

func TestShutdownAbortsStubbornHandler(t *testing.T) {
	testutil.CheckLeaks(t)
	started := make(chan struct{})
	ended := make(chan error, 1)
	srv := start(t, func(ctx context.Context, r *chanstream.Reader, w *chanstream.Writer) error {
		close(started)
		_, err := r.ReadLine(context.Background()) // ignores its ctx
		ended <- err
		return err
	})
	dial(t, srv.Addrs()[0])
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := srv.Shutdown(ctx); err != context.DeadlineExceeded {
		t.Fatalf("Shutdown = %v; want context.DeadlineExceeded", err)
	}
	if err := <-ended; !errors.Is(err, chanstream.ErrClosed) {
		t.Fatalf("stubborn handler's read = %v; want ErrClosed from the abort", err)
	}
	if err := srv.WaitClosed(testCtx(t)); err != nil {
		t.Fatalf("WaitClosed: %v", err)
	}
}

// TestHandlerContextEndsWhenConnectionCloses: a peer's reset ends the
// stream — its reader goroutine is always reading — and with it the
// handler's ctx, although the handler never reads: it waits on its ctx
// alone. What it reads afterwards is the reset.
func TestHandlerContextEndsWhenConnectionCloses(t *testing.T) {
	started := make(chan struct{})
	ended := make(chan error, 1)
	readErr := make(chan error, 1)
	srv := start(t, func(ctx context.Context, r *chanstream.Reader, w *chanstream.Writer) error {
		close(started)
		<-ctx.Done() // only the connection's end can wake this
		ended <- ctx.Err()
		_, err := r.ReadUpTo(context.Background(), 1)
		readErr <- err
		return nil
	})
	c := dial(t, srv.Addrs()[0]).(*net.TCPConn)
	<-started
	c.SetLinger(0) // Close sends a reset: the server's stream fails and closes
	c.Close()
	select {
	case err := <-ended:
		if err != context.Canceled {
			t.Fatalf("handler ctx.Err() = %v; want context.Canceled", err)
		}
	case <-time.After(watchdog):
		t.Fatal("handler ctx did not end when its connection was reset")
	}
	if err := <-readErr; !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read = %v; want the reset", err)
	}
}

func TestStartServingFalse(t *testing.T) {
	ran := make(chan struct{}, 1)
	srv := start(t, func(ctx context.Context, r *chanstream.Reader, w *chanstream.Writer) error {
		ran <- struct{}{}
		return lineEcho(ctx, r, w)
	}, server.WithStartServing(false))
	if srv.IsServing() {
		t.Fatal("IsServing() = true with WithStartServing(false)")
	}
	c := dial(t, srv.Addrs()[0]) // the kernel completes it: the socket listens
	select {
	case <-ran:
		t.Fatal("handler ran before StartServing")
	case <-time.After(100 * time.Millisecond):
	}
	if err := srv.StartServing(); err != nil {
		t.Fatalf("StartServing: %v", err)
	}
	roundTrip(t, c, bufio.NewReader(c), "served\n")
	<-ran
}

func TestServeForever(t *testing.T) {
	srv := start(t, lineEcho, server.WithStartServing(false))
	ctx, cancel := context.WithCancel(context.Background())
	errs := make(chan error, 1)
	go func() { errs <- srv.ServeForever(ctx) }()
	c := dial(t, srv.Addrs()[0])
	roundTrip(t, c, bufio.NewReader(c), "forever\n") // serving now, so the call above is running
	if err := srv.ServeForever(context.Background()); !errors.Is(err, server.ErrServeForeverRunning) {
		t.Fatalf("a second concurrent ServeForever = %v; want ErrServeForeverRunning", err)
	}
	cancel()
	if err := <-errs; err != context.Canceled {
		t.Fatalf("ServeForever = %v; want context.Canceled", err)
	}
	if srv.IsServing() {
		t.Fatal("IsServing() = true after ServeForever returned")
	}
}

func TestServeForeverSecondCall(t *testing.T) {
	srv := start(t, lineEcho)
	ctx, cancel := context.WithCancel(context.Background())
	errs := make(chan error, 2)
	go func() { errs <- srv.ServeForever(ctx) }()
	go func() { errs <- srv.ServeForever(ctx) }()
	// One of the two fails at once; the other runs until cancel.
	if err := <-errs; !errors.Is(err, server.ErrServeForeverRunning) {
		t.Fatalf("first ServeForever to return = %v; want ErrServeForeverRunning", err)
	}
	cancel()
	if err := <-errs; err != context.Canceled {
		t.Fatalf("ServeForever = %v; want context.Canceled", err)
	}
}

// TestDualStack binds a name that resolves to 127.0.0.1 and ::1, as
// "localhost" does on most hosts (here, /etc/hosts may list only one).
func TestDualStack(t *testing.T) {
	if ln, err := net.Listen("tcp6", "[::1]:0"); err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	} else {
		ln.Close()
	}
	defer server.SetLookup(func(ctx context.Context, network, host string) ([]netip.Addr, error) {
		if host != "dual.test" {
			return nil, fmt.Errorf("unexpected lookup of %q", host)
		}
		return []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("::1"), netip.MustParseAddr("::ffff:127.0.0.1")}, nil
	})()
	srv, err := server.Start(context.Background(), "dual.test:0", lineEcho, server.WithLogger(quietLogger()))
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	defer shutdown(t, srv)
	var got []string
	port := -1
	for _, a := range srv.Addrs() {
		ta := a.(*net.TCPAddr)
		got = append(got, ta.IP.String())
		if port >= 0 && ta.Port != port {
			t.Fatalf("Addrs() = %v: ports differ", srv.Addrs())
		}
		port = ta.Port
		c := dial(t, a)
		roundTrip(t, c, bufio.NewReader(c), "via "+ta.IP.String()+"\n")
	}
	if strings.Join(got, " ") != "127.0.0.1 ::1" {
		t.Fatalf("Addrs() = %v; want 127.0.0.1 and ::1 on one port", srv.Addrs())
	}

	// tcp4 keeps only the IPv4 address.
	srv4, err := server.Start(context.Background(), "dual.test:0", lineEcho, server.WithNetwork("tcp4"), server.WithLogger(quietLogger()))
	if err != nil {
		t.Fatalf("Start tcp4: %v", err)
	}
	defer shutdown(t, srv4)
	if a := srv4.Addrs(); len(a) != 1 || a[0].(*net.TCPAddr).IP.To4() == nil {
		t.Fatalf("Addrs() with tcp4 = %v; want one IPv4 address", a)
	}
}

func TestLocalhost(t *testing.T) {
	srv, err := server.Start(context.Background(), "localhost:0", lineEcho, server.WithLogger(quietLogger()))
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	defer shutdown(t, srv)
	for _, a := range srv.Addrs() {
		if !a.(*net.TCPAddr).IP.IsLoopback() {
			t.Fatalf("Addrs() = %v; want loopback addresses only", srv.Addrs())
		}
		c := dial(t, a)
		roundTrip(t, c, bufio.NewReader(c), "local\n")
	}
}

func TestReusePort(t *testing.T) {
	id := func(name string) server.Handler {
		return func(ctx context.Context, r *chanstream.Reader, w *chanstream.Writer) error {
			_, err := w.WriteString(name)
			return err
		}
	}
	a := start(t, id("a"), server.WithReusePort(true))
	addr := a.Addrs()[0].String()
	if _, err := server.Start(context.Background(), addr, id("x"), server.WithLogger(quietLogger())); !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("second Start without reuse-port = %v; want EADDRINUSE", err)
	}
	b, err := server.Start(context.Background(), addr, id("b"), server.WithReusePort(true), server.WithLogger(quietLogger()))
	if err != nil {
		t.Fatalf("second Start with reuse-port: %v", err)
	}
	defer shutdown(t, b)
	seen := map[string]int{}
	for i := 0; i < 200 && (seen["a"] == 0 || seen["b"] == 0); i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		c.SetDeadline(time.Now().Add(watchdog))
		got, err := io.ReadAll(c)
		c.Close()
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		seen[string(got)]++
	}
	if seen["a"] == 0 || seen["b"] == 0 {
		t.Fatalf("connections per server = %v; want both to accept", seen)
	}
}

func TestMaxConns(t *testing.T) {
	started := make(chan struct{}, 3)
	// One release channel per connection, keyed by the client's address,
	// so that releasing c1 ends c1's handler and no other.
	var mu sync.Mutex
	releases := map[string]chan struct{}{}
	release := func(client string) chan struct{} {
		mu.Lock()
		defer mu.Unlock()
		if releases[client] == nil {
			releases[client] = make(chan struct{})
		}
		return releases[client]
	}
	srv := start(t, func(ctx context.Context, r *chanstream.Reader, w *chanstream.Writer) error {
		started <- struct{}{}
		select {
		case <-release(w.RemoteAddr().String()):
		case <-ctx.Done():
		}
		return nil
	}, server.WithMaxConns(2))
	c1 := dial(t, srv.Addrs()[0])
	dial(t, srv.Addrs()[0])
	<-started
	<-started
	dial(t, srv.Addrs()[0]) // waits in the backlog
	select {
	case <-started:
		t.Fatal("a third connection was served with WithMaxConns(2)")
	case <-time.After(200 * time.Millisecond):
	}
	if n := srv.ActiveConns(); n != 2 {
		t.Fatalf("ActiveConns() = %d; want 2", n)
	}
	close(release(c1.LocalAddr().String())) // c1's handler returns, its connection closes
	c1.SetReadDeadline(time.Now().Add(watchdog))
	if _, err := io.Copy(io.Discard, c1); err != nil {
		t.Fatalf("c1 after its handler returned: %v; want EOF", err)
	}
	select {
	case <-started:
	case <-time.After(watchdog):
		t.Fatal("the waiting connection was not served after one ended")
	}
}

func TestPanickingHandler(t *testing.T) {
	var logs logBuffer
	var mu sync.Mutex
	first := true
	ended := make(chan struct{}) // the panicking handler's stream has closed
	srv := start(t, func(ctx context.Context, r *chanstream.Reader, w *chanstream.Writer) error {
		mu.Lock()
		boom := first
		first = false
		mu.Unlock()
		if boom {
			w.AfterClose(func() { close(ended) })
			w.Write(bigPayload) // more than the kernel can take while c1 does not read: only an abort loses some
			panicHere()
		}
		return lineEcho(ctx, r, w)
	}, server.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	c1 := dial(t, srv.Addrs()[0])
	select { // c1 reads only now: a graceful close would have kept the rest queued for it
	case <-ended:
	case <-time.After(watchdog):
		t.Fatal("the panicking handler's stream did not close")
	}
	c1.SetReadDeadline(time.Now().Add(watchdog))
	if got, _ := io.ReadAll(c1); len(got) >= len(bigPayload) {
		t.Fatalf("the panicking handler's connection got all %d bytes; want it aborted, its queue dropped", len(got))
	}
	c2 := dial(t, srv.Addrs()[0])
	roundTrip(t, c2, bufio.NewReader(c2), "still serving\n")
	log := logs.String()
	for _, want := range []string{"handler panic", "kaboom", "stack.0=", "panicHere"} {
		if !strings.Contains(log, want) {
			t.Fatalf("log lacks %q:\n%s", want, log)
		}
	}
}

var bigPayload = make([]byte, 16<<20)

func panicHere() { panic("kaboom") }

func TestHandlerErrorLogged(t *testing.T) {
	var logs logBuffer
	done := make(chan struct{})
	srv := start(t, func(ctx context.Context, r *chanstream.Reader, w *chanstream.Writer) error {
		defer close(done)
		w.WriteString("bye\n")
		return errors.New("handler says no")
	}, server.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	c := dial(t, srv.Addrs()[0])
	c.SetReadDeadline(time.Now().Add(watchdog))
	if got, err := io.ReadAll(c); string(got) != "bye\n" || err != nil {
		t.Fatalf("read %q, %v; want the queued bytes and a clean close", got, err)
	}
	<-done
	shutdown(t, srv)
	if !strings.Contains(logs.String(), "handler says no") {
		t.Fatalf("log lacks the handler's error:\n%s", logs.String())
	}
}

func TestInvalidOptions(t *testing.T) {
	serverTLS, _ := testutil.SelfSignedTLS(t)
	withTLS := server.WithTLS(serverTLS)
	cases := []struct {
		name string
		opts []server.Option
	}{
		{"backlog", []server.Option{server.WithBacklog(-1)}},
		{"max conns", []server.Option{server.WithMaxConns(-1)}},
		{"network", []server.Option{server.WithNetwork("udp")}},
		{"nil tls", []server.Option{server.WithTLS(nil)}},
		{"handshake timeout without tls", []server.Option{server.WithTLSHandshakeTimeout(time.Second)}},
		{"shutdown timeout without tls", []server.Option{server.WithTLSShutdownTimeout(time.Second)}},
		{"zero handshake timeout", []server.Option{withTLS, server.WithTLSHandshakeTimeout(0)}},
		{"negative shutdown timeout", []server.Option{withTLS, server.WithTLSShutdownTimeout(-time.Second)}},
		{"stream limit", []server.Option{server.WithStreamOptions(chanstream.WithLimit(0))}},
		{"stream watermarks", []server.Option{server.WithStreamOptions(chanstream.WithWriteBufferLimits(1, 2))}},
		{"stream write cap below high", []server.Option{server.WithStreamOptions(chanstream.WithMaxWriteBuffer(chanstream.DefaultHighWater - 1))}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv, err := server.Start(context.Background(), "127.0.0.1:0", lineEcho, tc.opts...)
			if !errors.Is(err, chanstream.ErrInvalidArgument) {
				if srv != nil {
					shutdown(t, srv)
				}
				t.Fatalf("Start = %v; want ErrInvalidArgument", err)
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			srv, err = server.StartListener(ln, lineEcho, tc.opts...)
			if !errors.Is(err, chanstream.ErrInvalidArgument) {
				if srv != nil {
					shutdown(t, srv)
				}
				t.Fatalf("StartListener = %v; want ErrInvalidArgument", err)
			}
		})
	}
	if _, err := server.Start(context.Background(), "127.0.0.1:0", nil); !errors.Is(err, chanstream.ErrInvalidArgument) {
		t.Fatalf("Start with a nil handler = %v; want ErrInvalidArgument", err)
	}
}
