package mcmc

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// RandomWalk is random-walk Metropolis with a Gaussian proposal
// x' = x + λ·L·ε, ε ~ N(0, I), where L·Lᵀ is the proposal covariance.
//
// During warmup the covariance is learnt from the chain's own history, as in
// the adaptive Metropolis algorithm of Haario, Saksman and Tamminen (2001):
// the proposal covariance is updated at the ends of Stan's doubling windows
// (see HMC) to the covariance of all draws since the end of the first
// window (the first window is discarded as transient), shrunk towards the
// identity as Stan does, and the scale λ is tuned by the Robbins–Monro recursion
// log λ ← log λ + t^(-0.6)·(α − 0.234) (Andrieu and Thoms 2008, algorithm 4)
// towards the acceptance rate 0.234 that is optimal for random-walk
// proposals in many dimensions (Roberts, Gelman and Gilks 1997). After each
// window the scale restarts at 2.38/√d (Gelman, Roberts and Gilks 1996) and
// t at 1.
type RandomWalk struct {
	// Scale is the initial scale λ; 0 means 2.38/√d.
	Scale float64
	// TargetAccept is the acceptance rate the scale is tuned to; 0 means
	// 0.234.
	TargetAccept float64
	// NoAdaptCov keeps the proposal covariance at the identity (the scale is
	// still tuned).
	NoAdaptCov bool
}

var _ chainKernel = RandomWalk{}

func (RandomWalk) kernelName() string { return "random walk" }

type rwmChain struct {
	t       *target
	s       RandomWalk
	d       int
	scale   float64
	chol    []float64 // d×d lower factor
	est     *welford
	win     windows
	logS    float64 // log λ during adaptation
	steps   int     // adaptation steps since the last restart
	burnt   bool    // the first window's draws were discarded
	prop    []float64
	eps     []float64
	scratch []float64
}

func (s RandomWalk) newChain(t *target, warmup int) (chainState, error) {
	d := t.dim
	if s.Scale < 0 || math.IsNaN(s.Scale) || math.IsInf(s.Scale, 0) {
		return nil, fmt.Errorf("%w: RandomWalk.Scale = %v", ErrInvalid, s.Scale)
	}
	if s.TargetAccept == 0 {
		s.TargetAccept = 0.234
	}
	if !(s.TargetAccept > 0 && s.TargetAccept < 1) {
		return nil, fmt.Errorf("%w: RandomWalk.TargetAccept = %v, must be in (0, 1)", ErrInvalid, s.TargetAccept)
	}
	c := &rwmChain{
		t: t, s: s, d: d,
		chol:    make([]float64, d*d),
		est:     newWelford(d, true),
		win:     newWindows(warmup),
		prop:    make([]float64, d),
		eps:     make([]float64, d),
		scratch: make([]float64, d*d),
	}
	for i := range d {
		c.chol[i*d+i] = 1
	}
	c.scale = s.Scale
	if c.scale == 0 {
		c.scale = c.defaultScale()
	}
	c.logS = math.Log(c.scale)
	return c, nil
}

func (c *rwmChain) defaultScale() float64 { return 2.38 / math.Sqrt(float64(c.d)) }

func (c *rwmChain) begin(*point, *rand.Rand) error { return nil }

func (c *rwmChain) step(p *point, rng *rand.Rand, adapt bool) error {
	d := c.d
	for i := range d {
		c.eps[i] = rng.NormFloat64()
	}
	for i := range d {
		row := c.chol[i*d : i*d+i+1]
		var s float64
		for j, l := range row {
			s += l * c.eps[j]
		}
		c.prop[i] = p.x[i] + c.scale*s
	}
	lp, err := c.t.logProb(c.prop)
	p.evals++
	if err != nil {
		return err
	}
	alpha := 0.0
	if !math.IsInf(lp, -1) {
		alpha = math.Min(1, math.Exp(lp-p.lp))
	}
	if rng.Float64() < alpha {
		copy(p.x, c.prop)
		p.lp = lp
		p.moved()
	}
	p.accept = alpha
	p.divergent = false
	if adapt {
		c.adapt(p, alpha)
	}
	return nil
}

func (c *rwmChain) adapt(p *point, alpha float64) {
	c.steps++
	c.logS += math.Pow(float64(c.steps), -0.6) * (alpha - c.s.TargetAccept)
	c.scale = math.Exp(c.logS)
	if c.s.NoAdaptCov || c.win.next < 0 {
		c.win.counter++
		return
	}
	if c.win.inWindow() {
		c.est.add(p.x)
	}
	if c.win.endOfWindow() {
		c.win.advance()
		c.est.regularized(c.scratch)
		if cholesky(c.scratch, c.d) {
			copy(c.chol, c.scratch)
		}
		if !c.burnt {
			c.est.reset()
			c.burnt = true
		}
		c.scale = c.defaultScale()
		c.logS = math.Log(c.scale)
		c.steps = 0
	}
	c.win.counter++
}

func (c *rwmChain) endWarmup() {}

func (c *rwmChain) stepSize() float64 { return c.scale }
