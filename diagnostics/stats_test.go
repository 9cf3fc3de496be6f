package diagnostics

import (
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
)

func TestKolmogorovPValueKnown(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		got  float64
		want float64
		tol  float64
	}{
		// n = 1: D₁ = max(U, 1−U) so P(D₁ ≥ d) = 2 − 2d on [½, 1].
		{"n=1 d=0.7", KolmogorovPValue(0.7, 1), 0.6, 1e-12},
		{"n=1 d=0.55", KolmogorovPValue(0.55, 1), 0.9, 1e-12},
		// Marsaglia, Tsang and Wang (2003), §4: K(10, 0.274) = 0.6284796154565043.
		{"MTW n=10 d=0.274", KolmogorovPValue(0.274, 10), 1 - 0.6284796154565043, 1e-12},
		// n = 2: P(D₂ < d) = 2(2d − ½)² for ¼ ≤ d ≤ ½ (the n!·(2d − 1/n)ⁿ
		// formula of MTW's §1 for 1/(2n) ≤ d ≤ 1/n).
		{"n=2 d=0.4", KolmogorovPValue(0.4, 2), 1 - 2*math.Pow(0.8-0.5, 2), 1e-12},
		// D_n ≥ 1/(2n) always.
		{"below 1/(2n)", KolmogorovPValue(0.04, 10), 1, 0},
		{"d = 1", KolmogorovPValue(1, 10), 0, 0},
		// Limiting distribution: Q(1.3581) = 0.05 (Kolmogorov's table); for
		// n = 10⁶ the finite-n correction is below 1e-3 relative.
		{"asymptotic 5%", KolmogorovPValue(1.3581/1000, 1000000), 0.05, 2e-4},
		{"kolmogorovQ(1.3581)", kolmogorovQ(1.3581), 0.05, 1e-4},
		{"kolmogorovQ(1.6276)", kolmogorovQ(1.6276), 0.01, 1e-4},
		{"kolmogorovQ(0.5)", kolmogorovQ(0.5), 0.9639452436648751, 1e-10},
		// Both series agree where kolmogorovQ switches between them.
		{"series switch", kolmogorovQ(1.18 - 1e-12), kolmogorovQ(1.18), 1e-10},
	}
	for _, tt := range tests {
		if math.Abs(tt.got-tt.want) > tt.tol {
			t.Errorf("%s: got %.12g, want %.12g", tt.name, tt.got, tt.want)
		}
	}
	if !math.IsNaN(KolmogorovPValue(0.3, 0)) || !math.IsNaN(KolmogorovTwoSamplePValue(0.3, 0, 5)) {
		t.Errorf("n = 0 should give NaN")
	}
	// The exact p-value approaches the asymptotic one as n grows: at
	// n = 2000 they differ by well under 0.005 over the range of interest.
	for _, lam := range []float64{0.8, 1.0, 1.36, 1.6} {
		n := 2000
		d := lam / math.Sqrt(float64(n))
		if e, a := 1-mtwCDF(n, d), kolmogorovQ((math.Sqrt(float64(n))+0.12+0.11/math.Sqrt(float64(n)))*d); math.Abs(e-a) > 0.005 {
			t.Errorf("λ = %v: exact %v, asymptotic %v", lam, e, a)
		}
	}
}

// TestKolmogorovPValueUniform checks by simulation that the p-value is
// uniform under the null: with 4000 one-sample tests of n = 15 uniforms, the
// rejection rate at 5% is within 3.29 binomial standard deviations
// (√(0.05·0.95/4000) = 0.0034) of 0.05.
func TestKolmogorovPValueUniform(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(11, 12))
	const reps, n = 4000, 15
	u := make([]float64, n)
	rej := 0
	for r := 0; r < reps; r++ {
		for i := range u {
			u[i] = rng.Float64()
		}
		sort.Float64s(u)
		d := 0.0
		for i, v := range u {
			d = math.Max(d, math.Max(float64(i+1)/n-v, v-float64(i)/n))
		}
		if KolmogorovPValue(d, n) < 0.05 {
			rej++
		}
	}
	if got := float64(rej) / reps; math.Abs(got-0.05) > 3.29*math.Sqrt(0.05*0.95/reps) {
		t.Errorf("rejection rate %.4f, want 0.05", got)
	}
}

func TestKSDiscreteUniform(t *testing.T) {
	t.Parallel()
	tests := []struct {
		ranks []int
		L     int
		want  float64
	}{
		{[]int{0, 0}, 1, 0.5},                 // F̂(0) = 1 vs ½
		{[]int{0, 1}, 1, 0},                   // exactly uniform
		{[]int{0, 1, 2, 3}, 3, 0},             // exactly uniform
		{[]int{3, 3, 3, 3}, 3, 0.75},          // F̂(2) = 0 vs ¾
		{[]int{0, 2, 2, 2}, 2, 5.0 / 12},      // F̂(0) = ¼ vs ⅓; F̂(1) = ¼ vs ⅔
		{[]int{1, 1, 1, 1, 1, 1}, 5, 2.0 / 3}, // F̂(0) = 0 vs ⅙; F̂(1) = 1 vs ⅓
	}
	for _, tt := range tests {
		if got := ksDiscreteUniform(tt.ranks, tt.L); math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("ksDiscreteUniform(%v, %d) = %v, want %v", tt.ranks, tt.L, got, tt.want)
		}
	}
}

