package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"

	"github.com/cspstream/streams/chanstream"
	"github.com/cspstream/streams/internal/connlabel"
	"golang.org/x/sync/errgroup"
)

// Handler serves one connection: asyncio's client_connected_cb. Its ctx
// ends when Shutdown begins or the stream closes: Close, Abort, or the
// connection's failure — a peer's reset is seen by the stream's reader
// goroutine at once, whether the handler reads or not. When it returns, the
// connection is closed gracefully (queued bytes are written first); an
// error it returns is logged. A panic is recovered, logged with its stack,
// and the connection aborted.
type Handler func(ctx context.Context, r *chanstream.Reader, w *chanstream.Writer) error

// ErrServerClosed is returned by StartServing and ServeForever once the
// server is closed. It wraps [net.ErrClosed].
var ErrServerClosed = fmt.Errorf("server: %w", net.ErrClosed)

// ErrServeForeverRunning is returned at once by a call of
// [Server.ServeForever] made while another one is running on the same
// server.
var ErrServeForeverRunning = errors.New("server: ServeForever is already running")

// Server accepts connections on its listeners and runs a Handler for each,
// in a goroutine of its own. All methods are safe for concurrent use.
type Server struct {
	// Set at construction, never changed.
	cfg        *config
	h          Handler
	lns        []net.Listener
	streamOpts []chanstream.Option // for chanstream.New: WithServerSide, then the TLS shutdown timeout and the user's
	// keepAliveConns: set WithKeepAlive on each accepted TCP connection
	// (StartListener; Start's sockets pass it on by themselves).
	keepAliveConns bool
	slots          chan struct{} // WithMaxConns: a token per live connection, taken before Accept; nil without a limit; never closed
	// baseCtx is every handler's parent; stopHandlers cancels it when
	// Shutdown begins.
	baseCtx      context.Context
	stopHandlers context.CancelFunc
	closing      chan struct{} // closed once by Close; accept loops and ServeForever watch it
	done         chan struct{} // closed by the goroutine Close starts, once group.Wait returns
	group        errgroup.Group
	count        counters // Stats (stats.go)

	mu        sync.Mutex // guards the fields below
	serving   bool
	closed    bool
	forever   bool               // a ServeForever call is running
	acceptErr error              // the error that ended an accept loop and closed the server
	conns     map[*conn]struct{} // live connections, from Accept until their stream closed and handler returned
}

// Start binds addr ("host:port") and starts serving it with h: asyncio's
// start_server. Host "" binds every interface (0.0.0.0 and ::); a host
// name binds every address it resolves to (127.0.0.1 and ::1 for
// localhost). With port 0 the first socket picks a free port and the
// others bind the same one. ctx bounds the name lookup only; the server
// lives until Close or Shutdown. Start returns an error wrapping
// [chanstream.ErrInvalidArgument] for an invalid option, a nil handler or a
// nil ctx.
func Start(ctx context.Context, addr string, h Handler, opts ...Option) (*Server, error) {
	c := newConfig(opts)
	if c.err != nil {
		return nil, c.err
	}
	if h == nil {
		return nil, invalid("nil handler")
	}
	if ctx == nil {
		return nil, invalid("nil ctx")
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	lns, err := listenAll(ctx, c, addr)
	if err != nil {
		return nil, err
	}
	return start(lns, h, c, false)
}

// StartListener serves ln with h: asyncio's start_server(sock=). The
// server owns ln and closes it on Close. WithBacklog, WithReuseAddress,
// WithReusePort and WithNetwork have no effect here: ln is already made.
// On an error, ln is left open: the caller still owns it.
func StartListener(ln net.Listener, h Handler, opts ...Option) (*Server, error) {
	c := newConfig(opts)
	if c.err != nil {
		return nil, c.err
	}
	if ln == nil || h == nil {
		return nil, invalid("nil listener or handler")
	}
	return start([]net.Listener{ln}, h, c, c.keepAliveSet)
}

func start(lns []net.Listener, h Handler, c *config, keepAliveConns bool) (*Server, error) {
	s := &Server{
		cfg:            c,
		h:              h,
		lns:            lns,
		keepAliveConns: keepAliveConns,
		closing:        make(chan struct{}),
		done:           make(chan struct{}),
		conns:          make(map[*conn]struct{}),
	}
	s.streamOpts = append(s.streamOpts, chanstream.WithServerSide())
	if c.shutdownSet {
		s.streamOpts = append(s.streamOpts, chanstream.WithTLSShutdownTimeout(c.shutdownTimeout))
	}
	s.streamOpts = append(s.streamOpts, c.streamOpts...)
	if c.maxConns > 0 {
		s.slots = make(chan struct{}, c.maxConns)
	}
	s.baseCtx, s.stopHandlers = context.WithCancel(context.Background())
	if c.startServing {
		if err := s.StartServing(); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Addrs returns the addresses the server listens on: asyncio's sockets.
func (s *Server) Addrs() []net.Addr {
	addrs := make([]net.Addr, len(s.lns))
	for i, ln := range s.lns {
		addrs[i] = ln.Addr()
	}
	return addrs
}

// StartServing starts accepting connections, one accept loop per
// listener. It returns at once: nil if the server is (now) serving,
// ErrServerClosed after Close.
func (s *Server) StartServing() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrServerClosed
	}
	if s.serving {
		return nil
	}
	s.serving = true
	for _, ln := range s.lns {
		s.group.Go(func() error { return s.acceptLoop(ln) })
	}
	return nil
}

// IsServing reports whether the server is accepting connections.
func (s *Server) IsServing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.serving && !s.closed
}

