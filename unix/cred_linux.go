package unix

import (
	"fmt"
	"net"
	"syscall"
)

func peerCred(uc *net.UnixConn) (Ucred, error) {
	rc, err := uc.SyscallConn()
	if err != nil {
		return Ucred{}, fmt.Errorf("unix: peer credentials: %w", err)
	}
	var cred *syscall.Ucred
	var gerr error
	if err := rc.Control(func(fd uintptr) {
		cred, gerr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil {
		return Ucred{}, fmt.Errorf("unix: peer credentials: %w", err)
	}
	if gerr != nil {
		return Ucred{}, fmt.Errorf("unix: peer credentials: %w", gerr)
	}
	return Ucred{PID: int(cred.Pid), UID: int(cred.Uid), GID: int(cred.Gid)}, nil
}
