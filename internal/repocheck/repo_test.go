package repocheck_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cspstream/streams/testutil"
)

func TestMain(m *testing.M) { testutil.VerifyTestMain(m) }

// root is the repository's root, from this package's directory.
var root = filepath.Join("..", "..")

func read(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, name))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return string(b)
}

// TestLicense: a BSD-3-Clause LICENSE, as Go's and golang.org/x/sync's,
// named in the README.
func TestLicense(t *testing.T) {
	license := read(t, "LICENSE")
	for _, want := range []string{
		"The streams Authors",
		"Redistributions of source code must retain the above copyright",
		"Redistributions in binary form must reproduce the above",
		"Neither the name of the copyright holder nor the names of its",
		`THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS AND CONTRIBUTORS`,
	} {
		if !strings.Contains(license, want) {
			t.Errorf("LICENSE lacks %q", want)
		}
	}
	if readme := read(t, "README.md"); !strings.Contains(readme, "BSD-3-Clause") || !strings.Contains(readme, "LICENSE") {
		t.Error("README.md does not name the license (BSD-3-Clause, LICENSE)")
	}
}

// TestCIVetsEveryPlatform: CI builds and vets for darwin, windows and
// freebsd too, so that the platform files stay honest.
func TestCIVetsEveryPlatform(t *testing.T) {
	ci := read(t, ".ci/run")
	if !strings.Contains(ci, "for goos in darwin windows freebsd") ||
		!strings.Contains(ci, `GOOS=$goos go vet ./...`) || !strings.Contains(ci, `GOOS=$goos go build ./...`) {
		t.Error(".ci/run does not build and vet with GOOS=darwin, windows and freebsd")
	}
}
