package flows

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"hash/crc32"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/gosbi/gosbi/nn"
	"gonum.org/v1/gonum/mat"
)

// genCorpus regenerates the committed seed corpus under testdata/fuzz:
//
//	go test ./flows/ -run TestGenerateFuzzCorpus -gencorpus
var genCorpus = flag.Bool("gencorpus", false, "rewrite the seed corpus in testdata/fuzz")

// fuzzFlows returns small saved flows of every kind Save describes: MAF
// with and without context, NSF coupling (with LU) and autoregressive, an
// MLP context embedding, one dimension.
func fuzzFlows(t *testing.T) map[string]*Flow {
	t.Helper()
	rng := rand.New(rand.NewPCG(40, 1))
	x2, x1 := randDense(16, 2, 1, 2, rng), randDense(16, 1, 0, 1, rng)
	c1, c2 := randDense(16, 1, 0, 1, rng), randDense(16, 2, 0, 1, rng)
	out := map[string]*Flow{}
	add := func(name string, f *Flow, err error) {
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out[name] = f
	}
	f, err := MAF{Transforms: 2, Hidden: 3, Blocks: -1}.Build(x2, c1, rng)
	add("maf", f, err)
	f, err = MAF{Transforms: 1, Hidden: 2, Blocks: -1, ZScoreX: ZScoreNone}.Build(x1, nil, rng)
	add("maf-1d-unconditional", f, err)
	f, err = NSF{Transforms: 1, Hidden: 2, Bins: 2, Blocks: -1}.Build(x2, c1, rng)
	add("nsf-coupling", f, err)
	f, err = NSF{Transforms: 1, Hidden: 2, Bins: 2, Blocks: -1, Autoregressive: true}.Build(x2, nil, rng)
	add("nsf-autoregressive", f, err)
	emb := nn.NewMLP("embed", []int{2, 2, 1}, nn.ReLU, rng)
	f, err = MAF{Transforms: 1, Hidden: 2, Blocks: -1, Embedding: emb}.Build(x1, c2, rng)
	add("maf-embedding", f, err)
	return out
}

