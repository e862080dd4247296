package resolve

import (
	"testing"

	"go.uber.org/goleak"
)

// goleak directly: testutil imports chanstream, which imports this package.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
