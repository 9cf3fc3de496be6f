package simulators

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// tinyStore returns the bytes of a file of a run of n simulations of a
// one-dimensional θ and x (x = θ + noise, with NaN and failures mixed in),
// holding the chunks of shard i of k listed in which (nil: the whole
// shard), as the writer leaves it (complete files are rewritten
// canonically).
func tinyStore(t *testing.T, n, i, k int, which []int) []byte {
	t.Helper()
	sim := SimulatorFunc{ThetaDim: 1, XDim: 1, F: func(_ context.Context, dst, theta []float64, rng *rand.Rand) ([]float64, error) {
		switch u := rng.Float64(); {
		case u < 0.05:
			return nil, errors.New("failed")
		case u < 0.1:
			return []float64{math.NaN()}, nil
		}
		return []float64{theta[0] + rng.NormFloat64()}, nil
	}}
	prior, err := (&PriorSpec{Parameters: []PriorParam{{Name: "mu", Dist: "normal", Fields: map[string]float64{"mean": 0, "std": 1}}}}).Prior()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "tiny.gsim")
	w, err := OpenStoreWriter(path, StoreHeader{Task: "tiny", Seed: 1, N: n, ThetaDim: 1, XDim: 1, Shard: i, Shards: k})
	if err != nil {
		t.Fatal(err)
	}
	if which == nil {
		which = w.Missing()
	}
	if _, err := SimulateChunks(context.Background(), sim, prior, n, ChunkSeed(1), which, nil, w.Append); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// withHeader returns a file whose header JSON is js (with a correct
// checksum) followed by rest.
func withHeader(js string, rest []byte) []byte {
	b := []byte(storeMagic)
	b = binary.LittleEndian.AppendUint32(b, StoreVersion)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(js)))
	b = append(b, js...)
	b = binary.LittleEndian.AppendUint32(b, crc32.Checksum(b[8:], castagnoli))
	return append(b, rest...)
}

// TestGenerateStoreFuzzCorpus writes the seed corpus of FuzzStoreReader
// when run with -gencorpus.
func TestGenerateStoreFuzzCorpus(t *testing.T) {
	if !*genCorpus {
		t.Skip("run with -gencorpus to rewrite testdata/fuzz")
	}
	complete := tinyStore(t, 150, 0, 1, nil)
	shard := tinyStore(t, 250, 1, 2, []int{1})
	partial := tinyStore(t, 350, 0, 1, []int{3, 0})
	flipped := slices.Clone(partial)
	flipped[len(flipped)-30] ^= 8
	seeds := map[string][]byte{
		"complete":       complete,
		"shard":          shard,
		"partial":        partial,
		"header-only":    tinyStore(t, 150, 1, 3, []int{}),
		"torn":           partial[:len(partial)-100],
		"flipped":        flipped,
		"duplicate":      append(slices.Clone(shard), shard[len(shard)-1716:]...),
		"huge-n":         withHeader(`{"task":"x","seed":1,"n":1099511627776,"chunk_size":100,"theta_dim":1,"x_dim":1,"theta_names":["a"],"x_names":["b"],"shard":0,"shards":1,"complete":false}`, nil),
		"huge-dims":      withHeader(`{"seed":1,"n":10,"chunk_size":100,"theta_dim":1048576,"x_dim":1048576,"theta_names":[],"x_names":[],"shard":0,"shards":1,"complete":false}`, nil),
		"unknown-key":    withHeader(`{"seed":1,"n":10,"chunk_size":100,"theta_dim":1,"x_dim":1,"theta_names":["a"],"x_names":["b"],"shard":0,"shards":1,"complete":false,"extra":1}`, nil),
		"huge-header":    append([]byte(storeMagic+"\x01\x00\x00\x00\xff\xff\xff\xff"), "{}"...),
		"bad-version":    append([]byte(storeMagic+"\x09\x00\x00\x00\x02\x00\x00\x00"), "{}\x00\x00\x00\x00"...),
		"not-gosbi":      []byte("a,b\n1,2\n"),
		"complete-false": withHeader(`{"seed":1,"n":150,"chunk_size":100,"theta_dim":1,"x_dim":1,"theta_names":["a"],"x_names":["b"],"shard":0,"shards":1,"complete":true}`, nil),
	}
	for name, b := range seeds {
		writeCorpus(t, "FuzzStoreReader", name, b)
	}
	specs := map[string]string{
		"uniform":       `{"parameters":[{"name":"beta","dist":"uniform","low":0,"high":1},{"dist":"uniform","low":-2,"high":2}]}`,
		"mixed":         `{"parameters":[{"name":"a","dist":"uniform","low":0,"high":1},{"name":"b","dist":"lognormal","mu":-1,"sigma":0.5},{"name":"c","dist":"normal","mean":0,"std":2},{"dist":"gamma","shape":2,"rate":3},{"dist":"beta","alpha":2,"beta":5},{"dist":"exponential","rate":1}]}`,
		"normal":        `{"parameters":[{"dist":"normal","mean":1e300,"std":1e-300}]}`,
		"lognormal":     `{"parameters":[{"dist":"lognormal","mu":0,"sigma":1},{"dist":"lognormal","mu":1,"sigma":2}]}`,
		"unknown-dist":  `{"parameters":[{"dist":"cauchy","loc":0}]}`,
		"missing-field": `{"parameters":[{"dist":"uniform","low":0}]}`,
		"low-high":      `{"parameters":[{"dist":"uniform","low":1,"high":1}]}`,
		"unknown-key":   `{"parameters":[{"dist":"normal","mean":0,"std":1,"sd":1}]}`,
		"top-key":       `{"parameters":[],"prior":1}`,
		"dup-name":      `{"parameters":[{"name":"a","dist":"exponential","rate":1},{"name":"a","dist":"exponential","rate":2}]}`,
		"trailing":      `{"parameters":[{"dist":"exponential","rate":1}]} {}`,
		"overflow":      `{"parameters":[{"dist":"normal","mean":1e400,"std":1}]}`,
		"null":          `{"parameters":[null]}`,
		"string-number": `{"parameters":[{"dist":"normal","mean":"0","std":1}]}`,
	}
	for name, s := range specs {
		writeCorpus(t, "FuzzPriorSpec", name, []byte(s))
	}
}

