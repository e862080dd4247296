package server

import (
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"

	"github.com/cspstream/streams/internal/connlabel"
)

// Back-off between transient accept errors, as net/http's Serve does.
const (
	minAcceptDelay = 5 * time.Millisecond
	maxAcceptDelay = time.Second
)

// acceptLoop accepts connections on ln until the server closes, and
// starts a goroutine for each. Transient errors (out of file descriptors or
// memory, an aborted connection, a timeout) are logged and retried after a
// back-off; any other error is logged, closes the server, and is returned.
func (s *Server) acceptLoop(ln net.Listener) error {
	connlabel.OfAddrs(ln.Addr(), nil).Apply()
	var delay time.Duration
	for {
		if s.slots != nil && !s.takeSlot(ln) {
			return nil
		}
		nc, err := ln.Accept()
		if err != nil {
			s.release()
			select {
			case <-s.closing:
				return nil
			default:
			}
			if temporary(err) {
				delay = min(max(2*delay, minAcceptDelay), maxAcceptDelay)
				s.cfg.logger.Warn("server: accept", "addr", ln.Addr(), "err", err, "retry_in", delay)
				t := time.NewTimer(delay)
				select {
				case <-t.C:
				case <-s.closing:
					t.Stop()
					return nil
				}
				continue
			}
			err = fmt.Errorf("server: accept %v: %w", ln.Addr(), err)
			s.cfg.logger.Error("server: accept loop ended", "addr", ln.Addr(), "err", err)
			s.fail(err)
			return err
		}
		delay = 0
		s.serve(nc)
	}
}

// temporary reports whether an accept error may go away by itself.
func temporary(err error) bool {
	for _, e := range []error{syscall.EMFILE, syscall.ENFILE, syscall.ECONNABORTED,
		syscall.ENOBUFS, syscall.ENOMEM, syscall.EINTR, syscall.EAGAIN, syscall.EPROTO} {
		if errors.Is(err, e) {
			return true
		}
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// fail records the error that ended an accept loop and closes the server.
func (s *Server) fail(err error) {
	s.mu.Lock()
	if s.acceptErr == nil && !s.closed {
		s.acceptErr = err
	}
	s.mu.Unlock()
	s.Close()
}

// takeSlot takes a connection slot (WithMaxConns) before the next
// accept, waiting while every slot is taken; the wait is logged (Info as
// it begins, Debug as it ends) so that a server stuck at its limit says so.
// It returns false when the server closes first.
func (s *Server) takeSlot(ln net.Listener) bool {
	select {
	case s.slots <- struct{}{}: // released when a connection ends
		return true
	default:
	}
	s.cfg.logger.Info("server: accepting paused at the connection limit", "addr", ln.Addr(), "max_conns", cap(s.slots))
	select {
	case s.slots <- struct{}{}:
		s.cfg.logger.Debug("server: accepting resumed", "addr", ln.Addr())
		return true
	case <-s.closing:
		return false
	}
}

// release gives back a connection slot (WithMaxConns).
func (s *Server) release() {
	if s.slots != nil {
		<-s.slots
	}
}
