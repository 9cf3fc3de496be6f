package dist

import (
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"
)

// BoxUniform is the uniform distribution on the box [lo_1, hi_1] × … ×
// [lo_d, hi_d], the default prior of most sbibm tasks. Its log density is
// -Σ log(hi_i - lo_i) inside the closed box and -Inf outside.
type BoxUniform struct {
	lo, hi  []float64
	logProb float64
}

var (
	_ Distribution    = (*BoxUniform)(nil)
	_ BatchSampler    = (*BoxUniform)(nil)
	_ BatchLogProber  = (*BoxUniform)(nil)
	_ Bounded         = (*BoxUniform)(nil)
	_ Gradienter      = (*BoxUniform)(nil)
	_ BatchGradienter = (*BoxUniform)(nil)
	_ Meaner          = (*BoxUniform)(nil)
	_ Stder           = (*BoxUniform)(nil)
)

// NewBoxUniform returns the uniform distribution on the box with corners lo and
// hi. The slices are copied. It returns an error wrapping ErrDim when lo is
// empty or len(lo) != len(hi), and one wrapping ErrParam when a bound is NaN
// or infinite or lo[i] >= hi[i].
func NewBoxUniform(lo, hi []float64) (*BoxUniform, error) {
	const who = "new box uniform"
	if err := checkSameLen(who, "lo", "hi", lo, hi); err != nil {
		return nil, err
	}
	if err := checkFinite(who, "lo", lo); err != nil {
		return nil, err
	}
	if err := checkFinite(who, "hi", hi); err != nil {
		return nil, err
	}
	lp := 0.0
	for i := range lo {
		if !(lo[i] < hi[i]) {
			return nil, fmt.Errorf("%s: lo[%d] = %v >= hi[%d] = %v: %w", who, i, lo[i], i, hi[i], ErrParam)
		}
		w := hi[i] - lo[i]
		if math.IsInf(w, 0) {
			return nil, fmt.Errorf("%s: width of dimension %d overflows: %w", who, i, ErrParam)
		}
		lp -= math.Log(w)
	}
	return &BoxUniform{
		lo:      append([]float64(nil), lo...),
		hi:      append([]float64(nil), hi...),
		logProb: lp,
	}, nil
}

// Dim returns the dimension of the box.
func (u *BoxUniform) Dim() int { return len(u.lo) }

// Bounds returns the corners of the box. The slices must not be modified.
func (u *BoxUniform) Bounds() (lo, hi []float64) { return u.lo, u.hi }

// LogProb returns -Σ log(hi_i - lo_i) when lo <= x <= hi elementwise and -Inf
// otherwise (also for NaN elements). It panics if len(x) != Dim().
func (u *BoxUniform) LogProb(x []float64) float64 {
	checkLen(x, len(u.lo), "BoxUniform.LogProb")
	for i, v := range x {
		if !(v >= u.lo[i] && v <= u.hi[i]) {
			return math.Inf(-1)
		}
	}
	return u.logProb
}

// LogProbGrad returns LogProb(x) and sets grad to zero, the gradient inside
// the box. It panics if len(x) or len(grad) != Dim().
func (u *BoxUniform) LogProbGrad(grad, x []float64) float64 {
	checkLen(grad, len(u.lo), "BoxUniform.LogProbGrad")
	lp := u.LogProb(x)
	for i := range grad {
		grad[i] = 0
	}
	return lp
}

// Sample writes lo + (hi-lo)·U into dst (allocated if nil), with one
// rng.Float64 per dimension in order, and returns dst. It panics if dst has
// the wrong length.
func (u *BoxUniform) Sample(dst []float64, rng *rand.Rand) []float64 {
	dst = useDst(dst, len(u.lo), "BoxUniform.Sample")
	for i := range dst {
		dst[i] = u.lo[i] + (u.hi[i]-u.lo[i])*rng.Float64()
	}
	return dst
}

// SampleBatch fills every row of dst with a draw, in the same order as
// repeated calls to Sample. It panics if dst does not have Dim() columns.
func (u *BoxUniform) SampleBatch(dst *mat.Dense, rng *rand.Rand) {
	r := checkCols(dst, len(u.lo), "BoxUniform.SampleBatch")
	for i := range r {
		u.Sample(dst.RawRowView(i), rng)
	}
}

// LogProbBatch writes the log density of every row of x into dst (allocated
// if nil) and returns dst. It panics on a shape mismatch.
func (u *BoxUniform) LogProbBatch(dst []float64, x *mat.Dense) []float64 {
	r := checkCols(x, len(u.lo), "BoxUniform.LogProbBatch")
	dst = useDst(dst, r, "BoxUniform.LogProbBatch")
	for i := range r {
		dst[i] = u.LogProb(x.RawRowView(i))
	}
	return dst
}

// LogProbGradBatch is the batched LogProbGrad. It panics on a shape mismatch.
func (u *BoxUniform) LogProbGradBatch(dst []float64, grad, x *mat.Dense) []float64 {
	r := checkCols(x, len(u.lo), "BoxUniform.LogProbGradBatch")
	checkShape(grad, r, len(u.lo), "BoxUniform.LogProbGradBatch")
	dst = useDst(dst, r, "BoxUniform.LogProbGradBatch")
	for i := range r {
		dst[i] = u.LogProbGrad(grad.RawRowView(i), x.RawRowView(i))
	}
	return dst
}

// Mean writes the centre of the box, (lo+hi)/2, into dst (allocated if nil).
func (u *BoxUniform) Mean(dst []float64) []float64 {
	dst = useDst(dst, len(u.lo), "BoxUniform.Mean")
	for i := range dst {
		dst[i] = u.lo[i]/2 + u.hi[i]/2
	}
	return dst
}

// Std writes the marginal standard deviations (hi-lo)/√12 into dst
// (allocated if nil).
func (u *BoxUniform) Std(dst []float64) []float64 {
	dst = useDst(dst, len(u.lo), "BoxUniform.Std")
	for i := range dst {
		dst[i] = (u.hi[i] - u.lo[i]) / math.Sqrt(12)
	}
	return dst
}
