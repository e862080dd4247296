//go:build linux && (mips || mipsle || mips64 || mips64le)

package server

// soReusePort is SO_REUSEPORT, which package syscall lacks on Linux.
const soReusePort = 0x200
