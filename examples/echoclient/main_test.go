package main

import (
	"bytes"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/cspstream/streams/testutil"
)

func TestMain(m *testing.M) { testutil.VerifyTestMain(m) }

// echoOnce serves one connection as the seed's handle_echo: read up to
// 100 bytes, write them back, close. It returns when that is done.
func echoOnce(t *testing.T) (addr string, done <-chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan struct{})
	go func() {
		defer close(ch)
		defer ln.Close()
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, 100)
		n, _ := c.Read(buf)
		c.Write(buf[:n])
	}()
	t.Cleanup(func() { ln.Close(); <-ch })
	return ln.Addr().String(), ch
}

func TestEchoClient(t *testing.T) {
	for _, tt := range []struct {
		msg, want string
	}{
		{"Hello World!", "Send: 'Hello World!'\nReceived: 'Hello World!'\nClose the connection\n"},
		{"It's", "Send: \"It's\"\nReceived: \"It's\"\nClose the connection\n"},
		{"tab\there", "Send: 'tab\\there'\nReceived: 'tab\\there'\nClose the connection\n"},
	} {
		t.Run(tt.msg, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			addr, done := echoOnce(t)
			var out bytes.Buffer
			args := []string{"-addr", addr}
			if tt.msg != "Hello World!" {
				args = append(args, "-msg", tt.msg)
			}
			if err := run(ctx, args, &out); err != nil {
				t.Fatalf("run: %v", err)
			}
			<-done
			if out.String() != tt.want {
				t.Fatalf("output = %q; want %q", out.String(), tt.want)
			}
		})
	}
}

func TestEchoClientRefused(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	var out bytes.Buffer
	err = run(ctx, []string{"-addr", addr}, &out)
	if err == nil || !strings.Contains(err.Error(), addr) || out.Len() != 0 {
		t.Fatalf("run against a closed port = %v, output %q; want an error naming %s and no output", err, out.String(), addr)
	}
}
