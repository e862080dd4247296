package testutil_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cspstream/streams/chanstream"
	"github.com/cspstream/streams/testutil"
)

// recordConn records the size of every Write that reaches the conn it wraps.
type recordConn struct {
	net.Conn
	mu     sync.Mutex
	writes []int
}

func (c *recordConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.writes = append(c.writes, len(p))
	c.mu.Unlock()
	return c.Conn.Write(p)
}

func (c *recordConn) sizes() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]int(nil), c.writes...)
}

func randomBytes(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, 1))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// readAllDeadline reads c to EOF or error under a deadline.
func readAllDeadline(t *testing.T, c net.Conn) ([]byte, error) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	return io.ReadAll(c)
}

// TestFaultConnSplitsReads: every Read returns 1..MaxRead bytes, of more
// than one size, and the stream arrives whole.
func TestFaultConnSplitsReads(t *testing.T) {
	cc, sc := testutil.TCPPair(t)
	data := randomBytes(64<<10, 1)
	go func() {
		sc.Write(data)
		sc.Close()
	}()
	fc := testutil.NewFaultConn(cc, testutil.Faults{MaxRead: 7, Seed: 1})
	fc.SetReadDeadline(time.Now().Add(10 * time.Second))
	var got []byte
	sizes := map[int]bool{}
	buf := make([]byte, 4096)
	for {
		n, err := fc.Read(buf)
		if n > 7 {
			t.Fatalf("Read returned %d bytes; MaxRead is 7", n)
		}
		if n > 0 {
			sizes[n] = true
		}
		got = append(got, buf[:n]...)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("read %d bytes, not the %d written", len(got), len(data))
	}
	if len(sizes) < 3 {
		t.Fatalf("read sizes %v: not random", sizes)
	}
	if fc.Passed() != int64(len(data)) {
		t.Fatalf("Passed() = %d; want %d", fc.Passed(), len(data))
	}
}

// TestFaultConnSplitsWrites: a Write reaches the wrapped conn as Writes of
// 1..MaxWrite bytes, and the peer receives it whole; the same Seed gives
// the same pieces.
func TestFaultConnSplitsWrites(t *testing.T) {
	data := randomBytes(10000, 2)
	var runs [][]int
	for range 2 {
		cc, sc := testutil.TCPPair(t)
		rec := &recordConn{Conn: cc}
		fc := testutil.NewFaultConn(rec, testutil.Faults{MaxWrite: 5, Seed: 42})
		if n, err := fc.Write(data); n != len(data) || err != nil {
			t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(data))
		}
		fc.Close()
		got, err := readAllDeadline(t, sc)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("peer read %d bytes, %v; want the %d written", len(got), err, len(data))
		}
		sizes := rec.sizes()
		if len(sizes) < len(data)/5 {
			t.Fatalf("%d writes reached the conn; want at least %d", len(sizes), len(data)/5)
		}
		for _, n := range sizes {
			if n < 1 || n > 5 {
				t.Fatalf("a write of %d bytes reached the conn; MaxWrite is 5", n)
			}
		}
		runs = append(runs, sizes)
	}
	if !slicesEqual(runs[0], runs[1]) {
		t.Fatal("the same Seed gave different pieces")
	}
}

