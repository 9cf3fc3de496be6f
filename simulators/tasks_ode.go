package simulators

import (
	"math"
	"math/rand/v2"
	"sync"

	"github.com/gosbi/gosbi/dist"
	"github.com/gosbi/gosbi/simulators/ode"
)

// odeTol is the relative and absolute tolerance of the SIR and
// Lotka–Volterra solves, as in sbibm (Tsit5 with reltol = abstol = 1e-8).
const odeTol = 1e-8

// odePool hands out Dormand–Prince solvers with their output buffers, so
// that concurrent simulations neither share nor allocate scratch space.
type odePool struct {
	dim, nOut int
	pool      sync.Pool
}

type odeWork struct {
	dp  *ode.DormandPrince
	out []float64
}

func newODEPool(dim, nOut int) *odePool {
	p := &odePool{dim: dim, nOut: nOut}
	p.pool.New = func() any {
		dp, err := ode.NewDormandPrince(dim, &ode.Settings{RelTol: odeTol, AbsTol: odeTol})
		if err != nil {
			panic(err) // unreachable: the settings are valid constants
		}
		return &odeWork{dp: dp, out: make([]float64, dim*nOut)}
	}
	return p
}

func (p *odePool) get() *odeWork  { return p.pool.Get().(*odeWork) }
func (p *odePool) put(w *odeWork) { p.pool.Put(w) }

// SIR constants (sbibm sir): population, initial state, observation times
// (every 17th of the 161 daily points of [0, 160]) and binomial sample size.
const (
	sirN      = 1_000_000
	sirObs    = 10
	sirStride = 17
	sirDraws  = 1000
)

// sirRHS is the SIR model S' = -βSI/N, I' = βSI/N - γI, R' = γI.
func sirRHS(beta, gamma float64, y, dy []float64) {
	inf := beta * y[0] * y[1] / sirN
	rec := gamma * y[1]
	dy[0] = -inf
	dy[1] = inf - rec
	dy[2] = rec
}

// sirTimes are the observation times 0, 17, ..., 153.
var sirTimes = func() []float64 {
	t := make([]float64, sirObs)
	for k := range t {
		t[k] = float64(k * sirStride)
	}
	return t
}()

func sirTask() (*Task, error) {
	prior, err := dist.NewLogNormal([]float64{math.Log(0.4), math.Log(0.125)}, []float64{0.5, 0.2})
	if err != nil {
		return nil, err
	}
	pool := newODEPool(3, sirObs)
	// solve writes the infected fractions clamp(I(t_k)/N, 0, 1) into p.
	solve := func(p, theta []float64) error {
		w := pool.get()
		defer pool.put(w)
		y0 := [3]float64{sirN - 1, 1, 0}
		beta, gamma := theta[0], theta[1]
		// A closure that does not escape: Solve keeps no reference to it.
		f := func(_ float64, y, dy []float64) { sirRHS(beta, gamma, y, dy) }
		if _, err := w.dp.Solve(f, 0, y0[:], sirTimes, w.out); err != nil {
			return err
		}
		for k := range p {
			p[k] = math.Min(1, math.Max(0, w.out[3*k+1]/sirN))
		}
		return nil
	}
	sim := &taskSim{name: "sir", thetaDim: 2, xDim: sirObs, sim: func(dst, theta []float64, rng *rand.Rand) error {
		if err := solve(dst, theta); err != nil {
			return err
		}
		for k, p := range dst {
			dst[k] = float64(binomial(sirDraws, p, rng))
		}
		return nil
	}}
	lik := &likelihood{sim: sim, cond: func(theta []float64) xDist {
		p := make([]float64, sirObs)
		if err := solve(p, theta); err != nil {
			return failedSolve(err)
		}
		return xDist{
			logProb: func(x []float64) float64 {
				var lp float64
				for k, v := range x {
					if v != math.Trunc(v) || v < 0 || v > sirDraws {
						return math.Inf(-1)
					}
					lp += logBinomPMF(int(v), sirDraws, p[k])
				}
				return lp
			},
			sample: func(dst []float64, rng *rand.Rand) {
				for k := range dst {
					dst[k] = float64(binomial(sirDraws, p[k], rng))
				}
			},
		}
	}}
	return &Task{
		Prior: prior, Simulator: sim, Likelihood: lik,
		ThetaNames: []string{"beta", "gamma"}, XNames: defaultNames("infected", sirObs),
	}, nil
}

