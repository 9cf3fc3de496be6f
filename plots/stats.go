package plots

import (
	"fmt"
	"math"
	"slices"
	"sort"
)

// BinomialQuantile returns the q-quantile of the Binomial(n, p) distribution: the
// smallest k in 0..n with P(X ≤ k) ≥ q. The probabilities are summed exactly in
// floating point from the log-pmf, so the result is exact up to rounding at ties
// (a relative tolerance of 1e-12 is allowed on the comparison with q).
func BinomialQuantile(n int, p, q float64) (int, error) {
	if err := checkBinomial(n, p); err != nil {
		return 0, err
	}
	if !(q >= 0 && q <= 1) {
		return 0, fmt.Errorf("%w: quantile level %v not in [0, 1]", ErrInvalid, q)
	}
	switch {
	case q == 0 || p == 0:
		return 0, nil
	case q == 1:
		// Exactly: P(X ≤ k) < 1 for k < n when p > 0, however close to 1
		// the rounded sum gets.
		return n, nil
	}
	return quantileFromCDF(binomialCDF(n, p, nil), q), nil
}

// BinomialInterval returns the central interval [lo, hi] of Binomial(n, p) with
// probability at least level: lo is the (1-level)/2 quantile and hi the
// (1+level)/2 quantile, as BinomialQuantile defines them. It is the band that a
// count of events of probability p in n independent trials falls into with
// probability ≥ level, used for SBC rank histograms (Talts et al. 2018, Sec. 4.1)
// and for coverage plots.
func BinomialInterval(n int, p, level float64) (lo, hi int, err error) {
	if err := checkBinomial(n, p); err != nil {
		return 0, 0, err
	}
	if !(level > 0 && level < 1) {
		return 0, 0, fmt.Errorf("%w: level %v not in (0, 1)", ErrInvalid, level)
	}
	cdf := binomialCDF(n, p, nil)
	return quantileFromCDF(cdf, (1-level)/2), quantileFromCDF(cdf, (1+level)/2), nil
}

func checkBinomial(n int, p float64) error {
	if n < 0 {
		return fmt.Errorf("%w: binomial size %d is negative", ErrInvalid, n)
	}
	if !(p >= 0 && p <= 1) {
		return fmt.Errorf("%w: binomial probability %v not in [0, 1]", ErrInvalid, p)
	}
	return nil
}

// binomialCDF returns P(X ≤ k), k = 0..n, for X ~ Binomial(n, p), reusing dst
// when it is large enough.
func binomialCDF(n int, p float64, dst []float64) []float64 {
	if cap(dst) < n+1 {
		dst = make([]float64, n+1)
	}
	cdf := dst[:n+1]
	switch p {
	case 0:
		for k := range cdf {
			cdf[k] = 1
		}
		return cdf
	case 1:
		for k := range cdf {
			cdf[k] = 0
		}
		cdf[n] = 1
		return cdf
	}
	lp, lq := math.Log(p), math.Log1p(-p)
	lgn, _ := math.Lgamma(float64(n + 1))
	var s float64
	for k := range cdf {
		lk, _ := math.Lgamma(float64(k + 1))
		lnk, _ := math.Lgamma(float64(n - k + 1))
		s += math.Exp(lgn - lk - lnk + float64(k)*lp + float64(n-k)*lq)
		cdf[k] = min(s, 1)
	}
	cdf[n] = 1
	return cdf
}

// quantileFromCDF returns the smallest k with cdf[k] ≥ q (with a relative
// tolerance of 1e-12 against rounding in the summed probabilities).
func quantileFromCDF(cdf []float64, q float64) int {
	t := q * (1 - 1e-12)
	k := sort.Search(len(cdf), func(i int) bool { return cdf[i] >= t })
	return min(k, len(cdf)-1)
}

// quantileSorted returns the p-quantile of sorted data by linear interpolation
// between order statistics (Hyndman and Fan 1996, definition 7; R's default).
func quantileSorted(sorted []float64, p float64) float64 {
	n := len(sorted)
	if n == 1 {
		return sorted[0]
	}
	h := p * float64(n-1)
	i := int(math.Floor(h))
	if i >= n-1 {
		return sorted[n-1]
	}
	return sorted[i] + (h-float64(i))*(sorted[i+1]-sorted[i])
}

// weightedQuantiles returns the ps-quantiles of x under weights w (nil: equal
// weights). Unweighted data use quantileSorted; weighted data the smallest value
// whose cumulative normalised weight reaches p.
func weightedQuantiles(x, w []float64, ps ...float64) []float64 {
	out := make([]float64, len(ps))
	if w == nil {
		s := slices.Clone(x)
		slices.Sort(s)
		for i, p := range ps {
			out[i] = quantileSorted(s, p)
		}
		return out
	}
	idx := make([]int, len(x))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return x[idx[a]] < x[idx[b]] })
	var total float64
	for _, v := range w {
		total += v
	}
	for i, p := range ps {
		var cum float64
		out[i] = x[idx[len(idx)-1]]
		for _, j := range idx {
			cum += w[j]
			if cum >= p*total {
				out[i] = x[j]
				break
			}
		}
	}
	return out
}