func slicesEqual(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestFaultConnDelay: 50 one-byte pieces with delays of 0..10 ms each take
// far more than 50 ms in all (their sum is about 250 ms; under 50 ms has a
// probability below 1e-40).
func TestFaultConnDelay(t *testing.T) {
	cc, sc := testutil.TCPPair(t)
	fc := testutil.NewFaultConn(cc, testutil.Faults{MaxWrite: 1, Delay: 10 * time.Millisecond})
	start := time.Now()
	if n, err := fc.Write(make([]byte, 50)); n != 50 || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	if d := time.Since(start); d < 50*time.Millisecond || d > 10*time.Second {
		t.Fatalf("50 delayed pieces took %v; want 50 ms to 10 s", d)
	}
	fc.Close()
	if got, err := readAllDeadline(t, sc); len(got) != 50 || err != nil {
		t.Fatalf("peer read %d bytes, %v; want 50", len(got), err)
	}
}

// TestFaultConnResetAfter: a Write across ResetAfter writes the bytes up
// to it and returns ErrReset (which is ECONNRESET); the peer gets a real
// RST: at most those bytes, then ECONNRESET.
func TestFaultConnResetAfter(t *testing.T) {
	cc, sc := testutil.TCPPair(t)
	data := randomBytes(1000, 3)
	fc := testutil.NewFaultConn(cc, testutil.Faults{ResetAfter: 100, MaxWrite: 30})
	n, err := fc.Write(data)
	if n != 100 || !errors.Is(err, testutil.ErrReset) || !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("Write = %d, %v; want 100, ErrReset", n, err)
	}
	if _, err := fc.Read(make([]byte, 10)); !errors.Is(err, testutil.ErrReset) {
		t.Fatalf("Read after the reset = %v; want ErrReset", err)
	}
	if _, err := fc.Write([]byte("x")); !errors.Is(err, testutil.ErrReset) {
		t.Fatalf("Write after the reset = %v; want ErrReset", err)
	}
	got, err := readAllDeadline(t, sc)
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("peer read %d bytes, then %v; want ECONNRESET (an RST, not a FIN)", len(got), err)
	}
	if len(got) > 100 || !bytes.Equal(got, data[:len(got)]) {
		t.Fatalf("peer read %d bytes before the reset; want a prefix of the first 100", len(got))
	}
}

// TestFaultConnResetOnRead: ResetAfter counts bytes read too; the reads
// up to it get their bytes.
func TestFaultConnResetOnRead(t *testing.T) {
	cc, sc := testutil.TCPPair(t)
	data := randomBytes(1000, 4)
	go sc.Write(data)
	fc := testutil.NewFaultConn(cc, testutil.Faults{ResetAfter: 300})
	fc.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(fc)
	if !errors.Is(err, testutil.ErrReset) || !bytes.Equal(got, data[:300]) {
		t.Fatalf("ReadAll = %d bytes, %v; want the first 300, ErrReset", len(got), err)
	}
}

// TestFaultConnReset: Reset sends an RST now and ends a Read waiting on
// the conn.
func TestFaultConnReset(t *testing.T) {
	cc, sc := testutil.TCPPair(t)
	fc := testutil.NewFaultConn(cc, testutil.Faults{})
	errs := make(chan error, 1)
	go func() {
		_, err := fc.Read(make([]byte, 10))
		errs <- err
	}()
	if err := fc.Reset(); err != nil {
		t.Fatalf("Reset: %v", err)
	}
	if err := <-errs; err == nil {
		t.Fatal("a Read waiting when Reset ran returned no error")
	}
	if _, err := readAllDeadline(t, sc); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("peer read after Reset: %v; want ECONNRESET", err)
	}
}

// TestFaultConnStall: past StallAfter nothing moves; a Write blocks until
// its deadline (a timeout error, the bytes before the stall written) and a
// Read until Close.
func TestFaultConnStall(t *testing.T) {
	cc, sc := testutil.TCPPair(t)
	fc := testutil.NewFaultConn(cc, testutil.Faults{StallAfter: 10})
	fc.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
	n, err := fc.Write(make([]byte, 100))
	var ne net.Error
	if n != 10 || !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Write = %d, %v; want 10 and a timeout", n, err)
	}
	sc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(sc, make([]byte, 10)); err != nil {
		t.Fatalf("peer read of the 10 bytes before the stall: %v", err)
	}
	sc.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if n, err := sc.Read(make([]byte, 10)); n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("peer read past the stall = %d, %v; want a timeout", n, err)
	}
	errs := make(chan error, 1)
	go func() {
		_, err := fc.Read(make([]byte, 10))
		errs <- err
	}()
	fc.Close()
	if err := <-errs; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("stalled Read after Close = %v; want net.ErrClosed", err)
	}
}

