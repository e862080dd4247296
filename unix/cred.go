package unix

import (
	"fmt"
	"net"

	"github.com/cspstream/streams/chanstream"
)

// Ucred is the identity of the process at the other end of a Unix-domain
// connection, as the kernel recorded it when the connection was made.
type Ucred struct{ PID, UID, GID int }

// PeerCredentials returns the credentials of w's peer (SO_PEERCRED). It
// returns an error wrapping errors.ErrUnsupported off Linux, one wrapping
// [chanstream.ErrInvalidArgument] when w's connection is not a Unix-domain
// socket, and the socket's error after the connection closed. It does not
// block.
func PeerCredentials(w *chanstream.Writer) (Ucred, error) {
	conn, _ := w.ExtraInfo("socket").(net.Conn) // under any TLS layer
	uc, ok := conn.(*net.UnixConn)
	if !ok {
		return Ucred{}, fmt.Errorf("unix: peer credentials: %w: %T is not a Unix-domain connection", chanstream.ErrInvalidArgument, conn)
	}
	return peerCred(uc)
}