// ServeForever starts serving if it has not yet and blocks until ctx ends
// — then it stops listening, as Close does, and returns ctx.Err() without
// waiting for the handlers (Shutdown ends them) — or until the server is
// closed, when it returns the error that closed it (an accept loop's) or
// ErrServerClosed — at once when the server is already closed. A second
// call while one is running returns [ErrServeForeverRunning] at once; a nil
// ctx, an error wrapping [chanstream.ErrInvalidArgument].
func (s *Server) ServeForever(ctx context.Context) error {
	if ctx == nil {
		return invalid("serve forever: nil ctx")
	}
	s.mu.Lock()
	if s.forever {
		s.mu.Unlock()
		return ErrServeForeverRunning
	}
	if s.acceptErr != nil { // closed by an accept error: that is the answer, every time
		err := s.acceptErr
		s.mu.Unlock()
		return err
	}
	s.forever = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.forever = false
		s.mu.Unlock()
	}()
	if err := s.StartServing(); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		s.Close()
		return ctx.Err()
	case <-s.closing:
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.acceptErr != nil {
			return s.acceptErr
		}
		return ErrServerClosed
	}
}

// Close stops listening: the listeners are closed and no connection is
// accepted any more. Live connections and their handlers go on; WaitClosed
// waits for them. It does not block, is idempotent, and returns the
// listeners' close errors the first time.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.closing) // the only closer
	s.mu.Unlock()
	var errs []error
	for _, ln := range s.lns {
		if err := ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	// The accept loops are in the group and add every handler to it while
	// they run, so once Wait returns nothing can be added any more.
	go func() {
		connlabel.OfListeners(s.Addrs()).Apply()
		_ = s.group.Wait()
		s.stopHandlers() // releases baseCtx
		close(s.done)    // the only closer
	}()
	return errors.Join(errs...)
}

// CloseClients closes every live connection gracefully, as
// [chanstream.Writer.Close] does: what is queued is written first. A
// connection still in its TLS handshake is closed at once. It does not
// block.
func (s *Server) CloseClients() {
	for _, c := range s.snapshot() {
		c.close()
	}
}

// AbortClients aborts every live connection: queued bytes are dropped and
// the connections closed now. It does not block.
func (s *Server) AbortClients() {
	for _, c := range s.snapshot() {
		c.abort()
	}
}

func (s *Server) snapshot() []*conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		cs = append(cs, c)
	}
	return cs
}

// Shutdown closes the server, ends every handler's ctx and waits until
// every handler has returned and its connection closed. It returns nil when
// that happens before ctx ends; at ctx end it aborts the connections left
// (AbortClients) and returns ctx.Err() without waiting further.
//
// It logs at Info as it begins (with the number of live connections) and
// as it ends (with how many connections it aborted, if any). A nil ctx
// returns an error wrapping [chanstream.ErrInvalidArgument] and does
// nothing.
func (s *Server) Shutdown(ctx context.Context) error {
	if ctx == nil {
		return invalid("shutdown: nil ctx")
	}
	log := s.cfg.logger
	log.Debug("server: shutdown begun", "addrs", s.Addrs(), "active", s.ActiveConns())
	err := s.Close()
	s.stopHandlers()
	select {
	case <-s.done:
		log.Debug("server: shutdown finished", "addrs", s.Addrs())
		return err
	case <-ctx.Done():
		left := s.ActiveConns()
		s.AbortClients()
		log.Info("server: shutdown finished at its deadline", "addrs", s.Addrs(), "aborted", left, "err", ctx.Err())
		return ctx.Err()
	}
}

// WaitClosed blocks until the server is closed and every handler has
// returned and its connection closed, or until ctx ends (then it returns
// ctx.Err()). It returns nil once closed. A nil ctx returns an error
// wrapping [chanstream.ErrInvalidArgument].
func (s *Server) WaitClosed(ctx context.Context) error {
	if ctx == nil {
		return invalid("wait closed: nil ctx")
	}
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Done returns a channel that is closed when WaitClosed would return nil.
func (s *Server) Done() <-chan struct{} { return s.done }

// ActiveConns returns the number of live connections: accepted and not
// yet closed, handshakes included. It does not block.
func (s *Server) ActiveConns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}
