package pyrepr

import (
	"net"
	"testing"
)

func TestString(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Hello World!", `'Hello World!'`},
		{"", `''`},
		{"it's", `"it's"`},
		{`it's "x"`, `'it\'s "x"'`},
		{"a\nb\r\t\\", `'a\nb\r\t\\'`},
		{"\x00\x7f", `'\x00\x7f'`},
		{"안녕", `'안녕'`},
		{"\xff", `'�'`},
		{"\u00a0", `'\xa0'`},
		{"héllo", `'héllo'`},
		{"\u2028", `'\u2028'`},
	} {
		if got := String(tc.in); got != tc.want {
			t.Errorf("String(%q) = %s; want %s", tc.in, got, tc.want)
		}
	}
}

func TestAddr(t *testing.T) {
	for _, tc := range []struct {
		in   net.Addr
		want string
	}{
		{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8888}, `('127.0.0.1', 8888)`},
		{&net.TCPAddr{IP: net.IPv6loopback, Port: 8888}, `('::1', 8888, 0, 0)`},
		{&net.UnixAddr{Name: "/tmp/s", Net: "unix"}, `'/tmp/s'`},
		{nil, `None`},
	} {
		if got := Addr(tc.in); got != tc.want {
			t.Errorf("Addr(%v) = %s; want %s", tc.in, got, tc.want)
		}
	}
}
