package plots

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/plot/vg"
)

// gaussSamples returns n draws of a d-dimensional Gaussian with unit variances,
// correlation rho between all pairs and mean shift+j in column j.
func gaussSamples(rng *rand.Rand, n, d int, shift, rho float64) *mat.Dense {
	m := mat.NewDense(n, d, nil)
	for r := range n {
		z := rng.NormFloat64()
		for j := range d {
			m.Set(r, j, math.Sqrt(rho)*z+math.Sqrt(1-rho)*rng.NormFloat64()+shift+float64(j))
		}
	}
	return m
}

// ar1Chains returns chains of an AR(1) process per parameter.
func ar1Chains(rng *rand.Rand, chains, n, d int) []*mat.Dense {
	out := make([]*mat.Dense, chains)
	for c := range out {
		m := mat.NewDense(n, d, nil)
		x := make([]float64, d)
		for i := range n {
			for j := range x {
				x[j] = 0.8*x[j] + 0.5*rng.NormFloat64()
				m.Set(i, j, x[j]+float64(j))
			}
		}
		out[c] = m
	}
	return out
}

// uniformRanks returns n SBC runs of d ranks uniform on 0..maxRank.
func uniformRanks(rng *rand.Rand, n, d, maxRank int) [][]int {
	r := make([][]int, n)
	for i := range r {
		r[i] = make([]int, d)
		for j := range r[i] {
			r[i][j] = rng.IntN(maxRank + 1)
		}
	}
	return r
}

// checkPNG decodes the PNG at path and checks that it is wPx×hPx pixels and not
// blank: more than 8 distinct colours and more than 1% of the pixels not white
// (a figure with only axes and labels has about 2-4% dark pixels).
func checkPNG(t *testing.T, path string, wPx, hPx int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
	if got := img.Bounds().Size(); got != (image.Point{X: wPx, Y: hPx}) {
		t.Errorf("%s is %v pixels, want %dx%d", path, got, wPx, hPx)
	}
	colours := map[color.RGBA]bool{}
	nonWhite := 0
	bounds := img.Bounds()
	for y := bounds.Min.Y; y < bounds.Max.Y; y++ {
		for x := bounds.Min.X; x < bounds.Max.X; x++ {
			c := color.RGBAModel.Convert(img.At(x, y)).(color.RGBA)
			colours[c] = true
			if c.R < 250 || c.G < 250 || c.B < 250 {
				nonWhite++
			}
		}
	}
	if len(colours) <= 8 {
		t.Errorf("%s has %d distinct colours, want > 8", path, len(colours))
	}
	if frac := float64(nonWhite) / float64(bounds.Dx()*bounds.Dy()); frac < 0.01 {
		t.Errorf("%s has %.4f non-white pixels, want > 0.01", path, frac)
	}
}

// pixels is the PNG size of a length at the default 96 dpi.
func pixels(l vg.Length) int { return int(l/vg.Inch*96 + 0.5) }

