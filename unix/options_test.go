package unix_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cspstream/streams/chanstream"
	"github.com/cspstream/streams/server"
	"github.com/cspstream/streams/unix"
)

// TestOptionsNotApplied: OpenConnection takes New's options; a dial
// option of chanstream.OpenConnection, or the handshake timeout without
// WithTLS, fails it naming the option before anything is dialed, and so
// does a nil ctx. StartServer refuses a nil ctx or handler, and
// chanstream.WithTLS as a stream option, pointing to server.WithTLS.
func TestOptionsNotApplied(t *testing.T) {
	path := sockPath(t)
	accepted := make(chan struct{}, 8)
	startServer(t, path, func(ctx context.Context, r *chanstream.Reader, w *chanstream.Writer) error {
		accepted <- struct{}{}
		return nil
	})
	for name, opt := range map[string]chanstream.Option{
		"WithNetwork":             chanstream.WithNetwork("tcp4"),
		"WithKeepAlive":           chanstream.WithKeepAlive(time.Second),
		"WithDialer":              chanstream.WithDialer(nil),
		"WithHappyEyeballsDelay":  chanstream.WithHappyEyeballsDelay(0),
		"WithTLSHandshakeTimeout": chanstream.WithTLSHandshakeTimeout(time.Second),
	} {
		_, _, err := unix.OpenConnection(testCtx(t), path, opt)
		if !errors.Is(err, chanstream.ErrInvalidArgument) || !strings.Contains(err.Error(), name) {
			t.Errorf("OpenConnection(%s) = %v; want ErrInvalidArgument naming it", name, err)
		}
	}
	var nilCtx context.Context
	if _, _, err := unix.OpenConnection(nilCtx, path); !errors.Is(err, chanstream.ErrInvalidArgument) {
		t.Errorf("OpenConnection(nil ctx) = %v; want ErrInvalidArgument", err)
	}
	select {
	case <-accepted:
		t.Error("a refused OpenConnection connected first")
	default:
	}
	other := sockPath(t)
	if _, err := unix.StartServer(nilCtx, other, byteEcho); !errors.Is(err, chanstream.ErrInvalidArgument) {
		t.Errorf("StartServer(nil ctx) = %v; want ErrInvalidArgument", err)
	}
	if _, err := unix.StartServer(context.Background(), other, nil); !errors.Is(err, chanstream.ErrInvalidArgument) {
		t.Errorf("StartServer(nil handler) = %v; want ErrInvalidArgument", err)
	}
	_, err := unix.StartServer(context.Background(), other, byteEcho, server.WithStreamOptions(chanstream.WithTLS(nil)))
	if !errors.Is(err, chanstream.ErrInvalidArgument) || !strings.Contains(err.Error(), "server.WithTLS") {
		t.Errorf("StartServer(WithStreamOptions(WithTLS)) = %v; want ErrInvalidArgument pointing to server.WithTLS", err)
	}
	if exists(other) {
		t.Error("a refused StartServer left a socket file")
	}
}
