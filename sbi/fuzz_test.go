package sbi_test

import (
	"bytes"
	"context"
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

	"github.com/gosbi/gosbi/dist"
	"github.com/gosbi/gosbi/flows"
	"github.com/gosbi/gosbi/sbi"
	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat/distuv"
)

// genCorpus regenerates the committed seed corpus under testdata/fuzz:
//
//	go test ./sbi/ -run TestGenerateFuzzCorpus -gencorpus
var genCorpus = flag.Bool("gencorpus", false, "rewrite the seed corpus in testdata/fuzz")

// fuzzPosteriors returns small saved posteriors of every kind Save
// describes: box, normal and log-normal priors, MAF and NSF estimators, MLP
// and DeepSets embeddings, and a custom prior (loadable only with
// LoadWithPrior).
func fuzzPosteriors(t *testing.T) map[string][]byte {
	t.Helper()
	rng := rand.New(rand.NewPCG(50, 1))
	boxPrior, err := dist.NewBoxUniform([]float64{-1, -1}, []float64{1, 1})
	if err != nil {
		t.Fatal(err)
	}
	normal, err := dist.NewDiagNormal([]float64{0, 1}, []float64{1, 2})
	if err != nil {
		t.Fatal(err)
	}
	lognormal, err := dist.NewLogNormal([]float64{0, 1}, []float64{0.5, 0.3})
	if err != nil {
		t.Fatal(err)
	}
	custom, err := dist.NewIndependent(distuv.Uniform{Min: -1, Max: 1}, distuv.Normal{Mu: 0, Sigma: 1})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	save := func(name string, p *sbi.DirectPosterior) {
		var buf bytes.Buffer
		if err := sbi.Save(&buf, p); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out[name] = buf.Bytes()
	}
	direct := func(name string, est interface {
		Build(x, c *mat.Dense, rng *rand.Rand) (*flows.Flow, error)
	}, prior dist.Distribution, xDim int) {
		theta := dist.SampleN(prior, 20, rng)
		x := mat.NewDense(20, xDim, nil)
		for i := range 20 {
			for j := range xDim {
				x.Set(i, j, theta.At(i, j%prior.Dim())+rng.NormFloat64())
			}
		}
		f, err := est.Build(theta, x, rng)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		p, err := sbi.NewDirectPosterior(f, prior, &sbi.PosteriorSettings{Seed: 3, AcceptanceDraws: 500})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		save(name, p)
	}
	direct("box-maf", flows.MAF{Transforms: 1, Hidden: 3, Blocks: -1}, boxPrior, 2)
	direct("normal-nsf", flows.NSF{Transforms: 1, Hidden: 2, Bins: 2, Blocks: -1}, normal, 1)
	direct("lognormal-maf", flows.MAF{Transforms: 1, Hidden: 2, Blocks: -1}, lognormal, 3)
	direct("custom-prior", flows.MAF{Transforms: 1, Hidden: 2, Blocks: -1}, custom, 2)
	// Embeddings need NPE, which records their description.
	for name, emb := range map[string]sbi.Embedding{
		"mlp-embedding":      sbi.MLPEmbedding{Hidden: 3, Layers: 1, Out: 2},
		"deepsets-embedding": sbi.DeepSetsEmbedding{TrialDim: 1, Trials: 3, Hidden: 2, Layers: 1, TrialOut: 2, Out: 2},
	} {
		e, err := sbi.NewNPE(boxPrior, &sbi.NPEConfig{Estimator: flows.MAF{Transforms: 1, Hidden: 2, Blocks: -1}, Embedding: emb})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		theta := dist.SampleN(boxPrior, 20, rng)
		x := mat.NewDense(20, 3, nil)
		for i := range 20 {
			for j := range 3 {
				x.Set(i, j, theta.At(i, 0)+rng.NormFloat64())
			}
		}
		if _, err := e.AppendSimulations(theta, x, nil); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		ts := &sbi.TrainSettings{}
		ts.MaxEpochs = 1
		if _, err := e.Train(context.Background(), rng, ts); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		p, err := e.Posterior(&sbi.PosteriorSettings{Seed: 4, AcceptanceDraws: 500})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		save(name, p)
	}
	return out
}

// fixCRC returns b with its last four bytes replaced by the CRC-32C of the
// rest (the file's checksum), so that mutations reach the header and flow.
func fixCRC(b []byte) []byte {
	if len(b) < 4 {
		return b
	}
	out := bytes.Clone(b)
	n := len(out) - 4
	binary.LittleEndian.PutUint32(out[n:], crc32.Checksum(out[:n], crc32.MakeTable(crc32.Castagnoli)))
	return out
}

