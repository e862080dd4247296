package unix_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/cspstream/streams/chanstream"
	"github.com/cspstream/streams/server"
	"github.com/cspstream/streams/testutil"
	"github.com/cspstream/streams/unix"
)

// TestEchoThroughFaults: a Unix-socket server whose connections go through
// FaultConns (reads and writes in pieces of a few bytes, late) echoes a
// client's bytes exactly, the client's own end split too; a client whose
// FaultConn "resets" after 1000 bytes (over a Unix socket: a close) ends
// its handler, and the server goes on serving.
func TestEchoThroughFaults(t *testing.T) {
	ctx := testCtx(t)
	path := sockPath(t)
	ln, err := unix.Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	split := testutil.Faults{MaxRead: 5, MaxWrite: 7, Delay: 20 * time.Microsecond}
	srv, err := server.StartListener(testutil.FaultListener(ln, func(int) testutil.Faults { return split }), byteEcho, quiet())
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	defer func() {
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	}()

	msg := bytes.Repeat([]byte("0123456789abcdef"), 256)
	raw, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	r, w, err := chanstream.NewContext(ctx, testutil.NewFaultConn(raw, split))
	if err != nil {
		t.Fatal(err)
	}
	w.Write(msg)
	w.WriteEOF()
	got, err := r.ReadAll(ctx)
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("ReadAll() = %d bytes, %v; want the %d sent", len(got), err, len(msg))
	}
	w.Close()
	if err := w.WaitClosed(ctx); err != nil {
		t.Fatal(err)
	}

	raw, err = net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	fc := testutil.NewFaultConn(raw, testutil.Faults{ResetAfter: 1000})
	defer fc.Close()
	werr := make(chan error, 1)
	go func() {
		_, err := fc.Write(msg)
		werr <- err
	}()
	fc.SetReadDeadline(time.Now().Add(watchdog))
	echoed, err := io.ReadAll(fc)
	if !errors.Is(err, testutil.ErrReset) || !bytes.Equal(echoed, msg[:len(echoed)]) {
		t.Fatalf("reading past the reset: %d bytes, %v; want a prefix, then ErrReset", len(echoed), err)
	}
	if err := <-werr; !errors.Is(err, testutil.ErrReset) && err != nil {
		t.Fatalf("Write across the reset = %v", err)
	}
	echoOnce(t, path, "still serving\n")
}
