package vi

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/gosbi/gosbi/dist"
	"github.com/gosbi/gosbi/flows"
	"github.com/gosbi/gosbi/nn"
	"gonum.org/v1/gonum/mat"
)

// AmortizedPosterior is a conditional flow q(θ | x) fitted by FitAmortized:
// Condition(x) returns the Posterior at the context x with no further
// training. It implements dist.Conditional and is safe for concurrent use
// once the fit is over.
type AmortizedPosterior struct {
	q      *flows.Flow
	b      *dist.Bijection
	target ConditionalTarget
}

var _ dist.Conditional = (*AmortizedPosterior)(nil)

// Flow returns the fitted conditional flow (over unconstrained coordinates).
func (a *AmortizedPosterior) Flow() *flows.Flow { return a.q }

// Bijection returns the map from q's space onto the support, or nil for
// the identity.
func (a *AmortizedPosterior) Bijection() *dist.Bijection { return a.b }

// Condition returns the posterior at context x (copied) as a dist.Distribution
// whose dynamic type is *Posterior. It panics if len(x) != the context
// dimension.
func (a *AmortizedPosterior) Condition(x []float64) dist.Distribution {
	return a.Posterior(x)
}

// Posterior returns the posterior at context x (copied). It panics if
// len(x) != the context dimension.
func (a *AmortizedPosterior) Posterior(x []float64) *Posterior {
	if len(x) != a.q.ContextDim() {
		panic(fmt.Sprintf("vi: AmortizedPosterior: context of length %d, want %d", len(x), a.q.ContextDim()))
	}
	c := append([]float64(nil), x...)
	zd := zDensity{d: condDensity{a.target, c}}
	if a.b != nil {
		zd.bj = &bijector{a.b}
	}
	return &Posterior{q: a.q, qd: a.q.Condition(c), c: mat.NewDense(1, len(c), c), b: a.b, target: zd}
}

// condDensity is a ConditionalTarget at a fixed context.
type condDensity struct {
	t ConditionalTarget
	c []float64
}

func (d condDensity) logDensity(tp *nn.Tape, theta *nn.Tensor) *nn.Tensor {
	return checkOut(d.t.LogDensity(tp, theta, repeatRow(tp, d.c, theta.Rows)), theta.Rows)
}

// FitAmortized fits a conditional flow q(θ | x) to the family of
// unnormalised densities target(θ | x) over the training contexts xs (one
// per row, for example simulated data from the prior predictive): amortised
// variational inference, as a likelihood-based potential log p(x | θ) +
// log p(θ) gives a posterior for every x in one fit. Each iteration draws
// Settings.ContextsPerStep contexts from xs (with replacement) and
// Particles/ContextsPerStep particles from q(· | x) for each, and takes a
// step on the average of the per-context objectives (ForwardKL and Renyi
// normalise their weights within each context, IWELBO groups stay within a
// context). Quality control runs PSIS on the first Settings.QualityContexts
// rows of xs; Result.Khat is the largest k̂.
//
// q's context dimension must equal target.ContextDim() and its dimension
// target.Dim(); Settings.Bijection places q in unconstrained space as for
// Fit (a target implementing dist.Bounded selects it too). Otherwise it
// behaves as Fit: errors wrap ErrConfig, ErrTarget, ErrData (empty or
// non-finite xs) or ErrNonFinite, and cancellation returns the posterior so
// far with an error wrapping the cause.
func FitAmortized(ctx context.Context, target ConditionalTarget, q *flows.Flow, xs *mat.Dense, rng *rand.Rand, settings *Settings) (*AmortizedPosterior, *Result, error) {
	if q == nil {
		return nil, nil, fmt.Errorf("vi: nil flow: %w", ErrConfig)
	}
	if rng == nil {
		return nil, nil, fmt.Errorf("vi: nil rng: %w", ErrConfig)
	}
	if target == nil {
		return nil, nil, fmt.Errorf("vi: nil target: %w", ErrTarget)
	}
	if target.Dim() != q.Dim() || target.ContextDim() != q.ContextDim() || q.ContextDim() == 0 {
		return nil, nil, fmt.Errorf("vi: target of dimensions (%d | %d) for q of dimensions (%d | %d): %w",
			target.Dim(), target.ContextDim(), q.Dim(), q.ContextDim(), ErrTarget)
	}
	if xs == nil {
		return nil, nil, fmt.Errorf("vi: no training contexts: %w", ErrData)
	}
	nx, cx := xs.Dims()
	if nx == 0 || cx != q.ContextDim() {
		return nil, nil, fmt.Errorf("vi: training contexts are %d×%d, want N×%d: %w", nx, cx, q.ContextDim(), ErrData)
	}
	for i := range nx {
		for j, v := range xs.RawRowView(i) {
			if !finite(v) {
				return nil, nil, fmt.Errorf("vi: context %d, column %d is %v: %w", i, j, v, ErrData)
			}
		}
	}
	s, err := settings.withDefaults(true)
	if err != nil {
		return nil, nil, err
	}
	b, err := bijectionFor(s.Bijection, target, q.Dim())
	if err != nil {
		return nil, nil, err
	}
	var bj *bijector
	if b != nil {
		bj = &bijector{b}
	}
	dens := func(tp *nn.Tape, z, c *nn.Tensor) *nn.Tensor {
		if bj == nil {
			return checkOut(target.LogDensity(tp, z, c), z.Rows)
		}
		x, ladj := bj.forward(tp, z)
		return tp.Add(checkOut(target.LogDensity(tp, x, c), z.Rows), ladj)
	}
	start := time.Now()
	o := &optimizer{q: q, s: s, spec: s.spec(), dens: dens, contexts: mat.DenseCopyOf(xs)}
	res, runErr := o.run(ctx, rng, start)
	post := &AmortizedPosterior{q: q, b: b, target: target}
	if runErr == nil && s.QualitySamples > 0 {
		res.Khat = math.NaN()
		for i := range min(s.QualityContexts, nx) {
			k := math.NaN()
			if pr, err := post.Posterior(xs.RawRowView(i)).PSIS(s.QualitySamples, rng); err != nil {
				res.Warnings = append(res.Warnings, fmt.Sprintf("quality control at context %d failed: %v", i, err))
			} else {
				k = pr.Khat
				if math.IsNaN(res.Khat) || k > res.Khat {
					res.Khat = k
				}
				if k > KhatThreshold {
					res.Warnings = append(res.Warnings, fmt.Sprintf("PSIS k̂ = %.2f > %.1f at context %d: q is a poor fit there", k, KhatThreshold, i))
				}
			}
			res.KhatPerContext = append(res.KhatPerContext, k)
		}
	}
	res.Runtime = time.Since(start)
	return post, res, runErr
}
