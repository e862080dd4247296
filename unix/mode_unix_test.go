//go:build unix

package unix_test

import (
	"os"
	"syscall"
	"testing"

	"github.com/cspstream/streams/unix"
)

// TestModeFromTheStart: under umask 000 the socket file never has more
// permission bits than WithMode asked for, not even between bind and the
// chmod: another local user could connect in that window. The hook runs
// right after bind.
func TestModeFromTheStart(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	for _, mode := range []os.FileMode{0o600, 0o660, 0o700} {
		path := sockPath(t)
		var atBind os.FileMode
		var statErr error
		restore := unix.SetTestHookBound(func(string) {
			var fi os.FileInfo
			if fi, statErr = os.Lstat(path); statErr == nil {
				atBind = fi.Mode().Perm()
			} else if os.IsNotExist(statErr) {
				statErr, atBind = nil, 0 // not at path yet: nobody can reach it there
			}
		})
		ln, err := unix.Listen(path, unix.WithMode(mode))
		restore()
		if err != nil {
			t.Fatalf("Listen: %v", err)
		}
		fi, err := os.Lstat(path)
		ln.Close()
		if statErr != nil || atBind&^mode != 0 {
			t.Errorf("WithMode(%v): right after bind the file had mode %v (%v); want no bits beyond %v", mode, atBind, statErr, mode)
		}
		if err != nil || fi.Mode().Perm() != mode {
			t.Errorf("WithMode(%v): socket file mode %v, %v; want %v", mode, fi.Mode(), err, mode)
		}
	}
}
