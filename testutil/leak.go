package testutil

import (
	"testing"

	"go.uber.org/goleak"
)

// VerifyTestMain runs the package's tests and then fails the run if any
// goroutine is left over. Call it from TestMain.
func VerifyTestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// CheckLeaks fails t if goroutines started during t are still running
// when t's cleanup runs. Do not use it in tests that call t.Parallel: their
// goroutines are not t's alone.
func CheckLeaks(t testing.TB) {
	t.Helper()
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() {
		t.Helper()
		if err := goleak.Find(opt); err != nil {
			t.Error(err)
		}
	})
}
