package chanstream_test

// Hostile peers and faults, through the exported API only.

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cspstream/streams/chanstream"
	"github.com/cspstream/streams/testutil"
)

// readChunk is the most one read of the connection adds to a Reader's
// buffer (the pool's chunk): the "plus one read chunk" of the memory bound.
const readChunk = 64 << 10

// eventually polls cond until it holds, for at most 5 s: for states that
// no channel announces (AtEOF, Err).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after 5 s: %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestHostileLongLine: a peer sends a 256 MiB line with no newline. Every
// ReadLine meanwhile is a *LimitOverrunError that discards a bounded part
// of it; the Reader never holds more than 2×limit plus a chunk and the
// heap stays far below the line's size; once the line ends, the
// connection is usable: the next line arrives whole and an answer goes
// back.
func TestHostileLongLine(t *testing.T) {
	const (
		lineSize = 256 << 20
		limit    = chanstream.DefaultLimit
	)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cc, sc := testutil.TCPPair(t)
	r, w := chanstream.New(sc, chanstream.WithServerSide())
	defer func() {
		w.Abort()
		<-w.Done()
	}()
	peerErr := make(chan error, 1)
	go func() {
		peerErr <- func() error {
			block := bytes.Repeat([]byte("x"), 1<<20)
			for range lineSize / len(block) {
				if _, err := cc.Write(block); err != nil {
					return err
				}
			}
			if _, err := cc.Write([]byte("\nhello\n")); err != nil {
				return err
			}
			cc.SetReadDeadline(time.Now().Add(time.Minute))
			answer := make([]byte, 3)
			if _, err := io.ReadFull(cc, answer); err != nil || string(answer) != "ok\n" {
				return fmt.Errorf("answer %q, %v; want \"ok\\n\"", answer, err)
			}
			return nil
		}()
	}()

	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	heapBase, heapPeak := ms.HeapAlloc, ms.HeapAlloc
	// Buffered, sampled while ReadLine runs, not only between calls.
	sampled := make(chan int, 1)
	stopSampling := make(chan struct{})
	go func() {
		most := 0
		tick := time.NewTicker(100 * time.Microsecond)
		defer tick.Stop()
		for {
			most = max(most, r.Buffered())
			select {
			case <-tick.C:
			case <-stopSampling:
				sampled <- most
				return
			}
		}
	}()
	overruns, maxBuffered, tail := 0, 0, false
	for {
		line, err := r.ReadLine(ctx)
		maxBuffered = max(maxBuffered, r.Buffered())
		var loe *chanstream.LimitOverrunError
		if errors.As(err, &loe) {
			if overruns++; overruns%64 == 0 {
				runtime.ReadMemStats(&ms)
				heapPeak = max(heapPeak, ms.HeapAlloc)
			}
			continue
		}
		if err != nil {
			close(stopSampling)
			t.Fatalf("ReadLine after %d overruns: %v", overruns, err)
		}
		if string(line) == "hello\n" {
			break
		}
		// The line's last part, if the discards left less than the limit
		// of it before its "\n": a line of x's, once.
		// (A line may be limit+1 bytes: asyncio's readuntil accepts a
		// separator that starts at the limit.)
		if tail || len(line) > limit+1 || len(bytes.Trim(line, "x")) != 1 || line[len(line)-1] != '\n' {
			close(stopSampling)
			t.Fatalf("ReadLine() = %d bytes %q…; want an overrun, the line's tail once, or \"hello\\n\"", len(line), line[:min(len(line), 20)])
		}
		tail = true
	}
	close(stopSampling)
	maxBuffered = max(maxBuffered, <-sampled)
	if bound := 2*limit + readChunk; maxBuffered > bound {
		t.Errorf("the Reader held %d bytes; want at most 2×limit+chunk = %d", maxBuffered, bound)
	}
	// Each overrun discards at most what the Reader holds: 256 MiB takes
	// over a thousand of them, not a few big ones.
	if min := lineSize / (2*limit + readChunk); overruns < min {
		t.Errorf("%d overruns for a %d-byte line; want at least %d (each discards at most 2×limit+chunk)", overruns, lineSize, min)
	}
	// The heap's peak counts garbage too: under the race detector, which
	// makes sync.Pool drop a quarter of what it is given, chunks become
	// garbage faster than a collection is due, so the bound holds without it.
	if peak := heapPeak - min(heapPeak, heapBase); peak > 64<<20 && !chanstream.RaceEnabled {
		t.Errorf("the heap grew by %d MiB reading a 256 MiB line", peak>>20)
	}
	w.WriteString("ok\n")
	if err := w.Drain(ctx); err != nil {
		t.Fatalf("Drain: %v", err)
	}
	if err := <-peerErr; err != nil {
		t.Fatalf("peer: %v", err)
	}
	t.Logf("%d overruns, at most %d bytes buffered, heap peak +%d KiB", overruns, maxBuffered, (heapPeak-min(heapPeak, heapBase))>>10)
}

