//go:build unix

package server_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cspstream/streams/chanstream"
	"github.com/cspstream/streams/server"
	"github.com/cspstream/streams/testutil"
)

// The benchmarks here run side by side in one invocation, so that their
// ratios mean something on a shared machine:
//
//	go test -run '^$' -bench 'AcceptEcho|IdleConn' -benchtime=1x -count=5 ./server   # IdleConn
//	go test -run '^$' -bench 'AcceptEcho' -count=5 ./server

// plainServer is the baseline: a net.Listener accept loop and a goroutine
// per connection running serve. It returns the address and a stop func
// that closes the listener and the live connections and waits for every
// goroutine.
func plainServer(b *testing.B, serve func(net.Conn)) (string, func()) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	return ln.Addr().String(), testutil.Serve(b, ln, serve)
}

// streamConn runs h on c as a stream, in the connection's goroutine, and
// closes the stream after it, as the server does but without its
// tracking, contexts and recovery.
func streamConn(h server.Handler) func(net.Conn) {
	return func(c net.Conn) {
		r, w := chanstream.New(c, chanstream.WithServerSide())
		h(context.Background(), r, w)
		w.Close()
		<-w.Done()
	}
}

// serverStart starts the server under test with h.
func serverStart(b *testing.B, h server.Handler) (string, func()) {
	srv, err := server.Start(context.Background(), "127.0.0.1:0", h, server.WithLogger(quietLogger()))
	if err != nil {
		b.Fatal(err)
	}
	return srv.Addrs()[0].String(), func() {
		if err := srv.Shutdown(context.Background()); err != nil {
			b.Error(err)
		}
	}
}

// echoOnce is the client of BenchmarkAcceptEcho: connect, send, read the
// echo, and close with a reset so that no TIME_WAIT piles up on loopback.
func echoOnce(b *testing.B, addr string, msg, buf []byte) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Error(err)
		return
	}
	defer c.Close()
	c.(*net.TCPConn).SetLinger(0)
	if _, err := c.Write(msg); err != nil {
		b.Error(err)
		return
	}
	if _, err := io.ReadFull(c, buf); err != nil {
		b.Error(err)
	}
}

// BenchmarkAcceptEcho: connections accepted, echoed once and closed, per
// second; 8 clients at a time.
func BenchmarkAcceptEcho(b *testing.B) {
	msg := []byte("hello, world\n")
	run := func(b *testing.B, addr string) {
		b.SetParallelism(4)
		b.ReportAllocs()
		cpu0 := cpuTime()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			buf := make([]byte, len(msg))
			for pb.Next() {
				echoOnce(b, addr, msg, buf)
			}
		})
		b.StopTimer()
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "conns/s")
		// CPU time of the whole process (clients included) per connection:
		// steadier than wall time on a shared machine.
		b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N)/1e3, "cpu-µs/conn")
	}
	b.Run("plain", func(b *testing.B) {
		addr, stop := plainServer(b, func(c net.Conn) {
			defer c.Close()
			buf := make([]byte, 100)
			n, err := c.Read(buf)
			if err == nil {
				c.Write(buf[:n])
			}
		})
		defer stop()
		run(b, addr)
	})
	echo := func(ctx context.Context, r *chanstream.Reader, w *chanstream.Writer) error {
		data, err := r.ReadUpTo(ctx, 100)
		if err != nil {
			return nil
		}
		_, err = w.Write(data)
		return err
	}
	// chanstream: the plain accept loop with the stream and handler the
	// server runs, so that server − chanstream is the server layer's cost.
	b.Run("chanstream", func(b *testing.B) {
		addr, stop := plainServer(b, streamConn(echo))
		defer stop()
		run(b, addr)
	})
	b.Run("server", func(b *testing.B) {
		addr, stop := serverStart(b, echo)
		defer stop()
		run(b, addr)
	})
}

// BenchmarkAcceptEchoPaired runs the three servers of BenchmarkAcceptEcho
// in alternation, a batch of connections each in turn, so that a change in
// the machine's load hits all three alike; it reports each one's rate and
// the ratios to plain. One op is one batch per server.
func BenchmarkAcceptEchoPaired(b *testing.B) {
	const batch, clients = 200, 8
	msg := []byte("hello, world\n")
	echo := func(ctx context.Context, r *chanstream.Reader, w *chanstream.Writer) error {
		data, err := r.ReadUpTo(ctx, 100)
		if err != nil {
			return nil
		}
		_, err = w.Write(data)
		return err
	}
	plainAddr, stopPlain := plainServer(b, func(c net.Conn) {
		defer c.Close()
		buf := make([]byte, 100)
		n, err := c.Read(buf)
		if err == nil {
			c.Write(buf[:n])
		}
	})
	defer stopPlain()
	streamAddr, stopStream := plainServer(b, streamConn(echo))
	defer stopStream()
	serverAddr, stopServer := serverStart(b, echo)
	defer stopServer()

	names := []string{"plain", "chanstream", "server"}
	addrs := []string{plainAddr, streamAddr, serverAddr}
	var elapsed [3]time.Duration
	runBatch := func(addr string) time.Duration {
		start := time.Now()
		var wg sync.WaitGroup
		for range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				buf := make([]byte, len(msg))
				for range batch / clients {
					echoOnce(b, addr, msg, buf)
				}
			}()
		}
		wg.Wait()
		return time.Since(start)
	}
	b.ResetTimer()
	for i := range b.N {
		for k := range 3 {
			v := (i + k) % 3 // rotate who goes first
			elapsed[v] += runBatch(addrs[v])
		}
	}
	b.StopTimer()
	rate := func(v int) float64 { return float64(b.N*batch) / elapsed[v].Seconds() }
	for v, name := range names {
		b.ReportMetric(rate(v), name+"-conns/s")
	}
	b.ReportMetric(rate(1)/rate(0), "chanstream/plain")
	b.ReportMetric(rate(2)/rate(0), "server/plain")
}

