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

// TARPSettings tunes a TARP run. The zero value (or a nil pointer) gives the
// defaults.
type TARPSettings struct {
	// Workers is the number of goroutines; 0 means GOMAXPROCS. The result does
	// not depend on it.
	Workers int
	// References is T×D, one reference point per test; nil means draws from
	// the uniform distribution on the bounding box of theta (per dimension
	// [min θ, max θ] over the tests), as in the paper and in sbi.
	References *mat.Dense
	// NoScaling disables the per-dimension min–max scaling of parameters,
	// draws and references by the range of theta before distances are taken
	// (sbi's z_score_theta, on by default).
	NoScaling bool
	// Distance measures the distance between two points (in the scaled
	// space unless NoScaling is set); nil means the Euclidean distance.
	Distance func(a, b []float64) float64
	// Levels and Confidence are as in CoverageSettings.
	Levels     []float64
	Confidence float64
	// OnProgress is as in SBCSettings.
	OnProgress func(done, total int) error
}

// TARPResult is the expected coverage probability (ECP) curve of TARP, with
// the reference points used. In the embedded CoverageResult, Coverage is the
// ECP, ATC the area to curve and KS the Kolmogorov–Smirnov distance between
// the curve and the diagonal.
type TARPResult struct {
	CoverageResult
	// References are the T×D reference points, in the original (unscaled)
	// parameter space.
	References *mat.Dense
}

// TARP runs the "tests of accuracy with random points" of Lemos, Coogan,
// Hezaveh and Perreault-Levasseur, "Sampling-based accuracy testing of
// posterior estimators for general inference", ICML 2023 (arXiv:2302.03026),
// Algorithm 2: for every test pair (θ_i, x_i) it draws nSamples (L) samples
// θ_ij of posterior.Condition(x_i) and a reference point θ_r,i, and counts the
// k_i draws closer to θ_r,i than θ_i is, k_i = #{j : d(θ_ij, θ_r,i) < d(θ_i,
// θ_r,i)}. θ_i lies in the α-credible ball around θ_r,i when k_i/L < α; the
// ECP at α is the fraction of tests for which it does. A calibrated posterior
// gives the diagonal ECP(α) = α (up to the discreteness described in
// CoverageResult); a curve above the diagonal for α > 1/2 (ATC > 0) signals
// an underconfident posterior, below (ATC < 0) an overconfident or biased one.
//
// Reference points, when not given, are drawn first from rng; then, as for
// SBC, test i uses rand.NewPCG(seed, i) with seed the next Uint64 of rng, so
// the result does not depend on Workers. Errors are as for SBC.
func TARP(ctx context.Context, posterior dist.Conditional, theta, x *mat.Dense, nSamples int, rng *rand.Rand, s *TARPSettings) (*TARPResult, error) {
	start := time.Now()
	if s == nil {
		s = &TARPSettings{}
	}
	if posterior == nil || rng == nil {
		return nil, fmt.Errorf("diagnostics: TARP needs a posterior and an rng: %w", ErrSettings)
	}
	cs := &CoverageSettings{Levels: s.Levels, Confidence: s.Confidence}
	if err := checkCoverageSettings(cs); err != nil {
		return nil, fmt.Errorf("diagnostics: TARP: %w", err)
	}
	tests, dim, err := checkTestSet(theta, x, nSamples)
	if err != nil {
		return nil, fmt.Errorf("diagnostics: TARP: %w", err)
	}
	lo, hi := make([]float64, dim), make([]float64, dim)
	copy(lo, theta.RawRowView(0))
	copy(hi, theta.RawRowView(0))
	for i := 1; i < tests; i++ {
		for d, v := range theta.RawRowView(i) {
			lo[d], hi[d] = math.Min(lo[d], v), math.Max(hi[d], v)
		}
	}
	refs := s.References
	if refs != nil {
		rr, rc, err := checkMatrix("references", refs)
		if err != nil {
			return nil, fmt.Errorf("diagnostics: TARP: %w", err)
		}
		if rr != tests || rc != dim {
			return nil, fmt.Errorf("diagnostics: TARP: references are %d×%d, theta %d×%d: %w", rr, rc, tests, dim, ErrDim)
		}
		refs = mat.DenseCopyOf(refs)
	} else {
		refs = mat.NewDense(tests, dim, nil)
		for i := 0; i < tests; i++ {
			row := refs.RawRowView(i)
			for d := range row {
				row[d] = lo[d] + (hi[d]-lo[d])*rng.Float64()
			}
		}
	}
	// Scaled coordinates: (v − lo)/(hi − lo + 1e-10), sbi's guard against a
	// constant parameter.
	scale := make([]float64, dim)
	for d := range scale {
		scale[d] = 1 / (hi[d] - lo[d] + 1e-10)
		if s.NoScaling {
			lo[d], scale[d] = 0, 1
		}
	}
	distance := s.Distance
	if distance == nil {
		distance = euclidean
	}
	ranks := make([]int, tests)
	c := &calibration{posterior: posterior, theta: theta, x: x, tests: tests, dim: dim,
		nSamples: nSamples, seed: rng.Uint64(), workers: s.Workers}
	err = c.run(ctx, s.OnProgress, func(sc *scratch, i int, _ dist.Distribution) error {
		// Scale the draws, θ_i and the reference in place in the scratch.
		for r := 0; r <= nSamples; r++ {
			row := sc.buf.RawRowView(r)
			for d := range row {
				row[d] = (row[d] - lo[d]) * scale[d]
			}
		}
		ref := scaledRef(sc, refs.RawRowView(i), lo, scale)
		dt := distance(sc.buf.RawRowView(nSamples), ref)
		if math.IsNaN(dt) {
			return fmt.Errorf("diagnostics: test %d: distance is NaN: %w", i, ErrNonFinite)
		}
		k := 0
		for r := 0; r < nSamples; r++ {
			if distance(sc.buf.RawRowView(r), ref) < dt {
				k++
			}
		}
		ranks[i] = k
		return nil
	})
	if err != nil {
		return nil, err
	}
	res := &TARPResult{CoverageResult: *coverageFromRanks(ranks, nSamples, cs), References: refs}
	res.Runtime = time.Since(start)
	return res, nil
}

// scaledRef writes the scaled reference point into the scratch's ref buffer.
func scaledRef(sc *scratch, ref, lo, scale []float64) []float64 {
	if len(sc.ref) != len(ref) {
		sc.ref = make([]float64, len(ref))
	}
	for d, v := range ref {
		sc.ref[d] = (v - lo[d]) * scale[d]
	}
	return sc.ref
}

func euclidean(a, b []float64) float64 {
	s := 0.0
	for i, v := range a {
		d := v - b[i]
		s += d * d
	}
	return math.Sqrt(s)
}
