package diagnostics

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"gonum.org/v1/gonum/mat"

	"github.com/gosbi/gosbi/dist"
)

// CoverageSettings tunes Coverage and CoverageFromRanks. The zero value (or a
// nil pointer) gives the defaults.
type CoverageSettings struct {
	// Workers is the number of goroutines; 0 means GOMAXPROCS. The result does
	// not depend on it.
	Workers int
	// Levels are the credibility levels α at which coverage is reported,
	// increasing, in [0, 1]; nil means 0, 0.01, …, 1 (101 levels).
	Levels []float64
	// Confidence is the level of the Clopper–Pearson band around each
	// empirical coverage; 0 means 0.95.
	Confidence float64
	// OnProgress, if set, is called after every finished test with the number
	// done and the total, one call at a time; a non-nil error stops the run
	// and is returned wrapped.
	OnProgress func(done, total int) error
}

func (s *CoverageSettings) levels() []float64 {
	if s.Levels != nil {
		return s.Levels
	}
	l := make([]float64, 101)
	for i := range l {
		l[i] = float64(i) / 100
	}
	return l
}

func (s *CoverageSettings) confidence() float64 {
	if s.Confidence == 0 {
		return 0.95
	}
	return s.Confidence
}

// CoverageResult is an expected-coverage curve: for credibility levels α, the
// fraction of tests whose true θ lies inside the α-credible region of its
// posterior. For Coverage the regions are highest-density regions, for TARP
// balls around random reference points.
//
// Each test i contributes a rank k_i in 0..L: the number of the L posterior
// draws that are inside the smallest region (of the family) containing θ_i.
// θ_i is in the α-region when k_i/L < α. For a calibrated posterior, θ_i is
// exchangeable with the draws and k_i is uniform on {0, …, L}, so the exact
// expected coverage is ⌈αL⌉/(L+1), which differs from α by less than 1/(L+1).
type CoverageResult struct {
	// Levels are the credibility levels α.
	Levels []float64
	// Coverage[j] is the fraction of tests with k_i/L < Levels[j].
	Coverage []float64
	// Lower and Upper bound the Clopper–Pearson confidence interval (at the
	// settings' Confidence) for the true coverage at each level, from the
	// binomial count behind Coverage.
	Lower, Upper []float64
	// Ranks are the k_i, one per test, and NumSamples is L.
	Ranks      []int
	NumSamples int
	// KS is the Kolmogorov–Smirnov distance between the ranks and the
	// discrete uniform on {0, …, L}; KSPValue its p-value (conservative, see
	// KolmogorovPValue). A small p-value rejects calibration.
	KS, KSPValue float64
	// MeanError is ∫₀¹ (C(α) − α) dα for the empirical coverage C, which
	// equals 1/2 − mean(k_i/L): negative for an overconfident posterior
	// (coverage below nominal), positive for an underconfident one.
	MeanError float64
	// ATC is TARP's "area to curve" ∫_{1/2}^1 (C(α) − α) dα (Lemos et al.
	// 2023; sbi's check_tarp): positive for an underconfident posterior,
	// negative for an overconfident one, about 0 for a calibrated one.
	ATC float64
	// Runtime is the wall-clock time of the run.
	Runtime time.Duration
}

// Calibrated reports whether the uniformity test of the ranks does not
// reject calibration at level alpha (KSPValue ≥ alpha).
func (r *CoverageResult) Calibrated(alpha float64) bool { return r.KSPValue >= alpha }

