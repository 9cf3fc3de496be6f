package mcmc

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"

	"gonum.org/v1/gonum/dsp/fourier"
	"gonum.org/v1/gonum/stat/distuv"
)

// Errors returned by the convergence diagnostics.
var (
	// ErrNoChains is returned when a diagnostic or the driver is given zero chains.
	ErrNoChains = errors.New("mcmc: no chains")
	// ErrShortChains is returned when chains are too short for a diagnostic
	// (fewer than MinDraws draws per chain).
	ErrShortChains = errors.New("mcmc: chains too short")
	// ErrRaggedChains is returned when chains have different lengths.
	ErrRaggedChains = errors.New("mcmc: chains have different lengths")
	// ErrNonFinite is returned when a chain holds NaN or an infinite value.
	ErrNonFinite = errors.New("mcmc: chains hold a non-finite value")
)

// MinDraws is the fewest draws per chain the diagnostics accept: each chain
// is split in two halves and each half needs at least two draws.
const MinDraws = 4

// checkChains validates plain chains and returns the number of draws per chain.
func checkChains(chains [][]float64) (int, error) {
	if len(chains) == 0 {
		return 0, ErrNoChains
	}
	n := len(chains[0])
	for k, c := range chains {
		if len(c) != n {
			return 0, fmt.Errorf("%w: chain 0 has %d draws, chain %d has %d", ErrRaggedChains, n, k, len(c))
		}
		for i, v := range c {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return 0, fmt.Errorf("%w: chain %d draw %d is %v", ErrNonFinite, k, i, v)
			}
		}
	}
	if n < MinDraws {
		return 0, fmt.Errorf("%w: %d draws per chain, need at least %d", ErrShortChains, n, MinDraws)
	}
	return n, nil
}

// split returns 2m half-chains of length n/2 each; with an odd n the middle
// draw is dropped (Vehtari et al. 2021, section 4.1). The halves alias chains.
func split(chains [][]float64) [][]float64 {
	n := len(chains[0])
	h := n / 2
	out := make([][]float64, 0, 2*len(chains))
	for _, c := range chains {
		out = append(out, c[:h], c[n-h:])
	}
	return out
}

// RHat returns the rank-normalised split-R̂ of Vehtari et al. (2021, section
// 4.2): the larger of the split-R̂ of the rank-normalised draws (bulk) and of
// the rank-normalised draws folded about the median (tail). Each element of
// chains is one chain of one scalar quantity; all chains must have the same
// length, at least MinDraws. Values near 1 indicate convergence; Vehtari et
// al. recommend requiring R̂ < 1.01. A quantity that is constant across every
// chain gives NaN.
func RHat(chains [][]float64) (float64, error) {
	if _, err := checkChains(chains); err != nil {
		return math.NaN(), err
	}
	s := split(chains)
	bulk := splitRHat(rankNormalize(s))
	tail := splitRHat(rankNormalize(fold(s)))
	if math.IsNaN(bulk) || math.IsNaN(tail) {
		return math.NaN(), nil
	}
	return math.Max(bulk, tail), nil
}

// SplitRHat returns the classic split-R̂ (Gelman et al., BDA3, section 11.4)
// of the draws themselves, without rank normalisation.
func SplitRHat(chains [][]float64) (float64, error) {
	if _, err := checkChains(chains); err != nil {
		return math.NaN(), err
	}
	return splitRHat(split(chains)), nil
}

// ESS returns the effective sample size of the mean of the draws, computed on
// split chains without rank normalisation (Vehtari et al. 2021, section 3.2,
// with Geyer's initial monotone sequence). Use it for the Monte Carlo
// standard error of a mean: sd/sqrt(ESS).
func ESS(chains [][]float64) (float64, error) {
	if _, err := checkChains(chains); err != nil {
		return math.NaN(), err
	}
	return ess(split(chains)), nil
}

