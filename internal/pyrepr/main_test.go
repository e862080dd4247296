package pyrepr

import (
	"testing"

	"github.com/cspstream/streams/testutil"
)

func TestMain(m *testing.M) { testutil.VerifyTestMain(m) }
