package chanstream

import (
	"context"
	"sync/atomic"
)

// gate is the read token: holding it means owning the Reader's buffer.
// Its uncontended path is one compare-and-swap to take and one store to
// give back; a waiter blocks in a select on wake and its ctx, so waiting
// can be abandoned. wake is made by the first waiter: a stream whose reads
// never overlap never has one.
type gate struct {
	held    atomic.Bool
	holder  atomic.Uint64 // the goroutine holding it, when the owner check is on (owner.go)
	waiters atomic.Int32
	wake    atomic.Pointer[chan struct{}] // unlock → one waiter; cap 1 so wake-ups coalesce; never closed
}

func (g *gate) tryLock() bool {
	if !g.held.CompareAndSwap(false, true) {
		return false
	}
	if checkOwner {
		g.holder.Store(goroutineID())
	}
	return true
}

// lock takes the token, or returns ctx.Err() without it.
func (g *gate) lock(ctx context.Context) error {
	if g.lockUntil(ctx.Done()) {
		return nil
	}
	return ctx.Err()
}

// lockUntil takes the token and returns true, or returns false without it
// once stop is closed.
func (g *gate) lockUntil(stop <-chan struct{}) bool {
	if g.tryLock() {
		return true
	}
	wake := g.wake.Load()
	if wake == nil {
		ch := make(chan struct{}, 1)
		if !g.wake.CompareAndSwap(nil, &ch) {
			wake = g.wake.Load() // another waiter made it
		} else {
			wake = &ch
		}
	}
	// Count ourselves before the retry: an unlock that happens after our
	// failed tryLock then sees a waiter, and wake, and leaves a wake-up in
	// the channel.
	g.waiters.Add(1)
	defer g.waiters.Add(-1)
	for {
		if g.tryLock() {
			return true
		}
		select {
		case <-*wake:
		case <-stop:
			return false
		}
	}
}

func (g *gate) unlock() {
	if checkOwner {
		g.holder.Store(0)
	}
	g.held.Store(false)
	if g.waiters.Load() > 0 {
		select {
		case *g.wake.Load() <- struct{}{}:
		default: // a wake-up is already pending
		}
	}
}
