package diagnostics

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// meanErrorSD is the standard deviation of CoverageResult.MeanError for a
// calibrated posterior: 1/2 − mean(k/L) with k uniform on {0, …, L}, whose
// variance is (L+2)/(12L), averaged over T tests.
func meanErrorSD(T, L int) float64 {
	return math.Sqrt(float64(L+2) / (12 * float64(L)) / float64(T))
}

// atcSD is the standard deviation of ATC = mean(1 − max(f, ½)) − 3/8 for f
// uniform on [0, 1]: Var(1 − max(f, ½)) = 1/6 − (3/8)², over T tests.
func atcSD(T int) float64 { return math.Sqrt((1.0/6 - 9.0/64) / float64(T)) }

// z999 is the two-sided 0.1% normal quantile: a calibrated posterior lands
// outside ±z999 standard deviations with probability 0.001.
const z999 = 3.29

func TestCoverageAnalytic(t *testing.T) {
	t.Parallel()
	sd := meanErrorSD(calT, calL)
	cases := append(calCases[:len(calCases):len(calCases)],
		// Milder distortions, still far outside the null band in 10-D: the
		// coverage of the α-HPD region is P(χ²₁₀ ≤ c²·χ²₁₀(α)), 0.18 at
		// α = ½ for c = 0.8 and 0.85 for c = 1.25.
		calCase{"overconfident-0.8", gaussPosterior{m: gaussianLinear, scale: 0.8, batch: true}, -1},
		calCase{"underconfident-1.25", gaussPosterior{m: gaussianLinear, scale: 1.25}, 1},
	)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(2, 1))
			theta, x := gaussianLinear.testSet(calT, rng)
			levels := []float64{0.1, 0.5, 0.9}
			res, err := Coverage(context.Background(), tc.post, theta, x, calL, rng,
				&CoverageSettings{Levels: levels, Confidence: 0.999})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("MeanError %.4f, KS p %.3g, coverage %.3f", res.MeanError, res.KSPValue, res.Coverage)
			switch tc.want {
			case 0:
				if math.Abs(res.MeanError) > z999*sd {
					t.Errorf("MeanError = %.4f, want |.| < %.4f", res.MeanError, z999*sd)
				}
				if !res.Calibrated(0.001) {
					t.Errorf("KS p-value %.3g, want ≥ 0.001", res.KSPValue)
				}
				// The exact expected coverage ⌈αL⌉/(L+1) lies in each 99.9%
				// Clopper–Pearson interval (3 intervals: fails w.p. ≤ 0.3%).
				for j, a := range levels {
					want := math.Ceil(a*calL) / (calL + 1)
					if want < res.Lower[j] || want > res.Upper[j] {
						t.Errorf("level %v: expected coverage %.3f outside [%.3f, %.3f]", a, want, res.Lower[j], res.Upper[j])
					}
				}
			case -1:
				if res.MeanError > -z999*sd {
					t.Errorf("MeanError = %.4f, want < %.4f (coverage below nominal)", res.MeanError, -z999*sd)
				}
				if res.Upper[1] >= 0.5 {
					t.Errorf("coverage band at α = ½ is [%.3f, %.3f], want it below ½", res.Lower[1], res.Upper[1])
				}
			case 1:
				if res.MeanError < z999*sd {
					t.Errorf("MeanError = %.4f, want > %.4f (coverage above nominal)", res.MeanError, z999*sd)
				}
				if res.Lower[1] <= 0.5 {
					t.Errorf("coverage band at α = ½ is [%.3f, %.3f], want it above ½", res.Lower[1], res.Upper[1])
				}
			case 2:
				// A shift moves θ off the HPD centre: coverage drops.
				if res.MeanError > -z999*sd || res.Calibrated(0.001) {
					t.Errorf("shifted: MeanError %.4f, KS p %.3g; want coverage below nominal and rejection", res.MeanError, res.KSPValue)
				}
			}
		})
	}
}