// FuzzStoreReader checks that no input makes the reader panic or allocate
// beyond the data present, that errors wrap ErrFormat, and that a file the
// reader accepts is also accepted, unchanged, by the writer when resumed.
func FuzzStoreReader(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte(storeMagic))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := NewStoreReader(bytes.NewReader(data), int64(len(data)), "fuzz")
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("error %v does not wrap ErrFormat", err)
			}
			return
		}
		h := r.Header()
		rows := 0
		valid := true
		for c, err := range r.All() {
			if err != nil {
				if !errors.Is(err, ErrFormat) {
					t.Fatalf("chunk error %v does not wrap ErrFormat", err)
				}
				valid = false
				break
			}
			if tr, tc := c.Theta.Dims(); tr != len(c.Status) || tc != h.ThetaDim || c.Start != c.Index*h.ChunkSize {
				t.Fatalf("chunk %d: θ %d×%d, %d statuses, start %d", c.Index, tr, tc, len(c.Status), c.Start)
			}
			rows += len(c.Status)
		}
		res, err := r.ReadAll()
		if (err == nil) != valid {
			t.Fatalf("ReadAll error %v, All valid %v", err, valid)
		}
		if err != nil {
			return
		}
		if res.Report.Done != rows || len(res.Index) != rows || !slices.IsSorted(res.Index) {
			t.Fatalf("ReadAll: %d rows, index %d long; want %d sorted", res.Report.Done, len(res.Index), rows)
		}
		if h.Complete || h.ChunkSize != ChunkSize || h.shardLen() > 1000 {
			return // the writer lists the missing chunks: keep it quick
		}
		// Resuming a valid partial file keeps it as it is.
		path := filepath.Join(t.TempDir(), "f.gsim")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		w, err := OpenStoreWriter(path, h)
		if err != nil {
			t.Fatalf("the writer rejects a file the reader accepts: %v", err)
		}
		if w.Recovered() != nil || w.Len() != len(r.Chunks()) {
			t.Fatalf("the writer cut %+v off a valid file, keeping %d of %d chunks", w.Recovered(), w.Len(), len(r.Chunks()))
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if len(w.Missing()) > 0 && !bytes.Equal(got, data) {
			t.Fatal("opening and closing a partial file changed it")
		}
	})
}

// FuzzPriorSpec checks that a specification the parser accepts always
// builds a prior of the right dimension whose samples have finite log
// density, and that its canonical form parses to the same hash.
func FuzzPriorSpec(f *testing.F) {
	f.Add([]byte(`{"parameters":[{"dist":"normal","mean":0,"std":1}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		spec, err := ParsePriorSpec(data)
		if err != nil {
			if !errors.Is(err, ErrFormat) && !errors.Is(err, ErrInput) {
				t.Fatalf("error %v wraps neither ErrFormat nor ErrInput", err)
			}
			return
		}
		prior, err := spec.Prior()
		if err != nil {
			t.Fatalf("accepted spec gives no prior: %v", err)
		}
		if prior.Dim() != spec.Dim() || len(spec.Names()) != spec.Dim() {
			t.Fatalf("prior dimension %d, %d names, spec has %d parameters", prior.Dim(), len(spec.Names()), spec.Dim())
		}
		again, err := ParsePriorSpec(spec.Canonical())
		if err != nil {
			t.Fatalf("canonical form %s does not parse: %v", spec.Canonical(), err)
		}
		if again.Hash() != spec.Hash() {
			t.Fatalf("canonical form changes the hash: %s", spec.Canonical())
		}
		x := make([]float64, prior.Dim())
		prior.Sample(x, rand.New(rand.NewPCG(1, 2)))
		if lp := prior.LogProb(x); math.IsNaN(lp) || math.IsInf(lp, 1) {
			t.Fatalf("log density %v at the sample %v", lp, x)
		}
	})
}
