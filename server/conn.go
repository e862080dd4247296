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
// It returns when the stream has closed. Its frames, and handle's, are kept
// small — the handshake and the logging are out of line — because the
// handler blocks on top of them for the life of the connection, and an idle
// connection's cost is mostly this goroutine's stack.
func (c *conn) run() {
	defer c.s.untrack(c)
	ctx, cancel := context.WithCancel(c.s.baseCtx)
	defer cancel()
	r, w := c.open(ctx, cancel)
	if w == nil {
		return
	}
	c.handle(ctx, r, w)
	cancel()
	<-w.Done() // the graceful close's flush; AbortClients ends it early
}

// open makes the stream: after the TLS handshake when the server has TLS.
// The handler's ctx, ended by cancel, also ends when the connection closes;
// AfterClose does it without a goroutine per idle connection. It returns
// nils when the handshake failed, with the connection closed.
//
//go:noinline
func (c *conn) open(ctx context.Context, cancel context.CancelFunc) (*chanstream.Reader, *chanstream.Writer) {
	s := c.s
	nc := c.nc
	if s.cfg.tls != nil {
		tc := tls.Server(nc, s.cfg.tls)
		hctx, hcancel := context.WithTimeout(ctx, s.cfg.handshakeTimeout)
		err := tc.HandshakeContext(hctx)
		hcancel()
		if err != nil {
			s.cfg.logger.Info("server: TLS handshake", "remote", nc.RemoteAddr(), "err", err)
			nc.Close()
			return nil, nil
		}
		nc = tc
	}
	r, w := chanstream.New(nc, s.streamOpts...)
	c.w.Store(w)
	w.AfterClose(cancel)
	return r, w
}

// handle runs the handler and closes the stream after it: gracefully when
// it returns, at once when it panics.
func (c *conn) handle(ctx context.Context, r *chanstream.Reader, w *chanstream.Writer) {
	defer c.recover(w)
	err := c.s.h(ctx, r, w)
	if err != nil && err != io.EOF { // a handler may pass on the EOF that ended it
		c.s.count.handlerErrors.Add(1)
		c.logEnd(ctx, err)
	}
	w.Close()
}

// recover aborts the stream after a handler's panic, and logs it with its
// stack. Deferred by handle.
func (c *conn) recover(w *chanstream.Writer) {
	if v := recover(); v != nil {
		c.s.count.panics.Add(1)
		c.s.cfg.logger.Error("server: handler panic", "remote", c.nc.RemoteAddr(), "panic", v, "stack", stackOf(debug.Stack()))
		w.Abort()
	}
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