// TestCoverageMatchesSBCRanks checks that Coverage and an SBC run with
// NegLogProb on the same streams give the same HPD ranks, and that
// CoverageFromRanks reproduces the curve.
func TestCoverageMatchesSBCRanks(t *testing.T) {
	t.Parallel()
	m := gaussModel{dim: 2, tau2: 1, sigma2: 0.3}
	theta, x := m.testSet(40, rand.New(rand.NewPCG(9, 9)))
	post := gaussPosterior{m: m, scale: 1, batch: true}
	cov, err := Coverage(context.Background(), post, theta, x, 30, rand.New(rand.NewPCG(1, 1)), nil)
	if err != nil {
		t.Fatal(err)
	}
	sbc, err := SBC(context.Background(), post, theta, x, 30, rand.New(rand.NewPCG(1, 1)), &SBCSettings{Reduce: []Reducer{NegLogProb}})
	if err != nil {
		t.Fatal(err)
	}
	ranks := sbc.RankColumn(2)
	if !slices.Equal(cov.Ranks, ranks) {
		t.Fatalf("Coverage ranks %v, SBC NegLogProb ranks %v", cov.Ranks, ranks)
	}
	again, err := CoverageFromRanks(ranks, 30, nil)
	if err != nil {
		t.Fatal(err)
	}
	for j := range again.Coverage {
		if again.Coverage[j] != cov.Coverage[j] {
			t.Fatalf("level %v: CoverageFromRanks %v, Coverage %v", again.Levels[j], again.Coverage[j], cov.Coverage[j])
		}
	}
	if len(cov.Levels) != 101 || cov.Levels[100] != 1 {
		t.Errorf("default levels: %d of them ending at %v, want 101 ending at 1", len(cov.Levels), cov.Levels[len(cov.Levels)-1])
	}
}

func TestCoverageFromRanksValues(t *testing.T) {
	t.Parallel()
	// Ranks 0, 1, 2, 3 of L = 4: fractions 0, ¼, ½, ¾.
	res, err := CoverageFromRanks([]int{0, 1, 2, 3}, 4, &CoverageSettings{Levels: []float64{0, 0.25, 0.5, 0.6, 1}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		got, want float64
	}{
		{"coverage(0)", res.Coverage[0], 0},
		{"coverage(¼)", res.Coverage[1], 0.25}, // only f = 0 < ¼
		{"coverage(½)", res.Coverage[2], 0.5},
		{"coverage(0.6)", res.Coverage[3], 0.75},
		{"coverage(1)", res.Coverage[4], 1},
		{"MeanError", res.MeanError, 0.5 - 0.375},              // ½ − mean f
		{"ATC", res.ATC, (0.5+0.5+0.5+0.25)/4 - 0.375},         // mean(1 − max(f, ½)) − 3/8
		{"KS", res.KS, math.Abs(4.0/4 - 4.0/5)},                // F̂(3) = 1 vs 4/5
		{"lower(0)", res.Lower[0], 0},                          // Clopper–Pearson, k = 0
		{"upper(0)", res.Upper[0], 1 - math.Pow(0.025, 1.0/4)}, // 1 − (α/2)^{1/n}
		{"upper(1)", res.Upper[4], 1},                          // k = n
		{"lower(1)", res.Lower[4], math.Pow(0.025, 1.0/4)},     // (α/2)^{1/n}
		{"NumSamples", float64(res.NumSamples), 4},
	}
	for _, tt := range tests {
		if math.Abs(tt.got-tt.want) > 1e-12 {
			t.Errorf("%s = %v, want %v", tt.name, tt.got, tt.want)
		}
	}
	for _, bad := range []struct {
		ranks []int
		n     int
		s     *CoverageSettings
		want  error
	}{
		{nil, 4, nil, ErrEmpty},
		{[]int{5}, 4, nil, ErrSettings},
		{[]int{-1}, 4, nil, ErrSettings},
		{[]int{1}, 0, nil, ErrSettings},
		{[]int{1}, 4, &CoverageSettings{Confidence: 1}, ErrSettings},
		{[]int{1}, 4, &CoverageSettings{Levels: []float64{0.5, 0.4}}, ErrSettings},
		{[]int{1}, 4, &CoverageSettings{Levels: []float64{1.5}}, ErrSettings},
		{[]int{1}, 4, &CoverageSettings{Levels: []float64{}}, ErrEmpty},
	} {
		if _, err := CoverageFromRanks(bad.ranks, bad.n, bad.s); !errors.Is(err, bad.want) {
			t.Errorf("CoverageFromRanks(%v, %d, %+v): error %v, want %v", bad.ranks, bad.n, bad.s, err, bad.want)
		}
	}
}

func TestTARPAnalytic(t *testing.T) {
	t.Parallel()
	sd := atcSD(calT)
	for _, tc := range calCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(3, 1))
			theta, x := gaussianLinear.testSet(calT, rng)
			res, err := TARP(context.Background(), tc.post, theta, x, calL, rng, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("ATC %.4f, KS %.4f p %.3g, ME %.4f", res.ATC, res.KS, res.KSPValue, res.MeanError)
			switch tc.want {
			case 0:
				if math.Abs(res.ATC) > z999*sd || !res.Calibrated(0.001) {
					t.Errorf("ATC = %.4f (want |.| < %.4f), KS p %.3g (want ≥ 0.001)", res.ATC, z999*sd, res.KSPValue)
				}
			case -1:
				if res.ATC > -z999*sd {
					t.Errorf("ATC = %.4f, want < %.4f (overconfident)", res.ATC, -z999*sd)
				}
			case 1:
				if res.ATC < z999*sd {
					t.Errorf("ATC = %.4f, want > %.4f (underconfident)", res.ATC, z999*sd)
				}
			case 2:
				// With random references in 10-D a one-σ shift of one
				// parameter is a small change in the distances; TARP is not
				// expected to detect it reliably (Lemos et al. 2023, §5), so
				// only sanity is checked here.
				if math.IsNaN(res.ATC) || math.IsNaN(res.KSPValue) {
					t.Errorf("ATC %v, KS p %v", res.ATC, res.KSPValue)
				}
			}
			lo, hi := mat.Min(theta), mat.Max(theta)
			if r, _ := res.References.Dims(); r != calT || mat.Min(res.References) < lo || mat.Max(res.References) > hi {
				t.Errorf("references outside the range [%.3f, %.3f] of theta or with %d rows", lo, hi, r)
			}
		})
	}
}

