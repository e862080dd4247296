// Command echobench measures an echo server built on this library against
// a plain Go one, and against Python's asyncio, in one run on loopback.
//
//	go run ./examples/echobench            # about 50 s
//	go run ./examples/echobench -d 3s -rounds 5 -idle 5000
//
// Servers, each in a process of its own:
//   - streams: server.Start with a handler doing ReadUpTo / Write / Drain,
//     as a user would write it;
//   - plain: a goroutine per net.Conn with a 64 KiB buffer;
//   - asyncio: the seed's echo server looping until EOF (where python3 is);
//   - bufio: a goroutine per net.Conn wrapped in bufio.NewReader, the
//     baseline of the idle measurement;
//   - plain-alloc (with -alloc): plain, but each message echoed from a new
//     slice, as a ReadUpTo handler's must be — the floor for one.
//
// The same load client drives each: pingpong (N connections each sending a
// message of S bytes and waiting for its echo, for D) and stream (bulk data
// both ways). Every echoed byte is checked. Servers alternate over several
// rounds; where taskset exists the servers run on one CPU and the client on
// another. The idle mode opens K connections to each server, makes one
// round trip on each, and reports the server's memory per connection: Go
// heap, goroutine stacks, and resident set; it runs first, and the load
// rounds then run on fresh server processes. The tables give medians over
// the rounds and each server's ratio to the plain one (to bufio for idle),
// and the server's CPU time per MB echoed (from /proc), which is steadier
// than throughput on a shared machine.
//
// For looking into the library: -compare NAME=PATH adds the streams server
// of another build of this command (say, of an older commit) as server
// NAME, for a before/after table from one run; ECHOBENCH_CPUPROFILE=FILE
// and ECHOBENCH_MEMPROFILE=FILE make each server write FILE.<server>.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

// config is what the flags set.
type config struct {
	d           time.Duration // per run
	rounds      int
	conns       int // pingpong connections
	small, big  int // pingpong message sizes
	streamConns int
	block       int // stream write size
	idle        int // idle connections per server; 0 skips the idle mode
	python      bool
	copy        bool   // also run the streams server with an io.Copy handler
	alloc       bool   // also run the plain server that allocates each message
	compare     string // "NAME=PATH": also run the streams server of PATH (another build of this command) as NAME
	only        string // comma-separated scenarios to run: small, big, stream; "" runs all
	serverCPU   int    // -1: no pinning
	clientCPU   int
}

const pinnedEnv = "ECHOBENCH_PINNED"

func main() {
	if kind := os.Getenv(serveEnv); kind != "" {
		if err := serveChild(kind); err != nil {
			fmt.Fprintln(os.Stderr, "echobench server:", err)
			os.Exit(1)
		}
		return
	}
	var c config
	flag.DurationVar(&c.d, "d", time.Second, "duration of each run")
	flag.IntVar(&c.rounds, "rounds", 3, "rounds; servers alternate within each")
	flag.IntVar(&c.conns, "conns", 64, "pingpong connections")
	flag.IntVar(&c.small, "small", 1<<10, "pingpong small message size in bytes")
	flag.IntVar(&c.big, "big", 16<<10, "pingpong large message size in bytes")
	flag.IntVar(&c.streamConns, "stream-conns", 4, "stream connections")
	flag.IntVar(&c.block, "block", 64<<10, "stream write size in bytes")
	flag.IntVar(&c.idle, "idle", 1000, "idle connections per server (0: skip the idle mode)")
	flag.StringVar(&c.only, "only", "", "run only these scenarios (comma-separated: small, big, stream)")
	flag.BoolVar(&c.copy, "copy", true, "also run the streams server with an io.Copy(w, r) handler")
	flag.BoolVar(&c.alloc, "alloc", false, "also run a plain server that echoes each message from a new slice (a ReadUpTo handler's floor)")
	flag.StringVar(&c.compare, "compare", "", "NAME=PATH: also run the streams server of PATH, another build of echobench (before/after)")
	flag.BoolVar(&c.python, "python", true, "include python3's asyncio server where python3 exists")
	flag.IntVar(&c.serverCPU, "server-cpu", 0, "CPU for the servers (taskset; -1: no pinning)")
	flag.IntVar(&c.clientCPU, "client-cpu", 1, "CPU for the load client (taskset)")
	flag.Parse()

	if c.serverCPU >= 0 && os.Getenv(pinnedEnv) == "" {
		if err := pinSelf(c.clientCPU); err == nil {
			return // the pinned copy ran
		} else if !errors.Is(err, exec.ErrNotFound) {
			fmt.Fprintln(os.Stderr, "echobench:", err)
			os.Exit(1)
		}
		c.serverCPU = -1 // no taskset: nothing is pinned
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Stdout, c); err != nil {
		fmt.Fprintln(os.Stderr, "echobench:", err)
		os.Exit(1)
	}
}

