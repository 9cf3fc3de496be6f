package mcmc

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/gosbi/gosbi/dist"
)

// Independence is independence Metropolis–Hastings (Tierney 1994): the
// proposal x' ~ q does not depend on the current point, and is accepted with
// probability min(1, p(x')q(x) / (p(x)q(x'))). With a proposal close to the
// target, such as a trained normalising flow, it makes global moves between
// modes; its acceptance rate measures how close q is to p. The proposal must
// cover the target's support (heavier tails than the target keep the chain
// uniformly ergodic).
//
// The proposal is a density over the original space of the target. When
// the chains move in unconstrained space (Settings.Space), a draw x' ~ q is
// mapped to z' = T⁻¹(x') and its density to q(x')·|dx/dz|, so the kernel
// stays exact; a draw on or outside the bounds is rejected.
type Independence struct {
	// Proposal is the distribution q; it must have the target's dimension.
	Proposal dist.Distribution
}

// Mixture is a random mixture of per-chain kernels: each transition applies
// Kernels[k] with probability Weights[k] (equal weights when Weights is
// nil). Each component leaves the target invariant, so the mixture does too
// (Tierney 1994, section 2.4). A typical use alternates local moves (Slice,
// HMC, NUTS, RandomWalk) with global Independence moves from a flow.
// During warmup each component adapts on the transitions it makes.
// SliceVectorized cannot be a component.
type Mixture struct {
	Kernels []Kernel
	Weights []float64
}

var (
	_ chainKernel = Independence{}
	_ chainKernel = Mixture{}
)

func (Independence) kernelName() string { return "independence" }
func (Mixture) kernelName() string      { return "mixture" }

type indepChain struct {
	t       *target
	q       dist.Distribution
	prop    []float64 // proposal in the chains' space
	xprop   []float64 // proposal in the original space
	xcur    []float64 // current point in the original space
	lq      float64   // log q at the current point
	cached  bool
	version uint64
}

func (s Independence) newChain(t *target, _ int) (chainState, error) {
	if s.Proposal == nil {
		return nil, fmt.Errorf("%w: Independence has a nil Proposal", ErrInvalid)
	}
	if d := s.Proposal.Dim(); d != t.dim {
		return nil, fmt.Errorf("%w: Independence proposal has dimension %d, target %d", ErrInvalid, d, t.dim)
	}
	return &indepChain{t: t, q: s.Proposal, prop: make([]float64, t.dim),
		xprop: make([]float64, t.dim), xcur: make([]float64, t.dim)}, nil
}

// logQ returns the proposal's log density at a point z of the chains'
// space, using x as scratch for the original space.
func (c *indepChain) logQ(z, x []float64) float64 {
	if c.t.b == nil {
		return c.q.LogProb(z)
	}
	ladj := c.t.b.Forward(x, z)
	return c.q.LogProb(x) + ladj
}

// draw samples a proposal into c.prop and returns its log density there;
// -Inf when the draw falls on or outside the bounds of the support.
func (c *indepChain) draw(rng *rand.Rand) float64 {
	if c.t.b == nil {
		c.q.Sample(c.prop, rng)
		return c.q.LogProb(c.prop)
	}
	c.q.Sample(c.xprop, rng)
	ladjInv := c.t.b.Inverse(c.prop, c.xprop)
	for _, v := range c.prop {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return math.Inf(-1)
		}
	}
	return c.q.LogProb(c.xprop) - ladjInv
}

func (c *indepChain) begin(*point, *rand.Rand) error { return nil }

func (c *indepChain) step(p *point, rng *rand.Rand, _ bool) error {
	if !c.cached || c.version != p.version {
		c.lq = c.logQ(p.x, c.xcur)
		if math.IsNaN(c.lq) {
			return fmt.Errorf("%w: proposal log density is NaN at %v", ErrNaN, p.x)
		}
		c.cached, c.version = true, p.version
	}
	lqp := c.draw(rng)
	if math.IsNaN(lqp) {
		return fmt.Errorf("%w: proposal log density is NaN at %v", ErrNaN, c.prop)
	}
	if math.IsInf(lqp, -1) {
		p.accept, p.divergent = 0, false
		return nil
	}
	lp, err := c.t.logProb(c.prop)
	p.evals++
	if err != nil {
		return err
	}
	alpha := 0.0
	if !math.IsInf(lp, -1) {
		alpha = math.Min(1, math.Exp(lp-p.lp+c.lq-lqp))
	}
	if rng.Float64() < alpha {
		copy(p.x, c.prop)
		p.lp = lp
		p.moved()
		c.lq, c.version = lqp, p.version
	}
	p.accept, p.divergent = alpha, false
	return nil
}

func (c *indepChain) endWarmup()        {}
func (c *indepChain) stepSize() float64 { return math.NaN() }

type mixChain struct {
	comps []chainState
	cum   []float64 // cumulative normalised weights
}

func (m Mixture) newChain(t *target, warmup int) (chainState, error) {
	n := len(m.Kernels)
	if n == 0 {
		return nil, fmt.Errorf("%w: Mixture has no kernels", ErrInvalid)
	}
	w := m.Weights
	if w == nil {
		w = make([]float64, n)
		for i := range w {
			w[i] = 1
		}
	}
	if len(w) != n {
		return nil, fmt.Errorf("%w: Mixture has %d kernels and %d weights", ErrInvalid, n, len(w))
	}
	var sum float64
	for i, v := range w {
		if !(v >= 0) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("%w: Mixture weight %d is %v", ErrInvalid, i, v)
		}
		sum += v
	}
	if sum == 0 {
		return nil, fmt.Errorf("%w: Mixture weights sum to zero", ErrInvalid)
	}
	c := &mixChain{comps: make([]chainState, n), cum: make([]float64, n)}
	acc := 0.0
	for i, k := range m.Kernels {
		ck, ok := k.(chainKernel)
		if !ok {
			return nil, fmt.Errorf("%w: Mixture component %d (%T) is not a per-chain kernel", ErrInvalid, i, k)
		}
		cs, err := ck.newChain(t, int(math.Round(float64(warmup)*w[i]/sum)))
		if err != nil {
			return nil, fmt.Errorf("mixture component %d: %w", i, err)
		}
		c.comps[i] = cs
		acc += w[i] / sum
		c.cum[i] = acc
	}
	c.cum[n-1] = 1
	return c, nil
}

func (c *mixChain) begin(p *point, rng *rand.Rand) error {
	for i, cs := range c.comps {
		if err := cs.begin(p, rng); err != nil {
			return fmt.Errorf("mixture component %d: %w", i, err)
		}
	}
	return nil
}

func (c *mixChain) step(p *point, rng *rand.Rand, adapt bool) error {
	u := rng.Float64()
	k := 0
	for k < len(c.cum)-1 && u >= c.cum[k] {
		k++
	}
	return c.comps[k].step(p, rng, adapt)
}

func (c *mixChain) endWarmup() {
	for _, cs := range c.comps {
		cs.endWarmup()
	}
}

func (c *mixChain) stepSize() float64 { return c.comps[0].stepSize() }
