package flows

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gosbi/gosbi/dist"
	"github.com/gosbi/gosbi/nn"
	"gonum.org/v1/gonum/diff/fd"
	"gonum.org/v1/gonum/mat"
)

// randDense returns an r×c matrix of N(mu, s²) draws.
func randDense(r, c int, mu, s float64, rng *rand.Rand) *mat.Dense {
	m := mat.NewDense(r, c, nil)
	for i := 0; i < r; i++ {
		for j := 0; j < c; j++ {
			m.Set(i, j, mu+s*rng.NormFloat64())
		}
	}
	return m
}

type presetCase struct {
	name  string
	d, c  int
	build func(x, c *mat.Dense, rng *rand.Rand) (*Flow, error)
	// triangular reports an autoregressive chain whose Jacobian is
	// triangular in some order (checked on the transforms themselves).
}

func presetCases() []presetCase {
	return []presetCase{
		{"MAF default", 2, 2, func(x, c *mat.Dense, r *rand.Rand) (*Flow, error) { return MAF{}.Build(x, c, r) }},
		{"MAF small 3-D reverse", 3, 1, func(x, c *mat.Dense, r *rand.Rand) (*Flow, error) {
			return MAF{Transforms: 2, Hidden: 10, Blocks: 1, Permutation: PermuteReverse}.Build(x, c, r)
		}},
		{"MAF unconditional", 2, 0, func(x, c *mat.Dense, r *rand.Rand) (*Flow, error) {
			return MAF{Transforms: 2, Hidden: 8}.Build(x, nil, r)
		}},
		{"MAF 1-D", 1, 2, func(x, c *mat.Dense, r *rand.Rand) (*Flow, error) {
			return MAF{Transforms: 2, Hidden: 8}.Build(x, c, r)
		}},
		{"MAF with MLP embedding", 2, 3, func(x, c *mat.Dense, r *rand.Rand) (*Flow, error) {
			emb := nn.NewMLP("embed", []int{3, 6, 4}, nn.ReLU, r)
			return MAF{Transforms: 2, Hidden: 8, Embedding: emb}.Build(x, c, r)
		}},
		{"NSF default", 3, 2, func(x, c *mat.Dense, r *rand.Rand) (*Flow, error) { return NSF{}.Build(x, c, r) }},
		{"NSF 1-D", 1, 2, func(x, c *mat.Dense, r *rand.Rand) (*Flow, error) {
			return NSF{Transforms: 2, Hidden: 8, Bins: 4}.Build(x, c, r)
		}},
		{"NSF unconditional", 2, 0, func(x, c *mat.Dense, r *rand.Rand) (*Flow, error) {
			return NSF{Transforms: 2, Hidden: 8, Bins: 4}.Build(x, nil, r)
		}},
		{"NSF autoregressive", 2, 1, func(x, c *mat.Dense, r *rand.Rand) (*Flow, error) {
			return NSF{Transforms: 2, Hidden: 8, Bins: 6, Autoregressive: true}.Build(x, c, r)
		}},
	}
}

// TestPresetInvariants runs every preset through the flow-level checks:
// round trip and log-determinants of the full transform (including the
// z-scoring), log-probabilities against the finite-difference Jacobian,
// gradients w.r.t. x, c and the parameters, batch and single evaluations,
// sampling, Condition, and save/load.
func TestPresetInvariants(t *testing.T) {
	t.Parallel()
	for k, tc := range presetCases() {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(200, uint64(k)))
			// Data with non-trivial means and scales so that z-scoring matters.
			x := randDense(50, tc.d, 2, 3, rng)
			var c *mat.Dense
			if tc.c > 0 {
				c = randDense(50, tc.c, -1, 0.5, rng)
			}
			f, err := tc.build(x, c, rng)
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			perturb(f.Params(), 0.2, rng)
			xt := nn.FromDense(x.Slice(0, 4, 0, tc.d))
			var ct, ce *nn.Tensor
			if c != nil {
				ct = nn.FromDense(c.Slice(0, 4, 0, tc.c))
				ce = f.EmbedContext(nil, ct)
			}
			checkRoundTrip(t, f.Transform(), xt, ce)
			checkJacobian(t, f.Transform(), transformCase{d: tc.d}, xt, ce)
			checkGradients(t, f.Transform(), xt, ce, rng)
			checkFlowGradients(t, f, xt, ct)
			checkFlowBatch(t, f, xt, ct, rng)
			checkFlowSaveLoad(t, f, xt, ct)
			if got, want := len(f.Params()), len(f.Transform().Params()); f.Embedding() == nil && got != want {
				t.Errorf("Params: %d tensors, want the transform's %d", got, want)
			}
		})
	}
}

