package dist

import (
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"
)

// stackDim is the largest dimension for which methods keep their scratch
// vectors on the stack; larger dimensions use a sync.Pool.
const stackDim = 64

// Normal is a multivariate normal distribution N(μ, Σ) on R^d, stored through
// the Cholesky factor L of Σ = L Lᵀ. Its log density is
//
//	log p(x) = -d/2 log 2π - Σ_i log L_ii - ½ |L⁻¹(x-μ)|²
//
// and its gradient is -Σ⁻¹(x-μ). Methods are safe for concurrent use.
type Normal struct {
	mu      []float64
	std     []float64
	cov     *mat.SymDense
	l       []float64 // lower Cholesky factor, row-major d×d
	diag    bool      // Σ is diagonal: l holds σ_i on the diagonal only
	logNorm float64   // -d/2 log 2π - Σ log L_ii
	lo, hi  []float64 // -Inf, +Inf
	pool    *vecPool  // scratch for d > stackDim
}

var (
	_ Distribution    = (*Normal)(nil)
	_ BatchSampler    = (*Normal)(nil)
	_ BatchLogProber  = (*Normal)(nil)
	_ Bounded         = (*Normal)(nil)
	_ Gradienter      = (*Normal)(nil)
	_ BatchGradienter = (*Normal)(nil)
	_ Meaner          = (*Normal)(nil)
	_ Stder           = (*Normal)(nil)
)

// NewNormal returns the multivariate normal distribution with mean mu and
// covariance cov. Both are copied. It returns an error wrapping ErrDim when mu
// is empty or cov is not len(mu)×len(mu), and one wrapping ErrParam when cov
// is nil, an entry is NaN or infinite, or cov is not positive definite (its
// Cholesky factorisation fails).
func NewNormal(mu []float64, cov mat.Symmetric) (*Normal, error) {
	const who = "new normal"
	d := len(mu)
	if d == 0 {
		return nil, fmt.Errorf("%s: zero dimension: %w", who, ErrDim)
	}
	if cov == nil {
		return nil, fmt.Errorf("%s: nil covariance: %w", who, ErrParam)
	}
	if n := cov.SymmetricDim(); n != d {
		return nil, fmt.Errorf("%s: len(mu) = %d, covariance is %d×%d: %w", who, d, n, n, ErrDim)
	}
	if err := checkFinite(who, "mu", mu); err != nil {
		return nil, err
	}
	c := mat.NewSymDense(d, nil)
	diag := true
	for i := range d {
		for j := i; j < d; j++ {
			v := cov.At(i, j)
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("%s: cov[%d][%d] = %v is not finite: %w", who, i, j, v, ErrParam)
			}
			if i != j && v != 0 {
				diag = false
			}
			c.SetSym(i, j, v)
		}
	}
	var chol mat.Cholesky
	if ok := chol.Factorize(c); !ok {
		return nil, fmt.Errorf("%s: covariance is not positive definite: %w", who, ErrParam)
	}
	var lt mat.TriDense
	chol.LTo(&lt)
	n := newNormal(mu, d)
	n.cov = c
	n.diag = diag
	for i := range d {
		for j := 0; j <= i; j++ {
			n.l[i*d+j] = lt.At(i, j)
		}
		lii := n.l[i*d+i]
		if !(lii > 0) || math.IsInf(lii, 0) {
			return nil, fmt.Errorf("%s: covariance is not positive definite: %w", who, ErrParam)
		}
		n.std[i] = math.Sqrt(c.At(i, i))
		n.logNorm -= math.Log(lii)
	}
	if diag {
		// Use σ_i exactly rather than the factor's rounding of √Σ_ii.
		for i := range d {
			n.l[i*d+i] = n.std[i]
		}
		n.logNorm = -float64(d) / 2 * log2Pi
		for i := range d {
			n.logNorm -= math.Log(n.std[i])
		}
	}
	return n, nil
}