// TestFiguresWritePNG builds every kind of figure from valid data and checks
// that the saved PNG has the requested size and is not blank.
func TestFiguresWritePNG(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	a := gaussSamples(rng, 2000, 3, 0, 0.6)
	b := gaussSamples(rng, 1500, 3, 0.3, 0.4)
	one := gaussSamples(rng, 500, 1, 0, 0)
	chains := ar1Chains(rng, 3, 600, 2)
	ranks := uniformRanks(rng, 300, 3, 99)
	pit := mat.NewDense(200, 2, nil)
	for i := range 200 {
		pit.Set(i, 0, rng.Float64())
		pit.Set(i, 1, math.Pow(rng.Float64(), 1.5))
	}
	train, val := make([]float64, 40), make([]float64, 40)
	for e := range train {
		train[e] = 2*math.Exp(-float64(e)/8) + 0.05*rng.NormFloat64()
		val[e] = 2*math.Exp(-float64(e)/8) + 0.1 + 0.002*float64(e*e)/40 + 0.05*rng.NormFloat64()
	}
	nom := []float64{0, 0.1, 0.3, 0.5, 0.7, 0.9, 1}
	emp := []float64{0, 0.06, 0.22, 0.41, 0.63, 0.86, 1}
	obs := make([]float64, 30)
	sim := mat.NewDense(200, 30, nil)
	for j := range obs {
		obs[j] = math.Sin(float64(j)/5) + 0.2*rng.NormFloat64()
		for i := range 200 {
			sim.Set(i, j, math.Sin(float64(j)/5)+0.25*rng.NormFloat64())
		}
	}
	sets := []SampleSet{{Name: "gosbi NPE", Samples: a}, {Name: "reference", Samples: b}}
	truth := []float64{0.1, 1.2, 2.1}

	cases := []struct {
		name string
		make func() (*Figure, error)
		w, h vg.Length
	}{
		{"pair_contour", func() (*Figure, error) { return NewPair(&PairConfig{Truth: truth, Title: "posterior"}, sets...) }, 5 * vg.Inch, 5 * vg.Inch},
		{"pair_hist2d", func() (*Figure, error) { return NewPair(&PairConfig{Lower: LowerHist2D, Truth: truth}, sets...) }, 4 * vg.Inch, 4 * vg.Inch},
		{"pair_scatter", func() (*Figure, error) { return NewPair(&PairConfig{Lower: LowerScatter}, sets[0]) }, 4 * vg.Inch, 3 * vg.Inch},
		{"pair_none", func() (*Figure, error) { return NewPair(&PairConfig{Lower: LowerNone, Truth: truth}, sets...) }, 6 * vg.Inch, 2 * vg.Inch},
		{"pair_1d", func() (*Figure, error) {
			return NewPair(&PairConfig{Truth: []float64{0.2}, Labels: []string{"μ"}}, SampleSet{Name: "posterior", Samples: one})
		}, 4 * vg.Inch, 3 * vg.Inch},
		{"loss", func() (*Figure, error) { return NewLoss(train, val, &LossConfig{Title: "training"}) }, 5 * vg.Inch, 3 * vg.Inch},
		{"loss_train_only", func() (*Figure, error) { return NewLoss(train, nil, nil) }, 4 * vg.Inch, 3 * vg.Inch},
		{"trace", func() (*Figure, error) { return NewTrace(chains, &TraceConfig{Warmup: 100}) }, 6 * vg.Inch, 4 * vg.Inch},
		{"trace_envelope", func() (*Figure, error) { return NewTrace(chains, &TraceConfig{MaxPoints: 100}) }, 6 * vg.Inch, 4 * vg.Inch},
		{"autocorr", func() (*Figure, error) { return NewAutocorr(chains, &AutocorrConfig{MaxLag: 40}) }, 6 * vg.Inch, 3 * vg.Inch},
		{"ranks", func() (*Figure, error) { return NewRankHist(ranks, 99, nil) }, 6 * vg.Inch, 4 * vg.Inch},
		{"ecdf", func() (*Figure, error) { return NewECDFDiff(ranks, 99, &ECDFConfig{Sims: 200}) }, 6 * vg.Inch, 4 * vg.Inch},
		{"ecdf_pit", func() (*Figure, error) { return NewECDFDiffPIT(pit, &ECDFConfig{Sims: 200, Cols: 1}) }, 4 * vg.Inch, 5 * vg.Inch},
		{"coverage", func() (*Figure, error) {
			return NewCoverage(&CoverageConfig{N: 200}, CoverageCurve{Name: "NPE", Nominal: nom, Empirical: emp})
		}, 4 * vg.Inch, 4 * vg.Inch},
		{"tarp", func() (*Figure, error) {
			return NewTARP(&CoverageConfig{N: 100}, CoverageCurve{Name: "NPE", Nominal: nom, Empirical: emp, Lower: nom, Upper: nom})
		}, 4 * vg.Inch, 4 * vg.Inch},
		{"predictive", func() (*Figure, error) { return NewPredictive(obs, sim, &PredictiveConfig{XLabel: "time"}) }, 6 * vg.Inch, 3 * vg.Inch},
	}
	dir := t.TempDir()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, err := c.make()
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, c.name+".png")
			if err := f.Save(path, c.w, c.h); err != nil {
				t.Fatal(err)
			}
			checkPNG(t, path, pixels(c.w), pixels(c.h))
		})
	}
}

