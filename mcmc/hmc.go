package mcmc

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
)

// HMC is Hamiltonian Monte Carlo with a fixed number of leapfrog steps and
// a diagonal mass matrix (Neal 2011).
//
// During warmup the step size is tuned by dual averaging (Hoffman and
// Gelman 2014, section 3.2) and the inverse mass matrix is set to the
// regularised variance of the draws in Stan's doubling windows: an initial
// buffer of 75 transitions, slow windows of 25, 50, 100, … transitions and a
// terminal buffer of 50 (15%/75%/10% of a warmup shorter than 150; no metric
// adaptation below 20). After each window the step size is re-initialised by
// the heuristic of Hoffman and Gelman (algorithm 4) and the adaptation
// restarts at 10ε, as in Stan. Each transition jitters the step size
// uniformly by ±10% to avoid periodic trajectories (Neal 2011, section
// 5.4.2.2). A transition whose energy error exceeds MaxEnergyError, or that
// leaves the support, is divergent and rejected.
//
// HMC needs a target that implements dist.Gradienter.
type HMC struct {
	// Steps is the number of leapfrog steps per transition; 0 means 16.
	Steps int
	// StepSize is the initial step size; 0 means the heuristic of Hoffman
	// and Gelman (algorithm 4) from ε = 1.
	StepSize float64
	// TargetAccept is the mean acceptance probability the step size is
	// tuned to; 0 means 0.65 (Beskos et al. 2013, Hoffman and Gelman 2014).
	TargetAccept float64
	// MaxEnergyError is the energy error that marks a divergence; 0 means
	// 1000 (Stan's).
	MaxEnergyError float64
	// NoAdaptMetric keeps the unit mass matrix.
	NoAdaptMetric bool
}

// NUTS is the No-U-Turn sampler (Hoffman and Gelman 2014) with multinomial
// sampling of the trajectory and the generalised no-U-turn criterion,
// checked also across merged subtrees, as in Stan (Betancourt 2017,
// appendix A). The trajectory doubles until it turns back on itself, hits
// MaxDepth, or diverges (energy error above MaxEnergyError, or leaving the
// support). Warmup adapts the step size and a diagonal mass matrix as HMC
// does.
//
// NUTS needs a target that implements dist.Gradienter.
type NUTS struct {
	// MaxDepth is the maximum tree depth (at most 2^MaxDepth leapfrog steps
	// per transition); 0 means 10.
	MaxDepth int
	// StepSize is the initial step size; 0 means the heuristic.
	StepSize float64
	// TargetAccept is the mean acceptance statistic the step size is tuned
	// to; 0 means 0.8 (Stan's).
	TargetAccept float64
	// MaxEnergyError is the energy error that marks a divergence; 0 means 1000.
	MaxEnergyError float64
	// NoAdaptMetric keeps the unit mass matrix.
	NoAdaptMetric bool
}

var (
	_ chainKernel = HMC{}
	_ chainKernel = NUTS{}
)

func (HMC) kernelName() string  { return "HMC" }
func (NUTS) kernelName() string { return "NUTS" }

// errStepSize reports a failure of the step-size heuristic.
var errStepSize = errors.New("hmc: cannot find a reasonable step size (target flat or degenerate?)")

// phase is a point in phase space.
type phase struct {
	q, p, g []float64 // position, momentum, gradient of log density
	lp      float64
}

func newPhase(d int) phase {
	return phase{q: make([]float64, d), p: make([]float64, d), g: make([]float64, d)}
}

func (z *phase) copyFrom(o *phase) {
	copy(z.q, o.q)
	copy(z.p, o.p)
	copy(z.g, o.g)
	z.lp = o.lp
}

