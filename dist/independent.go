package dist

import (
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat/distuv"
)

// Univariate is a one-dimensional continuous distribution. The continuous
// distributions of gonum.org/v1/gonum/stat/distuv satisfy it. LogProb returns
// the log density at x and Quantile the inverse of the cumulative
// distribution function at p in [0, 1].
type Univariate interface {
	LogProb(x float64) float64
	Quantile(p float64) float64
}

// Independent is the product of one-dimensional distributions, one per
// dimension: log p(x) = Σ_i log p_i(x_i). It lets a prior mix, for example, a
// Gamma, a Beta and a Normal.
//
// The following distuv types (as values or non-nil pointers) are known: their
// parameters are validated, their supports are exact, their gradients are
// analytic and they are sampled with the rng passed to Sample: Uniform,
// Normal, LogNormal, Exponential, Gamma, Beta, Weibull, Laplace, Logistic,
// StudentsT, GumbelRight, InverseGamma, ChiSquared, Chi, Pareto and F. Any Src
// field of a component is ignored. The discrete distuv types (Bernoulli,
// Binomial, Poisson, Categorical) are rejected: Bernoulli explicitly, the
// others because they have no Quantile method.
//
// Any other Univariate is handled by documented generic rules:
//   - support: [Quantile(0), Quantile(1)], where a NaN or a panic gives an
//     infinite side;
//   - sampling: inverse CDF, Quantile(u) with u = rng.Float64() redrawn until
//     it is not 0;
//   - gradient: the component's ScoreInput(x float64) float64 method (d log p /
//     dx) when it has one, else a central finite difference of LogProb with
//     step 6e-6·max(1, |x|) (one-sided next to a bound), accurate to about 1e-8
//     relative;
//   - mean and standard deviation: the component's Mean() and StdDev()
//     methods, NaN when it has none.
type Independent struct {
	comps  []component
	lo, hi []float64
}

// component is one dimension of an Independent.
type component struct {
	u         Univariate
	logProb   func(x float64) float64 // log density, usually u.LogProb
	draw      func(rng *rand.Rand) float64
	score     func(x float64) float64 // d log p / dx inside the support
	mean, std float64
}

var (
	_ Distribution    = (*Independent)(nil)
	_ BatchSampler    = (*Independent)(nil)
	_ BatchLogProber  = (*Independent)(nil)
	_ Bounded         = (*Independent)(nil)
	_ Gradienter      = (*Independent)(nil)
	_ BatchGradienter = (*Independent)(nil)
	_ Meaner          = (*Independent)(nil)
	_ Stder           = (*Independent)(nil)
)

// NewIndependent returns the product of components, component i giving the
// distribution of x_i. It returns an error wrapping ErrDim when there are no
// components, and one wrapping ErrParam when a component is nil, discrete, has
// invalid parameters (NaN or infinite values, non-positive scales or shapes,
// Min >= Max) or an empty support.
func NewIndependent(components ...Univariate) (*Independent, error) {
	const who = "new independent"
	if len(components) == 0 {
		return nil, fmt.Errorf("%s: zero dimension: %w", who, ErrDim)
	}
	d := len(components)
	ind := &Independent{
		comps: make([]component, d),
		lo:    make([]float64, d),
		hi:    make([]float64, d),
	}
	for i, u := range components {
		c, lo, hi, err := newComponent(u)
		if err != nil {
			return nil, fmt.Errorf("%s: component %d (%T): %w", who, i, u, err)
		}
		ind.comps[i] = c
		ind.lo[i], ind.hi[i] = lo, hi
	}
	return ind, nil
}

// Component returns the i-th component as it is used (pointers to known types
// dereferenced). For distuv.Logistic, Independent.LogProb does not call the
// component's LogProb, which in gonum v0.17 ignores Mu and S, but the
// correct logistic density.
func (ind *Independent) Component(i int) Univariate { return ind.comps[i].u }

// Dim returns the number of components.
func (ind *Independent) Dim() int { return len(ind.comps) }

// Bounds returns the supports of the components. The slices must not be
// modified.
func (ind *Independent) Bounds() (lo, hi []float64) { return ind.lo, ind.hi }

