package chanstream_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/cspstream/streams/chanstream"
	"github.com/cspstream/streams/testutil"
)

// TestLineFeedStopThenRead: lines taken from a feed, then Stop, then a
// ReadLine, then a new feed, again and again over a real TCP connection:
// every line arrives exactly once and in order — a line the feed held when
// it was stopped is the next one read.
func TestLineFeedStopThenRead(t *testing.T) {
	const n = 20000
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	client, server := testutil.Loopback(t)
	go func() {
		bw := bufio.NewWriter(chanstreamWriter{client.W})
		for i := range n {
			fmt.Fprintf(bw, "line %d\n", i)
		}
		bw.Flush()
		client.W.Close()
	}()
	rng := rand.New(rand.NewPCG(1, 2))
	next := 0
	check := func(line []byte, how string) {
		t.Helper()
		if want := fmt.Sprintf("line %d\n", next); string(line) != want {
			t.Fatalf("%s: got %q; want %q (a line lost or out of place)", how, line, want)
		}
		next++
	}
	for next < n {
		feed := server.R.LineFeed(ctx)
		for k := rng.IntN(40); k > 0 && next < n; k-- {
			line, ok := <-feed.C
			if !ok {
				t.Fatalf("feed closed early: %v", feed.Err())
			}
			check(line, "from the feed")
		}
		if err := feed.Stop(); err != nil {
			t.Fatalf("Stop() = %v; want nil", err)
		}
		if _, ok := <-feed.C; ok {
			t.Fatal("C delivered a line after Stop")
		}
		if next < n {
			line, err := server.R.ReadLine(ctx)
			if err != nil {
				t.Fatalf("ReadLine after Stop: %v", err)
			}
			check(line, "ReadLine after Stop")
		}
	}
	feed := server.R.LineFeed(ctx)
	if line, ok := <-feed.C; ok {
		t.Fatalf("feed at EOF delivered %q", line)
	}
	if err := feed.Stop(); err != nil {
		t.Errorf("Stop() at EOF = %v; want nil", err)
	}
}

// chanstreamWriter drains as a bufio.Writer flushes, so the writer's queue
// stays bounded.
type chanstreamWriter struct{ w *chanstream.Writer }

func (c chanstreamWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	if err == nil {
		err = c.w.Drain(context.Background())
	}
	return n, err
}

// TestLineFeedEnds: C closes at EOF (Err nil) after the last line, even one
// without "\n"; when the ctx ends (Err ctx's, nothing consumed); after the
// bytes a failed stream had (Err the failure).
func TestLineFeedEnds(t *testing.T) {
	t.Run("EOF", func(t *testing.T) {
		r := chanstream.NewReader(strings.NewReader("a\nb"))
		feed := r.LineFeed(context.Background())
		defer feed.Stop()
		var got []string
		for line := range feed.C {
			got = append(got, string(line))
		}
		if strings.Join(got, "|") != "a\n|b" || feed.Err() != nil {
			t.Errorf("lines %q, Err %v; want [a\\n b], nil", got, feed.Err())
		}
	})
	t.Run("ctx", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		client, server := testutil.Loopback(t)
		feed := server.R.LineFeed(ctx)
		defer feed.Stop()
		client.W.WriteString("one\ntwo\n")
		if line := <-feed.C; string(line) != "one\n" {
			t.Fatalf("first line %q", line)
		}
		cancel() // the feed holds "two\n" or waits for it: either way it stays in the Reader
		if err := feed.Stop(); !errors.Is(err, context.Canceled) {
			t.Errorf("Stop() after the ctx ended = %v; want context.Canceled", err)
		}
		if line, ok := <-feed.C; ok {
			t.Fatalf("C delivered %q after the feed ended", line)
		}
		line, err := server.R.ReadLine(context.Background())
		if string(line) != "two\n" || err != nil {
			t.Errorf("ReadLine() after the feed = %q, %v; want %q, nil", line, err, "two\n")
		}
	})
	t.Run("reset", func(t *testing.T) {
		cc, sc := testutil.TCPPair(t)
		r, w := chanstream.New(sc)
		defer w.WaitClosed(context.Background())
		defer w.Abort()
		feed := r.LineFeed(context.Background())
		defer feed.Stop()
		io.WriteString(cc, "whole\npartial")
		cc.(*net.TCPConn).SetLinger(0)
		if line := <-feed.C; string(line) != "whole\n" {
			t.Fatalf("first line %q; want whole", line)
		}
		cc.Close() // a reset after "partial"
		var got []string
		for line := range feed.C {
			got = append(got, string(line))
		}
		if len(got) != 1 || got[0] != "partial" || feed.Err() == nil {
			t.Errorf("after the reset: lines %q, Err %v; want [partial] and the error", got, feed.Err())
		}
	})
}
