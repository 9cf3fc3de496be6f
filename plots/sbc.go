package plots

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
)

// RankConfig configures NewRankHist. Its zero value (and a nil *RankConfig)
// means the documented defaults.
type RankConfig struct {
	// Labels names the parameters; nil means "θ1", "θ2", ...
	Labels []string
	// Bins is the number of histogram bins, at most maxRank+1. Zero means
	// N/20 for N SBC runs (about 20 expected counts per bin, Talts et al. 2018,
	// Sec. 4.1), at least 1 and at most 50 and maxRank+1, moved to a divisor of
	// maxRank+1 when one lies within 25% below it so that bins hold equally many
	// rank values. Bins with unequal numbers of rank values are fine: every bin
	// gets its own expected count and band.
	Bins int
	// Level is the probability of the band around the expected count of every
	// bin; zero means 0.99.
	Level float64
	// Cols is the number of panel columns; zero means a near-square grid.
	Cols int
	// Title is drawn above the figure when not empty.
	Title string
	// FontSize is the size of axis labels; zero means 9 points.
	FontSize vg.Length
}

// checkRanks validates SBC ranks: n ≥ 1 runs of d ≥ 1 ranks in 0..maxRank.
func checkRanks(fn string, ranks [][]int, maxRank int) (n, d int, err error) {
	if len(ranks) == 0 || len(ranks[0]) == 0 {
		return 0, 0, fmt.Errorf("%w: %s: no ranks", ErrEmpty, fn)
	}
	if maxRank < 1 {
		return 0, 0, fmt.Errorf("%w: %s: max rank %d must be at least 1", ErrInvalid, fn, maxRank)
	}
	d = len(ranks[0])
	for i, row := range ranks {
		if len(row) != d {
			return 0, 0, fmt.Errorf("%w: %s: run %d has %d ranks, run 0 has %d", ErrShape, fn, i, len(row), d)
		}
		for j, r := range row {
			if r < 0 || r > maxRank {
				return 0, 0, fmt.Errorf("%w: %s: run %d parameter %d has rank %d outside 0..%d", ErrInvalid, fn, i, j, r, maxRank)
			}
		}
	}
	return len(ranks), d, nil
}

// rankBins describes the bins of an SBC rank histogram: bin b holds the ranks
// first[b] ≤ r < first[b+1]; under uniformity its count is Binomial(n, prob[b])
// and lies in [lo[b], hi[b]] with probability ≥ level.
type rankBins struct {
	first  []int
	prob   []float64
	lo, hi []int
}

// newRankBins splits the ranks 0..maxRank into bins as evenly as possible
// (bin b starts at floor(b·(maxRank+1)/bins)) and computes the binomial band of
// each bin for n runs.
func newRankBins(n, maxRank, bins int, level float64) rankBins {
	m := maxRank + 1
	rb := rankBins{first: make([]int, bins+1), prob: make([]float64, bins), lo: make([]int, bins), hi: make([]int, bins)}
	for b := range rb.first {
		rb.first[b] = b * m / bins
	}
	for b := range bins {
		rb.prob[b] = float64(rb.first[b+1]-rb.first[b]) / float64(m)
		// Cannot fail: n ≥ 0, prob in [0, 1] and level in (0, 1) are checked by callers.
		rb.lo[b], rb.hi[b], _ = BinomialInterval(n, rb.prob[b], level)
	}
	return rb
}

// defaultRankBins implements the RankConfig.Bins default.
func defaultRankBins(n, maxRank int) int {
	m := maxRank + 1
	target := min(max(n/20, 1), 50, m)
	for b := target; 4*b >= 3*target; b-- {
		if m%b == 0 {
			return b
		}
	}
	return target
}

