//go:build unix

package server_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cspstream/streams/chanstream"
	"github.com/cspstream/streams/server"
	"github.com/cspstream/streams/testutil"
)

// The soak's size: soakRounds rounds of soakConns concurrent connections
// by default (1,000 connections, about 15 s under -race on 2 cores);
// STREAMS_SOAK=5m runs rounds of soakLongConns until that much time has
// passed.
const (
	soakRounds    = 4
	soakConns     = 250
	soakLongConns = 500
	soakMaxBytes  = 256 << 10 // a client's payload: 1 byte to this
)

// A soak client's behaviour, by connection number.
type soakKind int

const (
	soakEcho      soakKind = iota // writes, reads the echo back in full, closes
	soakHalfClose                 // writes, half-closes, reads the echo to EOF
	soakSlow                      // as soakHalfClose, reading in small pieces with delays
	soakStream                    // a chanstream client over split reads and writes: Write, WriteEOF, ReadAll
	soakReset                     // resets at a random byte, mid-write or mid-echo
	soakKinds
)

func (k soakKind) String() string {
	return [...]string{"echo", "half-close", "slow", "stream", "reset"}[k]
}

// soakHandler echoes a connection to EOF. The first byte picks how: 'e' a
// ReadUpTo / Write / Drain loop, 'c' io.Copy (WriteTo / ReadFrom).
func soakHandler(ctx context.Context, r *chanstream.Reader, w *chanstream.Writer) error {
	mode, err := r.ReadExactly(ctx, 1)
	if err != nil {
		return err
	}
	if mode[0] == 'c' {
		_, err := io.Copy(w, r)
		return err
	}
	for {
		b, err := r.ReadUpTo(ctx, 32<<10)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		w.Write(b)
		if err := w.Drain(ctx); err != nil {
			return err
		}
	}
}

// soakTally is what a round's clients report.
type soakTally struct {
	verified atomic.Int64 // echoed bytes checked, on clients that end cleanly
	resets   atomic.Int64 // clients that reset and saw their own reset
}

// TestSoak runs rounds of hundreds of concurrent connections through
// server.Start, each echoing a random payload of up to 256 KiB: clean
// clients, clients that half-close, slow readers, chanstream clients over
// split and delayed reads and writes, and clients that reset mid-transfer
// (a real RST). Every clean client gets its payload back exactly (length
// and SHA-256); a resetting client gets a prefix of it. After each round
// ActiveConns is back to 0, the goroutines are back to where they were,
// and the heap is flat across rounds; at the end Shutdown with idle
// clients returns nil in time, and nothing leaks.
func TestSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("soak: not with -short")
	}
	rounds, conns, until := soakRounds, soakConns, time.Time{}
	if s := os.Getenv("STREAMS_SOAK"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("STREAMS_SOAK=%q: %v", s, err)
		}
		conns, until = soakLongConns, time.Now().Add(d)
	}
	raiseFileLimit(t, uint64(4*conns+256))
	testutil.CheckLeaks(t)
	srv, err := server.Start(context.Background(), "127.0.0.1:0", soakHandler, server.WithLogger(quietLogger()), server.WithBacklog(conns))
	if err != nil {
		t.Fatal(err)
	}
	addr := srv.Addrs()[0].String()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), watchdog)
		defer cancel()
		srv.Shutdown(ctx) // after a failure; a no-op after the one below
	}()

	goroutines := runtime.NumGoroutine()
	var heaps []uint64
	var total soakTally
	for round := 0; round < rounds || time.Now().Before(until); round++ {
		start := time.Now()
		var tally soakTally
		soakRound(t, addr, round, conns, &tally)
		if t.Failed() {
			return
		}
		waitFor(t, "ActiveConns() == 0", func() bool { return srv.ActiveConns() == 0 })
		waitFor(t, "goroutines back to the start", func() bool { return runtime.NumGoroutine() <= goroutines })
		heaps = append(heaps, heapAfterGC())
		total.verified.Add(tally.verified.Load())
		total.resets.Add(tally.resets.Load())
		t.Logf("round %d: %d connections, %d echoed bytes verified, %d resets, heap %d KiB, %v",
			round, conns, tally.verified.Load(), tally.resets.Load(), heaps[round]>>10, time.Since(start).Round(time.Millisecond))
		if tally.resets.Load() == 0 {
			t.Fatalf("round %d: no client reset", round)
		}
	}
	// Flat: what the last round left is what the first left, give or take
	// the runtime's noise (tens of KiB; a leak of 1.5 KB per connection
	// over the later rounds would be past it).
	if first, last := heaps[0], heaps[len(heaps)-1]; last > first+1<<20 {
		t.Fatalf("heap after each round (bytes): %v: it grows", heaps)
	}

	// Shutdown with idle clients (handlers waiting in a read) ends them
	// and returns nil in time.
	idle := make([]net.Conn, 0, 50)
	for range cap(idle) {
		c, err := net.DialTimeout("tcp", addr, watchdog)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// One byte echoed: the handler has read everything sent and waits
		// in its next read (unread bytes would make the close an RST).
		c.SetDeadline(time.Now().Add(watchdog))
		if _, err := c.Write([]byte("ex")); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
			t.Fatalf("idle client's echo: %v", err)
		}
		idle = append(idle, c)
	}
	if n := srv.ActiveConns(); n != len(idle) {
		t.Fatalf("ActiveConns() = %d with %d idle clients", n, len(idle))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown with %d idle clients = %v after %v; want nil", len(idle), err, time.Since(start))
	}
	t.Logf("Shutdown with %d idle clients: %v; in all %d echoed bytes verified, %d resets",
		len(idle), time.Since(start).Round(time.Millisecond), total.verified.Load(), total.resets.Load())
	if n := srv.ActiveConns(); n != 0 {
		t.Fatalf("ActiveConns() = %d after Shutdown; want 0", n)
	}
	for _, c := range idle {
		c.SetReadDeadline(time.Now().Add(watchdog))
		if n, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("idle client after Shutdown: Read = %d, %v; want EOF", n, err)
		}
	}
}

