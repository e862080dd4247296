package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cspstream/streams/testutil"
)

// TestMain doubles as the server process: run re-executes the test binary
// with serveEnv set, as the command re-executes itself.
func TestMain(m *testing.M) {
	if kind := os.Getenv(serveEnv); kind != "" {
		if err := serveChild(kind); err != nil {
			fmt.Fprintln(os.Stderr, "echobench server:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	testutil.VerifyTestMain(m)
}

// TestRunTable runs the whole command briefly and checks the tables: a row
// per scenario and server, numbers where numbers belong, ratio 1.00 for
// the baselines, and every server's echo verified.
func TestRunTable(t *testing.T) {
	if testing.Short() {
		t.Skip("starts server processes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := config{
		d: 150 * time.Millisecond, rounds: 2, conns: 4, small: 1 << 10, big: 16 << 10,
		streamConns: 2, block: 64 << 10, idle: 20, python: true, copy: true, alloc: true,
		serverCPU: -1,
	}
	var out bytes.Buffer
	if err := run(ctx, &out, c); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	text := out.String()
	t.Logf("\n%s", text)

	servers := []string{kindPlain, kindStreams, kindCopy, kindPlainAlloc}
	if _, err := exec.LookPath("python3"); err == nil {
		servers = append(servers, kindAsyncio)
	}
	lines := strings.Split(text, "\n")
	row := func(prefix, server string) []string {
		t.Helper()
		for _, l := range lines {
			f := strings.Fields(l)
			if strings.HasPrefix(strings.TrimSpace(l), prefix) && len(f) > 0 && slicesContains(f, server) {
				return f
			}
		}
		t.Fatalf("no %q row for server %s in:\n%s", prefix, server, text)
		return nil
	}
	num := regexp.MustCompile(`^[0-9]+(\.[0-9]+)?$`)
	dur := regexp.MustCompile(`^[0-9.]+(µs|ms|s|ns)$`)

	// Idle: bufio is the baseline; python has no Go heap.
	for _, k := range append([]string{kindBufio}, servers...) {
		f := idleRow(t, lines, k)
		for i, v := range f[1:] {
			if !num.MatchString(strings.TrimPrefix(v, "-")) && !(v == "-" && k == kindAsyncio && i != 3 && i != 5) {
				t.Errorf("idle/%s: column %d = %q; want a number", k, i, v)
			}
		}
		if k == kindBufio && (f[5] != "1.00" || f[6] != "1.00") {
			t.Errorf("bufio's idle ratios = %s, %s; want 1.00 (the baseline)", f[5], f[6])
		}
	}

	for _, sc := range []string{"pingpong 1 KiB × 4", "pingpong 16 KiB × 4", "stream 64 KiB × 2"} {
		for _, k := range servers {
			f := row(sc, k)
			// scenario words, server, rt/s, MB/s, p50, p99, ×plain, cpu, cpu×plain
			vals := f[len(f)-7:]
			if f[len(f)-8] != k {
				t.Errorf("%s/%s: row %q has %d columns after the server; want 7", sc, k, f, len(f)-len(strings.Fields(sc))-1)
				continue
			}
			pingpong := strings.HasPrefix(sc, "pingpong")
			for i, v := range vals {
				switch {
				case (i == 0 || i == 2 || i == 3) && !pingpong:
					if v != "-" {
						t.Errorf("%s/%s: column %d = %q; want - (no round trips in stream mode)", sc, k, i, v)
					}
				case i == 2 || i == 3:
					if !dur.MatchString(v) {
						t.Errorf("%s/%s: latency column %d = %q; want a duration", sc, k, i, v)
					}
				case i >= 5 && v == "-": // no /proc: no CPU times
				default:
					if !num.MatchString(v) {
						t.Errorf("%s/%s: column %d = %q; want a number", sc, k, i, v)
					}
				}
			}
			if k == kindPlain && vals[4] != "1.00" {
				t.Errorf("%s: plain's ratio = %s; want 1.00", sc, vals[4])
			}
		}
	}
	for _, k := range servers {
		re := regexp.MustCompile(`verified: ` + regexp.QuoteMeta(k) + ` server echoed ([1-9][0-9]*) bytes, every one as sent`)
		if !re.MatchString(text) {
			t.Errorf("no byte verification for the %s server", k)
		}
	}
}

// idleRow returns the fields of the idle table's row for server k.
func idleRow(t *testing.T, lines []string, k string) []string {
	t.Helper()
	in := false
	for _, l := range lines {
		if strings.Contains(l, "idle ×") {
			in = true
			continue
		}
		if in {
			if strings.TrimSpace(l) == "" {
				break
			}
			if f := strings.Fields(l); len(f) == 7 && f[0] == k {
				return f
			}
		}
	}
	t.Fatalf("no idle row for %s", k)
	return nil
}

func slicesContains(f []string, s string) bool {
	for _, x := range f {
		if x == s {
			return true
		}
	}
	return false
}

// TestClientCatchesWrongEcho: the load client fails a run whose echo
// differs from what was sent, in each mode.
func TestClientCatchesWrongEcho(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	testutil.Serve(t, ln, func(c net.Conn) { // an echo server that flips the 64th byte of every connection
		buf := make([]byte, 64<<10)
		var total int
		for {
			n, err := c.Read(buf)
			for i := range n {
				if total+i == 63 {
					buf[i] ^= 0xff
				}
			}
			total += n
			if _, werr := c.Write(buf[:n]); werr != nil || err != nil {
				return
			}
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	addr := ln.Addr().String()
	if _, err := pingpong(ctx, addr, 2, 16<<10, 2*time.Second); err == nil || !strings.Contains(err.Error(), "differs") {
		t.Errorf("pingpong against a corrupting server = %v; want an echo-differs error", err)
	}
	if _, err := stream(ctx, addr, 1, 64<<10, 200*time.Millisecond); err == nil || !strings.Contains(err.Error(), "differs") {
		t.Errorf("stream against a corrupting server = %v; want an echo-differs error", err)
	}
	if _, err := idleConns(ctx, addr, 3); err == nil || !strings.Contains(err.Error(), "differs") {
		t.Errorf("idleConns against a corrupting server = %v; want an echo-differs error", err)
	}
}
