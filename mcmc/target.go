package mcmc

import (
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"

	"github.com/gosbi/gosbi/dist"
)

// Errors about targets and starting points.
var (
	// ErrNaN is returned when the target's log density (or its gradient) is
	// NaN or +Inf; the error message names the point.
	ErrNaN = errors.New("mcmc: target log density is NaN")
	// ErrInitInf is returned when a starting point has log density -Inf, or
	// when an initialisation strategy cannot find a point of positive density.
	ErrInitInf = errors.New("mcmc: starting point has zero density")
	// ErrNoGradient is returned when a gradient-based kernel (HMC, NUTS) is
	// used with a target that does not implement dist.Gradienter.
	ErrNoGradient = errors.New("mcmc: kernel needs a target gradient (dist.Gradienter)")
	// ErrInvalid is returned for invalid arguments and settings.
	ErrInvalid = errors.New("mcmc: invalid argument")
)

// target wraps a dist.LogProber with its optional capabilities and turns NaN
// values into errors that name the point.
type target struct {
	lp    dist.LogProber
	batch dist.BatchLogProber // nil if absent
	grad  dist.Gradienter     // nil if absent
	dim   int
	// b maps the chains' space to the original space of the user's target
	// (nil when they coincide); kernels with densities of their own over
	// the original space (Independence) need it.
	b *dist.Bijection
}

func newTarget(lp dist.LogProber, dim int) *target {
	t := &target{lp: lp, dim: dim}
	t.batch, _ = lp.(dist.BatchLogProber)
	t.grad, _ = lp.(dist.Gradienter)
	return t
}

// nanError reports a bad log density value at x.
func nanError(v float64, x []float64) error {
	return fmt.Errorf("%w: got %v at %v", ErrNaN, v, x)
}

// logProb evaluates the target at x.
func (t *target) logProb(x []float64) (float64, error) {
	v := t.lp.LogProb(x)
	if math.IsNaN(v) || math.IsInf(v, 1) {
		return v, nanError(v, x)
	}
	return v, nil
}

// logProbGrad evaluates the target and its gradient at x. A NaN in the
// gradient at a point of positive density is an error; an infinite gradient
// (overflow far in a tail) makes the point unusable for Hamiltonian
// dynamics, so it is reported as -Inf, which rejects it.
func (t *target) logProbGrad(grad, x []float64) (float64, error) {
	v := t.grad.LogProbGrad(grad, x)
	if math.IsNaN(v) || math.IsInf(v, 1) {
		return v, nanError(v, x)
	}
	if math.IsInf(v, -1) {
		return v, nil
	}
	for i, g := range grad {
		if math.IsNaN(g) {
			return v, fmt.Errorf("%w: gradient element %d is NaN at %v", ErrNaN, i, x)
		}
		if math.IsInf(g, 0) {
			return math.Inf(-1), nil
		}
	}
	return v, nil
}

// logProbRows evaluates the target on every row of x into dst, with one
// batch call when the target offers it.
func (t *target) logProbRows(dst []float64, x *mat.Dense) error {
	r, _ := x.Dims()
	if t.batch != nil {
		t.batch.LogProbBatch(dst[:r], x)
	} else {
		for i := range r {
			dst[i] = t.lp.LogProb(x.RawRowView(i))
		}
	}
	for i := range r {
		if v := dst[i]; math.IsNaN(v) || math.IsInf(v, 1) {
			return nanError(v, x.RawRowView(i))
		}
	}
	return nil
}