// pinSelf runs this command again under taskset on cpu, as the load
// client, and exits with its status. It returns exec.ErrNotFound when
// there is no taskset.
func pinSelf(cpu int) error {
	ts, err := exec.LookPath("taskset")
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(ts, append([]string{"-c", strconv.Itoa(cpu), self}, os.Args[1:]...)...)
	cmd.Env = append(os.Environ(), pinnedEnv+"=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			os.Exit(ee.ExitCode())
		}
		return err
	}
	return nil
}

// scenario is one load shape.
type scenario struct {
	key  string // for -only
	name string
	run  func(ctx context.Context, addr string) (result, error)
}

// run starts the servers, measures idle memory, runs the load rounds and
// prints the tables to out. It returns an error if any echo was wrong.
func run(ctx context.Context, out io.Writer, c config) error {
	dir, err := os.MkdirTemp("", "echobench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	kinds := []string{kindPlain, kindStreams}
	if c.copy {
		kinds = append(kinds, kindCopy)
	}
	if c.alloc {
		kinds = append(kinds, kindPlainAlloc)
	}
	bins := map[string]string{}
	if c.compare != "" {
		name, path, ok := strings.Cut(c.compare, "=")
		if !ok || name == "" || path == "" {
			return fmt.Errorf("-compare %q: want NAME=PATH", c.compare)
		}
		kinds = append(kinds, name)
		bins[name] = path
	}
	if c.python {
		if _, err := exec.LookPath("python3"); err == nil {
			kinds = append(kinds, kindAsyncio)
		}
	}
	procs := map[string]*proc{}
	defer func() {
		for _, p := range procs {
			p.stop()
		}
	}()
	start := func(ks []string) error {
		for _, k := range ks {
			p, err := startServer(ctx, k, bins[k], c.serverCPU, dir)
			if err != nil {
				return err
			}
			procs[k] = p
		}
		return nil
	}
	if err := start(append([]string{kindBufio}, kinds...)); err != nil {
		return err
	}
	pinned := "not pinned (no taskset)"
	if c.serverCPU >= 0 {
		pinned = fmt.Sprintf("servers on CPU %d, client on CPU %d (taskset)", c.serverCPU, c.clientCPU)
	}
	fmt.Fprintf(out, "echobench: %d rounds × %v per run, loopback 127.0.0.1, %s\n", c.rounds, c.d, pinned)

	// Idle memory first, on servers that have not been loaded yet. Then
	// fresh processes for the load: in the process that had just held and
	// dropped the idle connections, a server allocating per message
	// measured 1.9× plain's CPU streaming 64 KiB blocks, against 1.2× in a
	// fresh one.
	if c.idle > 0 {
		if err := idleTable(ctx, out, c, procs, append([]string{kindBufio}, kinds...)); err != nil {
			return err
		}
		for _, k := range kinds {
			procs[k].stop()
			delete(procs, k)
		}
		if err := start(kinds); err != nil {
			return err
		}
	}

	scenarios := []scenario{
		{"small", fmt.Sprintf("pingpong %s × %d", size(c.small), c.conns), func(ctx context.Context, addr string) (result, error) {
			return pingpong(ctx, addr, c.conns, c.small, c.d)
		}},
		{"big", fmt.Sprintf("pingpong %s × %d", size(c.big), c.conns), func(ctx context.Context, addr string) (result, error) {
			return pingpong(ctx, addr, c.conns, c.big, c.d)
		}},
		{"stream", fmt.Sprintf("stream %s × %d", size(c.block), c.streamConns), func(ctx context.Context, addr string) (result, error) {
			return stream(ctx, addr, c.streamConns, c.block, c.d)
		}},
	}
	if c.only != "" {
		want := strings.Split(c.only, ",")
		scenarios = slices.DeleteFunc(scenarios, func(sc scenario) bool { return !slices.Contains(want, sc.key) })
	}
	results := map[string]map[string][]result{} // scenario → server → rounds
	verified := map[string]int64{}
	for round := range c.rounds {
		for _, sc := range scenarios {
			// Rotate the order each round, so that no server always runs
			// first or right after the same neighbour.
			order := slices.Clone(kinds)
			for range round % len(order) {
				order = append(order[1:], order[0])
			}
			for _, k := range order {
				if err := ctx.Err(); err != nil {
					return err
				}
				cpu0, err := procs[k].cpuTime()
				if err != nil {
					return err
				}
				res, err := sc.run(ctx, procs[k].addr)
				cpu1, cerr := procs[k].cpuTime()
				res.serverCPU = cpu1 - cpu0
				if cpu0 < 0 {
					res.serverCPU = -1
				}
				if err = errors.Join(err, cerr); err != nil {
					return fmt.Errorf("%s, %s server, round %d: %w", sc.name, k, round+1, err)
				}
				if results[sc.name] == nil {
					results[sc.name] = map[string][]result{}
				}
				results[sc.name][k] = append(results[sc.name][k], res)
				verified[k] += res.bytes
			}
		}
	}

	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tserver\tround trips/s\tMB/s\tp50\tp99\t× plain\tserver CPU ms/MB\tCPU × plain\t")
	for _, sc := range scenarios {
		base := median(results[sc.name][kindPlain], result.mbps)
		baseCPU := median(results[sc.name][kindPlain], result.cpuPerMB)
		for _, k := range kinds {
			rs := results[sc.name][k]
			mb := median(rs, result.mbps)
			rt, p50, p99 := "-", "-", "-"
			if rs[0].roundTrips > 0 {
				rt = fmt.Sprintf("%.0f", median(rs, result.rtps))
				p50 = latency(median(rs, func(r result) float64 { return float64(r.hist.quantile(0.50)) }))
				p99 = latency(median(rs, func(r result) float64 { return float64(r.hist.quantile(0.99)) }))
			}
			cpu, cpuRatio := "-", "-"
			if rs[0].serverCPU >= 0 {
				c := median(rs, result.cpuPerMB)
				cpu, cpuRatio = fmt.Sprintf("%.2f", c/1000), fmt.Sprintf("%.2f", c/baseCPU)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%.1f\t%s\t%s\t%.2f\t%s\t%s\t\n", sc.name, k, rt, mb, p50, p99, mb/base, cpu, cpuRatio)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, k := range kinds {
		fmt.Fprintf(out, "verified: %s server echoed %d bytes, every one as sent\n", k, verified[k])
	}
	return nil
}

// idleTable measures each server's memory before and after opening c.idle
// connections, and prints the cost per connection.
func idleTable(ctx context.Context, out io.Writer, c config, procs map[string]*proc, kinds []string) error {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "idle × %d\tserver\tgoroutines/conn\theap B/conn\tstacks B/conn\tRSS B/conn\theap+stacks × bufio\tRSS × bufio\t\n", c.idle)
	var baseGo, baseRSS float64
	for _, k := range kinds {
		p := procs[k]
		before, err := p.mem(ctx)
		if err != nil {
			return err
		}
		conns, err := idleConns(ctx, p.addr, c.idle)
		if err != nil {
			return fmt.Errorf("idle, %s server: %w", k, err)
		}
		after, err := p.mem(ctx)
		closeAll(conns)
		if err != nil {
			return err
		}
		n := float64(c.idle)
		heap := float64(after.heap-before.heap) / n
		stack := float64(after.stack-before.stack) / n
		rss := float64(after.rss-before.rss) / n
		if k == kindBufio {
			baseGo, baseRSS = heap+stack, rss
		}
		goCol, goRatio := "-", "-"
		stackCol, gCol := "-", "-"
		if k != kindAsyncio {
			gCol = fmt.Sprintf("%.2f", float64(after.goroutines-before.goroutines)/n)
			goCol, stackCol = bytesCol(heap), bytesCol(stack)
			goRatio = fmt.Sprintf("%.2f", (heap+stack)/baseGo)
		}
		rssCol, rssRatio := "-", "-"
		if before.rss >= 0 {
			rssCol, rssRatio = bytesCol(rss), fmt.Sprintf("%.2f", rss/baseRSS)
		}
		fmt.Fprintf(tw, "\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", k, gCol, goCol, stackCol, rssCol, goRatio, rssRatio)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(out)
	return nil
}

// median returns the median of f over rs.
func median(rs []result, f func(result) float64) float64 {
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = f(r)
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func latency(ns float64) string {
	return time.Duration(ns).Round(time.Microsecond).String()
}

func size(n int) string {
	if n%(1<<10) == 0 {
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}

func bytesCol(b float64) string { return fmt.Sprintf("%.0f", b) }
