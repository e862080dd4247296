package unix_test

import (
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cspstream/streams/unix"
)

// staleSocket leaves a socket file nobody listens on at path.
func staleSocket(t *testing.T, path string) {
	t.Helper()
	ul, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ul.SetUnlinkOnClose(false)
	ul.Close()
}

// reachable reports whether a client dialing path reaches ln: it dials,
// writes a byte, and looks for it among the connections ln accepts (the
// losers' probes may be queued before it).
func reachable(t *testing.T, ln net.Listener, path string) bool {
	t.Helper()
	c, err := net.DialTimeout("unix", path, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	if _, err := c.Write([]byte("x")); err != nil {
		return false
	}
	ul := ln.(interface{ SetDeadline(time.Time) error })
	ul.SetDeadline(time.Now().Add(2 * time.Second))
	for range 8 { // the byte's connection, behind at most a few probes
		a, err := ln.Accept()
		if err != nil {
			return false
		}
		a.SetReadDeadline(time.Now().Add(2 * time.Second))
		b := make([]byte, 1)
		n, _ := a.Read(b)
		a.Close()
		if n == 1 && b[0] == 'x' {
			return true
		}
	}
	return false
}

// TestListenStaleRace: concurrent Listens on a stale socket path — exactly
// one wins, and it is the one a client reaches; the others fail with
// EADDRINUSE. Before the fix two could win, one of them unreachable
// (another had removed the file it had just bound). The "widened" case
// holds every caller that found the file stale until all have (or 50 ms
// passed), which made the old code fail every round.
func TestListenStaleRace(t *testing.T) {
	const callers = 4
	for _, tc := range []struct {
		name   string
		rounds int
		widen  bool
	}{{"natural", 100, false}, {"widened", 10, true}} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.widen {
				var (
					mu      sync.Mutex
					arrived int
					all     = make(chan struct{})
				)
				restore := unix.SetTestHookStale(func(string) {
					mu.Lock()
					arrived++
					if arrived == callers {
						close(all)
					}
					ch := all
					mu.Unlock()
					select {
					case <-ch:
					case <-time.After(50 * time.Millisecond): // the lock lets one in at a time
					}
				})
				defer restore()
				for round := range tc.rounds {
					mu.Lock()
					arrived, all = 0, make(chan struct{})
					mu.Unlock()
					listenRound(t, round, callers)
				}
				return
			}
			for round := range tc.rounds {
				listenRound(t, round, callers)
			}
		})
	}
}

func listenRound(t *testing.T, round, callers int) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "s.sock")
	staleSocket(t, path)
	type result struct {
		ln  net.Listener
		err error
	}
	results := make(chan result, callers)
	for range callers {
		go func() {
			ln, err := unix.Listen(path)
			results <- result{ln, err}
		}()
	}
	var won []net.Listener
	for range callers {
		r := <-results
		switch {
		case r.err == nil:
			won = append(won, r.ln)
		case !errors.Is(r.err, syscall.EADDRINUSE):
			t.Errorf("round %d: Listen = %v; want nil or EADDRINUSE", round, r.err)
		}
	}
	defer func() {
		for _, ln := range won {
			ln.Close()
		}
	}()
	if len(won) != 1 {
		t.Fatalf("round %d: %d of %d concurrent Listens on a stale path succeeded; want exactly 1", round, len(won), callers)
	}
	if _, err := os.Lstat(path + ".lock"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("round %d: the lock file outlived Listen: %v", round, err)
	}
	if !reachable(t, won[0], path) {
		t.Fatalf("round %d: the listener that won is not reachable at its path", round)
	}
}
