package mcmc

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/gosbi/gosbi/dist"
)

// allKernels lists every kernel for the driver tests.
func allKernels() []struct {
	name   string
	kernel Kernel
} {
	q := isotropic{m: 0, s: 3, d: 5}
	return []struct {
		name   string
		kernel Kernel
	}{
		{"slice", Slice{}},
		{"slice-vectorized", SliceVectorized{}},
		{"random-walk", RandomWalk{}},
		{"hmc", HMC{}},
		{"nuts", NUTS{}},
		{"independence", Independence{Proposal: q}},
		{"mixture", Mixture{Kernels: []Kernel{NUTS{}, Independence{Proposal: q}}, Weights: []float64{3, 1}}},
	}
}

func equalChains(t *testing.T, a, b *Chains) {
	t.Helper()
	for k := range a.Samples {
		if !mat.Equal(a.Samples[k], b.Samples[k]) {
			t.Fatalf("chain %d: samples differ", k)
		}
		for i, v := range a.LogProb[k] {
			if v != b.LogProb[k][i] {
				t.Fatalf("chain %d draw %d: log prob %v vs %v", k, i, v, b.LogProb[k][i])
			}
		}
		same := func(x, y float64) bool { return x == y || math.IsNaN(x) && math.IsNaN(y) }
		if a.Evals[k] != b.Evals[k] || !same(a.AcceptRate[k], b.AcceptRate[k]) || !same(a.StepSize[k], b.StepSize[k]) {
			t.Fatalf("chain %d: statistics differ", k)
		}
	}
}

// TestDeterminism: the same seed gives bit-identical chains with 1 and 4
// workers, and a different seed gives different chains.
func TestDeterminism(t *testing.T) {
	t.Parallel()
	g := corrGaussian5()
	for _, tc := range allKernels() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			run := func(seed uint64, workers int) *Chains {
				c, err := Sample(context.Background(), g, 100, FromProposal{Proposal: isotropic{s: 2, d: 5}}, tc.kernel,
					seeded(seed), &Settings{Chains: 5, Warmup: 60, Workers: workers})
				if err != nil {
					t.Fatal(err)
				}
				return c
			}
			a, b := run(1, 1), run(1, 4)
			equalChains(t, a, b)
			c := run(2, 4)
			if mat.Equal(a.Samples[0], c.Samples[0]) {
				t.Errorf("seeds 1 and 2 gave the same chain")
			}
		})
	}
}