// TestTARPFixedReferences checks k_i against a direct count with given
// references and no scaling.
func TestTARPFixedReferences(t *testing.T) {
	t.Parallel()
	m := gaussModel{dim: 2, tau2: 1, sigma2: 1}
	theta, x := m.testSet(3, rand.New(rand.NewPCG(1, 5)))
	refs := mat.NewDense(3, 2, []float64{0, 0, 1, -1, 2, 2})
	post := gaussPosterior{m: m, scale: 1}
	const L = 40
	res, err := TARP(context.Background(), post, theta, x, L, rand.New(rand.NewPCG(2, 2)), &TARPSettings{References: refs, NoScaling: true})
	if err != nil {
		t.Fatal(err)
	}
	seed := rand.New(rand.NewPCG(2, 2)).Uint64()
	for i := 0; i < 3; i++ {
		rng := rand.New(rand.NewPCG(seed, uint64(i)))
		q := post.Condition(x.RawRowView(i))
		ref := refs.RawRowView(i)
		dt := euclidean(theta.RawRowView(i), ref)
		want := 0
		for j := 0; j < L; j++ {
			if euclidean(q.Sample(nil, rng), ref) < dt {
				want++
			}
		}
		if res.Ranks[i] != want {
			t.Errorf("test %d: k = %d, want %d", i, res.Ranks[i], want)
		}
	}
	if !mat.Equal(res.References, refs) {
		t.Errorf("references changed")
	}
	if _, err := TARP(context.Background(), post, theta, x, L, rand.New(rand.NewPCG(2, 2)),
		&TARPSettings{References: refs.Slice(0, 2, 0, 2).(*mat.Dense)}); !errors.Is(err, ErrDim) {
		t.Errorf("references with 2 rows for 3 tests: error %v, want ErrDim", err)
	}
}