// withHeader rewrites the JSON header of a saved posterior with fn (and a
// valid checksum).
func withHeader(t *testing.T, file []byte, fn func(map[string]any)) []byte {
	t.Helper()
	hl := binary.LittleEndian.Uint32(file[12:])
	var h map[string]any
	if err := json.Unmarshal(file[16:16+hl], &h); err != nil {
		t.Fatal(err)
	}
	fn(h)
	js, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	var b []byte
	b = append(b, file[:12]...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(js)))
	b = append(b, js...)
	b = append(b, file[16+hl:]...)
	return fixCRC(b)
}

// corruptions returns consistent files (valid framing and checksum) with
// doubtful headers: what a hostile file, not a damaged one, looks like.
func corruptions(t *testing.T, files map[string][]byte) map[string][]byte {
	t.Helper()
	settings := func(key string, v any) func(map[string]any) {
		return func(h map[string]any) { h["settings"].(map[string]any)[key] = v }
	}
	hugeMLP := func(h map[string]any) {
		e := h["embedding"].(map[string]any)
		e["hidden"], e["layers"] = 1<<16, 64
	}
	out := map[string][]byte{}
	for name, edit := range map[string]struct {
		base string
		fn   func(map[string]any)
	}{
		"huge-embedding":       {"mlp-embedding", hugeMLP},
		"embedding-x-mismatch": {"mlp-embedding", func(h map[string]any) { h["embedding"].(map[string]any)["in"] = 5 }},
		"deepsets-bad-stats":   {"deepsets-embedding", func(h map[string]any) { h["embedding"].(map[string]any)["std"] = []float64{-1} }},
		"huge-batch":           {"box-maf", settings("batch_size", int64(1)<<40)},
		"huge-acceptance":      {"box-maf", settings("acceptance_draws", int64(1)<<40)},
		"negative-draws":       {"box-maf", settings("max_draws", -1)},
		"theta-dim-mismatch":   {"box-maf", func(h map[string]any) { h["theta_dim"] = 3 }},
		"box-inverted":         {"box-maf", func(h map[string]any) { h["prior"].(map[string]any)["lo"] = []float64{2, 2} }},
		"normal-not-pd":        {"normal-nsf", func(h map[string]any) { h["prior"].(map[string]any)["cov"] = []float64{1, 2, 2, 1} }},
		"unknown-prior":        {"box-maf", func(h map[string]any) { h["prior"].(map[string]any)["kind"] = "beta" }},
		"unknown-field":        {"box-maf", func(h map[string]any) { h["extra"] = 1 }},
	} {
		out[name] = withHeader(t, files[edit.base], edit.fn)
	}
	good := files["box-maf"]
	out["truncated"] = good[:len(good)/2]
	out["empty"] = nil
	v2 := bytes.Clone(good)
	v2[8] = 2
	out["version-2"] = fixCRC(v2)
	return out
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
	files := fuzzPosteriors(t)
	all := corruptions(t, files)
	for k, v := range files {
		all[k] = v
	}
	for name, b := range all {
		body := "go test fuzz v1\n[]byte(" + strconv.Quote(string(b)) + ")\n"
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// FuzzLoad feeds arbitrary bytes to sbi.Load, as they are and with the
// checksum repaired. Rejected files must give errors wrapping ErrFormat,
// ErrVersion or ErrPrior; an accepted posterior must evaluate without
// panicking and survive a save/load round trip with the same settings and
// bit-identical flow log-densities.
func FuzzLoad(f *testing.F) {
	f.Fuzz(func(t *testing.T, raw []byte) {
		for _, b := range [][]byte{raw, fixCRC(raw)} {
			p, err := sbi.Load(bytes.NewReader(b))
			if err != nil {
				if !errors.Is(err, sbi.ErrFormat) && !errors.Is(err, sbi.ErrVersion) && !errors.Is(err, sbi.ErrPrior) {
					t.Fatalf("Load: error %v wraps none of ErrFormat, ErrVersion, ErrPrior", err)
				}
				continue
			}
			checkLoadedPosterior(t, p)
		}
	})
}

func checkLoadedPosterior(t *testing.T, p *sbi.DirectPosterior) {
	t.Helper()
	_, xd := p.Dims()
	// The file's own sampling budgets are the user's business; evaluate
	// with small ones so that a file asking for 2^40 draws does not stall
	// the fuzzer.
	q, err := p.WithSettings(&sbi.PosteriorSettings{AcceptanceDraws: 64, BatchSize: 32, MaxDraws: 256, AllowPartial: true})
	if err != nil {
		t.Fatalf("WithSettings: %v", err)
	}
	c, err := q.At(make([]float64, xd))
	if err != nil {
		t.Fatalf("At: %v", err)
	}
	theta := dist.SampleN(p.Prior(), 3, rand.New(rand.NewPCG(1, 1)))
	lp := c.LogProbBatch(nil, theta)
	fl := p.Flow().LogProbBatch(nil, theta, mat.NewDense(1, xd, nil))
	for i, v := range lp {
		if math.IsNaN(v) && !math.IsNaN(fl[i]) {
			t.Fatalf("posterior log-prob[%d] NaN where the flow's is %v", i, fl[i])
		}
	}
	if _, err := c.SampleN(context.Background(), 4, rand.New(rand.NewPCG(2, 2))); err != nil && !errors.Is(err, sbi.ErrBudget) {
		t.Fatalf("SampleN: %v", err)
	}
	var buf bytes.Buffer
	if err := sbi.Save(&buf, p); err != nil {
		t.Fatalf("Save of a loaded posterior: %v", err)
	}
	back, err := sbi.Load(&buf)
	if errors.Is(err, sbi.ErrPrior) {
		back, err = sbi.LoadWithPrior(bytes.NewReader(buf.Bytes()), p.Prior())
	}
	if err != nil {
		t.Fatalf("Load of a re-saved posterior: %v", err)
	}
	if back.Settings() != p.Settings() {
		t.Fatalf("settings %+v after the round trip, want %+v", back.Settings(), p.Settings())
	}
	ctx := mat.NewDense(1, xd, nil)
	a, b := p.Flow().LogProbBatch(nil, theta, ctx), back.Flow().LogProbBatch(nil, theta, ctx)
	for i := range a {
		if math.Float64bits(a[i]) != math.Float64bits(b[i]) && !(math.IsNaN(a[i]) && math.IsNaN(b[i])) {
			t.Fatalf("flow log-prob[%d] %v after the round trip, want %v", i, b[i], a[i])
		}
	}
}

// TestLoadHostileHeaderBounded checks that posterior files of a few KiB
// whose headers ask for enormous networks or budgets are rejected at load,
// without allocating what they ask for.
func TestLoadHostileHeaderBounded(t *testing.T) {
	files := fuzzPosteriors(t)
	bad := corruptions(t, files)
	// (A huge AcceptanceDraws, the "huge-acceptance" seed, costs time at
	// the first LogProb, not memory: draws go in batches of BatchSize.)
	for _, name := range []string{"huge-embedding", "huge-batch"} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := sbi.Load(bytes.NewReader(bad[name]))
		runtime.ReadMemStats(&after)
		if !errors.Is(err, sbi.ErrFormat) {
			t.Errorf("%s: got %v, want ErrFormat", name, err)
		}
		// Reading and parsing a file of a few KiB. The huge embedding asks
		// for 64 layers of 65,536² weights (2 TiB); the old reader
		// allocated them before looking at the flow.
		if got := after.TotalAlloc - before.TotalAlloc; got > 4<<20 {
			t.Errorf("%s: allocated %d bytes for a %d-byte file", name, got, len(bad[name]))
		}
	}
}

// TestFuzzLoadSeeds checks that the committed corpus holds the valid
// posteriors (accepted) and the corruptions (rejected).
func TestFuzzLoadSeeds(t *testing.T) {
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
		if _, err := sbi.Load(strings.NewReader(s)); err == nil {
			accepted++
		}
	}
	// Six valid posteriors, one of them with a custom prior (ErrPrior),
	// and the huge-acceptance file, legal if slow to evaluate.
	if accepted != 6 || len(files) < 19 {
		t.Errorf("%d seeds, %d accepted; want 6 accepted among at least 19", len(files), accepted)
	}
}

// TestLoadCorruptFlowBehindEmbedding is the regression test of the first
// crash FuzzLoad found: a file with an embedding whose flow section is
// corrupt (checksum repaired) made Load return a nil posterior with a nil
// error (the flow's error was assigned to a shadowed variable), and the
// next line dereferenced it.
func TestLoadCorruptFlowBehindEmbedding(t *testing.T) {
	file := fuzzPosteriors(t)["mlp-embedding"]
	hl := binary.LittleEndian.Uint32(file[12:])
	flowStart := 16 + int(hl) + 8
	for _, tc := range []struct {
		name string
		edit func([]byte) []byte
	}{
		{"flow magic", func(b []byte) []byte { b[flowStart] ^= 0xff; return b }},
		{"flow checksum", func(b []byte) []byte { b[len(b)-5] ^= 0xff; return b }},
	} {
		b := fixCRC(tc.edit(bytes.Clone(file)))
		p, err := sbi.Load(bytes.NewReader(b))
		if !errors.Is(err, sbi.ErrFormat) || p != nil {
			t.Errorf("%s corrupted behind an embedding: got %v, %v; want nil, ErrFormat", tc.name, p, err)
		}
	}
}