// LogProb returns Σ_i log p_i(x_i), -Inf when some x_i is outside its
// component's support, infinite or NaN. It panics if len(x) != Dim().
func (ind *Independent) LogProb(x []float64) float64 {
	checkLen(x, len(ind.comps), "Independent.LogProb")
	lp := 0.0
	for i, v := range x {
		if !(v >= ind.lo[i] && v <= ind.hi[i]) || math.IsInf(v, 0) {
			return math.Inf(-1)
		}
		lp += ind.comps[i].logProb(v)
	}
	return lp
}

// LogProbGrad writes d log p_i / dx_i into grad[i] and returns the log
// density. grad may alias x. It panics if len(x) or len(grad) != Dim().
func (ind *Independent) LogProbGrad(grad, x []float64) float64 {
	checkLen(x, len(ind.comps), "Independent.LogProbGrad")
	checkLen(grad, len(ind.comps), "Independent.LogProbGrad")
	lp := 0.0
	for i, v := range x {
		if !(v >= ind.lo[i] && v <= ind.hi[i]) || math.IsInf(v, 0) {
			return math.Inf(-1)
		}
		c := &ind.comps[i]
		lp += c.logProb(v)
		grad[i] = c.score(v)
	}
	return lp
}

// Sample writes one draw per component, in order, into dst (allocated if
// nil) and returns dst. All randomness comes from rng. It panics if dst has
// the wrong length.
func (ind *Independent) Sample(dst []float64, rng *rand.Rand) []float64 {
	dst = useDst(dst, len(ind.comps), "Independent.Sample")
	for i := range dst {
		dst[i] = ind.comps[i].draw(rng)
	}
	return dst
}

// SampleBatch fills every row of dst with a draw, in the same order as
// repeated calls to Sample. It panics if dst does not have Dim() columns.
func (ind *Independent) SampleBatch(dst *mat.Dense, rng *rand.Rand) {
	r := checkCols(dst, len(ind.comps), "Independent.SampleBatch")
	for i := range r {
		ind.Sample(dst.RawRowView(i), rng)
	}
}

// LogProbBatch writes the log density of every row of x into dst (allocated
// if nil) and returns dst. It panics on a shape mismatch.
func (ind *Independent) LogProbBatch(dst []float64, x *mat.Dense) []float64 {
	r := checkCols(x, len(ind.comps), "Independent.LogProbBatch")
	dst = useDst(dst, r, "Independent.LogProbBatch")
	for i := range r {
		dst[i] = ind.LogProb(x.RawRowView(i))
	}
	return dst
}

// LogProbGradBatch is the batched LogProbGrad. It panics on a shape mismatch.
func (ind *Independent) LogProbGradBatch(dst []float64, grad, x *mat.Dense) []float64 {
	r := checkCols(x, len(ind.comps), "Independent.LogProbGradBatch")
	checkShape(grad, r, len(ind.comps), "Independent.LogProbGradBatch")
	dst = useDst(dst, r, "Independent.LogProbGradBatch")
	for i := range r {
		dst[i] = ind.LogProbGrad(grad.RawRowView(i), x.RawRowView(i))
	}
	return dst
}

// Mean writes the component means into dst (allocated if nil) and returns it.
// An entry is NaN when the component does not report its mean, and may be
// infinite or NaN when the mean does not exist (e.g. StudentsT with Nu <= 1).
func (ind *Independent) Mean(dst []float64) []float64 {
	dst = useDst(dst, len(ind.comps), "Independent.Mean")
	for i := range dst {
		dst[i] = ind.comps[i].mean
	}
	return dst
}

// Std writes the component standard deviations into dst (allocated if nil)
// and returns it, with the same NaN rules as Mean.
func (ind *Independent) Std(dst []float64) []float64 {
	dst = useDst(dst, len(ind.comps), "Independent.Std")
	for i := range dst {
		dst[i] = ind.comps[i].std
	}
	return dst
}

// deref returns *p as a Univariate, or an error for a nil pointer.
func deref[T Univariate](p *T) (Univariate, error) {
	if p == nil {
		return nil, fmt.Errorf("nil pointer: %w", ErrParam)
	}
	return *p, nil
}

