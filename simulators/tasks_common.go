package simulators

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/gosbi/gosbi/dist"
)

// taskSim is the simulator of a task: fixed dimensions and a function
// writing x for θ into dst.
type taskSim struct {
	name           string
	thetaDim, xDim int
	sim            func(dst, theta []float64, rng *rand.Rand) error
}

var _ Simulator = (*taskSim)(nil)

func (s *taskSim) Dims() (theta, x int) { return s.thetaDim, s.xDim }

func (s *taskSim) Run(_ context.Context, dst, theta []float64, rng *rand.Rand) ([]float64, error) {
	dst, err := prepare(dst, theta, s.thetaDim, s.xDim, s.name)
	if err != nil {
		return nil, err
	}
	if err := s.sim(dst, theta, rng); err != nil {
		return nil, fmt.Errorf("simulators: %s: %w", s.name, err)
	}
	return dst, nil
}

// xDist is the distribution of x at one θ: its log density and a sampler.
type xDist struct {
	logProb func(x []float64) float64
	sample  func(dst []float64, rng *rand.Rand)
}

// likelihood is a task's p(x | θ) as a dist.Conditional. cond builds the
// distribution at a θ it may keep (Condition passes a copy). When cond
// gives no sampler, Sample runs the task simulator at θ.
type likelihood struct {
	sim  *taskSim
	cond func(theta []float64) xDist
}

var _ dist.Conditional = (*likelihood)(nil)

func (l *likelihood) Condition(theta []float64) dist.Distribution {
	if len(theta) != l.sim.thetaDim {
		panic(fmt.Sprintf("simulators: %s likelihood: len(theta) = %d, want %d", l.sim.name, len(theta), l.sim.thetaDim))
	}
	th := append([]float64(nil), theta...)
	return &atTheta{sim: l.sim, theta: th, d: l.cond(th)}
}

// atTheta is p(x | θ) at a fixed θ.
type atTheta struct {
	sim   *taskSim
	theta []float64
	d     xDist
}

var _ dist.Distribution = (*atTheta)(nil)

func (a *atTheta) Dim() int { return a.sim.xDim }

// LogProb returns log p(x | θ). It panics if len(x) is wrong.
func (a *atTheta) LogProb(x []float64) float64 {
	if len(x) != a.sim.xDim {
		panic(fmt.Sprintf("simulators: %s likelihood: len(x) = %d, want %d", a.sim.name, len(x), a.sim.xDim))
	}
	return a.d.logProb(x)
}

// Sample simulates x at θ into dst (allocated if nil); a failed simulation
// gives NaN values. It panics if dst has the wrong length.
func (a *atTheta) Sample(dst []float64, rng *rand.Rand) []float64 {
	if dst == nil {
		dst = make([]float64, a.sim.xDim)
	}
	if len(dst) != a.sim.xDim {
		panic(fmt.Sprintf("simulators: %s likelihood: len(dst) = %d, want %d", a.sim.name, len(dst), a.sim.xDim))
	}
	if a.d.sample != nil {
		a.d.sample(dst, rng)
		return dst
	}
	if err := a.sim.sim(dst, a.theta, rng); err != nil {
		for i := range dst {
			dst[i] = math.NaN()
		}
	}
	return dst
}

func fill(n int, v float64) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = v
	}
	return s
}
