package vi

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"
)

// gpdDraw returns a draw from the generalised Pareto distribution with
// shape k and scale sigma by inversion.
func gpdDraw(u, k, sigma float64) float64 { return gpdQuantile(u, k, sigma) }

// TestGPDFitRecoversShape fits generalised Pareto samples of known shape.
// The Zhang–Stephens estimator is nearly as efficient as maximum
// likelihood, whose asymptotic standard deviation of k̂ is (1+k)/√n
// (Smith 1985); the loo prior moves k̂ by 10(0.5-k)/(n+10), under 0.003
// here. The tolerance is 4 standard deviations plus that shift.
func TestGPDFitRecoversShape(t *testing.T) {
	t.Parallel()
	const n = 2000
	for i, k := range []float64{-0.3, 0, 0.2, 0.5, 0.9, 1.3} {
		rng := newRand(uint64(10 + i))
		x := make([]float64, n)
		for j := range x {
			x[j] = gpdDraw(rng.Float64(), k, 2)
		}
		slices.Sort(x)
		got, sigma := gpdFit(x)
		tol := 4*(1+k)/math.Sqrt(n) + 10*math.Abs(0.5-k)/(n+10)
		if math.Abs(got-k) > tol {
			t.Errorf("k = %g: k̂ = %.3f, want within %.3f", k, got, tol)
		}
		if !(sigma > 0) {
			t.Errorf("k = %g: σ̂ = %g, want positive", k, sigma)
		}
	}
}

// TestPSISKnownCases checks k̂ on importance weights with a known tail.
// For p = N(0, 1) and q = N(0, s²), the weights w = p/q ∝ exp(a x²) with
// a = (1/s² - 1)/2 satisfy P(w > t) ≈ t^(-1/(2a s²)) up to logarithmic
// factors, so the Pareto shape is k = 2a s² = 1 - s²: k = 0.94 for s = 0.25
// (q far too narrow: k̂ must exceed the 0.7 threshold), 0.64 for s = 0.6,
// 0.36 for s = 0.8 (finite variance) and negative, bounded weights, for
// s > 1. With 40,000 draws the tail has M = 600 points and k̂ a standard
// deviation of about (1+k)/√600 ≤ 0.08; over 20 seeds the estimates
// ranged 0.75–1.04, 0.50–0.75 and 0.27–0.47 for the first three (means
// 0.88, 0.61, 0.36: the logarithmic factors bias k̂ slightly low). The bands
// below are about 3 standard deviations around the true k. q = p gives
// constant weights: no tail, k̂ = -Inf and ESS = n.
func TestPSISKnownCases(t *testing.T) {
	t.Parallel()
	const n = 40_000
	for i, tc := range []struct {
		s      float64
		lo, hi float64
	}{
		{0.25, KhatThreshold, 1.2}, // k = 0.94
		{0.6, 0.4, 0.9},            // k = 0.64
		{0.8, 0.15, 0.6},           // k = 0.36
		{1.3, -3, 0.3},             // k < 0: bounded weights
		{1, math.Inf(-1), math.Inf(-1)},
	} {
		rng := newRand(uint64(20 + i))
		lr := make([]float64, n)
		for j := range lr {
			x := tc.s * rng.NormFloat64()
			// log N(x; 0, 1) - log N(x; 0, s²)
			lr[j] = -0.5*x*x + 0.5*x*x/(tc.s*tc.s) + math.Log(tc.s)
		}
		if tc.s == 1 {
			for j := range lr {
				lr[j] = 0 // exactly equal densities
			}
		}
		res, err := PSIS(lr)
		if err != nil {
			t.Fatal(err)
		}
		if wantM := int(math.Ceil(min(0.2*n, 3*math.Sqrt(n)))); res.TailLen != wantM {
			t.Errorf("s = %g: tail length %d, want %d", tc.s, res.TailLen, wantM)
		}
		if res.Khat < tc.lo || res.Khat > tc.hi {
			t.Errorf("s = %g: k̂ = %.3f, want in [%g, %g] (true k = %.2f)", tc.s, res.Khat, tc.lo, tc.hi, 1-tc.s*tc.s)
		}
		var sum float64
		for _, lw := range res.LogWeights {
			sum += math.Exp(lw)
		}
		if math.Abs(sum-1) > 1e-9 {
			t.Errorf("s = %g: smoothed weights sum to %.12f, want 1", tc.s, sum)
		}
		if tc.s == 1 && math.Abs(res.ESS-n) > 1e-6 {
			t.Errorf("q = p: ESS %.3f, want %d", res.ESS, n)
		}
	}
}

// TestPSISLogZ checks the importance-sampling estimate of the normalising
// constant: p̃ = 3·N(0, 1) with draws from q = N(0.3, 1.2²) has log Z =
// log 3. The relative standard error of the mean weight is
// sd(w)/(mean(w)√n), at most 0.05 for these weights with n = 4,000 (their
// variance is finite: q is wider than p); the tolerance is 3 of those.
func TestPSISLogZ(t *testing.T) {
	t.Parallel()
	const n = 4000
	rng := newRand(30)
	lr := make([]float64, n)
	for j := range lr {
		x := 0.3 + 1.2*rng.NormFloat64()
		lr[j] = math.Log(3) - 0.5*x*x - (-0.5*(x-0.3)*(x-0.3)/1.44 - math.Log(1.2))
	}
	res, err := PSIS(lr)
	if err != nil {
		t.Fatal(err)
	}
	if got := res.LogZ; math.Abs(got-math.Log(3)) > 0.15 {
		t.Errorf("log Z = %.4f, want %.4f ± 0.15", got, math.Log(3))
	}
}

func TestPSISErrors(t *testing.T) {
	t.Parallel()
	ok := make([]float64, 30)
	for i := range ok {
		ok[i] = float64(i) / 10
	}
	for _, tc := range []struct {
		name string
		lr   []float64
	}{
		{"empty", nil},
		{"too few", ok[:24]},
		{"NaN", append(slices.Clone(ok), math.NaN())},
		{"+Inf", append(slices.Clone(ok), math.Inf(1))},
		{"too few finite", append(slices.Clone(ok[:20]), fill(20, math.Inf(-1))...)},
	} {
		if _, err := PSIS(tc.lr); !errors.Is(err, ErrData) {
			t.Errorf("%s: error %v, want ErrData", tc.name, err)
		}
	}
	// -Inf ratios are allowed and get zero weight.
	lr := append(slices.Clone(ok), math.Inf(-1))
	res, err := PSIS(lr)
	if err != nil {
		t.Fatal(err)
	}
	if !math.IsInf(res.LogWeights[len(lr)-1], -1) {
		t.Errorf("log weight of a -Inf ratio is %v, want -Inf", res.LogWeights[len(lr)-1])
	}
}

// ExamplePSIS diagnoses importance sampling of p = N(0, 1) with proposals
// that are too narrow (k̂ above 0.7: unreliable) and a little wider than p
// (k̂ negative: bounded weights).
func ExamplePSIS() {
	rng := newRand(1)
	for _, s := range []float64{0.25, 1.5} {
		logRatios := make([]float64, 10_000)
		for i := range logRatios {
			x := s * rng.NormFloat64() // a draw from q = N(0, s²)
			logRatios[i] = -0.5*x*x - (-0.5*x*x/(s*s) - math.Log(s))
		}
		res, err := PSIS(logRatios)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("q = N(0, %.2f²): k̂ > 0.7: %v\n", s, res.Khat > KhatThreshold)
	}
	// Output:
	// q = N(0, 0.25²): k̂ > 0.7: true
	// q = N(0, 1.50²): k̂ > 0.7: false
}
