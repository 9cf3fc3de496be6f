package plots

import (
	"fmt"
	"image/color"
	"math"
	"slices"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// PredictiveConfig configures NewPredictive. Its zero value (and a nil
// *PredictiveConfig) means the documented defaults.
type PredictiveConfig struct {
	// X holds the index or time of every observation; nil means 0, 1, ...
	X []float64
	// Levels are the probabilities of the central intervals shown as bands;
	// nil means 0.5 and 0.9.
	Levels []float64
	// XLabel and YLabel label the axes; empty means "index" and "value".
	XLabel, YLabel string
	// ObservedLabel and SimulatedLabel are the legend labels; empty means
	// "observed" and "posterior predictive".
	ObservedLabel, SimulatedLabel string
	// Color is the colour of the simulated bands; nil means the first palette
	// colour.
	Color color.Color
	// Title is drawn above the plot when not empty.
	Title string
	// FontSize is the size of axis labels; zero means 9 points.
	FontSize vg.Length
}

// NewPredictive returns a posterior predictive check plot: the observed series
// (black) against the median and central quantile bands (levels cfg.Levels) of
// the simulated series over the index or time axis. simulated holds one
// simulated series per row, each as long as observed. Quantiles interpolate
// linearly between order statistics (Hyndman and Fan 1996, definition 7).
//
// It returns an error wrapping ErrEmpty when there is nothing to plot, ErrShape
// when simulated or cfg.X do not match observed in length, ErrNonFinite for NaN
// or infinite values (in any simulated row) and ErrInvalid for levels outside
// (0, 1).
func NewPredictive(observed []float64, simulated *mat.Dense, cfg *PredictiveConfig) (*Figure, error) {
	if cfg == nil {
		cfg = &PredictiveConfig{}
	}
	t := len(observed)
	if t == 0 || simulated == nil || simulated.IsEmpty() {
		return nil, fmt.Errorf("%w: predictive: no observed or simulated values", ErrEmpty)
	}
	s, tc := simulated.Dims()
	if tc != t {
		return nil, fmt.Errorf("%w: predictive: simulated series have %d values, observed has %d", ErrShape, tc, t)
	}
	x := cfg.X
	if x == nil {
		x = seq(0, t)
	} else if len(x) != t {
		return nil, fmt.Errorf("%w: predictive: %d x values for %d observations", ErrShape, len(x), t)
	}
	for _, v := range [][]float64{observed, x} {
		for i, o := range v {
			if math.IsNaN(o) || math.IsInf(o, 0) {
				return nil, fmt.Errorf("%w: predictive: observed value or x %d is %v", ErrNonFinite, i, o)
			}
		}
	}
	for i := range s {
		for j := range t {
			if v := simulated.At(i, j); math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("%w: predictive: simulated row %d column %d is %v", ErrNonFinite, i, j, v)
			}
		}
	}
	levels := cfg.Levels
	if levels == nil {
		levels = []float64{0.5, 0.9}
	}
	for _, l := range levels {
		if !(l > 0 && l < 1) {
			return nil, fmt.Errorf("%w: predictive: level %v not in (0, 1)", ErrInvalid, l)
		}
	}
	levels = slices.Clone(levels)
	slices.Sort(levels)
	slices.Reverse(levels) // widest first, so narrower bands are drawn on top.

	fs := fontSize(cfg.FontSize)
	col := seriesColor(cfg.Color, 0)
	p := newPanel(fs)
	f := &Figure{Panels: [][]*plot.Plot{{p}}, Title: cfg.Title, FontSize: fs, LegendPos: LegendAbove}
	lo := make([][]float64, len(levels))
	hi := make([][]float64, len(levels))
	med := make([]float64, t)
	for k := range levels {
		lo[k], hi[k] = make([]float64, t), make([]float64, t)
	}
	column := make([]float64, s)
	for j := range t {
		mat.Col(column, j, simulated)
		slices.Sort(column)
		med[j] = quantileSorted(column, 0.5)
		for k, l := range levels {
			lo[k][j] = quantileSorted(column, (1-l)/2)
			hi[k][j] = quantileSorted(column, (1+l)/2)
		}
	}
	simLabel := orString(cfg.SimulatedLabel, "posterior predictive")
	const alpha = 0.22 // opacity of one band; nested bands add up.
	for k, l := range levels {
		p.Add(&band{X: x, Lo: lo[k], Hi: hi[k], Color: withAlpha(col, alpha)})
		// The region of the k-th widest band is covered k+1 times.
		e := LegendEntry{
			Label:  fmt.Sprintf("%g%% interval", 100*l),
			Thumbs: []plot.Thumbnailer{&band{Color: withAlpha(col, 1-math.Pow(1-alpha, float64(k+1)))}},
		}
		f.Legend = append([]LegendEntry{e}, f.Legend...)
	}
	ml := newLine(x, med, lineStyle(col, 1.5))
	p.Add(ml)
	f.Legend = append([]LegendEntry{{Label: simLabel + " median", Thumbs: []plot.Thumbnailer{ml}}}, f.Legend...)
	ol := newLine(x, observed, lineStyle(black, 1.2))
	p.Add(ol)
	thumbs := []plot.Thumbnailer{ol}
	if t <= 100 {
		pts := newPoints(x, observed, draw.GlyphStyle{Color: black, Radius: 1.8, Shape: draw.CircleGlyph{}})
		p.Add(pts)
		thumbs = append(thumbs, pts)
	}
	f.Legend = append([]LegendEntry{{Label: orString(cfg.ObservedLabel, "observed"), Thumbs: thumbs}}, f.Legend...)
	p.X.Label.Text = orString(cfg.XLabel, "index")
	p.Y.Label.Text = orString(cfg.YLabel, "value")
	if p.X.Min == p.X.Max {
		p.X.Min, p.X.Max = p.X.Min-0.5, p.X.Max+0.5
	}
	r := widen(p.Y.Min, p.Y.Max, 0.04)
	p.Y.Min, p.Y.Max = r.Lo, r.Hi
	finish(p)
	return f, nil
}