// failedSolve is the distribution of x at a θ where the ODE solver failed:
// density zero everywhere (LogProb -Inf), samples NaN.
func failedSolve(error) xDist {
	return xDist{
		logProb: func([]float64) float64 { return math.Inf(-1) },
		sample: func(dst []float64, _ *rand.Rand) {
			for i := range dst {
				dst[i] = math.NaN()
			}
		},
	}
}

// Lotka–Volterra constants (sbibm lotka_volterra): initial state, 10
// observation times (every 21st of the 201 points of [0, 20] spaced 0.1),
// the clamp of the ODE solution and the log-normal noise.
const (
	lvObs      = 10
	lvStride   = 21
	lvStep     = 0.1
	lvPrey0    = 30
	lvPred0    = 1
	lvClampLo  = 1e-10
	lvClampHi  = 1e4
	lvLogNoise = 0.1
)

// lvRHS is the Lotka–Volterra model X' = αX - βXY, Y' = -γY + δXY with
// θ = (α, β, γ, δ).
func lvRHS(theta *[4]float64, y, dy []float64) {
	dy[0] = theta[0]*y[0] - theta[1]*y[0]*y[1]
	dy[1] = -theta[2]*y[1] + theta[3]*y[0]*y[1]
}

// lvTimes are the observation times 0, 2.1, ..., 18.9.
var lvTimes = func() []float64 {
	t := make([]float64, lvObs)
	for k := range t {
		t[k] = float64(k*lvStride) * lvStep
	}
	return t
}()

func lotkaVolterraTask() (*Task, error) {
	prior, err := dist.NewLogNormal([]float64{-0.125, -3, -0.125, -3}, fill(4, 0.5))
	if err != nil {
		return nil, err
	}
	pool := newODEPool(2, lvObs)
	// solve writes log(clamp(u, 1e-10, 1e4)) into mu: prey at the 10 times,
	// then predators.
	solve := func(mu, theta []float64) error {
		w := pool.get()
		defer pool.put(w)
		y0 := [2]float64{lvPrey0, lvPred0}
		th := [4]float64{theta[0], theta[1], theta[2], theta[3]}
		f := func(_ float64, y, dy []float64) { lvRHS(&th, y, dy) }
		if _, err := w.dp.Solve(f, 0, y0[:], lvTimes, w.out); err != nil {
			return err
		}
		for k := range lvObs {
			mu[k] = math.Log(math.Min(lvClampHi, math.Max(lvClampLo, w.out[2*k])))
			mu[lvObs+k] = math.Log(math.Min(lvClampHi, math.Max(lvClampLo, w.out[2*k+1])))
		}
		return nil
	}
	sim := &taskSim{name: "lotka_volterra", thetaDim: 4, xDim: 2 * lvObs, sim: func(dst, theta []float64, rng *rand.Rand) error {
		if err := solve(dst, theta); err != nil {
			return err
		}
		for i, m := range dst {
			dst[i] = math.Exp(m + lvLogNoise*rng.NormFloat64())
		}
		return nil
	}}
	lik := &likelihood{sim: sim, cond: func(theta []float64) xDist {
		mu := make([]float64, 2*lvObs)
		if err := solve(mu, theta); err != nil {
			return failedSolve(err)
		}
		return xDist{
			logProb: func(x []float64) float64 {
				var lp float64
				for i, v := range x {
					if !(v > 0) {
						return math.Inf(-1)
					}
					lv := math.Log(v)
					lp += logNormPDF(lv, mu[i], lvLogNoise) - lv
				}
				return lp
			},
			sample: func(dst []float64, rng *rand.Rand) {
				for i, m := range mu {
					dst[i] = math.Exp(m + lvLogNoise*rng.NormFloat64())
				}
			},
		}
	}}
	names := append(defaultNames("prey", lvObs), defaultNames("predator", lvObs)...)
	return &Task{
		Prior: prior, Simulator: sim, Likelihood: lik,
		ThetaNames: []string{"alpha", "beta", "gamma", "delta"}, XNames: names,
	}, nil
}
