package chanstream_test

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"

	"github.com/cspstream/streams/chanstream"
	"github.com/cspstream/streams/testutil"
)

func TestSmoke(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, s := testutil.Loopback(t)
	c.W.WriteString("hello\nworld\npartial")
	if err := c.W.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	line, err := s.R.ReadLine(ctx)
	if string(line) != "hello\n" || err != nil {
		t.Fatalf("ReadLine = %q, %v", line, err)
	}
	b, err := s.R.ReadUntil(ctx, []byte("ld\n"))
	if string(b) != "world\n" || err != nil {
		t.Fatalf("ReadUntil = %q, %v", b, err)
	}
	if err := c.W.WriteEOF(); err != nil {
		t.Fatal(err)
	}
	b, err = s.R.ReadAll(ctx)
	if string(b) != "partial" || err != nil {
		t.Fatalf("ReadAll = %q, %v", b, err)
	}
	if !s.R.AtEOF() {
		t.Fatal("not at EOF")
	}
	// big transfer both ways
	payload := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	go func() {
		s.W.Write(payload)
		s.W.Close()
	}()
	got, err := c.R.ReadAll(ctx)
	if err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("ReadAll big: %d bytes, %v", len(got), err)
	}
	if err := s.W.WaitClosed(ctx); err != nil {
		t.Fatal(err)
	}
	_, err = c.R.ReadLine(ctx)
	if err != io.EOF {
		t.Fatalf("after: %v", err)
	}
	c.W.Close()
	if err := c.W.WaitClosed(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.W.Write([]byte("x")); err == nil {
		t.Fatal("write after close")
	}
	_ = chanstream.ErrClosed
}

func TestSmokeReader(t *testing.T) {
	ctx := context.Background()
	r := chanstream.NewReader(bytes.NewReader([]byte("a\nbb\nccc")), chanstream.WithLimit(4))
	var lines []string
	for l, err := range r.Lines(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, string(l))
	}
	if len(lines) != 3 || lines[2] != "ccc" {
		t.Fatalf("%q", lines)
	}
}
