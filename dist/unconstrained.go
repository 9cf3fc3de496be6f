package dist

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"
)

// Unconstrained returns the log density in unconstrained coordinates z of a
// density target on x = T(z):
//
//	log q(z) = target.LogProb(T(z)) + log|det dT/dz|,
//
// the form used by MCMC and variational inference in unconstrained space
// (Stan reference manual, "Constraint transforms"). When target is
// normalised, so is q. The result also implements Gradienter when target
// does (via Bijection.PullbackGrad) and BatchLogProber when target does, and
// always has a Dim() int method. It returns -Inf where target is -Inf or
// where T(z) reaches a bound with zero Jacobian (|z| = Inf). When exp(z)
// overflows on a half-line (z > 709), x is ±Inf and the result is whatever
// target returns there; the priors of this package return -Inf.
//
// A nil b means BijectionFor(target). Unconstrained panics when target has a
// Dim() int method that differs from b.Dim() (a programmer error). The result
// is safe for concurrent use when target is.
func Unconstrained(target LogProber, b *Bijection) LogProber {
	if b == nil {
		b = BijectionFor(target)
	}
	if dd, ok := target.(interface{ Dim() int }); ok && dd.Dim() != b.Dim() {
		panic(fmt.Sprintf("dist: Unconstrained: target has dimension %d, bijection %d", dd.Dim(), b.Dim()))
	}
	u := &unconstrained{target: target, b: b, pool: newVecPool(b.Dim())}
	g, isG := target.(Gradienter)
	bl, isB := target.(BatchLogProber)
	switch {
	case isG && isB:
		return &unconstrainedGradBatch{unconstrainedGrad{u, g}, unconstrainedBatch{u, bl}}
	case isG:
		return &unconstrainedGrad{u, g}
	case isB:
		return &unconstrainedBatch{u, bl}
	}
	return u
}

type unconstrained struct {
	target LogProber
	b      *Bijection
	pool   *vecPool
}

type unconstrainedGrad struct {
	*unconstrained
	g Gradienter
}

type unconstrainedBatch struct {
	*unconstrained
	bl BatchLogProber
}

type unconstrainedGradBatch struct {
	unconstrainedGrad
	unconstrainedBatch
}

// Resolve the ambiguous promoted methods of unconstrainedGradBatch.

func (u *unconstrainedGradBatch) Dim() int { return u.unconstrainedGrad.Dim() }

func (u *unconstrainedGradBatch) LogProb(z []float64) float64 {
	return u.unconstrainedGrad.LogProb(z)
}

var (
	_ LogProber      = (*unconstrained)(nil)
	_ Gradienter     = (*unconstrainedGrad)(nil)
	_ BatchLogProber = (*unconstrainedBatch)(nil)
	_ Gradienter     = (*unconstrainedGradBatch)(nil)
	_ BatchLogProber = (*unconstrainedGradBatch)(nil)
)

// combine adds the log-Jacobian to the target's log density, giving -Inf
// (not NaN from -Inf + Inf) whenever either is -Inf.
func combine(lp, ladj float64) float64 {
	if lp == math.Inf(-1) || ladj == math.Inf(-1) {
		return math.Inf(-1)
	}
	return lp + ladj
}

func (u *unconstrained) Dim() int { return u.b.Dim() }

func (u *unconstrained) LogProb(z []float64) float64 {
	p := u.pool.get()
	x := *p
	ladj := u.b.Forward(x, z)
	lp := u.target.LogProb(x)
	u.pool.put(p)
	return combine(lp, ladj)
}

func (u *unconstrainedGrad) LogProbGrad(grad, z []float64) float64 {
	p := u.pool.get()
	x := *p
	ladj := u.b.Forward(x, z)
	lp := u.g.LogProbGrad(grad, x)
	u.pool.put(p)
	if lp == math.Inf(-1) || ladj == math.Inf(-1) {
		return math.Inf(-1)
	}
	u.b.PullbackGrad(grad, z, grad)
	return combine(lp, ladj)
}

func (u *unconstrainedBatch) LogProbBatch(dst []float64, z *mat.Dense) []float64 {
	r := checkCols(z, u.b.Dim(), "Unconstrained.LogProbBatch")
	dst = useDst(dst, r, "Unconstrained.LogProbBatch")
	x := mat.NewDense(r, u.b.Dim(), nil)
	ladj := u.b.ForwardBatch(x, z, nil)
	u.bl.LogProbBatch(dst, x)
	for i, l := range ladj {
		dst[i] = combine(dst[i], l)
	}
	return dst
}
