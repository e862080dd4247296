package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cspstream/streams/testutil"
)

func TestMain(m *testing.M) {
	if os.Getenv("UPPER_RUN_MAIN") == "1" { // the test binary as the command itself
		main()
		os.Exit(0)
	}
	testutil.VerifyTestMain(m)
}

// syncBuffer is a bytes.Buffer safe for the writer goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, in := range []string{"", "hello\n", "hello\nworld", "Mixed Case 123\n\n\nälso\n", strings.Repeat("a line of text\n", 10000)} {
		var out syncBuffer
		if err := run(ctx, strings.NewReader(in), &out); err != nil {
			t.Fatalf("run: %v", err)
		}
		if want := strings.ToUpper(in); out.String() != want {
			t.Fatalf("run(%.20q) wrote %.20q…; want %.20q…", in, out.String(), want)
		}
	}
}

// TestCommand runs main with a real standard input and output.
func TestCommand(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "UPPER_RUN_MAIN=1")
	cmd.Stdin = strings.NewReader("hello\nworld\nno newline")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("command: %v", err)
	}
	if want := "HELLO\nWORLD\nNO NEWLINE"; string(out) != want {
		t.Fatalf("command wrote %q; want %q", out, want)
	}
}