// TestPairFormats saves one pair plot in every vector format by extension and
// checks the file signatures, plus a PNG at twice the default resolution.
func TestPairFormats(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	f, err := NewPair(&PairConfig{Truth: []float64{0, 1}},
		SampleSet{Name: "a", Samples: gaussSamples(rng, 800, 2, 0, 0.5)},
		SampleSet{Name: "b", Samples: gaussSamples(rng, 800, 2, 0.2, 0.5)})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, c := range []struct{ ext, prefix string }{
		{".svg", "<?xml"}, {".pdf", "%PDF"}, {".eps", "%%!PS"}, // gonum/plot v0.17 writes a doubled "%%" header {".PNG", "\x89PNG"}, {".jpg", "\xff\xd8"},
	} {
		path := filepath.Join(dir, "pair"+c.ext)
		if err := f.Save(path, 4*vg.Inch, 4*vg.Inch); err != nil {
			t.Fatalf("%s: %v", c.ext, err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(b), c.prefix) || len(b) < 2000 {
			t.Errorf("%s: %d bytes starting %q, want > 2000 bytes starting %q", c.ext, len(b), b[:min(8, len(b))], c.prefix)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "pair.svg")); !strings.Contains(string(b), "<svg") || !strings.Contains(string(b), "<path") {
		t.Errorf("SVG output has no <svg> or <path> element")
	}
	f.DPI = 192
	path := filepath.Join(dir, "pair_hi.png")
	if err := f.Save(path, 3*vg.Inch, 2*vg.Inch); err != nil {
		t.Fatal(err)
	}
	checkPNG(t, path, 576, 384)

	for _, c := range []struct {
		path string
		w    vg.Length
		want error
	}{
		{filepath.Join(dir, "pair.bmp"), vg.Inch, ErrFormat},
		{filepath.Join(dir, "pair"), vg.Inch, ErrFormat},
		{filepath.Join(dir, "pair.png"), 0, ErrInvalid},
		{filepath.Join(dir, "no", "such", "dir.png"), vg.Inch, os.ErrNotExist},
	} {
		if err := f.Save(c.path, c.w, vg.Inch); !errors.Is(err, c.want) {
			t.Errorf("Save(%q, %v): got error %v, want %v", c.path, c.w, err, c.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "pair.bmp")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a failed Save left a file behind: %v", err)
	}
	var empty Figure
	if err := empty.Save(filepath.Join(dir, "empty.png"), vg.Inch, vg.Inch); !errors.Is(err, ErrEmpty) {
		t.Errorf("empty figure: got error %v, want ErrEmpty", err)
	}
}

// TestPairLimits checks the automatic ranges: the 0.5% and 99.5% quantiles of
// the union of the sets and the truth, widened by 5% of the width on each side.
func TestPairLimits(t *testing.T) {
	t.Parallel()
	x := make([]float64, 1001)
	for i := range x {
		x[i] = float64(i) / 1000 // quantiles: q(p) = p exactly
	}
	s := pairSet{cols: [][]float64{x, x}}
	for _, c := range []struct {
		name string
		cfg  PairConfig
		want []Range
	}{
		{"default", PairConfig{LimitQuantile: 0.005}, []Range{{-0.0445, 1.0445}, {-0.0445, 1.0445}}},
		{"truth", PairConfig{LimitQuantile: 0.005, Truth: []float64{2, math.NaN()}}, []Range{{0.005 - 0.09975, 2.09975}, {-0.0445, 1.0445}}},
		{"fixed", PairConfig{LimitQuantile: 0.1, Limits: []Range{{-5, 5}, {math.NaN(), 1}}}, []Range{{-5, 5}, {0.1 - 0.04, 0.9 + 0.04}}},
	} {
		got := c.cfg.limits([]pairSet{s})
		for j := range got {
			if math.Abs(got[j].Lo-c.want[j].Lo) > 1e-12 || math.Abs(got[j].Hi-c.want[j].Hi) > 1e-12 {
				t.Errorf("%s: limits[%d] = %v, want %v", c.name, j, got[j], c.want[j])
			}
		}
	}
	// Weighted sets: zero weights drop samples.
	w := make([]float64, len(x))
	for i := range w {
		if x[i] <= 0.5 {
			w[i] = 1
		}
	}
	ws := pairSet{cols: [][]float64{x}, w: w}
	got := (&PairConfig{LimitQuantile: 0.005}).limits([]pairSet{ws})[0]
	if !(got.Hi < 0.55) {
		t.Errorf("weighted limits %v, want Hi < 0.55", got)
	}
	// A constant column gets a unit-width range.
	c := pairSet{cols: [][]float64{{3, 3, 3}}}
	if got := (&PairConfig{LimitQuantile: 0.005}).limits([]pairSet{c})[0]; got != (Range{2.5, 3.5}) {
		t.Errorf("constant column limits %v, want [2.5, 3.5]", got)
	}
}

func TestPairDefaultBins(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		ess  float64
		want int
	}{{1000, 20}, {125, 10}, {8000, 40}, {1e6, 50}, {3, 10}} {
		cfg, err := (&PairConfig{}).withDefaults(1, []pairSet{{ess: c.ess}})
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Bins != c.want {
			t.Errorf("bins for n=%v: got %d, want %d", c.ess, cfg.Bins, c.want)
		}
	}
}

// TestTicker checks tick placement: nice steps, at most max ticks, pruned
// ends, and short labels.
func TestTicker(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		tk     ticker
		lo, hi float64
		want   []string
	}{
		{ticker{max: 5}, 0, 1, []string{"0", "0.25", "0.50", "0.75", "1.00"}},
		{ticker{max: 5}, 0, 100, []string{"0", "25", "50", "75", "100"}},
		{ticker{max: 3, prune: true}, -3.2, 8.2, []string{"0", "2.5", "5.0"}}, // -2.5 and 7.5 lie within 10% of the ends
		{ticker{max: 3}, 1, 80, []string{"25", "50", "75"}},                   // step 20 would give 4 ticks
		{ticker{max: 4}, -0.003, 0.003, []string{"-0.002", "0", "0.002"}},
		{ticker{max: 3}, 1e6, 3e6, []string{"1e+06", "2e+06", "3e+06"}},
	} {
		ts := c.tk.Ticks(c.lo, c.hi)
		var got []string
		for _, tk := range ts {
			got = append(got, tk.Label)
		}
		if strings.Join(got, " ") != strings.Join(c.want, " ") {
			t.Errorf("%+v on [%v, %v]: got %q, want %q", c.tk, c.lo, c.hi, got, c.want)
		}
	}
	if ts := (ticker{hide: true}).Ticks(0, 1); len(ts) == 0 || ts[0].Label != "" {
		t.Errorf("hidden ticks: got %v, want unlabelled ticks", ts)
	}
	if ts := (ticker{}).Ticks(1, 1); ts != nil {
		t.Errorf("empty range: got %v, want nil", ts)
	}
}

