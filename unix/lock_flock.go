//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd

package unix

import "syscall"

// flock takes an exclusive lock on fd, waiting for it: a lock another
// process holds too, and one that process's exit releases.
func flock(fd uintptr) error {
	for {
		err := syscall.Flock(int(fd), syscall.LOCK_EX)
		if err != syscall.EINTR {
			return err
		}
	}
}
