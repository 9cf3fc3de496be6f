package nn

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
)

// genCorpus regenerates the committed seed corpora under testdata/fuzz:
//
//	go test ./nn/ -run TestGenerateFuzzCorpus -gencorpus
var genCorpus = flag.Bool("gencorpus", false, "rewrite the seed corpora in testdata/fuzz")

// writeCorpus writes one seed file in the format of go test's fuzzing
// engine ("go test fuzz v1" and one []byte value).
func writeCorpus(t *testing.T, target, name string, b []byte) {
	t.Helper()
	dir := filepath.Join("testdata", "fuzz", target)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	body := "go test fuzz v1\n[]byte(" + strconv.Quote(string(b)) + ")\n"
	if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// withCRC returns a copy of b whose last four bytes are replaced by the
// CRC-32C of the rest, as Save writes it. Files shorter than four bytes are
// returned unchanged.
func withCRC(b []byte) []byte {
	if len(b) < 4 {
		return b
	}
	out := bytes.Clone(b)
	n := len(out) - 4
	binary.LittleEndian.PutUint32(out[n:], crc32.Checksum(out[:n], castagnoli))
	return out
}

// corpusFiles are the seeds of both fuzz targets: valid files and the
// corruptions a damaged or hostile file could carry.
func corpusFiles(t *testing.T) map[string][]byte {
	ts := testTensors()
	valid := saved(t, ts, map[string]string{"k": "v"})
	a := NewParam("a", 1, 2)
	a.Data[0], a.Data[1] = 1, 2
	small := saved(t, []*Tensor{a}, nil)
	mlp := NewMLP("mlp", []int{2, 3, 1}, Tanh, rand.New(rand.NewPCG(1, 2)))
	withMLP := saved(t, mlp.Params(), map[string]string{"arch": `{"widths":[2,3,1]}`})
	hugeHdr := bytes.Clone(small)
	binary.LittleEndian.PutUint32(hugeHdr[12:], MaxHeaderLen)
	return map[string][]byte{
		"valid":            valid,
		"small":            small,
		"mlp":              withMLP,
		"empty":            nil,
		"magic-only":       []byte(fileMagic),
		"truncated-data":   small[:len(small)-9],
		"version-2":        craft(fileMagic, 2, `{"tensors":[]}`, nil),
		"no-tensors":       craft(fileMagic, 1, `{"tensors":[],"meta":{"a":"b"}}`, nil),
		"huge-shape":       craft(fileMagic, 1, `{"tensors":[{"name":"a","shape":[1000000000,1000],"offset":0}]}`, make([]byte, 64)),
		"overflow-shape":   craft(fileMagic, 1, `{"tensors":[{"name":"a","shape":[9223372036854775807,2],"offset":0}]}`, nil),
		"huge-header-len":  hugeHdr,
		"rank-3":           craft(fileMagic, 1, `{"tensors":[{"name":"a","shape":[1,1,2],"offset":0}]}`, make([]byte, 16)),
		"bad-offset":       craft(fileMagic, 1, `{"tensors":[{"name":"a","shape":[1,1],"offset":-8}]}`, make([]byte, 8)),
		"duplicate":        craft(fileMagic, 1, `{"tensors":[{"name":"a","shape":[1,1],"offset":0},{"name":"a","shape":[1,1],"offset":8}]}`, make([]byte, 16)),
		"trailing-garbage": append(bytes.Clone(small), 1, 2, 3),
	}
}

// TestGenerateFuzzCorpus writes the seed corpora when run with -gencorpus.
func TestGenerateFuzzCorpus(t *testing.T) {
	if !*genCorpus {
		t.Skip("run with -gencorpus to rewrite testdata/fuzz")
	}
	for name, b := range corpusFiles(t) {
		writeCorpus(t, "FuzzRead", name, b)
		writeCorpus(t, "FuzzReadValidCRC", name, b)
	}
}

// FuzzReadValidCRC is FuzzRead with the checksum repaired before reading,
// so that the fuzzer's mutations reach the header and data checks instead
// of stopping at the checksum. Every rejected input must give an error
// wrapping ErrFormat or ErrVersion; every accepted one must load into
// matching destinations and survive a save/read round trip bit for bit.
func FuzzReadValidCRC(f *testing.F) {
	f.Fuzz(func(t *testing.T, raw []byte) {
		b := withCRC(raw)
		ts, meta, err := Read(bytes.NewReader(b))
		if err != nil {
			if !errors.Is(err, ErrFormat) && !errors.Is(err, ErrVersion) {
				t.Fatalf("Read: error %v wraps neither ErrFormat nor ErrVersion", err)
			}
			if lerr := Load(bytes.NewReader(b), []*Tensor{NewParam("a", 1, 2)}); lerr == nil {
				t.Fatalf("Load accepted a file Read rejects (%v)", err)
			}
			return
		}
		dst := zeroed(ts)
		if err := Load(bytes.NewReader(b), dst); err != nil {
			t.Fatalf("Load into the tensors Read returned: %v", err)
		}
		var out bytes.Buffer
		if err := SaveMeta(&out, ts, meta); err != nil {
			t.Fatalf("re-saving an accepted file: %v", err)
		}
		ts2, meta2, err := Read(&out)
		if err != nil {
			t.Fatalf("reading a re-saved file: %v", err)
		}
		if len(ts2) != len(ts) || len(meta2) != len(meta) {
			t.Fatalf("round trip: got %d tensors and %d meta keys, want %d and %d", len(ts2), len(meta2), len(ts), len(meta))
		}
		for i, x := range ts {
			y := ts2[i]
			if x.Name != y.Name || x.Rows != y.Rows || x.Cols != y.Cols || !bitsEqual(x.Data, y.Data) || !bitsEqual(x.Data, dst[i].Data) {
				t.Fatalf("round trip changed tensor %d (%q %d×%d)", i, x.Name, x.Rows, x.Cols)
			}
		}
		for k, v := range meta {
			if meta2[k] != v {
				t.Fatalf("round trip changed meta %q: got %q, want %q", k, meta2[k], v)
			}
		}
	})
}

// TestReadHugeHeaderLengthBounded checks that a preamble announcing the
// largest allowed header over a file of a few bytes does not make Read or
// Load allocate the announced size.
func TestReadHugeHeaderLengthBounded(t *testing.T) {
	file := []byte(fileMagic)
	file = binary.LittleEndian.AppendUint32(file, fileVersion)
	file = binary.LittleEndian.AppendUint32(file, MaxHeaderLen)
	file = append(file, `{"tensors":[]}`...)
	for _, tc := range []struct {
		name string
		read func() error
	}{
		{"Read", func() error { _, _, err := Read(bytes.NewReader(file)); return err }},
		{"Load", func() error { return Load(bytes.NewReader(file), []*Tensor{NewParam("a", 1, 1)}) }},
	} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		err := tc.read()
		runtime.ReadMemStats(&after)
		if !errors.Is(err, ErrFormat) {
			t.Fatalf("%s: got error %v, want ErrFormat", tc.name, err)
		}
		// The announced header is 16 MiB; io.ReadAll grows from 512 bytes
		// with the data present, so 64 KiB is ample for a 30-byte file.
		if got := after.TotalAlloc - before.TotalAlloc; got > 64<<10 {
			t.Errorf("%s allocated %d bytes for a %d-byte file announcing a %d-byte header", tc.name, got, len(file), MaxHeaderLen)
		}
	}
}

// TestCorpusSeedsRejectedOrRoundTrip documents what each committed seed is:
// the valid ones read, the corruptions fail with the right sentinel.
func TestCorpusSeedsRejectedOrRoundTrip(t *testing.T) {
	t.Parallel()
	valid := map[string]bool{"valid": true, "small": true, "mlp": true, "no-tensors": true, "trailing-garbage": true}
	for name, b := range corpusFiles(t) {
		_, _, err := Read(bytes.NewReader(b))
		if got, want := err == nil, valid[name]; got != want {
			t.Errorf("%s: Read error %v, want success %v", name, err, want)
		}
		if err != nil && !errors.Is(err, ErrFormat) && !errors.Is(err, ErrVersion) {
			t.Errorf("%s: Read error %v wraps neither ErrFormat nor ErrVersion", name, err)
		}
	}
}
