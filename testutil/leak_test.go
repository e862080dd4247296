package testutil_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/cspstream/streams/chanstream"
	"github.com/cspstream/streams/testutil"
)

// TestCheckLeaksNamesConnection leaks a stream on purpose: CheckLeaks's
// report names its connection by the pprof labels of its reader goroutine,
// and lists no labelled goroutine that was there before the check began.
func TestCheckLeaksNamesConnection(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// A pair running before the check: not reported. A line each way makes
	// sure both reader goroutines run (and carry their labels) already.
	oldC, oldS := testutil.Loopback(t)
	oldC.W.WriteString("x\n")
	oldS.W.WriteString("y\n")
	if _, err := oldS.R.ReadLine(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := oldC.R.ReadLine(ctx); err != nil {
		t.Fatal(err)
	}

	rec := &recorder{TB: t}
	testutil.CheckLeaks(rec)
	cc, _ := testutil.TCPPair(t)
	_, w := chanstream.New(cc)
	rec.runCleanups() // the stream is still open: a leak
	w.Abort()
	if err := w.WaitClosed(ctx); err != nil {
		t.Fatalf("WaitClosed() = %v", err)
	}
	if len(rec.msgs) != 1 {
		t.Fatalf("CheckLeaks reported %d errors; want 1", len(rec.msgs))
	}
	report := rec.msgs[0]
	for _, want := range []string{
		`"chanstream.local":"` + cc.LocalAddr().String() + `"`,
		`"chanstream.remote":"` + cc.RemoteAddr().String() + `"`,
		"chanstream.(*Reader).readLoop",
	} {
		if !strings.Contains(report, want) {
			t.Errorf("the leak report does not contain %s:\n%s", want, report)
		}
	}
	if strings.Contains(report, `"chanstream.local":"`+oldC.W.LocalAddr().String()+`"`) ||
		strings.Contains(report, `"chanstream.local":"`+oldS.W.LocalAddr().String()+`"`) {
		t.Errorf("the leak report names the stream that ran before the check:\n%s", report)
	}
}
