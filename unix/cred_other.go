//go:build !linux

package unix

import (
	"errors"
	"fmt"
	"net"
)

func peerCred(uc *net.UnixConn) (Ucred, error) {
	return Ucred{}, fmt.Errorf("unix: peer credentials: %w", errors.ErrUnsupported)
}