// Coverage estimates the expected coverage of highest-posterior-density
// regions (Hermans et al., "A trust crisis in simulation-based inference?",
// TMLR 2022; Deistler et al. 2022): for every test pair (θ_i, x_i) it draws
// nSamples (L) samples from q = posterior.Condition(x_i) and counts the k_i
// draws whose log q exceeds log q(θ_i); θ_i lies in the α-HPD region when
// k_i/L < α. Log densities are computed with LogProbBatch when q offers it;
// q's LogProb may be unnormalised, only its order matters.
//
// Randomness and parallelism are as for SBC (test i uses
// rand.NewPCG(seed, i), seed the first Uint64 of rng). Errors are as for SBC.
func Coverage(ctx context.Context, posterior dist.Conditional, theta, x *mat.Dense, nSamples int, rng *rand.Rand, s *CoverageSettings) (*CoverageResult, error) {
	start := time.Now()
	if s == nil {
		s = &CoverageSettings{}
	}
	if posterior == nil || rng == nil {
		return nil, fmt.Errorf("diagnostics: Coverage needs a posterior and an rng: %w", ErrSettings)
	}
	if err := checkCoverageSettings(s); err != nil {
		return nil, fmt.Errorf("diagnostics: Coverage: %w", err)
	}
	tests, dim, err := checkTestSet(theta, x, nSamples)
	if err != nil {
		return nil, fmt.Errorf("diagnostics: Coverage: %w", err)
	}
	ranks := make([]int, tests)
	c := &calibration{posterior: posterior, theta: theta, x: x, tests: tests, dim: dim,
		nSamples: nSamples, seed: rng.Uint64(), workers: s.Workers}
	err = c.run(ctx, s.OnProgress, func(sc *scratch, i int, q dist.Distribution) error {
		nlp := NegLogProb.Reduce(sc.vals, q, sc.buf)
		ref := nlp[nSamples]
		if math.IsNaN(ref) || math.IsInf(ref, -1) {
			return fmt.Errorf("diagnostics: test %d: log q(θ) is %v: %w", i, -ref, ErrNonFinite)
		}
		k := 0
		for r, v := range nlp[:nSamples] {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("diagnostics: test %d: log q of posterior draw %d is %v: %w", i, r, -v, ErrNonFinite)
			}
			if v < ref {
				k++
			}
		}
		ranks[i] = k
		return nil
	})
	if err != nil {
		return nil, err
	}
	res := coverageFromRanks(ranks, nSamples, s)
	res.Runtime = time.Since(start)
	return res, nil
}

// CoverageFromRanks builds the coverage curve from ranks already computed,
// for example SBCResult.RankColumn(D) for an SBC run with NegLogProb as its
// first Reduce statistic: each rank must be in 0..nSamples. Workers and
// OnProgress are ignored.
func CoverageFromRanks(ranks []int, nSamples int, s *CoverageSettings) (*CoverageResult, error) {
	if s == nil {
		s = &CoverageSettings{}
	}
	if len(ranks) == 0 {
		return nil, fmt.Errorf("diagnostics: CoverageFromRanks: ranks: %w", ErrEmpty)
	}
	if nSamples < 1 {
		return nil, fmt.Errorf("diagnostics: CoverageFromRanks: number of samples %d < 1: %w", nSamples, ErrSettings)
	}
	for i, r := range ranks {
		if r < 0 || r > nSamples {
			return nil, fmt.Errorf("diagnostics: CoverageFromRanks: rank %d is %d, not in 0..%d: %w", i, r, nSamples, ErrSettings)
		}
	}
	if err := checkCoverageSettings(s); err != nil {
		return nil, fmt.Errorf("diagnostics: CoverageFromRanks: %w", err)
	}
	return coverageFromRanks(ranks, nSamples, s), nil
}

func checkCoverageSettings(s *CoverageSettings) error {
	if c := s.confidence(); !(c > 0 && c < 1) {
		return fmt.Errorf("confidence %v not in (0, 1): %w", c, ErrSettings)
	}
	if s.Levels != nil && len(s.Levels) == 0 {
		return fmt.Errorf("levels: %w", ErrEmpty)
	}
	return checkLevels(s.Levels)
}

// coverageFromRanks computes the curve, band and summaries from valid ranks.
func coverageFromRanks(ranks []int, L int, s *CoverageSettings) *CoverageResult {
	levels := s.levels()
	conf := s.confidence()
	T := len(ranks)
	res := &CoverageResult{
		Levels:     append([]float64(nil), levels...),
		Coverage:   make([]float64, len(levels)),
		Lower:      make([]float64, len(levels)),
		Upper:      make([]float64, len(levels)),
		Ranks:      append([]int(nil), ranks...),
		NumSamples: L,
	}
	sumF, sumTop := 0.0, 0.0
	for _, r := range ranks {
		f := float64(r) / float64(L)
		sumF += f
		sumTop += 1 - math.Max(f, 0.5)
	}
	for j, a := range levels {
		n := 0
		for _, r := range ranks {
			if float64(r)/float64(L) < a {
				n++
			}
		}
		res.Coverage[j] = float64(n) / float64(T)
		res.Lower[j], res.Upper[j] = ClopperPearson(n, T, conf)
	}
	res.KS = ksDiscreteUniform(ranks, L)
	res.KSPValue = KolmogorovPValue(res.KS, T)
	// ∫₀¹ 1{f < α} dα = 1 − f and ∫_{1/2}^1 1{f < α} dα = 1 − max(f, 1/2);
	// ∫₀¹ α dα = 1/2 and ∫_{1/2}^1 α dα = 3/8.
	res.MeanError = 0.5 - sumF/float64(T)
	res.ATC = sumTop/float64(T) - 0.375
	return res
}
