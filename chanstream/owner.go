package chanstream

import (
	"runtime"
	"strconv"
	"strings"
)

// The read token's owner check. Functions that touch the Reader's buffer
// (buffer.go) require the read token; mustHoldToken says so in code. The
// tests turn the check on (export_test.go): then the gate records the
// goroutine that takes the token, and a function called without it panics,
// so an ownership slip fails loudly in every test instead of racing
// silently in one. Off — in programs and benchmarks — it costs one load of
// a bool. After x/net's http2 goroutineLock.

// checkOwner turns the check on; set only by tests, before any stream exists.
var checkOwner bool

// mustHoldToken panics unless the calling goroutine holds r's read token
// (when the check is on).
func (r *Reader) mustHoldToken() {
	if checkOwner && r.gate.holder.Load() != goroutineID() {
		panic("chanstream: the Reader's buffer used without the read token")
	}
}

// goroutineID returns the calling goroutine's id, from its stack header
// ("goroutine 18 [running]:"). Slow: for the check only.
func goroutineID() uint64 {
	var buf [64]byte
	s := string(buf[:runtime.Stack(buf[:], false)])
	s = strings.TrimPrefix(s, "goroutine ")
	if i := strings.IndexByte(s, ' '); i > 0 {
		s = s[:i]
	}
	id, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		panic("chanstream: cannot parse goroutine id: " + err.Error())
	}
	return id
}