// NewRankHist returns SBC rank histograms (Talts et al. 2018, "Validating
// Bayesian inference algorithms with simulation-based calibration"), one panel
// per parameter. ranks[i][j] is the rank, in 0..maxRank, of the true parameter j
// among maxRank posterior draws in SBC run i. Behind the bars a grey band shows,
// for every bin, the central interval of Binomial(N, p_b) with probability
// cfg.Level (p_b the share of rank values in the bin), and a dashed line the
// expected count N·p_b; bars outside the band are drawn in red. The band is
// pointwise: with B bins, some bars leave a 99% band by chance about B/100
// times per panel.
//
// It returns an error wrapping ErrEmpty when there are no ranks, ErrShape when
// runs or labels disagree in the number of parameters, and ErrInvalid for ranks
// outside 0..maxRank, maxRank < 1 or settings out of range.
func NewRankHist(ranks [][]int, maxRank int, cfg *RankConfig) (*Figure, error) {
	if cfg == nil {
		cfg = &RankConfig{}
	}
	n, d, err := checkRanks("rank histogram", ranks, maxRank)
	if err != nil {
		return nil, err
	}
	labels, err := paramLabels("rank histogram", cfg.Labels, d)
	if err != nil {
		return nil, err
	}
	bins := cfg.Bins
	switch {
	case bins == 0:
		bins = defaultRankBins(n, maxRank)
	case bins < 0 || bins > maxRank+1:
		return nil, fmt.Errorf("%w: rank histogram: %d bins not in 1..%d", ErrInvalid, bins, maxRank+1)
	}
	level := cfg.Level
	switch {
	case level == 0:
		level = 0.99
	case !(level > 0 && level < 1):
		return nil, fmt.Errorf("%w: rank histogram: level %v not in (0, 1)", ErrInvalid, level)
	}
	if cfg.Cols < 0 {
		return nil, fmt.Errorf("%w: rank histogram: %d columns", ErrInvalid, cfg.Cols)
	}
	rb := newRankBins(n, maxRank, bins, level)
	edges := make([]float64, bins+1)
	for b, f := range rb.first {
		edges[b] = float64(f)
	}
	lo, hi, exp := make([]float64, bins), make([]float64, bins), make([]float64, bins)
	for b := range bins {
		lo[b], hi[b], exp[b] = float64(rb.lo[b]), float64(rb.hi[b]), float64(n)*rb.prob[b]
	}
	fs := fontSize(cfg.FontSize)
	barColor := palette[0]
	badColor := palette[3]
	panels := make([]*plot.Plot, d)
	for j := range d {
		counts := make([]float64, bins)
		for _, row := range ranks {
			b := sortSearchInts(rb.first, row[j])
			counts[b]++
		}
		p := newPanel(fs)
		p.Add(&band{X: edges, Lo: lo, Hi: hi, Step: true, Color: bandColor})
		zero := make([]float64, bins)
		for b := range bins {
			c := mix(barColor, 0.7)
			if counts[b] < lo[b] || counts[b] > hi[b] {
				c = mix(badColor, 0.85)
			}
			p.Add(&band{X: edges[b : b+2], Lo: zero[b : b+1], Hi: counts[b : b+1], Step: true, Color: c})
		}
		p.Add(&band{X: edges, Lo: zero, Hi: counts, Step: true, Line: lineStyle(mix(barColor, 1), 0.6)})
		edge := lineStyle(withAlpha(black, 0.45), 0.7)
		p.Add(&band{X: edges, Lo: lo, Hi: lo, Step: true, Line: edge}, &band{X: edges, Lo: hi, Hi: hi, Step: true, Line: edge})
		p.Add(&band{X: edges, Lo: exp, Hi: exp, Step: true, Line: lineStyle(black, 0.8, 3, 2)})
		p.Title.Text = labels[j]
		p.X.Min, p.X.Max = 0, float64(maxRank+1)
		p.Y.Min = 0
		p.Y.Max *= 1.08
		finish(p)
		panels[j] = p
	}
	f := gridFigure(panels, cfg.Cols)
	f.Title, f.FontSize = cfg.Title, fs
	f.LegendPos = LegendAbove
	f.Legend = []LegendEntry{
		{Label: "rank counts", Thumbs: []plot.Thumbnailer{&band{Color: mix(barColor, 0.7)}}},
		{Label: fmt.Sprintf("%g%% band of uniform counts (N = %d)", 100*level, n), Thumbs: []plot.Thumbnailer{&band{Color: bandColor, Line: lineStyle(withAlpha(black, 0.45), 0.7)}}},
		{Label: "expected count", Thumbs: []plot.Thumbnailer{refLine{Style: lineStyle(black, 0.8, 3, 2)}}},
	}
	labelGrid(f, "rank", "count")
	return f, nil
}

