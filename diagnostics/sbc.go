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

// Reducer maps parameter vectors to scalars, for ranks of statistics other
// than the marginals (Talts et al. 2018, §4.1: "any function of the
// parameters"). Reduce writes f(θ_r) for every row θ_r of thetas into dst
// (allocated if nil, length the number of rows) and returns it; q is the
// posterior conditioned on the test's observation, so that f may depend on x.
type Reducer interface {
	Reduce(dst []float64, q dist.Distribution, thetas *mat.Dense) []float64
}

// ReduceFunc adapts a point-wise function to a Reducer.
type ReduceFunc func(q dist.Distribution, theta []float64) float64

// Reduce implements Reducer by calling f on every row.
func (f ReduceFunc) Reduce(dst []float64, q dist.Distribution, thetas *mat.Dense) []float64 {
	r, _ := thetas.Dims()
	if dst == nil {
		dst = make([]float64, r)
	}
	for i := 0; i < r; i++ {
		dst[i] = f(q, thetas.RawRowView(i))
	}
	return dst
}

// NegLogProb is the Reducer θ ↦ −log q(θ | x). Its ranks are the number of
// posterior draws with a higher density than the true θ, which is the
// highest-density-region statistic behind Coverage (Deistler et al. 2022,
// "Truncated proposals for scalable and hassle-free simulation-based
// inference", §3.4). It uses q's LogProbBatch when q offers it.
var NegLogProb Reducer = negLogProb{}

type negLogProb struct{}

func (negLogProb) Reduce(dst []float64, q dist.Distribution, thetas *mat.Dense) []float64 {
	if b, ok := q.(dist.BatchLogProber); ok {
		dst = b.LogProbBatch(dst, thetas)
	} else {
		r, _ := thetas.Dims()
		if dst == nil {
			dst = make([]float64, r)
		}
		for i := range dst {
			dst[i] = q.LogProb(thetas.RawRowView(i))
		}
	}
	for i, v := range dst {
		dst[i] = -v
	}
	return dst
}

var (
	_ Reducer = NegLogProb
	_ Reducer = ReduceFunc(nil)
)

// SBCSettings tunes an SBC run. The zero value (or a nil pointer) gives the
// defaults.
type SBCSettings struct {
	// Workers is the number of goroutines; 0 means GOMAXPROCS. The result does
	// not depend on it. With more than one worker the posterior's Condition
	// is called concurrently; each returned Distribution is used by one
	// goroutine only.
	Workers int
	// Reduce lists statistics ranked in addition to the D marginals; their
	// rank columns follow the marginal ones. NegLogProb is the usual choice.
	Reduce []Reducer
	// Bins is the number of bins of the χ² uniformity test; 0 means
	// min(20, L+1, max(2, T/10)) for T tests and L posterior draws, which keeps
	// the expected count per bin at 10 or more when T ≥ 20.
	Bins int
	// OnProgress, if set, is called after every finished test with the number
	// done and the total, one call at a time; a non-nil error stops the run
	// and is returned wrapped.
	OnProgress func(done, total int) error
}

