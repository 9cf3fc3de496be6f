package vi

import (
	"bytes"
	"fmt"
	"math"
	"testing"

	"github.com/gosbi/gosbi/dist"
	"github.com/gosbi/gosbi/flows"
	"github.com/gosbi/gosbi/internal/fdcheck"
	"github.com/gosbi/gosbi/nn"
	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat/distuv"
)

// label names the estimator of s.
func label(s Settings) string {
	l := s.Objective.String()
	switch {
	case s.STL:
		l += "+STL"
	case s.DReG:
		l += "+DReG"
	case s.Objective == IWELBO:
		l += fmt.Sprintf("(K=%d)", s.K)
	case s.Objective == Renyi:
		l += fmt.Sprintf("(α=%g)", s.Alpha)
	}
	return l
}

// paramVec returns the values of ps concatenated.
func paramVec(ps []*nn.Tensor) []float64 {
	var v []float64
	for _, p := range ps {
		v = append(v, p.Data...)
	}
	return v
}

// setParams copies v into the values of ps.
func setParams(ps []*nn.Tensor, v []float64) {
	for _, p := range ps {
		copy(p.Data, v[:len(p.Data)])
		v = v[len(p.Data):]
	}
}

// stepGrad returns the loss of one iteration with base noise eps and the
// gradient of its surrogate with respect to q's parameters, as Fit
// computes them.
func stepGrad(o *optimizer, eps *nn.Tensor) (float64, []float64) {
	ps := o.q.Params()
	tp := nn.NewTape()
	tp.FreezeParams = true
	tp.Watch(ps...)
	loss := o.stepLoss(tp, nn.NewNoGradTape(), eps, nil)
	tp.Backward(loss)
	var g []float64
	for _, p := range ps {
		g = append(g, p.Grad...)
	}
	return loss.Item(), g
}

// stepValue returns the loss of one iteration with noise eps, recording
// nothing.
func stepValue(o *optimizer, eps *nn.Tensor) float64 {
	return o.stepLoss(nn.NewNoGradTape(), nn.NewNoGradTape(), eps, nil).Item()
}

