//go:build unix

package main

import (
	"bytes"
	"context"
	"os"
	"testing"
	"time"

	"github.com/cspstream/streams/testutil"
)

func TestMain(m *testing.M) { testutil.VerifyTestMain(m) }

func TestWaitForData(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	before := openFiles(t)
	var out bytes.Buffer
	if err := run(ctx, &out); err != nil {
		t.Fatalf("run: %v", err)
	}
	if want := "Received: abc\n"; out.String() != want {
		t.Fatalf("output = %q; want %q", out.String(), want)
	}
	if after := openFiles(t); after != before {
		t.Fatalf("%d open files before, %d after: a socket was left open", before, after)
	}
}

func openFiles(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count open files: %v", err)
	}
	return len(ents)
}
