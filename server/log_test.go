package server_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cspstream/streams/chanstream"
	"github.com/cspstream/streams/server"
)

// recorder is a slog.Handler that keeps every record and announces each
// message on a channel, so that a test can wait for a log line.
type recorder struct {
	mu   sync.Mutex
	recs []slog.Record
	msgs chan string // every message, in order; large enough for a test's logs
}

func newRecorder() *recorder { return &recorder{msgs: make(chan string, 1024)} }

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	r.recs = append(r.recs, rec.Clone())
	r.mu.Unlock()
	select {
	case r.msgs <- rec.Message:
	default:
	}
	return nil
}
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *recorder) WithGroup(string) slog.Handler      { return r }

// wait returns the level of the first record whose message contains msg,
// waiting for it up to the watchdog.
func (r *recorder) wait(t *testing.T, msg string) slog.Record {
	t.Helper()
	deadline := time.NewTimer(watchdog)
	defer deadline.Stop()
	for {
		select {
		case m := <-r.msgs:
			if strings.Contains(m, msg) {
				r.mu.Lock()
				defer r.mu.Unlock()
				for _, rec := range r.recs {
					if rec.Message == m {
						return rec
					}
				}
			}
		case <-deadline.C:
			t.Fatalf("no log record %q before the watchdog", msg)
		}
	}
}

// TestLogMaxConnsPaused: at WithMaxConns the accept loop says, at Info,
// that it stopped accepting, and at Debug that it resumed.
func TestLogMaxConnsPaused(t *testing.T) {
	rec := newRecorder()
	release := make(chan struct{})
	srv := start(t, func(ctx context.Context, r *chanstream.Reader, w *chanstream.Writer) error {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil
	}, server.WithMaxConns(1), server.WithLogger(slog.New(rec)))
	dial(t, srv.Addrs()[0])
	paused := rec.wait(t, "accepting paused")
	if paused.Level != slog.LevelInfo {
		t.Errorf("accepting paused logged at %v; want INFO", paused.Level)
	}
	var max int64
	paused.Attrs(func(a slog.Attr) bool {
		if a.Key == "max_conns" {
			max = a.Value.Int64()
		}
		return true
	})
	if max != 1 {
		t.Errorf("max_conns = %d; want 1", max)
	}
	close(release)
	if resumed := rec.wait(t, "accepting resumed"); resumed.Level != slog.LevelDebug {
		t.Errorf("accepting resumed logged at %v; want DEBUG", resumed.Level)
	}
}

// TestLogShutdown: Shutdown logs at Debug as it begins and as it ends (a
// program's default logger, at Info, stays quiet).
func TestLogShutdown(t *testing.T) {
	rec := newRecorder()
	srv, err := server.Start(context.Background(), "127.0.0.1:0", lineEcho, server.WithLogger(slog.New(rec)))
	if err != nil {
		t.Fatal(err)
	}
	dial(t, srv.Addrs()[0])
	if err := srv.Shutdown(testCtx(t)); err != nil {
		t.Fatalf("Shutdown() = %v; want nil", err)
	}
	for _, msg := range []string{"shutdown begun", "shutdown finished"} {
		if r := rec.wait(t, msg); r.Level != slog.LevelDebug {
			t.Errorf("%q logged at %v; want DEBUG", msg, r.Level)
		}
	}
}

// TestLogPanicStackJSON: a handler's panic is logged with its stack as one
// attribute per frame, the panicking function first, with no line breaks
// inside a frame — readable in JSON and text logs alike.
func TestLogPanicStackJSON(t *testing.T) {
	var logs logBuffer
	srv := start(t, func(ctx context.Context, r *chanstream.Reader, w *chanstream.Writer) error {
		panicHere()
		return nil
	}, server.WithLogger(slog.New(slog.NewJSONHandler(&logs, nil))))
	c := dial(t, srv.Addrs()[0])
	c.SetReadDeadline(time.Now().Add(watchdog))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("Read from the panicking handler's connection = nil error; want it closed")
	}
	shutdown(t, srv) // joins the handler: its log line is written
	var entry struct {
		Msg   string            `json:"msg"`
		Panic string            `json:"panic"`
		Stack map[string]string `json:"stack"`
	}
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if strings.Contains(line, "handler panic") {
			if err := json.Unmarshal([]byte(line), &entry); err != nil {
				t.Fatalf("log line %s: %v", line, err)
			}
		}
	}
	if entry.Panic != "kaboom" {
		t.Fatalf("panic = %q; want kaboom (log: %s)", entry.Panic, logs.String())
	}
	if len(entry.Stack) < 2 {
		t.Fatalf("stack = %v; want one attribute per frame", entry.Stack)
	}
	if f := entry.Stack["0"]; !strings.Contains(f, "panicHere") || !strings.Contains(f, "server_test.go:") {
		t.Errorf("stack frame 0 = %q; want panicHere with its file:line", f)
	}
	for k, f := range entry.Stack {
		if strings.ContainsAny(f, "\n\t") {
			t.Errorf("stack frame %s = %q has a line break or tab", k, f)
		}
	}
}

// TestStreamOptionsTLSPointsToServer: chanstream's TLS and keep-alive
// options as stream options fail Start, naming the server's own option;
// a dial option fails it too.
func TestStreamOptionsTLSPointsToServer(t *testing.T) {
	for _, tc := range []struct {
		opt  chanstream.Option
		want string
	}{
		{chanstream.WithTLS(nil), "server.WithTLS"},
		{chanstream.WithTLS(&tls.Config{}), "server.WithTLS"},
		{chanstream.WithTLSHandshakeTimeout(time.Second), "server.WithTLSHandshakeTimeout"},
		{chanstream.WithKeepAlive(time.Second), "server.WithKeepAlive"},
		{chanstream.WithNetwork("tcp4"), "WithNetwork"},
		{chanstream.WithDialer(nil), "WithDialer"},
	} {
		srv, err := server.Start(context.Background(), "127.0.0.1:0", lineEcho, server.WithStreamOptions(tc.opt))
		if err == nil {
			shutdown(t, srv)
			t.Errorf("Start(WithStreamOptions(%s)) = nil error; want one", tc.want)
			continue
		}
		if !errors.Is(err, chanstream.ErrInvalidArgument) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Start(WithStreamOptions(...)) = %v; want ErrInvalidArgument naming %s", err, tc.want)
		}
	}
}

// TestNilContext: a nil ctx is an error wrapping ErrInvalidArgument at the
// call.
func TestNilContext(t *testing.T) {
	var nilCtx context.Context
	if _, err := server.Start(nilCtx, "127.0.0.1:0", lineEcho); !errors.Is(err, chanstream.ErrInvalidArgument) {
		t.Errorf("Start(nil ctx) = %v; want ErrInvalidArgument", err)
	}
	srv := start(t, lineEcho)
	for name, f := range map[string]func(context.Context) error{
		"ServeForever": srv.ServeForever, "Shutdown": srv.Shutdown, "WaitClosed": srv.WaitClosed,
	} {
		if err := f(nilCtx); !errors.Is(err, chanstream.ErrInvalidArgument) {
			t.Errorf("%s(nil ctx) = %v; want ErrInvalidArgument", name, err)
		}
	}
	if !srv.IsServing() {
		t.Error("the server stopped serving after calls with a nil ctx")
	}
}
