package chanstream_test

import (
	"bytes"
	"context"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/cspstream/streams/chanstream"
	"github.com/cspstream/streams/testutil"
)

// records returns the labelled goroutine records (testutil.LabeledGoroutines)
// of the connection with these addresses that contain fn in their stack.
func records(local, remote net.Addr, fn string) []string {
	var out []string
	for _, rec := range strings.Split(testutil.LabeledGoroutines(), "\n\n") {
		if strings.Contains(rec, `"chanstream.local":"`+local.String()+`"`) &&
			strings.Contains(rec, `"chanstream.remote":"`+remote.String()+`"`) &&
			strings.Contains(rec, fn) {
			out = append(out, rec)
		}
	}
	return out
}

// TestLabels: the goroutines of a stream — the reader goroutine, the
// writer goroutine, an AfterClose function — carry the pprof labels of
// the connection in the goroutine profile (debug=1).
func TestLabels(t *testing.T) {
	testutil.CheckLeaks(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	peer, sc := testutil.TCPPair(t)
	r, w := chanstream.New(sc)
	peer.Write([]byte("hi\n"))
	if _, err := r.ReadLine(ctx); err != nil { // the reader goroutine has run
		t.Fatalf("ReadLine() = %v", err)
	}
	if recs := records(sc.LocalAddr(), sc.RemoteAddr(), "chanstream.(*Reader).readLoop"); len(recs) != 1 {
		t.Errorf("reader goroutine: %d labelled records; want 1:\n%s", len(recs), testutil.LabeledGoroutines())
	}

	// A peer that does not read holds the writer goroutine in its write;
	// the goroutine exists once Write returns, and is labelled once it has
	// started: look until it has, or the watchdog ends the test.
	w.Write(bytes.Repeat([]byte{'w'}, 16<<20))
	for len(records(sc.LocalAddr(), sc.RemoteAddr(), "chanstream.(*Writer).run")) != 1 {
		if ctx.Err() != nil {
			t.Fatalf("writer goroutine: no labelled record:\n%s", testutil.LabeledGoroutines())
		}
		runtime.Gosched()
	}

	// An AfterClose function runs in a labelled goroutine.
	running, release := make(chan struct{}), make(chan struct{})
	w.AfterClose(func() {
		close(running)
		<-release
	})
	w.Abort()
	<-running
	recs := records(sc.LocalAddr(), sc.RemoteAddr(), "chanstream_test.TestLabels")
	close(release)
	if len(recs) != 1 {
		t.Errorf("AfterClose function: %d labelled records; want 1:\n%s", len(recs), testutil.LabeledGoroutines())
	}
	if err := w.WaitClosed(ctx); err != nil {
		t.Fatalf("WaitClosed() = %v", err)
	}
}