// autocorr returns the sample autocorrelation of x at lags 0..maxLag,
// ρ_k = Σ_{t<n-k} (x_t-m)(x_{t+k}-m) / Σ_t (x_t-m)², the biased estimator used
// by Stan and ArviZ. A constant series is perfectly correlated: ρ_k = 1.
func autocorr(x []float64, maxLag int) []float64 {
	n := len(x)
	var m float64
	for _, v := range x {
		m += v
	}
	m /= float64(n)
	var c0 float64
	for _, v := range x {
		c0 += (v - m) * (v - m)
	}
	rho := make([]float64, maxLag+1)
	for k := range rho {
		if c0 == 0 {
			rho[k] = 1
			continue
		}
		var ck float64
		for t := 0; t+k < n; t++ {
			ck += (x[t] - m) * (x[t+k] - m)
		}
		rho[k] = ck / c0
	}
	return rho
}

// histogram adds the weights of the values of x falling into [lo, hi] to bins
// equal-width bins and returns them; w nil means unit weights. A value equal to
// hi falls into the last bin; values outside are ignored.
func histogram(x, w []float64, lo, hi float64, bins int) []float64 {
	h := make([]float64, bins)
	scale := float64(bins) / (hi - lo)
	for i, v := range x {
		if !(v >= lo && v <= hi) {
			continue
		}
		b := min(int((v-lo)*scale), bins-1)
		if w == nil {
			h[b]++
		} else {
			h[b] += w[i]
		}
	}
	return h
}

// histogram2D is histogram for pairs: cell (i, j) (x bin i, y bin j) is stored
// at j*nx+i.
func histogram2D(x, y, w []float64, xlo, xhi, ylo, yhi float64, nx, ny int) []float64 {
	h := make([]float64, nx*ny)
	sx := float64(nx) / (xhi - xlo)
	sy := float64(ny) / (yhi - ylo)
	for i := range x {
		u, v := x[i], y[i]
		if !(u >= xlo && u <= xhi && v >= ylo && v <= yhi) {
			continue
		}
		bi := min(int((u-xlo)*sx), nx-1)
		bj := min(int((v-ylo)*sy), ny-1)
		if w == nil {
			h[bj*nx+bi]++
		} else {
			h[bj*nx+bi] += w[i]
		}
	}
	return h
}

// smooth2D convolves the nx×ny grid g (layout of histogram2D) in place with a
// Gaussian of standard deviation sigma cells, truncated at 3 sigma and
// normalised; cells beyond the edge count as zero (mass near the edge leaks). sigma ≤ 0 leaves g unchanged.
func smooth2D(g []float64, nx, ny int, sigma float64) {
	if sigma <= 0 {
		return
	}
	r := int(math.Ceil(3 * sigma))
	k := make([]float64, 2*r+1)
	var ks float64
	for i := range k {
		d := float64(i - r)
		k[i] = math.Exp(-0.5 * d * d / (sigma * sigma))
		ks += k[i]
	}
	for i := range k {
		k[i] /= ks
	}
	tmp := make([]float64, len(g))
	for j := range ny {
		for i := range nx {
			var s float64
			for t, kv := range k {
				if ii := i + t - r; ii >= 0 && ii < nx {
					s += kv * g[j*nx+ii]
				}
			}
			tmp[j*nx+i] = s
		}
	}
	for j := range ny {
		for i := range nx {
			var s float64
			for t, kv := range k {
				if jj := j + t - r; jj >= 0 && jj < ny {
					s += kv * tmp[jj*nx+i]
				}
			}
			g[j*nx+i] = s
		}
	}
}

// credibleThresholds returns, for each level l, the density value t such that
// the cells with value ≥ t hold at least the fraction l of the total mass of g
// and no higher value does (the highest-density region of g at level l, as
// corner.py computes it). It returns nil when g holds no mass.
func credibleThresholds(g []float64, levels []float64) []float64 {
	s := slices.Clone(g)
	slices.SortFunc(s, func(a, b float64) int {
		switch {
		case a > b:
			return -1
		case a < b:
			return 1
		}
		return 0
	})
	var total float64
	for _, v := range s {
		total += v
	}
	if !(total > 0) {
		return nil
	}
	out := make([]float64, len(levels))
	for i, l := range levels {
		var cum float64
		out[i] = s[len(s)-1]
		for _, v := range s {
			cum += v
			if cum >= l*total {
				out[i] = v
				break
			}
		}
	}
	return out
}
