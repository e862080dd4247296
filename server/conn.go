package server

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"runtime/debug"
	"sync/atomic"

	"github.com/cspstream/streams/chanstream"
	"github.com/cspstream/streams/internal/connlabel"
)

// conn is one accepted connection, from Accept until its stream has
// closed and its handler returned.
type conn struct {
	s  *Server
	nc net.Conn                          // as accepted; set at construction
	w  atomic.Pointer[chanstream.Writer] // the stream, once made (after any TLS handshake)

	// Owned by the connection's goroutine (run).
	ctx    context.Context // the handler's
	cancel context.CancelFunc
	err    error // what the handler returned
}

// serve tracks nc and starts its goroutine. Called by an accept loop,
// which is in the group, so the group cannot finish in between.
func (s *Server) serve(nc net.Conn) {
	if s.keepAliveConns {
		if tc, ok := nc.(*net.TCPConn); ok {
			_ = tc.SetKeepAliveConfig(net.KeepAliveConfig{Enable: s.cfg.keepAlive >= 0, Idle: s.cfg.keepAlive, Interval: s.cfg.keepAlive})
		}
	}
	c := &conn{s: s, nc: nc}
	s.count.accepted.Add(1)
	s.mu.Lock()
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	s.group.Go(func() error {
		connlabel.Of(nc).Apply() // the handler, the TLS handshake, and what they start, name the connection
		c.run()
		return nil
	})
}

// run is the connection's goroutine: TLS handshake, stream, handler, close.
// It returns when the stream has closed. Its frame is small — the
// handshake, the close and the logging are out of line (open, done) and
// the handler's ctx lives in c — because the handler blocks on top of it
// for the life of the connection, and an idle connection's cost is mostly
// goroutine stacks. (A handler parked in a read's select still outgrows the
// 2 KiB a goroutine starts with at its first park: the runtime allocates
// the select's sudogs on this stack, under the handler's frames.)
func (c *conn) run() {
	r, w := c.open()
	if w == nil {
		c.cancel()
		c.s.untrack(c)
		return
	}
	defer c.done(w)
	c.err = c.s.h(c.ctx, r, w)
}

// done ends the connection after its handler, deferred by run: gracefully
// when the handler returned (its error logged), at once when it panicked
// (recovered, logged with its stack); then it ends the handler's ctx,
// waits for the stream's end and frees the connection's slot.
func (c *conn) done(w *chanstream.Writer) {
	if v := recover(); v != nil {
		c.s.count.panics.Add(1)
		c.s.cfg.logger.Error("server: handler panic", "remote", c.nc.RemoteAddr(), "panic", v, "stack", stackOf(debug.Stack()))
		w.Abort()
	} else {
		if c.err != nil && c.err != io.EOF { // a handler may pass on the EOF that ended it
			c.s.count.handlerErrors.Add(1)
			c.logEnd(c.ctx, c.err)
		}
		w.Close()
	}
	c.cancel()
	<-w.Done() // the graceful close's flush; AbortClients ends it early
	c.s.untrack(c)
}

// open makes the handler's ctx and the stream: after the TLS handshake
// when the server has TLS. The ctx, ended by c.cancel, also ends when the
// connection closes; AfterClose does it without a goroutine per idle
// connection. It returns nils when the handshake failed, with the
// connection closed.
//
//go:noinline
func (c *conn) open() (*chanstream.Reader, *chanstream.Writer) {
	c.ctx, c.cancel = context.WithCancel(c.s.baseCtx)
	nc := c.nc
	if c.s.cfg.tls != nil {
		if nc = c.handshake(); nc == nil {
			return nil, nil
		}
	}
	r, w := chanstream.New(nc, c.s.streamOpts...)
	c.w.Store(w)
	w.AfterClose(c.cancel)
	return r, w
}

// handshake runs the server's TLS handshake over c.nc, bounded by the
// handshake timeout and the handler's ctx. It returns the TLS connection,
// or nil with the connection closed. Out of line: its frame is large, and
// open's lies under every allocation New makes.
//
//go:noinline
func (c *conn) handshake() net.Conn {
	s := c.s
	tc := tls.Server(c.nc, s.cfg.tls)
	hctx, hcancel := context.WithTimeout(c.ctx, s.cfg.handshakeTimeout)
	err := tc.HandshakeContext(hctx)
	hcancel()
	if err != nil {
		s.cfg.logger.Info("server: TLS handshake", "remote", c.nc.RemoteAddr(), "err", err)
		c.nc.Close()
		return nil
	}
	return tc
}

// logEnd logs the error a handler returned: at debug level when its ctx
// ended it.
//
//go:noinline
func (c *conn) logEnd(ctx context.Context, err error) {
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		c.s.cfg.logger.Debug("server: handler ended by its context", "remote", c.nc.RemoteAddr(), "err", err)
		return
	}
	c.s.cfg.logger.Error("server: handler", "remote", c.nc.RemoteAddr(), "err", err)
}

// close closes the connection gracefully, or at once during a handshake.
func (c *conn) close() {
	if w := c.w.Load(); w != nil {
		w.Close()
		return
	}
	c.nc.Close()
}

// abort closes the connection now.
func (c *conn) abort() {
	if w := c.w.Load(); w != nil {
		w.Abort()
		return
	}
	c.nc.Close() // a handshake in progress fails; a stream made meanwhile sees the close
}

// untrack forgets c and frees its slot.
func (s *Server) untrack(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.release()
}
