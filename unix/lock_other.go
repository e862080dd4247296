//go:build !(darwin || dragonfly || freebsd || linux || netbsd || openbsd)

package unix

// flock does nothing here: without flock(2) Listen serializes only the
// calls in this process (listenMu).
func flock(uintptr) error { return nil }
