package main

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gosbi/gosbi/simulators"
	"gonum.org/v1/gonum/mat"
)

// FuzzReadObservation feeds arbitrary file contents and expected lengths to
// the parsing of -observation files (infer and sample): every outcome is
// either the file's single data row, of the expected length and finite, or
// a usage error (exit status 2) that names the file. The seeds, here rather
// than in testdata so that this file is the only one the fuzz target adds,
// are sbibm observation files and their typical corruptions.
func FuzzReadObservation(f *testing.F) {
	for _, seed := range []struct {
		content string
		want    uint8
	}{
		{"data_1,data_2\n-0.6396706,0.16234657\n", 2},
		{"data_1,data_2\n-0.6396706,0.16234657\n", 3},
		{"data_1,data_2,data_3\n1,2,3\n4,5,6\n", 3},
		{"data_1,data_2\n1,NaN\n", 2},
		{"data_1,data_2\n1,+Inf\n", 2},
		{"data_1,data_2\n1e400,2\n", 2},
		{"\ufeffdata_1\r\n 7 \r\n", 1},
		{"data_1,data_2\n1\n", 2},
		{"data_1,data_2\n", 2},
		{"", 1},
		{"\"a\nb\",c\n1,2\n", 2},
		{"x\n0x1p-2\n", 1},
	} {
		f.Add([]byte(seed.content), seed.want)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, content []byte, w uint8) {
		want := 1 + int(w%8)
		path := filepath.Join(dir, "observation.csv")
		if err := os.WriteFile(path, content, 0o644); err != nil {
			t.Fatal(err)
		}
		xo, err := readObservation(path, want)
		if err != nil {
			var ue usageError
			if !errors.As(err, &ue) {
				t.Fatalf("error %v is not a usage error (exit status 2)", err)
			}
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		if len(xo) != want {
			t.Fatalf("observation of length %d, want %d", len(xo), want)
		}
		for j, v := range xo {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatalf("observation value %d is %v", j, v)
			}
		}
		m, _, err := simulators.ReadCSV(path)
		if err != nil {
			t.Fatalf("ReadCSV rejects a file readObservation accepted: %v", err)
		}
		if r, _ := m.Dims(); r != 1 || !mat.Equal(m, mat.NewDense(1, want, xo)) {
			t.Fatalf("observation %v is not the file's single row %v", xo, mat.Formatted(m))
		}
	})
}
