package sbi_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/gosbi/gosbi/dist"
	"github.com/gosbi/gosbi/flows"
	"github.com/gosbi/gosbi/sbi"
	"github.com/gosbi/gosbi/vi"
	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat/distuv"
)

// tinyVI fits a small, cheap q to the potential of post at xo: prior start,
// a few iterations, PSIS on 100 draws. The fit is poor and need not be
// good: the save tests check that what is saved comes back bit for bit.
func tinyVI(t *testing.T, post *sbi.MCMCPosterior, xo *mat.Dense, family vi.Family, seed uint64) *sbi.VIPosterior {
	t.Helper()
	s := &sbi.VISettings{Family: family, PriorStart: true, InitSamples: 200,
		VI: &vi.Settings{Particles: 32, MaxIterations: 15, Window: -1, QualitySamples: 100}}
	vp, err := sbi.NewVIPosterior(context.Background(), post, xo, rand.New(rand.NewPCG(seed, 1)), s)
	if err != nil {
		t.Fatal(err)
	}
	return vp
}

func saveVIBytes(t *testing.T, p *sbi.VIPosterior, post *sbi.MCMCPosterior) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := sbi.SaveVI(&buf, p, post); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// sameBits reports whether a and b have the same shape and bit-identical
// values.
func sameBits(a, b *mat.Dense) bool {
	ar, ac := a.Dims()
	br, bc := b.Dims()
	if ar != br || ac != bc {
		return false
	}
	for i := range ar {
		for j := range ac {
			if math.Float64bits(a.At(i, j)) != math.Float64bits(b.At(i, j)) {
				return false
			}
		}
	}
	return true
}

// checkSameVI compares p and q: dimension, bounds, observation, fit
// summaries, draws with the same seed and log densities, all bit for bit.
func checkSameVI(t *testing.T, p, q *sbi.VIPosterior) {
	t.Helper()
	if q.Dim() != p.Dim() {
		t.Fatalf("Dim %d after load, want %d", q.Dim(), p.Dim())
	}
	plo, phi := p.Bounds()
	qlo, qhi := q.Bounds()
	if !reflect.DeepEqual(plo, qlo) || !reflect.DeepEqual(phi, qhi) {
		t.Errorf("bounds [%v, %v] after load, want [%v, %v]", qlo, qhi, plo, phi)
	}
	if !sameBits(p.Observation(), q.Observation()) {
		t.Errorf("observation %v after load, want %v", mat.Formatted(q.Observation()), mat.Formatted(p.Observation()))
	}
	pr, qr := *p.Result(), *q.Result()
	pr.History = nil // not saved
	if !sameResult(pr, qr) {
		t.Errorf("result %+v after load, want %+v", qr, pr)
	}
	if pi, qi := p.InitResult(), q.InitResult(); (pi == nil) != (qi == nil) || (pi != nil && !reflect.DeepEqual(*pi, *qi)) {
		t.Errorf("init result %+v after load, want %+v", qi, pi)
	}
	a, err := p.SampleN(500, rand.New(rand.NewPCG(3, 4)))
	if err != nil {
		t.Fatal(err)
	}
	b, err := q.SampleN(500, rand.New(rand.NewPCG(3, 4)))
	if err != nil {
		t.Fatal(err)
	}
	if !sameBits(a, b) {
		t.Error("SampleN with the same seed differs after load")
	}
	// Log densities at q's draws and at points off them (outside a
	// bounded support too).
	pts := mat.DenseCopyOf(a.Slice(0, 20, 0, p.Dim()))
	for i := range 5 {
		for j := range p.Dim() {
			pts.Set(i, j, 2.9*float64(i-2))
		}
	}
	la, lb := p.LogProbBatch(nil, pts), q.LogProbBatch(nil, pts)
	finiteSeen := false
	for i := range la {
		if math.Float64bits(la[i]) != math.Float64bits(lb[i]) {
			t.Errorf("LogProbBatch[%d] = %v after load, want %v", i, lb[i], la[i])
		}
		row := pts.RawRowView(i)
		if a, b := p.LogProb(row), q.LogProb(row); math.Float64bits(a) != math.Float64bits(b) {
			t.Errorf("LogProb(row %d) = %v after load, want %v", i, b, a)
		}
		finiteSeen = finiteSeen || !math.IsInf(la[i], 0)
	}
	if !finiteSeen {
		t.Error("no finite log density: the comparison tests nothing")
	}
	x1 := p.Sample(nil, rand.New(rand.NewPCG(5, 5)))
	x2 := q.Sample(nil, rand.New(rand.NewPCG(5, 5)))
	if !reflect.DeepEqual(x1, x2) {
		t.Errorf("Sample %v after load, want %v", x2, x1)
	}
}

