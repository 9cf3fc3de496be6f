package diagnostics

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/gosbi/gosbi/dist"
)

// Sizes of the calibration tests: T test pairs, L posterior draws each.
const (
	calT = 200
	calL = 100
)

// The distorted posteriors of the calibration tests, on sbibm's
// gaussian_linear (10-D). Scale 0.5 is the exact posterior with its
// covariance shrunk 4×, scale 2 widened 4×; "shifted" moves the mean of the
// first parameter by one posterior standard deviation.
type calCase struct {
	name string
	post gaussPosterior
	// want: 0 calibrated, −1 overconfident (coverage below nominal),
	// +1 underconfident, 2 shifted.
	want int
}

var calCases = []calCase{
	{"exact", gaussPosterior{m: gaussianLinear, scale: 1, batch: true}, 0},
	{"exact-pointwise", gaussPosterior{m: gaussianLinear, scale: 1}, 0},
	{"overconfident", gaussPosterior{m: gaussianLinear, scale: 0.5, batch: true}, -1},
	{"underconfident", gaussPosterior{m: gaussianLinear, scale: 2, batch: true}, 1},
	{"shifted", gaussPosterior{m: gaussianLinear, scale: 1, shift: shiftFirst(10, 1), batch: true}, 2},
}

func TestSBCAnalytic(t *testing.T) {
	t.Parallel()
	for _, tc := range calCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(1, 1))
			theta, x := gaussianLinear.testSet(calT, rng)
			res, err := SBC(context.Background(), tc.post, theta, x, calL, rng, &SBCSettings{Reduce: []Reducer{NegLogProb}})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("KS p %.3g\nχ² p %.3g\nDAP p %.3g", res.KSPValue, res.ChiSquarePValue, res.DAPKSPValue)
			// Calibrated(0.01) is a Bonferroni-corrected family of 31 tests:
			// an exact posterior fails it with probability at most 1%.
			if got, want := res.Calibrated(0.01), tc.want == 0; got != want {
				t.Errorf("Calibrated(0.01) = %v, want %v (KS p %.3g, χ² p %.3g, DAP p %.3g)",
					got, want, res.KSPValue, res.ChiSquarePValue, res.DAPKSPValue)
			}
			if tc.want == 2 {
				// A one-σ shift moves the rank PIT to Φ(Φ⁻¹(u)+1): its KS
				// distance to uniform is Φ(½)−Φ(−½) = 0.38, far beyond the
				// p = 1e-6 critical value ≈ 0.18 at T = 200.
				if p := res.KSPValue[0]; p > 1e-6 {
					t.Errorf("KS p-value of the shifted marginal = %.3g, want < 1e-6", p)
				}
				// The KS distance of an unshifted marginal (here parameter
				// 1) stays below the p = 0.001 critical value 1.95/√T.
				if d := res.KS[1]; d > 1.95/math.Sqrt(calT) {
					t.Errorf("KS distance of an unshifted marginal = %.3g, want < %.3g", d, 1.95/math.Sqrt(calT))
				}
			}
			if len(res.Ranks) != calT {
				t.Fatalf("%d rank rows, want %d", len(res.Ranks), calT)
			}
			for _, row := range res.Ranks {
				if len(row) != 11 {
					t.Fatalf("rank row of length %d, want 11", len(row))
				}
				for _, v := range row {
					if v < 0 || v > calL {
						t.Fatalf("rank %d is not in 0..%d", v, calL)
					}
				}
			}
		})
	}
}

// TestSBCRankDefinition checks the ranks against a direct recount for a
// one-test run of the deterministic posterior.
func TestSBCRankDefinition(t *testing.T) {
	t.Parallel()
	m := gaussModel{dim: 2, tau2: 1, sigma2: 1}
	post := gaussPosterior{m: m, scale: 1}
	theta := mat.NewDense(1, 2, []float64{0.3, -0.2})
	x := mat.NewDense(1, 2, []float64{0.5, 0.1})
	const L = 50
	res, err := SBC(context.Background(), post, theta, x, L, rand.New(rand.NewPCG(3, 4)), &SBCSettings{Reduce: []Reducer{NegLogProb}, Bins: 2})
	if err != nil {
		t.Fatal(err)
	}
	// Recreate test 0's stream: seed is the first Uint64 of the same rng.
	seed := rand.New(rand.NewPCG(3, 4)).Uint64()
	rng := rand.New(rand.NewPCG(seed, 0))
	q := post.Condition(x.RawRowView(0))
	want := make([]int, 3)
	lpTrue := q.LogProb(theta.RawRowView(0))
	for j := 0; j < L; j++ {
		s := q.Sample(nil, rng)
		for d := 0; d < 2; d++ {
			if s[d] < theta.At(0, d) {
				want[d]++
			}
		}
		if q.LogProb(s) > lpTrue {
			want[2]++
		}
	}
	for k := range want {
		if got := res.Ranks[0][k]; got != want[k] {
			t.Errorf("rank %d = %d, want %d", k, got, want[k])
		}
	}
}

