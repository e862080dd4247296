package chanstream_test

import (
	"flag"
	"testing"

	"github.com/cspstream/streams/chanstream"
	"github.com/cspstream/streams/testutil"
)

func TestMain(m *testing.M) {
	flag.Parse()
	if f := flag.Lookup("test.bench"); f == nil || f.Value.String() == "" {
		chanstream.SetOwnerCheck(true) // slow: not under benchmarks
	}
	testutil.VerifyTestMain(m)
}
