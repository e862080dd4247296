// Package server is asyncio's start_server for Go: it accepts connections
// and runs a [Handler] for each, with the connection as a
// [chanstream.Reader] and [chanstream.Writer], and shuts down without
// leaking a goroutine.
//
//	srv, err := server.Start(ctx, "127.0.0.1:8888", func(ctx context.Context, r *chanstream.Reader, w *chanstream.Writer) error {
//		data, err := r.ReadUpTo(ctx, 100)
//		if err != nil {
//			return err
//		}
//		w.Write(data)
//		return w.Drain(ctx)
//	})
//	...
//	err = srv.Shutdown(shutdownCtx)
//
// # Goroutines
//
// One accept loop per listening socket, and per connection the handler's
// goroutine, which also runs the TLS handshake and, after the handler
// returns, waits for the graceful close. The stream adds its own: its
// reader goroutine, always reading, so that a peer's FIN or reset ends the
// handler's ctx even while the handler waits on something else, and a
// writer goroutine while it has bytes to write. An idle connection is two
// parked goroutines and no buffer. Accept loops and connection goroutines
// run in one errgroup; [Server.Done] is closed when it is finished after
// Close.
//
// # Lifecycle
//
// [Server.Close] stops listening and leaves connections alone (asyncio's
// close). [Server.CloseClients] closes them gracefully, [Server.AbortClients]
// at once. [Server.Shutdown] is the ladder that always ends: stop listening,
// end every handler's ctx, wait for the handlers and their connections, and
// at the deadline abort what is left. [Server.WaitClosed] and
// [Server.Done] report the end.
//
// # Failures
//
// No single connection can take the server down: a handler's error is
// logged, its panic recovered and logged with the stack (the connection is
// aborted), a failed TLS handshake closes only that connection. Transient
// accept errors (EMFILE, ENFILE, ECONNABORTED, ENOBUFS, ENOMEM, timeouts)
// are logged and retried after a back-off from 5 ms doubling to 1 s; any
// other accept error closes the server and is returned by
// [Server.ServeForever].
//
// # Options
//
// Invalid options — including stream options passed with
// [WithStreamOptions] — make [Start] and [StartListener] return an error
// wrapping [chanstream.ErrInvalidArgument]; nothing is bound then.
package server
