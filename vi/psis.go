package vi

import (
	"fmt"
	"math"
	"sort"
)

// KhatThreshold is the Pareto k̂ above which importance weights are too
// heavy-tailed for reliable estimates: Vehtari, Simpson, Gelman, Yao & Gabry
// (2024, "Pareto smoothed importance sampling", JMLR 25, section 3) and Yao,
// Vehtari, Simpson & Gelman (2018, "Yes, but did it work?") use 0.7.
const KhatThreshold = 0.7

// epsilon is the float64 machine epsilon, 2⁻⁵².
const epsilon = 0x1p-52

// minPSIS is the smallest number of finite log ratios PSIS accepts: the
// tail must have at least 5 draws, and min(n/5, 3√n) ≥ 5 needs n ≥ 25.
const minPSIS = 25

// PSISResult is the outcome of Pareto-smoothed importance sampling.
type PSISResult struct {
	// LogWeights are the smoothed log weights, normalised so that their
	// exponentials sum to 1 (-Inf where the ratio was -Inf).
	LogWeights []float64
	// Khat is the estimated shape k of the generalised Pareto distribution
	// fitted to the largest ratios. Below 0.5 the raw weights have finite
	// variance; above KhatThreshold the estimates are unreliable. When the
	// largest ratios are all equal no tail is fitted and Khat is -Inf.
	Khat float64
	// TailLen is the number M of largest ratios fitted and smoothed.
	TailLen int
	// ESS is the effective sample size 1/Σ w̃² of the smoothed weights.
	ESS float64
	// LogZ is log((1/n) Σ exp(logRatios)) of the raw ratios: with ratios
	// p̃/q for draws from q, the importance-sampling estimate of log ∫p̃.
	LogZ float64
}

// PSIS applies Pareto-smoothed importance sampling (Vehtari et al. 2024,
// Algorithm 1) to the log importance ratios log(p̃(θ_i)/q(θ_i)) of draws θ_i
// from q: it fits a generalised Pareto distribution to the M =
// ⌈min(n/5, 3√n)⌉ largest ratios (n the number of finite ratios) by the
// method of Zhang & Stephens (2009, Technometrics 51(3)) with the weakly
// informative prior of Vehtari et al. (k̂ shrunk towards 0.5 as if by 10
// extra observations, as in the R package loo), replaces them by the
// expected order statistics of the fit (capped at the largest raw ratio) and
// normalises. -Inf ratios get weight zero.
//
// The error wraps ErrData if a ratio is NaN or +Inf or fewer than 25 are
// finite.
func PSIS(logRatios []float64) (*PSISResult, error) {
	var idx []int
	lmax := math.Inf(-1)
	for i, v := range logRatios {
		switch {
		case math.IsNaN(v) || math.IsInf(v, 1):
			return nil, fmt.Errorf("vi: PSIS: log ratio %d is %v: %w", i, v, ErrData)
		case math.IsInf(v, -1):
		default:
			idx = append(idx, i)
			lmax = max(lmax, v)
		}
	}
	n := len(idx)
	if n < minPSIS {
		return nil, fmt.Errorf("vi: PSIS: %d finite log ratios, need at least %d: %w", n, minPSIS, ErrData)
	}
	res := &PSISResult{LogWeights: make([]float64, len(logRatios))}
	// Work with lw = logRatio - max, so the largest weight is 1.
	for i, v := range logRatios {
		res.LogWeights[i] = v - lmax
	}
	res.LogZ = lmax + logMeanExp(res.LogWeights, len(logRatios))
	sort.Slice(idx, func(a, b int) bool { return res.LogWeights[idx[a]] < res.LogWeights[idx[b]] })
	m := int(math.Ceil(min(0.2*float64(n), 3*math.Sqrt(float64(n)))))
	res.TailLen = m
	tail := idx[n-m:]
	cutoff := res.LogWeights[idx[n-m-1]] // the largest value below the tail
	lo, hi := res.LogWeights[tail[0]], res.LogWeights[tail[m-1]]
	if hi-lo < epsilon/100 { // loo's test for a constant tail
		res.Khat = math.Inf(-1)
	} else {
		expCut := math.Exp(cutoff)
		x := make([]float64, m)
		for j, i := range tail {
			x[j] = math.Exp(res.LogWeights[i]) - expCut
		}
		k, sigma := gpdFit(x)
		res.Khat = k
		if finite(k) && sigma > 0 {
			for j, i := range tail {
				p := (float64(j) + 0.5) / float64(m)
				// Cap at the largest raw weight, exp(0) = 1.
				res.LogWeights[i] = min(0, math.Log(gpdQuantile(p, k, sigma)+expCut))
			}
		}
	}
	// Normalise.
	lse := logSumExp(res.LogWeights)
	var sq float64
	for i := range res.LogWeights {
		res.LogWeights[i] -= lse
		w := math.Exp(res.LogWeights[i])
		sq += w * w
	}
	res.ESS = 1 / sq
	return res, nil
}

