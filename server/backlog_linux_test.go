package server_test

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/cspstream/streams/chanstream"
	"github.com/cspstream/streams/server"
)

// TestBacklog checks that WithBacklog reaches listen(2): with nothing
// accepting, Linux completes backlog+1 connections and drops the SYNs of
// the rest.
func TestBacklog(t *testing.T) {
	idle := func(ctx context.Context, r *chanstream.Reader, w *chanstream.Writer) error { return nil }
	count := func(backlog int, timeout time.Duration) int {
		srv := start(t, idle, server.WithStartServing(false), server.WithBacklog(backlog))
		const tries = 8
		var mu sync.Mutex
		var conns []net.Conn
		var wg sync.WaitGroup
		for range tries {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := net.DialTimeout("tcp", srv.Addrs()[0].String(), timeout)
				if err == nil {
					mu.Lock()
					conns = append(conns, c)
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		for _, c := range conns {
			c.Close()
		}
		return len(conns)
	}
	n := count(2, 300*time.Millisecond) // the dropped ones time out
	t.Logf("backlog 2: %d of 8 connections completed", n)
	if n < 1 || n > 3 {
		t.Fatalf("backlog 2: %d connections completed; want at most 3", n)
	}
	if n := count(server.DefaultBacklog, watchdog); n != 8 {
		t.Fatalf("default backlog: %d of 8 connections completed", n)
	}
}