// TestSliceVectorizedMatchesSlice: with per-chain streams the vectorised
// sampler makes exactly the moves of the per-chain one.
func TestSliceVectorizedMatchesSlice(t *testing.T) {
	t.Parallel()
	b := newBanana()
	run := func(k Kernel) *Chains {
		c, err := Sample(context.Background(), b, 200, FromProposal{Proposal: isotropic{s: 1, d: 2}}, k, seeded(11),
			&Settings{Chains: 7, Warmup: 50, Thin: 2})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	equalChains(t, run(Slice{}), run(SliceVectorized{}))
}

// TestSliceVectorizedBatches: every target call is one LogProbBatch over all
// unfinished chains, never a point-wise LogProb.
func TestSliceVectorizedBatches(t *testing.T) {
	t.Parallel()
	for _, chains := range []int{1, 20} {
		target := &counting{gaussian: corrGaussian5()}
		var rows atomic.Int64
		wrapped := &rowCounter{counting: target, rows: &rows}
		start := mat.NewDense(chains, 5, nil)
		isotropic{s: 2, d: 5}.sampleInto(start, seeded(19))
		c, err := Sample(context.Background(), wrapped, 50, FromPoints{X: start}, SliceVectorized{},
			seeded(12), &Settings{Chains: chains, Warmup: 20})
		if err != nil {
			t.Fatal(err)
		}
		if n := target.points.Load(); n != 0 {
			t.Errorf("%d chains: %d point-wise LogProb calls, want 0", chains, n)
		}
		// Every evaluation, the starting points' included, is a batch row.
		if got, want := int(rows.Load()), c.TotalEvals(); got != want {
			t.Errorf("%d chains: rows evaluated in batches got %d, want %d (all evaluations)", chains, got, want)
		}
		// Batches are full except at the end: the number of calls is close
		// to evaluations per chain.
		calls := int(target.batches.Load())
		maxPerChain := 0
		for _, e := range c.Evals {
			maxPerChain = max(maxPerChain, e)
		}
		if calls != maxPerChain {
			t.Errorf("%d chains: %d batch calls, want %d (the longest chain's evaluations)", chains, calls, maxPerChain)
		}
	}
}

// rowCounter counts the rows passed to LogProbBatch and forbids LogProb
// after initialisation.
type rowCounter struct {
	*counting
	rows *atomic.Int64
}

func (r *rowCounter) LogProbBatch(dst []float64, x *mat.Dense) []float64 {
	n, _ := x.Dims()
	r.rows.Add(int64(n))
	return r.counting.LogProbBatch(dst, x)
}

// nanAbove returns NaN where x[0] > 1.5.
type nanAbove struct{ *gaussian }

func (n nanAbove) LogProbGrad(grad, x []float64) float64 {
	if x[0] > 1.5 {
		return math.NaN()
	}
	return n.gaussian.LogProbGrad(grad, x)
}
func (n nanAbove) LogProb(x []float64) float64 { return n.LogProbGrad(nil, x) }
func (n nanAbove) LogProbBatch(dst []float64, x *mat.Dense) []float64 {
	r, _ := x.Dims()
	if dst == nil {
		dst = make([]float64, r)
	}
	for i := range r {
		dst[i] = n.LogProb(x.RawRowView(i))
	}
	return dst
}

func TestNaNTarget(t *testing.T) {
	t.Parallel()
	target := nanAbove{corrGaussian5()}
	start := mat.NewDense(1, 5, []float64{1, -2, 0.5, 3, 0})
	for _, tc := range allKernels() {
		_, err := Sample(context.Background(), target, 500, FromPoints{X: start}, tc.kernel, seeded(13), &Settings{Warmup: 50})
		if !errors.Is(err, ErrNaN) {
			t.Errorf("%s: got error %v, want ErrNaN", tc.name, err)
			continue
		}
		if !strings.Contains(err.Error(), " at [") {
			t.Errorf("%s: error %q does not name the point", tc.name, err)
		}
	}
}

func TestInitErrors(t *testing.T) {
	t.Parallel()
	g := corrGaussian5()
	outside := truncNormal{lo: []float64{0}, hi: []float64{1}}
	cases := []struct {
		name     string
		target   dist.LogProber
		init     Init
		settings *Settings
		kernel   Kernel
		want     error
	}{
		{"start at -Inf", outside, FromPoints{X: mat.NewDense(1, 1, []float64{2})}, &Settings{Space: Original}, Slice{}, ErrInitInf},
		{"start on the bound", outside, FromPoints{X: mat.NewDense(1, 1, []float64{1})}, nil, Slice{}, ErrInitInf},
		{"start NaN", nanAbove{g}, FromPoints{X: mat.NewDense(1, 5, []float64{2, 0, 0, 0, 0})}, nil, Slice{}, ErrNaN},
		{"nil points", g, FromPoints{}, nil, Slice{}, ErrNoChains},
		{"init gives no points", g, InitFunc(func(context.Context, dist.LogProber, int, *rand.Rand) (*mat.Dense, error) {
			return &mat.Dense{}, nil
		}), nil, Slice{}, ErrNoChains},
		{"negative chains", g, FromPoints{X: mat.NewDense(1, 5, nil)}, &Settings{Chains: -1}, Slice{}, ErrInvalid},
		{"rows != chains", g, FromPoints{X: mat.NewDense(3, 5, nil)}, &Settings{Chains: 4}, Slice{}, ErrInvalid},
		{"proposal all -Inf", outside, FromProposal{Proposal: isotropic{m: 10, s: 0.1, d: 1}, MaxTries: 20}, nil, Slice{}, ErrInitInf},
		{"SIR all -Inf", outside, SIR{Proposal: isotropic{m: 10, s: 0.1, d: 1}, Candidates: 100}, nil, Slice{}, ErrInitInf},
		{"no gradient", plainFunc(g.LogProb), FromPoints{X: mat.NewDense(1, 5, nil)}, nil, NUTS{}, ErrNoGradient},
		{"unconstrained needs bounds", g, FromPoints{X: mat.NewDense(1, 5, nil)}, &Settings{Space: Unconstrained}, Slice{}, ErrInvalid},
		{"vectorised slice in mixture", g, FromPoints{X: mat.NewDense(1, 5, nil)}, nil, Mixture{Kernels: []Kernel{SliceVectorized{}}}, ErrInvalid},
		{"proposal dimension", g, FromPoints{X: mat.NewDense(1, 5, nil)}, nil, Independence{Proposal: isotropic{s: 1, d: 2}}, ErrInvalid},
		{"bad slice width", g, FromPoints{X: mat.NewDense(1, 5, nil)}, nil, Slice{Width: -1}, ErrInvalid},
	}
	for _, tc := range cases {
		_, err := Sample(context.Background(), tc.target, 10, tc.init, tc.kernel, seeded(14), tc.settings)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: got error %v, want %v", tc.name, err, tc.want)
		}
	}
	// Argument checks.
	init := FromPoints{X: mat.NewDense(1, 5, nil)}
	for name, f := range map[string]func() error{
		"n = 0": func() error { _, err := Sample(context.Background(), g, 0, init, Slice{}, seeded(1), nil); return err },
		"nil target": func() error {
			_, err := Sample(context.Background(), nil, 10, init, Slice{}, seeded(1), nil)
			return err
		},
		"nil kernel": func() error { _, err := Sample(context.Background(), g, 10, init, nil, seeded(1), nil); return err },
		"nil rng":    func() error { _, err := Sample(context.Background(), g, 10, init, Slice{}, nil, nil); return err },
		"nil init":   func() error { _, err := Sample(context.Background(), g, 10, nil, Slice{}, seeded(1), nil); return err },
	} {
		if err := f(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: got error %v, want ErrInvalid", name, err)
		}
	}
}

