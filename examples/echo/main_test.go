package main

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/cspstream/streams/testutil"
)

func TestMain(m *testing.M) { testutil.VerifyTestMain(m) }

func TestEcho(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out bytes.Buffer
	if err := run(ctx, &out, "Hello World!"); err != nil {
		t.Fatalf("run: %v", err)
	}
	want := "Send: 'Hello World!'\nReceived: 'Hello World!'\nClose the connection\n"
	if out.String() != want {
		t.Fatalf("output = %q; want %q", out.String(), want)
	}
}
