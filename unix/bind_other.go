//go:build !linux

package unix

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
)

// bindFile binds and listens on the socket file path. With a mode, the
// socket is bound in a directory only this user can enter, made next to
// path, chmodded there, and hard-linked to path (the same file, so
// cleanup by identity still works; a link never replaces a file that
// appeared at path meanwhile, it fails). Nobody else can connect before
// the mode is set.
func bindFile(path string, c *listenConfig) (*net.UnixListener, error) {
	if !c.modeSet {
		ul, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
		if err != nil {
			return nil, fmt.Errorf("unix: %w", err)
		}
		ul.SetUnlinkOnClose(false) // the listener Listen returns decides
		if testHookBound != nil {
			testHookBound(path)
		}
		return ul, nil
	}
	dir, err := os.MkdirTemp(filepath.Dir(path), ".s") // 0700; a short name keeps under sun_path's limit
	if err != nil {
		return nil, fmt.Errorf("unix: listen %s: %w", path, err)
	}
	tmp := filepath.Join(dir, "s")
	defer os.Remove(dir)
	defer os.Remove(tmp) // path keeps the file
	ul, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmp, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("unix: %w", err)
	}
	ul.SetUnlinkOnClose(false)
	if testHookBound != nil {
		testHookBound(path)
	}
	if err := os.Chmod(tmp, c.mode); err != nil {
		ul.Close()
		return nil, fmt.Errorf("unix: listen %s: %w", path, err)
	}
	if err := os.Link(tmp, path); err != nil {
		ul.Close()
		return nil, fmt.Errorf("unix: listen %s: %w", path, err)
	}
	return ul, nil
}
