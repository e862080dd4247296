package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/cspstream/streams/testutil"
)

func TestMain(m *testing.M) { testutil.VerifyTestMain(m) }

const watchdog = 30 * time.Second

// lineLog is the server's output as a channel of lines.
type lineLog struct {
	lines   chan string
	partial string
}

func (l *lineLog) Write(p []byte) (int, error) {
	s := l.partial + string(p)
	for {
		i := strings.IndexByte(s, '\n')
		if i < 0 {
			break
		}
		l.lines <- s[:i]
		s = s[i+1:]
	}
	l.partial = s
	return len(p), nil
}

// expect waits for the server to print want, skipping other lines.
func (l *lineLog) expect(t *testing.T, want string) {
	t.Helper()
	timeout := time.After(watchdog)
	for {
		select {
		case got := <-l.lines:
			if got == want {
				return
			}
		case <-timeout:
			t.Fatalf("the server did not print %q", want)
		}
	}
}

type client struct {
	c  net.Conn
	br *bufio.Reader
}

func connect(t *testing.T, addr, name string, d *net.Dialer) *client {
	t.Helper()
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(watchdog))
	cl := &client{c: c, br: bufio.NewReader(c)}
	if name != "" {
		cl.expect(t, "Your name?\n")
		io.WriteString(c, name+"\n")
	}
	return cl
}

func (cl *client) expect(t *testing.T, want string) {
	t.Helper()
	got, err := cl.br.ReadString('\n')
	if got != want || err != nil {
		t.Fatalf("ReadString() = %q, %v; want %q, nil", got, err, want)
	}
}

func TestChat(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := &lineLog{lines: make(chan string, 10000)}
	ready := make(chan string, 1)
	errs := make(chan error, 1)
	go func() { errs <- run(ctx, "127.0.0.1:0", 300*time.Millisecond, 4096, log, ready) }()
	addr := <-ready
	log.expect(t, "Serving on "+addr)

	alice := connect(t, addr, "alice", &net.Dialer{})
	log.expect(t, "* alice joined")
	bob := connect(t, addr, "bob", &net.Dialer{})
	alice.expect(t, "* bob joined\n")
	io.WriteString(alice.c, "hi bob\r\n")
	bob.expect(t, "alice: hi bob\n")

	// carol reads nothing.
	connect(t, addr, "carol", &net.Dialer{})
	alice.expect(t, "* carol joined\n")
	bob.expect(t, "* carol joined\n")

	// alice talks a lot; bob keeps up, carol does not and is dropped,
	// and bob gets every line all the same. alice waits for bob after
	// each batch, so that bob is never far behind however slow this
	// machine is; carol falls behind by all of it. The kernel absorbs a
	// few MB for a peer that does not read (about 2.8 MB on this
	// machine's loopback), so alice sends 8 MB.
	const n, batch = 8000, 200
	line := strings.Repeat("x", 1000)
	got, carolLeft := 0, false
	for sent := 0; sent < n; sent += batch {
		w := bufio.NewWriter(alice.c)
		for range batch {
			w.WriteString(line + "\n")
		}
		if err := w.Flush(); err != nil {
			t.Fatalf("alice write: %v", err)
		}
		for got < sent+batch {
			s, err := bob.br.ReadString('\n')
			if err != nil {
				t.Fatalf("bob read after %d lines: %v", got, err)
			}
			switch s {
			case "alice: " + line + "\n":
				got++
			case "* carol left\n":
				carolLeft = true
			default:
				t.Fatalf("bob got %q", s)
			}
		}
	}
	if !carolLeft {
		if s, err := bob.br.ReadString('\n'); s != "* carol left\n" || err != nil {
			t.Fatalf("bob got %q, %v; want carol's leaving", s, err)
		}
	}
	log.expect(t, "* carol disconnected: too slow")

	cancel()
	if err := <-errs; err != nil {
		t.Fatalf("run = %v; want nil after the stop", err)
	}
	// Shutdown closed the others; bob may first hear alice leave.
	for {
		s, err := bob.br.ReadString('\n')
		if err == io.EOF && s == "" {
			break
		}
		if s != "* alice left\n" || err != nil {
			t.Fatalf("bob after shutdown: %q, %v; want EOF", s, err)
		}
	}
}