func TestEnvelope(t *testing.T) {
	t.Parallel()
	x := make([]float64, 1000)
	x[777] = 50 // a spike must survive the reduction
	x[123] = -9
	xs, ys := envelope(x, 100)
	if len(xs) > 102 {
		t.Errorf("envelope kept %d points, want ≤ 102", len(xs))
	}
	var sawSpike, sawDip bool
	for i := range xs {
		if xs[i] == 777 && ys[i] == 50 {
			sawSpike = true
		}
		if xs[i] == 123 && ys[i] == -9 {
			sawDip = true
		}
		if i > 0 && xs[i] < xs[i-1] {
			t.Fatalf("envelope not in iteration order at %d", i)
		}
	}
	if !sawSpike || !sawDip {
		t.Errorf("envelope lost the extremes: spike %v, dip %v", sawSpike, sawDip)
	}
	if xs, _ := envelope(x[:50], 100); len(xs) != 50 {
		t.Errorf("short trace: got %d points, want 50", len(xs))
	}
}

// TestBadInput checks that invalid data gives wrapped sentinel errors rather
// than panics.
func TestBadInput(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(5, 6))
	good := gaussSamples(rng, 50, 2, 0, 0.3)
	nanRow := mat.DenseCopyOf(good)
	nanRow.Set(7, 1, math.NaN())
	infRow := mat.DenseCopyOf(good)
	infRow.Set(3, 0, math.Inf(1))
	three := gaussSamples(rng, 50, 3, 0, 0.3)
	chains := ar1Chains(rng, 2, 30, 2)
	badChain := mat.DenseCopyOf(chains[0])
	badChain.Set(2, 1, math.NaN())
	ranks := uniformRanks(rng, 40, 2, 9)
	pit := mat.NewDense(3, 1, []float64{0.1, 0.5, 1.2})
	pitNaN := mat.NewDense(3, 1, []float64{0.1, math.NaN(), 0.2})
	sim := mat.NewDense(10, 3, nil)
	simNaN := mat.NewDense(10, 3, nil)
	simNaN.Set(4, 2, math.NaN())

	cases := []struct {
		name string
		run  func() (*Figure, error)
		want error
	}{
		{"pair no sets", func() (*Figure, error) { return NewPair(nil) }, ErrEmpty},
		{"pair nil samples", func() (*Figure, error) { return NewPair(nil, SampleSet{}) }, ErrEmpty},
		{"pair empty matrix", func() (*Figure, error) { return NewPair(nil, SampleSet{Samples: &mat.Dense{}}) }, ErrEmpty},
		{"pair dims", func() (*Figure, error) { return NewPair(nil, SampleSet{Samples: good}, SampleSet{Samples: three}) }, ErrShape},
		{"pair NaN row", func() (*Figure, error) { return NewPair(nil, SampleSet{Samples: nanRow}) }, ErrNonFinite},
		{"pair Inf row", func() (*Figure, error) { return NewPair(nil, SampleSet{Samples: good}, SampleSet{Samples: infRow}) }, ErrNonFinite},
		{"pair labels", func() (*Figure, error) { return NewPair(&PairConfig{Labels: []string{"a"}}, SampleSet{Samples: good}) }, ErrShape},
		{"pair truth", func() (*Figure, error) {
			return NewPair(&PairConfig{Truth: []float64{1, 2, 3}}, SampleSet{Samples: good})
		}, ErrShape},
		{"pair inf truth", func() (*Figure, error) {
			return NewPair(&PairConfig{Truth: []float64{1, math.Inf(-1)}}, SampleSet{Samples: good})
		}, ErrNonFinite},
		{"pair limits", func() (*Figure, error) {
			return NewPair(&PairConfig{Limits: []Range{{0, 1}}}, SampleSet{Samples: good})
		}, ErrShape},
		{"pair weights len", func() (*Figure, error) { return NewPair(nil, SampleSet{Samples: good, Weights: []float64{1}}) }, ErrShape},
		{"pair weights neg", func() (*Figure, error) {
			w := make([]float64, 50)
			w[3] = -1
			return NewPair(nil, SampleSet{Samples: good, Weights: w})
		}, ErrInvalid},
		{"pair weights zero", func() (*Figure, error) {
			return NewPair(nil, SampleSet{Samples: good, Weights: make([]float64, 50)})
		}, ErrInvalid},
		{"pair bins", func() (*Figure, error) { return NewPair(&PairConfig{Bins: -1}, SampleSet{Samples: good}) }, ErrInvalid},
		{"pair levels", func() (*Figure, error) { return NewPair(&PairConfig{Levels: []float64{1.5}}, SampleSet{Samples: good}) }, ErrInvalid},
		{"pair quantile", func() (*Figure, error) { return NewPair(&PairConfig{LimitQuantile: 0.5}, SampleSet{Samples: good}) }, ErrInvalid},
		{"pair lower", func() (*Figure, error) { return NewPair(&PairConfig{Lower: 42}, SampleSet{Samples: good}) }, ErrInvalid},
		{"loss empty", func() (*Figure, error) { return NewLoss(nil, nil, nil) }, ErrEmpty},
		{"loss lengths", func() (*Figure, error) { return NewLoss([]float64{1, 2}, []float64{1}, nil) }, ErrShape},
		{"loss NaN", func() (*Figure, error) { return NewLoss([]float64{1, math.NaN()}, nil, nil) }, ErrNonFinite},
		{"loss best", func() (*Figure, error) { return NewLoss([]float64{1, 2}, nil, &LossConfig{Best: 3}) }, ErrInvalid},
		{"trace none", func() (*Figure, error) { return NewTrace(nil, nil) }, ErrEmpty},
		{"trace nil chain", func() (*Figure, error) { return NewTrace([]*mat.Dense{chains[0], nil}, nil) }, ErrEmpty},
		{"trace dims", func() (*Figure, error) { return NewTrace([]*mat.Dense{chains[0], three}, nil) }, ErrShape},
		{"trace NaN", func() (*Figure, error) { return NewTrace([]*mat.Dense{chains[1], badChain}, nil) }, ErrNonFinite},
		{"trace labels", func() (*Figure, error) { return NewTrace(chains, &TraceConfig{Labels: []string{"a"}}) }, ErrShape},
		{"trace warmup", func() (*Figure, error) { return NewTrace(chains, &TraceConfig{Warmup: -1}) }, ErrInvalid},
		{"autocorr lag", func() (*Figure, error) { return NewAutocorr(chains, &AutocorrConfig{MaxLag: 30}) }, ErrInvalid},
		{"autocorr NaN", func() (*Figure, error) { return NewAutocorr([]*mat.Dense{badChain}, nil) }, ErrNonFinite},
		{"autocorr short", func() (*Figure, error) { return NewAutocorr([]*mat.Dense{mat.NewDense(1, 2, nil)}, nil) }, ErrEmpty},
		{"ranks empty", func() (*Figure, error) { return NewRankHist(nil, 9, nil) }, ErrEmpty},
		{"ranks ragged", func() (*Figure, error) { return NewRankHist([][]int{{1, 2}, {3}}, 9, nil) }, ErrShape},
		{"ranks range", func() (*Figure, error) { return NewRankHist([][]int{{1, 10}}, 9, nil) }, ErrInvalid},
		{"ranks negative", func() (*Figure, error) { return NewRankHist([][]int{{-1, 1}}, 9, nil) }, ErrInvalid},
		{"ranks max", func() (*Figure, error) { return NewRankHist([][]int{{0}}, 0, nil) }, ErrInvalid},
		{"ranks bins", func() (*Figure, error) { return NewRankHist(ranks, 9, &RankConfig{Bins: 11}) }, ErrInvalid},
		{"ranks level", func() (*Figure, error) { return NewRankHist(ranks, 9, &RankConfig{Level: 1}) }, ErrInvalid},
		{"ecdf ranks", func() (*Figure, error) { return NewECDFDiff([][]int{{1, 20}}, 9, nil) }, ErrInvalid},
		{"ecdf level", func() (*Figure, error) { return NewECDFDiff(ranks, 9, &ECDFConfig{Level: 2}) }, ErrInvalid},
		{"ecdf labels", func() (*Figure, error) { return NewECDFDiff(ranks, 9, &ECDFConfig{Labels: []string{"a"}}) }, ErrShape},
		{"pit empty", func() (*Figure, error) { return NewECDFDiffPIT(nil, nil) }, ErrEmpty},
		{"pit range", func() (*Figure, error) { return NewECDFDiffPIT(pit, nil) }, ErrInvalid},
		{"pit NaN", func() (*Figure, error) { return NewECDFDiffPIT(pitNaN, nil) }, ErrNonFinite},
		{"coverage none", func() (*Figure, error) { return NewCoverage(nil) }, ErrEmpty},
		{"coverage empty", func() (*Figure, error) { return NewCoverage(nil, CoverageCurve{}) }, ErrEmpty},
		{"coverage lengths", func() (*Figure, error) {
			return NewCoverage(nil, CoverageCurve{Nominal: []float64{0.1, 0.2}, Empirical: []float64{0.1}})
		}, ErrShape},
		{"coverage NaN", func() (*Figure, error) {
			return NewCoverage(nil, CoverageCurve{Nominal: []float64{0.1}, Empirical: []float64{math.NaN()}})
		}, ErrNonFinite},
		{"coverage range", func() (*Figure, error) {
			return NewCoverage(nil, CoverageCurve{Nominal: []float64{1.1}, Empirical: []float64{0.5}})
		}, ErrInvalid},
		{"tarp bounds", func() (*Figure, error) {
			return NewTARP(nil, CoverageCurve{Nominal: []float64{0.5}, Empirical: []float64{0.5}, Lower: []float64{0, 1}})
		}, ErrShape},
		{"tarp N", func() (*Figure, error) {
			return NewTARP(&CoverageConfig{N: -3}, CoverageCurve{Nominal: []float64{0.5}, Empirical: []float64{0.5}})
		}, ErrInvalid},
		{"predictive empty", func() (*Figure, error) { return NewPredictive(nil, sim, nil) }, ErrEmpty},
		{"predictive nil sim", func() (*Figure, error) { return NewPredictive([]float64{1, 2, 3}, nil, nil) }, ErrEmpty},
		{"predictive length", func() (*Figure, error) { return NewPredictive([]float64{1, 2}, sim, nil) }, ErrShape},
		{"predictive x", func() (*Figure, error) {
			return NewPredictive([]float64{1, 2, 3}, sim, &PredictiveConfig{X: []float64{1}})
		}, ErrShape},
		{"predictive NaN row", func() (*Figure, error) { return NewPredictive([]float64{1, 2, 3}, simNaN, nil) }, ErrNonFinite},
		{"predictive NaN obs", func() (*Figure, error) { return NewPredictive([]float64{1, math.NaN(), 3}, sim, nil) }, ErrNonFinite},
		{"predictive level", func() (*Figure, error) {
			return NewPredictive([]float64{1, 2, 3}, sim, &PredictiveConfig{Levels: []float64{0}})
		}, ErrInvalid},
	}
	for _, c := range cases {
		f, err := c.run()
		if !errors.Is(err, c.want) {
			t.Errorf("%s: got error %v, want %v", c.name, err, c.want)
		}
		if f != nil {
			t.Errorf("%s: got a figure along with the error", c.name)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "plots: ") {
			t.Errorf("%s: error %q lacks the package prefix", c.name, err)
		}
	}
}