// sortSearchInts returns the bin b with first[b] ≤ r < first[b+1].
func sortSearchInts(first []int, r int) int {
	b, found := slices.BinarySearch(first, r)
	if !found {
		b--
	}
	// Equal starts (empty bins) cannot occur: bins ≤ maxRank+1 gives every
	// bin at least one rank value, so the search lands on the right bin.
	return min(b, len(first)-2)
}

// ECDFBand is a simultaneous confidence band for the empirical CDF of N draws
// from a (discrete or continuous) uniform distribution, evaluated at Z.
type ECDFBand struct {
	// Z holds the evaluation points 0, 1/K, ..., 1.
	Z []float64
	// Expected[i] is P(u ≤ Z[i]) for one uniform fractional rank u (equal to
	// Z[i] for continuous values).
	Expected []float64
	// Lower and Upper bound the ECDF values F(Z[i]) (fractions of N): under
	// uniformity, all of them lie in the band at once with probability about
	// Level.
	Lower, Upper []float64
	// Gamma is the pointwise two-sided level that the simultaneous level
	// required (Säilynoja et al. 2022, Sec. 2.2).
	Gamma float64
	// Level is the simultaneous coverage.
	Level float64
	// N is the sample size and MaxRank the largest rank (0: continuous).
	N, MaxRank int
}

// binomWindow holds the CDF of Binomial(n, p) on the counts lo..lo+len(cdf)-1
// outside which the probability is negligible (pmf below 1e-20 of the mode).
type binomWindow struct {
	lo  int
	cdf []float64
}

func newBinomWindow(n int, p float64) binomWindow {
	switch {
	case p <= 0:
		return binomWindow{lo: 0, cdf: []float64{1}}
	case p >= 1:
		return binomWindow{lo: n, cdf: []float64{1}}
	}
	mode := min(int(math.Floor(float64(n+1)*p)), n)
	lg := func(k int) float64 { v, _ := math.Lgamma(float64(k + 1)); return v }
	pm := math.Exp(lg(n) - lg(mode) - lg(n-mode) + float64(mode)*math.Log(p) + float64(n-mode)*math.Log1p(-p))
	odds := p / (1 - p)
	const tiny = 1e-20 // relative pmf below which the tails are dropped.
	var down []float64 // pmf(mode-1), pmf(mode-2), ...
	for k, v := mode, pm; k > 0; k-- {
		v *= float64(k) / (float64(n-k+1) * odds)
		if v < tiny*pm {
			break
		}
		down = append(down, v)
	}
	w := binomWindow{lo: mode - len(down)}
	var s float64
	for i := len(down) - 1; i >= 0; i-- {
		s += down[i]
		w.cdf = append(w.cdf, s)
	}
	s += pm
	w.cdf = append(w.cdf, s)
	for k, v := mode, pm; k < n; k++ {
		v *= float64(n-k) / float64(k+1) * odds
		if v < tiny*pm {
			break
		}
		s += v
		w.cdf = append(w.cdf, s)
	}
	for i := range w.cdf {
		w.cdf[i] = min(w.cdf[i]/s, 1)
	}
	return w
}

// at returns P(X ≤ k).
func (w binomWindow) at(k int) float64 {
	switch {
	case k < w.lo:
		return 0
	case k >= w.lo+len(w.cdf):
		return 1
	}
	return w.cdf[k-w.lo]
}

// pvalue returns the two-sided tail probability of the count c,
// min(1, 2·min(P(X ≤ c), P(X ≥ c))).
func (w binomWindow) pvalue(c int) float64 {
	return min(1, 2*min(w.at(c), 1-w.at(c-1)))
}

// ecdfPoints maps values to evaluation indices: countsAt returns, for i = 0..K,
// the number of values u with u ≤ i/K.
type ecdfPoints struct {
	k, maxRank int
}

