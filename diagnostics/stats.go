package diagnostics

import (
	"math"
	"slices"
	"sort"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat/distuv"
)

// KolmogorovPValue returns P(D_n >= d), the p-value of the one-sample
// Kolmogorov–Smirnov statistic d computed from n observations against a
// fully specified continuous distribution.
//
// For n ≤ 1000 it is exact, by the matrix method of Marsaglia, Tsang and
// Wang, "Evaluating Kolmogorov's distribution", J. Stat. Softw. 8(18), 2003
// (a matrix of order 2⌊nd⌋+1 ≤ 171 raised to the n-th power). For larger n,
// and whenever n·d² > 7.24 (where the p-value is below about 1e-6), it uses
// the limiting Kolmogorov distribution with Stephens' finite-n correction
// λ = (√n + 0.12 + 0.11/√n)·d (Numerical Recipes, 3rd ed., §14.3.3), whose
// error is then below 1e-3.
// For a discrete null distribution the p-value is conservative.
// It returns NaN if n < 1 or d is NaN.
func KolmogorovPValue(d float64, n int) float64 {
	switch {
	case n < 1 || math.IsNaN(d):
		return math.NaN()
	case d <= 0:
		return 1
	case d >= 1:
		return 0
	}
	nf := float64(n)
	if nf*d <= 0.5 {
		// D_n ≥ 1/(2n) always, so P(D_n ≥ d) = 1 here.
		return 1
	}
	if n > 1000 || nf*d*d > 7.24 {
		return kolmogorovQ((math.Sqrt(nf) + 0.12 + 0.11/math.Sqrt(nf)) * d)
	}
	p := 1 - mtwCDF(n, d)
	return math.Min(1, math.Max(0, p))
}

// KolmogorovTwoSamplePValue returns the asymptotic p-value of the two-sample
// Kolmogorov–Smirnov statistic d between samples of sizes n and m: the
// limiting Kolmogorov distribution at λ = (√nₑ + 0.12 + 0.11/√nₑ)·d with
// nₑ = nm/(n+m) (Numerical Recipes, 3rd ed., §14.3.3). It returns NaN if
// n or m is below 1.
func KolmogorovTwoSamplePValue(d float64, n, m int) float64 {
	if n < 1 || m < 1 || math.IsNaN(d) {
		return math.NaN()
	}
	ne := float64(n) * float64(m) / float64(n+m)
	s := math.Sqrt(ne)
	return kolmogorovQ((s + 0.12 + 0.11/s) * d)
}

// kolmogorovQ is the survival function of the Kolmogorov distribution,
// Q(λ) = 2 Σ_{j≥1} (−1)^{j−1} exp(−2j²λ²), with the dual theta series
// 1 − √(2π)/λ Σ_{j≥1} exp(−(2j−1)²π²/(8λ²)) for small λ where the first
// converges slowly.
func kolmogorovQ(lambda float64) float64 {
	if lambda <= 0 {
		return 1
	}
	if lambda < 1.18 {
		y := math.Exp(-math.Pi * math.Pi / (8 * lambda * lambda))
		s := 0.0
		for j := 1; j < 20; j++ {
			e := float64((2*j - 1) * (2*j - 1))
			t := math.Pow(y, e)
			s += t
			if t < 1e-17*s {
				break
			}
		}
		return 1 - math.Sqrt(2*math.Pi)/lambda*s
	}
	s, sign := 0.0, 1.0
	for j := 1; j < 100; j++ {
		t := math.Exp(-2 * float64(j*j) * lambda * lambda)
		s += sign * t
		if t < 1e-17 {
			break
		}
		sign = -sign
	}
	return math.Min(1, math.Max(0, 2*s))
}