// countNear renders f as a w×h PNG and counts the pixels within a distance of
// 30 (per RGB channel) of c.
func countNear(t *testing.T, f *Figure, w, h vg.Length, c color.Color) int {
	t.Helper()
	wt, err := f.WriterTo(w, h, "png")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := wt.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	want := color.RGBAModel.Convert(c).(color.RGBA)
	near := func(a, b uint8) bool { return int(a)-int(b) < 30 && int(b)-int(a) < 30 }
	n := 0
	for y := img.Bounds().Min.Y; y < img.Bounds().Max.Y; y++ {
		for x := img.Bounds().Min.X; x < img.Bounds().Max.X; x++ {
			p := color.RGBAModel.Convert(img.At(x, y)).(color.RGBA)
			if near(p.R, want.R) && near(p.G, want.G) && near(p.B, want.B) {
				n++
			}
		}
	}
	return n
}

// TestPairDrawsEverySet checks that both sample sets and the truth marker
// reach the image: each set's colour covers many pixels (outlines of 3
// histograms and 3×2 contours, hundreds of pixels at 96 dpi), as does a
// distinctive truth colour.
func TestPairDrawsEverySet(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(8, 8))
	truthColor := color.NRGBA{R: 0, G: 200, B: 0, A: 255}
	f, err := NewPair(&PairConfig{Truth: []float64{0, 1, 2}, TruthColor: truthColor},
		SampleSet{Name: "a", Samples: gaussSamples(rng, 1000, 3, 0, 0.5)},
		SampleSet{Name: "b", Samples: gaussSamples(rng, 1000, 3, 0.5, 0.5), Color: color.NRGBA{R: 200, A: 255}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		col  color.Color
	}{{"set a (palette blue)", palette[0]}, {"set b (red)", color.NRGBA{R: 200, A: 255}}, {"truth (green)", truthColor}} {
		if n := countNear(t, f, 4*vg.Inch, 4*vg.Inch, c.col); n < 200 {
			t.Errorf("%s: %d pixels, want ≥ 200", c.name, n)
		}
	}
	// Without truth, no green at all.
	f, _ = NewPair(nil, SampleSet{Samples: gaussSamples(rng, 500, 2, 0, 0.5)})
	if n := countNear(t, f, 3*vg.Inch, 3*vg.Inch, truthColor); n != 0 {
		t.Errorf("no truth: %d green pixels, want 0", n)
	}
}