// SBCResult holds the ranks of a simulation-based calibration run and the
// uniformity checks computed from them. Columns 0..D−1 of the rank-based
// fields are the marginals, the following ones the Reduce statistics in order.
type SBCResult struct {
	// Ranks has T rows of K: Ranks[i][k] is the number of the L posterior
	// draws for test i whose statistic k is below that of the true θ_i, in
	// 0..L (plots.NewRankHist takes it as is). Under a calibrated posterior
	// every column is uniform on {0, …, L}.
	Ranks [][]int
	// NumSamples is L, the number of posterior draws per test.
	NumSamples int
	// KS and KSPValue are, per rank column, the Kolmogorov–Smirnov distance
	// between the ranks' empirical distribution and the discrete uniform on
	// {0, …, L}, and its p-value (exact for a continuous null, hence
	// conservative for the discrete one; see KolmogorovPValue).
	KS, KSPValue []float64
	// ChiSquare and ChiSquarePValue are Pearson's χ² of the rank histogram
	// with Bins bins of consecutive ranks against its expected counts under
	// uniformity, and its p-value with Bins−1 degrees of freedom.
	ChiSquare, ChiSquarePValue []float64
	// Bins is the number of bins used by the χ² test.
	Bins int
	// DAP is T×D: row i is the first posterior draw of test i. Together the
	// rows are a sample of the data-averaged posterior, which equals the prior
	// for a calibrated posterior (Talts et al. 2018, eq. 1).
	DAP *mat.Dense
	// DAPKS and DAPKSPValue compare, per dimension, DAP with the test θ
	// (prior draws) by the two-sample Kolmogorov–Smirnov test (asymptotic
	// p-value, KolmogorovTwoSamplePValue). Row i of DAP depends on θ_i
	// through x_i, which makes the two samples positively dependent; the test
	// is therefore conservative. For a multivariate check, C2ST(θ, DAP).
	DAPKS, DAPKSPValue []float64
	// PosteriorMean and PosteriorStd are T×D: the mean and standard
	// deviation (denominator L−1; 0 when L = 1) of the L draws of each test.
	// ZScores and Shrinkage use them.
	PosteriorMean, PosteriorStd *mat.Dense
	// Runtime is the wall-clock time of the run.
	Runtime time.Duration
}

