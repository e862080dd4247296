package main

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/cspstream/streams/testutil"
)

func TestMain(m *testing.M) { testutil.VerifyTestMain(m) }

func TestRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out bytes.Buffer
	if err := run(ctx, "", 10*time.Millisecond, &out); err != nil {
		t.Fatalf("run: %v", err)
	}
	want := "got \"one\\n\"\ngot \"two\\n\"\ngot \"three\\n\"\ngot \"pong\\n\"\nEOF\n"
	if out.String() != want {
		t.Fatalf("output %q; want %q", out.String(), want)
	}
}