// gpdFit estimates the shape k and scale σ of a generalised Pareto
// distribution (location 0) from the exceedances x (positive, sorted
// ascending) by the profile-likelihood-weighted method of Zhang & Stephens
// (2009), with the grid and prior of the R package loo's gpdfit (30 + ⌊√n⌋
// grid points, prior weight 3 on the first quartile), and then the weakly
// informative adjustment k ← (n·k + 10·0.5)/(n + 10) of Vehtari et al.
// (2024, appendix C). σ is computed before the adjustment, as loo does.
func gpdFit(x []float64) (k, sigma float64) {
	n := len(x)
	const prior = 3
	m := 30 + int(math.Sqrt(float64(n)))
	xstar := x[int(float64(n)/4+0.5)-1] // first quartile
	for i := 0; xstar <= 0 && i < n; i++ {
		xstar = x[i] // ties at the cutoff: use the smallest positive value
	}
	theta := make([]float64, m)
	logLik := make([]float64, m)
	for j := range m {
		theta[j] = 1/x[n-1] + (1-math.Sqrt(float64(m)/(float64(j+1)-0.5)))/prior/xstar
		kj := meanLog1p(x, -theta[j])
		logLik[j] = float64(n) * (math.Log(-theta[j]/kj) - kj - 1)
	}
	// Posterior weights of the grid points; negligible ones are dropped
	// as in loo.
	lse := logSumExp(logLik)
	var thetaHat, wsum float64
	for j := range m {
		w := math.Exp(logLik[j] - lse)
		if !(w >= 10*epsilon) {
			continue
		}
		thetaHat += theta[j] * w
		wsum += w
	}
	thetaHat /= wsum
	k = meanLog1p(x, -thetaHat)
	sigma = -k / thetaHat
	const a = 10 // prior strength, in observations, of k = 0.5
	k = (k*float64(n) + a*0.5) / (float64(n) + a)
	return k, sigma
}

// meanLog1p returns mean(log1p(b·x_i)).
func meanLog1p(x []float64, b float64) float64 {
	var s float64
	for _, v := range x {
		s += math.Log1p(b * v)
	}
	return s / float64(len(x))
}

// gpdQuantile returns the p-quantile of the generalised Pareto distribution
// with shape k, scale sigma and location 0: σ·((1-p)^(-k) - 1)/k, or
// -σ·log(1-p) for k = 0.
func gpdQuantile(p, k, sigma float64) float64 {
	if k == 0 {
		return -sigma * math.Log1p(-p)
	}
	return sigma * math.Expm1(-k*math.Log1p(-p)) / k
}

// logSumExp returns log Σ exp(v_i), -Inf for no finite entries.
func logSumExp(v []float64) float64 {
	m := math.Inf(-1)
	for _, a := range v {
		m = max(m, a)
	}
	if math.IsInf(m, -1) {
		return m
	}
	var s float64
	for _, a := range v {
		s += math.Exp(a - m)
	}
	return m + math.Log(s)
}

// logMeanExp returns log((1/n) Σ exp(v_i)).
func logMeanExp(v []float64, n int) float64 {
	return logSumExp(v) - math.Log(float64(n))
}
