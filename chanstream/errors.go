package chanstream

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
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
// are consumed. Use errors.As to get it. As for io.ReadFull, it unwraps to
// [io.EOF] when nothing was read (a clean end between messages) and to
// [io.ErrUnexpectedEOF] when Partial holds some bytes.
type IncompleteReadError struct {
	Partial  []byte
	Expected int // -1 where unknown
}

func (e *IncompleteReadError) Error() string {
	if e.Expected < 0 {
		return fmt.Sprintf("chanstream: %d bytes read until EOF, no separator found", len(e.Partial))
	}
	return fmt.Sprintf("chanstream: %d bytes read on a total of %d expected bytes", len(e.Partial), e.Expected)
}

// Unwrap returns [io.EOF] when Partial is empty, else [io.ErrUnexpectedEOF].
func (e *IncompleteReadError) Unwrap() error {
	if len(e.Partial) == 0 {
		return io.EOF
	}
	return io.ErrUnexpectedEOF
}

// LimitOverrunError reports that a separator was not found within the
// Reader's limit. Consumed is the number of bytes to consume to pass the
// limit (asyncio's meaning): the offset where the separator starts when it
// was found too far away, or how far the search went. Limit is the
// Reader's limit (0 where unknown). Use errors.As to get it.
type LimitOverrunError struct {
	Consumed int
	Limit    int
}

func (e *LimitOverrunError) Error() string {
	if e.Limit > 0 {
		return fmt.Sprintf("chanstream: separator not found within the limit of %d bytes (%d bytes consumed)", e.Limit, e.Consumed)
	}
	return fmt.Sprintf("chanstream: separator not found within the limit (%d bytes consumed)", e.Consumed)
}

// invalid returns an error about a bad argument to op that wraps
// ErrInvalidArgument: "chanstream: op: invalid argument: detail".
func invalid(op, format string, args ...any) error {
	return &argError{op: op, detail: fmt.Sprintf(format, args...)}
}

// invalidCause is invalid with err as the detail, which it also wraps.
func invalidCause(op string, err error) error {
	return &argError{op: op, detail: err.Error(), cause: err}
}

// argError is a bad argument; it unwraps to ErrInvalidArgument, and to its
// cause when it has one.
type argError struct {
	op, detail string
	cause      error
}

func (e *argError) Error() string {
	return "chanstream: " + e.op + ": invalid argument: " + e.detail
}

func (e *argError) Unwrap() []error {
	if e.cause == nil {
		return []error{ErrInvalidArgument}
	}
	return []error{ErrInvalidArgument, e.cause}
}

// wrap adds the package and operation to a stream error. io.EOF is
// returned as is, as package io asks.
func wrap(op string, err error) error {
	if err == nil || err == io.EOF {
		return err
	}
	return &opError{op: op, err: err}
}

// withOp adds the package and operation to an error of a call that
// returns one (OpenConnection, NewContext), keeping one prefix.
func withOp(op string, err error) error { return &opError{op: op, err: err} }

// opError is a stream error with the operation that met it. It is a type,
// not fmt.Errorf, so that a net.Error (a timeout) stays one through it.
type opError struct {
	op  string
	err error
}

// Error says "chanstream: op: " and the cause, whose own "chanstream: "
// prefix, if any, is dropped: one prefix per error.
func (e *opError) Error() string {
	return "chanstream: " + e.op + ": " + strings.TrimPrefix(e.err.Error(), "chanstream: ")
}
func (e *opError) Unwrap() error { return e.err }