func TestSBCWorkersInvariance(t *testing.T) {
	t.Parallel()
	m := gaussModel{dim: 3, tau2: 1, sigma2: 0.5}
	theta, x := m.testSet(37, rand.New(rand.NewPCG(5, 6)))
	var ranks [][][]int
	for _, tc := range []struct {
		workers int
		batch   bool
	}{{1, false}, {4, false}, {3, true}} {
		res, err := SBC(context.Background(), gaussPosterior{m: m, scale: 1, batch: tc.batch}, theta, x, 20,
			rand.New(rand.NewPCG(7, 8)), &SBCSettings{Workers: tc.workers, Reduce: []Reducer{NegLogProb}})
		if err != nil {
			t.Fatal(err)
		}
		ranks = append(ranks, res.Ranks)
	}
	for i := 1; i < len(ranks); i++ {
		if !slices.EqualFunc(ranks[0], ranks[i], slices.Equal) {
			t.Errorf("ranks of run %d differ from run 0", i)
		}
	}
}

func TestSBCProgressAndCancel(t *testing.T) {
	t.Parallel()
	m := gaussModel{dim: 1, tau2: 1, sigma2: 1}
	theta, x := m.testSet(25, rand.New(rand.NewPCG(1, 2)))
	post := gaussPosterior{m: m, scale: 1}

	var calls, last int
	_, err := SBC(context.Background(), post, theta, x, 10, rand.New(rand.NewPCG(1, 2)), &SBCSettings{
		Workers:    3,
		OnProgress: func(done, total int) error { calls++; last = done; return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	if calls != 25 || last != 25 {
		t.Errorf("OnProgress called %d times, last done %d, want 25 and 25", calls, last)
	}

	stop := errors.New("stop")
	_, err = SBC(context.Background(), post, theta, x, 10, rand.New(rand.NewPCG(1, 2)), &SBCSettings{
		OnProgress: func(done, total int) error {
			if done == 5 {
				return stop
			}
			return nil
		},
	})
	if !errors.Is(err, stop) {
		t.Errorf("error from a failing callback = %v, want it to wrap %v", err, stop)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := SBC(ctx, post, theta, x, 10, rand.New(rand.NewPCG(1, 2)), nil); !errors.Is(err, context.Canceled) {
		t.Errorf("error with a cancelled context = %v, want context.Canceled", err)
	}
}

// badPosterior conditions to a distribution of the wrong dimension or one
// that draws NaN.
type badPosterior struct {
	dim int
	nan bool
}

func (b badPosterior) Condition(x []float64) dist.Distribution {
	g := &diagGauss{mean: make([]float64, b.dim), std: make([]float64, b.dim)}
	for d := range g.std {
		g.std[d] = 1
		if b.nan {
			g.mean[d] = math.NaN()
		}
	}
	return g
}

func TestCalibrationInputErrors(t *testing.T) {
	t.Parallel()
	m := gaussModel{dim: 2, tau2: 1, sigma2: 1}
	theta, x := m.testSet(10, rand.New(rand.NewPCG(1, 2)))
	good := gaussPosterior{m: m, scale: 1}
	nanX := mat.DenseCopyOf(x)
	nanX.Set(3, 1, math.NaN())
	nanReduce := ReduceFunc(func(dist.Distribution, []float64) float64 { return math.NaN() })
	tests := []struct {
		name     string
		post     dist.Conditional
		theta, x *mat.Dense
		n        int
		s        *SBCSettings
		want     error
	}{
		{"nil theta", good, nil, x, 10, nil, ErrEmpty},
		{"empty x", good, theta, &mat.Dense{}, 10, nil, ErrEmpty},
		{"row mismatch", good, theta, x.Slice(0, 9, 0, 2).(*mat.Dense), 10, nil, ErrDim},
		{"NaN in x", good, theta, nanX, 10, nil, ErrNonFinite},
		{"no samples", good, theta, x, 0, nil, ErrSettings},
		{"posterior dimension", badPosterior{dim: 3}, theta, x, 10, nil, ErrDim},
		{"NaN draws", badPosterior{dim: 2, nan: true}, theta, x, 10, nil, ErrNonFinite},
		{"too many bins", good, theta, x, 10, &SBCSettings{Bins: 12}, ErrSettings},
		{"one bin", good, theta, x, 10, &SBCSettings{Bins: 1}, ErrSettings},
		{"NaN reduce", good, theta, x, 10, &SBCSettings{Reduce: []Reducer{nanReduce}}, ErrNonFinite},
		{"nil reducer", good, theta, x, 10, &SBCSettings{Reduce: []Reducer{nil}}, ErrSettings},
		{"nil posterior", nil, theta, x, 10, nil, ErrSettings},
	}
	for _, tt := range tests {
		rng := rand.New(rand.NewPCG(1, 1))
		_, err := SBC(context.Background(), tt.post, tt.theta, tt.x, tt.n, rng, tt.s)
		if !errors.Is(err, tt.want) {
			t.Errorf("SBC %s: got error %v, want %v", tt.name, err, tt.want)
		}
		if tt.s != nil {
			continue // the settings cases are SBC's own
		}
		if _, err := Coverage(context.Background(), tt.post, tt.theta, tt.x, tt.n, rng, nil); !errors.Is(err, tt.want) {
			t.Errorf("Coverage %s: got error %v, want %v", tt.name, err, tt.want)
		}
		if _, err := TARP(context.Background(), tt.post, tt.theta, tt.x, tt.n, rng, nil); !errors.Is(err, tt.want) {
			t.Errorf("TARP %s: got error %v, want %v", tt.name, err, tt.want)
		}
	}
}
