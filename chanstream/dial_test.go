package chanstream_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cspstream/streams/chanstream"
	"github.com/cspstream/streams/testutil"
)

// echoServer listens on addr ("127.0.0.1:0", "[::1]:0", or a fixed port)
// and echoes every connection until EOF. It and its connections are closed
// and joined when t ends.
func echoServer(t *testing.T, addr string) net.Listener {
	t.Helper()
	return serveTCP(t, addr, func(c net.Conn) { io.Copy(c, c) })
}

// serveTCP listens on addr and runs serve on each accepted connection
// (testutil.Serve) until t ends.
func serveTCP(t *testing.T, addr string, serve func(c net.Conn)) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen %s: %v", addr, err)
	}
	testutil.Serve(t, ln, serve)
	return ln
}

func portOf(ln net.Listener) int { return ln.Addr().(*net.TCPAddr).Port }

// needIPv6 skips t where the machine has no usable IPv6 loopback.
func needIPv6(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	ln.Close()
}

// freePort returns a port on which nothing listens on 127.0.0.1 nor ::1.
func freePort(t *testing.T) int {
	t.Helper()
	for range 20 {
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := portOf(ln)
		ln.Close()
		if ln6, err := net.Listen("tcp6", net.JoinHostPort("::1", strconv.Itoa(p))); err == nil || !errors.Is(err, syscall.EADDRINUSE) {
			if ln6 != nil {
				ln6.Close()
			}
			return p
		}
	}
	t.Fatal("no free port")
	return 0
}

// dualLocalhost resolves "localhost" to ::1 then 127.0.0.1, as a resolver
// with both in /etc/hosts does, and any other name to nothing.
func dualLocalhost(order ...string) func(ctx context.Context, network, host string) ([]netip.Addr, error) {
	if len(order) == 0 {
		order = []string{"::1", "127.0.0.1"}
	}
	return func(ctx context.Context, network, host string) ([]netip.Addr, error) {
		if host != "localhost" {
			return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
		}
		var ips []netip.Addr
		for _, s := range order {
			ip := netip.MustParseAddr(s)
			if network == "ip" || (network == "ip4") == ip.Is4() {
				ips = append(ips, ip)
			}
		}
		return ips, nil
	}
}

// roundTrip checks that the stream reaches an echo server.
func roundTrip(t *testing.T, ctx context.Context, r *chanstream.Reader, w *chanstream.Writer) {
	t.Helper()
	w.WriteString("ping\n")
	if line, err := r.ReadLine(ctx); string(line) != "ping\n" || err != nil {
		t.Fatalf("ReadLine() = %q, %v; want %q, nil", line, err, "ping\n")
	}
}

func closeStream(t *testing.T, w *chanstream.Writer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	w.Close()
	if err := w.WaitClosed(ctx); err != nil {
		t.Fatalf("WaitClosed: %v", err)
	}
}

func remoteIP(w *chanstream.Writer) netip.Addr {
	return w.RemoteAddr().(*net.TCPAddr).AddrPort().Addr().Unmap()
}