// hamiltonian holds what HMC and NUTS share: the target, the diagonal
// inverse metric, the adaptation and the integrator state.
type hamiltonian struct {
	t        *target
	d        int
	minv     []float64 // inverse mass matrix (diagonal)
	eps      float64   // current step size
	eps0     float64   // user's initial step size, 0 for the heuristic
	maxDH    float64
	noMetric bool
	da       dualAvg
	win      windows
	est      *welford
	z        phase // integrator state
	z0       phase // saved state
	cached   bool  // z holds p's point with its gradient
	version  uint64
	evals    *int
}

func newHamiltonian(t *target, warmup int, eps0, delta, maxDH float64, noMetric bool) (*hamiltonian, error) {
	if t.grad == nil {
		return nil, fmt.Errorf("%w: target %T", ErrNoGradient, t.lp)
	}
	if eps0 < 0 || math.IsNaN(eps0) || math.IsInf(eps0, 0) {
		return nil, fmt.Errorf("%w: StepSize = %v", ErrInvalid, eps0)
	}
	if !(delta > 0 && delta < 1) {
		return nil, fmt.Errorf("%w: TargetAccept = %v, must be in (0, 1)", ErrInvalid, delta)
	}
	if !(maxDH > 0) {
		return nil, fmt.Errorf("%w: MaxEnergyError = %v, must be positive", ErrInvalid, maxDH)
	}
	d := t.dim
	h := &hamiltonian{
		t: t, d: d, minv: make([]float64, d), eps0: eps0, maxDH: maxDH,
		noMetric: noMetric, win: newWindows(warmup), est: newWelford(d, false),
		z: newPhase(d), z0: newPhase(d),
	}
	for i := range h.minv {
		h.minv[i] = 1
	}
	h.da.delta = delta
	return h, nil
}

// load puts the chain's point into the integrator state, evaluating the
// gradient unless it is cached from the previous transition.
func (h *hamiltonian) load(p *point) error {
	h.evals = &p.evals
	if h.cached && h.version == p.version {
		return nil
	}
	copy(h.z.q, p.x)
	lp, err := h.t.logProbGrad(h.z.g, h.z.q)
	p.evals++
	if err != nil {
		return err
	}
	if math.IsInf(lp, -1) {
		return fmt.Errorf("%w: the gradient is infinite at the current point %v (log density %v)", ErrNaN, p.x, p.lp)
	}
	h.z.lp = lp
	h.cached, h.version = true, p.version
	return nil
}

// store writes an accepted integrator state back into the chain's point.
func (h *hamiltonian) store(p *point) {
	copy(p.x, h.z.q)
	p.lp = h.z.lp
	p.moved()
	h.cached, h.version = true, p.version
}

// samplePhase draws a momentum p ~ N(0, M) for the state z.
func (h *hamiltonian) sampleMomentum(z *phase, rng *rand.Rand) {
	for i := range z.p {
		z.p[i] = rng.NormFloat64() / math.Sqrt(h.minv[i])
	}
}

// energy is the Hamiltonian H = −log p(q) + ½ pᵀM⁻¹p; +Inf outside the
// support.
func (h *hamiltonian) energy(z *phase) float64 {
	if math.IsInf(z.lp, -1) {
		return math.Inf(1)
	}
	k := 0.0
	for i, v := range z.p {
		k += h.minv[i] * v * v
	}
	return -z.lp + 0.5*k
}

// leapfrog advances z by one leapfrog step of size eps (negative: backwards
// in time). Outside the support it stops with z.lp = -Inf.
func (h *hamiltonian) leapfrog(z *phase, eps float64) error {
	half := 0.5 * eps
	for i := range z.p {
		z.p[i] += half * z.g[i]
	}
	for i := range z.q {
		z.q[i] += eps * h.minv[i] * z.p[i]
	}
	lp, err := h.t.logProbGrad(z.g, z.q)
	*h.evals++
	if err != nil {
		return err
	}
	z.lp = lp
	if math.IsInf(lp, -1) {
		return nil
	}
	for i := range z.p {
		z.p[i] += half * z.g[i]
	}
	return nil
}