// withDescription re-saves f's tensors with the description edited by fn
// (a consistent file: valid framing and checksum, doubtful content).
func withDescription(t *testing.T, f *Flow, fn func(map[string]any)) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Save(&buf, f); err != nil {
		t.Fatal(err)
	}
	_, meta, err := nn.Read(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	var d map[string]any
	if err := json.Unmarshal([]byte(meta[metaKey]), &d); err != nil {
		t.Fatal(err)
	}
	fn(d)
	js, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	meta[metaKey] = string(js)
	buf.Reset()
	if err := nn.SaveMeta(&buf, f.tensors(), meta); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestGenerateFuzzCorpus writes the seed corpus when run with -gencorpus.
func TestGenerateFuzzCorpus(t *testing.T) {
	if !*genCorpus {
		t.Skip("run with -gencorpus to rewrite testdata/fuzz")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzLoad")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) {
		body := "go test fuzz v1\n[]byte(" + strconv.Quote(string(b)) + ")\n"
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	fs := fuzzFlows(t)
	for name, f := range fs {
		var buf bytes.Buffer
		if err := Save(&buf, f); err != nil {
			t.Fatal(err)
		}
		write(name, buf.Bytes())
	}
	maf := fs["maf"]
	tr := func(d map[string]any) map[string]any { return d["transform"].(map[string]any) }
	child := func(d map[string]any, i int) map[string]any {
		return tr(d)["children"].([]any)[i].(map[string]any)
	}
	edits := map[string]func(map[string]any){
		"huge-features":    func(d map[string]any) { child(d, 1)["features"] = 1 << 16 },
		"huge-hidden":      func(d map[string]any) { child(d, 1)["hidden"] = 1 << 30 },
		"unknown-kind":     func(d map[string]any) { child(d, 2)["kind"] = "mystery" },
		"inverse-empty":    func(d map[string]any) { d["transform"] = map[string]any{"kind": "inverse"} },
		"dim-mismatch":     func(d map[string]any) { d["dim"] = 3 },
		"context-mismatch": func(d map[string]any) { d["context_dim"] = 2 },
		"bad-permutation":  func(d map[string]any) { child(d, 2)["perm"] = []int{0, 0} },
		"zero-blocks":      func(d map[string]any) { child(d, 1)["blocks"] = 0 },
		"spline-no-bins": func(d map[string]any) {
			child(d, 1)["univariate"] = map[string]any{"kind": "spline", "bins": 5000, "tail_bound": -1}
		},
		"deep-nesting": func(d map[string]any) {
			var t any = map[string]any{"kind": "permutation", "perm": []int{0, 1}}
			for range maxSpecDepth + 2 {
				t = map[string]any{"kind": "composed", "children": []any{t}}
			}
			d["transform"] = t
		},
		"unknown-field": func(d map[string]any) { d["extra"] = true },
		"embedding-huge": func(d map[string]any) {
			d["embedding"] = map[string]any{"kind": "linear", "weight": "w", "in": 65536, "out": 65536}
		},
	}
	for name, fn := range edits {
		write(name, withDescription(t, maf, fn))
	}
	var buf bytes.Buffer
	if err := Save(&buf, maf); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	write("truncated", b[:len(b)/2])
	write("empty", nil)
	var plain bytes.Buffer
	if err := nn.Save(&plain, maf.Params()); err != nil {
		t.Fatal(err)
	}
	write("plain-parameter-file", plain.Bytes())
	// A flipped byte in the last value (the fuzz target also tries it with
	// the checksum repaired: a corrupt weight or statistic).
	bad := bytes.Clone(b)
	bad[len(bad)-6] ^= 0xff
	write("flipped-data-byte", bad)
}

// fixCRC returns b with its last four bytes replaced by the CRC-32C of the
// rest, so that the fuzzer's mutations get past the checksum to the
// description and the data.
func fixCRC(b []byte) []byte {
	if len(b) < 4 {
		return b
	}
	out := bytes.Clone(b)
	n := len(out) - 4
	binary.LittleEndian.PutUint32(out[n:], crc32.Checksum(out[:n], crc32.MakeTable(crc32.Castagnoli)))
	return out
}

// FuzzLoad feeds arbitrary bytes to Load, as they are and with the
// checksum repaired. Rejected files must give errors wrapping ErrFormat,
// ErrVersion or ErrEmbedding. An accepted flow must evaluate and sample
// without panicking, give no NaN log-density at finite points when its
// weights are finite (the overflow guard of LogProbBatch), and survive a
// save/load round trip with bit-identical log-densities.
func FuzzLoad(f *testing.F) {
	f.Fuzz(func(t *testing.T, raw []byte) {
		for _, b := range [][]byte{raw, fixCRC(raw)} {
			fl, err := Load(bytes.NewReader(b))
			if err != nil {
				if !errors.Is(err, ErrFormat) && !errors.Is(err, ErrVersion) && !errors.Is(err, ErrEmbedding) {
					t.Fatalf("Load: error %v wraps none of ErrFormat, ErrVersion, ErrEmbedding", err)
				}
				continue
			}
			checkLoadedFlow(t, fl)
		}
	})
}

func checkLoadedFlow(t *testing.T, fl *Flow) {
	t.Helper()
	d, cd := fl.Dim(), fl.ContextDim()
	x := mat.NewDense(3, d, nil)
	for j := 0; j < d; j++ {
		x.Set(1, j, 0.5*float64(j+1))
		x.Set(2, j, -1e8)
	}
	var c *mat.Dense
	if cd > 0 {
		c = mat.NewDense(1, cd, nil)
		for j := 0; j < cd; j++ {
			c.Set(0, j, 0.25)
		}
	}
	lp := fl.LogProbBatch(nil, x, c)
	if fl.finiteParams() {
		for i, v := range lp {
			if math.IsNaN(v) {
				t.Fatalf("finite weights, finite point %v: log-prob[%d] = NaN", x.RawRowView(i), i)
			}
		}
	}
	fl.SampleBatch(mat.NewDense(2, d, nil), c, rand.New(rand.NewPCG(1, 2)))
	var buf bytes.Buffer
	if err := Save(&buf, fl); err != nil {
		t.Fatalf("Save of a loaded flow: %v", err)
	}
	back, err := Load(&buf)
	if err != nil {
		t.Fatalf("Load of a re-saved flow: %v", err)
	}
	lp2 := back.LogProbBatch(nil, x, c)
	for i := range lp {
		if math.Float64bits(lp[i]) != math.Float64bits(lp2[i]) && !(math.IsNaN(lp[i]) && math.IsNaN(lp2[i])) {
			t.Fatalf("round trip: log-prob[%d] %v, want %v", i, lp2[i], lp[i])
		}
	}
}

// TestLoadHugeDescriptionBounded checks that a small file whose description
// announces an enormous transform or embedding fails before anything of
// that size is allocated.
func TestLoadHugeDescriptionBounded(t *testing.T) {
	maf := fuzzFlows(t)["maf"]
	for name, fn := range map[string]func(map[string]any){
		// 65,536 features, hidden 2^16 and one block: about 2^32 values.
		"huge transform": func(d map[string]any) {
			d["dim"] = 1 << 16
			d["transform"] = map[string]any{"kind": "autoregressive", "name": "t", "features": 1 << 16, "hidden": 1 << 16,
				"blocks": 1, "activation": "tanh", "univariate": map[string]any{"kind": "affine"}}
		},
		"huge LU": func(d map[string]any) {
			d["transform"] = map[string]any{"kind": "lu", "name": "lu", "features": 1 << 16}
		},
		"huge embedding": func(d map[string]any) {
			d["embedding"] = map[string]any{"kind": "linear", "weight": "w", "in": 1 << 16, "out": 1 << 16}
		},
	} {
		file := withDescription(t, maf, fn)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := Load(bytes.NewReader(file))
		runtime.ReadMemStats(&after)
		if !errors.Is(err, ErrFormat) {
			t.Errorf("%s: got %v, want ErrFormat", name, err)
		}
		// Parsing a file of a few KiB; the description announces over 32 GiB.
		if got := after.TotalAlloc - before.TotalAlloc; got > 4<<20 {
			t.Errorf("%s: allocated %d bytes for a %d-byte file", name, got, len(file))
		}
	}
}

// TestFuzzLoadSeeds checks that the committed corpus holds every saved
// flow kind (accepted) and the corruptions (rejected).
func TestFuzzLoadSeeds(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzLoad", "*"))
	if err != nil {
		t.Fatal(err)
	}
	accepted := 0
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		line := strings.Split(string(b), "\n")[1]
		s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(line, "[]byte("), ")"))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := Load(strings.NewReader(s)); err == nil {
			accepted++
		}
	}
	if want := len(fuzzFlows(t)); accepted != want || len(files) < want+10 {
		t.Errorf("%d seeds, %d accepted; want %d accepted among at least %d", len(files), accepted, want, want+10)
	}
}