// checkFlowGradients compares the gradients of Σ w∘log p(x|c) w.r.t. x and
// c (through z-scoring and embedding) with central differences, and checks
// that every parameter (including the embedding's) gets a gradient.
func checkFlowGradients(t *testing.T, f *Flow, x, c *nn.Tensor) {
	t.Helper()
	w := nn.New(x.Rows, 1)
	for i := range w.Data {
		w.Data[i] = float64(i + 1)
	}
	obj := func(tp *nn.Tape, xx, cc *nn.Tensor) *nn.Tensor { return tp.Sum(tp.Mul(f.LogProb(tp, xx, cc), w)) }
	xt := x.Clone()
	var ctt *nn.Tensor
	if c != nil {
		ctt = c.Clone()
	}
	ps := f.Params()
	nn.ZeroGrad(ps)
	tp := nn.NewTape()
	tp.Watch(xt)
	if ctt != nil {
		tp.Watch(ctt)
	}
	tp.Backward(obj(tp, xt, ctt))
	for _, p := range ps {
		nz := false
		for _, g := range p.Grad {
			nz = nz || g != 0
		}
		if !nz {
			t.Errorf("parameter %s received no gradient from LogProb", p.Name)
		}
	}
	nn.ZeroGrad(ps)
	check := func(what string, data, grad []float64) {
		for i := range data {
			old := data[i]
			num := fd.Derivative(func(v float64) float64 {
				data[i] = v
				r := obj(nil, xt, ctt).Item()
				data[i] = old
				return r
			}, old, &fd.Settings{Formula: fd.Central, Step: 1e-6})
			// See checkGradients for the tolerance.
			if !relClose(grad[i], num, 1e-5) {
				t.Errorf("d log p/d%s[%d] = %v, finite difference %v", what, i, grad[i], num)
			}
		}
	}
	check("x", xt.Data, xt.Grad)
	if ctt != nil {
		check("c", ctt.Data, ctt.Grad)
	}
}

