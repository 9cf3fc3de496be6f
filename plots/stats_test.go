package plots

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/stat/distuv"
	"gonum.org/v1/plot/plotter"
)

// Reference quantiles computed exactly with Python's fractions.Fraction and
// math.comb (smallest k with the exact CDF ≥ q); p is the exact fraction.
var binomialQuantileCases = []struct {
	n    int
	p, q float64
	want int
}{
	{10, 0.5, 0.005, 1},
	{10, 0.5, 0.995, 9},
	{20, 0.3, 0.025, 2},
	{20, 0.3, 0.975, 10},
	{500, 4.0 / 101, 0.005, 10},
	{500, 4.0 / 101, 0.995, 32},
	{500, 5.0 / 101, 0.005, 13},
	{500, 5.0 / 101, 0.995, 38},
	{200, 0.9, 0.025, 171},
	{200, 0.9, 0.975, 188},
	{1000, 0.5, 0.005, 459},
	{1000, 0.5, 0.995, 541},
	{100, 0.01, 0.995, 4},
	{2000, 0.05, 0.025, 81},
	{2000, 0.05, 0.975, 120},
	{200, 0.5, 0.025, 86},
	{200, 0.5, 0.975, 114},
	{200, 0.25, 0.025, 38},
	{200, 0.25, 0.975, 62},
	// Degenerate cases, by definition.
	{50, 0, 0.5, 0},
	{50, 1, 0.5, 50},
	{50, 0.3, 0, 0},
	{1000, 0.01, 1, 1000},
	{0, 0.5, 0.5, 0},
}

func TestBinomialQuantile(t *testing.T) {
	t.Parallel()
	for _, c := range binomialQuantileCases {
		got, err := BinomialQuantile(c.n, c.p, c.q)
		if err != nil {
			t.Fatalf("BinomialQuantile(%d, %v, %v): %v", c.n, c.p, c.q, err)
		}
		if got != c.want {
			t.Errorf("BinomialQuantile(%d, %v, %v) = %d, want %d", c.n, c.p, c.q, got, c.want)
		}
	}
}

// TestBinomialIntervalDefinition checks the interval against gonum's independent
// Binomial CDF (regularised incomplete beta): lo is the smallest k with
// CDF(k) ≥ (1-level)/2 and hi the smallest with CDF(k) ≥ (1+level)/2.
func TestBinomialIntervalDefinition(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 1))
	for range 300 {
		n := 1 + rng.IntN(3000)
		p := rng.Float64()
		level := []float64{0.9, 0.95, 0.99}[rng.IntN(3)]
		lo, hi, err := BinomialInterval(n, p, level)
		if err != nil {
			t.Fatal(err)
		}
		d := distuv.Binomial{N: float64(n), P: p}
		// gonum's CDF agrees with exact sums to about 1e-10 here; skip the
		// rare draws where a CDF value lies that close to the target.
		const tol = 1e-9
		for _, c := range []struct {
			k int
			q float64
		}{{lo, (1 - level) / 2}, {hi, (1 + level) / 2}} {
			cdf, below := d.CDF(float64(c.k)), 0.0
			if c.k > 0 {
				below = d.CDF(float64(c.k - 1))
			}
			if math.Abs(cdf-c.q) < tol || math.Abs(below-c.q) < tol {
				continue
			}
			if !(cdf >= c.q && below < c.q) {
				t.Errorf("n=%d p=%v level=%v: k=%d has CDF(k-1)=%v, CDF(k)=%v, want CDF(k-1) < %v ≤ CDF(k)",
					n, p, level, c.k, below, cdf, c.q)
			}
		}
	}
}

func TestBinomialErrors(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		n        int
		p, q, lv float64
	}{
		{-1, 0.5, 0.5, 0.9}, {10, -0.1, 0.5, 0.9}, {10, 1.1, 0.5, 0.9}, {10, math.NaN(), 0.5, 0.9},
	} {
		if _, err := BinomialQuantile(c.n, c.p, c.q); !errors.Is(err, ErrInvalid) {
			t.Errorf("BinomialQuantile(%d, %v, %v): got error %v, want ErrInvalid", c.n, c.p, c.q, err)
		}
		if _, _, err := BinomialInterval(c.n, c.p, c.lv); !errors.Is(err, ErrInvalid) {
			t.Errorf("BinomialInterval(%d, %v, %v): got error %v, want ErrInvalid", c.n, c.p, c.lv, err)
		}
	}
	for _, q := range []float64{-0.1, 1.5, math.NaN()} {
		if _, err := BinomialQuantile(10, 0.5, q); !errors.Is(err, ErrInvalid) {
			t.Errorf("BinomialQuantile(10, 0.5, %v): got error %v, want ErrInvalid", q, err)
		}
	}
	for _, lv := range []float64{0, 1, -0.5, math.NaN()} {
		if _, _, err := BinomialInterval(10, 0.5, lv); !errors.Is(err, ErrInvalid) {
			t.Errorf("BinomialInterval(10, 0.5, %v): got error %v, want ErrInvalid", lv, err)
		}
	}
}

