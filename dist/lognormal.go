package dist

import (
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"
)

// LogNormal is a product of independent log-normal distributions: log x_i ~
// N(μ_i, σ_i²), with support (0, ∞)^d. It matches torch's LogNormal(loc,
// scale) as used for the priors of the sbibm SIR and Lotka-Volterra tasks.
// For x_i > 0 the log density is
//
//	log p(x) = Σ_i [ -log x_i - log σ_i - ½ log 2π - (log x_i - μ_i)² / (2σ_i²) ]
//
// and it is -Inf when some x_i <= 0.
type LogNormal struct {
	mu, sigma []float64
	logNorm   float64 // -Σ log σ_i - d/2 log 2π
	lo, hi    []float64
}

var (
	_ Distribution    = (*LogNormal)(nil)
	_ BatchSampler    = (*LogNormal)(nil)
	_ BatchLogProber  = (*LogNormal)(nil)
	_ Bounded         = (*LogNormal)(nil)
	_ Gradienter      = (*LogNormal)(nil)
	_ BatchGradienter = (*LogNormal)(nil)
	_ Meaner          = (*LogNormal)(nil)
	_ Stder           = (*LogNormal)(nil)
)

// NewLogNormal returns the product of log-normal distributions with
// log-space means mu and log-space standard deviations sigma. The slices are
// copied. It returns an error wrapping ErrDim when mu is empty or len(mu) !=
// len(sigma), and one wrapping ErrParam when a value is NaN or infinite or a
// sigma is not positive.
func NewLogNormal(mu, sigma []float64) (*LogNormal, error) {
	const who = "new log-normal"
	if err := checkSameLen(who, "mu", "sigma", mu, sigma); err != nil {
		return nil, err
	}
	if err := checkFinite(who, "mu", mu); err != nil {
		return nil, err
	}
	if err := checkPositive(who, "sigma", sigma); err != nil {
		return nil, err
	}
	d := len(mu)
	ln := &LogNormal{
		mu:      append([]float64(nil), mu...),
		sigma:   append([]float64(nil), sigma...),
		logNorm: -float64(d) / 2 * log2Pi,
		lo:      make([]float64, d),
		hi:      fill(d, math.Inf(1)),
	}
	for _, s := range sigma {
		ln.logNorm -= math.Log(s)
	}
	return ln, nil
}

// Dim returns the dimension d.
func (ln *LogNormal) Dim() int { return len(ln.mu) }

// Bounds returns (0, …) and (+Inf, …).
func (ln *LogNormal) Bounds() (lo, hi []float64) { return ln.lo, ln.hi }

// LogProb returns the log density at x, -Inf when some x_i <= 0. It panics
// if len(x) != Dim().
func (ln *LogNormal) LogProb(x []float64) float64 {
	checkLen(x, len(ln.mu), "LogNormal.LogProb")
	lp := ln.logNorm
	for i, v := range x {
		if !(v > 0) {
			return math.Inf(-1)
		}
		lx := math.Log(v)
		z := (lx - ln.mu[i]) / ln.sigma[i]
		lp -= lx + 0.5*z*z
	}
	return lp
}

// LogProbGrad writes d log p / dx_i = -(1 + (log x_i - μ_i)/σ_i²) / x_i into
// grad and returns the log density. grad may alias x. It panics if len(x) or
// len(grad) != Dim().
func (ln *LogNormal) LogProbGrad(grad, x []float64) float64 {
	checkLen(x, len(ln.mu), "LogNormal.LogProbGrad")
	checkLen(grad, len(ln.mu), "LogNormal.LogProbGrad")
	lp := ln.logNorm
	for i, v := range x {
		if !(v > 0) {
			return math.Inf(-1)
		}
		lx := math.Log(v)
		s := ln.sigma[i]
		z := (lx - ln.mu[i]) / s
		lp -= lx + 0.5*z*z
		grad[i] = -(1 + z/s) / v
	}
	return lp
}

// Sample writes exp(μ_i + σ_i ε_i), with one rng.NormFloat64 per dimension in
// order, into dst (allocated if nil) and returns dst. It panics if dst has
// the wrong length.
func (ln *LogNormal) Sample(dst []float64, rng *rand.Rand) []float64 {
	dst = useDst(dst, len(ln.mu), "LogNormal.Sample")
	for i := range dst {
		dst[i] = math.Exp(ln.mu[i] + ln.sigma[i]*rng.NormFloat64())
	}
	return dst
}

// SampleBatch fills every row of dst with a draw, in the same order as
// repeated calls to Sample. It panics if dst does not have Dim() columns.
func (ln *LogNormal) SampleBatch(dst *mat.Dense, rng *rand.Rand) {
	r := checkCols(dst, len(ln.mu), "LogNormal.SampleBatch")
	for i := range r {
		ln.Sample(dst.RawRowView(i), rng)
	}
}

// LogProbBatch writes the log density of every row of x into dst (allocated
// if nil) and returns dst. It panics on a shape mismatch.
func (ln *LogNormal) LogProbBatch(dst []float64, x *mat.Dense) []float64 {
	r := checkCols(x, len(ln.mu), "LogNormal.LogProbBatch")
	dst = useDst(dst, r, "LogNormal.LogProbBatch")
	for i := range r {
		dst[i] = ln.LogProb(x.RawRowView(i))
	}
	return dst
}

// LogProbGradBatch is the batched LogProbGrad. It panics on a shape mismatch.
func (ln *LogNormal) LogProbGradBatch(dst []float64, grad, x *mat.Dense) []float64 {
	r := checkCols(x, len(ln.mu), "LogNormal.LogProbGradBatch")
	checkShape(grad, r, len(ln.mu), "LogNormal.LogProbGradBatch")
	dst = useDst(dst, r, "LogNormal.LogProbGradBatch")
	for i := range r {
		dst[i] = ln.LogProbGrad(grad.RawRowView(i), x.RawRowView(i))
	}
	return dst
}

// Mean writes exp(μ_i + σ_i²/2) into dst (allocated if nil) and returns it.
func (ln *LogNormal) Mean(dst []float64) []float64 {
	dst = useDst(dst, len(ln.mu), "LogNormal.Mean")
	for i := range dst {
		s := ln.sigma[i]
		dst[i] = math.Exp(ln.mu[i] + s*s/2)
	}
	return dst
}

// Std writes √((exp(σ_i²) - 1) exp(2μ_i + σ_i²)) into dst (allocated if nil)
// and returns it.
func (ln *LogNormal) Std(dst []float64) []float64 {
	dst = useDst(dst, len(ln.mu), "LogNormal.Std")
	for i := range dst {
		s2 := ln.sigma[i] * ln.sigma[i]
		dst[i] = math.Sqrt(math.Expm1(s2)) * math.Exp(ln.mu[i]+s2/2)
	}
	return dst
}