// TestFaultConnDeadlineEndsDelay: a read deadline set in the past ends a
// Read waiting in a delay at once, as chanstream's Upgrade and Abort need,
// and clearing it lets reads go on.
func TestFaultConnDeadlineEndsDelay(t *testing.T) {
	cc, sc := testutil.TCPPair(t)
	fc := testutil.NewFaultConn(cc, testutil.Faults{Delay: time.Hour, Seed: 7})
	errs := make(chan error, 1)
	go func() {
		_, err := fc.Read(make([]byte, 10))
		errs <- err
	}()
	fc.SetReadDeadline(time.Unix(1, 0))
	select {
	case err := <-errs:
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("Read = %v; want a timeout", err)
		}
	case <-time.After(10 * time.Second):
		fc.Close()
		<-errs
		t.Fatal("a deadline in the past did not end a Read waiting in a delay")
	}
	fc.Close()
	sc.Close()
}

// TestFaultListener: each accepted conn is a FaultConn with faults(i).
func TestFaultListener(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var asked []int
	ln := testutil.FaultListener(inner, func(i int) testutil.Faults {
		asked = append(asked, i)
		return testutil.Faults{ResetAfter: int64(i + 1)}
	})
	defer ln.Close()
	for i := range 2 {
		c, err := net.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		a, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		fc, ok := a.(*testutil.FaultConn)
		if !ok {
			t.Fatalf("Accept returned a %T; want *testutil.FaultConn", a)
		}
		if n, err := fc.Write([]byte("abc")); n != i+1 || !errors.Is(err, testutil.ErrReset) {
			t.Fatalf("conn %d: Write = %d, %v; want %d, ErrReset", i, n, err, i+1)
		}
	}
	if !slicesEqual(asked, []int{0, 1}) {
		t.Fatalf("faults called with %v; want [0 1]", asked)
	}
}

// TestFaultConnUnderStreams: a stream over FaultConns in both directions —
// reads and writes in pieces of a few bytes with delays — delivers every
// line intact, and a reset under it reaches the stream as ECONNRESET.
func TestFaultConnUnderStreams(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cc, sc := testutil.TCPPair(t)
	f := testutil.Faults{MaxRead: 3, MaxWrite: 5, Delay: 20 * time.Microsecond}
	fcc := testutil.NewFaultConn(cc, f)
	cr, cw := chanstream.New(fcc)
	sr, sw := chanstream.New(testutil.NewFaultConn(sc, f), chanstream.WithServerSide())
	defer func() {
		for _, w := range []*chanstream.Writer{cw, sw} {
			w.Abort()
			w.WaitClosed(ctx)
		}
	}()
	var want []string
	for i := range 40 {
		line := string(randomBytesLine(i))
		want = append(want, line)
		cw.WriteString(line)
	}
	for i, w := range want {
		line, err := sr.ReadLine(ctx)
		if string(line) != w || err != nil {
			t.Fatalf("line %d: ReadLine() = %q, %v; want %q, nil", i, line, err, w)
		}
	}
	sw.WriteString("bye\n")
	if line, err := cr.ReadLine(ctx); string(line) != "bye\n" || err != nil {
		t.Fatalf("ReadLine() = %q, %v; want %q, nil", line, err, "bye\n")
	}
	fcc.Reset()
	if _, err := sr.ReadLine(ctx); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("ReadLine after the peer's reset: %v; want ECONNRESET", err)
	}
}

func randomBytesLine(i int) []byte {
	r := rand.New(rand.NewPCG(uint64(i), 9))
	b := make([]byte, 1+r.IntN(200))
	for j := range b {
		b[j] = 'a' + byte(r.IntN(26))
	}
	return append(b, '\n')
}
