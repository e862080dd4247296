//go:build !unix

package chanstream

import "errors"

const rawReadSupported = false

func sysRead(fd uintptr, p []byte) (int, error) { return 0, errors.ErrUnsupported }

func sysWrite(fd uintptr, p []byte) (int, error) { return 0, errors.ErrUnsupported }