// index returns the smallest i with u ≤ i/K for the rank r (discrete case,
// u = (r+½)/(maxRank+1), computed in integers) or the value u (continuous).
func (e ecdfPoints) indexRank(r int) int {
	// (2r+1)·K ≤ 2i·(maxRank+1)  ⇔  i ≥ ceil((2r+1)·K / (2·(maxRank+1))).
	num, den := (2*r+1)*e.k, 2*(e.maxRank+1)
	return min((num+den-1)/den, e.k)
}

func (e ecdfPoints) indexValue(u float64) int {
	i := int(math.Ceil(u * float64(e.k)))
	return min(max(i, 0), e.k)
}

// expected returns P(u ≤ i/K) for one uniform fractional rank.
func (e ecdfPoints) expected(i int) float64 {
	if e.maxRank == 0 {
		return float64(i) / float64(e.k)
	}
	m := e.maxRank + 1
	// Number of r in 0..maxRank with (2r+1)·K ≤ 2i·m.
	num := 2*i*m - e.k
	if num < 0 {
		return 0
	}
	return float64(min(num/(2*e.k)+1, m)) / float64(m)
}

// cumulate turns per-index counts into counts of values ≤ i/K, in place.
func cumulate(c []int) {
	for i := 1; i < len(c); i++ {
		c[i] += c[i-1]
	}
}

// SimultaneousBand returns the simultaneous confidence band, at the given
// level, for the ECDF of n uniform fractional ranks evaluated at z_i = i/k,
// i = 0..k, following the simulation method of Säilynoja, Bürkner and Vehtari
// (2022), "Graphical test for discrete uniformity and its applications in
// goodness-of-fit evaluation and multiple sample comparison", Statistics and
// Computing 32:32, Sec. 2.2. Under uniformity the count n·F(z_i) is
// Binomial(n, p_i); sims uniform samples of size n are drawn from rng, each is
// summarised by its smallest pointwise two-sided binomial tail probability over
// the z_i, and the (1-level)-quantile γ of these minima is the pointwise level
// that makes the pointwise binomial intervals hold simultaneously with
// probability ≈ level. The band is therefore exact up to Monte Carlo error in γ
// (about ±√(α(1-α)/sims) in coverage, α = 1-level).
//
// maxRank = 0 means continuous uniform values (PIT values); maxRank ≥ 1 means
// ranks uniform on 0..maxRank, represented by the fractional ranks
// u = (r+½)/(maxRank+1), whose CDF p_i = P(u ≤ z_i) differs from z_i by at most
// ½/(maxRank+1) and is simulated exactly.
//
// It returns an error wrapping ErrInvalid when n < 1, k < 1, maxRank < 0,
// sims < 1 or level is not in (0, 1), and panics if rng is nil.
func SimultaneousBand(n, k, maxRank int, level float64, sims int, rng *rand.Rand) (*ECDFBand, error) {
	switch {
	case n < 1 || k < 1 || maxRank < 0 || sims < 1:
		return nil, fmt.Errorf("%w: ecdf band: n=%d, k=%d, max rank=%d, sims=%d", ErrInvalid, n, k, maxRank, sims)
	case !(level > 0 && level < 1):
		return nil, fmt.Errorf("%w: ecdf band: level %v not in (0, 1)", ErrInvalid, level)
	}
	if rng == nil {
		panic("plots: SimultaneousBand with nil rng")
	}
	pts := ecdfPoints{k: k, maxRank: maxRank}
	b := &ECDFBand{Z: make([]float64, k+1), Expected: make([]float64, k+1),
		Lower: make([]float64, k+1), Upper: make([]float64, k+1), Level: level, N: n, MaxRank: maxRank}
	wins := make([]binomWindow, k+1)
	for i := range wins {
		b.Z[i] = float64(i) / float64(k)
		b.Expected[i] = pts.expected(i)
		wins[i] = newBinomWindow(n, b.Expected[i])
	}
	minP := make([]float64, sims)
	counts := make([]int, k+1)
	for s := range minP {
		clear(counts)
		for range n {
			if maxRank > 0 {
				counts[pts.indexRank(rng.IntN(maxRank+1))]++
			} else {
				// 1-Float64() lies in (0, 1], as a uniform on (0, 1] should.
				counts[pts.indexValue(1-rng.Float64())]++
			}
		}
		cumulate(counts)
		m := 1.0
		for i, c := range counts {
			m = min(m, wins[i].pvalue(c))
		}
		minP[s] = m
	}
	slices.Sort(minP)
	// The fraction of simulated samples with minimum ≥ γ is at least level.
	b.Gamma = minP[min(int(math.Floor((1-level)*float64(sims))), sims-1)]
	for i, w := range wins {
		lo, hi := w.lo, w.lo+len(w.cdf)-1
		for lo < hi && w.pvalue(lo) < b.Gamma {
			lo++
		}
		for hi > lo && w.pvalue(hi) < b.Gamma {
			hi--
		}
		b.Lower[i], b.Upper[i] = float64(lo)/float64(n), float64(hi)/float64(n)
	}
	return b, nil
}

