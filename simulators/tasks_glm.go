package simulators

import (
	"math"
	"math/rand/v2"

	"github.com/gosbi/gosbi/dist"
	"gonum.org/v1/gonum/mat"
)

// Bernoulli GLM constants (sbibm bernoulli_glm): 100 time bins, a 9-tap
// filter and an offset.
const (
	glmBins   = 100
	glmFilter = 9
	glmDim    = glmFilter + 1
)

// glmStimulus returns the stimulus of the Bernoulli GLM tasks: numpy's
// RandomState(42).randn(100) rounded to float32, as sbibm stores it.
func glmStimulus() []float64 {
	m := newMT19937(42)
	s := make([]float64, glmBins)
	for i := range s {
		s[i] = float64(float32(m.normFloat64()))
	}
	return s
}

// glmDesign returns the 100×10 design matrix, row-major: column 0 is 1 and
// column j+1 holds the stimulus delayed by j bins (zero before it starts),
// j = 0..8, so that X·θ convolves the stimulus causally with the filter.
func glmDesign(stim []float64) []float64 {
	x := make([]float64, glmBins*glmDim)
	for t := range glmBins {
		x[t*glmDim] = 1
		for j := range glmFilter {
			if t >= j {
				x[t*glmDim+j+1] = stim[t-j]
			}
		}
	}
	return x
}

// glmPriorCovariance returns the prior covariance B⁻¹ of the Bernoulli GLM,
// where the precision is B = blockdiag(0.5, FᵀF), F = D·D + diag(√(i/9)),
// i = 0..8, and D is the 9×9 first-difference matrix (1 on the diagonal, -1
// below it).
func glmPriorCovariance() (*mat.SymDense, error) {
	d := mat.NewDense(glmFilter, glmFilter, nil)
	for i := range glmFilter {
		d.Set(i, i, 1)
		if i > 0 {
			d.Set(i, i-1, -1)
		}
	}
	var f mat.Dense
	f.Mul(d, d)
	for i := range glmFilter {
		f.Set(i, i, f.At(i, i)+math.Sqrt(float64(i)/glmFilter))
	}
	prec := mat.NewSymDense(glmDim, nil)
	prec.SetSym(0, 0, 0.5)
	var ftf mat.Dense
	ftf.Mul(f.T(), &f)
	for i := range glmFilter {
		for j := i; j < glmFilter; j++ {
			prec.SetSym(i+1, j+1, ftf.At(i, j))
		}
	}
	var chol mat.Cholesky
	if !chol.Factorize(prec) {
		return nil, ErrInput // unreachable: B is positive definite by construction
	}
	cov := mat.NewSymDense(glmDim, nil)
	if err := chol.InverseTo(cov); err != nil {
		return nil, err
	}
	return cov, nil
}

// bernoulliGLMTask builds bernoulli_glm (raw = false: x = Xᵀy, 10 summary
// statistics) or bernoulli_glm_raw (raw = true: x = y, 100 binary values).
func bernoulliGLMTask(raw bool) (*Task, error) {
	cov, err := glmPriorCovariance()
	if err != nil {
		return nil, err
	}
	prior, err := dist.NewNormal(make([]float64, glmDim), cov)
	if err != nil {
		return nil, err
	}
	design := glmDesign(glmStimulus())
	// linear writes ψ = X·θ into psi.
	linear := func(psi, theta []float64) {
		for t := range glmBins {
			row := design[t*glmDim : (t+1)*glmDim]
			var s float64
			for j, v := range row {
				s += v * theta[j]
			}
			psi[t] = s
		}
	}
	name, xDim := "bernoulli_glm", glmDim
	if raw {
		name, xDim = "bernoulli_glm_raw", glmBins
	}
	sim := &taskSim{name: name, thetaDim: glmDim, xDim: xDim, sim: func(dst, theta []float64, rng *rand.Rand) error {
		var psi [glmBins]float64
		linear(psi[:], theta)
		if raw {
			for t, p := range psi {
				dst[t] = 0
				if rng.Float64() < sigmoid(p) {
					dst[t] = 1
				}
			}
			return nil
		}
		clear(dst)
		for t, p := range psi {
			if rng.Float64() < sigmoid(p) {
				for j, v := range design[t*glmDim : (t+1)*glmDim] {
					dst[j] += v
				}
			}
		}
		return nil
	}}
	thetaNames := append([]string{"offset"}, defaultNames("filter", glmFilter)...)
	t := &Task{Prior: prior, Simulator: sim, ThetaNames: thetaNames}
	if !raw {
		t.XNames = append([]string{"spike_count"}, defaultNames("sta", glmFilter)...)
		return t, nil
	}
	t.XNames = defaultNames("y", glmBins)
	t.Likelihood = &likelihood{sim: sim, cond: func(theta []float64) xDist {
		psi := make([]float64, glmBins)
		linear(psi, theta)
		return xDist{logProb: func(x []float64) float64 {
			var lp float64
			for i, y := range x {
				switch y {
				case 1:
					lp += logSigmoid(psi[i])
				case 0:
					lp += logSigmoid(-psi[i])
				default:
					return math.Inf(-1)
				}
			}
			return lp
		}}
	}}
	return t, nil
}