// sameResult compares two fit summaries, NaN equal to NaN.
func sameResult(a, b vi.Result) bool {
	same := func(x, y float64) bool {
		return math.Float64bits(x) == math.Float64bits(y) || (math.IsNaN(x) && math.IsNaN(y))
	}
	if a.Iterations != b.Iterations || a.Skipped != b.Skipped || a.Converged != b.Converged || a.Runtime != b.Runtime ||
		!same(a.Loss, b.Loss) || !same(a.Khat, b.Khat) || !same(a.ESS, b.ESS) || !same(a.LogZ, b.LogZ) ||
		len(a.KhatPerContext) != len(b.KhatPerContext) || !reflect.DeepEqual(a.Warnings, b.Warnings) || b.History != nil {
		return false
	}
	for i := range a.KhatPerContext {
		if !same(a.KhatPerContext[i], b.KhatPerContext[i]) {
			return false
		}
	}
	return true
}

// TestSaveLoadVI round-trips VI posteriors of every family, on an
// unbounded (NLE, normal prior: identity bijection) and a bounded (NRE,
// box prior: logit bijection) support, with and without the potential, and
// on a two-trial observation.
func TestSaveLoadVI(t *testing.T) {
	nle := tinyNLEPosterior(t)
	nre := tinyNREPosterior(t, &sbi.NREConfig{Hidden: 8, Blocks: 1})
	for _, tc := range []struct {
		name      string
		post      *sbi.MCMCPosterior
		family    vi.Family
		trials    int
		potential bool
	}{
		{"nle-maf-potential", nle, flows.MAF{Transforms: 1, Hidden: 4}, 1, true},
		{"nle-nsf-q-only", nle, flows.NSF{Transforms: 1, Hidden: 4, Bins: 3}, 1, false},
		{"nre-gaussian-potential", nre, vi.Gaussian{}, 1, true},
		{"nre-maf-two-trials", nre, flows.MAF{Transforms: 2, Hidden: 4}, 2, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			xo := linGaussObs(tc.trials, 5)
			vp := tinyVI(t, tc.post, xo, tc.family, 11)
			var withPot *sbi.MCMCPosterior
			if tc.potential {
				withPot = tc.post
			}
			data := saveVIBytes(t, vp, withPot)
			q, qpost, err := sbi.LoadVI(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			checkSameVI(t, vp, q)
			if !bytes.Equal(saveVIBytes(t, q, qpost), data) {
				t.Error("re-saved file differs")
			}
			_, _, err = q.SampleResampled(100, 4, rand.New(rand.NewPCG(8, 8)))
			if !tc.potential {
				if qpost != nil || !errors.Is(err, vi.ErrTarget) {
					t.Errorf("no potential saved: MCMC posterior %v, SampleResampled error %v; want nil and vi.ErrTarget", qpost, err)
				}
				return
			}
			if qpost == nil {
				t.Fatal("no MCMC posterior loaded with the potential")
			}
			checkSameMCMC(t, tc.post, qpost)
			a, pa, err := vp.SampleResampled(100, 4, rand.New(rand.NewPCG(8, 8)))
			if err != nil {
				t.Fatal(err)
			}
			b, pb, err := q.SampleResampled(100, 4, rand.New(rand.NewPCG(8, 8)))
			if err != nil {
				t.Fatal(err)
			}
			if !sameBits(a, b) || math.Float64bits(pa.Khat) != math.Float64bits(pb.Khat) {
				t.Errorf("SampleResampled differs after load (k-hat %v, want %v)", pb.Khat, pa.Khat)
			}
		})
	}
}