// soakRound runs n clients at once and waits for all of them.
func soakRound(t *testing.T, addr string, round, n int, tally *soakTally) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			seed := uint64(round)<<32 | uint64(i)
			kind := soakKind(i % int(soakKinds))
			if err := soakClient(ctx, addr, kind, seed, tally); err != nil {
				t.Errorf("round %d client %d (%v, seed %#x): %v", round, i, kind, seed, err)
			}
		}()
	}
	wg.Wait()
}

// soakClient runs one client of kind, with a payload and faults drawn
// from seed, and checks what comes back.
func soakClient(ctx context.Context, addr string, kind soakKind, seed uint64, tally *soakTally) error {
	rng := rand.New(rand.NewPCG(seed, 0x50a4))
	payload := make([]byte, 1+rng.IntN(soakMaxBytes))
	for i := range payload {
		payload[i] = byte(rng.Uint32())
	}
	mode := []byte{'e'}
	if rng.IntN(2) == 0 {
		mode[0] = 'c'
	}
	raw, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	var f testutil.Faults
	f.Seed = seed + 1
	if rng.IntN(2) == 0 || kind == soakStream {
		f.MaxWrite = 1 + rng.IntN(4096)
	}
	switch kind {
	case soakSlow:
		f.MaxRead, f.Delay = 256+rng.IntN(2048), time.Duration(rng.IntN(300))*time.Microsecond
	case soakStream:
		f.MaxRead = 1 + rng.IntN(4096)
	case soakReset:
		f.ResetAfter = 1 + rng.Int64N(2*int64(len(payload))) // before the echo is all back
	}
	fc := testutil.NewFaultConn(raw, f)
	defer fc.Close()
	stop := context.AfterFunc(ctx, func() { fc.Close() }) // the round's watchdog
	defer stop()

	if kind == soakStream {
		return soakStreamClient(ctx, fc, mode, payload, tally)
	}
	writeErr := make(chan error, 1)
	go func() {
		_, err := fc.Write(append(mode, payload...))
		if err == nil && kind != soakEcho {
			err = fc.CloseWrite()
		}
		writeErr <- err
	}()
	var got []byte
	if kind == soakEcho || kind == soakReset {
		got = make([]byte, len(payload))
		var n int
		n, err = io.ReadFull(fc, got)
		got = got[:n]
	} else {
		got, err = io.ReadAll(fc)
	}
	werr := <-writeErr
	if kind == soakReset {
		if err == nil { // the reset came with the last byte: the next Read meets it
			_, err = fc.Read(make([]byte, 1))
		}
		if !errors.Is(err, testutil.ErrReset) && !errors.Is(werr, testutil.ErrReset) {
			return fmt.Errorf("the client did not reset: read %d bytes, %v; write %v", len(got), err, werr)
		}
		if len(got) > len(payload) || sha256.Sum256(got) != sha256.Sum256(payload[:len(got)]) {
			return errors.New("before the reset the echo was not a prefix of the payload")
		}
		tally.resets.Add(1)
		return nil
	}
	if werr != nil {
		return werr
	}
	if err != nil {
		return err
	}
	if len(got) != len(payload) || sha256.Sum256(got) != sha256.Sum256(payload) {
		return errors.New("the echo differs from the payload")
	}
	if kind == soakEcho {
		// The server ends the connection after this client closes; no
		// byte may come after the echo.
		if err := fc.CloseWrite(); err != nil {
			return err
		}
		if n, err := fc.Read(make([]byte, 1)); err != io.EOF {
			return fmt.Errorf("after the echo: Read = %d, %v; want EOF", n, err)
		}
	}
	tally.verified.Add(int64(len(got)))
	return nil
}

// soakStreamClient: the same exchange with the client as a stream.
func soakStreamClient(ctx context.Context, fc net.Conn, mode, payload []byte, tally *soakTally) error {
	r, w := chanstream.New(fc)
	defer func() {
		w.Abort()
		w.WaitClosed(ctx)
	}()
	w.Write(mode)
	w.Write(payload)
	if err := w.WriteEOF(); err != nil {
		return err
	}
	got, err := r.ReadAll(ctx)
	if err != nil {
		return err
	}
	if len(got) != len(payload) || sha256.Sum256(got) != sha256.Sum256(payload) {
		return errors.New("the echo differs from the payload")
	}
	w.Close()
	if err := w.WaitClosed(ctx); err != nil {
		return err
	}
	tally.verified.Add(int64(len(got)))
	return nil
}

// heapAfterGC returns the live heap after two collections (the second
// empties what sync.Pools kept through the first).
func heapAfterGC() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// raiseFileLimit raises the soft limit on open files to the hard limit
// when it is below n; it skips t when the hard limit is below n.
func raiseFileLimit(t *testing.T, n uint64) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Skip("no RLIMIT_NOFILE:", err)
	}
	if uint64(rl.Cur) >= n {
		return
	}
	if uint64(rl.Max) < n {
		t.Skipf("open files hard limit %d < %d", rl.Max, n)
	}
	rl.Cur = rl.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Skip("cannot raise the open files limit:", err)
	}
}
