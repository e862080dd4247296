package testutil

import (
	"bytes"
	"fmt"
	"os"
	"runtime/pprof"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

// VerifyTestMain runs the package's tests and then fails the run if any
// goroutine is left over. Call it from TestMain. The report lists, after
// goleak's stacks, the leaked goroutines that carry a stream's or a
// server's pprof labels (see [LabeledGoroutines]): which connection leaked.
func VerifyTestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: Errors on successful test run: %s\n", leakReport(err, nil))
			code = 1
		}
	}
	os.Exit(code)
}

// CheckLeaks fails t if goroutines started during t are still running
// when t's cleanup runs; the failure lists the leaked goroutines that
// carry a connection's pprof labels (see [LabeledGoroutines]). Do not use
// it in tests that call t.Parallel: their goroutines are not t's alone.
func CheckLeaks(t testing.TB) {
	t.Helper()
	opt := goleak.IgnoreCurrent()
	before := make(map[string]bool) // the connections whose goroutines ran already, by their labels
	for _, rec := range labeledRecords() {
		before[labelsOf(rec)] = true
	}
	t.Cleanup(func() {
		t.Helper()
		if err := goleak.Find(opt); err != nil {
			t.Error(leakReport(err, before))
		}
	})
}

// LabeledGoroutines returns the records of the goroutine profile, in
// pprof's debug=1 text — a count, the labels, the stack — of the
// goroutines that carry the pprof label "chanstream.remote" or
// "chanstream.local": those a stream or a server started, each named by
// its connection's addresses. It returns "" when there are none.
func LabeledGoroutines() string {
	return strings.Join(labeledRecords(), "\n\n")
}

// labeledRecords parses the goroutine profile (debug=1): records are
// separated by blank lines, the first follows a header line, and a record
// of labelled goroutines has a "# labels: {...}" line after its count.
func labeledRecords() []string {
	var b bytes.Buffer
	if err := pprof.Lookup("goroutine").WriteTo(&b, 1); err != nil {
		return nil
	}
	var recs []string
	for _, rec := range strings.Split(b.String(), "\n\n") {
		rec = strings.TrimSpace(rec)
		if strings.HasPrefix(rec, "goroutine profile:") {
			_, rec, _ = strings.Cut(rec, "\n")
		}
		labels := labelsOf(rec)
		if strings.Contains(labels, `"chanstream.remote":`) || strings.Contains(labels, `"chanstream.local":`) {
			recs = append(recs, rec)
		}
	}
	return recs
}

// labelsOf returns the labels of a profile record, "{...}", or "".
func labelsOf(rec string) string {
	_, labels, ok := strings.Cut(rec, "\n# labels: ")
	if !ok {
		return ""
	}
	labels, _, _ = strings.Cut(labels, "\n")
	return labels
}

// leakReport is goleak's error followed by the labelled goroutines of the
// connections whose labels are not in before.
func leakReport(err error, before map[string]bool) string {
	var recs []string
	for _, rec := range labeledRecords() {
		if !before[labelsOf(rec)] {
			recs = append(recs, rec)
		}
	}
	if len(recs) == 0 {
		return err.Error()
	}
	return fmt.Sprintf("%v\n\nleaked goroutines of connections (pprof labels chanstream.remote, chanstream.local):\n\n%s",
		err, strings.Join(recs, "\n\n"))
}
