package simulators

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/gosbi/gosbi/dist"
)

// Constants of the Gaussian tasks (sbibm gaussian_linear,
// gaussian_linear_uniform): the prior covariance and the noise covariance
// are both 0.1·I.
const (
	gaussianLinearDim = 10
	gaussianPriorVar  = 0.1
	gaussianNoiseVar  = 0.1
)

// gaussianNoise is x | θ ~ N(θ, 0.1·I).
func gaussianNoise(name string, d int) (*taskSim, *likelihood) {
	sd := math.Sqrt(gaussianNoiseVar)
	sim := &taskSim{name: name, thetaDim: d, xDim: d, sim: func(dst, theta []float64, rng *rand.Rand) error {
		for i, th := range theta {
			dst[i] = th + sd*rng.NormFloat64()
		}
		return nil
	}}
	lik := &likelihood{sim: sim, cond: func(theta []float64) xDist {
		return xDist{logProb: func(x []float64) float64 {
			var lp float64
			for i, v := range x {
				lp += logNormPDF(v, theta[i], sd)
			}
			return lp
		}}
	}}
	return sim, lik
}

func gaussianLinearTask() (*Task, error) {
	d := gaussianLinearDim
	prior, err := dist.NewDiagNormal(make([]float64, d), fill(d, math.Sqrt(gaussianPriorVar)))
	if err != nil {
		return nil, err
	}
	sim, lik := gaussianNoise("gaussian_linear", d)
	return &Task{
		Prior: prior, Simulator: sim, Likelihood: lik,
		ThetaNames: defaultNames("theta", d), XNames: defaultNames("x", d),
		Posterior: func(x []float64) (dist.Distribution, error) { return GaussianLinearPosterior(x) },
	}, nil
}

// GaussianLinearPosterior returns the exact posterior of the gaussian_linear
// task at the observation x (length 10): with prior N(0, 0.1·I) and
// likelihood N(θ, 0.1·I), the posterior precision is 1/0.1 + 1/0.1 = 20, so
// p(θ | x) = N(x/2, 0.05·I). It returns an error wrapping ErrShape when
// len(x) != 10 and the error of dist.NewDiagNormal for non-finite x.
func GaussianLinearPosterior(x []float64) (*dist.Normal, error) {
	if len(x) != gaussianLinearDim {
		return nil, fmt.Errorf("simulators: gaussian_linear posterior: len(x) = %d, want %d: %w", len(x), gaussianLinearDim, ErrShape)
	}
	prec := 1/gaussianPriorVar + 1/gaussianNoiseVar
	mu := make([]float64, len(x))
	for i, v := range x {
		mu[i] = v / gaussianNoiseVar / prec
	}
	return dist.NewDiagNormal(mu, fill(len(x), math.Sqrt(1/prec)))
}

func gaussianLinearUniformTask() (*Task, error) {
	d := gaussianLinearDim
	prior, err := dist.NewBoxUniform(fill(d, -1), fill(d, 1))
	if err != nil {
		return nil, err
	}
	sim, lik := gaussianNoise("gaussian_linear_uniform", d)
	return &Task{Prior: prior, Simulator: sim, Likelihood: lik, ThetaNames: defaultNames("theta", d), XNames: defaultNames("x", d)}, nil
}

// gaussianMixtureTask: θ ~ U([-10, 10]²); x ~ N(θ, I) or N(θ, 0.1²·I) with
// probability ½ each, one component per simulation.
func gaussianMixtureTask() (*Task, error) {
	prior, err := dist.NewBoxUniform([]float64{-10, -10}, []float64{10, 10})
	if err != nil {
		return nil, err
	}
	const wide, narrow = 1.0, 0.1
	sim := &taskSim{name: "gaussian_mixture", thetaDim: 2, xDim: 2, sim: func(dst, theta []float64, rng *rand.Rand) error {
		sd := wide
		if rng.Float64() < 0.5 {
			sd = narrow
		}
		dst[0] = theta[0] + sd*rng.NormFloat64()
		dst[1] = theta[1] + sd*rng.NormFloat64()
		return nil
	}}
	lik := &likelihood{sim: sim, cond: func(theta []float64) xDist {
		return xDist{logProb: func(x []float64) float64 {
			a := logNormPDF(x[0], theta[0], wide) + logNormPDF(x[1], theta[1], wide)
			b := logNormPDF(x[0], theta[0], narrow) + logNormPDF(x[1], theta[1], narrow)
			return math.Log(0.5) + logAddExp(a, b)
		}}
	}}
	return &Task{Prior: prior, Simulator: sim, Likelihood: lik, ThetaNames: defaultNames("theta", 2), XNames: defaultNames("x", 2)}, nil
}

// logAddExp returns log(exp(a) + exp(b)).
func logAddExp(a, b float64) float64 {
	if a < b {
		a, b = b, a
	}
	if math.IsInf(a, -1) {
		return a
	}
	return a + math.Log1p(math.Exp(b-a))
}