// neverReads returns a stream whose peer never reads (its end stays open
// until the test ends), with the write buffer far above high water.
func neverReads(t *testing.T, opts ...chanstream.Option) (*chanstream.Reader, *chanstream.Writer) {
	t.Helper()
	cc, _ := testutil.TCPPair(t)
	r, w := chanstream.New(cc, opts...)
	t.Cleanup(func() {
		w.Abort()
		<-w.Done()
	})
	w.Write(make([]byte, 32<<20)) // more than the socket buffers hold
	return r, w
}

// TestPeerNeverReads: against a peer that never reads, Drain returns its
// ctx's error when the ctx ends; Close and Abort return at once;
// WaitClosed after Close waits for the flush that cannot finish until its
// ctx ends, and after Abort returns.
func TestPeerNeverReads(t *testing.T) {
	_, w := neverReads(t)
	start := time.Now() // before the ctx's timer starts: a lower bound for its end
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := w.Drain(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Drain = %v; want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d < 200*time.Millisecond || d > 5*time.Second {
		t.Fatalf("Drain returned after %v; want its ctx's 200 ms", d)
	}
	start = time.Now()
	w.Close()
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Close took %v; it must not wait for the flush", d)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel2()
	if err := w.WaitClosed(ctx2); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitClosed during a flush that cannot finish = %v; want context.DeadlineExceeded", err)
	}
	start = time.Now()
	w.Abort()
	ctx3, cancel3 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel3()
	if err := w.WaitClosed(ctx3); err != nil {
		t.Fatalf("WaitClosed after Abort = %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Abort and WaitClosed took %v", d)
	}
}

