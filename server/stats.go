package server

import "sync/atomic"

// ServerStats is what a server has done so far; see [Server.Stats].
type ServerStats struct {
	Accepted      int64 // connections accepted, ever
	HandlerErrors int64 // handlers that returned an error other than io.EOF
	Panics        int64 // handler panics recovered
	Active        int   // live connections now, as ActiveConns
}

// counters are the server's Stats counts, each added to by the goroutine
// that sees the event: an accept loop, a handler's goroutine.
type counters struct {
	accepted      atomic.Int64
	handlerErrors atomic.Int64
	panics        atomic.Int64
}

// Stats returns the server's counts: connections accepted, handlers that
// returned an error (io.EOF is not one) or panicked, and the connections
// live now. A handler's error or panic is counted before its connection
// closes, so a client that has seen the end of its connection is counted.
// It does not block and is safe for concurrent use, after Close too.
func (s *Server) Stats() ServerStats {
	return ServerStats{
		Accepted:      s.count.accepted.Load(),
		HandlerErrors: s.count.handlerErrors.Load(),
		Panics:        s.count.panics.Load(),
		Active:        s.ActiveConns(),
	}
}