// ESSBulk returns the bulk effective sample size of Vehtari et al. (2021,
// section 4.3): the ESS of the rank-normalised split chains. It is reliable
// for heavy-tailed quantities whose mean may not exist.
func ESSBulk(chains [][]float64) (float64, error) {
	if _, err := checkChains(chains); err != nil {
		return math.NaN(), err
	}
	return ess(rankNormalize(split(chains))), nil
}

// ESSTail returns the tail effective sample size of Vehtari et al. (2021,
// section 4.3): the smaller of the ESS of the indicators I(x ≤ q05) and
// I(x ≤ q95), where q05 and q95 are the 5% and 95% quantiles of all draws.
func ESSTail(chains [][]float64) (float64, error) {
	if _, err := checkChains(chains); err != nil {
		return math.NaN(), err
	}
	s := split(chains)
	all := pooled(s)
	slices.Sort(all)
	lo := essQuantile(s, quantileSorted(all, 0.05))
	hi := essQuantile(s, quantileSorted(all, 0.95))
	return math.Min(lo, hi), nil
}

// essQuantile returns the ESS of the indicator I(x ≤ q) on the given chains.
func essQuantile(chains [][]float64, q float64) float64 {
	ind := make([][]float64, len(chains))
	for k, c := range chains {
		ind[k] = make([]float64, len(c))
		for i, v := range c {
			if v <= q {
				ind[k][i] = 1
			}
		}
	}
	return ess(ind)
}

// pooled returns a fresh slice holding every draw of every chain.
func pooled(chains [][]float64) []float64 {
	var all []float64
	for _, c := range chains {
		all = append(all, c...)
	}
	return all
}

// quantileSorted returns the p-quantile of sorted data by linear
// interpolation between order statistics (type 7 of Hyndman and Fan 1996,
// the default of R and numpy).
func quantileSorted(sorted []float64, p float64) float64 {
	n := len(sorted)
	if n == 1 {
		return sorted[0]
	}
	h := p * float64(n-1)
	lo := int(math.Floor(h))
	if lo >= n-1 {
		return sorted[n-1]
	}
	return sorted[lo] + (h-float64(lo))*(sorted[lo+1]-sorted[lo])
}

// fold returns |x - median(x)| for every draw, the median taken over all chains.
func fold(chains [][]float64) [][]float64 {
	all := pooled(chains)
	slices.Sort(all)
	med := quantileSorted(all, 0.5)
	out := make([][]float64, len(chains))
	for k, c := range chains {
		out[k] = make([]float64, len(c))
		for i, v := range c {
			out[k][i] = math.Abs(v - med)
		}
	}
	return out
}

// rankNormalize replaces every draw by the normal score of its rank among all
// draws, Φ⁻¹((r − 3/8)/(S + 1/4)) with average ranks for ties (Blom 1958, as
// in Vehtari et al. 2021, equation 14).
func rankNormalize(chains [][]float64) [][]float64 {
	type item struct {
		v    float64
		k, i int
	}
	var items []item
	for k, c := range chains {
		for i, v := range c {
			items = append(items, item{v, k, i})
		}
	}
	sort.Slice(items, func(a, b int) bool { return items[a].v < items[b].v })
	out := make([][]float64, len(chains))
	for k, c := range chains {
		out[k] = make([]float64, len(c))
	}
	s := float64(len(items))
	for a := 0; a < len(items); {
		b := a + 1
		for b < len(items) && items[b].v == items[a].v {
			b++
		}
		// Ranks a+1..b share their average.
		r := float64(a+1+b) / 2
		z := distuv.UnitNormal.Quantile((r - 0.375) / (s + 0.25))
		for j := a; j < b; j++ {
			out[items[j].k][items[j].i] = z
		}
		a = b
	}
	return out
}

// meanVar returns the mean and the unbiased variance of x.
func meanVar(x []float64) (mean, variance float64) {
	for _, v := range x {
		mean += v
	}
	mean /= float64(len(x))
	for _, v := range x {
		d := v - mean
		variance += d * d
	}
	return mean, variance / float64(len(x)-1)
}

