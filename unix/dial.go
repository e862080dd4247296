package unix

import (
	"context"
	"fmt"
	"net"

	"github.com/cspstream/streams/chanstream"
	"github.com/cspstream/streams/server"
)

// OpenConnection connects to the Unix-domain socket path and returns the
// connection as a Reader and Writer: asyncio's open_unix_connection. It
// blocks until connected or ctx ends (then the error wraps ctx.Err()). An
// invalid option, or one [chanstream.NewContext] does not take (those of
// OpenConnection's dialing: WithNetwork, WithDialer, …), is an error
// wrapping [chanstream.ErrInvalidArgument] that names it, and so is a nil
// ctx; nothing is dialed then.
//
// With [chanstream.WithTLS], a TLS client handshake follows the connect,
// as [chanstream.NewContext] runs it: bounded by ctx and
// [chanstream.WithTLSHandshakeTimeout]. A socket path is no host name, so
// the config must set ServerName (or InsecureSkipVerify); otherwise the
// error wraps chanstream.ErrInvalidArgument. On any error the socket is
// closed.
func OpenConnection(ctx context.Context, path string, opts ...chanstream.Option) (*chanstream.Reader, *chanstream.Writer, error) {
	if err := chanstream.CheckOptions(opts...); err != nil {
		return nil, nil, fmt.Errorf("unix: open connection: %w", err)
	}
	if ctx == nil {
		return nil, nil, fmt.Errorf("unix: open connection: %w: nil ctx", chanstream.ErrInvalidArgument)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, nil, fmt.Errorf("unix: %w", err)
	}
	r, w, err := chanstream.NewContext(ctx, conn, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("unix: open connection %s: %w", path, err)
	}
	return r, w, nil
}

// StartServer listens on path with Listen's defaults and serves it with h:
// asyncio's start_unix_server. For listen options, call Listen and
// [server.StartListener] yourself. Invalid options are an error wrapping
// [chanstream.ErrInvalidArgument], and then nothing is touched at path.
// ctx is checked before anything is done; the server lives until Close or
// Shutdown.
func StartServer(ctx context.Context, path string, h server.Handler, opts ...server.Option) (*server.Server, error) {
	if err := server.CheckOptions(opts...); err != nil {
		return nil, err
	}
	if ctx == nil {
		return nil, fmt.Errorf("unix: start server: %w: nil ctx", chanstream.ErrInvalidArgument)
	}
	if h == nil {
		return nil, fmt.Errorf("unix: start server: %w: nil handler", chanstream.ErrInvalidArgument)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ln, err := Listen(path)
	if err != nil {
		return nil, err
	}
	srv, err := server.StartListener(ln, h, opts...)
	if err != nil {
		ln.Close()
		return nil, err
	}
	return srv, nil
}