// TestRankBins checks the SBC histogram band: 101 rank values (maxRank 100) in
// 25 bins give 24 bins of 4 values and a last bin of 5; their 99% bands for 500
// runs are the exact quantiles of Binomial(500, 4/101) and (500, 5/101) listed
// in binomialQuantileCases.
func TestRankBins(t *testing.T) {
	t.Parallel()
	rb := newRankBins(500, 100, 25, 0.99)
	for b := range 25 {
		wantP, wantLo, wantHi := 4.0/101, 10, 32
		if b == 24 {
			wantP, wantLo, wantHi = 5.0/101, 13, 38
		}
		if got := rb.first[b+1] - rb.first[b]; got != int(math.Round(wantP*101)) {
			t.Errorf("bin %d holds %d rank values, want %v", b, got, wantP*101)
		}
		if math.Abs(rb.prob[b]-wantP) > 1e-15 || rb.lo[b] != wantLo || rb.hi[b] != wantHi {
			t.Errorf("bin %d: got p=%v band [%d, %d], want p=%v band [%d, %d]", b, rb.prob[b], rb.lo[b], rb.hi[b], wantP, wantLo, wantHi)
		}
	}
	// Every rank falls into the bin that holds it.
	for r := 0; r <= 100; r++ {
		b := sortSearchInts(rb.first, r)
		if r < rb.first[b] || r >= rb.first[b+1] {
			t.Errorf("rank %d put in bin %d = [%d, %d)", r, b, rb.first[b], rb.first[b+1])
		}
	}
}

func TestDefaultRankBins(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ n, maxRank, want int }{
		{1000, 99, 50},   // N/20 = 50 divides 100.
		{500, 99, 25},    // 25 divides 100.
		{460, 99, 20},    // target 23; 20 is the largest divisor of 100 within 25% below.
		{500, 100, 25},   // 101 is prime: keep 25 unequal bins.
		{10000, 999, 50}, // capped at 50.
		{10, 9, 1},       // at least one bin.
		{2000, 4, 5},     // at most maxRank+1.
	} {
		if got := defaultRankBins(c.n, c.maxRank); got != c.want {
			t.Errorf("defaultRankBins(%d, %d) = %d, want %d", c.n, c.maxRank, got, c.want)
		}
	}
}

// TestCoverageBand checks the calibration band against the exact quantiles in
// binomialQuantileCases: for N = 200 at nominal levels 0.25, 0.5 and 0.9 the 95%
// band is [38, 62]/200, [86, 114]/200 and [171, 188]/200.
func TestCoverageBand(t *testing.T) {
	t.Parallel()
	z, lo, hi := coverageBand(200, 0.95, 200)
	for _, c := range []struct {
		i      int
		lo, hi int
	}{{50, 38, 62}, {100, 86, 114}, {180, 171, 188}, {0, 0, 0}, {200, 200, 200}} {
		if z[c.i] != float64(c.i)/200 || lo[c.i] != float64(c.lo)/200 || hi[c.i] != float64(c.hi)/200 {
			t.Errorf("z=%v: got band [%v, %v], want [%v, %v]", z[c.i], lo[c.i], hi[c.i], float64(c.lo)/200, float64(c.hi)/200)
		}
	}
}

func TestQuantileSorted(t *testing.T) {
	t.Parallel()
	x := []float64{1, 2, 3, 4, 5}
	for _, c := range []struct{ p, want float64 }{{0, 1}, {1, 5}, {0.5, 3}, {0.1, 1.4}, {0.875, 4.5}} {
		if got := quantileSorted(x, c.p); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("quantileSorted(%v, %v) = %v, want %v", x, c.p, got, c.want)
		}
	}
	// Weighted: zero weight removes values.
	got := weightedQuantiles([]float64{5, 1, 100, 3}, []float64{1, 1, 0, 1}, 0, 1, 0.5)
	if want := []float64{1, 5, 3}; got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Errorf("weightedQuantiles = %v, want %v", got, want)
	}
}

