package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cspstream/streams/chanstream"
	"github.com/cspstream/streams/server"
)

// The servers under test. Each runs in a process of its own (this program
// re-executed with serveEnv set, or python3), so that its memory can be
// measured and its CPU pinned apart from the load client.
const (
	kindStreams    = "streams"      // server.Start with a ReadUpTo / Write / Drain handler
	kindCopy       = "streams-copy" // server.Start with an io.Copy(w, r) handler
	kindPlain      = "plain"        // a goroutine per net.Conn, a 64 KiB buffer
	kindBufio      = "bufio"        // a goroutine per net.Conn wrapped in bufio.NewReader: the idle baseline
	kindPlainAlloc = "plain-alloc"  // plain, echoing each message from a new slice: a ReadUpTo handler's floor
	kindAsyncio    = "asyncio"      // python3's asyncio.start_server, the seed's echo looping until EOF
)

// serveEnv names the server a re-executed process runs; profileEnv, when
// set, is a file for its CPU profile (for looking into a server).
const (
	serveEnv      = "ECHOBENCH_SERVE"
	profileEnv    = "ECHOBENCH_CPUPROFILE"
	memProfileEnv = "ECHOBENCH_MEMPROFILE" // written at each memory measurement
)

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return pprof.WriteHeapProfile(f)
}

// echo is the streams server's handler, written as a user would: read
// what is there, write it back, respect the peer's pace.
func echo(ctx context.Context, r *chanstream.Reader, w *chanstream.Writer) error {
	for {
		b, err := r.ReadUpTo(ctx, 64<<10)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
		if err := w.Drain(ctx); err != nil {
			return err
		}
	}
}

// copyEcho is the streams server's handler for bulk copying: Reader.WriteTo
// hands the buffered bytes to Write without a copy of its own and drains
// after each, so nothing is allocated per message.
func copyEcho(ctx context.Context, r *chanstream.Reader, w *chanstream.Writer) error {
	_, err := io.Copy(w, r)
	return err
}

// plainEcho is the plain Go echo: a 64 KiB buffer, Read, Write. With
// alloc set it echoes each message from a new slice of its own, as a
// handler must that reads with ReadUpTo (whose result the caller owns):
// what allocating per message costs without the library.
func plainEcho(alloc bool) func(net.Conn) {
	return func(c net.Conn) {
		defer c.Close()
		buf := make([]byte, 64<<10)
		for {
			n, err := c.Read(buf)
			if n > 0 {
				msg := buf[:n]
				if alloc {
					msg = append([]byte(nil), msg...)
				}
				if _, werr := c.Write(msg); werr != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	}
}

// bufioEcho echoes through a bufio.Reader's own buffer (4 KiB): the way a
// plain server that parses its input holds a connection.
func bufioEcho(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	for {
		if _, err := br.Peek(1); err != nil {
			return
		}
		p, _ := br.Peek(br.Buffered())
		if _, err := c.Write(p); err != nil {
			return
		}
		_, _ = br.Discard(len(p))
	}
}

// serveChild is the body of a re-executed server process: it listens on
// 127.0.0.1, prints "addr HOST:PORT", answers "mem" on stdin with a line of
// memory statistics, and shuts down when stdin ends.
func serveChild(kind string) error {
	if path := os.Getenv(profileEnv); path != "" {
		f, err := os.Create(path + "." + kind) // one file per server
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	if os.Getenv(memProfileEnv) != "" {
		runtime.MemProfileRate = 1
	}
	ctx := context.Background()
	var (
		addr string
		stop func()
	)
	switch kind {
	case kindStreams, kindCopy:
		h := echo
		if kind == kindCopy {
			h = copyEcho
		}
		srv, err := server.Start(ctx, "127.0.0.1:0", h)
		if err != nil {
			return err
		}
		addr = srv.Addrs()[0].String()
		stop = func() {
			ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			_ = srv.Shutdown(ctx)
		}
	case kindPlain, kindBufio, kindPlainAlloc:
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		addr = ln.Addr().String()
		h := plainEcho(kind == kindPlainAlloc)
		if kind == kindBufio {
			h = bufioEcho
		}
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go h(c) // ends when the client closes; the process exits after stop
			}
		}()
		stop = func() { ln.Close(); wg.Wait() }
	default:
		return fmt.Errorf("unknown server %q", kind)
	}
	fmt.Printf("addr %s\n", addr)
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		if sc.Text() == "mem" {
			var ms runtime.MemStats
			runtime.GC()
			runtime.GC() // the second also empties the sync.Pools
			debug.FreeOSMemory()
			runtime.ReadMemStats(&ms)
			if path := os.Getenv(memProfileEnv); path != "" {
				if err := writeHeapProfile(path + "." + kind); err != nil {
					return err
				}
			}
			fmt.Printf("mem heap=%d stack=%d goroutines=%d gomaxprocs=%d\n",
				ms.HeapAlloc, ms.StackInuse, runtime.NumGoroutine(), runtime.GOMAXPROCS(0))
		}
	}
	stop()
	return nil
}