// trial returns H0 − H after one leapfrog step of size eps from z0 with a
// fresh momentum; z is left modified.
func (h *hamiltonian) trial(eps float64, rng *rand.Rand) (float64, error) {
	h.z.copyFrom(&h.z0)
	h.sampleMomentum(&h.z, rng)
	h0 := h.energy(&h.z)
	if err := h.leapfrog(&h.z, eps); err != nil {
		return 0, err
	}
	return h0 - h.energy(&h.z), nil
}

// initStepSize is the heuristic of Hoffman and Gelman (2014, algorithm 4):
// starting at h.eps, double or halve the step size until the acceptance
// probability of one leapfrog step crosses 0.8 (Stan's threshold). The
// integrator state is left as it was.
func (h *hamiltonian) initStepSize(rng *rand.Rand) error {
	h.z0.copyFrom(&h.z)
	defer h.z.copyFrom(&h.z0)
	dh, err := h.trial(h.eps, rng)
	if err != nil {
		return err
	}
	logAcc := math.Log(0.8)
	up := dh > logAcc
	for {
		if up {
			h.eps *= 2
		} else {
			h.eps /= 2
		}
		if h.eps > 1e7 || h.eps == 0 {
			return errStepSize
		}
		dh, err := h.trial(h.eps, rng)
		if err != nil {
			return err
		}
		if up != (dh > logAcc) {
			return nil
		}
	}
}

// begin initialises the step size at the chain's starting point.
func (h *hamiltonian) begin(p *point, rng *rand.Rand) error {
	if err := h.load(p); err != nil {
		return err
	}
	h.eps = h.eps0
	if h.eps == 0 {
		h.eps = 1
		if err := h.initStepSize(rng); err != nil {
			return err
		}
	}
	h.da.restart(math.Log(10 * h.eps))
	return nil
}

// adapt runs one warmup update after a transition with acceptance
// statistic accept that left the chain at p.
func (h *hamiltonian) adapt(p *point, accept float64, rng *rand.Rand) error {
	h.eps = h.da.update(accept)
	defer func() { h.win.counter++ }()
	if h.noMetric || h.win.next < 0 {
		return nil
	}
	if h.win.inWindow() {
		h.est.add(p.x)
	}
	if !h.win.endOfWindow() {
		return nil
	}
	h.win.advance()
	h.est.regularized(h.minv)
	h.est.reset()
	if err := h.initStepSize(rng); err != nil {
		return err
	}
	h.da.restart(math.Log(10 * h.eps))
	return nil
}

func (h *hamiltonian) endWarmup() {
	if h.da.m > 0 {
		h.eps = h.da.final()
	}
}

func (h *hamiltonian) stepSize() float64 { return h.eps }

// hmcChain is the chainState of HMC.
type hmcChain struct {
	*hamiltonian
	steps int
}

func (s HMC) newChain(t *target, warmup int) (chainState, error) {
	if s.Steps == 0 {
		s.Steps = 16
	}
	if s.Steps < 0 {
		return nil, fmt.Errorf("%w: HMC.Steps = %d", ErrInvalid, s.Steps)
	}
	if s.TargetAccept == 0 {
		s.TargetAccept = 0.65
	}
	if s.MaxEnergyError == 0 {
		s.MaxEnergyError = 1000
	}
	h, err := newHamiltonian(t, warmup, s.StepSize, s.TargetAccept, s.MaxEnergyError, s.NoAdaptMetric)
	if err != nil {
		return nil, err
	}
	return &hmcChain{hamiltonian: h, steps: s.Steps}, nil
}