// TestAutocorr checks the ACF of an AR(1) process x_t = φx_{t-1} + ε_t against
// ρ_k = φ^k. Bartlett's formula bounds the standard error by
// sqrt((1+φ²)/((1-φ²)n)) ≈ 0.015 for φ = 0.8, n = 20000; the tolerance is 5 of
// those. White noise must have |ρ_k| < 5/√n, a constant series ρ_k = 1.
func TestAutocorr(t *testing.T) {
	t.Parallel()
	const n, phi = 20000, 0.8
	rng := rand.New(rand.NewPCG(7, 7))
	x, w := make([]float64, n), make([]float64, n)
	for i := range x {
		w[i] = rng.NormFloat64()
		if i > 0 {
			x[i] = phi*x[i-1] + w[i]
		}
	}
	tol := 5 * math.Sqrt((1+phi*phi)/((1-phi*phi)*n))
	rho := autocorr(x, 10)
	for k, got := range rho {
		if want := math.Pow(phi, float64(k)); math.Abs(got-want) > tol {
			t.Errorf("AR(1) ρ_%d = %v, want %v ± %v", k, got, want, tol)
		}
	}
	for k, got := range autocorr(w, 5)[1:] {
		if math.Abs(got) > 5/math.Sqrt(n) {
			t.Errorf("white noise ρ_%d = %v, want 0 ± %v", k+1, got, 5/math.Sqrt(n))
		}
	}
	for k, got := range autocorr([]float64{2, 2, 2, 2}, 3) {
		if got != 1 {
			t.Errorf("constant series ρ_%d = %v, want 1", k, got)
		}
	}
}

func TestHistogram(t *testing.T) {
	t.Parallel()
	x := []float64{0, 0.1, 0.25, 0.5, 0.99, 1, -1, 2}
	got := histogram(x, nil, 0, 1, 4)
	want := []float64{2, 1, 1, 2} // 1 goes to the last bin; -1 and 2 are outside.
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("histogram = %v, want %v", got, want)
		}
	}
	gotW := histogram(x, []float64{1, 2, 3, 4, 5, 6, 7, 8}, 0, 1, 4)
	wantW := []float64{3, 3, 4, 11}
	for i := range wantW {
		if gotW[i] != wantW[i] {
			t.Fatalf("weighted histogram = %v, want %v", gotW, wantW)
		}
	}
	// Densities integrate to the share of the data inside the range.
	d := density(x, nil, Range{0, 1}, 4)
	var area float64
	for _, v := range d {
		area += v * 0.25
	}
	if want := 6.0 / 8; math.Abs(area-want) > 1e-12 {
		t.Errorf("density area = %v, want %v", area, want)
	}
	h2 := histogram2D([]float64{0.1, 0.9, 0.9, 5}, []float64{0.1, 0.1, 0.9, 0.5}, nil, 0, 1, 0, 1, 2, 2)
	if want := []float64{1, 1, 0, 1}; h2[0] != want[0] || h2[1] != want[1] || h2[2] != want[2] || h2[3] != want[3] {
		t.Errorf("histogram2D = %v, want %v", h2, want)
	}
}

func TestCredibleThresholds(t *testing.T) {
	t.Parallel()
	g := []float64{1, 4, 0, 2, 3} // mass fractions of 4, 3, 2, 1: 0.4, 0.7, 0.9, 1
	got := credibleThresholds(g, []float64{0.3, 0.68, 0.7, 0.95})
	want := []float64{4, 3, 3, 1}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("credibleThresholds = %v, want %v", got, want)
		}
	}
	if got := credibleThresholds([]float64{0, 0}, []float64{0.5}); got != nil {
		t.Errorf("credibleThresholds of an empty grid = %v, want nil", got)
	}
}