func TestChiSquareRanks(t *testing.T) {
	t.Parallel()
	// Ranks 0..9 once each, L = 9, 5 bins of 2: perfectly uniform.
	ranks := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}
	if s, p := chiSquareRanks(ranks, 9, 5); s != 0 || p != 1 {
		t.Errorf("uniform ranks: χ² = %v, p = %v; want 0 and 1", s, p)
	}
	// All 10 ranks in bin 0 of 2 equal bins: (10−5)²/5 + (0−5)²/5 = 10, df 1,
	// p = P(χ²₁ ≥ 10) = erfc(√5) = 0.001565402258.
	s, p := chiSquareRanks([]int{0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 3, 2)
	if s != 10 || math.Abs(p-math.Erfc(math.Sqrt(5))) > 1e-12 {
		t.Errorf("χ² = %v, p = %v; want 10 and %v", s, p, math.Erfc(math.Sqrt(5)))
	}
	// Unequal bins: L = 2 in 2 bins holds {0} and {1, 2} (rank r → ⌊2r/3⌋),
	// expectations n/3 and 2n/3.
	s, _ = chiSquareRanks([]int{0, 1, 2}, 2, 2)
	if math.Abs(s) > 1e-12 {
		t.Errorf("unequal bins, exact counts: χ² = %v, want 0", s)
	}
}

func TestClopperPearson(t *testing.T) {
	t.Parallel()
	tests := []struct {
		k, n           int
		conf           float64
		wantLo, wantHi float64
	}{
		{0, 10, 0.95, 0, 1 - math.Pow(0.025, 0.1)},
		{10, 10, 0.95, math.Pow(0.025, 0.1), 1},
		// Beta quantiles solved from the binomial tail identity
		// I_x(k, n−k+1) = P(Bin(n, x) ≥ k), by bisection.
		{5, 10, 0.95, 0.1870860, 0.8129140},
		{1, 20, 0.9, 1 - math.Pow(0.95, 1.0/20), 0.2161062},
	}
	for _, tt := range tests {
		lo, hi := ClopperPearson(tt.k, tt.n, tt.conf)
		if math.Abs(lo-tt.wantLo) > 1e-6 || math.Abs(hi-tt.wantHi) > 1e-6 {
			t.Errorf("ClopperPearson(%d, %d, %v) = [%.7f, %.7f], want [%.7f, %.7f]", tt.k, tt.n, tt.conf, lo, hi, tt.wantLo, tt.wantHi)
		}
	}
	defer func() {
		if recover() == nil {
			t.Errorf("ClopperPearson(11, 10, 0.95) did not panic")
		}
	}()
	ClopperPearson(11, 10, 0.95)
}

func TestMedianAndSelect(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 3))
	for _, n := range []int{1, 2, 3, 4, 7, 10, 101, 1000} {
		for rep := 0; rep < 20; rep++ {
			v := make([]float64, n)
			for i := range v {
				v[i] = float64(rng.IntN(n/2 + 1)) // many ties
			}
			s := slices.Clone(v)
			sort.Float64s(s)
			for _, k := range []int{0, n / 3, n / 2, n - 1} {
				if got := quickselect(slices.Clone(v), k); got != s[k] {
					t.Fatalf("n %d: quickselect k=%d = %v, want %v", n, k, got, s[k])
				}
			}
			want := s[n/2]
			if n%2 == 0 {
				want = (s[n/2-1] + s[n/2]) / 2
			}
			if got := median(slices.Clone(v)); got != want {
				t.Fatalf("median of %d = %v, want %v", n, got, want)
			}
			if got := lowerMedian(slices.Clone(v)); got != s[(n-1)/2] {
				t.Fatalf("lowerMedian of %d = %v, want %v", n, got, s[(n-1)/2])
			}
		}
	}
}

func TestKSTwoSample(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(4, 4))
	for rep := 0; rep < 50; rep++ {
		a := make([]float64, 1+rng.IntN(30))
		b := make([]float64, 1+rng.IntN(30))
		for i := range a {
			a[i] = float64(rng.IntN(10))
		}
		for i := range b {
			b[i] = float64(rng.IntN(12))
		}
		// Brute force: the supremum is attained at a data point.
		want := 0.0
		for _, v := range append(slices.Clone(a), b...) {
			fa, fb := 0.0, 0.0
			for _, x := range a {
				if x <= v {
					fa++
				}
			}
			for _, x := range b {
				if x <= v {
					fb++
				}
			}
			want = math.Max(want, math.Abs(fa/float64(len(a))-fb/float64(len(b))))
		}
		if got := ksTwoSample(a, b); math.Abs(got-want) > 1e-12 {
			t.Fatalf("ksTwoSample = %v, want %v", got, want)
		}
	}
}

func TestQuantileSorted(t *testing.T) {
	t.Parallel()
	s := []float64{1, 2, 4, 8}
	tests := []struct{ p, want float64 }{{0, 1}, {1, 8}, {0.5, 3}, {1.0 / 3, 2}, {0.25, 1.75}}
	for _, tt := range tests {
		if got := quantileSorted(s, tt.p); math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("quantile %v = %v, want %v", tt.p, got, tt.want)
		}
	}
}

func BenchmarkKolmogorovPValueWorstExact(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		KolmogorovPValue(math.Sqrt(7.2/1000), 1000)
	}
}
