package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// The load client: the same plain net.Conn code against every server.
// Every byte sent is a byte of pattern at a known offset, and every byte
// echoed is compared with it.

// pattern is the pseudo-random data every message and stream is cut from;
// its period (1 MiB + 4093) is divided by no message size.
var pattern = sync.OnceValue(func() []byte {
	rng := rand.New(rand.NewPCG(7, 11))
	b := make([]byte, 1<<20+4093)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
})

// result is one run of one scenario against one server.
type result struct {
	roundTrips int64         // pingpong: completed round trips
	bytes      int64         // payload bytes echoed back and verified
	elapsed    time.Duration // from start until the last conn finished
	hist       histogram     // pingpong round-trip latency
	serverCPU  time.Duration // CPU time the server used during the run; < 0 unknown
}

func (r result) rtps() float64 { return float64(r.roundTrips) / r.elapsed.Seconds() }
func (r result) mbps() float64 { return float64(r.bytes) / 1e6 / r.elapsed.Seconds() }

// cpuPerMB is the server's CPU time per MB echoed, in µs.
func (r result) cpuPerMB() float64 {
	return float64(r.serverCPU.Microseconds()) / (float64(r.bytes) / 1e6)
}

// slack bounds how long a conn may take past the run's end before it is
// cut off (a server that stopped answering fails the run instead of
// hanging it).
const slack = 10 * time.Second

// dialAll opens n connections to addr.
func dialAll(ctx context.Context, addr string, n int) ([]net.Conn, error) {
	var d net.Dialer
	conns := make([]net.Conn, 0, n)
	for range n {
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			closeAll(conns)
			return nil, err
		}
		conns = append(conns, c)
	}
	return conns, nil
}

func closeAll(conns []net.Conn) {
	for _, c := range conns {
		c.Close()
	}
}