// derefKnown replaces pointers to known distuv types by their values.
func derefKnown(u Univariate) (Univariate, error) {
	switch v := u.(type) {
	case *distuv.Uniform:
		return deref(v)
	case *distuv.Normal:
		return deref(v)
	case *distuv.LogNormal:
		return deref(v)
	case *distuv.Exponential:
		return deref(v)
	case *distuv.Gamma:
		return deref(v)
	case *distuv.Beta:
		return deref(v)
	case *distuv.Weibull:
		return deref(v)
	case *distuv.Laplace:
		return deref(v)
	case *distuv.Logistic:
		return deref(v)
	case *distuv.StudentsT:
		return deref(v)
	case *distuv.GumbelRight:
		return deref(v)
	case *distuv.InverseGamma:
		return deref(v)
	case *distuv.ChiSquared:
		return deref(v)
	case *distuv.Chi:
		return deref(v)
	case *distuv.Pareto:
		return deref(v)
	case *distuv.F:
		return deref(v)
	}
	return u, nil
}

// finite returns an ErrParam error unless every value is finite.
func finite(names string, vals ...float64) error {
	for _, v := range vals {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("%s = %v: parameters must be finite: %w", names, vals, ErrParam)
		}
	}
	return nil
}

// positive returns an ErrParam error unless every value is finite and > 0.
func positive(names string, vals ...float64) error {
	for _, v := range vals {
		if !(v > 0) || math.IsInf(v, 1) {
			return fmt.Errorf("%s = %v: parameters must be finite and positive: %w", names, vals, ErrParam)
		}
	}
	return nil
}

