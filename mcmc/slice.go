package mcmc

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"
)

// Slice is univariate slice sampling applied to each coordinate in turn
// (Neal 2003, section 4: stepping out, figure 3, and shrinkage, figure 5).
// One transition updates every coordinate once.
//
// During warmup the initial bracket width of each coordinate is tuned to
// twice the mean absolute move of that coordinate; for a unimodal
// conditional the distribution of the move does not depend on the width,
// so the estimate is unbiased from the first transition.
//
// Slice runs the chains in parallel goroutines and evaluates the target one
// point at a time; SliceVectorized runs the same algorithm on all chains at
// once with one batch evaluation per step, and gives identical draws.
type Slice struct {
	// Width is the initial bracket width of every coordinate; 0 means 1.
	Width float64
	// MaxStepOut is Neal's m, the most bracket widths the stepping out may
	// reach (its steps are split at random between the two ends, which keeps
	// the kernel exact); 0 means 1000.
	MaxStepOut int
	// NoTune keeps the width fixed during warmup.
	NoTune bool
}

// SliceVectorized is Slice advancing all chains together: every chain runs
// its own stepping-out and shrinkage, and each step gathers the one point
// that every unfinished chain needs evaluated into a batch for a single call
// of the target's LogProbBatch (one call per point without it), as sbi's
// slice_np_vectorized sampler. Chains that finish a transition start the next
// one at once, so batches stay full until the last chains finish. With
// per-chain random streams its draws equal those of Slice bit for bit when
// LogProbBatch equals LogProb row by row.
type SliceVectorized Slice

var (
	_ chainKernel  = Slice{}
	_ vectorKernel = SliceVectorized{}
)

func (Slice) kernelName() string           { return "slice" }
func (SliceVectorized) kernelName() string { return "vectorised slice" }

// errShrink reports a shrinkage that does not end (a target that is not a
// function of x, or a slice of zero measure).
var errShrink = errors.New("slice: shrinkage did not end after 10000 steps")

func (s Slice) validate() (Slice, error) {
	if s.Width == 0 {
		s.Width = 1
	}
	if s.MaxStepOut == 0 {
		s.MaxStepOut = 1000
	}
	if !(s.Width > 0) || math.IsInf(s.Width, 0) {
		return s, fmt.Errorf("%w: Slice.Width = %v, must be positive and finite", ErrInvalid, s.Width)
	}
	if s.MaxStepOut < 1 {
		return s, fmt.Errorf("%w: Slice.MaxStepOut = %d, must be positive", ErrInvalid, s.MaxStepOut)
	}
	return s, nil
}

// slicer is the state machine of one chain's slice-sampling transition.
// After start or feed returns false, prop holds the next point to evaluate;
// feed returns true when the transition (a sweep over all coordinates) is
// complete.
type slicer struct {
	s     Slice
	p     *point
	rng   *rand.Rand
	prop  []float64 // equals p.x except at coordinate i
	width []float64
	// Warmup statistics: sum of |moves| per coordinate and their count.
	moveSum []float64
	moves   int
	adapt   bool

	i       int // coordinate being updated
	phase   int
	logy    float64
	l, r    float64
	j, k    int // stepping-out steps left on each side
	shrinks int
}

const (
	phaseLeft = iota
	phaseRight
	phaseShrink
)

func newSlicer(s Slice, p *point, prop []float64) *slicer {
	d := len(p.x)
	w := make([]float64, d)
	for i := range w {
		w[i] = s.Width
	}
	copy(prop, p.x)
	return &slicer{s: s, p: p, prop: prop, width: w, moveSum: make([]float64, d)}
}

// start begins a transition.
func (m *slicer) start(rng *rand.Rand, adapt bool) {
	m.rng = rng
	m.adapt = adapt
	m.p.accept = 1
	m.p.divergent = false
	m.startCoord(0)
}

func (m *slicer) startCoord(i int) {
	m.i = i
	m.logy = m.p.lp - m.rng.ExpFloat64()
	w := m.width[i]
	x := m.p.x[i]
	m.l = x - w*m.rng.Float64()
	m.r = m.l + w
	mm := m.s.MaxStepOut
	m.j = int(float64(mm) * m.rng.Float64())
	m.k = mm - 1 - m.j
	m.shrinks = 0
	m.phase = phaseLeft
	m.propose()
}

// propose sets prop to the next point to evaluate.
func (m *slicer) propose() {
	for {
		switch m.phase {
		case phaseLeft:
			if m.j > 0 {
				m.prop[m.i] = m.l
				return
			}
			m.phase = phaseRight
		case phaseRight:
			if m.k > 0 {
				m.prop[m.i] = m.r
				return
			}
			m.phase = phaseShrink
		default:
			m.prop[m.i] = m.l + m.rng.Float64()*(m.r-m.l)
			return
		}
	}
}

