package chanstream

import (
	"errors"
	"fmt"
	"io"
	"net"
)

// ErrClosed is returned by reads and writes on a stream that was closed
// locally (Close, Abort or WriteEOF for writes). It is [net.ErrClosed], so
// errors.Is works across packages.
var ErrClosed = net.ErrClosed

// ErrInvalidArgument is wrapped by every error about a bad argument: a
// negative size, an empty separator, a limit ≤ 0, high < low. Nothing is
// consumed or queued when it is returned.
var ErrInvalidArgument = errors.New("chanstream: invalid argument")

// IncompleteReadError reports that the stream ended before a read could
// complete: ReadExactly got fewer than Expected bytes, or ReadUntil found no
// separator (Expected is -1). Partial holds the bytes that were read; they
// are consumed. Use errors.As to get it; it unwraps to [io.ErrUnexpectedEOF].
type IncompleteReadError struct {
	Partial  []byte
	Expected int // -1 where unknown
}

func (e *IncompleteReadError) Error() string {
	if e.Expected < 0 {
		return fmt.Sprintf("chanstream: %d bytes read on a total of undefined expected bytes", len(e.Partial))
	}
	return fmt.Sprintf("chanstream: %d bytes read on a total of %d expected bytes", len(e.Partial), e.Expected)
}

// Unwrap returns [io.ErrUnexpectedEOF].
func (e *IncompleteReadError) Unwrap() error { return io.ErrUnexpectedEOF }

// LimitOverrunError reports that a separator was not found within the
// Reader's limit. Consumed is the number of bytes to consume to pass the
// limit (asyncio's meaning): the offset where the separator starts when it
// was found too far away, or how far the search went. Use errors.As to get it.
type LimitOverrunError struct {
	Consumed int
}

func (e *LimitOverrunError) Error() string {
	return fmt.Sprintf("chanstream: separator not found within the limit (%d bytes consumed)", e.Consumed)
}

// invalid returns an error about a bad argument to op that wraps
// ErrInvalidArgument: "chanstream: op: invalid argument: detail".
func invalid(op, format string, args ...any) error {
	return &argError{op: op, detail: fmt.Sprintf(format, args...)}
}

// argError is a bad argument; it unwraps to ErrInvalidArgument.
type argError struct {
	op, detail string
}

func (e *argError) Error() string {
	return "chanstream: " + e.op + ": invalid argument: " + e.detail
}

func (e *argError) Unwrap() error { return ErrInvalidArgument }

// wrap adds the package and operation to a stream error. io.EOF is
// returned as is, as package io asks.
func wrap(op string, err error) error {
	if err == nil || err == io.EOF {
		return err
	}
	return &opError{op: op, err: err}
}

// opError is a stream error with the operation that met it. It is a type,
// not fmt.Errorf, so that a net.Error (a timeout) stays one through it.
type opError struct {
	op  string
	err error
}

func (e *opError) Error() string { return "chanstream: " + e.op + ": " + e.err.Error() }
func (e *opError) Unwrap() error { return e.err }