// checkFlowBatch checks LogProbBatch, SampleBatch and Condition against the
// tape path.
func checkFlowBatch(t *testing.T, f *Flow, x, c *nn.Tensor, rng *rand.Rand) {
	t.Helper()
	want := f.LogProb(nil, x, c)
	var cd *mat.Dense
	if c != nil {
		cd = c.Dense()
	}
	got := f.LogProbBatch(nil, x.Dense(), cd)
	for i := range got {
		if math.Float64bits(got[i]) != math.Float64bits(want.Data[i]) {
			t.Errorf("LogProbBatch[%d] = %v, want LogProb's %v", i, got[i], want.Data[i])
		}
	}
	// Condition at each context row agrees with the batch evaluation, and its
	// gradient matches finite differences without touching parameter grads.
	ps := f.Params()
	nn.ZeroGrad(ps)
	for i := 0; i < x.Rows; i++ {
		var ci []float64
		if c != nil {
			ci = c.Row(i)
		}
		d := f.Condition(ci)
		xi := append([]float64(nil), x.Row(i)...)
		if lp := d.LogProb(xi); math.Abs(lp-want.Data[i]) > 1e-12*math.Max(1, math.Abs(lp)) {
			t.Errorf("Condition(c_%d).LogProb = %v, want %v", i, lp, want.Data[i])
		}
		g := d.(dist.Gradienter)
		grad := make([]float64, f.Dim())
		lp := g.LogProbGrad(grad, xi)
		if math.Abs(lp-want.Data[i]) > 1e-12*math.Max(1, math.Abs(lp)) {
			t.Errorf("LogProbGrad value = %v, want %v", lp, want.Data[i])
		}
		num := fd.Gradient(nil, d.LogProb, xi, &fd.Settings{Formula: fd.Central, Step: 1e-6})
		for j := range grad {
			if !relClose(grad[j], num[j], 1e-5) {
				t.Errorf("LogProbGrad[%d] = %v, finite difference %v", j, grad[j], num[j])
			}
		}
		// Samples at the context are finite and their batch log-probs agree
		// with the distribution's.
		s := mat.NewDense(5, f.Dim(), nil)
		d.(dist.BatchSampler).SampleBatch(s, rng)
		lps := d.(dist.BatchLogProber).LogProbBatch(nil, s)
		for r, v := range lps {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Errorf("log-prob of sample %d = %v", r, v)
			}
			if one := d.LogProb(s.RawRowView(r)); math.Abs(one-v) > 1e-12*math.Max(1, math.Abs(v)) {
				t.Errorf("sample %d: LogProb %v, LogProbBatch %v", r, one, v)
			}
		}
	}
	for _, p := range ps {
		for _, v := range p.Grad {
			if v != 0 {
				t.Fatalf("Condition(...).LogProbGrad modified the gradient of %s", p.Name)
			}
		}
	}
	// SampleBatch with per-row contexts is reproducible from the seed.
	s1, s2 := mat.NewDense(x.Rows, f.Dim(), nil), mat.NewDense(x.Rows, f.Dim(), nil)
	f.SampleBatch(s1, cd, rand.New(rand.NewPCG(1, 2)))
	f.SampleBatch(s2, cd, rand.New(rand.NewPCG(1, 2)))
	if !mat.Equal(s1, s2) {
		t.Errorf("SampleBatch is not reproducible from the seed")
	}
}

// TestSampleMatchesInverse checks that SampleBatch is the inverse transform of
// base draws: mapping the samples back with Forward gives the standard normal
// noise drawn from the same seed.
func TestSampleMatchesInverse(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 3))
	x := randDense(40, 3, 0, 1, rng)
	c := randDense(40, 2, 0, 1, rng)
	f, err := MAF{Transforms: 2, Hidden: 8}.Build(x, c, rng)
	if err != nil {
		t.Fatal(err)
	}
	perturb(f.Params(), 0.2, rng)
	c1 := mat.NewDense(1, 2, []float64{0.3, -0.2})
	s := mat.NewDense(7, 3, nil)
	f.SampleBatch(s, c1, rand.New(rand.NewPCG(9, 9)))
	z, _ := f.Transform().Forward(nil, nn.FromDense(s), f.EmbedContext(nil, nn.FromDense(c1)))
	noise := rand.New(rand.NewPCG(9, 9))
	for i, v := range z.Data {
		if want := noise.NormFloat64(); math.Abs(v-want) > 1e-9 {
			t.Fatalf("forward(sample)[%d] = %v, want base draw %v", i, v, want)
		}
	}
}

// TestRSample checks the reparameterised samples: same draws as SampleBatch
// for the same noise, log-probabilities equal to LogProb, and gradients that
// reach every parameter.
func TestRSample(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(4, 4))
	x := randDense(40, 2, 0, 1, rng)
	f, err := NSF{Transforms: 2, Hidden: 8, Bins: 4}.Build(x, nil, rng)
	if err != nil {
		t.Fatal(err)
	}
	perturb(f.Params(), 0.2, rng)
	z := randTensor(6, 2, 1, rng)
	tp := nn.NewTape()
	xs, lq := f.RSample(tp, z, nil)
	lp := f.LogProb(nil, xs.Clone(), nil)
	for i := range lp.Data {
		if math.Abs(lp.Data[i]-lq.Data[i]) > 1e-9 {
			t.Errorf("RSample log q[%d] = %v, LogProb of the sample %v", i, lq.Data[i], lp.Data[i])
		}
	}
	nn.ZeroGrad(f.Params())
	tp.Backward(tp.Add(tp.Sum(xs), tp.Sum(lq)))
	for _, p := range f.Params() {
		nz := false
		for _, g := range p.Grad {
			nz = nz || g != 0
		}
		if !nz {
			t.Errorf("RSample: parameter %s received no gradient", p.Name)
		}
	}
}