// TestSaveLoadVIFile goes through a file, and attaches a potential to a
// posterior saved without one.
func TestSaveLoadVIFile(t *testing.T) {
	post := tinyNLEPosterior(t)
	xo := linGaussObs(1, 5)
	vp := tinyVI(t, post, xo, flows.MAF{Transforms: 1, Hidden: 4}, 12)
	name := filepath.Join(t.TempDir(), "posterior_vi.gosbi")
	if err := sbi.SaveVIFile(name, vp, nil); err != nil {
		t.Fatal(err)
	}
	q, qpost, err := sbi.LoadVIFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if qpost != nil {
		t.Errorf("MCMC posterior %v from a file without a potential", qpost)
	}
	checkSameVI(t, vp, q)
	if _, _, err := q.SampleResampled(50, 2, rand.New(rand.NewPCG(1, 1))); !errors.Is(err, vi.ErrTarget) {
		t.Errorf("SampleResampled without a potential: error %v, want vi.ErrTarget", err)
	}
	w, err := q.WithPotential(post)
	if err != nil {
		t.Fatal(err)
	}
	a, _, err := vp.SampleResampled(50, 2, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := w.SampleResampled(50, 2, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		t.Fatal(err)
	}
	if !sameBits(a, b) {
		t.Error("SampleResampled after WithPotential differs from the original's")
	}
	if _, err := q.WithPotential(nil); !errors.Is(err, sbi.ErrInput) {
		t.Errorf("WithPotential(nil): error %v, want ErrInput", err)
	}
	other := tinyNREPosterior(t, &sbi.NREConfig{Hidden: 4, Blocks: 1}) // same dims: accepted
	if _, err := q.WithPotential(other); err != nil {
		t.Errorf("WithPotential of a same-shaped posterior: %v", err)
	}
	if _, _, err := sbi.LoadVIFile(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: error %v, want os.ErrNotExist", err)
	}
}

// TestSaveVIErrors checks the arguments SaveVI refuses.
func TestSaveVIErrors(t *testing.T) {
	post := tinyNLEPosterior(t)
	vp := tinyVI(t, post, linGaussObs(1, 5), flows.MAF{Transforms: 1, Hidden: 4}, 13)
	var buf bytes.Buffer
	if err := sbi.SaveVI(&buf, nil, nil); !errors.Is(err, sbi.ErrInput) {
		t.Errorf("nil posterior: error %v, want ErrInput", err)
	}
	if err := sbi.SaveVI(&buf, vp, &sbi.MCMCPosterior{}); !errors.Is(err, sbi.ErrInput) {
		t.Errorf("empty MCMC posterior: error %v, want ErrInput", err)
	}
	if err := sbi.SaveVIFile(filepath.Join(t.TempDir(), "no", "such", "dir"), vp, nil); err == nil {
		t.Error("SaveVIFile into a missing folder: no error")
	}
	if buf.Len() != 0 {
		t.Errorf("%d bytes written by failed saves", buf.Len())
	}
}

// TestSaveLoadVICustomPrior stores a potential whose prior Save cannot
// describe: LoadVI asks for it (ErrPrior), LoadVIWithPrior takes it.
func TestSaveLoadVICustomPrior(t *testing.T) {
	custom, err := dist.NewIndependent(distuv.Uniform{Min: -3, Max: 3}, distuv.Normal{Mu: 0, Sigma: 1})
	if err != nil {
		t.Fatal(err)
	}
	th, x := linGaussData(t, 300, 74)
	e, err := sbi.NewNLE(custom, &sbi.NLEConfig{Estimator: flows.MAF{Transforms: 1, Hidden: 4}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.AppendSimulations(th, x, &sbi.AppendOptions{ExcludeInvalid: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Train(context.Background(), rand.New(rand.NewPCG(74, 2)), quickTrain(1)); err != nil {
		t.Fatal(err)
	}
	post, err := e.Posterior(tinyMCMC)
	if err != nil {
		t.Fatal(err)
	}
	vp := tinyVI(t, post, linGaussObs(1, 5), vi.Gaussian{}, 14)
	data := saveVIBytes(t, vp, post)
	if _, _, err := sbi.LoadVI(bytes.NewReader(data)); !errors.Is(err, sbi.ErrPrior) {
		t.Fatalf("custom prior: error %v, want ErrPrior", err)
	}
	q, qpost, err := sbi.LoadVIWithPrior(bytes.NewReader(data), custom)
	if err != nil {
		t.Fatal(err)
	}
	checkSameVI(t, vp, q)
	if qpost.Prior() != dist.Distribution(custom) {
		t.Error("the loaded potential does not use the given prior")
	}
	if _, _, err := sbi.LoadVIWithPrior(bytes.NewReader(data), nil); !errors.Is(err, sbi.ErrInput) {
		t.Errorf("nil prior: error %v, want ErrInput", err)
	}
	if _, _, err := sbi.LoadVIWithPrior(bytes.NewReader(data), linGaussPriorN(t, 3)); !errors.Is(err, sbi.ErrInput) {
		t.Errorf("prior of dimension 3: error %v, want ErrInput", err)
	}
}

func linGaussPriorN(t *testing.T, d int) dist.Distribution {
	t.Helper()
	m, s := make([]float64, d), make([]float64, d)
	for i := range s {
		s[i] = 1
	}
	p, err := dist.NewDiagNormal(m, s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// viFiles returns small VI posterior files: with a potential (bounded
// support, NRE) and without (unbounded, NLE).
func viFiles(t *testing.T) map[string][]byte {
	t.Helper()
	nle := tinyNLEPosterior(t)
	nre := tinyNREPosterior(t, &sbi.NREConfig{Hidden: 4, Blocks: 1})
	return map[string][]byte{
		"vi-nre-potential": saveVIBytes(t, tinyVI(t, nre, linGaussObs(1, 5), vi.Gaussian{}, 15), nre),
		"vi-nle-q-only":    saveVIBytes(t, tinyVI(t, nle, linGaussObs(2, 5), flows.MAF{Transforms: 1, Hidden: 3}, 16), nil),
	}
}

// viCorruptions returns files with valid framing and checksum but doubtful
// headers or sections, each with the error it must give.
func viCorruptions(t *testing.T, files map[string][]byte) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	edit := func(name, base string, fn func(map[string]any)) { out[name] = withHeader(t, files[base], fn) }
	set := func(key string, v any) func(map[string]any) { return func(h map[string]any) { h[key] = v } }
	edit("vi-theta-dim", "vi-nle-q-only", set("theta_dim", 3))
	edit("vi-theta-dim-huge", "vi-nle-q-only", set("theta_dim", 1<<40))
	edit("vi-trials-huge", "vi-nle-q-only", set("x_trials", 1<<40))
	edit("vi-trials-zero", "vi-nle-q-only", set("x_trials", 0))
	edit("vi-x-dim", "vi-nle-q-only", set("x_dim", 3))
	edit("vi-flow-bytes", "vi-nle-q-only", func(h map[string]any) { h["flow_bytes"] = h["flow_bytes"].(float64) - 8 })
	edit("vi-flow-bytes-negative", "vi-nle-q-only", set("flow_bytes", -1))
	edit("vi-potential-bytes-huge", "vi-nre-potential", set("potential_bytes", int64(1)<<62))
	edit("vi-bounds-short", "vi-nre-potential", func(h map[string]any) { h["bounds"].(map[string]any)["lo"] = []float64{-3} })
	edit("vi-bounds-inverted", "vi-nre-potential", func(h map[string]any) { h["bounds"].(map[string]any)["lo"] = []float64{4, 4} })
	edit("vi-prior-no-potential", "vi-nle-q-only", set("prior", map[string]any{"kind": "box", "lo": []float64{0, 0}, "hi": []float64{1, 1}}))
	edit("vi-potential-no-prior", "vi-nre-potential", set("prior", nil))
	edit("vi-prior-unknown", "vi-nre-potential", func(h map[string]any) { h["prior"].(map[string]any)["kind"] = "beta" })
	edit("vi-result-negative", "vi-nle-q-only", func(h map[string]any) { h["result"].(map[string]any)["iterations"] = -1 })
	edit("vi-result-bad-float", "vi-nle-q-only", func(h map[string]any) { h["result"].(map[string]any)["khat"] = "many" })
	edit("vi-unknown-field", "vi-nle-q-only", set("extra", 1))
	good := files["vi-nle-q-only"]
	hl := binary.LittleEndian.Uint32(good[12:])
	// The first x_o value (after the flow) made NaN.
	{
		var h struct {
			FlowBytes int `json:"flow_bytes"`
		}
		if err := json.Unmarshal(good[16:16+hl], &h); err != nil {
			t.Fatal(err)
		}
		b := bytes.Clone(good)
		binary.LittleEndian.PutUint64(b[16+int(hl)+8+h.FlowBytes:], math.Float64bits(math.NaN()))
		out["vi-xo-nan"] = fixCRC(b)
	}
	// The flow's first byte (its magic) flipped.
	flowed := bytes.Clone(good)
	flowed[16+int(hl)+8] ^= 0xff
	out["vi-flow-corrupt"] = fixCRC(flowed)
	// The nested potential's last byte (its own checksum) flipped.
	pot := bytes.Clone(files["vi-nre-potential"])
	pot[len(pot)-5] ^= 0xff
	out["vi-potential-corrupt"] = fixCRC(pot)
	out["vi-truncated"] = good[:len(good)/2]
	out["vi-empty"] = nil
	v2 := bytes.Clone(good)
	v2[8] = 2
	out["vi-version-2"] = fixCRC(v2)
	return out
}

// TestLoadVICorrupt is the corruption table: every truncation, bit flips
// throughout, consistent files with hostile headers, other versions and
// other kinds of posterior file give errors (the right sentinels), never a
// posterior.
func TestLoadVICorrupt(t *testing.T) {
	files := viFiles(t)
	for name, data := range files {
		step := 1
		if testing.Short() {
			step = 13
		}
		for n := 0; n < len(data); n += step {
			if p, _, err := sbi.LoadVI(bytes.NewReader(data[:n])); !errors.Is(err, sbi.ErrFormat) || p != nil {
				t.Fatalf("%s truncated to %d of %d bytes: %v, %v; want nil, ErrFormat", name, n, len(data), p, err)
			}
		}
		for i := 0; i < len(data); i += 7 {
			c := bytes.Clone(data)
			c[i] ^= 0x10
			if p, _, err := sbi.LoadVI(bytes.NewReader(c)); err == nil || p != nil {
				t.Fatalf("%s byte %d flipped: %v, %v; want an error", name, i, p, err)
			}
		}
	}
	for name, data := range viCorruptions(t, files) {
		want := sbi.ErrFormat
		if name == "vi-version-2" {
			want = sbi.ErrVersion
		}
		p, post, err := sbi.LoadVI(bytes.NewReader(data))
		t.Logf("%s: %v", name, err)
		if !errors.Is(err, want) || p != nil || post != nil {
			t.Errorf("%s: got %v, %v, %v; want nil, nil, %v", name, p, post, err, want)
		}
	}
	// Other kinds of posterior file are named as such, and the other
	// loaders reject VI files.
	mcmcFile := saveMCMCBytes(t, tinyNLEPosterior(t))
	if _, _, err := sbi.LoadVI(bytes.NewReader(mcmcFile)); !errors.Is(err, sbi.ErrFormat) || !strings.Contains(err.Error(), "LoadMCMC") {
		t.Errorf("LoadVI of an MCMC file: error %v, want ErrFormat naming LoadMCMC", err)
	}
	direct := fuzzPosteriors(t)["box-maf"]
	if _, _, err := sbi.LoadVI(bytes.NewReader(direct)); !errors.Is(err, sbi.ErrFormat) || !strings.Contains(err.Error(), "Load") {
		t.Errorf("LoadVI of a DirectPosterior file: error %v, want ErrFormat naming Load", err)
	}
	vf := files["vi-nle-q-only"]
	if _, err := sbi.Load(bytes.NewReader(vf)); !errors.Is(err, sbi.ErrFormat) {
		t.Errorf("Load of a VI file: error %v, want ErrFormat", err)
	}
	if _, err := sbi.LoadMCMC(bytes.NewReader(vf)); !errors.Is(err, sbi.ErrFormat) {
		t.Errorf("LoadMCMC of a VI file: error %v, want ErrFormat", err)
	}
}

// TestGenerateFuzzVICorpus writes the seed corpus of FuzzLoadVI when run
// with -gencorpus.
func TestGenerateFuzzVICorpus(t *testing.T) {
	if !*genCorpus {
		t.Skip("run with -gencorpus to rewrite testdata/fuzz")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzLoadVI")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	files := viFiles(t)
	all := viCorruptions(t, files)
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

// FuzzLoadVI feeds arbitrary bytes to sbi.LoadVI, as they are and with the
// checksum repaired. Rejected files must give errors wrapping ErrFormat,
// ErrVersion or ErrPrior; an accepted posterior must sample and evaluate
// without panicking and survive a save/load round trip bit for bit. The
// committed seeds (testdata/fuzz/FuzzLoadVI) run with every go test.
func FuzzLoadVI(f *testing.F) {
	f.Fuzz(func(t *testing.T, raw []byte) {
		for _, b := range [][]byte{raw, fixCRC(raw)} {
			p, post, err := sbi.LoadVI(bytes.NewReader(b))
			if err != nil {
				if p != nil || post != nil {
					t.Fatal("LoadVI returned a posterior with an error")
				}
				if !errors.Is(err, sbi.ErrFormat) && !errors.Is(err, sbi.ErrVersion) && !errors.Is(err, sbi.ErrPrior) {
					t.Fatalf("LoadVI: error %v wraps none of ErrFormat, ErrVersion, ErrPrior", err)
				}
				continue
			}
			s, err := p.SampleN(8, rand.New(rand.NewPCG(1, 1)))
			if err != nil {
				t.Fatalf("SampleN: %v", err)
			}
			p.LogProbBatch(nil, s)
			var buf bytes.Buffer
			if err := sbi.SaveVI(&buf, p, post); err != nil {
				t.Fatalf("SaveVI of a loaded posterior: %v", err)
			}
			back, _, err := sbi.LoadVI(bytes.NewReader(buf.Bytes()))
			if err != nil {
				t.Fatalf("LoadVI of a re-saved posterior: %v", err)
			}
			s2, err := back.SampleN(8, rand.New(rand.NewPCG(1, 1)))
			if err != nil {
				t.Fatalf("SampleN after the round trip: %v", err)
			}
			if !sameBits(s, s2) {
				t.Fatal("SampleN differs after the round trip")
			}
		}
	})
}

// TestFuzzLoadVISeeds checks that the committed corpus holds the valid
// files (accepted) and the corruptions (rejected).
func TestFuzzLoadVISeeds(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzLoadVI", "*"))
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
		if _, _, err := sbi.LoadVI(strings.NewReader(s)); err == nil {
			accepted++
		}
	}
	// The two valid files of viFiles, the rest of viCorruptions.
	if accepted != 2 || len(files) < 24 {
		t.Errorf("%d seeds, %d accepted; want 2 accepted among at least 24", len(files), accepted)
	}
}

func ExampleSaveVI() {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(5, 6))
	prior, sim := exampleModel()
	ts := &sbi.TrainSettings{}
	ts.MaxEpochs, ts.BatchSize, ts.LearningRate = 30, 100, 2e-3
	post, _, err := sbi.InferNLE(ctx, sim, prior, 1000, rng, &sbi.PotentialInferSettings{
		NLE: &sbi.NLEConfig{Estimator: flows.MAF{Transforms: 2, Hidden: 16}}, Train: ts})
	if err != nil {
		panic(err)
	}
	// One trial at θ ≈ (1, -1): the posterior is N(x/1.09, 0.083·I).
	xo := mat.NewDense(1, 2, []float64{1, -1})
	vp, err := sbi.NewVIPosterior(ctx, post, xo, rng, &sbi.VISettings{Family: vi.Gaussian{},
		VI: &vi.Settings{Objective: vi.ForwardKL, Particles: 128, MaxIterations: 300, QualitySamples: 2000}})
	if err != nil {
		panic(err)
	}
	var buf bytes.Buffer
	if err := sbi.SaveVI(&buf, vp, post); err != nil { // post: keep the potential too
		panic(err)
	}
	loaded, _, err := sbi.LoadVI(&buf)
	if err != nil {
		panic(err)
	}
	a, _ := vp.SampleN(1000, rand.New(rand.NewPCG(7, 7)))
	b, _ := loaded.SampleN(1000, rand.New(rand.NewPCG(7, 7)))
	fmt.Println("same draws after loading:", mat.Equal(a, b))
	fmt.Println("same log density:", vp.LogProb([]float64{0.9, -0.9}) == loaded.LogProb([]float64{0.9, -0.9}))
	fmt.Println("same k-hat:", vp.Result().Khat == loaded.Result().Khat)
	// The analytic mean is ±1/1.09 = ±0.92 with sd 0.29; 0.15 allows for
	// the NLE's error at 1,000 simulations (about half a posterior sd).
	m0, m1 := mean(mat.Col(nil, 0, b)), mean(mat.Col(nil, 1, b))
	fmt.Printf("posterior mean within 0.15 of the analytic 0.92 -0.92: %v\n", math.Abs(m0-1/1.09) < 0.15 && math.Abs(m1+1/1.09) < 0.15)
	_, _, err = loaded.SampleResampled(1000, 4, rng)
	fmt.Println("importance resampling after loading:", err == nil)
	// Output:
	// same draws after loading: true
	// same log density: true
	// same k-hat: true
	// posterior mean within 0.15 of the analytic 0.92 -0.92: true
	// importance resampling after loading: true
}

func mean(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}