// TestOpenConnectionLocalhost dials "localhost" through the system
// resolver, whatever /etc/hosts maps it to, to an echo server on every
// address it resolves to.
func TestOpenConnectionLocalhost(t *testing.T) {
	testutil.CheckLeaks(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", "localhost")
	if err != nil || len(ips) == 0 {
		t.Fatalf("localhost does not resolve: %v", err)
	}
	p := freePort(t)
	for _, ip := range ips {
		echoServer(t, net.JoinHostPort(ip.Unmap().String(), strconv.Itoa(p)))
	}
	r, w, err := chanstream.OpenConnection(ctx, net.JoinHostPort("localhost", strconv.Itoa(p)))
	if err != nil {
		t.Fatalf("OpenConnection: %v", err)
	}
	defer closeStream(t, w)
	roundTrip(t, ctx, r, w)
	if !remoteIP(w).IsLoopback() {
		t.Fatalf("connected to %v", w.RemoteAddr())
	}
}

// TestHappyEyeballsLoopback: "localhost" resolves to ::1 and 127.0.0.1; a
// listener on only one of them is reached either way, with and without
// happy eyeballs, whichever address comes first.
func TestHappyEyeballsLoopback(t *testing.T) {
	needIPv6(t)
	for _, order := range [][]string{{"::1", "127.0.0.1"}, {"127.0.0.1", "::1"}} {
		for _, listenOn := range []string{"::1", "127.0.0.1"} {
			for _, delay := range []time.Duration{250 * time.Millisecond, 0} {
				name := fmt.Sprintf("resolved %s/listening on %s/delay %v", strings.Join(order, ","), listenOn, delay)
				t.Run(name, func(t *testing.T) {
					testutil.CheckLeaks(t)
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					defer cancel()
					ln := echoServer(t, net.JoinHostPort(listenOn, "0"))
					addr := net.JoinHostPort("localhost", strconv.Itoa(portOf(ln)))
					r, w, err := chanstream.OpenConnection(ctx, addr,
						chanstream.WithLookup(dualLocalhost(order...)), chanstream.WithHappyEyeballsDelay(delay))
					if err != nil {
						t.Fatalf("OpenConnection(%s): %v", addr, err)
					}
					defer closeStream(t, w)
					if got := remoteIP(w); got != netip.MustParseAddr(listenOn) {
						t.Fatalf("connected to %v; want %s", got, listenOn)
					}
					roundTrip(t, ctx, r, w)
				})
			}
		}
	}
}

// attemptLog is a dialer's ControlContext that records every attempt and
// can hold chosen addresses unanswered until the attempt's ctx ends.
type attemptLog struct {
	mu      sync.Mutex
	started []string
	at      []time.Time
	hold    func(address string) bool
	holding chan string  // each held attempt's address, once it holds
	ended   atomic.Int32 // held attempts that returned
}

func (l *attemptLog) control(ctx context.Context, network, address string, c syscall.RawConn) error {
	l.mu.Lock()
	l.started = append(l.started, address)
	l.at = append(l.at, time.Now())
	l.mu.Unlock()
	if l.hold == nil || !l.hold(address) {
		return nil
	}
	if l.holding != nil {
		l.holding <- address
	}
	<-ctx.Done() // never answers: as a SYN lost on the way
	l.ended.Add(1)
	return ctx.Err()
}

func (l *attemptLog) snapshot() ([]string, []time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.started...), append([]time.Time(nil), l.at...)
}

