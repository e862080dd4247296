package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cspstream/streams/testutil"
)

func TestMain(m *testing.M) {
	if os.Getenv("PROXY_RUN_MAIN") == "1" { // the test binary as the command itself
		os.Args = append([]string{"proxy"}, strings.Fields(os.Getenv("PROXY_ARGS"))...)
		main()
		os.Exit(0)
	}
	testutil.VerifyTestMain(m)
}

// TestCommand runs the command with its flags, proxies a connection
// through it, and stops it with SIGINT.
func TestCommand(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tg := startTarget(t, echo)
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "PROXY_RUN_MAIN=1", "PROXY_ARGS=-listen 127.0.0.1:0 -target "+tg.ln.Addr().String())
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := false
	defer func() {
		if !waited {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()
	// The first log line names the address: "proxy: [127.0.0.1:port] → target".
	logs := bufio.NewReader(stderr)
	line, err := logs.ReadString('\n')
	if err != nil {
		t.Fatalf("no log line from the command: %v", err)
	}
	i, j := strings.Index(line, "["), strings.Index(line, "]")
	if i < 0 || j < i {
		t.Fatalf("log line %q names no address", line)
	}
	c := dial(t, line[i+1:j])
	c.SetDeadline(time.Now().Add(20 * time.Second))
	c.Write([]byte("through the command"))
	c.CloseWrite()
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "through the command" {
		t.Fatalf("echo through the command: %q, %v", got, err)
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, logs) // to the EOF of the command's exit
	waited = true
	if err := cmd.Wait(); err != nil {
		t.Fatalf("command after SIGINT: %v", err)
	}
}

var quiet = slog.New(slog.DiscardHandler)

// target is a test server on 127.0.0.1 running serve for each connection.
type target struct{ ln net.Listener }

func startTarget(t *testing.T, serve func(c *net.TCPConn)) *target {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	testutil.Serve(t, ln, func(c net.Conn) { serve(c.(*net.TCPConn)) })
	return &target{ln: ln}
}

// startProxy runs the proxy in front of tg until the test ends.
func startProxy(t *testing.T, ctx context.Context, targetAddr string) string {
	t.Helper()
	srv, err := start(ctx, "127.0.0.1:0", targetAddr, quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return srv.Addrs()[0].String()
}

func dial(t *testing.T, addr string) *net.TCPConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

// echo copies everything back, and half-closes at the client's EOF.
func echo(c *net.TCPConn) {
	io.Copy(c, c)
	c.CloseWrite()
}

// TestProxyParallel runs 64 connections at once through the proxy to an
// echo target, each with its own random bytes, and compares checksums.
func TestProxyParallel(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tg := startTarget(t, echo)
	addr := startProxy(t, ctx, tg.ln.Addr().String())

	const conns = 64
	size := 1 << 20
	if testing.Short() || raceEnabled {
		size = 128 << 10
	}
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for i := range conns {
		c := dial(t, addr)
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(i), 7))
			data := make([]byte, size/2+rng.IntN(size))
			for j := range data {
				data[j] = byte(rng.Uint32())
			}
			c.SetDeadline(time.Now().Add(50 * time.Second))
			sent := make(chan error, 1)
			go func() {
				// Writes of varied sizes, then the half-close.
				for rest := data; len(rest) > 0; {
					n := min(len(rest), 1+rng.IntN(64<<10))
					if _, err := c.Write(rest[:n]); err != nil {
						sent <- err
						return
					}
					rest = rest[n:]
				}
				sent <- c.CloseWrite()
			}()
			h := sha256.New()
			n, err := io.Copy(h, c) // to the EOF the proxy passes back
			if werr := <-sent; werr != nil {
				errs <- werr
				return
			}
			if err != nil || n != int64(len(data)) || !bytes.Equal(h.Sum(nil), sum(data)) {
				errs <- errors.Join(err, errors.New("echo through the proxy differs"))
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func sum(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}

// TestProxyHalfCloseClientFirst: the client stops writing first; the
// target sees EOF while it can still answer.
func TestProxyHalfCloseClientFirst(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tg := startTarget(t, func(c *net.TCPConn) {
		req, err := io.ReadAll(c) // until the client's half-close
		if err != nil {
			return
		}
		c.Write(append([]byte("got "), req...))
		c.CloseWrite()
		io.Copy(io.Discard, c)
	})
	c := dial(t, startProxy(t, ctx, tg.ln.Addr().String()))
	c.SetDeadline(time.Now().Add(15 * time.Second))
	c.Write([]byte("question"))
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "got question" {
		t.Fatalf("ReadAll() = %q, %v; want %q, nil", got, err, "got question")
	}
}

// TestProxyHalfCloseTargetFirst: the target stops writing first (a
// banner, then EOF); the client's direction goes on after it.
func TestProxyHalfCloseTargetFirst(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	fromClient := make(chan string, 1)
	tg := startTarget(t, func(c *net.TCPConn) {
		c.Write([]byte("banner"))
		c.CloseWrite()
		b, _ := io.ReadAll(c)
		fromClient <- string(b)
	})
	c := dial(t, startProxy(t, ctx, tg.ln.Addr().String()))
	c.SetDeadline(time.Now().Add(15 * time.Second))
	got, err := io.ReadAll(c) // the target's EOF arrives while we still write
	if err != nil || string(got) != "banner" {
		t.Fatalf("ReadAll() = %q, %v; want %q, nil", got, err, "banner")
	}
	if _, err := c.Write([]byte("after the target's EOF")); err != nil {
		t.Fatalf("Write after the target's half-close: %v", err)
	}
	c.CloseWrite()
	select {
	case s := <-fromClient:
		if s != "after the target's EOF" {
			t.Fatalf("target got %q", s)
		}
	case <-ctx.Done():
		t.Fatal("target got nothing")
	}
}

// A target that refuses the connection: the client's connection ends.
func TestProxyTargetDown(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := ln.Addr().String()
	ln.Close()
	c := dial(t, startProxy(t, ctx, down))
	c.SetDeadline(time.Now().Add(15 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("Read from a proxied connection to a closed port succeeded")
	} else if errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
		t.Fatalf("connection not ended: %v", err)
	}
}

// Shutdown with connections open: the proxy aborts them and leaves no
// goroutine behind (VerifyTestMain checks).
func TestProxyShutdown(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tg := startTarget(t, echo)
	srv, err := start(ctx, "127.0.0.1:0", tg.ln.Addr().String(), quiet)
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, srv.Addrs()[0].String())
	c.SetDeadline(time.Now().Add(15 * time.Second))
	c.Write([]byte("ping"))
	if _, err := io.ReadFull(c, make([]byte, 4)); err != nil {
		t.Fatalf("echo before shutdown: %v", err)
	}
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if _, err := io.ReadAll(c); isTimeout(err) {
		t.Fatalf("client connection still open after Shutdown")
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
