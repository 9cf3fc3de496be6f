package plots

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
)

// TestECDFPointsDiscrete checks the integer arithmetic of the fractional ranks
// u = (r+½)/(maxRank+1) against exact rational comparisons done by brute force.
func TestECDFPointsDiscrete(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ maxRank, k int }{{100, 101}, {100, 50}, {9, 10}, {9, 7}, {1, 5}, {999, 200}} {
		e := ecdfPoints{k: c.k, maxRank: c.maxRank}
		m := c.maxRank + 1
		// u ≤ i/K  ⇔  (2r+1)·K ≤ 2i·m, in integers.
		le := func(r, i int) bool { return (2*r+1)*c.k <= 2*i*m }
		for r := 0; r < m; r++ {
			got := e.indexRank(r)
			if !le(r, got) || (got > 0 && le(r, got-1)) {
				t.Errorf("maxRank=%d K=%d: indexRank(%d) = %d is not the smallest i with u ≤ i/K", c.maxRank, c.k, r, got)
			}
		}
		for i := 0; i <= c.k; i++ {
			var count int
			for r := 0; r < m; r++ {
				if le(r, i) {
					count++
				}
			}
			if got, want := e.expected(i), float64(count)/float64(m); math.Abs(got-want) > 1e-15 {
				t.Errorf("maxRank=%d K=%d: expected(%d) = %v, want %v", c.maxRank, c.k, i, got, want)
			}
		}
	}
}

func TestBinomWindow(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		n int
		p float64
	}{{100, 0.5}, {1000, 0.003}, {50, 0.999}, {7, 0.2}, {5000, 0.37}} {
		w := newBinomWindow(c.n, c.p)
		full := binomialCDF(c.n, c.p, nil)
		for k := -1; k <= c.n+1; k++ {
			want := 0.0
			switch {
			case k >= c.n:
				want = 1
			case k >= 0:
				want = full[k]
			}
			// Dropped tails hold < 1e-20 of the mode's mass per count; the two
			// summations differ by rounding: binomialCDF's log-gamma terms carry
			// a relative error of about eps·ln(n!) ≈ 1e-11 for n = 5000.
			if got := w.at(k); math.Abs(got-want) > 1e-10 {
				t.Fatalf("n=%d p=%v: CDF(%d) = %v, want %v", c.n, c.p, k, got, want)
			}
		}
	}
}

// bandCoverage returns the fraction of sims fresh uniform samples (from rng)
// whose ECDF lies inside the band at every evaluation point.
func bandCoverage(b *ECDFBand, k, sims int, rng *rand.Rand) float64 {
	pts := ecdfPoints{k: k, maxRank: b.MaxRank}
	counts := make([]int, k+1)
	inside := 0
	for range sims {
		clear(counts)
		for range b.N {
			if b.MaxRank > 0 {
				counts[pts.indexRank(rng.IntN(b.MaxRank+1))]++
			} else {
				counts[pts.indexValue(rng.Float64())]++
			}
		}
		cumulate(counts)
		ok := true
		for i, c := range counts {
			f := float64(c) / float64(b.N)
			if f < b.Lower[i]-1e-12 || f > b.Upper[i]+1e-12 {
				ok = false
				break
			}
		}
		if ok {
			inside++
		}
	}
	return float64(inside) / float64(sims)
}

// TestSimultaneousBandCoverage checks the defining property of the band: fresh
// uniform samples (a different seed from the calibration) stay inside it at
// every point with probability ≈ level. The Monte Carlo error of the fresh
// estimate is sqrt(α(1-α)/2000) ≈ 0.0049 and that of the calibration of γ from
// 1000 simulations sqrt(α(1-α)/1000) ≈ 0.0069 (α = 0.05); the tolerance is 4
// times their combined 0.0085. A pointwise 95% band would cover far less
// (about 0.5 for 50 points) and a Bonferroni band more (about 0.99).
func TestSimultaneousBandCoverage(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name           string
		n, k, maxRank  int
		wantPointwiseγ bool
	}{
		{"continuous", 100, 50, 0, true},
		{"discrete", 200, 21, 20, true},
	} {
		b, err := SimultaneousBand(c.n, c.k, c.maxRank, 0.95, 1000, rand.New(rand.NewPCG(11, 12)))
		if err != nil {
			t.Fatal(err)
		}
		got := bandCoverage(b, c.k, 2000, rand.New(rand.NewPCG(99, 98)))
		t.Logf("%s: coverage %v, γ %v", c.name, got, b.Gamma)
		if math.Abs(got-0.95) > 4*0.0085 {
			t.Errorf("%s: simultaneous coverage %v, want 0.95 ± %v", c.name, got, 4*0.0085)
		}
		// The adjusted pointwise level is far below α = 0.05 but above the
		// Bonferroni level α/K.
		if !(b.Gamma < 0.05 && b.Gamma > 0.05/float64(c.k)/2) {
			t.Errorf("%s: γ = %v, want in (α/(2K), α) = (%v, 0.05)", c.name, b.Gamma, 0.05/float64(c.k)/2)
		}
		// Ends: F(0) = 0 and F(1) = 1 with certainty.
		if b.Lower[0] != 0 || b.Upper[0] != 0 || b.Lower[c.k] != 1 || b.Upper[c.k] != 1 {
			t.Errorf("%s: band ends [%v, %v] and [%v, %v], want [0, 0] and [1, 1]", c.name, b.Lower[0], b.Upper[0], b.Lower[c.k], b.Upper[c.k])
		}
		for i := range b.Z {
			if !(b.Lower[i] <= b.Expected[i] && b.Expected[i] <= b.Upper[i]) {
				t.Errorf("%s: band [%v, %v] at z=%v misses the expected %v", c.name, b.Lower[i], b.Upper[i], b.Z[i], b.Expected[i])
			}
		}
	}
}

// TestSimultaneousBandReproducible checks that equal seeds give equal bands.
func TestSimultaneousBandReproducible(t *testing.T) {
	t.Parallel()
	a, _ := SimultaneousBand(80, 40, 0, 0.9, 300, rand.New(rand.NewPCG(5, 5)))
	b, _ := SimultaneousBand(80, 40, 0, 0.9, 300, rand.New(rand.NewPCG(5, 5)))
	if a.Gamma != b.Gamma {
		t.Fatalf("γ differs between equal seeds: %v vs %v", a.Gamma, b.Gamma)
	}
	for i := range a.Lower {
		if a.Lower[i] != b.Lower[i] || a.Upper[i] != b.Upper[i] {
			t.Fatalf("band differs at %d", i)
		}
	}
}

func TestSimultaneousBandErrors(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 1))
	for _, c := range []struct {
		n, k, maxRank, sims int
		level               float64
	}{
		{0, 10, 0, 10, 0.95}, {10, 0, 0, 10, 0.95}, {10, 10, -1, 10, 0.95}, {10, 10, 0, 0, 0.95},
		{10, 10, 0, 10, 1}, {10, 10, 0, 10, 0}, {10, 10, 0, 10, math.NaN()},
	} {
		if _, err := SimultaneousBand(c.n, c.k, c.maxRank, c.level, c.sims, rng); !errors.Is(err, ErrInvalid) {
			t.Errorf("SimultaneousBand(%d, %d, %d, %v, %d): got error %v, want ErrInvalid", c.n, c.k, c.maxRank, c.level, c.sims, err)
		}
	}
}
