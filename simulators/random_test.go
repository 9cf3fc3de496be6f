package simulators

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/stat/distuv"
)

// TestBinomialExact compares the binomial sampler with the exact pmf by a
// chi-square goodness-of-fit test on N = 200,000 draws, cells with expected
// count >= 5 (the rest pooled into the tails), at level 1e-4 each.
func TestBinomialExact(t *testing.T) {
	tests := []struct {
		n int
		p float64
	}{{1000, 0.3}, {1000, 0.001}, {1000, 0.97}, {20, 0.5}, {1, 0.2}, {1_000_000, 0.4}}
	const draws = 200_000
	rng := rand.New(rand.NewPCG(31, 41))
	for _, tc := range tests {
		counts := map[int]int{}
		for range draws {
			k := binomial(tc.n, tc.p, rng)
			if k < 0 || k > tc.n {
				t.Fatalf("Binomial(%d, %v) gave %d", tc.n, tc.p, k)
			}
			counts[k]++
		}
		// Cells from the mode outwards while the expected count is >= 5;
		// everything beyond goes to one tail cell per side.
		mode := int(math.Floor(float64(tc.n+1) * tc.p))
		lo, hi := mode, mode
		for lo > 0 && draws*math.Exp(logBinomPMF(lo-1, tc.n, tc.p)) >= 5 {
			lo--
		}
		for hi < tc.n && draws*math.Exp(logBinomPMF(hi+1, tc.n, tc.p)) >= 5 {
			hi++
		}
		var chi2, pIn float64
		obsIn := 0
		for k := lo; k <= hi; k++ {
			e := draws * math.Exp(logBinomPMF(k, tc.n, tc.p))
			chi2 += (float64(counts[k]) - e) * (float64(counts[k]) - e) / e
			pIn += e / draws
			obsIn += counts[k]
		}
		df := float64(hi - lo)
		if e := draws * (1 - pIn); e >= 5 {
			o := float64(draws - obsIn)
			chi2 += (o - e) * (o - e) / e
			df++
		}
		if df < 1 {
			continue
		}
		if crit := (distuv.ChiSquared{K: df}).Quantile(1 - 1e-4); chi2 > crit {
			t.Errorf("Binomial(%d, %v): χ² = %.1f with %v dof, critical %.1f", tc.n, tc.p, chi2, df, crit)
		}
	}
	// Degenerate probabilities.
	for _, c := range []struct {
		n    int
		p    float64
		want int
	}{{10, 0, 0}, {10, 1, 10}, {10, -0.5, 0}, {10, 1.5, 10}, {0, 0.5, 0}, {10, math.NaN(), 0}} {
		if got := binomial(c.n, c.p, rng); got != c.want {
			t.Errorf("Binomial(%d, %v) = %d, want %d", c.n, c.p, got, c.want)
		}
	}
}

func TestLogBinomPMF(t *testing.T) {
	for _, c := range []struct {
		k, n int
		p    float64
	}{{0, 10, 0.3}, {3, 10, 0.3}, {10, 10, 0.3}, {500, 1000, 0.5}, {1, 1000, 1e-6}} {
		want := distuv.Binomial{N: float64(c.n), P: c.p}.LogProb(float64(c.k))
		if got := logBinomPMF(c.k, c.n, c.p); math.Abs(got-want) > 1e-9*math.Max(1, math.Abs(want)) {
			t.Errorf("logBinomPMF(%d, %d, %v) = %v, want %v", c.k, c.n, c.p, got, want)
		}
	}
	if !math.IsInf(logBinomPMF(11, 10, 0.5), -1) || logBinomPMF(0, 10, 0) != 0 || !math.IsInf(logBinomPMF(1, 10, 0), -1) {
		t.Error("logBinomPMF outside the support or at p = 0 is wrong")
	}
}

// TestChiSquare checks mean (df) and variance (2·df) of the χ² sampler at
// several degrees of freedom, N = 100,000, within 5 standard errors
// (SE of the mean √(2df/N), of the variance √((E(X-μ)⁴ - σ⁴)/N) with
// E(X-μ)⁴ = 12·df·(df+4) for χ²).
func TestChiSquare(t *testing.T) {
	const n = 100_000
	rng := rand.New(rand.NewPCG(5, 6))
	for _, df := range []float64{2, 5, 0.7, 30} {
		v := make([]float64, n)
		for i := range v {
			v[i] = chiSquare(df, rng)
		}
		m, se := meanSE(v)
		if math.Abs(m-df) > 5*se {
			t.Errorf("df %v: mean %.4f, want %v ± %.4f", df, m, df, 5*se)
		}
		var ss float64
		for _, x := range v {
			ss += (x - m) * (x - m)
		}
		variance := ss / (n - 1)
		m4 := 12 * df * (df + 4)
		if tol := 5 * math.Sqrt((m4-4*df*df)/n); math.Abs(variance-2*df) > tol {
			t.Errorf("df %v: variance %.4f, want %v ± %.4f", df, variance, 2*df, tol)
		}
	}
}

// TestMT19937MatchesNumPy pins the generator to numpy: the first values of
// numpy.random.RandomState(42).randn() are 0.4967141530112327,
// -0.13826430117118466, 0.6476885381006925, 1.5230298564080254 (numpy's
// documentation and countless tutorials print them), and the reference
// MT19937 with init_genrand(5489) starts 3499211612, 581869302.
func TestMT19937MatchesNumPy(t *testing.T) {
	m := newMT19937(42)
	for i, want := range []float64{0.4967141530112327, -0.13826430117118466, 0.6476885381006925, 1.5230298564080254} {
		if got := m.normFloat64(); math.Abs(got-want) > 1e-15 {
			t.Errorf("randn()[%d] = %v, want %v", i, got, want)
		}
	}
	m = newMT19937(5489)
	for i, want := range []uint32{3499211612, 581869302} {
		if got := m.uint32(); got != want {
			t.Errorf("genrand_int32()[%d] = %d, want %d", i, got, want)
		}
	}
}

func TestSigmoid(t *testing.T) {
	for _, z := range []float64{-800, -30, -1, 0, 0.5, 30, 800} {
		want := 1 / (1 + math.Exp(-z))
		if got := sigmoid(z); math.Abs(got-want) > 1e-15 {
			t.Errorf("sigmoid(%v) = %v, want %v", z, got, want)
		}
		wantLog := -math.Log1p(math.Exp(-z))
		if z < -30 {
			wantLog = z // log σ(z) ≈ z for very negative z
		}
		if got := logSigmoid(z); math.Abs(got-wantLog) > 1e-12*math.Max(1, math.Abs(wantLog)) || math.IsInf(got, 0) {
			t.Errorf("logSigmoid(%v) = %v, want %v", z, got, wantLog)
		}
	}
}

func BenchmarkBinomial1000(b *testing.B) {
	b.ReportAllocs()
	rng := rand.New(rand.NewPCG(1, 1))
	var s int
	for b.Loop() {
		s += binomial(1000, 0.3, rng)
	}
	_ = fmt.Sprint(s)
}