// cpuTime returns the CPU time (user+system) the process has used, in ns.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// idleConns is how many idle connections BenchmarkIdleConn holds.
const idleConns = 5000

// BenchmarkIdleConn measures what an idle connection costs the process:
// heap (after GC), goroutine stacks, and RSS, per connection, with
// idleConns connections open, each waiting for a line. "bare" holds
// accepted net.Conns with no goroutine: it is the cost of the two sockets
// (client and server end, both in this process), which the other two
// include as well. Run it with -benchtime=1x.
func BenchmarkIdleConn(b *testing.B) {
	raiseFDLimit(b, 2*idleConns+200)
	b.Run("bare", func(b *testing.B) {
		started := make(chan struct{}, idleConns)
		var mu sync.Mutex
		var held []net.Conn // accepted and kept, with no goroutine
		addr, stop := plainServer(b, func(c net.Conn) {
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
			started <- struct{}{}
		})
		measureIdle(b, addr, started)
		stop()
		for _, c := range held {
			c.Close()
		}
	})
	b.Run("plain-bufio", func(b *testing.B) {
		started := make(chan struct{}, idleConns)
		addr, stop := plainServer(b, func(c net.Conn) {
			br := bufio.NewReader(c)
			started <- struct{}{}
			br.ReadString('\n')
		})
		measureIdle(b, addr, started)
		stop()
	})
	b.Run("chanstream", func(b *testing.B) {
		started := make(chan struct{}, idleConns)
		addr, stop := plainServer(b, streamConn(func(ctx context.Context, r *chanstream.Reader, w *chanstream.Writer) error {
			started <- struct{}{}
			_, err := r.ReadLine(ctx)
			return err
		}))
		measureIdle(b, addr, started)
		stop()
	})
	b.Run("server", func(b *testing.B) {
		started := make(chan struct{}, idleConns)
		addr, stop := serverStart(b, func(ctx context.Context, r *chanstream.Reader, w *chanstream.Writer) error {
			started <- struct{}{}
			_, err := r.ReadLine(ctx)
			return err
		})
		measureIdle(b, addr, started)
		stop()
	})
}

func measureIdle(b *testing.B, addr string, started chan struct{}) {
	base := snapshot()
	conns := make([]net.Conn, 0, idleConns)
	defer func() {
		for _, c := range conns {
			c.(*net.TCPConn).SetLinger(0)
			c.Close()
		}
	}()
	for range idleConns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		conns = append(conns, c)
		<-started
	}
	now := snapshot()
	per := func(a, z uint64) float64 { return (float64(z) - float64(a)) / idleConns }
	b.ReportMetric(per(base.heap, now.heap), "heap-B/conn")
	b.ReportMetric(per(base.stack, now.stack), "stack-B/conn")
	b.ReportMetric(per(base.rss, now.rss), "rss-B/conn")
	b.ReportMetric(float64(now.goroutines-base.goroutines)/idleConns, "goroutines/conn")
}

type memSnapshot struct {
	heap, stack, rss uint64
	goroutines       int
}

func snapshot() memSnapshot {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return memSnapshot{heap: ms.HeapAlloc, stack: ms.StackInuse, rss: rss(), goroutines: runtime.NumGoroutine()}
}

// rss reads VmRSS from /proc/self/status, in bytes; 0 where there is none.
func rss() uint64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// raiseFDLimit raises the soft limit on open files to the hard limit when
// it is below n; it skips b when the hard limit is below n. (The
// conversions: Rlimit's fields are int64 on some systems.)
func raiseFDLimit(b *testing.B, n uint64) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		b.Skip("no RLIMIT_NOFILE:", err)
	}
	if uint64(rl.Cur) >= n {
		return
	}
	if uint64(rl.Max) < n {
		b.Skipf("open files hard limit %d < %d", rl.Max, n)
	}
	rl.Cur = rl.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		b.Skip("cannot raise the open files limit:", err)
	}
}