// Two moons constants (sbibm two_moons): the radius r ~ N(0.1, 0.01²), the
// angle a ~ U(-π/2, π/2), and the shift 0.25 of the crescent.
const (
	moonRadiusMean = 0.1
	moonRadiusStd  = 0.01
	moonShift      = 0.25
)

func twoMoonsTask() (*Task, error) {
	prior, err := dist.NewBoxUniform([]float64{-1, -1}, []float64{1, 1})
	if err != nil {
		return nil, err
	}
	sim := &taskSim{name: "two_moons", thetaDim: 2, xDim: 2, sim: func(dst, theta []float64, rng *rand.Rand) error {
		a := math.Pi * (rng.Float64() - 0.5)
		r := moonRadiusMean + moonRadiusStd*rng.NormFloat64()
		px, py := r*math.Cos(a)+moonShift, r*math.Sin(a)
		z0 := (theta[0] + theta[1]) / math.Sqrt2
		z1 := (-theta[0] + theta[1]) / math.Sqrt2
		dst[0] = px - math.Abs(z0)
		dst[1] = py + z1
		return nil
	}}
	lik := &likelihood{sim: sim, cond: func(theta []float64) xDist {
		z0 := (theta[0] + theta[1]) / math.Sqrt2
		z1 := (-theta[0] + theta[1]) / math.Sqrt2
		return xDist{logProb: func(x []float64) float64 {
			// Invert the simulator: (u, v) = r·(cos a, sin a) in polar
			// coordinates, so p(x | θ) = N(ρ; 0.1, 0.01²)·(1/π)/ρ for u > 0.
			u := x[0] + math.Abs(z0) - moonShift
			v := x[1] - z1
			rho := math.Hypot(u, v)
			if !(u > 0) {
				return math.Inf(-1)
			}
			return logNormPDF(rho, moonRadiusMean, moonRadiusStd) - math.Log(math.Pi*rho)
		}}
	}}
	return &Task{Prior: prior, Simulator: sim, Likelihood: lik, ThetaNames: defaultNames("theta", 2), XNames: defaultNames("x", 2)}, nil
}

// slcpMoments returns the mean and the Cholesky factor (l11, l21, l22) of
// the SLCP Gaussian at θ: m = (θ1, θ2), standard deviations θ3² and θ4²,
// correlation tanh(θ5), plus 1e-6 on the diagonal of the covariance.
func slcpMoments(theta []float64) (m0, m1, l11, l21, l22 float64) {
	s1, s2 := theta[2]*theta[2], theta[3]*theta[3]
	rho := math.Tanh(theta[4])
	c11 := s1*s1 + 1e-6
	c21 := rho * s1 * s2
	c22 := s2*s2 + 1e-6
	l11 = math.Sqrt(c11)
	l21 = c21 / l11
	l22 = math.Sqrt(c22 - l21*l21)
	return theta[0], theta[1], l11, l21, l22
}

// slcpSim writes the 8 SLCP values at θ into dst: 4 draws from the 2-D
// Gaussian, interleaved (x¹₁, x¹₂, x²₁, ...).
func slcpSim(dst, theta []float64, rng *rand.Rand) {
	m0, m1, l11, l21, l22 := slcpMoments(theta)
	for j := range 4 {
		e0, e1 := rng.NormFloat64(), rng.NormFloat64()
		dst[2*j] = m0 + l11*e0
		dst[2*j+1] = m1 + l21*e0 + l22*e1
	}
}

// slcpLogLik returns Σ_j log N(x⁽ʲ⁾; m, Σ) for the 8 interleaved values.
func slcpLogLik(x, theta []float64) float64 {
	m0, m1, l11, l21, l22 := slcpMoments(theta)
	lp := -4 * (2*logSqrt2Pi + math.Log(l11) + math.Log(l22))
	for j := range 4 {
		z0 := (x[2*j] - m0) / l11
		z1 := (x[2*j+1] - m1 - l21*z0) / l22
		lp -= 0.5 * (z0*z0 + z1*z1)
	}
	return lp
}

func slcpTask() (*Task, error) {
	prior, err := dist.NewBoxUniform(fill(5, -3), fill(5, 3))
	if err != nil {
		return nil, err
	}
	sim := &taskSim{name: "slcp", thetaDim: 5, xDim: 8, sim: func(dst, theta []float64, rng *rand.Rand) error {
		slcpSim(dst, theta, rng)
		return nil
	}}
	lik := &likelihood{sim: sim, cond: func(theta []float64) xDist {
		return xDist{logProb: func(x []float64) float64 { return slcpLogLik(x, theta) }}
	}}
	return &Task{Prior: prior, Simulator: sim, Likelihood: lik, ThetaNames: defaultNames("theta", 5), XNames: defaultNames("x", 8)}, nil
}
