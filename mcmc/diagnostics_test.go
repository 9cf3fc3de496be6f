package mcmc

import (
	"context"
	"errors"
	"math"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// iidChains returns m chains of n i.i.d. N(mu[k], 1) draws.
func iidChains(seed uint64, n int, mu []float64) [][]float64 {
	rng := seeded(seed)
	out := make([][]float64, len(mu))
	for k, m := range mu {
		out[k] = make([]float64, n)
		for i := range out[k] {
			out[k][i] = m + rng.NormFloat64()
		}
	}
	return out
}

// ar1Chains returns m stationary AR(1) chains x_t = φx_{t-1} + √(1-φ²)ε_t.
func ar1Chains(seed uint64, m, n int, phi float64) [][]float64 {
	rng := seeded(seed)
	out := make([][]float64, m)
	s := math.Sqrt(1 - phi*phi)
	for k := range out {
		out[k] = make([]float64, n)
		x := rng.NormFloat64() // stationary start
		for i := range out[k] {
			x = phi*x + s*rng.NormFloat64()
			out[k][i] = x
		}
	}
	return out
}

func TestRHat(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		chains [][]float64
		lo, hi float64
	}{
		// Converged: R-hat of 4×1000 i.i.d. draws exceeds 1 by O(1/n); 1.01
		// is the threshold of Vehtari et al. (2021).
		{"converged", iidChains(1, 1000, []float64{0, 0, 0, 0}), 0.99, 1.01},
		// Two chains in each of two modes 5 sd apart: between-chain variance
		// dominates and R-hat is far above 1.1.
		{"stuck in two modes", iidChains(2, 1000, []float64{0, 0, 5, 5}), 1.1, math.Inf(1)},
		// One chain off by 2 sd: the 8 half-chain means have variance about
		// 4·(2/8)(6/8)·8/7 ≈ 0.86, so R-hat ≈ sqrt(1 + 0.86) ≈ 1.36
		// before rank normalisation; well above 1.1 after it.
		{"one chain shifted", iidChains(3, 1000, []float64{0, 0, 0, 2}), 1.1, math.Inf(1)},
	}
	for _, tc := range cases {
		got, err := RHat(tc.chains)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !(got >= tc.lo && got <= tc.hi) {
			t.Errorf("%s: R-hat got %.4f, want in [%v, %v]", tc.name, got, tc.lo, tc.hi)
		}
	}
}

// TestRHatTailDetectsScale: chains with equal means but different scales
// are invisible to the bulk R-hat; the folded (tail) R-hat catches them
// (Vehtari et al. 2021, section 4.2).
func TestRHatTailDetectsScale(t *testing.T) {
	t.Parallel()
	ch := iidChains(4, 1000, []float64{0, 0, 0, 0})
	for i := range ch[3] {
		ch[3][i] *= 3
	}
	classic, err := SplitRHat(ch)
	if err != nil {
		t.Fatal(err)
	}
	got, err := RHat(ch)
	if err != nil {
		t.Fatal(err)
	}
	if !(got > 1.1) {
		t.Errorf("R-hat got %.4f, want > 1.1 (classic split-R-hat %.4f)", got, classic)
	}
}

// TestRHatSamplers: chains of a real sampler that are stuck in the two
// modes of a well-separated mixture give R-hat > 1.1; converged chains on a
// Gaussian give R-hat near 1.
func TestRHatSamplers(t *testing.T) {
	t.Parallel()
	target := bimodal{w: 0.5, c: 5, d: 2}
	start := mat.NewDense(4, 2, []float64{-5, -5, -5, -5, 5, 5, 5, 5})
	c, err := Sample(context.Background(), target, 500, FromPoints{X: start}, Slice{}, seeded(7), &Settings{Warmup: 100})
	if err != nil {
		t.Fatal(err)
	}
	for j, r := range c.RHat() {
		if !(r > 1.1) {
			t.Errorf("stuck chains: R-hat[%d] got %.3f, want > 1.1", j, r)
		}
	}
	g := corrGaussian5()
	c, err = Sample(context.Background(), g, 1000, FromProposal{Proposal: isotropic{s: 3, d: 5}}, NUTS{}, seeded(8), nil)
	if err != nil {
		t.Fatal(err)
	}
	for j, r := range c.RHat() {
		if !(r < 1.01) {
			t.Errorf("converged chains: R-hat[%d] got %.3f, want < 1.01", j, r)
		}
	}
}

// TestESSIID: the ESS of N i.i.d. draws is about N. The estimate's relative
// standard deviation is roughly sqrt(2(2W+1)/N) with a truncation window W
// of a couple of lags (Sokal 1997, equation 3.19): about 0.035 for N =
// 4×2000, so a tolerance of 0.15 is over 4 standard deviations.
func TestESSIID(t *testing.T) {
	t.Parallel()
	ch := iidChains(10, 2000, []float64{0, 0, 0, 0})
	n := 8000.0
	for _, tc := range []struct {
		name string
		f    func([][]float64) (float64, error)
	}{{"ESS", ESS}, {"ESSBulk", ESSBulk}, {"ESSTail", ESSTail}} {
		got, err := tc.f(ch)
		if err != nil {
			t.Fatal(err)
		}
		// The tail ESS of an indicator is noisier: allow 0.25.
		tol := 0.15
		if tc.name == "ESSTail" {
			tol = 0.25
		}
		if math.Abs(got/n-1) > tol {
			t.Errorf("%s of i.i.d. draws: got %.0f, want %.0f ± %.0f%%", tc.name, got, n, 100*tol)
		}
	}
}