func (c *hmcChain) step(p *point, rng *rand.Rand, adapt bool) error {
	if err := c.load(p); err != nil {
		return err
	}
	c.z0.copyFrom(&c.z)
	c.sampleMomentum(&c.z, rng)
	h0 := c.energy(&c.z)
	eps := c.eps * (0.9 + 0.2*rng.Float64())
	divergent := false
	var h1 float64
	for range c.steps {
		if err := c.leapfrog(&c.z, eps); err != nil {
			return err
		}
		h1 = c.energy(&c.z)
		if math.IsNaN(h1) || h1-h0 > c.maxDH {
			divergent = true
			break
		}
	}
	alpha := 0.0
	if !divergent {
		alpha = math.Min(1, math.Exp(h0-h1))
	}
	if rng.Float64() < alpha {
		c.store(p)
	} else {
		c.z.copyFrom(&c.z0)
	}
	p.accept, p.divergent = alpha, divergent
	if adapt {
		return c.adapt(p, alpha, rng)
	}
	return nil
}

// nutsLevel is the scratch space of one level of the NUTS recursion.
type nutsLevel struct {
	proposeFinal                               phase
	pInitEnd, pSharpInitEnd, rhoInit           []float64
	pFinalBeg, pSharpFinalBeg, rhoFinal, rhoEx []float64
}

// nutsChain is the chainState of NUTS.
type nutsChain struct {
	*hamiltonian
	maxDepth int
	rng      *rand.Rand

	fwd, bck, sample, propose                              phase
	pFwdFwd, pFwdBck, pBckFwd, pBckBck                     []float64
	pSharpFwdFwd, pSharpFwdBck, pSharpBckFwd, pSharpBckBck []float64
	rho, rhoFwd, rhoBck, rhoEx                             []float64
	levels                                                 []nutsLevel
	h0, sumMetro                                           float64
	nLeapfrog                                              int
	divergent                                              bool
	depth                                                  int
}

func (s NUTS) newChain(t *target, warmup int) (chainState, error) {
	if s.MaxDepth == 0 {
		s.MaxDepth = 10
	}
	if s.MaxDepth < 0 || s.MaxDepth > 30 {
		return nil, fmt.Errorf("%w: NUTS.MaxDepth = %d, must be in [1, 30]", ErrInvalid, s.MaxDepth)
	}
	if s.TargetAccept == 0 {
		s.TargetAccept = 0.8
	}
	if s.MaxEnergyError == 0 {
		s.MaxEnergyError = 1000
	}
	h, err := newHamiltonian(t, warmup, s.StepSize, s.TargetAccept, s.MaxEnergyError, s.NoAdaptMetric)
	if err != nil {
		return nil, err
	}
	d := t.dim
	v := func() []float64 { return make([]float64, d) }
	c := &nutsChain{
		hamiltonian: h, maxDepth: s.MaxDepth,
		fwd: newPhase(d), bck: newPhase(d), sample: newPhase(d), propose: newPhase(d),
		pFwdFwd: v(), pFwdBck: v(), pBckFwd: v(), pBckBck: v(),
		pSharpFwdFwd: v(), pSharpFwdBck: v(), pSharpBckFwd: v(), pSharpBckBck: v(),
		rho: v(), rhoFwd: v(), rhoBck: v(), rhoEx: v(),
		levels: make([]nutsLevel, s.MaxDepth+1),
	}
	for i := range c.levels {
		c.levels[i] = nutsLevel{
			proposeFinal: newPhase(d),
			pInitEnd:     v(), pSharpInitEnd: v(), rhoInit: v(),
			pFinalBeg: v(), pSharpFinalBeg: v(), rhoFinal: v(), rhoEx: v(),
		}
	}
	return c, nil
}

// logAddExp returns log(exp(a) + exp(b)).
func logAddExp(a, b float64) float64 {
	if math.IsInf(a, -1) {
		return b
	}
	if math.IsInf(b, -1) {
		return a
	}
	if a > b {
		return a + math.Log1p(math.Exp(b-a))
	}
	return b + math.Log1p(math.Exp(a-b))
}

func dot(a, b []float64) float64 {
	s := 0.0
	for i, v := range a {
		s += v * b[i]
	}
	return s
}

// add writes a + b into dst.
func add(dst, a, b []float64) {
	for i := range dst {
		dst[i] = a[i] + b[i]
	}
}