func TestFlowErrors(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(5, 5))
	x := randDense(10, 2, 0, 1, rng)
	c := randDense(10, 1, 0, 1, rng)
	nan := mat.DenseCopyOf(x)
	nan.Set(3, 1, math.NaN())
	inf := mat.DenseCopyOf(c)
	inf.Set(2, 0, math.Inf(-1))
	for _, tc := range []struct {
		name string
		x, c *mat.Dense
		cfg  interface {
			Build(x, c *mat.Dense, rng *rand.Rand) (*Flow, error)
		}
		want error
	}{
		{"nil x", nil, nil, MAF{}, ErrData},
		{"empty x", &mat.Dense{}, nil, MAF{}, ErrData},
		{"NaN in x", nan, c, MAF{}, ErrData},
		{"Inf in c", x, inf, NSF{}, ErrData},
		{"row mismatch", x, randDense(9, 1, 0, 1, rng), MAF{}, ErrData},
		{"bad transforms", x, c, MAF{Transforms: -1}, ErrConfig},
		{"bad bins", x, c, NSF{Bins: 5000}, ErrConfig},
		{"bad tail bound", x, c, NSF{TailBound: -1}, ErrConfig},
	} {
		if _, err := tc.cfg.Build(tc.x, tc.c, rng); !errors.Is(err, tc.want) {
			t.Errorf("%s: Build error %v, want %v", tc.name, err, tc.want)
		}
	}
}

// TestLoadCorrupt checks that truncated or altered files give errors, never
// panics, and that a custom embedding needs LoadWithEmbedding.
func TestLoadCorrupt(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(6, 6))
	x := randDense(20, 2, 0, 1, rng)
	c := randDense(20, 2, 0, 1, rng)
	f, err := NSF{Transforms: 1, Hidden: 3, Bins: 2}.Build(x, c, rng)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := Save(&buf, f); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	// Truncation at every 7th offset (every offset is slow and redundant:
	// nn's own tests cover the parameter-file framing byte by byte).
	for n := 0; n < len(data); n += 7 {
		if _, err := Load(bytes.NewReader(data[:n])); err == nil {
			t.Fatalf("Load of %d of %d bytes: nil error", n, len(data))
		}
	}
	// A flipped byte anywhere is caught (by the checksum at the latest).
	for i := 0; i < len(data); i += 11 {
		bad := append([]byte(nil), data...)
		bad[i] ^= 0x40
		if _, err := Load(bytes.NewReader(bad)); err == nil {
			t.Fatalf("Load with byte %d flipped: nil error", i)
		}
	}
	// A parameter file that is not a flow.
	var plain bytes.Buffer
	if err := nn.Save(&plain, f.Params()); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(&plain); !errors.Is(err, ErrFormat) {
		t.Errorf("Load of a plain parameter file: %v, want ErrFormat", err)
	}
	// Consistent framing but an inconsistent description.
	for _, meta := range []map[string]string{
		{metaKey: `{"dim":2,"context_dim":2,"context_zscore":true,"embedding":null,"transform":{"kind":"lu","name":"x","features":1000000}}`, metaVersion: "1"},
		{metaKey: `{"dim":2,"context_dim":2,"context_zscore":true,"embedding":null,"transform":{"kind":"permutation","perm":[0,0]}}`, metaVersion: "1"},
		{metaKey: `{"dim":3,"context_dim":0,"context_zscore":false,"embedding":null,"transform":{"kind":"lu","name":"lu0","features":2}}`, metaVersion: "1"},
		{metaKey: `not json`, metaVersion: "1"},
		{metaKey: `{"dim":2}`, metaVersion: "2"},
	} {
		var b bytes.Buffer
		if err := nn.SaveMeta(&b, f.Params(), meta); err != nil {
			t.Fatal(err)
		}
		_, err := Load(&b)
		if err == nil || !(errors.Is(err, ErrFormat) || errors.Is(err, ErrVersion)) {
			t.Errorf("Load with description %q: %v, want ErrFormat or ErrVersion", meta[metaKey], err)
		}
	}
	// A custom embedding is saved but needs LoadWithEmbedding.
	emb := customEmbed{nn.NewLinear("emb", 2, 3, true, rng)}
	g, err := MAF{Transforms: 1, Hidden: 4, Embedding: emb}.Build(x, c, rng)
	if err != nil {
		t.Fatal(err)
	}
	buf.Reset()
	if err := Save(&buf, g); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(bytes.NewReader(buf.Bytes())); !errors.Is(err, ErrEmbedding) {
		t.Errorf("Load with a custom embedding: %v, want ErrEmbedding", err)
	}
	h, err := LoadWithEmbedding(bytes.NewReader(buf.Bytes()), customEmbed{nn.NewLinear("emb", 2, 3, true, rng)})
	if err != nil {
		t.Fatalf("LoadWithEmbedding: %v", err)
	}
	xt, ct := nn.FromDense(x), nn.FromDense(c)
	want, got := g.LogProb(nil, xt, ct), h.LogProb(nil, xt, ct)
	for i := range want.Data {
		if got.Data[i] != want.Data[i] {
			t.Fatalf("LoadWithEmbedding: log-prob[%d] = %v, want %v", i, got.Data[i], want.Data[i])
		}
	}
}