// mtwCDF returns P(D_n < d) by the algorithm of Marsaglia, Tsang and Wang
// (2003): the (k,k) entry of H^n times n!/n^n, with H the m×m matrix of
// their equation (2), m = 2k−1, k = ⌊nd⌋+1. Powers keep a decimal exponent
// to avoid overflow.
func mtwCDF(n int, d float64) float64 {
	nf := float64(n)
	k := int(nf*d) + 1
	m := 2*k - 1
	h := float64(k) - nf*d
	H := make([]float64, m*m)
	for i := 0; i < m; i++ {
		for j := 0; j < m; j++ {
			if i-j+1 >= 0 {
				H[i*m+j] = 1
			}
		}
	}
	for i := 0; i < m; i++ {
		H[i*m] -= math.Pow(h, float64(i+1))
		H[(m-1)*m+i] -= math.Pow(h, float64(m-i))
	}
	if 2*h-1 > 0 {
		H[(m-1)*m] += math.Pow(2*h-1, float64(m))
	}
	for i := 0; i < m; i++ {
		for j := 0; j < m; j++ {
			if i-j+1 > 0 {
				for g := 1; g <= i-j+1; g++ {
					H[i*m+j] /= float64(g)
				}
			}
		}
	}
	Q, eQ := matPow(H, m, n)
	s := Q[(k-1)*m+k-1]
	for i := 1; i <= n; i++ {
		s = s * float64(i) / nf
		if s < 1e-140 {
			s *= 1e140
			eQ -= 140
		}
	}
	return s * math.Pow(10, float64(eQ))
}

// matPow returns A^n for the m×m row-major A as (V, e) with A^n = V·10^e.
func matPow(A []float64, m, n int) ([]float64, int) {
	a := mat.NewDense(m, m, A)
	v, e := matPowDense(a, m, n)
	return v.RawMatrix().Data, e
}

func matPowDense(a *mat.Dense, m, n int) (*mat.Dense, int) {
	if n == 1 {
		return mat.DenseCopyOf(a), 0
	}
	half, e := matPowDense(a, m, n/2)
	v := mat.NewDense(m, m, nil)
	v.Mul(half, half)
	e *= 2
	if n%2 == 1 {
		half.Mul(a, v)
		v = half
	}
	if v.At(m/2, m/2) > 1e140 {
		v.Scale(1e-140, v)
		e += 140
	}
	return v, e
}

// ksDiscreteUniform returns the Kolmogorov–Smirnov distance between the
// empirical distribution of ranks (integers in 0..L) and the discrete uniform
// distribution on {0, …, L}: max_k |F̂(k) − (k+1)/(L+1)|. Both distribution
// functions are step functions with jumps at the integers, so the supremum over
// the real line is attained at one of them.
func ksDiscreteUniform(ranks []int, L int) float64 {
	counts := make([]int, L+1)
	for _, r := range ranks {
		counts[r]++
	}
	n := float64(len(ranks))
	cum, d := 0, 0.0
	for k := 0; k <= L; k++ {
		cum += counts[k]
		d = math.Max(d, math.Abs(float64(cum)/n-float64(k+1)/float64(L+1)))
	}
	return d
}

// chiSquareRanks bins ranks in 0..L into bins groups of consecutive ranks
// (rank r goes to bin ⌊r·bins/(L+1)⌋) and returns Pearson's χ² statistic
// against the discrete uniform distribution on {0, …, L} and its p-value with
// bins−1 degrees of freedom.
func chiSquareRanks(ranks []int, L, bins int) (stat, p float64) {
	obs := make([]float64, bins)
	size := make([]float64, bins)
	for r := 0; r <= L; r++ {
		size[r*bins/(L+1)]++
	}
	for _, r := range ranks {
		obs[r*bins/(L+1)]++
	}
	n := float64(len(ranks))
	for b := range obs {
		e := n * size[b] / float64(L+1)
		stat += (obs[b] - e) * (obs[b] - e) / e
	}
	return stat, distuv.ChiSquared{K: float64(bins - 1)}.Survival(stat)
}