// TestInitStrategies: every strategy gives points of positive density;
// SIR and Resample put them where the target has its mass.
func TestInitStrategies(t *testing.T) {
	t.Parallel()
	// Target N(3·1, 0.5²I) restricted to x0 > 2.5 (half its mass is -Inf);
	// proposal N(0, 3²I) as a broad prior.
	g := newGaussian([]float64{3, 3}, mat.NewSymDense(2, []float64{0.25, 0, 0, 0.25}))
	target := plainFunc(func(x []float64) float64 {
		if x[0] < 2.5 {
			return math.Inf(-1)
		}
		return g.LogProb(x)
	})
	prior := isotropic{m: 0, s: 3, d: 2}
	for _, tc := range []struct {
		name  string
		init  Init
		close bool // points must be near the mode
	}{
		{"proposal", FromProposal{Proposal: prior}, false},
		{"sir", SIR{Proposal: prior}, true},
		{"resample", Resample{Proposal: prior}, true},
	} {
		x, err := tc.init.Init(context.Background(), target, 20, seeded(15))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if r, c := x.Dims(); r != 20 || c != 2 {
			t.Fatalf("%s: got %d×%d points, want 20×2", tc.name, r, c)
		}
		seen := map[[2]float64]bool{}
		for i := range 20 {
			p := x.RawRowView(i)
			if math.IsInf(target.LogProb(p), -1) {
				t.Errorf("%s: point %d %v has density zero", tc.name, i, p)
			}
			// Under the target, |x - 3| < 4·0.5 per coordinate has
			// probability 1 - 6e-5; importance weights from 10000 prior
			// draws put the picks there.
			if tc.close && (math.Abs(p[0]-3) > 2 || math.Abs(p[1]-3) > 2) {
				t.Errorf("%s: point %d %v is far from the mass at (3, 3)", tc.name, i, p)
			}
			seen[[2]float64{p[0], p[1]}] = true
		}
		if len(seen) != 20 {
			t.Errorf("%s: %d distinct points, want 20", tc.name, len(seen))
		}
	}
}

