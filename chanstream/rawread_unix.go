//go:build unix

package chanstream

import "syscall"

const rawReadSupported = true

func sysRead(fd uintptr, p []byte) (int, error) { return syscall.Read(int(fd), p) }

func sysWrite(fd uintptr, p []byte) (int, error) { return syscall.Write(int(fd), p) }
