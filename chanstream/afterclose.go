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
	a := &afterFunc{f: f}
	w.mu.Lock()
	if w.ended {
		w.mu.Unlock()
		go f()
		return func() bool { return false }
	}
	w.afters = append(w.afters, a)
	w.mu.Unlock()
	return func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		for i, b := range w.afters {
			if b == a {
				w.afters = append(w.afters[:i], w.afters[i+1:]...)
				return true
			}
		}
		return false
	}
}

// end marks the stream ended — every goroutine of it has returned — closes
// Done's channel and starts every AfterClose function. Called once, by the
// writer goroutine that ended the stream.
func (w *Writer) end() {
	w.mu.Lock()
	w.ended = true
	if w.done != nil {
		close(w.done) // the only closer, with Done
	}
	fs := w.afters
	w.afters = nil
	w.mu.Unlock()
	for _, a := range fs {
		go a.f()
	}
}