// splitRHat computes R̂ = sqrt(var⁺/W) on chains that are already split
// (BDA3 equations 11.2–11.4).
func splitRHat(chains [][]float64) float64 {
	m := len(chains)
	n := float64(len(chains[0]))
	means := make([]float64, m)
	var w float64
	for k, c := range chains {
		mu, v := meanVar(c)
		means[k] = mu
		w += v
	}
	w /= float64(m)
	var b float64
	if m > 1 {
		_, vb := meanVar(means)
		b = n * vb
	}
	if w == 0 {
		return math.NaN()
	}
	varPlus := (n-1)/n*w + b/n
	return math.Sqrt(varPlus / w)
}

// autocov writes the biased autocovariance estimate of x (divisor n) for lags
// 0..n-1 into dst, computed with an FFT of length 2n.
func autocov(dst, x []float64, fft *fourier.FFT, buf []float64, coeff []complex128) {
	n := len(x)
	mu := 0.0
	for _, v := range x {
		mu += v
	}
	mu /= float64(n)
	for i := range buf {
		buf[i] = 0
	}
	for i, v := range x {
		buf[i] = v - mu
	}
	coeff = fft.Coefficients(coeff, buf)
	for i, c := range coeff {
		coeff[i] = complex(real(c)*real(c)+imag(c)*imag(c), 0)
	}
	buf = fft.Sequence(buf, coeff)
	// gonum's inverse is unnormalised: Sequence(Coefficients(x)) = len·x.
	scale := 1 / (float64(len(buf)) * float64(n))
	for t := 0; t < n; t++ {
		dst[t] = buf[t] * scale
	}
}

// ess computes the multi-chain effective sample size of chains that are
// already split (and possibly rank-normalised), following Vehtari et al.
// (2021, equations 10–11) with Geyer's (1992) initial positive sequence made
// monotone, as implemented in Stan. A quantity with zero within-chain
// variance gives NaN.
func ess(chains [][]float64) float64 {
	m := len(chains)
	n := len(chains[0])
	nfft := 2 * n
	fft := fourier.NewFFT(nfft)
	buf := make([]float64, nfft)
	coeff := make([]complex128, nfft/2+1)
	acov := make([][]float64, m)
	means := make([]float64, m)
	var w float64
	for k, c := range chains {
		acov[k] = make([]float64, n)
		autocov(acov[k], c, fft, buf, coeff)
		mu, v := meanVar(c)
		means[k] = mu
		w += v
	}
	w /= float64(m)
	if w == 0 || math.IsNaN(w) {
		return math.NaN()
	}
	varPlus := w * float64(n-1) / float64(n)
	if m > 1 {
		_, vb := meanVar(means)
		varPlus += vb
	}
	// rho(t) = 1 − (W − mean_k acov_k(t)) / var⁺.
	rho := func(t int) float64 {
		var a float64
		for k := range acov {
			a += acov[k][t]
		}
		a /= float64(m)
		return 1 - (w-a)/varPlus
	}
	r := make([]float64, n+1)
	even, odd := 1.0, rho(1)
	r[0], r[1] = even, odd
	// Sum pairs of autocorrelations while their sum stays positive. The last
	// few lags are left out to reduce variance (as Stan does).
	t := 1
	for t < n-4 && even+odd > 0 {
		even = rho(t + 1)
		odd = rho(t + 2)
		if even+odd >= 0 {
			r[t+1], r[t+2] = even, odd
		}
		t += 2
	}
	maxT := t
	if even > 0 {
		r[maxT+1] = even
	}
	// Initial monotone sequence: pair sums must not increase.
	for s := 1; s <= maxT-3; s += 2 {
		if r[s+1]+r[s+2] > r[s-1]+r[s] {
			r[s+1] = (r[s-1] + r[s]) / 2
			r[s+2] = r[s+1]
		}
	}
	total := float64(m * n)
	sum := 0.0
	for i := 0; i < maxT; i++ {
		sum += r[i]
	}
	tau := -1 + 2*sum + r[maxT+1]
	// Cap the ESS at total·log10(total), as Stan does for antithetic chains.
	tau = math.Max(tau, 1/math.Log10(total))
	return total / tau
}
