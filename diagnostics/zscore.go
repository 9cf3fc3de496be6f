package diagnostics

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"
)

// ZScoreShrinkage returns, per parameter d, the posterior z-score
// z_d = (μ_d − θ_d)/σ_d and the posterior shrinkage (contraction)
// s_d = 1 − σ_d²/σ²_prior,d of one posterior, from its draws (rows of
// samples, at least 2) and the true parameters theta (Schad, Betancourt and
// Vasishth, "Toward a principled Bayesian workflow in cognitive science",
// Psychol. Methods 26(1), 2021; Betancourt, "Calibrating model-based
// inferences and decisions", arXiv:1803.08393, 2018, §2.2). μ and σ are the
// sample mean and standard deviation (denominator n−1); priorStd gives
// σ_prior. |z| much above 3 flags a posterior away from the truth; s near 1
// an informative one, near 0 one no narrower than the prior.
func ZScoreShrinkage(samples *mat.Dense, theta, priorStd []float64) (z, shrinkage []float64, err error) {
	n, dim, err := checkMatrix("samples", samples)
	if err != nil {
		return nil, nil, fmt.Errorf("diagnostics: ZScoreShrinkage: %w", err)
	}
	if n < 2 {
		return nil, nil, fmt.Errorf("diagnostics: ZScoreShrinkage: %d draws, need 2: %w", n, ErrEmpty)
	}
	if err := checkVector("theta", theta); err != nil {
		return nil, nil, fmt.Errorf("diagnostics: ZScoreShrinkage: %w", err)
	}
	if len(theta) != dim || len(priorStd) != dim {
		return nil, nil, fmt.Errorf("diagnostics: ZScoreShrinkage: %d parameters, theta %d, priorStd %d: %w", dim, len(theta), len(priorStd), ErrDim)
	}
	if err := checkPriorStd(priorStd); err != nil {
		return nil, nil, fmt.Errorf("diagnostics: ZScoreShrinkage: %w", err)
	}
	mean, std := columnMeanStd(samples)
	z, shrinkage = make([]float64, dim), make([]float64, dim)
	for d := range z {
		z[d] = (mean[d] - theta[d]) / std[d]
		shrinkage[d] = 1 - (std[d]*std[d])/(priorStd[d]*priorStd[d])
	}
	return z, shrinkage, nil
}

func checkPriorStd(priorStd []float64) error {
	for d, s := range priorStd {
		if !(s > 0) || math.IsInf(s, 0) {
			return fmt.Errorf("prior standard deviation %d is %v: %w", d, s, ErrSettings)
		}
	}
	return nil
}

// ZScores returns the T×D posterior z-scores (μ_id − θ_id)/σ_id of every test
// i and parameter d, from the posterior means and standard deviations of the
// run (Schad, Betancourt and Vasishth, "Toward a principled Bayesian
// workflow in cognitive science", Psychol. Methods 26(1), 2021, §"posterior
// z-score"). Signed: positive when the posterior mean lies above the truth.
// Entries are ±Inf or NaN where σ_id = 0.
func (r *SBCResult) ZScores(theta *mat.Dense) (*mat.Dense, error) {
	tests, dim := r.PosteriorMean.Dims()
	if theta == nil {
		return nil, fmt.Errorf("diagnostics: ZScores: theta: %w", ErrEmpty)
	}
	if tr, tc := theta.Dims(); tr != tests || tc != dim {
		return nil, fmt.Errorf("diagnostics: ZScores: theta is %d×%d, result is %d×%d: %w", tr, tc, tests, dim, ErrDim)
	}
	z := mat.NewDense(tests, dim, nil)
	for i := 0; i < tests; i++ {
		zi, m, s, th := z.RawRowView(i), r.PosteriorMean.RawRowView(i), r.PosteriorStd.RawRowView(i), theta.RawRowView(i)
		for d := range zi {
			zi[d] = (m[d] - th[d]) / s[d]
		}
	}
	return z, nil
}

// Shrinkage returns the T×D posterior contractions 1 − σ²_id/σ²_prior,d of
// every test and parameter (Schad et al. 2021; Betancourt 2018, "Calibrating
// model-based inferences and decisions", arXiv:1803.08393, §2.2). priorStd
// gives the prior standard deviation per parameter; if nil it is estimated
// by the standard deviation of theta (the test parameters, which are prior
// draws), in which case theta must be non-nil. Values near 1 mean the data
// are informative, near 0 that the posterior is as wide as the prior.
func (r *SBCResult) Shrinkage(priorStd []float64, theta *mat.Dense) (*mat.Dense, error) {
	tests, dim := r.PosteriorStd.Dims()
	if priorStd == nil {
		if theta == nil {
			return nil, fmt.Errorf("diagnostics: Shrinkage needs priorStd or theta: %w", ErrEmpty)
		}
		if _, tc := theta.Dims(); tc != dim {
			return nil, fmt.Errorf("diagnostics: Shrinkage: theta has %d columns, result %d: %w", tc, dim, ErrDim)
		}
		priorStd = columnStd(theta)
	}
	if len(priorStd) != dim {
		return nil, fmt.Errorf("diagnostics: Shrinkage: %d prior standard deviations for %d parameters: %w", len(priorStd), dim, ErrDim)
	}
	if err := checkPriorStd(priorStd); err != nil {
		return nil, fmt.Errorf("diagnostics: Shrinkage: %w", err)
	}
	out := mat.NewDense(tests, dim, nil)
	for i := 0; i < tests; i++ {
		o, s := out.RawRowView(i), r.PosteriorStd.RawRowView(i)
		for d := range o {
			o[d] = 1 - (s[d]*s[d])/(priorStd[d]*priorStd[d])
		}
	}
	return out, nil
}

// columnMeanStd returns the column means and standard deviations
// (denominator n−1, or n when n = 1) of m.
func columnMeanStd(m *mat.Dense) (mean, std []float64) {
	r, c := m.Dims()
	mean, std = make([]float64, c), make([]float64, c)
	for i := 0; i < r; i++ {
		for j, v := range m.RawRowView(i) {
			mean[j] += v
		}
	}
	for j := range mean {
		mean[j] /= float64(r)
	}
	for i := 0; i < r; i++ {
		for j, v := range m.RawRowView(i) {
			std[j] += (v - mean[j]) * (v - mean[j])
		}
	}
	den := float64(max(r-1, 1))
	for j := range std {
		std[j] = math.Sqrt(std[j] / den)
	}
	return mean, std
}

func columnStd(m *mat.Dense) []float64 {
	_, s := columnMeanStd(m)
	return s
}