// newComponent validates u and returns its component and support.
func newComponent(u Univariate) (c component, lo, hi float64, err error) {
	if u == nil {
		return c, 0, 0, fmt.Errorf("nil component: %w", ErrParam)
	}
	if u, err = derefKnown(u); err != nil {
		return c, 0, 0, err
	}
	inf := math.Inf(1)
	c.u = u
	c.logProb = u.LogProb
	c.mean, c.std = math.NaN(), math.NaN()
	if m, ok := u.(interface{ Mean() float64 }); ok {
		c.mean = m.Mean()
	}
	if s, ok := u.(interface{ StdDev() float64 }); ok {
		c.std = s.StdDev()
	}
	switch v := u.(type) {
	case distuv.Bernoulli, *distuv.Bernoulli:
		return c, 0, 0, fmt.Errorf("discrete distributions are not supported: %w", ErrParam)

	case distuv.Uniform:
		if err := finite("Min, Max", v.Min, v.Max); err != nil {
			return c, 0, 0, err
		}
		if !(v.Min < v.Max) || math.IsInf(v.Max-v.Min, 0) {
			return c, 0, 0, fmt.Errorf("Min = %v, Max = %v: need Min < Max: %w", v.Min, v.Max, ErrParam)
		}
		lo, hi = v.Min, v.Max
		c.draw = func(rng *rand.Rand) float64 { return v.Min + (v.Max-v.Min)*rng.Float64() }
		c.score = func(float64) float64 { return 0 }

	case distuv.Normal:
		if err := finite("Mu", v.Mu); err != nil {
			return c, 0, 0, err
		}
		if err := positive("Sigma", v.Sigma); err != nil {
			return c, 0, 0, err
		}
		lo, hi = -inf, inf
		c.draw = func(rng *rand.Rand) float64 { return v.Mu + v.Sigma*rng.NormFloat64() }
		c.score = func(x float64) float64 { return -(x - v.Mu) / (v.Sigma * v.Sigma) }

	case distuv.LogNormal:
		if err := finite("Mu", v.Mu); err != nil {
			return c, 0, 0, err
		}
		if err := positive("Sigma", v.Sigma); err != nil {
			return c, 0, 0, err
		}
		lo, hi = 0, inf
		c.draw = func(rng *rand.Rand) float64 { return math.Exp(v.Mu + v.Sigma*rng.NormFloat64()) }
		c.score = func(x float64) float64 {
			return -(1 + (math.Log(x)-v.Mu)/(v.Sigma*v.Sigma)) / x
		}

	case distuv.Exponential:
		if err := positive("Rate", v.Rate); err != nil {
			return c, 0, 0, err
		}
		lo, hi = 0, inf
		c.draw = func(rng *rand.Rand) float64 { return rng.ExpFloat64() / v.Rate }
		c.score = func(float64) float64 { return -v.Rate }

	case distuv.Gamma:
		if err := positive("Alpha, Beta", v.Alpha, v.Beta); err != nil {
			return c, 0, 0, err
		}
		lo, hi = 0, inf
		c.draw = func(rng *rand.Rand) float64 { w := v; w.Src = rng; return w.Rand() }
		c.score = func(x float64) float64 { return (v.Alpha-1)/x - v.Beta }

	case distuv.Beta:
		if err := positive("Alpha, Beta", v.Alpha, v.Beta); err != nil {
			return c, 0, 0, err
		}
		lo, hi = 0, 1
		c.draw = func(rng *rand.Rand) float64 { w := v; w.Src = rng; return w.Rand() }
		c.score = func(x float64) float64 { return (v.Alpha-1)/x - (v.Beta-1)/(1-x) }

	case distuv.Weibull:
		if err := positive("K, Lambda", v.K, v.Lambda); err != nil {
			return c, 0, 0, err
		}
		lo, hi = 0, inf
		// (x/λ)^k ~ Exp(1).
		c.draw = func(rng *rand.Rand) float64 { return v.Lambda * math.Pow(rng.ExpFloat64(), 1/v.K) }
		c.score = func(x float64) float64 { return ((v.K - 1) - v.K*math.Pow(x/v.Lambda, v.K)) / x }

	case distuv.Laplace:
		if err := finite("Mu", v.Mu); err != nil {
			return c, 0, 0, err
		}
		if err := positive("Scale", v.Scale); err != nil {
			return c, 0, 0, err
		}
		lo, hi = -inf, inf
		// The difference of two Exp(1) draws is Laplace(0, 1).
		c.draw = func(rng *rand.Rand) float64 {
			return v.Mu + v.Scale*(rng.ExpFloat64()-rng.ExpFloat64())
		}
		c.score = func(x float64) float64 {
			switch {
			case x > v.Mu:
				return -1 / v.Scale
			case x < v.Mu:
				return 1 / v.Scale
			}
			return 0
		}

	case distuv.Logistic:
		if err := finite("Mu", v.Mu); err != nil {
			return c, 0, 0, err
		}
		if err := positive("S", v.S); err != nil {
			return c, 0, 0, err
		}
		lo, hi = -inf, inf
		// gonum v0.17's Logistic.LogProb ignores Mu and S (it is the standard
		// logistic density), so use log p = -|t| - 2 log1p(exp(-|t|)) - log S
		// with t = (x-Mu)/S.
		logS := math.Log(v.S)
		c.logProb = func(x float64) float64 {
			t := math.Abs((x - v.Mu) / v.S)
			return -t - 2*math.Log1p(math.Exp(-t)) - logS
		}
		c.draw = func(rng *rand.Rand) float64 {
			u := rng.Float64()
			for u == 0 {
				u = rng.Float64()
			}
			return v.Mu + v.S*(math.Log(u)-math.Log1p(-u))
		}
		c.score = func(x float64) float64 { return -math.Tanh((x-v.Mu)/(2*v.S)) / v.S }

	case distuv.StudentsT:
		if err := finite("Mu", v.Mu); err != nil {
			return c, 0, 0, err
		}
		if err := positive("Sigma, Nu", v.Sigma, v.Nu); err != nil {
			return c, 0, 0, err
		}
		lo, hi = -inf, inf
		c.draw = func(rng *rand.Rand) float64 { w := v; w.Src = rng; return w.Rand() }
		c.score = func(x float64) float64 {
			r := x - v.Mu
			return -(v.Nu + 1) * r / (v.Nu*v.Sigma*v.Sigma + r*r)
		}

	case distuv.GumbelRight:
		if err := finite("Mu", v.Mu); err != nil {
			return c, 0, 0, err
		}
		if err := positive("Beta", v.Beta); err != nil {
			return c, 0, 0, err
		}
		lo, hi = -inf, inf
		// -log E is standard Gumbel for E ~ Exp(1).
		c.draw = func(rng *rand.Rand) float64 { return v.Mu - v.Beta*math.Log(rng.ExpFloat64()) }
		c.score = func(x float64) float64 { return math.Expm1(-(x-v.Mu)/v.Beta) / v.Beta }

	case distuv.InverseGamma:
		if err := positive("Alpha, Beta", v.Alpha, v.Beta); err != nil {
			return c, 0, 0, err
		}
		lo, hi = 0, inf
		c.draw = func(rng *rand.Rand) float64 { w := v; w.Src = rng; return w.Rand() }
		c.score = func(x float64) float64 { return (v.Beta/x - (v.Alpha + 1)) / x }

	case distuv.ChiSquared:
		if err := positive("K", v.K); err != nil {
			return c, 0, 0, err
		}
		lo, hi = 0, inf
		c.draw = func(rng *rand.Rand) float64 { w := v; w.Src = rng; return w.Rand() }
		c.score = func(x float64) float64 { return (v.K/2-1)/x - 0.5 }

	case distuv.Chi:
		if err := positive("K", v.K); err != nil {
			return c, 0, 0, err
		}
		lo, hi = 0, inf
		c.draw = func(rng *rand.Rand) float64 { w := v; w.Src = rng; return w.Rand() }
		c.score = func(x float64) float64 { return (v.K-1)/x - x }

	case distuv.Pareto:
		if err := positive("Xm, Alpha", v.Xm, v.Alpha); err != nil {
			return c, 0, 0, err
		}
		lo, hi = v.Xm, inf
		// log(x/xm) ~ Exp(α).
		c.draw = func(rng *rand.Rand) float64 { return v.Xm * math.Exp(rng.ExpFloat64()/v.Alpha) }
		c.score = func(x float64) float64 { return -(v.Alpha + 1) / x }

	case distuv.F:
		if err := positive("D1, D2", v.D1, v.D2); err != nil {
			return c, 0, 0, err
		}
		lo, hi = 0, inf
		c.draw = func(rng *rand.Rand) float64 { w := v; w.Src = rng; return w.Rand() }
		c.score = func(x float64) float64 {
			return (v.D1/2-1)/x - (v.D1+v.D2)/2*v.D1/(v.D1*x+v.D2)
		}

	default:
		lo, hi = genericBounds(u)
		if !(lo < hi) {
			return c, 0, 0, fmt.Errorf("empty support [%v, %v]: %w", lo, hi, ErrParam)
		}
		c.draw = func(rng *rand.Rand) float64 {
			p := rng.Float64()
			for p == 0 {
				p = rng.Float64()
			}
			return u.Quantile(p)
		}
		if s, ok := u.(interface{ ScoreInput(float64) float64 }); ok {
			c.score = s.ScoreInput
		} else {
			c.score = fdScore(u, lo, hi)
		}
	}
	return c, lo, hi, nil
}

// genericBounds returns [Quantile(0), Quantile(1)], with an infinite side for
// a NaN or a panic.
func genericBounds(u Univariate) (lo, hi float64) {
	q := func(p, fallback float64) (v float64) {
		defer func() {
			if recover() != nil {
				v = fallback
			}
		}()
		v = u.Quantile(p)
		if math.IsNaN(v) {
			v = fallback
		}
		return v
	}
	return q(0, math.Inf(-1)), q(1, math.Inf(1))
}

// fdScore returns a finite-difference derivative of u.LogProb: central with
// step h = cbrt(ε)·max(1, |x|) ≈ 6e-6·max(1, |x|) (the step that balances
// truncation and rounding error), one-sided when a neighbour leaves [lo, hi].
func fdScore(u Univariate, lo, hi float64) func(float64) float64 {
	const step = 6.0554544523933395e-06 // cbrt(2^-52)
	return func(x float64) float64 {
		h := step * math.Max(1, math.Abs(x))
		a, b := x-h, x+h
		switch {
		case a < lo && b > hi:
			return math.NaN()
		case a < lo:
			a = x
		case b > hi:
			b = x
		}
		return (u.LogProb(b) - u.LogProb(a)) / (b - a)
	}
}
