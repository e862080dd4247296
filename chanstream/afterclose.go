package chanstream

// afterFunc is one AfterClose registration.
type afterFunc struct{ f func() }

// AfterClose arranges for f to run in its own goroutine once the stream
// has closed and every goroutine of it has returned — when Done is closed
// — as context.AfterFunc does for a context. If the stream has already
// closed, f starts at once. stop unregisters f; it returns true if that
// kept f from being started, false if f has been started or stop was
// already called. It does not block.
//
// It lets code tie something to the connection's life — cancel a context,
// release a slot — without a goroutine waiting on Done per connection.
func (w *Writer) AfterClose(f func()) (stop func() bool) {
	return w.c.afterClose(f)
}

func (c *conn) afterClose(f func()) (stop func() bool) {
	a := &afterFunc{f: f}
	c.mu.Lock()
	if c.phase == ended {
		c.mu.Unlock()
		go c.runLabelled(f)
		return func() bool { return false }
	}
	c.afters = append(c.afters, a)
	c.mu.Unlock()
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		for i, b := range c.afters {
			if b == a {
				c.afters = append(c.afters[:i], c.afters[i+1:]...)
				return true
			}
		}
		return false
	}
}

// Done returns a channel that is closed when WaitClosed would return nil:
// the stream has closed and every goroutine of it has returned. It does
// not block.
func (w *Writer) Done() <-chan struct{} {
	c := w.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done == nil { // made on demand: most streams never ask
		c.done = make(chan struct{})
		if c.phase == ended {
			close(c.done)
		}
	}
	return c.done
}