// SBC runs simulation-based calibration (Talts et al., "Validating Bayesian
// inference algorithms with simulation-based calibration", arXiv:1804.06788,
// 2018): for every test pair (θ_i, x_i) (row i of theta and x, with θ_i drawn
// from the prior and x_i simulated from θ_i) it draws nSamples (L) samples of
// posterior.Condition(x_i), with SampleBatch when the conditioned value offers
// it, and records the rank of θ_i among them for every marginal and every
// s.Reduce statistic. It then tests each rank column for uniformity
// (Kolmogorov–Smirnov and χ²) and compares the data-averaged posterior with
// the prior (per-dimension two-sample Kolmogorov–Smirnov).
//
// Tests run in parallel; test i draws from rand.NewPCG(seed, i) with seed the
// first Uint64 of rng, so the result depends on rng but not on s.Workers.
// It returns an error wrapping ErrEmpty, ErrDim, ErrNonFinite or ErrSettings
// for bad input or non-finite posterior draws or statistics, ctx's error if
// ctx is cancelled, and the callback's error if OnProgress fails.
func SBC(ctx context.Context, posterior dist.Conditional, theta, x *mat.Dense, nSamples int, rng *rand.Rand, s *SBCSettings) (*SBCResult, error) {
	start := time.Now()
	if s == nil {
		s = &SBCSettings{}
	}
	if posterior == nil || rng == nil {
		return nil, fmt.Errorf("diagnostics: SBC needs a posterior and an rng: %w", ErrSettings)
	}
	tests, dim, err := checkTestSet(theta, x, nSamples)
	if err != nil {
		return nil, fmt.Errorf("diagnostics: SBC: %w", err)
	}
	for k, r := range s.Reduce {
		if r == nil {
			return nil, fmt.Errorf("diagnostics: SBC: Reduce[%d] is nil: %w", k, ErrSettings)
		}
	}
	bins := s.Bins
	if bins == 0 {
		bins = min(20, nSamples+1, max(2, tests/10))
	}
	if bins < 2 || bins > nSamples+1 {
		return nil, fmt.Errorf("diagnostics: SBC: %d bins for ranks 0..%d: %w", bins, nSamples, ErrSettings)
	}
	K := dim + len(s.Reduce)
	res := &SBCResult{
		Ranks:         make([][]int, tests),
		NumSamples:    nSamples,
		Bins:          bins,
		DAP:           mat.NewDense(tests, dim, nil),
		PosteriorMean: mat.NewDense(tests, dim, nil),
		PosteriorStd:  mat.NewDense(tests, dim, nil),
	}
	all := make([]int, tests*K)
	for i := range res.Ranks {
		res.Ranks[i] = all[i*K : (i+1)*K : (i+1)*K]
	}
	c := &calibration{posterior: posterior, theta: theta, x: x, tests: tests, dim: dim,
		nSamples: nSamples, seed: rng.Uint64(), workers: s.Workers}
	err = c.run(ctx, s.OnProgress, func(sc *scratch, i int, q dist.Distribution) error {
		ranks := res.Ranks[i]
		th := sc.buf.RawRowView(nSamples)
		copy(res.DAP.RawRowView(i), sc.buf.RawRowView(0))
		mean, std := res.PosteriorMean.RawRowView(i), res.PosteriorStd.RawRowView(i)
		for r := 0; r < nSamples; r++ {
			for d, v := range sc.buf.RawRowView(r) {
				mean[d] += v
				if v < th[d] {
					ranks[d]++
				}
			}
		}
		for d := range mean {
			mean[d] /= float64(nSamples)
		}
		if nSamples > 1 {
			for r := 0; r < nSamples; r++ {
				for d, v := range sc.buf.RawRowView(r) {
					std[d] += (v - mean[d]) * (v - mean[d])
				}
			}
			for d := range std {
				std[d] = math.Sqrt(std[d] / float64(nSamples-1))
			}
		}
		for k, red := range s.Reduce {
			vals := red.Reduce(sc.vals, q, sc.buf)
			if len(vals) != nSamples+1 {
				return fmt.Errorf("diagnostics: test %d: Reduce[%d] returned %d values for %d rows: %w", i, k, len(vals), nSamples+1, ErrDim)
			}
			ref := vals[nSamples]
			n := 0
			for r, v := range vals {
				if math.IsNaN(v) {
					return fmt.Errorf("diagnostics: test %d: Reduce[%d] is NaN at row %d: %w", i, k, r, ErrNonFinite)
				}
				if r < nSamples && v < ref {
					n++
				}
			}
			ranks[dim+k] = n
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	res.KS = make([]float64, K)
	res.KSPValue = make([]float64, K)
	res.ChiSquare = make([]float64, K)
	res.ChiSquarePValue = make([]float64, K)
	for k := 0; k < K; k++ {
		ranks := res.RankColumn(k)
		res.KS[k] = ksDiscreteUniform(ranks, nSamples)
		res.KSPValue[k] = KolmogorovPValue(res.KS[k], tests)
		res.ChiSquare[k], res.ChiSquarePValue[k] = chiSquareRanks(ranks, nSamples, bins)
	}
	res.DAPKS = make([]float64, dim)
	res.DAPKSPValue = make([]float64, dim)
	for d := 0; d < dim; d++ {
		res.DAPKS[d] = ksTwoSample(mat.Col(nil, d, res.DAP), mat.Col(nil, d, theta))
		res.DAPKSPValue[d] = KolmogorovTwoSamplePValue(res.DAPKS[d], tests, tests)
	}
	res.Runtime = time.Since(start)
	return res, nil
}

// RankColumn returns the ranks of statistic k (a marginal for k < D, else
// Reduce[k−D]) over the tests, for example for CoverageFromRanks. It panics
// if k is out of range.
func (r *SBCResult) RankColumn(k int) []int {
	col := make([]int, len(r.Ranks))
	for i, row := range r.Ranks {
		col[i] = row[k]
	}
	return col
}

// Calibrated reports whether none of the result's tests rejects calibration
// at family-wise level alpha: every KS, χ² and DAP p-value is at least
// alpha/m, where m is the number of those p-values (Bonferroni).
func (r *SBCResult) Calibrated(alpha float64) bool {
	ps := make([]float64, 0, 2*len(r.KSPValue)+len(r.DAPKSPValue))
	ps = append(ps, r.KSPValue...)
	ps = append(ps, r.ChiSquarePValue...)
	ps = append(ps, r.DAPKSPValue...)
	for _, p := range ps {
		if p < alpha/float64(len(ps)) {
			return false
		}
	}
	return true
}