// feed takes the log density at prop and reports whether the transition is
// complete.
func (m *slicer) feed(lp float64) (bool, error) {
	m.p.evals++
	in := lp >= m.logy
	switch m.phase {
	case phaseLeft:
		if in {
			m.l -= m.width[m.i]
			m.j--
		} else {
			m.j = 0
		}
	case phaseRight:
		if in {
			m.r += m.width[m.i]
			m.k--
		} else {
			m.k = 0
		}
	default:
		xi := m.prop[m.i]
		if in {
			old := m.p.x[m.i]
			m.p.x[m.i] = xi
			m.p.lp = lp
			m.p.moved()
			if m.adapt {
				m.moveSum[m.i] += math.Abs(xi - old)
			}
			if m.i+1 < len(m.p.x) {
				m.startCoord(m.i + 1)
				return false, nil
			}
			if m.adapt {
				m.tune()
			}
			return true, nil
		}
		if xi < m.p.x[m.i] {
			m.l = xi
		} else {
			m.r = xi
		}
		m.shrinks++
		if m.shrinks > 10000 {
			return false, errShrink
		}
	}
	m.propose()
	return false, nil
}

// tune sets each width to twice the mean absolute move during warmup.
func (m *slicer) tune() {
	m.moves++
	if m.s.NoTune {
		return
	}
	for i, s := range m.moveSum {
		if mean := s / float64(m.moves); mean > 0 {
			m.width[i] = 2 * mean
		}
	}
}

// meanWidth reports the mean bracket width over coordinates.
func (m *slicer) meanWidth() float64 {
	var s float64
	for _, w := range m.width {
		s += w
	}
	return s / float64(len(m.width))
}

// sliceChain is the chainState of Slice.
type sliceChain struct {
	s Slice
	t *target
	m *slicer
}

func (s Slice) newChain(t *target, _ int) (chainState, error) {
	s, err := s.validate()
	if err != nil {
		return nil, err
	}
	return &sliceChain{s: s, t: t}, nil
}

func (c *sliceChain) begin(p *point, _ *rand.Rand) error {
	c.m = newSlicer(c.s, p, make([]float64, len(p.x)))
	return nil
}

func (c *sliceChain) step(p *point, rng *rand.Rand, adapt bool) error {
	m := c.m
	if m.p != p {
		panic("mcmc: slice chain stepped with a foreign point")
	}
	// Another kernel of a Mixture may have moved p.
	copy(m.prop, p.x)
	m.start(rng, adapt)
	for {
		lp, err := c.t.logProb(m.prop)
		if err != nil {
			return err
		}
		done, err := m.feed(lp)
		if err != nil {
			return err
		}
		if done {
			return nil
		}
	}
}

func (c *sliceChain) endWarmup()        {}
func (c *sliceChain) stepSize() float64 { return c.m.meanWidth() }

// run advances all chains together, one batch evaluation per step.
func (sv SliceVectorized) run(r *runner) error {
	s, err := Slice(sv).validate()
	if err != nil {
		return err
	}
	nc := len(r.chains)
	dim := r.t.dim
	props := mat.NewDense(nc, dim, nil)
	scratch := mat.NewDense(nc, dim, nil)
	lps := make([]float64, nc)
	ms := make([]*slicer, nc)
	iter := make([]int, nc)
	active := make([]int, 0, nc)
	total := r.total()
	for k := range r.chains {
		c := &r.chains[k]
		ms[k] = newSlicer(s, &c.p, props.RawRowView(k))
		ms[k].start(c.rng, 0 < r.warmup)
		active = append(active, k)
	}
	for steps := 0; len(active) > 0; steps++ {
		if steps&15 == 0 {
			if err := r.cancelled(); err != nil {
				return err
			}
		}
		// One batch evaluation of every active chain's proposal.
		batch := props
		if len(active) < nc {
			batch = scratch.Slice(0, len(active), 0, dim).(*mat.Dense)
			for a, k := range active {
				copy(batch.RawRowView(a), props.RawRowView(k))
			}
		}
		if err := r.t.logProbRows(lps, batch); err != nil {
			return err
		}
		next := active[:0]
		for a, k := range active {
			c := &r.chains[k]
			done, err := ms[k].feed(lps[a])
			if err != nil {
				return fmt.Errorf("mcmc: chain %d transition %d: %w", k, iter[k], err)
			}
			if !done {
				next = append(next, k)
				continue
			}
			r.record(c, iter[k])
			r.prog.add(1)
			iter[k]++
			if iter[k] < total {
				ms[k].start(c.rng, iter[k] < r.warmup)
				next = append(next, k)
			}
		}
		active = next
	}
	for k := range r.chains {
		r.chains[k].stepSize = ms[k].meanWidth()
	}
	return nil
}
