package simulators

import (
	"math"
	"math/rand/v2"
)

// binomial draws from Binomial(n, p) by exact inversion, searching outward
// from the mode (pmf ratios walk up and down alternately), so the expected
// cost is O(√(n·p·(1-p))) steps and one evaluation of log-gamma; it does not
// allocate. p outside [0, 1] is clamped.
func binomial(n int, p float64, rng *rand.Rand) int {
	switch {
	case n <= 0 || !(p > 0):
		return 0
	case p >= 1:
		return n
	}
	nf := float64(n)
	m := min(int(math.Floor((nf+1)*p)), n)
	pm := math.Exp(logBinomPMF(m, n, p))
	u := rng.Float64() - pm
	if u < 0 {
		return m
	}
	q := p / (1 - p)
	up, down, pu, pd := m, m, pm, pm
	for up < n || down > 0 {
		if up < n {
			pu *= float64(n-up) / float64(up+1) * q
			up++
			if u -= pu; u < 0 {
				return up
			}
		}
		if down > 0 {
			pd *= float64(down) / (float64(n-down+1) * q)
			down--
			if u -= pd; u < 0 {
				return down
			}
		}
	}
	return m // only reached through rounding when u was within 1e-16 of 1
}

// logBinomPMF is log P(K = k) for K ~ Binomial(n, p).
func logBinomPMF(k, n int, p float64) float64 {
	if k < 0 || k > n {
		return math.Inf(-1)
	}
	switch {
	case p <= 0:
		if k == 0 {
			return 0
		}
		return math.Inf(-1)
	case p >= 1:
		if k == n {
			return 0
		}
		return math.Inf(-1)
	}
	a, _ := math.Lgamma(float64(n) + 1)
	b, _ := math.Lgamma(float64(k) + 1)
	c, _ := math.Lgamma(float64(n-k) + 1)
	return a - b - c + float64(k)*math.Log(p) + float64(n-k)*math.Log1p(-p)
}

// chiSquare draws from the χ² distribution with df degrees of freedom, as
// 2·Gamma(df/2, 1), with the method of Marsaglia and Tsang ("A simple method
// for generating gamma variables", ACM TOMS 26(3), 2000), boosted for shapes
// below 1. For df = 2 it is exactly 2·Exp(1).
func chiSquare(df float64, rng *rand.Rand) float64 {
	if df == 2 {
		return 2 * rng.ExpFloat64()
	}
	return 2 * gammaRand(df/2, rng)
}

func gammaRand(shape float64, rng *rand.Rand) float64 {
	if shape < 1 {
		// Gamma(a) = Gamma(a+1)·U^(1/a).
		return gammaRand(shape+1, rng) * math.Pow(rng.Float64(), 1/shape)
	}
	d := shape - 1.0/3
	c := 1 / math.Sqrt(9*d)
	for {
		var x, v float64
		for v <= 0 {
			x = rng.NormFloat64()
			v = 1 + c*x
		}
		v = v * v * v
		u := rng.Float64()
		if u < 1-0.0331*x*x*x*x || math.Log(u) < 0.5*x*x+d*(1-v+math.Log(v)) {
			return d * v
		}
	}
}

// logSigmoid returns log(1/(1+exp(-z))) without overflow.
func logSigmoid(z float64) float64 {
	if z >= 0 {
		return -math.Log1p(math.Exp(-z))
	}
	return z - math.Log1p(math.Exp(z))
}

// sigmoid returns 1/(1+exp(-z)).
func sigmoid(z float64) float64 {
	if z >= 0 {
		return 1 / (1 + math.Exp(-z))
	}
	e := math.Exp(z)
	return e / (1 + e)
}

const (
	logSqrt2Pi = 0.9189385332046727 // log √(2π)
)

// logNormPDF is log N(x; mu, sigma²).
func logNormPDF(x, mu, sigma float64) float64 {
	z := (x - mu) / sigma
	return -0.5*z*z - math.Log(sigma) - logSqrt2Pi
}