// asyncioScript is the seed's handle_echo, looping until EOF, under
// asyncio.start_server; it exits when its stdin ends.
const asyncioScript = `
import asyncio, sys

async def handle_echo(reader, writer):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()

async def main():
    server = await asyncio.start_server(handle_echo, '127.0.0.1', 0)
    host, port = server.sockets[0].getsockname()[:2]
    print(f"addr {host}:{port}", flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)
    server.close()

asyncio.run(main())
`

// proc is a running server process.
type proc struct {
	kind  string
	addr  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
	pid   int
	procs int // the server's GOMAXPROCS; 0 where unknown (python)
}

// startServer starts kind in its own process, pinned to cpu when cpu ≥ 0
// and taskset exists. dir holds the python script. With bin set, kind is
// only a label: the process is bin's streams server (another build of
// this command, for before/after comparisons).
func startServer(ctx context.Context, kind, bin string, cpu int, dir string) (*proc, error) {
	var argv []string
	if cpu >= 0 {
		if ts, err := exec.LookPath("taskset"); err == nil {
			argv = append(argv, ts, "-c", strconv.Itoa(cpu))
		}
	}
	env := os.Environ()
	if kind == kindAsyncio {
		py, err := exec.LookPath("python3")
		if err != nil {
			return nil, err
		}
		script := filepath.Join(dir, "echo_server.py")
		if err := os.WriteFile(script, []byte(asyncioScript), 0o600); err != nil {
			return nil, err
		}
		argv = append(argv, py, script)
	} else if bin != "" {
		argv = append(argv, bin)
		env = append(env, serveEnv+"="+kindStreams)
	} else {
		self, err := os.Executable()
		if err != nil {
			return nil, err
		}
		argv = append(argv, self)
		env = append(env, serveEnv+"="+kind)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s server: %w", kind, err)
	}
	p := &proc{kind: kind, cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout), pid: cmd.Process.Pid}
	line, err := p.readLine(ctx, 30*time.Second)
	if err != nil || !strings.HasPrefix(line, "addr ") {
		p.stop()
		return nil, fmt.Errorf("%s server did not start: %q, %v", kind, line, err)
	}
	p.addr = strings.TrimPrefix(line, "addr ")
	return p, nil
}

// readLine reads one line of the server's output, bounded by d and ctx;
// on timeout the process is killed, which ends the read.
func (p *proc) readLine(ctx context.Context, d time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { _ = p.cmd.Process.Kill() })
	line, err := p.out.ReadString('\n')
	if !stop() {
		return "", fmt.Errorf("%s server: no answer: %w", p.kind, ctx.Err())
	}
	return strings.TrimSpace(line), err
}

// memStats is one server's memory: Go heap and stacks (zero for python),
// and the process's resident set.
type memStats struct {
	heap, stack, rss int64
	goroutines       int
}

// mem measures the server after a collection.
func (p *proc) mem(ctx context.Context) (memStats, error) {
	var m memStats
	if p.kind != kindAsyncio {
		if _, err := io.WriteString(p.stdin, "mem\n"); err != nil {
			return m, err
		}
		line, err := p.readLine(ctx, 30*time.Second)
		if err != nil {
			return m, err
		}
		if _, err := fmt.Sscanf(line, "mem heap=%d stack=%d goroutines=%d gomaxprocs=%d",
			&m.heap, &m.stack, &m.goroutines, &p.procs); err != nil {
			return m, fmt.Errorf("%s server: mem: %q: %w", p.kind, line, err)
		}
	}
	rss, err := readRSS(p.pid)
	if err != nil {
		return m, err
	}
	m.rss = rss
	return m, nil
}

// readRSS returns a process's resident set size from /proc (Linux), or -1
// where there is no /proc.
func readRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if errors.Is(err, os.ErrNotExist) {
		return -1, nil
	}
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "VmRSS:" && f[2] == "kB" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			return kb << 10, err
		}
	}
	return -1, nil
}

// cpuTime returns the CPU time (user + system) the process has used, from
// /proc (Linux), or -1 where there is no /proc.
func (p *proc) cpuTime() (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.pid))
	if errors.Is(err, os.ErrNotExist) {
		return -1, nil
	}
	if err != nil {
		return 0, err
	}
	// Fields after the command name (which may hold spaces): state is
	// field 3, utime 14, stime 15.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("%s server: short /proc stat", p.kind)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}

// clockTicks is USER_HZ, the unit of /proc's CPU times: 100 on every Linux
// platform Go supports.
const clockTicks = 100

// stop ends the server: its stdin closes, and it is killed if it has not
// exited 10 s later.
func (p *proc) stop() {
	_ = p.stdin.Close()
	done := make(chan struct{})
	t := time.AfterFunc(10*time.Second, func() { _ = p.cmd.Process.Kill() })
	go func() {
		_ = p.cmd.Wait()
		close(done)
	}()
	<-done
	t.Stop()
}