// cloneFlow returns a copy of f with frozen (independent) parameters.
func cloneFlow(t *testing.T, f *flows.Flow) *flows.Flow {
	t.Helper()
	var buf bytes.Buffer
	if err := flows.Save(&buf, f); err != nil {
		t.Fatal(err)
	}
	c, err := flows.Load(&buf)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// gradTarget is a target of the gradient tests with the density of z that
// Fit would use.
type gradTarget struct {
	name   string
	target dist.LogProber
}

func gradTargets(t *testing.T) []gradTarget {
	t.Helper()
	gauss, _, _ := correlatedNormal(t, 2, 0.7)
	beta, err := dist.NewIndependent(distuv.Beta{Alpha: 2, Beta: 5}, distuv.Gamma{Alpha: 3, Beta: 2})
	if err != nil {
		t.Fatal(err)
	}
	return []gradTarget{
		{"normal (BatchGradienter)", gauss},
		{"banana (nn potential)", bananaPotential(t, 1, 0.5)},
		{"beta×gamma (bijection)", beta},
	}
}

// newGradQ returns a small MAF on R² with its weights perturbed away from
// their initialisation so that every layer matters.
func newGradQ(t *testing.T, seed uint64) *flows.Flow {
	t.Helper()
	rng := newRand(seed)
	init := mat.NewDense(50, 2, nil)
	for i := range 50 {
		init.Set(i, 0, rng.NormFloat64())
		init.Set(i, 1, 0.5*rng.NormFloat64()+0.3)
	}
	q, err := flows.MAF{Transforms: 2, Hidden: 6, Blocks: 1}.Build(init, nil, rng)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range q.Params() {
		for i := range p.Data {
			p.Data[i] += 0.2 * rng.NormFloat64()
		}
	}
	return q
}

func newOptimizer(t *testing.T, target dist.LogProber, q *flows.Flow, s *Settings) *optimizer {
	t.Helper()
	st, err := s.withDefaults(false)
	if err != nil {
		t.Fatal(err)
	}
	d, err := newDensity(target, q.Dim())
	if err != nil {
		t.Fatal(err)
	}
	b, err := bijectionFor(nil, target, q.Dim())
	if err != nil {
		t.Fatal(err)
	}
	zd := zDensity{d: d}
	if b != nil {
		zd.bj = &bijector{b}
	}
	return &optimizer{q: q, s: st, spec: st.spec(), dens: func(tp *nn.Tape, z, _ *nn.Tensor) *nn.Tensor { return zd.logDensity(tp, z) }}
}

// TestGradientsMatchFiniteDifferences checks every objective's gradient
// with respect to the flow's parameters against central finite differences
// of its value with common random numbers: the same base noise for every
// evaluation, so the Monte Carlo objective is a smooth deterministic
// function of the parameters. The reparameterised objectives (ELBO, IWELBO,
// Rényi) are differentiated as they are; the path-only estimators (STL,
// DReG) and forward KL are differentiated with the quantities that they
// hold fixed (q's parameters inside log q, the importance weights, the
// draws) frozen at the current parameters, which is what they estimate.
// Tolerance: central differences with step 6e-6 are accurate to about
// 1e-8 relative for these smooth (tanh, softplus, sigmoid) functions; 1e-5
// leaves room for cancellation in sums of many terms, and an error in the
// backward pass (a missing term, a wrong sign, a wrong weight) is O(1).
func TestGradientsMatchFiniteDifferences(t *testing.T) {
	t.Parallel()
	const n = 16 // particles; multiple of K
	settings := []Settings{
		{Objective: ReverseKL},
		{Objective: ReverseKL, STL: true},
		{Objective: IWELBO, K: 4},
		{Objective: IWELBO, K: 4, DReG: true},
		{Objective: Renyi, Alpha: 0.3},
		{Objective: Renyi, Alpha: -0.5},
		{Objective: ForwardKL},
	}
	for _, tg := range gradTargets(t) {
		for si, s := range settings {
			s.Particles = n
			q := newGradQ(t, uint64(si+1))
			o := newOptimizer(t, tg.target, q, &s)
			rng := newRand(uint64(100 + si))
			eps := nn.New(n, 2)
			for i := range eps.Data {
				eps.Data[i] = rng.NormFloat64()
			}
			_, got := stepGrad(o, eps)
			ps := q.Params()
			phi0 := paramVec(ps)
			value := surrogateValue(t, o, eps)
			want := fdcheck.Gradient(func(phi []float64) float64 {
				setParams(ps, phi)
				defer setParams(ps, phi0)
				return value()
			}, phi0, 0)
			if err, at := fdcheck.RelErr(got, want, 1e-3); err > 1e-5 || math.IsNaN(err) {
				t.Errorf("%s, %s: gradient[%d] = %.8g, finite difference %.8g (relative error %.2g)",
					tg.name, label(s), at, got[at], want[at], err)
			}
		}
	}
}

// surrogateValue returns the function of the current parameters whose
// gradient the estimator of o computes, with the noise eps.
func surrogateValue(t *testing.T, o *optimizer, eps *nn.Tensor) func() float64 {
	t.Helper()
	s := o.s
	if !s.STL && !s.DReG && s.Objective != ForwardKL {
		return func() float64 { return stepValue(o, eps) }
	}
	q0 := cloneFlow(t, o.q) // log q with the parameters held fixed
	ng := nn.NewNoGradTape()
	n := eps.Rows
	x0, _ := o.q.RSample(ng, eps, nil)
	lp0 := append([]float64(nil), o.dens(ng, x0, nil).Data...)
	lq0 := q0.LogProbBatch(nil, x0.Dense(), nil)
	coef := make([]float64, 3*n)
	o.spec.compute(lp0, lq0, coef) // the weights at the current parameters
	theta0 := mat.DenseCopyOf(x0.Dense())
	return func() float64 {
		tp := nn.NewNoGradTape()
		if s.Objective == ForwardKL {
			// -Σ w̃_i log q_φ(θ_i) with draws and weights fixed.
			lq := o.q.LogProbBatch(nil, theta0, nil)
			var v float64
			for i := range n {
				v += coef[3*i+1] * lq[i]
			}
			return v
		}
		// Path-only: Σ a_i (log p̃(x_φ,i) - log q_φ0(x_φ,i)) with the loss
		// weights a_i = ∂loss/∂lw_i fixed.
		x, _ := o.q.RSample(tp, eps, nil)
		lp := o.dens(tp, x, nil)
		lq := q0.LogProbBatch(nil, x.Dense(), nil)
		var v float64
		for i := range n {
			v += coef[3*i] * (lp.Data[i] - lq[i])
		}
		return v
	}
}

// TestPathEstimatorsVanishAtOptimum checks the defining property of the
// sticking-the-landing and DReG estimators: when q equals the target, every
// single-draw gradient is zero (the log weights are constant), while the
// standard reparameterised estimators still carry the score term, whose
// expectation but not value is zero (Roeder et al. 2017, section 4; Tucker
// et al. 2019, section 4). The target is N(μ, diag σ²) and q is the
// Gaussian family started exactly there.
func TestPathEstimatorsVanishAtOptimum(t *testing.T) {
	t.Parallel()
	mu, sd := []float64{0.5, -1}, []float64{1.5, 0.7}
	target, err := dist.NewDiagNormal(mu, sd)
	if err != nil {
		t.Fatal(err)
	}
	rng := newRand(7)
	eps := nn.New(32, 2)
	for i := range eps.Data {
		eps.Data[i] = rng.NormFloat64()
	}
	for _, tc := range []struct {
		s    Settings
		zero bool
	}{
		{Settings{Objective: ReverseKL}, false},
		{Settings{Objective: ReverseKL, STL: true}, true},
		{Settings{Objective: IWELBO, K: 8}, false},
		{Settings{Objective: IWELBO, K: 8, DReG: true}, true},
	} {
		q, err := NewGaussian(mu, sd)
		if err != nil {
			t.Fatal(err)
		}
		tc.s.Particles = 32
		loss, g := stepGrad(newOptimizer(t, target, q, &tc.s), eps)
		var norm float64
		for _, v := range g {
			norm += v * v
		}
		norm = math.Sqrt(norm)
		// Rounding in log q and log p̃ leaves gradients of order 1e-15;
		// the score term of 32 draws is of order 1/√32 ≈ 0.2.
		if tc.zero && norm > 1e-10 {
			t.Errorf("%s: gradient norm %.3g at q = p, want 0", label(tc.s), norm)
		}
		if !tc.zero && norm < 1e-3 {
			t.Errorf("%s: gradient norm %.3g at q = p, want the nonzero score term", label(tc.s), norm)
		}
		// ELBO and IWELBO equal log Z = 0 at q = p.
		if math.Abs(loss) > 1e-12 {
			t.Errorf("%s: loss %.3g at q = p, want 0", label(tc.s), loss)
		}
	}
}