// noUTurn is the generalised no-U-turn criterion (Betancourt 2017,
// appendix A.4.2): the summed momentum rho must point forward at both ends.
func noUTurn(pSharpMinus, pSharpPlus, rho []float64) bool {
	return dot(pSharpPlus, rho) > 0 && dot(pSharpMinus, rho) > 0
}

// sharp writes M⁻¹p.
func (c *nutsChain) sharp(dst, p []float64) {
	for i, v := range p {
		dst[i] = c.minv[i] * v
	}
}

// copyQ copies the position, gradient and log density of src into dst (the
// momentum of a sample is not needed).
func copyQ(dst, src *phase) {
	copy(dst.q, src.q)
	copy(dst.g, src.g)
	dst.lp = src.lp
}

func (c *nutsChain) step(p *point, rng *rand.Rand, adapt bool) error {
	if err := c.load(p); err != nil {
		return err
	}
	c.rng = rng
	c.sampleMomentum(&c.z, rng)
	c.fwd.copyFrom(&c.z)
	c.bck.copyFrom(&c.z)
	copyQ(&c.sample, &c.z)
	c.sharp(c.pSharpFwdFwd, c.z.p)
	for _, v := range [][]float64{c.pSharpFwdBck, c.pSharpBckFwd, c.pSharpBckBck} {
		copy(v, c.pSharpFwdFwd)
	}
	for _, v := range [][]float64{c.pFwdFwd, c.pFwdBck, c.pBckFwd, c.pBckBck, c.rho} {
		copy(v, c.z.p)
	}
	c.h0 = c.energy(&c.z)
	logSumWeight := 0.0
	c.nLeapfrog, c.sumMetro, c.divergent = 0, 0, false
	moved := false
	c.depth = 0
	for c.depth < c.maxDepth {
		clear(c.rhoFwd)
		clear(c.rhoBck)
		logSub := math.Inf(-1)
		var valid bool
		var err error
		if rng.Float64() > 0.5 {
			// Extend forward: the old trajectory becomes the backward subtree.
			c.z.copyFrom(&c.fwd)
			copy(c.rhoBck, c.rho)
			copy(c.pBckFwd, c.pFwdFwd)
			copy(c.pSharpBckFwd, c.pSharpFwdFwd)
			valid, err = c.buildTree(c.depth, &c.propose, c.pSharpFwdBck, c.pSharpFwdFwd, c.rhoFwd, c.pFwdBck, c.pFwdFwd, 1, &logSub)
			c.fwd.copyFrom(&c.z)
		} else {
			// Extend backward: the old trajectory becomes the forward subtree.
			c.z.copyFrom(&c.bck)
			copy(c.rhoFwd, c.rho)
			copy(c.pFwdBck, c.pBckBck)
			copy(c.pSharpFwdBck, c.pSharpBckBck)
			valid, err = c.buildTree(c.depth, &c.propose, c.pSharpBckFwd, c.pSharpBckBck, c.rhoBck, c.pBckFwd, c.pBckBck, -1, &logSub)
			c.bck.copyFrom(&c.z)
		}
		if err != nil {
			return err
		}
		if !valid {
			break
		}
		c.depth++
		// Biased progressive sampling between the old and new subtrees
		// (Betancourt 2017, appendix A.3.2).
		if logSub > logSumWeight || rng.Float64() < math.Exp(logSub-logSumWeight) {
			copyQ(&c.sample, &c.propose)
			moved = true
		}
		logSumWeight = logAddExp(logSumWeight, logSub)
		add(c.rho, c.rhoBck, c.rhoFwd)
		ok := noUTurn(c.pSharpBckBck, c.pSharpFwdFwd, c.rho)
		add(c.rhoEx, c.rhoBck, c.pFwdBck)
		ok = ok && noUTurn(c.pSharpBckBck, c.pSharpFwdBck, c.rhoEx)
		add(c.rhoEx, c.rhoFwd, c.pBckFwd)
		ok = ok && noUTurn(c.pSharpBckFwd, c.pSharpFwdFwd, c.rhoEx)
		if !ok {
			break
		}
	}
	accept := 0.0
	if c.nLeapfrog > 0 {
		accept = c.sumMetro / float64(c.nLeapfrog)
	}
	copyQ(&c.z, &c.sample)
	if moved {
		c.store(p)
	}
	p.accept, p.divergent = accept, c.divergent
	if adapt {
		return c.adapt(p, accept, rng)
	}
	return nil
}

