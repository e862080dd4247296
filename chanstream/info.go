package chanstream

import (
	"crypto/tls"
	"net"
)

// Conn returns the connection — asyncio's transport: the conn given to New,
// or the one the last Upgrade returned (a *tls.Conn after StartTLS). It is
// nil for NewWriter.
func (w *Writer) Conn() net.Conn { return w.c.netConn() }

// RemoteAddr returns the connection's remote address, or nil without one.
func (w *Writer) RemoteAddr() net.Addr {
	if c := w.Conn(); c != nil {
		return c.RemoteAddr()
	}
	return nil
}

// LocalAddr returns the connection's local address, or nil without one.
func (w *Writer) LocalAddr() net.Addr {
	if c := w.Conn(); c != nil {
		return c.LocalAddr()
	}
	return nil
}

// ServerSide reports whether the stream is the accepting side of its
// connection (WithServerSide).
func (w *Writer) ServerSide() bool { return w.c.serverSide }

// ExtraInfo returns asyncio's get_extra_info(name), or nil where unknown:
// "peername" and "sockname" (net.Addr); "socket" (the net.Conn under any
// TLS layer, and under any wrapper that has a NetConn method as *tls.Conn
// does); and over TLS "sslcontext" (*tls.Config: WithTLS's, or the one
// tlsup.StartTLS ran with; see [Writer.SetTLSConfig]), "ssl_object" (*tls.Conn), "peercert" (*x509.Certificate,
// the peer's leaf), "cipher" (string) and "tls" (tls.ConnectionState).
func (w *Writer) ExtraInfo(name string) any {
	c := w.Conn()
	if c == nil {
		return nil
	}
	tc, isTLS := c.(*tls.Conn)
	switch name {
	case "peername":
		return c.RemoteAddr()
	case "sockname":
		return c.LocalAddr()
	case "socket":
		return socketOf(c)
	}
	if !isTLS {
		return nil
	}
	switch name {
	case "sslcontext":
		w.c.mu.Lock()
		cfg := w.c.tlsCfg
		w.c.mu.Unlock()
		if cfg == nil {
			return nil
		}
		return cfg
	case "ssl_object":
		return tc
	case "peercert":
		if certs := tc.ConnectionState().PeerCertificates; len(certs) > 0 {
			return certs[0]
		}
	case "cipher":
		return tls.CipherSuiteName(tc.ConnectionState().CipherSuite)
	case "tls":
		return tc.ConnectionState()
	}
	return nil
}

// socketOf returns the connection under c's layers: through a *tls.Conn,
// and through any wrapper that says what it wraps with a NetConn method, as
// *tls.Conn does (tlsup's, which replays bytes read before an upgrade).
func socketOf(c net.Conn) net.Conn {
	for {
		u, ok := c.(interface{ NetConn() net.Conn })
		if !ok {
			return c
		}
		c = u.NetConn()
	}
}
