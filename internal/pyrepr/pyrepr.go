// Package pyrepr formats values as Python's repr() does, so that the
// examples print the lines of the asyncio documentation they follow.
package pyrepr

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// String is repr() of the str that bytes.decode() makes of s: quoted with
// ' unless s holds ' and no ", with \\, \n, \r, \t and other
// non-printable characters escaped. Invalid UTF-8 becomes U+FFFD, as
// decode(errors="replace") would.
func String(s string) string {
	q := byte('\'')
	if strings.IndexByte(s, '\'') >= 0 && strings.IndexByte(s, '"') < 0 {
		q = '"'
	}
	var b strings.Builder
	b.WriteByte(q)
	for _, r := range strings.ToValidUTF8(s, string(utf8.RuneError)) {
		switch {
		case r == '\\' || r == rune(q):
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r < 0x80 || unicode.IsPrint(r):
			b.WriteRune(r)
		case r <= 0xff:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r <= 0xffff:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			fmt.Fprintf(&b, `\U%08x`, r)
		}
	}
	b.WriteByte(q)
	return b.String()
}

// Addr is repr() of Python's socket address for a: ('127.0.0.1', 8888)
// for IPv4, ('::1', 8888, 0, 0) for IPv6 (flowinfo, scope id), the path's
// repr for a Unix socket.
func Addr(a net.Addr) string {
	switch a := a.(type) {
	case *net.TCPAddr:
		if a.IP.To4() != nil {
			return "(" + String(a.IP.String()) + ", " + strconv.Itoa(a.Port) + ")"
		}
		scope := 0
		if a.Zone != "" {
			if ifi, err := net.InterfaceByName(a.Zone); err == nil {
				scope = ifi.Index
			}
		}
		return fmt.Sprintf("(%s, %d, 0, %d)", String(a.IP.String()), a.Port, scope)
	case *net.UnixAddr:
		return String(a.Name)
	case nil:
		return "None"
	default:
		return String(a.String())
	}
}
