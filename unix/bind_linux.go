package unix

import (
	"context"
	"fmt"
	"net"
	"os"
	"syscall"
)

// bindFile binds and listens on the socket file path. With a mode, the
// socket gets it before bind (Linux creates the file with the socket
// inode's mode less the umask), so the file is never more open than the
// mode; chmod then sets the exact bits.
func bindFile(path string, c *listenConfig) (*net.UnixListener, error) {
	var lc net.ListenConfig
	if c.modeSet {
		mode := uint32(c.mode)
		lc.Control = func(_, _ string, rc syscall.RawConn) error {
			var err error
			if cerr := rc.Control(func(fd uintptr) { err = syscall.Fchmod(int(fd), mode) }); cerr != nil {
				return cerr
			}
			return err
		}
	}
	ln, err := lc.Listen(context.Background(), "unix", path)
	if err != nil {
		return nil, fmt.Errorf("unix: %w", err)
	}
	ul := ln.(*net.UnixListener)
	ul.SetUnlinkOnClose(false) // the listener Listen returns decides
	if testHookBound != nil {
		testHookBound(path)
	}
	if c.modeSet {
		if err := os.Chmod(path, c.mode); err != nil {
			ul.Close()
			os.Remove(path)
			return nil, fmt.Errorf("unix: listen %s: %w", path, err)
		}
	}
	return ul, nil
}