// TestSmooth2D checks that smoothing keeps the mass of a central spike (the
// truncated kernel is normalised) and spreads it symmetrically with the
// variance σ² of the kernel (up to the 3σ truncation, which removes 0.3% of the
// Gaussian mass and about 3% of its variance; the tolerance is 5%).
func TestSmooth2D(t *testing.T) {
	t.Parallel()
	const n, sigma = 21, 1.5
	g := make([]float64, n*n)
	g[10*n+10] = 1
	smooth2D(g, n, n, sigma)
	var sum, varX float64
	for j := range n {
		for i := range n {
			sum += g[j*n+i]
			varX += g[j*n+i] * float64((i-10)*(i-10))
		}
	}
	if math.Abs(sum-1) > 1e-12 {
		t.Errorf("smoothed mass = %v, want 1", sum)
	}
	if math.Abs(varX-sigma*sigma)/(sigma*sigma) > 0.05 {
		t.Errorf("smoothed variance = %v, want %v", varX, sigma*sigma)
	}
	if g[10*n+11] != g[11*n+10] || g[10*n+9] != g[10*n+11] || !(g[10*n+10] > g[10*n+11]) {
		t.Errorf("smoothing is not symmetric and peaked: %v %v %v", g[10*n+10], g[10*n+11], g[11*n+10])
	}
}

// TestIsolines checks marching squares on a Gaussian bump exp(-r²/2) sampled
// on a grid of spacing 0.1: the level exp(-1/2) is the unit circle, up to the
// linear interpolation error of about h²/8 times the curvature of the profile
// (< 0.01 here); the loop must be closed and counter-clockwise. On a ring
// profile the hole must come out clockwise.
func TestIsolines(t *testing.T) {
	t.Parallel()
	g := newGrid(Range{-3, 3}, Range{-3, 3}, 60, 60)
	g.z = make([]float64, 60*60)
	ring := newGrid(Range{-3, 3}, Range{-3, 3}, 60, 60)
	ring.z = make([]float64, 60*60)
	for j := range 60 {
		for i := range 60 {
			r := math.Hypot(g.X(i), g.Y(j))
			g.z[j*60+i] = math.Exp(-r * r / 2)
			ring.z[j*60+i] = math.Exp(-(r - 1.5) * (r - 1.5) / 0.18)
		}
	}
	loops := isolines(g, math.Exp(-0.5))
	if len(loops) != 1 {
		t.Fatalf("got %d loops, want 1", len(loops))
	}
	l := loops[0]
	if l[0] != l[len(l)-1] {
		t.Errorf("loop is not closed: %v ... %v", l[0], l[len(l)-1])
	}
	for _, q := range l {
		if r := math.Hypot(q.X, q.Y); math.Abs(r-1) > 0.01 {
			t.Fatalf("point %v at radius %v, want 1 ± 0.01", q, r)
		}
	}
	if a := signedArea(l); math.Abs(a-math.Pi) > 0.02 {
		t.Errorf("signed area %v, want π (counter-clockwise unit disc)", a)
	}
	loops = isolines(ring, 0.5)
	if len(loops) != 2 {
		t.Fatalf("ring: got %d loops, want 2", len(loops))
	}
	a0, a1 := signedArea(loops[0]), signedArea(loops[1])
	if a0*a1 >= 0 {
		t.Errorf("ring: areas %v and %v, want opposite orientations", a0, a1)
	}
	// Threshold 0.5 of exp(-(r-1.5)²/0.18) lies at r = 1.5 ± 0.3·sqrt(2 ln 2).
	w := 0.3 * math.Sqrt(2*math.Log(2))
	if want := math.Pi * ((1.5+w)*(1.5+w) - (1.5-w)*(1.5-w)); math.Abs(a0+a1-want) > 0.05 {
		t.Errorf("ring: net area %v, want %v", a0+a1, want)
	}
	// A bump at the grid edge still gives a closed loop (through the zero border).
	edge := newGrid(Range{0, 1}, Range{0, 1}, 4, 4)
	edge.z = make([]float64, 16)
	edge.z[0], edge.z[1], edge.z[4] = 3, 1, 1
	loops = isolines(edge, 0.5)
	if len(loops) != 1 || signedArea(loops[0]) <= 0 {
		t.Errorf("edge bump: got %d loops (first area %v), want 1 counter-clockwise", len(loops), signedArea(loops[0]))
	}
}

func signedArea(l plotter.XYs) float64 {
	var a float64
	for i := 0; i+1 < len(l); i++ {
		a += l[i].X*l[i+1].Y - l[i+1].X*l[i].Y
	}
	return a / 2
}