func TestProgressAndCancel(t *testing.T) {
	t.Parallel()
	g := corrGaussian5()
	init := FromProposal{Proposal: isotropic{s: 2, d: 5}}
	for _, tc := range allKernels() {
		var calls int
		last := 0
		c, err := Sample(context.Background(), g, 200, init, tc.kernel, seeded(16), &Settings{
			Warmup: 100, Chains: 3,
			OnProgress: func(p Progress) error {
				calls++
				if p.Done < last || p.Total != 3*300 {
					t.Errorf("%s: progress %+v after %d", tc.name, p, last)
				}
				last = p.Done
				return nil
			},
		})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if calls < 10 || last != 900 {
			t.Errorf("%s: %d progress calls ending at %d, want ≥ 10 ending at 900", tc.name, calls, last)
		}
		if c.Len() != 200 || c.NumChains() != 3 || c.Dim() != 5 {
			t.Errorf("%s: got %d chains × %d draws × %d", tc.name, c.NumChains(), c.Len(), c.Dim())
		}
		// An error from OnProgress stops the run.
		stop := errors.New("stop")
		_, err = Sample(context.Background(), g, 200, init, tc.kernel, seeded(16), &Settings{
			OnProgress: func(p Progress) error {
				if p.Done > 50 {
					return stop
				}
				return nil
			},
		})
		if !errors.Is(err, stop) {
			t.Errorf("%s: got error %v, want the callback's", tc.name, err)
		}
		// Cancellation.
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err = Sample(ctx, g, 200, init, tc.kernel, seeded(16), nil)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s: got error %v, want context.Canceled", tc.name, err)
		}
	}
}

// TestThinning: with the same seed, Thin = 3 keeps every third transition
// of the unthinned run.
func TestThinning(t *testing.T) {
	t.Parallel()
	g := corrGaussian5()
	init := FromProposal{Proposal: isotropic{s: 2, d: 5}}
	for _, k := range []Kernel{Slice{}, NUTS{}} {
		full, err := Sample(context.Background(), g, 90, init, k, seeded(17), &Settings{Warmup: 40})
		if err != nil {
			t.Fatal(err)
		}
		thin, err := Sample(context.Background(), g, 30, init, k, seeded(17), &Settings{Warmup: 40, Thin: 3})
		if err != nil {
			t.Fatal(err)
		}
		for c := range full.Samples {
			for i := range 30 {
				if !floatsEqual(thin.Samples[c].RawRowView(i), full.Samples[c].RawRowView(3*i+2)) {
					t.Fatalf("%T chain %d: thinned draw %d differs from draw %d", k, c, i, 3*i+2)
				}
			}
		}
	}
}

func floatsEqual(a, b []float64) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return len(a) == len(b)
}

func TestChainsHelpers(t *testing.T) {
	t.Parallel()
	g := corrGaussian5()
	c, err := Sample(context.Background(), g, 20, FromProposal{Proposal: isotropic{s: 2, d: 5}}, Slice{}, seeded(18),
		&Settings{Chains: 3, Warmup: -1})
	if err != nil {
		t.Fatal(err)
	}
	if c.Warmup != 0 {
		t.Errorf("Warmup -1: got %d warmup transitions, want 0", c.Warmup)
	}
	f := c.Flat()
	if r, d := f.Dims(); r != 60 || d != 5 {
		t.Fatalf("Flat: got %d×%d, want 60×5", r, d)
	}
	if f.At(25, 3) != c.Samples[1].At(5, 3) {
		t.Errorf("Flat row 25 is not chain 1 row 5")
	}
	p := c.Param(2)
	if len(p) != 3 || len(p[1]) != 20 || p[1][7] != c.Samples[1].At(7, 2) {
		t.Errorf("Param(2) does not match the samples")
	}
	for k := range c.Samples {
		for i := range 20 {
			if got, want := c.LogProb[k][i], g.LogProb(c.Samples[k].RawRowView(i)); got != want {
				t.Fatalf("LogProb[%d][%d] = %v, want %v", k, i, got, want)
			}
		}
	}
}

func TestDimensionMismatch(t *testing.T) {
	t.Parallel()
	_, err := Sample(context.Background(), corrGaussian5(), 10, FromPoints{X: mat.NewDense(1, 3, nil)}, Slice{}, seeded(21), nil)
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("got error %v, want ErrInvalid", err)
	}
}