// NewDiagNormal returns the normal distribution with mean mu and independent
// components of standard deviation std. It returns an error wrapping ErrDim
// when mu is empty or len(mu) != len(std), and one wrapping ErrParam when a
// value is NaN or infinite or a std is not positive.
func NewDiagNormal(mu, std []float64) (*Normal, error) {
	const who = "new diag normal"
	if err := checkSameLen(who, "mu", "std", mu, std); err != nil {
		return nil, err
	}
	if err := checkFinite(who, "mu", mu); err != nil {
		return nil, err
	}
	if err := checkPositive(who, "std", std); err != nil {
		return nil, err
	}
	d := len(mu)
	n := newNormal(mu, d)
	n.diag = true
	n.cov = mat.NewSymDense(d, nil)
	for i, s := range std {
		v := s * s
		if v == 0 || math.IsInf(v, 0) {
			return nil, fmt.Errorf("%s: std[%d] = %v: variance under- or overflows: %w", who, i, s, ErrParam)
		}
		n.cov.SetSym(i, i, v)
		n.std[i] = s
		n.l[i*d+i] = s
		n.logNorm -= math.Log(s)
	}
	return n, nil
}

func newNormal(mu []float64, d int) *Normal {
	n := &Normal{
		mu:      append([]float64(nil), mu...),
		std:     make([]float64, d),
		l:       make([]float64, d*d),
		logNorm: -float64(d) / 2 * log2Pi,
		lo:      fill(d, math.Inf(-1)),
		hi:      fill(d, math.Inf(1)),
	}
	if d > stackDim {
		n.pool = newVecPool(d)
	}
	return n
}

// Dim returns the dimension d.
func (n *Normal) Dim() int { return len(n.mu) }

// Bounds returns (-Inf, …) and (+Inf, …): the support is all of R^d.
func (n *Normal) Bounds() (lo, hi []float64) { return n.lo, n.hi }

// Mean writes μ into dst (allocated if nil) and returns it.
func (n *Normal) Mean(dst []float64) []float64 {
	dst = useDst(dst, len(n.mu), "Normal.Mean")
	copy(dst, n.mu)
	return dst
}

// Std writes the marginal standard deviations √Σ_ii into dst (allocated if
// nil) and returns it.
func (n *Normal) Std(dst []float64) []float64 {
	dst = useDst(dst, len(n.mu), "Normal.Std")
	copy(dst, n.std)
	return dst
}

// CovarianceMatrix writes Σ into dst and returns it, following gonum's
// distmv.Normal: if dst is nil a new matrix is allocated, if dst is empty it
// is resized, otherwise it must be d×d or CovarianceMatrix panics.
func (n *Normal) CovarianceMatrix(dst *mat.SymDense) *mat.SymDense {
	d := len(n.mu)
	if dst == nil {
		dst = mat.NewSymDense(d, nil)
	} else if dst.IsEmpty() {
		dst.ReuseAsSym(d)
	} else if dst.SymmetricDim() != d {
		panic(fmt.Sprintf("dist: Normal.CovarianceMatrix: dst is %d×%d, want %d×%d", dst.SymmetricDim(), dst.SymmetricDim(), d, d))
	}
	dst.CopySym(n.cov)
	return dst
}

// whiten writes y = L⁻¹(x-μ) by forward substitution and returns |y|².
func (n *Normal) whiten(y, x []float64) float64 {
	d := len(n.mu)
	ss := 0.0
	if n.diag {
		for i := range d {
			v := (x[i] - n.mu[i]) / n.l[i*d+i]
			y[i] = v
			ss += v * v
		}
		return ss
	}
	for i := range d {
		row := n.l[i*d : i*d+i+1]
		s := x[i] - n.mu[i]
		for j, lij := range row[:i] {
			s -= lij * y[j]
		}
		v := s / row[i]
		y[i] = v
		ss += v * v
	}
	return ss
}

// LogProb returns the log density at x: -Inf when an element of x is
// infinite, NaN when one is NaN. It panics if len(x) != Dim().
func (n *Normal) LogProb(x []float64) float64 {
	d := len(n.mu)
	checkLen(x, d, "Normal.LogProb")
	if n.diag {
		ss := 0.0
		for i := range d {
			v := (x[i] - n.mu[i]) / n.l[i*d+i]
			ss += v * v
		}
		return n.logNorm - 0.5*ss
	}
	var buf [stackDim]float64
	var ss float64
	if d <= stackDim {
		ss = n.whiten(buf[:d], x)
	} else {
		p := n.pool.get()
		ss = n.whiten(*p, x)
		n.pool.put(p)
	}
	return n.finish(ss, x)
}

