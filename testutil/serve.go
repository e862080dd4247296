package testutil

import (
	"net"
	"sync"
	"testing"
)

// Serve runs serve on every connection ln accepts, each in a goroutine of
// its own, and closes the connection when serve returns: a plain peer for
// a test. stop closes ln and every connection still open and waits for
// every goroutine; it runs when tb ends too, and may be called again. Serve
// does not block.
func Serve(tb testing.TB, ln net.Listener, serve func(net.Conn)) (stop func()) {
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		live    = map[net.Conn]bool{} // open connections; guarded by mu
		stopped bool                  // stop has closed what live held; guarded by mu
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return // stop closed ln
			}
			mu.Lock()
			if stopped {
				// Accepted while stop ran (Accept may return after ln is
				// closed): stop has already closed the live ones and will
				// not see this one, so it is closed here, unserved.
				mu.Unlock()
				c.Close()
				continue
			}
			live[c] = true
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				serve(c)
				c.Close()
				mu.Lock()
				delete(live, c)
				mu.Unlock()
			}()
		}
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			ln.Close()
			mu.Lock()
			stopped = true
			for c := range live {
				c.Close() // ends a serve blocked on its peer
			}
			mu.Unlock()
			wg.Wait()
		})
	}
	tb.Cleanup(stop)
	return stop
}
