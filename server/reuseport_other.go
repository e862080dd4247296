//go:build unix && !linux && !darwin && !freebsd && !netbsd && !openbsd

package server

// soReusePort < 0: this platform has no SO_REUSEPORT.
const soReusePort = -1
