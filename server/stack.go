package server

import (
	"log/slog"
	"strconv"
	"strings"
)

// stack is a goroutine's stack as debug.Stack formats it, logged one
// frame per line: a group whose attributes "0", "1", … each hold one frame
// as "function file:line" — readable in a text log (stack.0=…, no "\n\t"
// escapes) and in JSON (an object of frames) alike. The frames start at
// the one that panicked, below debug.Stack, the recovery and the runtime's
// panic.
type stack string

func stackOf(b []byte) stack { return stack(b) }

// LogValue implements slog.LogValuer.
func (s stack) LogValue() slog.Value {
	lines := strings.Split(strings.TrimSpace(string(s)), "\n")
	if len(lines) > 0 && strings.HasPrefix(lines[0], "goroutine ") {
		lines = lines[1:] // "goroutine 7 [running]:"
	}
	var frames []string
	for i := 0; i+1 < len(lines); i += 2 {
		loc := strings.TrimSpace(lines[i+1])
		if j := strings.LastIndex(loc, " +0x"); j >= 0 {
			loc = loc[:j] // the pc offset says nothing to a reader
		}
		frames = append(frames, lines[i]+" "+loc)
	}
	for i, f := range frames {
		if strings.HasPrefix(f, "panic(") {
			frames = frames[i+1:]
			break
		}
	}
	attrs := make([]slog.Attr, len(frames))
	for i, f := range frames {
		attrs[i] = slog.String(strconv.Itoa(i), f)
	}
	return slog.GroupValue(attrs...)
}