// finish returns the log density from the squared Mahalanobis norm ss. A NaN
// ss that comes from ∞ - ∞ in the substitution for an infinite x (and not
// from a NaN in x) gives -Inf, the density at infinity.
func (n *Normal) finish(ss float64, x []float64) float64 {
	if math.IsNaN(ss) {
		for _, v := range x {
			if math.IsNaN(v) {
				return ss
			}
		}
		return math.Inf(-1)
	}
	return n.logNorm - 0.5*ss
}

// LogProbGrad writes -Σ⁻¹(x-μ) into grad and returns the log density at x.
// grad may alias x. It panics if len(x) or len(grad) != Dim().
func (n *Normal) LogProbGrad(grad, x []float64) float64 {
	d := len(n.mu)
	checkLen(x, d, "Normal.LogProbGrad")
	checkLen(grad, d, "Normal.LogProbGrad")
	if n.diag {
		ss := 0.0
		for i := range d {
			s := n.l[i*d+i]
			v := (x[i] - n.mu[i]) / s
			ss += v * v
			grad[i] = -v / s
		}
		return n.logNorm - 0.5*ss
	}
	var buf [stackDim]float64
	var y []float64
	var p *[]float64
	if d <= stackDim {
		y = buf[:d]
	} else {
		p = n.pool.get()
		y = *p
	}
	ss := n.whiten(y, x)
	// Back substitution: solve Lᵀ g = y, so g = L⁻ᵀ L⁻¹ (x-μ) = Σ⁻¹(x-μ).
	for i := d - 1; i >= 0; i-- {
		s := y[i]
		for j := i + 1; j < d; j++ {
			s -= n.l[j*d+i] * grad[j]
		}
		grad[i] = s / n.l[i*d+i]
	}
	for i := range grad {
		grad[i] = -grad[i]
	}
	if p != nil {
		n.pool.put(p)
	}
	return n.finish(ss, x)
}

// Sample writes μ + L ε, with ε a vector of d rng.NormFloat64 draws taken in
// order, into dst (allocated if nil) and returns dst. It panics if dst has
// the wrong length.
func (n *Normal) Sample(dst []float64, rng *rand.Rand) []float64 {
	d := len(n.mu)
	dst = useDst(dst, d, "Normal.Sample")
	for i := range dst {
		dst[i] = rng.NormFloat64()
	}
	if n.diag {
		for i := range dst {
			dst[i] = n.mu[i] + n.l[i*d+i]*dst[i]
		}
		return dst
	}
	// In place from the last row up: row i only reads ε_j for j <= i.
	for i := d - 1; i >= 0; i-- {
		s := n.mu[i]
		for j, lij := range n.l[i*d : i*d+i+1] {
			s += lij * dst[j]
		}
		dst[i] = s
	}
	return dst
}

// SampleBatch fills every row of dst with a draw, in the same order as
// repeated calls to Sample. It panics if dst does not have Dim() columns.
func (n *Normal) SampleBatch(dst *mat.Dense, rng *rand.Rand) {
	r := checkCols(dst, len(n.mu), "Normal.SampleBatch")
	for i := range r {
		n.Sample(dst.RawRowView(i), rng)
	}
}

// LogProbBatch writes the log density of every row of x into dst (allocated
// if nil) and returns dst. It panics on a shape mismatch.
func (n *Normal) LogProbBatch(dst []float64, x *mat.Dense) []float64 {
	r := checkCols(x, len(n.mu), "Normal.LogProbBatch")
	dst = useDst(dst, r, "Normal.LogProbBatch")
	for i := range r {
		dst[i] = n.LogProb(x.RawRowView(i))
	}
	return dst
}

// LogProbGradBatch is the batched LogProbGrad. It panics on a shape mismatch.
func (n *Normal) LogProbGradBatch(dst []float64, grad, x *mat.Dense) []float64 {
	r := checkCols(x, len(n.mu), "Normal.LogProbGradBatch")
	checkShape(grad, r, len(n.mu), "Normal.LogProbGradBatch")
	dst = useDst(dst, r, "Normal.LogProbGradBatch")
	for i := range r {
		dst[i] = n.LogProbGrad(grad.RawRowView(i), x.RawRowView(i))
	}
	return dst
}
