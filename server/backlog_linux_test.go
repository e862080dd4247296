//go:build amd64 || arm64

package server_test

import (
	"context"
	"net"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/cspstream/streams/chanstream"
	"github.com/cspstream/streams/server"
)

// acceptQueue reads a listening socket's accept queue with TCP_INFO:
// Linux reports its length in tcpi_unacked and the backlog listen(2) set
// in tcpi_sacked.
func acceptQueue(t *testing.T, ln net.Listener) (length, backlog int) {
	t.Helper()
	rc, err := ln.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var info syscall.TCPInfo
	var errno syscall.Errno
	rc.Control(func(fd uintptr) {
		size := uint32(unsafe.Sizeof(info))
		_, _, errno = syscall.Syscall6(syscall.SYS_GETSOCKOPT, fd, syscall.IPPROTO_TCP, syscall.TCP_INFO,
			uintptr(unsafe.Pointer(&info)), uintptr(unsafe.Pointer(&size)), 0)
	})
	if errno != 0 {
		t.Fatalf("getsockopt TCP_INFO: %v", errno)
	}
	return int(info.Unacked), int(info.Sacked)
}

// TestBacklog checks that WithBacklog reaches listen(2): the listener's
// backlog as the kernel reports it, then its effect with nothing
// accepting: Linux completes backlog+1 connections and drops the SYNs of
// the rest. Nothing here depends on timing: the connections that must
// complete are dialed one at a time with the watchdog as their bound, and
// the next one is dialed only once the kernel shows the previous one in
// the accept queue (so no handshake is still in flight when the queue
// fills). The one that must not complete gets a short timeout on purpose:
// its SYN is dropped while the queue is full, which a loaded machine
// cannot change — load can only make a dial slower, never make a dropped
// one succeed.
func TestBacklog(t *testing.T) {
	idle := func(ctx context.Context, r *chanstream.Reader, w *chanstream.Writer) error { return nil }
	const backlog = 2
	srv := start(t, idle, server.WithStartServing(false), server.WithBacklog(backlog))
	ln := server.Listeners(srv)[0]
	if _, got := acceptQueue(t, ln); got != backlog {
		t.Fatalf("listener backlog %d; want %d", got, backlog)
	}
	addr := srv.Addrs()[0].String()
	for i := 1; i <= backlog+1; i++ {
		c, err := net.DialTimeout("tcp", addr, watchdog)
		if err != nil {
			t.Fatalf("connection %d of %d (the queue has room): %v", i, backlog+1, err)
		}
		defer c.Close()
		deadline := time.Now().Add(watchdog)
		for n, _ := acceptQueue(t, ln); n < i; n, _ = acceptQueue(t, ln) {
			if time.Now().After(deadline) {
				t.Fatalf("accept queue holds %d; want %d after connection %d", n, i, i)
			}
			time.Sleep(time.Millisecond) // waiting for the kernel's state, not for a guess
		}
	}
	if c, err := net.DialTimeout("tcp", addr, 500*time.Millisecond); err == nil {
		c.Close()
		t.Fatalf("connection %d completed with a full accept queue (backlog %d)", backlog+2, backlog)
	}
	if n, _ := acceptQueue(t, ln); n != backlog+1 {
		t.Fatalf("accept queue holds %d; want %d", n, backlog+1)
	}

	srv2 := start(t, idle, server.WithStartServing(false))
	if _, got := acceptQueue(t, server.Listeners(srv2)[0]); got != server.DefaultBacklog {
		t.Fatalf("default listener backlog %d; want %d", got, server.DefaultBacklog)
	}
}