// TestESSAR1: for a stationary AR(1) chain with coefficient φ the
// integrated autocorrelation time is (1+φ)/(1-φ), so ESS = N(1-φ)/(1+φ).
// With τ = 19 (φ = 0.9) the relative standard deviation of the estimate is
// about sqrt(2(2W+1)/N) with W ≈ 5τ (Sokal 1997, eq. 3.19): 0.031 for
// N = 4×50000; the tolerance 0.12 is near 4 standard deviations.
func TestESSAR1(t *testing.T) {
	t.Parallel()
	for _, phi := range []float64{0.5, 0.9, -0.3} {
		ch := ar1Chains(uint64(20+100*phi), 4, 50000, phi)
		want := 200000 * (1 - phi) / (1 + phi)
		for _, tc := range []struct {
			name string
			f    func([][]float64) (float64, error)
		}{{"ESS", ESS}, {"ESSBulk", ESSBulk}} {
			got, err := tc.f(ch)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(got/want-1) > 0.12 {
				t.Errorf("φ = %v: %s got %.0f, want %.0f ± 12%%", phi, tc.name, got, want)
			}
		}
	}
}

func TestDiagnosticErrors(t *testing.T) {
	t.Parallel()
	fns := map[string]func([][]float64) (float64, error){
		"RHat": RHat, "SplitRHat": SplitRHat, "ESS": ESS, "ESSBulk": ESSBulk, "ESSTail": ESSTail,
	}
	cases := []struct {
		name   string
		chains [][]float64
		want   error
	}{
		{"zero chains", nil, ErrNoChains},
		{"empty slice", [][]float64{}, ErrNoChains},
		{"short", [][]float64{{1, 2, 3}}, ErrShortChains},
		{"ragged", [][]float64{{1, 2, 3, 4}, {1, 2, 3}}, ErrRaggedChains},
		{"nan", [][]float64{{1, 2, math.NaN(), 4}}, ErrNonFinite},
	}
	for name, f := range fns {
		for _, tc := range cases {
			got, err := f(tc.chains)
			if !errors.Is(err, tc.want) {
				t.Errorf("%s(%s): got error %v, want %v", name, tc.name, err, tc.want)
			}
			if !math.IsNaN(got) {
				t.Errorf("%s(%s): got %v with an error, want NaN", name, tc.name, got)
			}
		}
	}
	// Constant chains: defined input, undefined diagnostics.
	c := [][]float64{{1, 1, 1, 1}, {1, 1, 1, 1}}
	if r, err := RHat(c); err != nil || !math.IsNaN(r) {
		t.Errorf("RHat of constant chains: got %v, %v, want NaN, nil", r, err)
	}
}

// TestWindows checks Stan's warmup schedule: for 1000 warmup transitions
// the slow windows (25, 50, 100, 200, 500) end at 99, 149, 249, 449, 949.
func TestWindows(t *testing.T) {
	t.Parallel()
	cases := []struct {
		warmup int
		ends   []int
	}{
		{1000, []int{99, 149, 249, 449, 949}},
		// 200: buffers 75 + 50, windows of 25 and then 50 (the last stretched
		// to the terminal buffer).
		{200, []int{99, 149}},
		// 100 < 150: 15% / 75% / 10%, one window from 15 to 89.
		{100, []int{89}},
		{10, nil},
	}
	for _, tc := range cases {
		w := newWindows(tc.warmup)
		var ends []int
		for it := 0; it < tc.warmup; it++ {
			if w.next >= 0 && w.endOfWindow() {
				ends = append(ends, it)
				w.advance()
			}
			w.counter++
		}
		if len(ends) != len(tc.ends) {
			t.Errorf("warmup %d: windows end at %v, want %v", tc.warmup, ends, tc.ends)
			continue
		}
		for i := range ends {
			if ends[i] != tc.ends[i] {
				t.Errorf("warmup %d: windows end at %v, want %v", tc.warmup, ends, tc.ends)
				break
			}
		}
	}
}

func TestSummary(t *testing.T) {
	t.Parallel()
	g := corrGaussian5()
	c, err := Sample(context.Background(), g, 500, FromProposal{Proposal: isotropic{s: 3, d: 5}}, NUTS{}, seeded(9), nil)
	if err != nil {
		t.Fatal(err)
	}
	s := c.Summary()
	if len(s.Rows) != 5 {
		t.Fatalf("got %d rows, want 5", len(s.Rows))
	}
	for j, r := range s.Rows {
		// The mean within 5 MCSE (as the kernel tests); the median of an
		// effective sample of about 1000 has sd 1.25σ/sqrt(1000) ≈ 0.04σ,
		// so 0.2σ is 5 of those.
		sd := math.Sqrt(g.cov.At(j, j))
		if math.Abs(r.Mean-g.mu[j]) > 5*r.MCSE || math.Abs(r.Q50-g.mu[j]) > 0.2*sd {
			t.Errorf("row %d: mean %.3f median %.3f, want %.3f", j, r.Mean, r.Q50, g.mu[j])
		}
		// The 5% quantile of N(0, 1) from an effective sample of m draws
		// has sd sqrt(0.05·0.95/m)/φ(1.645) ≈ 0.07 for m = 1000, so the
		// width misses by 0.1 sd typically; 0.5 sd is about 5 sd of that.
		if math.Abs(r.Q95-r.Q5-2*1.645*sd) > 0.5*sd {
			t.Errorf("row %d: 90%% interval width %.3f, want %.3f", j, r.Q95-r.Q5, 2*1.645*sd)
		}
		if !(r.RHat < 1.05) || !(r.ESSBulk > 200) || !(r.ESSTail > 200) {
			t.Errorf("row %d: R-hat %.3f, ESS bulk %.0f, tail %.0f", j, r.RHat, r.ESSBulk, r.ESSTail)
		}
	}
	str := s.String()
	if len(str) == 0 || str[:5] != "param" {
		t.Errorf("summary table: got %q", str)
	}
}