// ksTwoSample returns the two-sample Kolmogorov–Smirnov statistic
// sup |F̂_a − F̂_b|. It sorts copies of a and b.
func ksTwoSample(a, b []float64) float64 {
	a, b = slices.Clone(a), slices.Clone(b)
	sort.Float64s(a)
	sort.Float64s(b)
	na, nb := float64(len(a)), float64(len(b))
	var i, j int
	d := 0.0
	for i < len(a) && j < len(b) {
		v := math.Min(a[i], b[j])
		for i < len(a) && a[i] == v {
			i++
		}
		for j < len(b) && b[j] == v {
			j++
		}
		d = math.Max(d, math.Abs(float64(i)/na-float64(j)/nb))
	}
	return d
}

// ClopperPearson returns the exact (Clopper–Pearson) two-sided confidence
// interval at level conf for a binomial proportion with k successes in n
// trials: the conf/2 tails of Beta(k, n−k+1) and Beta(k+1, n−k), with lower
// bound 0 when k = 0 and upper bound 1 when k = n. It panics if k is not in
// 0..n, n < 1 or conf is not in (0, 1) (programmer errors).
func ClopperPearson(k, n int, conf float64) (lo, hi float64) {
	if n < 1 || k < 0 || k > n || !(conf > 0 && conf < 1) {
		panic("diagnostics: invalid Clopper–Pearson arguments")
	}
	a := (1 - conf) / 2
	lo, hi = 0, 1
	if k > 0 {
		lo = distuv.Beta{Alpha: float64(k), Beta: float64(n - k + 1)}.Quantile(a)
	}
	if k < n {
		hi = distuv.Beta{Alpha: float64(k + 1), Beta: float64(n - k)}.Quantile(1 - a)
	}
	return lo, hi
}

// lowerMedian returns the lower median of v (the ⌈n/2⌉-th smallest value, as
// torch.median does), reordering v in place. It panics on empty v.
func lowerMedian(v []float64) float64 {
	k := (len(v) - 1) / 2
	return quickselect(v, k)
}

// median returns the median of v (mean of the two middle values for even
// length), reordering v in place. It panics on empty v.
func median(v []float64) float64 {
	n := len(v)
	hi := quickselect(v, n/2)
	if n%2 == 1 {
		return hi
	}
	lo := v[0]
	for _, x := range v[:n/2] {
		lo = math.Max(lo, x)
	}
	return (lo + hi) / 2
}

// quickselect reorders v so that v[k] is the k-th smallest value (0-based),
// everything before it is ≤ v[k] and everything after it ≥ v[k], and returns
// v[k]. It uses Hoare partitioning around the median of three, so it needs no
// randomness.
func quickselect(v []float64, k int) float64 {
	lo, hi := 0, len(v)-1
	for lo < hi {
		mid := lo + (hi-lo)/2
		if v[mid] < v[lo] {
			v[mid], v[lo] = v[lo], v[mid]
		}
		if v[hi] < v[lo] {
			v[hi], v[lo] = v[lo], v[hi]
		}
		if v[hi] < v[mid] {
			v[hi], v[mid] = v[mid], v[hi]
		}
		pivot := v[mid]
		i, j := lo, hi
		for i <= j {
			for v[i] < pivot {
				i++
			}
			for v[j] > pivot {
				j--
			}
			if i <= j {
				v[i], v[j] = v[j], v[i]
				i++
				j--
			}
		}
		switch {
		case k <= j:
			hi = j
		case k >= i:
			lo = i
		default:
			return v[k]
		}
	}
	return v[k]
}

// quantileSorted returns the p-quantile of sorted data by linear
// interpolation between order statistics (the "type 7" definition of
// Hyndman and Fan 1996, NumPy's default).
func quantileSorted(s []float64, p float64) float64 {
	n := len(s)
	if n == 1 {
		return s[0]
	}
	h := p * float64(n-1)
	i := int(math.Floor(h))
	if i >= n-1 {
		return s[n-1]
	}
	return s[i] + (h-float64(i))*(s[i+1]-s[i])
}