// customEmbed is a module type Save cannot describe.
type customEmbed struct{ l *nn.Linear }

func (e customEmbed) Forward(tp *nn.Tape, x *nn.Tensor) *nn.Tensor {
	return tp.Tanh(e.l.Forward(tp, x))
}
func (e customEmbed) Params() []*nn.Tensor { return e.l.Params() }

// TestConcurrentUse evaluates, samples and differentiates one flow from
// several goroutines at once (run with -race to check for data races) and
// requires the results of the sequential evaluation.
func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(7, 7))
	x := randDense(30, 2, 0, 1, rng)
	c := randDense(30, 2, 0, 1, rng)
	for _, cfg := range []interface {
		Build(x, c *mat.Dense, rng *rand.Rand) (*Flow, error)
	}{MAF{Transforms: 2, Hidden: 8}, NSF{Transforms: 2, Hidden: 8, Bins: 4}} {
		f, err := cfg.Build(x, c, rng)
		if err != nil {
			t.Fatal(err)
		}
		want := f.LogProbBatch(nil, x, c)
		d := f.Condition(c.RawRowView(0)).(*Conditioned)
		wantGrad := mat.NewDense(30, 2, nil)
		wantG := d.LogProbGradBatch(nil, wantGrad, x)
		errs := make(chan string, 8)
		done := make(chan struct{})
		for g := 0; g < 4; g++ {
			go func() {
				defer func() { done <- struct{}{} }()
				r := rand.New(rand.NewPCG(uint64(g), 1))
				for k := 0; k < 5; k++ {
					got := f.LogProbBatch(nil, x, c)
					for i := range got {
						if got[i] != want[i] {
							errs <- "LogProbBatch differs under concurrency"
							return
						}
					}
					s := mat.NewDense(10, 2, nil)
					f.SampleBatch(s, c.Slice(0, 10, 0, 2).(*mat.Dense), r)
					grad := mat.NewDense(30, 2, nil)
					gv := d.LogProbGradBatch(nil, grad, x)
					if !mat.Equal(grad, wantGrad) || gv[0] != wantG[0] {
						errs <- "LogProbGradBatch differs under concurrency"
						return
					}
				}
			}()
		}
		for g := 0; g < 4; g++ {
			<-done
		}
		close(errs)
		for e := range errs {
			t.Error(e)
		}
	}
}