// TestPeerNeverReadsTLS: over TLS, Close to a peer that never reads ends
// within WithTLSShutdownTimeout: the flush and the close_notify give up.
func TestPeerNeverReadsTLS(t *testing.T) {
	srvCfg, cliCfg := testutil.SelfSignedTLS(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cc, sc := testutil.TCPPair(t)
	hs := make(chan error, 1)
	go func() { hs <- tls.Server(sc, srvCfg).HandshakeContext(ctx) }() // then it never reads
	cfg := cliCfg.Clone()
	cfg.ServerName = "localhost"
	_, w, err := chanstream.NewContext(ctx, cc, chanstream.WithTLS(cfg), chanstream.WithTLSShutdownTimeout(300*time.Millisecond))
	if err != nil {
		t.Fatalf("NewContext with TLS: %v", err)
	}
	if err := <-hs; err != nil {
		t.Fatalf("server handshake: %v", err)
	}
	w.Write(make([]byte, 32<<20))
	start := time.Now()
	w.Close()
	if err := w.WaitClosed(ctx); err != nil {
		t.Fatalf("WaitClosed = %v; want the shutdown timeout to end the stream", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Close over TLS to a peer that never reads took %v; want about the 300 ms shutdown timeout", d)
	}
}

// TestCancelStorm: 32 goroutines read one Reader with every read mode,
// each read under a ctx that ends after 0 to 300 µs, while the peer sends
// records in random pieces with delays. Most reads are cancelled, and yet
// every record arrives exactly once and whole: a cancelled read consumes
// nothing. Over a plain socket and through FaultConns (a reader goroutine).
func TestCancelStorm(t *testing.T) {
	const (
		records = 5000
		readers = 32
	)
	var in bytes.Buffer
	for i := range records {
		fmt.Fprintf(&in, "%07d\n", i)
	}
	for _, faults := range []bool{false, true} {
		t.Run(fmt.Sprintf("faults=%v", faults), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			var client, server testutil.End
			if faults {
				client, server = testutil.FaultLoopback(t, testutil.Faults{MaxWrite: 50, Delay: 20 * time.Microsecond}, testutil.Faults{MaxRead: 13})
			} else {
				client, server = testutil.Loopback(t)
			}
			// Paced, so that readers wait between pieces and their
			// contexts end mid-wait (pacing, not synchronisation).
			paced := make(chan struct{})
			go func() {
				defer close(paced)
				data := in.Bytes()
				for len(data) > 0 {
					n := min(len(data), 800)
					client.W.Write(data[:n])
					data = data[n:]
					time.Sleep(100 * time.Microsecond)
				}
				client.W.WriteEOF()
			}()
			defer func() { <-paced }()
			var (
				mu        sync.Mutex
				got       = make([]int, records)
				cancelled int
				wg        sync.WaitGroup
			)
			errs := make(chan error, readers)
			for g := range readers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					rng := rand.New(rand.NewPCG(uint64(g), 7))
					for ctx.Err() == nil {
						rctx, rcancel := context.WithTimeout(ctx, time.Duration(rng.IntN(300))*time.Microsecond)
						var b []byte
						var err error
						switch rng.IntN(3) {
						case 0:
							b, err = server.R.ReadLine(rctx)
						case 1:
							b, err = server.R.ReadExactly(rctx, 8)
						case 2:
							b, err = server.R.ReadUntil(rctx, []byte("\n"))
						}
						rcancel()
						var ire *chanstream.IncompleteReadError
						switch {
						case err == nil:
						case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
							if len(b) != 0 {
								errs <- fmt.Errorf("a cancelled read returned %q", b)
								return
							}
							mu.Lock()
							cancelled++
							mu.Unlock()
							continue
						case err == io.EOF || errors.As(err, &ire) && len(ire.Partial) == 0:
							errs <- nil
							return
						default:
							errs <- fmt.Errorf("read: %q, %v", b, err)
							return
						}
						var n int
						if len(b) != 8 || b[7] != '\n' {
							errs <- fmt.Errorf("a torn record %q", b)
							return
						}
						if _, err := fmt.Sscanf(string(b[:7]), "%d", &n); err != nil || n < 0 || n >= records {
							errs <- fmt.Errorf("a torn record %q", b)
							return
						}
						mu.Lock()
						got[n]++
						mu.Unlock()
					}
					errs <- ctx.Err()
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			for i, n := range got {
				if n != 1 {
					t.Fatalf("record %d arrived %d times; want exactly once", i, n)
				}
			}
			if cancelled < readers {
				t.Fatalf("only %d reads were cancelled: no storm", cancelled)
			}
			t.Logf("%d records exactly once; %d reads cancelled", records, cancelled)
		})
	}
}

// TestPeerResetWhileNobodyReads: a peer's reset is seen without a read
// (API.md, "Peer gone while nobody reads"): Err becomes non-nil, and
// Drain, with nothing queued, returns the reset.
func TestPeerResetWhileNobodyReads(t *testing.T) {
	cc, sc := testutil.TCPPair(t)
	r, w := chanstream.New(sc, chanstream.WithServerSide())
	defer func() {
		w.Abort()
		<-w.Done()
	}()
	testutil.NewFaultConn(cc, testutil.Faults{}).Reset()
	eventually(t, "Err() is still nil after the peer's reset, with nobody reading", func() bool { return r.Err() != nil })
	if err := r.Err(); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("Err() = %v; want ECONNRESET", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := w.Drain(ctx); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("Drain with nothing queued after the peer's reset = %v; want ECONNRESET", err)
	}
}

// TestPeerFINWhileNobodyReads: a peer's FIN is seen without a read: AtEOF
// turns true once what it sent before is read — and not before — and Err
// stays nil.
func TestPeerFINWhileNobodyReads(t *testing.T) {
	cc, sc := testutil.TCPPair(t)
	r, w := chanstream.New(sc, chanstream.WithServerSide())
	defer func() {
		w.Abort()
		<-w.Done()
	}()
	if _, err := cc.Write([]byte("tail")); err != nil {
		t.Fatal(err)
	}
	if err := cc.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the bytes before the FIN are not buffered, with nobody reading", func() bool { return r.Buffered() == 4 })
	if r.AtEOF() {
		t.Fatal("AtEOF() = true with 4 bytes unread")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if b, err := r.ReadUpTo(ctx, 10); string(b) != "tail" || err != nil {
		t.Fatalf("ReadUpTo() = %q, %v; want \"tail\", nil", b, err)
	}
	eventually(t, "AtEOF() is false after the peer's FIN and every byte read", r.AtEOF)
	if err := r.Err(); err != nil {
		t.Fatalf("Err() = %v after a FIN; want nil", err)
	}
}

// xSource is an endless line without a newline: it fills every read with
// 'x' and allocates nothing.
type xSource struct{}

func (xSource) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	return len(p), nil
}

// TestReadLineDiscardDoesNotAllocate: ReadLine over an overlong line
// discards as asyncio does, over and over, and reuses the buffer it grew
// rather than allocating as much as it discards (it allocated about two
// bytes per byte discarded before).
func TestReadLineDiscardDoesNotAllocate(t *testing.T) {
	r := chanstream.NewReader(xSource{})
	defer r.FeedEOF()
	ctx := context.Background()
	const discard = 64 << 20
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	n, overruns := 0, 0
	for n < discard {
		_, err := r.ReadLine(ctx)
		var loe *chanstream.LimitOverrunError
		if !errors.As(err, &loe) {
			t.Fatalf("ReadLine = %v; want a LimitOverrunError", err)
		}
		n += loe.Consumed
		overruns++
	}
	runtime.ReadMemStats(&after)
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("%d overruns discarded %d MiB; %d KiB allocated", overruns, n>>20, allocated>>10)
	if chanstream.RaceEnabled {
		return // the race detector's sync.Pool drops a quarter of what it is given
	}
	if allocated > discard/16 {
		t.Fatalf("discarding %d MiB allocated %d KiB; want at most %d KiB (no allocation per byte discarded)",
			n>>20, allocated>>10, discard/16>>10)
	}
}
