//go:build darwin || freebsd || netbsd || openbsd

package server

import "syscall"

const soReusePort = syscall.SO_REUSEPORT