// TestHappyEyeballsUnresponsiveFirst: the first address never answers; the
// second, started one delay later, wins; the first attempt is stopped and
// has returned before OpenConnection does.
func TestHappyEyeballsUnresponsiveFirst(t *testing.T) {
	needIPv6(t)
	testutil.CheckLeaks(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p := freePort(t)
	echoServer(t, net.JoinHostPort("::1", strconv.Itoa(p)))
	echoServer(t, net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
	held := net.JoinHostPort("::1", strconv.Itoa(p))
	log := &attemptLog{hold: func(a string) bool { return a == held }}
	user := &net.Dialer{ControlContext: log.control}
	const delay = 100 * time.Millisecond
	began := time.Now() // before the first attempt: the second starts a delay after it at the earliest
	r, w, err := chanstream.OpenConnection(ctx, net.JoinHostPort("localhost", strconv.Itoa(p)),
		chanstream.WithLookup(dualLocalhost()), chanstream.WithHappyEyeballsDelay(delay),
		chanstream.WithDialer(user), chanstream.WithKeepAlive(-1), chanstream.WithLocalAddr("localhost:0"))
	if err != nil {
		t.Fatalf("OpenConnection: %v", err)
	}
	defer closeStream(t, w)
	if got := log.ended.Load(); got != 1 {
		t.Fatalf("%d held attempts returned before OpenConnection did; want 1", got)
	}
	started, at := log.snapshot()
	want := []string{held, net.JoinHostPort("127.0.0.1", strconv.Itoa(p))}
	if strings.Join(started, " ") != strings.Join(want, " ") {
		t.Fatalf("attempts %v; want %v", started, want)
	}
	// The first attempt's timestamp is taken in its Control, after the
	// delay's timer started: measure from before OpenConnection instead.
	if gap := at[1].Sub(began); gap < delay {
		t.Fatalf("second attempt started %v after OpenConnection began; want at least the delay %v", gap, delay)
	}
	if got := remoteIP(w); got != netip.MustParseAddr("127.0.0.1") {
		t.Fatalf("connected to %v; want 127.0.0.1", got)
	}
	roundTrip(t, ctx, r, w)
	// The user's dialer is copied, never modified.
	if user.LocalAddr != nil || user.KeepAlive != 0 || user.Resolver != nil {
		t.Fatalf("the user's dialer was modified: %+v", user)
	}
}

// TestHappyEyeballsFailureStartsNext: when the latest attempt fails, the
// next starts at once, without waiting for the delay.
func TestHappyEyeballsFailureStartsNext(t *testing.T) {
	needIPv6(t)
	testutil.CheckLeaks(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ln := echoServer(t, "127.0.0.1:0") // ::1 refuses
	log := &attemptLog{}
	const delay = time.Hour // only a failure can start the second attempt in time
	r, w, err := chanstream.OpenConnection(ctx, net.JoinHostPort("localhost", strconv.Itoa(portOf(ln))),
		chanstream.WithLookup(dualLocalhost()), chanstream.WithHappyEyeballsDelay(delay),
		chanstream.WithDialer(&net.Dialer{ControlContext: log.control}))
	if err != nil {
		t.Fatalf("OpenConnection: %v", err)
	}
	defer closeStream(t, w)
	if started, _ := log.snapshot(); len(started) != 2 {
		t.Fatalf("attempts %v; want ::1 then 127.0.0.1", started)
	}
	roundTrip(t, ctx, r, w)
}

// TestOpenConnectionAllRefused: one error joins every attempt's, names
// the address, and errors.Is finds ECONNREFUSED; nothing is left behind.
func TestOpenConnectionAllRefused(t *testing.T) {
	needIPv6(t)
	testutil.CheckLeaks(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p := strconv.Itoa(freePort(t))
	for _, delay := range []time.Duration{250 * time.Millisecond, 0} {
		before := countFDs(t)
		addr := net.JoinHostPort("localhost", p)
		_, _, err := chanstream.OpenConnection(ctx, addr,
			chanstream.WithLookup(dualLocalhost()), chanstream.WithHappyEyeballsDelay(delay))
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("OpenConnection(%s) = %v; want ECONNREFUSED", addr, err)
		}
		for _, s := range []string{addr, net.JoinHostPort("::1", p), net.JoinHostPort("127.0.0.1", p)} {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("error %q does not name %s", err, s)
			}
		}
		var opErr *net.OpError
		if !errors.As(err, &opErr) {
			t.Errorf("error %v holds no *net.OpError", err)
		}
		if after := countFDs(t); after != before {
			t.Errorf("delay %v: %d open files before, %d after", delay, before, after)
		}
	}
}

// TestOpenConnectionCancel: a ctx that ends while attempts are under way
// stops all of them at once, and no attempt is started after it.
func TestOpenConnectionCancel(t *testing.T) {
	needIPv6(t)
	testutil.CheckLeaks(t)
	wd, stop := context.WithTimeout(context.Background(), 20*time.Second)
	defer stop()
	for _, tt := range []struct {
		name    string
		delay   time.Duration
		waitFor int // held attempts before the cancel
	}{
		{"both attempts under way", 10 * time.Millisecond, 2},
		{"waiting for the delay", time.Hour, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := countFDs(t)
			log := &attemptLog{hold: func(string) bool { return true }, holding: make(chan string, 2)}
			ctx, cancel := context.WithCancel(wd)
			go func() {
				for range tt.waitFor {
					<-log.holding
				}
				cancel()
			}()
			_, _, err := chanstream.OpenConnection(ctx, "localhost:"+strconv.Itoa(freePort(t)),
				chanstream.WithLookup(dualLocalhost()), chanstream.WithHappyEyeballsDelay(tt.delay),
				chanstream.WithDialer(&net.Dialer{ControlContext: log.control}))
			cancel()
			if !errors.Is(err, context.Canceled) || wd.Err() != nil {
				t.Fatalf("OpenConnection = %v; want context.Canceled, promptly", err)
			}
			if started, _ := log.snapshot(); len(started) != tt.waitFor || int(log.ended.Load()) != tt.waitFor {
				t.Fatalf("%d attempts started, %d returned; want %d, all returned", len(started), log.ended.Load(), tt.waitFor)
			}
			if after := countFDs(t); after != before {
				t.Errorf("%d open files before, %d after", before, after)
			}
		})
	}
	t.Run("while resolving", func(t *testing.T) {
		ctx, cancel := context.WithCancel(wd)
		resolving := make(chan struct{})
		go func() { <-resolving; cancel() }()
		_, _, err := chanstream.OpenConnection(ctx, "localhost:80", chanstream.WithLookup(
			func(ctx context.Context, network, host string) ([]netip.Addr, error) {
				close(resolving)
				<-ctx.Done()
				return nil, ctx.Err()
			}))
		if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "localhost:80") {
			t.Fatalf("OpenConnection = %v; want context.Canceled naming the address", err)
		}
	})
}

