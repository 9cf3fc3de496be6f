package simulators

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// allocated returns the bytes allocated (by all goroutines) while fn runs.
func allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// seedBytes returns the first argument of a committed fuzz seed.
func seedBytes(t *testing.T, target, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "fuzz", target, name))
	if err != nil {
		t.Fatal(err)
	}
	line := strings.Split(string(b), "\n")[1]
	s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(line, "[]byte("), ")"))
	if err != nil {
		t.Fatalf("seed %s/%s: %v", target, name, err)
	}
	return []byte(s)
}

// TestReadNPYHugeShapeBounded checks that .npy files of a few hundred
// bytes announcing enormous arrays or headers fail without allocating
// what they announce, whether the file size is known (a regular file) or
// not (a pipe).
func TestReadNPYHugeShapeBounded(t *testing.T) {
	six := encode(binary.LittleEndian, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0)
	for _, tc := range []struct {
		name string
		file []byte
		text string
	}{
		// 8e15 bytes announced; the old reader allocated them at once.
		{"huge shape", npyFile("<f8", false, "(1000000000, 1000000)", six), "truncated data"},
		// 10⁹ × 10⁹ × 8 overflows int64.
		{"overflowing shape", npyFile("<f8", false, "(1000000000000, 1000000000000)", six), "too large"},
		// npyio would allocate the 4 GiB the version 2 preamble announces.
		{"4 GiB header", hugeHeaderNPY, "more than"},
	} {
		path := filepath.Join(t.TempDir(), "a.npy")
		if err := os.WriteFile(path, tc.file, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, read := range []struct {
			how string
			fn  func() error
		}{
			{"ReadNPY", func() error { _, err := ReadNPY(path); return err }},
			{"size unknown", func() error { _, err := decodeNPY(bytes.NewReader(tc.file), path, -1); return err }},
		} {
			var err error
			got := allocated(func() { err = read.fn() })
			if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), tc.text) {
				t.Errorf("%s, %s: got %v, want ErrFormat saying %q", tc.name, read.how, err, tc.text)
			}
			// A few KiB of buffers (bufio's 4 KiB, npyio's parsing); 1 MiB
			// leaves room for the runtime and is far below what is announced.
			if got > 1<<20 {
				t.Errorf("%s, %s: allocated %d bytes for a %d-byte file", tc.name, read.how, got, len(tc.file))
			}
		}
	}
}

// TestReadReferenceBzip2Bounds checks the compressed reference reader: a
// file expanding past the limit fails with ErrFormat having allocated
// about the limit, not the expansion; the same file is read under a larger
// limit; a truncated file gives ErrFormat (it gave an untyped unexpected
// EOF before FuzzReadReference found it).
func TestReadReferenceBzip2Bounds(t *testing.T) {
	bomb := seedBytes(t, "FuzzReadReference", "bz2-expanding") // 1 MiB of "0,0\n" in a few hundred bytes
	var err error
	got := allocated(func() { _, err = decodeRef(bytes.NewReader(bomb), "bomb.csv.bz2", true, 64<<10, 0, 2) })
	var fe *FileError
	if !errors.Is(err, ErrFormat) || !errors.As(err, &fe) || !strings.Contains(err.Error(), "decompresses to more than 65536 bytes") {
		t.Errorf("expanding file under a 64 KiB limit: got %v, want a *FileError wrapping ErrFormat", err)
	}
	// The decoded values up to the limit (16,384 rows of 2 float64, 256 KiB
	// plus append growth) and bzip2's 900 KB block state; reading it all
	// allocates over 8 MiB (measured below).
	if got > 6<<20 {
		t.Errorf("expanding file under a 64 KiB limit: allocated %d bytes", got)
	}
	m, err := decodeRef(bytes.NewReader(bomb), "bomb.csv.bz2", true, maxRefBytes, 0, 2)
	if err != nil {
		t.Fatalf("the same file under the default limit: %v", err)
	}
	if r, _ := m.Dims(); r != 1<<18-1 {
		t.Errorf("read %d rows, want %d (262,144 lines, one a header)", r, 1<<18-1)
	}

	packed := seedBytes(t, "FuzzReadReference", "samples-bz2")
	dir := t.TempDir()
	name := filepath.Join(dir, "reference_posterior_samples.csv.bz2")
	if err := os.WriteFile(name, packed[:len(packed)-10], 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = readRefCSV(name, 0, 2)
	if !errors.Is(err, ErrFormat) || !errors.As(err, &fe) || fe.File != name {
		t.Errorf("truncated bzip2 file: got %v, want a *FileError naming it wrapping ErrFormat", err)
	}
}

// TestCommandLongResponseLine runs a program that prints a 64 MiB line: the
// simulation must fail with ErrProtocol after reading at most the line
// limit (about 1 MiB), and the next simulation must run on a fresh process.
func TestCommandLongResponseLine(t *testing.T) {
	c := newProtosim(t, nil)
	rng := rand.New(rand.NewPCG(7, 7))
	var err error
	got := allocated(func() { _, err = c.Run(context.Background(), nil, []float64{-6, 0}, rng) })
	if !errors.Is(err, ErrProtocol) || !strings.Contains(err.Error(), "longer than") {
		t.Fatalf("64 MiB line: got %v, want ErrProtocol about the line length", err)
	}
	// The limit is 1 MiB + 64 bytes; append's doubling allocates about
	// twice that. The unbounded reader allocated over 128 MiB.
	if got > 16<<20 {
		t.Errorf("64 MiB line: allocated %d bytes", got)
	}
	x, err := c.Run(context.Background(), nil, []float64{1, 2}, rng)
	if err != nil || x[0] != 3 {
		t.Fatalf("next simulation: got %v, %v; want x[0] = 3", x, err)
	}
}
