package chanstream

import (
	"context"
	"crypto/tls"
	"math/bits"
	"net"
	"time"
)

// Where each option applies. Every option records itself in config.given;
// the constructors check the set against the call's before anything else,
// so that no option is ever ignored (see the package doc, "Options").

// optionSet is a set of options, one bit each.
type optionSet uint16

const (
	optLimit optionSet = 1 << iota
	optWriteBufferLimits
	optTLS
	optTLSHandshakeTimeout
	optTLSShutdownTimeout
	optServerSide
	optNetwork
	optLocalAddr
	optHappyEyeballsDelay
	optInterleave
	optKeepAlive
	optDialer
	optMaxWriteBuffer
	optLookup // tests' WithLookup
)

// optionNames are the options' names, by bit, for the errors.
var optionNames = [...]string{
	"WithLimit", "WithWriteBufferLimits", "WithTLS", "WithTLSHandshakeTimeout",
	"WithTLSShutdownTimeout", "WithServerSide", "WithNetwork", "WithLocalAddr",
	"WithHappyEyeballsDelay", "WithInterleave", "WithKeepAlive", "WithDialer", "WithMaxWriteBuffer", "WithLookup",
}

// first returns the name of the first option in s, which is not empty.
func (s optionSet) first() string { return optionNames[bits.TrailingZeros16(uint16(s))] }

// A call a config is checked for.
type use uint8

const (
	useNew        use = iota // New
	useNewContext            // NewContext and unix.OpenConnection: New's options
	useDial                  // OpenConnection
	useNewReader             // NewReader
	useNewWriter             // NewWriter
	useServer                // server.WithStreamOptions: New's, less what the server does itself
)

const (
	streamOptions = optLimit | optWriteBufferLimits | optMaxWriteBuffer | optTLS | optTLSHandshakeTimeout | optTLSShutdownTimeout | optServerSide
	dialOnly      = optNetwork | optLocalAddr | optHappyEyeballsDelay | optInterleave | optKeepAlive | optDialer | optLookup
)

// checkFor returns the error of the first invalid option value, or of the
// first option that u cannot apply, naming it; nil when every option takes
// effect. v is the conn, source or sink given to the call, or nil where
// there is none yet (OpenConnection, CheckOptions, the server).
func (c *config) checkFor(u use, v any) error {
	if c.err != nil {
		return c.err
	}
	if extra := c.given &^ applies(u, v); extra != 0 {
		return notHere(u, extra)
	}
	if err := c.checkMaxWrite(); err != nil {
		return err
	}
	if c.given&optTLSHandshakeTimeout != 0 && !c.tlsSet {
		return invalid("WithTLSHandshakeTimeout", "no TLS handshake to bound without WithTLS")
	}
	if !c.tlsSet || c.tlsDone {
		return nil
	}
	switch {
	case c.serverSide && c.tls == nil:
		return invalid("WithTLS", "a nil config on the server side (it needs a certificate)")
	case c.serverSide && len(c.tls.Certificates) == 0 && c.tls.GetCertificate == nil && c.tls.GetConfigForClient == nil:
		return invalid("WithTLS", "no certificate in the config for the server side")
	case !c.serverSide && u != useDial && (c.tls == nil || c.tls.ServerName == "" && !c.tls.InsecureSkipVerify):
		return invalid("WithTLS", "no ServerName in the config and no host to take it from (set ServerName, or dial with OpenConnection)")
	}
	return nil
}

// applies returns the options u takes for v.
func applies(u use, v any) optionSet {
	switch u {
	case useNew, useNewContext:
		return streamOptions
	case useServer:
		return streamOptions &^ (optTLS | optTLSHandshakeTimeout)
	case useDial:
		return streamOptions&^optServerSide | dialOnly
	case useNewReader:
		return optLimit
	case useNewWriter:
		if _, ok := v.(*tls.Conn); ok {
			return optWriteBufferLimits | optMaxWriteBuffer | optTLSShutdownTimeout
		}
		return optWriteBufferLimits | optMaxWriteBuffer
	}
	return 0
}

var (
	callName = [...]string{useNew: "New", useNewContext: "NewContext", useDial: "OpenConnection",
		useNewReader: "NewReader", useNewWriter: "NewWriter", useServer: "server stream options"}
	argName = [...]string{useNew: "conn", useNewContext: "conn", useNewReader: "source", useNewWriter: "sink"}
)

