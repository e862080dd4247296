package chanstream

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"time"
)

// handshake runs the TLS handshake of OpenConnection and NewContext over
// conn — the server's with WithServerSide, else the client's — bounded by
// the handshake timeout and ctx. The config is cloned; a client's
// ServerName comes from host unless it has one or host is "". On failure
// conn is closed.
func (c *config) handshake(ctx context.Context, conn net.Conn, host string) (*tls.Conn, error) {
	cfg := c.tls.Clone()
	var tc *tls.Conn
	if c.serverSide {
		tc = tls.Server(conn, cfg)
	} else {
		if cfg.ServerName == "" && host != "" {
			cfg.ServerName = host
			if ip, err := netip.ParseAddr(host); err == nil {
				cfg.ServerName = ip.WithZone("").String() // a zone is not part of the certificate's name
			}
		}
		tc = tls.Client(conn, cfg)
	}
	hctx, cancel := context.WithTimeout(ctx, c.handshakeTimeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		_ = conn.Close()
		if ctx.Err() == nil && hctx.Err() != nil {
			return nil, fmt.Errorf("tls handshake: timed out after %v: %w", c.handshakeTimeout, err)
		}
		return nil, fmt.Errorf("tls handshake: %w", err)
	}
	return tc, nil
}

// The TLS shutdown bound. Close over TLS — the connection is a *tls.Conn
// when Close is called, however it became one — arms a timer for the
// shutdown timeout; if the flush and the close_notify have not finished
// when it fires, it records the timeout as the stream's failure and closes
// the socket under the TLS layer, which ends the writer goroutine's Write
// and the reader goroutine's Read, so Close and WaitClosed are bounded
// whatever the peer does. closeNow stops the timer.

// armShutdown starts the shutdown timer when the stream is TLS and still
// live. Close calls it once; Upgrade again when Close came during its fn.
func (c *conn) armShutdown() {
	c.mu.Lock()
	defer c.mu.Unlock()
	tc, ok := c.nc.(*tls.Conn)
	if !ok || c.shutdownTimer != nil || c.phase != live {
		return
	}
	raw, d := socketOf(tc), c.shutdownTimeout
	c.shutdownTimer = time.AfterFunc(d, func() {
		c.mu.Lock()
		if c.shutdownTimer == nil { // stopped: the stream closed in time
			c.mu.Unlock()
			return
		}
		c.failLocked(fmt.Errorf("tls shutdown timed out after %v: %w", d, ErrClosed))
		c.mu.Unlock()
		_ = raw.Close() // the writer and reader goroutines return from their calls
	})
}

// stopShutdown stops the shutdown timer, if any. closeNow calls it once
// the connection is closed.
func (c *conn) stopShutdown() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.shutdownTimer != nil {
		c.shutdownTimer.Stop()
		c.shutdownTimer = nil
	}
}

// SetTLSShutdownTimeout sets the bound on Close's flush and close_notify
// over TLS — WithTLSShutdownTimeout's, for a stream that became TLS after
// it was made (tlsup.StartTLS sets it). It applies to a Close made after
// it. d ≤ 0 returns an error wrapping ErrInvalidArgument and changes
// nothing. It does not block.
func (w *Writer) SetTLSShutdownTimeout(d time.Duration) error {
	if d <= 0 {
		return invalid("tls shutdown timeout", "%v ≤ 0", d)
	}
	w.c.mu.Lock()
	w.c.shutdownTimeout = d
	w.c.mu.Unlock()
	return nil
}