// buildTree builds a subtree of 2^depth leapfrog steps in direction sign
// from the integrator state c.z, following Stan's multinomial NUTS
// (Betancourt 2017, appendix A): it accumulates the subtree's log weight
// into logSumWeight, its summed momentum into rho, writes a multinomial
// draw from the subtree into propose, and the momenta (and M⁻¹-scaled
// momenta) at its two ends into pBeg/pEnd (pSharpBeg/pSharpEnd). It returns
// false when the subtree diverged or turned back on itself.
func (c *nutsChain) buildTree(depth int, propose *phase, pSharpBeg, pSharpEnd, rho, pBeg, pEnd []float64, sign float64, logSumWeight *float64) (bool, error) {
	if depth == 0 {
		if err := c.leapfrog(&c.z, sign*c.eps); err != nil {
			return false, err
		}
		c.nLeapfrog++
		h := c.energy(&c.z)
		if math.IsNaN(h) {
			h = math.Inf(1)
		}
		if h-c.h0 > c.maxDH {
			c.divergent = true
		}
		*logSumWeight = logAddExp(*logSumWeight, c.h0-h)
		if c.h0-h > 0 {
			c.sumMetro++
		} else {
			c.sumMetro += math.Exp(c.h0 - h)
		}
		if c.divergent {
			return false, nil
		}
		copyQ(propose, &c.z)
		c.sharp(pSharpBeg, c.z.p)
		copy(pSharpEnd, pSharpBeg)
		for i, v := range c.z.p {
			rho[i] += v
		}
		copy(pBeg, c.z.p)
		copy(pEnd, c.z.p)
		return true, nil
	}
	lv := &c.levels[depth]
	// The initial subtree.
	logInit := math.Inf(-1)
	clear(lv.rhoInit)
	ok, err := c.buildTree(depth-1, propose, pSharpBeg, lv.pSharpInitEnd, lv.rhoInit, pBeg, lv.pInitEnd, sign, &logInit)
	if err != nil || !ok {
		return false, err
	}
	// The final subtree.
	logFinal := math.Inf(-1)
	clear(lv.rhoFinal)
	ok, err = c.buildTree(depth-1, &lv.proposeFinal, lv.pSharpFinalBeg, pSharpEnd, lv.rhoFinal, lv.pFinalBeg, pEnd, sign, &logFinal)
	if err != nil || !ok {
		return false, err
	}
	// Uniform multinomial choice between the two halves.
	logSub := logAddExp(logInit, logFinal)
	*logSumWeight = logAddExp(*logSumWeight, logSub)
	if logFinal > logSub || c.rng.Float64() < math.Exp(logFinal-logSub) {
		copyQ(propose, &lv.proposeFinal)
	}
	// rho of the subtree, kept in lv.rhoEx while the criteria are checked.
	add(lv.rhoEx, lv.rhoInit, lv.rhoFinal)
	for i, v := range lv.rhoEx {
		rho[i] += v
	}
	persist := noUTurn(pSharpBeg, pSharpEnd, lv.rhoEx)
	add(lv.rhoEx, lv.rhoInit, lv.pFinalBeg)
	persist = persist && noUTurn(pSharpBeg, lv.pSharpFinalBeg, lv.rhoEx)
	add(lv.rhoEx, lv.rhoFinal, lv.pInitEnd)
	persist = persist && noUTurn(lv.pSharpInitEnd, pSharpEnd, lv.rhoEx)
	return persist, nil
}
