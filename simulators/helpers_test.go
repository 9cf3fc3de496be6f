package simulators

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// sharedData returns the sbibm reference folder, ../../shared/sbibm from
// this package, skipping the test when it is absent.
func sharedData(t testing.TB) string {
	t.Helper()
	dir := filepath.Join("..", "..", "shared", "sbibm")
	if _, err := os.Stat(filepath.Join(dir, "TASKS.md")); err != nil {
		t.Skipf("sbibm reference data not found at %s (it lives in ../shared/sbibm beside the repository): %v", dir, err)
	}
	return dir
}

// bzipOf compresses s with the bzip2 program, skipping the test when it is
// not installed (Go's compress/bzip2 only decompresses).
func bzipOf(t testing.TB, s string) string {
	t.Helper()
	path, err := exec.LookPath("bzip2")
	if err != nil {
		t.Skip("bzip2 not found")
	}
	cmd := exec.Command(path, "-c")
	cmd.Stdin = strings.NewReader(s)
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}