// ECDFConfig configures NewECDFDiff and NewECDFDiffPIT. Its zero value (and a
// nil *ECDFConfig) means the documented defaults.
type ECDFConfig struct {
	// Labels names the parameters; nil means "θ1", "θ2", ...
	Labels []string
	// Level is the simultaneous coverage of the band; zero means 0.95.
	Level float64
	// Points is the number K of evaluation intervals (points i/K, i = 0..K);
	// zero means min(N, 200), and for ranks also at most maxRank+1.
	Points int
	// Sims is the number of simulated uniform samples that calibrate the band;
	// zero means 1000.
	Sims int
	// Seed seeds the PCG generator of the simulation, so that the band is
	// reproducible; the zero value is a valid seed.
	Seed uint64
	// Cols is the number of panel columns; zero means a near-square grid.
	Cols int
	// Title is drawn above the figure when not empty.
	Title string
	// FontSize is the size of axis labels; zero means 9 points.
	FontSize vg.Length
}

// NewECDFDiff returns ECDF-difference plots of SBC ranks (Säilynoja et al. 2022),
// one panel per parameter: the empirical CDF of the fractional ranks
// u = (r+½)/(maxRank+1) minus the identity, evaluated at z = i/K, inside the
// simultaneous band of SimultaneousBand, shifted by -z in the same way. ranks
// are as for NewRankHist. A curve leaving the band rejects uniformity at level
// 1-cfg.Level for that parameter. Too narrow a posterior (a ∪-shaped rank
// histogram) makes the curve positive below z = ½ and negative above it, too
// wide a posterior the reverse; a one-signed hump means bias (above zero: too
// many small ranks, the posterior overestimates the parameter).
//
// It returns the errors of NewRankHist, and an error wrapping ErrInvalid for
// settings out of range.
func NewECDFDiff(ranks [][]int, maxRank int, cfg *ECDFConfig) (*Figure, error) {
	n, d, err := checkRanks("ecdf", ranks, maxRank)
	if err != nil {
		return nil, err
	}
	return newECDF(n, d, maxRank, cfg, func(j int, pts ecdfPoints, counts []int) {
		for _, row := range ranks {
			counts[pts.indexRank(row[j])]++
		}
	})
}

// NewECDFDiffPIT is NewECDFDiff for continuous probability integral transform
// values in [0, 1] (one run per row, one parameter per column), such as
// posterior CDF values of the true parameters; the band is that of continuous
// uniform values (maxRank = 0).
//
// It returns an error wrapping ErrEmpty for an empty matrix, ErrNonFinite for
// NaN values, ErrInvalid for values outside [0, 1] or settings out of range,
// and ErrShape when the labels do not match the columns.
func NewECDFDiffPIT(pit *mat.Dense, cfg *ECDFConfig) (*Figure, error) {
	if pit == nil || pit.IsEmpty() {
		return nil, fmt.Errorf("%w: ecdf: no PIT values", ErrEmpty)
	}
	n, d := pit.Dims()
	for i := range n {
		for j := range d {
			switch v := pit.At(i, j); {
			case math.IsNaN(v):
				return nil, fmt.Errorf("%w: ecdf: row %d column %d is NaN", ErrNonFinite, i, j)
			case v < 0 || v > 1:
				return nil, fmt.Errorf("%w: ecdf: row %d column %d is %v, outside [0, 1]", ErrInvalid, i, j, v)
			}
		}
	}
	return newECDF(n, d, 0, cfg, func(j int, pts ecdfPoints, counts []int) {
		for i := range n {
			counts[pts.indexValue(pit.At(i, j))]++
		}
	})
}

