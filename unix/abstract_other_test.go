//go:build !linux

package unix_test

import (
	"errors"
	"os"
	"testing"

	"github.com/cspstream/streams/chanstream"
	"github.com/cspstream/streams/unix"
)

// TestAbstractOffLinux: "@name" is refused, and no file "@name" is made.
func TestAbstractOffLinux(t *testing.T) {
	t.Chdir(t.TempDir())
	ln, err := unix.Listen("@streams-test")
	if err == nil {
		ln.Close()
	}
	if !errors.Is(err, chanstream.ErrInvalidArgument) {
		t.Fatalf("Listen(\"@streams-test\") = %v; want ErrInvalidArgument", err)
	}
	if _, err := os.Lstat("@streams-test"); err == nil {
		t.Fatal("Listen made a file named @streams-test")
	}
}