// TestRankHistFlagsBins checks that bins outside the band are drawn in red:
// exactly uniform ranks (every rank value equally often) are inside every
// band, and ranks all equal to 0 put the first bin far above it.
func TestRankHistFlagsBins(t *testing.T) {
	t.Parallel()
	red := mix(palette[3], 0.85)
	uniform := make([][]int, 400)
	for i := range uniform {
		uniform[i] = []int{i % 100}
	}
	f, err := NewRankHist(uniform, 99, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := countNear(t, f, 4*vg.Inch, 3*vg.Inch, red); n != 0 {
		t.Errorf("uniform ranks: %d red pixels, want 0", n)
	}
	skewed := make([][]int, 400)
	for i := range skewed {
		skewed[i] = []int{(i % 10) * (i % 2)} // half the ranks are 0
	}
	f, err = NewRankHist(skewed, 99, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := countNear(t, f, 4*vg.Inch, 3*vg.Inch, red); n < 500 {
		t.Errorf("skewed ranks: %d red pixels, want ≥ 500", n)
	}
}

func TestLossBestEpoch(t *testing.T) {
	t.Parallel()
	train := []float64{3, 2, 1.5, 1.2, 1.1, 1.0}
	val := []float64{3.1, 2.2, 1.9, 1.7, 1.8, 1.9}
	for _, c := range []struct {
		name string
		val  []float64
		cfg  *LossConfig
		want string // last legend label
	}{
		{"validation", val, nil, "best epoch 4 (1.7)"},
		{"training only", nil, nil, "best epoch 6 (1)"},
		{"fixed", val, &LossConfig{Best: 2}, "best epoch 2 (2.2)"},
		{"none", val, &LossConfig{Best: -1}, "validation"},
	} {
		f, err := NewLoss(train, c.val, c.cfg)
		if err != nil {
			t.Fatal(err)
		}
		if got := f.Legend[len(f.Legend)-1].Label; got != c.want {
			t.Errorf("%s: last legend entry %q, want %q", c.name, got, c.want)
		}
	}
}