// newECDF draws the ECDF-difference panels; fill adds, for parameter j, the
// number of values with evaluation index i (as pts computes it) to counts[i].
func newECDF(n, d, maxRank int, cfg *ECDFConfig, fill func(j int, pts ecdfPoints, counts []int)) (*Figure, error) {
	if cfg == nil {
		cfg = &ECDFConfig{}
	}
	labels, err := paramLabels("ecdf", cfg.Labels, d)
	if err != nil {
		return nil, err
	}
	level := cfg.Level
	switch {
	case level == 0:
		level = 0.95
	case !(level > 0 && level < 1):
		return nil, fmt.Errorf("%w: ecdf: level %v not in (0, 1)", ErrInvalid, level)
	}
	k := cfg.Points
	switch {
	case k == 0:
		k = min(n, 200)
		if maxRank > 0 {
			k = min(k, maxRank+1)
		}
	case k < 0:
		return nil, fmt.Errorf("%w: ecdf: %d points", ErrInvalid, k)
	}
	sims := cfg.Sims
	switch {
	case sims == 0:
		sims = 1000
	case sims < 0:
		return nil, fmt.Errorf("%w: ecdf: %d simulations", ErrInvalid, sims)
	}
	if cfg.Cols < 0 {
		return nil, fmt.Errorf("%w: ecdf: %d columns", ErrInvalid, cfg.Cols)
	}
	pts := ecdfPoints{k: k, maxRank: maxRank}
	band0, err := SimultaneousBand(n, k, maxRank, level, sims, rand.New(rand.NewPCG(cfg.Seed, 0x5ec0)))
	if err != nil {
		return nil, err
	}
	lo, hi := make([]float64, k+1), make([]float64, k+1)
	for i, z := range band0.Z {
		lo[i], hi[i] = band0.Lower[i]-z, band0.Upper[i]-z
	}
	fs := fontSize(cfg.FontSize)
	panels := make([]*plot.Plot, d)
	counts := make([]int, k+1)
	lineColor := palette[0]
	for j := range d {
		clear(counts)
		fill(j, pts, counts)
		cumulate(counts)
		diff := make([]float64, k+1)
		for i, c := range counts {
			diff[i] = float64(c)/float64(n) - band0.Z[i]
		}
		p := newPanel(fs)
		p.Add(&band{X: band0.Z, Lo: lo, Hi: hi, Color: bandColor})
		p.Add(refLine{V: 0, Style: lineStyle(gridGrey, 0.6, 3, 2)})
		p.Add(newLine(band0.Z, diff, lineStyle(lineColor, 1.3)))
		p.Title.Text = labels[j]
		p.X.Min, p.X.Max = 0, 1
		r := widen(p.Y.Min, p.Y.Max, 0.05)
		p.Y.Min, p.Y.Max = r.Lo, r.Hi
		finish(p)
		panels[j] = p
	}
	f := gridFigure(panels, cfg.Cols)
	f.Title, f.FontSize, f.LegendPos = cfg.Title, fs, LegendAbove
	f.Legend = []LegendEntry{
		{Label: "ECDF − uniform CDF", Thumbs: []plot.Thumbnailer{refLine{Style: lineStyle(lineColor, 1.3)}}},
		{Label: fmt.Sprintf("%g%% simultaneous band (N = %d)", 100*level, n), Thumbs: []plot.Thumbnailer{&band{Color: bandColor}}},
	}
	xl := "fractional rank"
	if maxRank == 0 {
		xl = "PIT value"
	}
	labelGrid(f, xl, "ECDF difference")
	return f, nil
}
