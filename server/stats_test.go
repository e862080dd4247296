package server_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"testing"

	"github.com/cspstream/streams/chanstream"
	"github.com/cspstream/streams/server"
	"github.com/cspstream/streams/testutil"
)

// TestServerStats runs a handler that ends each of the ways a handler can
// — nil, an error, io.EOF, a panic — and one that holds its connection,
// and checks the counts after each client has seen its connection end.
func TestServerStats(t *testing.T) {
	testutil.CheckLeaks(t)
	ctx := testCtx(t)
	started := make(chan struct{}, 1)
	h := func(ctx context.Context, r *chanstream.Reader, w *chanstream.Writer) error {
		line, err := r.ReadLine(ctx)
		if err != nil {
			return err
		}
		switch string(line) {
		case "err\n":
			return errors.New("handler failed")
		case "eof\n":
			return io.EOF
		case "panic\n":
			panic("handler panicked")
		case "hold\n":
			started <- struct{}{}
			<-ctx.Done()
		}
		return nil
	}
	s, err := server.Start(ctx, "127.0.0.1:0", h, server.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatalf("Start() = %v", err)
	}
	addr := s.Addrs()[0].String()
	if got := s.Stats(); got != (server.ServerStats{}) {
		t.Fatalf("Stats() before any connection = %+v; want zero", got)
	}

	hold, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("Dial() = %v", err)
	}
	defer hold.Close()
	hold.Write([]byte("hold\n"))
	<-started
	if got, want := s.Stats(), (server.ServerStats{Accepted: 1, Active: 1}); got != want {
		t.Fatalf("Stats() with one handler running = %+v; want %+v", got, want)
	}

	for _, cmd := range []string{"ok\n", "err\n", "eof\n", "panic\n", "err\n"} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("Dial() = %v", err)
		}
		c.Write([]byte(cmd))
		io.ReadAll(c) // until the server closes (or resets, after the panic)
		c.Close()
	}
	got := s.Stats()
	if got.Accepted != 6 || got.HandlerErrors != 2 || got.Panics != 1 || got.Active < 1 {
		t.Fatalf("Stats() after five clients = %+v; want Accepted 6, HandlerErrors 2, Panics 1, Active ≥ 1", got)
	}

	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown() = %v", err)
	}
	if got, want := s.Stats(), (server.ServerStats{Accepted: 6, HandlerErrors: 2, Panics: 1}); got != want {
		t.Fatalf("Stats() after Shutdown = %+v; want %+v", got, want)
	}
}