// pingpong runs n connections for d: each sends a size-byte message,
// reads the echo, checks it, and records the round trip's latency.
func pingpong(ctx context.Context, addr string, n, size int, d time.Duration) (result, error) {
	pat := pattern()
	conns, err := dialAll(ctx, addr, n)
	if err != nil {
		return result{}, err
	}
	defer closeAll(conns)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		res   result
		first error
	)
	start := time.Now()
	end := start.Add(d)
	for i, c := range conns {
		_ = c.SetDeadline(end.Add(slack))
		wg.Add(1)
		go func() {
			defer wg.Done()
			var h histogram
			got := make([]byte, size)
			rts := int64(0)
			off := i * 7919
			var err error
			for now := time.Now(); now.Before(end) && ctx.Err() == nil; {
				off = (off + size) % (len(pat) - size)
				msg := pat[off : off+size]
				if _, err = c.Write(msg); err != nil {
					break
				}
				if _, err = io.ReadFull(c, got); err != nil {
					break
				}
				if !bytes.Equal(got, msg) {
					err = fmt.Errorf("conn %d: round trip %d: echo differs from what was sent", i, rts)
					break
				}
				t := time.Now()
				h.add(t.Sub(now))
				now = t
				rts++
			}
			mu.Lock()
			defer mu.Unlock()
			res.roundTrips += rts
			res.hist.merge(&h)
			if err != nil && first == nil {
				first = err
			}
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	res.bytes = res.roundTrips * int64(size)
	return res, first
}

// streamWindow bounds the bytes a stream connection has sent and not yet
// had back: enough to keep every buffer on the way full, small enough that
// the run ends soon after d even on a starved CPU.
const streamWindow = 4 << 20

// stream runs n connections for d: each sends the pattern in block-sized
// writes, at most streamWindow ahead of its echo, while a second goroutine
// reads and checks the echo; after d the sender half-closes and the reader
// reads to EOF.
func stream(ctx context.Context, addr string, n, block int, d time.Duration) (result, error) {
	pat := pattern()
	conns, err := dialAll(ctx, addr, n)
	if err != nil {
		return result{}, err
	}
	defer closeAll(conns)
	var (
		wg       sync.WaitGroup
		received atomic.Int64
		errs     = make([]error, 2*n)
	)
	start := time.Now()
	end := start.Add(d)
	for i, c := range conns {
		_ = c.SetDeadline(end.Add(slack))
		origin := i * 7919
		var sent, got atomic.Int64
		progress := make(chan struct{}, 1) // receiver → sender: got grew; coalescing; never closed
		gone := make(chan struct{})        // closed by the receiver as it returns
		wg.Add(2)
		go func() { // sender
			defer wg.Done()
			pos := origin
			for time.Now().Before(end) && ctx.Err() == nil {
				for sent.Load()-got.Load() > streamWindow {
					select {
					case <-progress:
					case <-gone:
						return // the receiver reports why
					case <-ctx.Done():
						errs[2*i] = ctx.Err()
						return
					case <-time.After(slack):
						errs[2*i] = fmt.Errorf("conn %d: no echo for %v", i, slack)
						return
					}
				}
				chunk := pat[pos:min(pos+block, len(pat))]
				k, err := c.Write(chunk)
				sent.Add(int64(k))
				if err != nil {
					errs[2*i] = err
					return
				}
				pos = (pos + k) % len(pat)
			}
			errs[2*i] = c.(*net.TCPConn).CloseWrite()
		}()
		go func() { // receiver
			defer wg.Done()
			defer close(gone)
			buf := make([]byte, 64<<10)
			pos := origin
			for {
				k, err := c.Read(buf)
				for p := buf[:k]; len(p) > 0; {
					want := pat[pos:min(pos+len(p), len(pat))]
					if !bytes.Equal(p[:len(want)], want) {
						errs[2*i+1] = fmt.Errorf("conn %d: echo differs from what was sent near byte %d", i, got.Load())
						return
					}
					p = p[len(want):]
					got.Add(int64(len(want)))
					pos = (pos + len(want)) % len(pat)
				}
				received.Add(int64(k))
				select {
				case progress <- struct{}{}:
				default:
				}
				if err == io.EOF {
					if s, g := sent.Load(), got.Load(); g != s {
						errs[2*i+1] = fmt.Errorf("conn %d: %d bytes echoed of %d sent", i, g, s)
					}
					return
				}
				if err != nil {
					errs[2*i+1] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	res := result{bytes: received.Load(), elapsed: time.Since(start)}
	return res, errors.Join(errs...)
}

// idleConns opens n connections, makes one verified round trip on each
// (so the server has read and written on all of them), and returns them
// idle. The caller closes them.
func idleConns(ctx context.Context, addr string, n int) ([]net.Conn, error) {
	pat := pattern()
	conns, err := dialAll(ctx, addr, n)
	if err != nil {
		return nil, err
	}
	got := make([]byte, 64)
	for i, c := range conns {
		_ = c.SetDeadline(time.Now().Add(slack))
		msg := pat[i : i+len(got)]
		if _, err := c.Write(msg); err != nil {
			closeAll(conns)
			return nil, err
		}
		if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, msg) {
			closeAll(conns)
			return nil, fmt.Errorf("idle conn %d: echo %v", i, errors.Join(err, errors.New("differs")))
		}
		_ = c.SetDeadline(time.Time{})
	}
	return conns, nil
}

// histogram counts latencies in buckets about 5 % wide, from 1 ns to
// minutes: bounded memory however long the run.
type histogram struct {
	counts [600]int64
	n      int64
}

const histScale = 20 // buckets per factor e

func (h *histogram) add(d time.Duration) {
	b := 0
	if d > 1 {
		b = min(int(math.Log(float64(d))*histScale), len(h.counts)-1)
	}
	h.counts[b]++
	h.n++
}

func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
}

// quantile returns the latency below which a fraction q of the samples
// fall (the middle of its bucket), or 0 without samples.
func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := int64(math.Ceil(q * float64(h.n)))
	var seen int64
	for i, c := range h.counts {
		seen += c
		if seen >= max(rank, 1) {
			return time.Duration(math.Exp((float64(i) + 0.5) / histScale))
		}
	}
	return 0
}
