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

// TestStatsBytes moves bytes both ways over a real TCP pair and checks the
// byte counts of each end, and that a Reader's Stats has no write fields.
func TestStatsBytes(t *testing.T) {
	testutil.CheckLeaks(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client, server := testutil.Loopback(t)

	const n = 200 << 10
	payload := bytes.Repeat([]byte("0123456789abcdef"), n/16)
	for p := payload; len(p) > 0; p = p[min(len(p), 3000):] {
		if _, err := client.W.Write(p[:min(len(p), 3000)]); err != nil {
			t.Fatalf("Write() = %v", err)
		}
	}
	if got, err := server.R.ReadExactly(ctx, n); err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("ReadExactly(%d) = %d bytes, %v; want the payload", n, len(got), err)
	}
	if _, err := server.W.WriteString("done\n"); err != nil {
		t.Fatalf("WriteString() = %v", err)
	}
	if line, err := client.R.ReadLine(ctx); string(line) != "done\n" || err != nil {
		t.Fatalf("ReadLine() = %q, %v; want %q, nil", line, err, "done\n")
	}
	// Close both and wait, so that every write's count is in.
	for _, w := range []*chanstream.Writer{client.W, server.W} {
		w.Close()
		if err := w.WaitClosed(ctx); err != nil {
			t.Fatalf("WaitClosed() = %v", err)
		}
	}

	if s := server.R.Stats(); s.BytesRead != n || s.BytesWritten != 0 || s.WriteQueuedPeak != 0 || s.DrainWaits != 0 {
		t.Errorf("server Reader.Stats() = %+v; want BytesRead %d and no write fields", s, n)
	}
	if s := server.W.Stats(); s.BytesRead != n || s.BytesWritten != 5 {
		t.Errorf("server Writer.Stats() = %+v; want BytesRead %d, BytesWritten 5", s, n)
	}
	s := client.W.Stats()
	if s.BytesWritten != n || s.BytesRead != 5 {
		t.Errorf("client Writer.Stats() = %+v; want BytesWritten %d, BytesRead 5", s, n)
	}
	if s.WriteQueuedPeak <= 0 || s.WriteQueuedPeak > n {
		t.Errorf("client WriteQueuedPeak = %d; want in (0, %d]", s.WriteQueuedPeak, n)
	}
	if rs := server.R.Stats(); rs.ReadBufferedPeak <= 0 || rs.ReadBufferedPeak > n {
		t.Errorf("server ReadBufferedPeak = %d; want in (0, %d]", rs.ReadBufferedPeak, n)
	}
}

// TestStatsReadBufferedPeak follows the peak over a pipe, where each write
// arrives as one chunk: the largest amount held counts, Unread included.
func TestStatsReadBufferedPeak(t *testing.T) {
	testutil.CheckLeaks(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pr, pw := io.Pipe()
	r := chanstream.NewReader(pr)
	defer func() {
		pw.Close()
		if _, err := r.ReadAll(ctx); err != nil {
			t.Errorf("ReadAll() = %v", err)
		}
	}()

	step := func(write string, read int, want int) {
		t.Helper()
		if _, err := pw.Write([]byte(write)); err != nil {
			t.Fatalf("pipe Write() = %v", err)
		}
		if _, err := r.ReadExactly(ctx, read); err != nil {
			t.Fatalf("ReadExactly(%d) = %v", read, err)
		}
		if s := r.Stats(); s.ReadBufferedPeak != want {
			t.Fatalf("after writing %d and reading %d: ReadBufferedPeak = %d; want %d", len(write), read, s.ReadBufferedPeak, want)
		}
	}
	step(string(bytes.Repeat([]byte{'a'}, 30)), 10, 30) // held 30, then 20
	step("bbbbb", 25, 30)                               // held 25 at most: the peak stays
	r.Unread(bytes.Repeat([]byte{'c'}, 40))
	if s := r.Stats(); s.ReadBufferedPeak != 40 || s.BytesRead != 35 {
		t.Fatalf("after Unread(40): Stats() = %+v; want ReadBufferedPeak 40, BytesRead 35 (Unread is not read from the source)", s)
	}
	if _, err := r.ReadExactly(ctx, 40); err != nil {
		t.Fatalf("ReadExactly(40) = %v", err)
	}
}

// TestStatsNewWriter: a NewWriter's Stats is its write half.
func TestStatsNewWriter(t *testing.T) {
	testutil.CheckLeaks(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var sink bytes.Buffer
	w := chanstream.NewWriter(&sink)
	w.WriteString("hello, ")
	w.WriteLines([]byte("world"), []byte("\n"))
	w.Close()
	if err := w.WaitClosed(ctx); err != nil {
		t.Fatalf("WaitClosed() = %v", err)
	}
	s := w.Stats()
	if s.BytesWritten != 13 || s.BytesRead != 0 || s.WriteQueuedPeak < 7 || s.WriteQueuedPeak > 13 {
		t.Fatalf("Stats() = %+v; want BytesWritten 13, BytesRead 0, WriteQueuedPeak in [7, 13]", s)
	}
	if sink.String() != "hello, world\n" {
		t.Fatalf("sink = %q", sink.String())
	}
}
