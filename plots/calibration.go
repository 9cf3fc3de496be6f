package plots

import (
	"fmt"
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// CoverageCurve is one calibration curve: for NewCoverage the empirical coverage
// of the central (or highest-density) credible regions against their nominal
// credibility level; for NewTARP the expected coverage probability (ECP)
// against the credibility level α.
type CoverageCurve struct {
	// Name labels the curve in the legend; empty means no legend entry.
	Name string
	// Nominal holds the credibility levels and Empirical the observed
	// coverages, both in [0, 1] and of equal length.
	Nominal, Empirical []float64
	// Lower and Upper optionally bound Empirical (e.g. bootstrap intervals of
	// TARP); nil means none, otherwise as long as Nominal.
	Lower, Upper []float64
	// Color is the curve colour; nil means the next palette colour.
	Color color.Color
}

// CoverageConfig configures NewCoverage and NewTARP. Its zero value (and a nil
// *CoverageConfig) means the documented defaults.
type CoverageConfig struct {
	// N is the number of test cases behind the curves. When positive, a grey
	// band shows the central interval, with probability Level, of the coverage
	// of N cases by a calibrated posterior, Binomial(N, p)/N at nominal level p
	// (pointwise in p). Zero means no band.
	N int
	// Level is the probability of the band; zero means 0.95.
	Level float64
	// XLabel and YLabel label the axes; empty means the defaults of the
	// constructor.
	XLabel, YLabel string
	// Title is drawn above the plot when not empty.
	Title string
	// FontSize is the size of axis labels; zero means 9 points.
	FontSize vg.Length
}

// NewCoverage returns an expected-coverage (calibration) plot: the empirical
// coverage of every curve against the nominal credibility level on [0, 1]²,
// with the diagonal of perfect calibration and, when cfg.N > 0, the binomial
// band of a calibrated posterior. Curves below the diagonal reveal
// overconfident posteriors, curves above it conservative ones.
//
// It returns an error wrapping ErrEmpty when there is no curve or a curve has no
// points, ErrShape when the slices of a curve differ in length, ErrNonFinite for
// NaN values and ErrInvalid for values outside [0, 1] or settings out of range.
func NewCoverage(cfg *CoverageConfig, curves ...CoverageCurve) (*Figure, error) {
	return newCalibration("coverage", "nominal credibility level", "empirical coverage", cfg, curves)
}

// NewTARP returns a TARP plot (Lemos et al. 2023, "Sampling-based accuracy
// testing of posterior estimators for general inference", ICML): the expected
// coverage probability of the random reference points against the credibility
// level α, with the diagonal that an accurate posterior follows and, when
// cfg.N > 0, the binomial band of an accurate posterior with N test cases
// (pointwise in α, since the ECP at α is then the fraction of N uniform values
// below α). Each curve's Nominal holds α and Empirical the ECP; Lower and Upper
// may hold bootstrap bounds. It returns the errors of NewCoverage.
func NewTARP(cfg *CoverageConfig, curves ...CoverageCurve) (*Figure, error) {
	return newCalibration("tarp", "credibility level α", "expected coverage probability", cfg, curves)
}

func checkUnit(fn string, k int, what string, v []float64) error {
	for i, x := range v {
		switch {
		case math.IsNaN(x):
			return fmt.Errorf("%w: %s: curve %d %s %d is NaN", ErrNonFinite, fn, k, what, i)
		case x < 0 || x > 1:
			return fmt.Errorf("%w: %s: curve %d %s %d is %v, outside [0, 1]", ErrInvalid, fn, k, what, i, x)
		}
	}
	return nil
}

func newCalibration(fn, xlabel, ylabel string, cfg *CoverageConfig, curves []CoverageCurve) (*Figure, error) {
	if cfg == nil {
		cfg = &CoverageConfig{}
	}
	if len(curves) == 0 {
		return nil, fmt.Errorf("%w: %s: no curves", ErrEmpty, fn)
	}
	for k, c := range curves {
		n := len(c.Nominal)
		if n == 0 {
			return nil, fmt.Errorf("%w: %s: curve %d has no points", ErrEmpty, fn, k)
		}
		if len(c.Empirical) != n || (c.Lower != nil && len(c.Lower) != n) || (c.Upper != nil && len(c.Upper) != n) {
			return nil, fmt.Errorf("%w: %s: curve %d has %d nominal, %d empirical, %d lower and %d upper values",
				ErrShape, fn, k, n, len(c.Empirical), len(c.Lower), len(c.Upper))
		}
		for _, s := range []struct {
			what string
			v    []float64
		}{{"nominal", c.Nominal}, {"empirical", c.Empirical}, {"lower", c.Lower}, {"upper", c.Upper}} {
			if err := checkUnit(fn, k, s.what, s.v); err != nil {
				return nil, err
			}
		}
	}
	if cfg.N < 0 {
		return nil, fmt.Errorf("%w: %s: N = %d", ErrInvalid, fn, cfg.N)
	}
	level := cfg.Level
	switch {
	case level == 0:
		level = 0.95
	case !(level > 0 && level < 1):
		return nil, fmt.Errorf("%w: %s: level %v not in (0, 1)", ErrInvalid, fn, level)
	}

	fs := fontSize(cfg.FontSize)
	p := newPanel(fs)
	f := &Figure{Panels: [][]*plot.Plot{{p}}, Title: cfg.Title, FontSize: fs, LegendPos: LegendAbove}
	if cfg.N > 0 {
		z, lo, hi := coverageBand(cfg.N, level, 200)
		b := &band{X: z, Lo: lo, Hi: hi, Color: bandColor}
		p.Add(b)
		f.Legend = append(f.Legend, LegendEntry{
			Label: fmt.Sprintf("%g%% binomial band (N = %d)", 100*level, cfg.N), Thumbs: []plot.Thumbnailer{b},
		})
	}
	diag := newLine([]float64{0, 1}, []float64{0, 1}, lineStyle(black, 0.8, 3, 2))
	p.Add(diag)
	for k, c := range curves {
		col := seriesColor(c.Color, k)
		thumbs := []plot.Thumbnailer{}
		if c.Lower != nil || c.Upper != nil {
			lo, hi := c.Lower, c.Upper
			if lo == nil {
				lo = c.Empirical
			}
			if hi == nil {
				hi = c.Empirical
			}
			b := &band{X: c.Nominal, Lo: lo, Hi: hi, Color: withAlpha(col, 0.2)}
			p.Add(b)
			thumbs = append(thumbs, b)
		}
		ln := newLine(c.Nominal, c.Empirical, lineStyle(col, 1.5))
		p.Add(ln)
		thumbs = append(thumbs, ln)
		if len(c.Nominal) <= 25 {
			pts := newPoints(c.Nominal, c.Empirical, draw.GlyphStyle{Color: col, Radius: 2, Shape: draw.CircleGlyph{}})
			p.Add(pts)
			thumbs = append(thumbs, pts)
		}
		if c.Name != "" {
			f.Legend = append(f.Legend, LegendEntry{Label: c.Name, Thumbs: thumbs})
		}
	}
	f.Legend = append(f.Legend, LegendEntry{Label: "ideal", Thumbs: []plot.Thumbnailer{diag}})
	p.X.Label.Text = orString(cfg.XLabel, xlabel)
	p.Y.Label.Text = orString(cfg.YLabel, ylabel)
	p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = 0, 1, 0, 1
	finish(p)
	return f, nil
}

// coverageBand returns the band of the coverage of n cases by a calibrated
// posterior at the m+1 levels z_i = i/m: lo[i] and hi[i] are the
// BinomialInterval(n, z_i, level) bounds divided by n.
func coverageBand(n int, level float64, m int) (z, lo, hi []float64) {
	z, lo, hi = make([]float64, m+1), make([]float64, m+1), make([]float64, m+1)
	for i := range z {
		z[i] = float64(i) / float64(m)
		a, b, _ := BinomialInterval(n, z[i], level) // cannot fail: checked inputs.
		lo[i], hi[i] = float64(a)/float64(n), float64(b)/float64(n)
	}
	return z, lo, hi
}
