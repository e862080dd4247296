// Package unix is asyncio's open_unix_connection and start_unix_server:
// streams and servers over Unix-domain sockets.
//
//	srv, err := unix.StartServer(ctx, "/run/app.sock", handler)
//	...
//	r, w, err := unix.OpenConnection(ctx, "/run/app.sock")
//
// A path that starts with "@" names a socket in Linux's abstract
// namespace: no file is made. Other systems have no such namespace, and
// there Listen refuses a path that starts with "@" (an error wrapping
// [chanstream.ErrInvalidArgument]). Otherwise [Listen] makes the socket file,
// replacing a stale one (a socket file nobody listens on; it probes by
// connecting), refusing a path where a live listener answers (an error
// that errors.Is(err, syscall.EADDRINUSE)) or where any other kind of file
// is (errors.Is(err, fs.ErrExist); the file is left untouched). By default
// the file is removed when the listener closes, unless another one has
// replaced it meanwhile.
//
// [PeerCredentials] tells who is on the other end (SO_PEERCRED on Linux).
package unix
