// Package connlabel names a connection's goroutines in goroutine profiles:
// every goroutine a stream or a server starts carries the pprof labels
// "chanstream.remote" and "chanstream.local", the connection's addresses,
// so that a profile — or a leak report — says which connection a goroutine
// serves.
//
// The label set is made once per connection (Of, OfAddrs) and applied at
// the start of each goroutine (Apply): nothing is paid per message. A
// goroutine inherits its creator's labels, so goroutines started by a
// labelled one — a handler's, crypto/tls's handshake watcher — carry them
// too.
package connlabel

import (
	"context"
	"net"
	"runtime/pprof"
	"strings"
)

// The label keys.
const (
	Remote = "chanstream.remote"
	Local  = "chanstream.local"
)

// Set is the labels of one connection, ready to apply. The zero Set
// labels nothing.
type Set struct {
	ctx context.Context // carries the labels; nil for the zero Set
}

// Of returns the labels of v when it has LocalAddr and RemoteAddr methods
// (a net.Conn), else the zero Set.
func Of(v any) Set {
	c, ok := v.(interface {
		LocalAddr() net.Addr
		RemoteAddr() net.Addr
	})
	if !ok {
		return Set{}
	}
	return OfAddrs(c.LocalAddr(), c.RemoteAddr())
}

// OfAddrs returns the labels for the addresses that are not nil: a
// listener has a local address only.
func OfAddrs(local, remote net.Addr) Set {
	var kv []string
	if remote != nil {
		kv = append(kv, Remote, addrString(remote))
	}
	if local != nil {
		kv = append(kv, Local, addrString(local))
	}
	if kv == nil {
		return Set{}
	}
	return Set{ctx: pprof.WithLabels(context.Background(), pprof.Labels(kv...))}
}

// OfListeners returns the labels of a server with these listening
// addresses: "chanstream.local" is the list, comma-separated.
func OfListeners(addrs []net.Addr) Set {
	var b strings.Builder
	for i, a := range addrs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(a.String())
	}
	if b.Len() == 0 {
		return Set{}
	}
	return Set{ctx: pprof.WithLabels(context.Background(), pprof.Labels(Local, b.String()))}
}

// Apply gives the calling goroutine the labels of s, in place of any it
// had; the zero Set leaves it as it is.
func (s Set) Apply() {
	if s.ctx != nil {
		pprof.SetGoroutineLabels(s.ctx)
	}
}

// Value returns the value of the label key in s, and whether s has it.
func (s Set) Value(key string) (string, bool) {
	if s.ctx == nil {
		return "", false
	}
	return pprof.Label(s.ctx, key)
}

// addrString is a.String(), for a TCP address through netip, whose small
// frames keep a goroutine that computes labels (a server's connection
// goroutine, in New) within the 2 KiB stack it starts with; net.IP's
// String alone would outgrow it.
func addrString(a net.Addr) string {
	if t, ok := a.(*net.TCPAddr); ok {
		return t.AddrPort().String()
	}
	return a.String()
}