// nilArg is the error for a nil conn, source or sink given to u.
func nilArg(u use) error { return invalid(callName[u], "nil %s", argName[u]) }

// notHere is the error for options u cannot apply; it names the first.
func notHere(u use, extra optionSet) error {
	name := extra.first()
	bit := extra & -extra
	switch {
	case u == useServer && bit == optTLS:
		return invalid(name, "a server's TLS is server.WithTLS, not a stream option")
	case u == useServer && bit == optTLSHandshakeTimeout:
		return invalid(name, "a server's TLS handshake timeout is server.WithTLSHandshakeTimeout, not a stream option")
	case u == useServer && bit == optKeepAlive:
		return invalid(name, "a server's keep-alive is server.WithKeepAlive, not a stream option")
	case bit&dialOnly != 0:
		return invalid(name, "%s does not dial: it is an option of OpenConnection", callName[u])
	case u == useDial && bit == optServerSide:
		return invalid(name, "OpenConnection dials: its stream is the client side")
	case u == useNewWriter && bit == optTLSShutdownTimeout:
		return invalid(name, "NewWriter's sink is not a *tls.Conn")
	}
	return invalid(name, "%s does not take it", callName[u])
}

// mustConfigFor is mustConfig for New (u useNew, v the conn), NewReader
// and NewWriter: it panics with the error of checkFor, which wraps
// ErrInvalidArgument and names the option, or the nil conn, source or sink.
func mustConfigFor(u use, v any, opts []Option) *config {
	if v == nil {
		panic(nilArg(u))
	}
	c := newConfig(opts)
	if err := c.checkFor(u, v); err != nil {
		panic(err)
	}
	return c
}

// wrapTLS returns conn as New's WithTLS asks: conn itself without it (or
// when NewContext has run the handshake), else a tls.Client over it — a
// tls.Server on the server side — whose handshake starts at once in a
// goroutine of its own, so that New does not block. The handshake is
// bounded by a deadline on conn, the handshake timeout from now; the
// goroutine clears it when the handshake succeeds and returns then. A
// failed or timed-out handshake is the error the stream's first read and
// write return (its reads and Err report it). Reads and writes wait for
// the handshake, as crypto/tls's do; so do ExtraInfo's "peercert",
// "cipher" and "tls".
func (c *config) wrapTLS(conn net.Conn) net.Conn {
	if !c.tlsSet || c.tlsDone {
		return conn
	}
	if c.tls == nil {
		c.tls = &tls.Config{} // what ExtraInfo("sslcontext") reports; checkFor made sure a client has a name
	}
	cfg := c.tls.Clone()
	var tc *tls.Conn
	if c.serverSide {
		tc = tls.Server(conn, cfg)
	} else {
		tc = tls.Client(conn, cfg)
	}
	_ = conn.SetDeadline(time.Now().Add(c.handshakeTimeout)) // the reader goroutine clears it after the handshake (Reader.handshake)
	return tc
}

// CheckOptions returns the error NewContext, and New with a panic, would
// report for opts without a conn to look at — one that wraps
// ErrInvalidArgument and names the option — or nil. Packages that pass
// stream options on to NewContext (unix) call it first, so that a bad
// option is an error before anything is done. It does not block.
func CheckOptions(opts ...Option) error {
	return newConfig(opts).checkFor(useNewContext, nil)
}

// CheckServerOptions returns the error that opts, as the stream options of
// a server (server.WithStreamOptions), make server.Start return, or nil:
// New's rules on the server side, and neither WithTLS, nor
// WithTLSHandshakeTimeout, nor WithKeepAlive, which are the server's own
// options (server.WithTLS, server.WithTLSHandshakeTimeout,
// server.WithKeepAlive) — the error points to them. It does not block.
func CheckServerOptions(opts ...Option) error {
	c := newConfig(opts)
	c.serverSide = true
	return c.checkFor(useServer, nil)
}

// checkUpgrade is Upgrade's check of its arguments, before it touches the
// stream.
func checkUpgrade(ctx context.Context, fn func(context.Context, net.Conn, []byte) (net.Conn, error)) error {
	switch {
	case ctx == nil:
		return invalid("upgrade", "nil ctx")
	case fn == nil:
		return invalid("upgrade", "nil fn")
	}
	return nil
}