// countFDs counts this process's open files.
func countFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count open files: %v", err)
	}
	return len(ents)
}

// TestOpenConnectionBadInput: each bad input gets a clear error naming the
// address, and leaves no goroutine or socket behind.
func TestOpenConnectionBadInput(t *testing.T) {
	testutil.CheckLeaks(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	refused := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
	// Any DNS query fails the test: none may leave the machine.
	noDNS := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
		t.Errorf("a DNS query was sent to %s", address)
		return nil, errors.New("no DNS in tests")
	}}
	tests := []struct {
		name     string
		addr     string
		opts     []chanstream.Option
		is       error
		contains []string
	}{
		{"no port", "127.0.0.1", nil, chanstream.ErrInvalidArgument, []string{"missing port"}},
		{"empty", "", nil, chanstream.ErrInvalidArgument, []string{"missing port"}},
		{"bad port", "127.0.0.1:99999", nil, nil, []string{"99999"}},
		{"unknown network", refused, []chanstream.Option{chanstream.WithNetwork("udp")}, chanstream.ErrInvalidArgument, []string{`"udp"`}},
		{"does not resolve", "nothing.invalid:80", []chanstream.Option{chanstream.WithDialer(&net.Dialer{Resolver: noDNS})}, nil, []string{"no such host"}},
		{"refused", refused, nil, syscall.ECONNREFUSED, []string{"connection refused"}},
		{"wrong family", "[::1]:80", []chanstream.Option{chanstream.WithNetwork("tcp4")}, nil, []string{"no tcp4 address"}},
		{"local address of another family", refused, []chanstream.Option{chanstream.WithLocalAddr("[::1]:0")}, nil, []string{"no local address"}},
		{"local address without port", refused, []chanstream.Option{chanstream.WithLocalAddr("127.0.0.1")}, chanstream.ErrInvalidArgument, []string{"local address"}},
		{"negative delay", refused, []chanstream.Option{chanstream.WithHappyEyeballsDelay(-1)}, chanstream.ErrInvalidArgument, nil},
		{"negative interleave", refused, []chanstream.Option{chanstream.WithInterleave(-1)}, chanstream.ErrInvalidArgument, nil},
		{"zero handshake timeout", refused, []chanstream.Option{chanstream.WithTLSHandshakeTimeout(0)}, chanstream.ErrInvalidArgument, nil},
		{"zero shutdown timeout", refused, []chanstream.Option{chanstream.WithTLSShutdownTimeout(0)}, chanstream.ErrInvalidArgument, nil},
		{"zero limit", refused, []chanstream.Option{chanstream.WithLimit(0)}, chanstream.ErrInvalidArgument, nil},
		{"bad watermarks", refused, []chanstream.Option{chanstream.WithWriteBufferLimits(1, 2)}, chanstream.ErrInvalidArgument, nil},
	}
	_, _, _ = chanstream.OpenConnection(ctx, refused) // warm up: the poller's own descriptors
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := countFDs(t)
			r, w, err := chanstream.OpenConnection(ctx, tt.addr, tt.opts...)
			if err == nil || r != nil || w != nil {
				t.Fatalf("OpenConnection(%q) = %v, %v, %v; want an error", tt.addr, r, w, err)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v is not %v", err, tt.is)
			}
			for _, s := range append([]string{"open connection " + tt.addr}, tt.contains...) {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %q", err, s)
				}
			}
			if after := countFDs(t); after != before {
				t.Errorf("%d open files before, %d after", before, after)
			}
		})
	}
}

// TestOpenConnectionDuplicateAddresses: a resolver that lists an address
// twice (or once IPv4-mapped) gets one attempt per address, not one per
// entry.
func TestOpenConnectionDuplicateAddresses(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	log := &attemptLog{}
	dup := func(context.Context, string, string) ([]netip.Addr, error) {
		ip := netip.MustParseAddr("127.0.0.1")
		return []netip.Addr{ip, ip, netip.MustParseAddr("::ffff:127.0.0.1")}, nil
	}
	_, _, err := chanstream.OpenConnection(ctx, net.JoinHostPort("dup.test", strconv.Itoa(freePort(t))),
		chanstream.WithLookup(dup), chanstream.WithDialer(&net.Dialer{ControlContext: log.control}))
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("OpenConnection = %v; want ECONNREFUSED", err)
	}
	if started, _ := log.snapshot(); len(started) != 1 {
		t.Fatalf("attempts %v; want one, to 127.0.0.1", started)
	}
}
