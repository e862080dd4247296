package chanstream

// Every goroutine a stream starts — the reader and writer goroutines,
// join, AfterClose functions, a LineFeed's, the dial attempts of
// OpenConnection — carries the pprof labels "chanstream.remote" and
// "chanstream.local" (the connection's addresses, where it has them), so
// that a goroutine profile, or testutil's leak report, names the
// connection. conn makes the label set once, in New (NewWriter of a
// net.Conn too); each goroutine applies it as it starts (connlabel.Set.Apply:
// one pointer stored in the goroutine), never per message. A NewReader's
// source has no addresses: its goroutine is not labelled.

// applyLabels gives the calling goroutine the stream's labels, if any.
func (r *Reader) applyLabels() {
	if r.c != nil {
		r.c.labels.Apply()
	}
}

// runLabelled runs f with the stream's labels: an AfterClose function
// started by the caller's goroutine, not by join.
func (c *conn) runLabelled(f func()) {
	c.labels.Apply()
	f()
}
