package plots

import (
	"cmp"
	"fmt"
	"image/color"
	"math"
	"slices"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

var (
	_ plot.Ticker      = logTicker{}
	_ draw.GlyphDrawer = ringGlyph{}
)

// C2STSeries is one method's classifier two-sample test (C2ST) accuracies,
// for NewC2ST.
type C2STSeries struct {
	// Name labels the series in the legend; empty means no legend entry.
	Name string
	// X holds, per value, the observation number (the by-observation form of
	// NewC2ST) or the simulation budget (the by-simulations form), and C2ST
	// the matching accuracies in [0, 1]; both have the same length. X values
	// may repeat, e.g. several observations at one budget.
	X, C2ST []float64
	// Published holds published accuracies to compare with (e.g. the sbibm
	// paper's medians), drawn dashed in the series colour. In the
	// by-observation form it holds at most one value, drawn as a horizontal
	// line across the panel, and PublishedX must be empty. In the
	// by-simulations form Published[i] belongs to the budget PublishedX[i].
	// NaN entries mean "not published" and are skipped.
	PublishedX, Published []float64
	// PublishedName labels the published values in the legend; empty means
	// Name + " (published median)", or no entry when Name is empty too.
	PublishedName string
	// Color is the series colour; nil means the next palette colour.
	Color color.Color
}

// C2STConfig configures NewC2ST. Its zero value (and a nil *C2STConfig) means
// the documented defaults.
type C2STConfig struct {
	// BySimulations selects the second form of the plot: C2ST against the
	// number of simulations on a logarithmic axis, several methods in one
	// panel. The default form plots C2ST against the observation number.
	BySimulations bool
	// YRange fixes the vertical range when Lo < Hi; the zero value means
	// [0.5, 1] (chance to perfect separation), extended downwards in steps
	// of 0.05 when a value lies below 0.5.
	YRange Range
	// XLabel and YLabel label the axes; empty means "observation" or
	// "number of simulations", and "C2ST accuracy".
	XLabel, YLabel string
	// Title is drawn above the plot when not empty.
	Title string
	// FontSize is the size of axis labels; zero means 9 points.
	FontSize vg.Length
}

// NewC2ST returns a plot of classifier two-sample test accuracies (Lopez-Paz
// and Oquab 2017) as the sbibm benchmark reports them (Lueckmann et al.,
// "Benchmarking simulation-based inference", AISTATS 2021): 0.5 means that
// the approximate posterior cannot be told apart from the reference one,
// 1 that it is entirely separable.
//
// In the default form every series draws one point per observation (X holds
// the observation numbers), and its published value as a dashed horizontal
// line; several series are shifted sideways a little so that their points do
// not hide each other. With cfg.BySimulations, X holds simulation budgets on
// a logarithmic axis: every value is a small translucent point, and a solid
// line with filled markers joins the medians per budget; published values
// form a dashed line with open markers. A faint grey line marks chance level
// 0.5 when the vertical range extends below it.
//
// It returns an error wrapping ErrEmpty when there is no series or a series
// has no values, ErrShape when lengths differ (or the by-observation form gets
// more than one published value, or PublishedX), ErrNonFinite for NaN or
// infinite X or C2ST values (and infinite published values), and ErrInvalid
// for accuracies outside [0, 1], budgets that are not positive, or settings
// out of range.
func NewC2ST(cfg *C2STConfig, series ...C2STSeries) (*Figure, error) {
	if cfg == nil {
		cfg = &C2STConfig{}
	}
	if err := checkC2ST(cfg, series); err != nil {
		return nil, err
	}
	if cfg.YRange != (Range{}) && !cfg.YRange.valid() {
		return nil, fmt.Errorf("%w: c2st: y range [%v, %v]", ErrInvalid, cfg.YRange.Lo, cfg.YRange.Hi)
	}

	fs := fontSize(cfg.FontSize)
	p := newPanel(fs)
	f := &Figure{Panels: [][]*plot.Plot{{p}}, Title: cfg.Title, FontSize: fs, LegendPos: LegendAbove}
	yr := cfg.YRange
	if !yr.valid() {
		yr = c2stYRange(series)
	}
	if yr.Lo < 0.5 && yr.Hi > 0.5 {
		p.Add(refLine{V: 0.5, Style: lineStyle(withAlpha(gridGrey, 0.6), 0.6)})
	}
	if cfg.BySimulations {
		addC2STBudgets(p, f, series)
	} else {
		addC2STObservations(p, f, series)
	}
	p.Y.Min, p.Y.Max = yr.Lo, yr.Hi
	p.Y.Label.Text = orString(cfg.YLabel, "C2ST accuracy")
	if cfg.BySimulations {
		p.X.Label.Text = orString(cfg.XLabel, "number of simulations")
	} else {
		p.X.Label.Text = orString(cfg.XLabel, "observation")
	}
	finish(p)
	return f, nil
}

// checkC2ST validates the series of NewC2ST.
func checkC2ST(cfg *C2STConfig, series []C2STSeries) error {
	if len(series) == 0 {
		return fmt.Errorf("%w: c2st: no series", ErrEmpty)
	}
	for k, s := range series {
		n := len(s.X)
		if n == 0 {
			return fmt.Errorf("%w: c2st: series %d has no values", ErrEmpty, k)
		}
		if len(s.C2ST) != n {
			return fmt.Errorf("%w: c2st: series %d has %d x values and %d accuracies", ErrShape, k, n, len(s.C2ST))
		}
		for i := range n {
			x, v := s.X[i], s.C2ST[i]
			switch {
			case math.IsNaN(x) || math.IsInf(x, 0):
				return fmt.Errorf("%w: c2st: series %d x value %d is %v", ErrNonFinite, k, i, x)
			case math.IsNaN(v) || math.IsInf(v, 0):
				return fmt.Errorf("%w: c2st: series %d accuracy %d is %v", ErrNonFinite, k, i, v)
			case v < 0 || v > 1:
				return fmt.Errorf("%w: c2st: series %d accuracy %d is %v, outside [0, 1]", ErrInvalid, k, i, v)
			case cfg.BySimulations && x <= 0:
				return fmt.Errorf("%w: c2st: series %d budget %d is %v, want > 0 on a log axis", ErrInvalid, k, i, x)
			}
		}
		if cfg.BySimulations {
			if len(s.PublishedX) != len(s.Published) {
				return fmt.Errorf("%w: c2st: series %d has %d published budgets and %d published values",
					ErrShape, k, len(s.PublishedX), len(s.Published))
			}
			for i, x := range s.PublishedX {
				switch {
				case math.IsNaN(x) || math.IsInf(x, 0):
					return fmt.Errorf("%w: c2st: series %d published budget %d is %v", ErrNonFinite, k, i, x)
				case x <= 0:
					return fmt.Errorf("%w: c2st: series %d published budget %d is %v, want > 0", ErrInvalid, k, i, x)
				}
			}
		} else if len(s.Published) > 1 || len(s.PublishedX) > 0 {
			return fmt.Errorf("%w: c2st: series %d has %d published values and %d budgets, want at most one value per series by observation",
				ErrShape, k, len(s.Published), len(s.PublishedX))
		}
		for i, v := range s.Published {
			switch {
			case math.IsInf(v, 0):
				return fmt.Errorf("%w: c2st: series %d published value %d is %v", ErrNonFinite, k, i, v)
			case v < 0 || v > 1: // false for NaN, which means "not published"
				return fmt.Errorf("%w: c2st: series %d published value %d is %v, outside [0, 1]", ErrInvalid, k, i, v)
			}
		}
	}
	return nil
}

// c2stYRange returns [0.5, 1], with the lower end moved down to a multiple of
// 0.05 at or below the smallest value when one lies below chance.
func c2stYRange(series []C2STSeries) Range {
	lo := 0.5
	for _, s := range series {
		for _, v := range s.C2ST {
			lo = min(lo, v)
		}
		for _, v := range s.Published {
			if !math.IsNaN(v) {
				lo = min(lo, v)
			}
		}
	}
	if lo < 0.5 {
		lo = math.Floor(lo/0.05) * 0.05
	}
	return Range{lo, 1}
}

// publishedLabel returns the legend label of a series' published values.
func publishedLabel(s C2STSeries) string {
	if s.PublishedName != "" {
		return s.PublishedName
	}
	if s.Name != "" {
		return s.Name + " (published median)"
	}
	return ""
}

// sideOffset returns the sideways offset, in units of step, of series k of n
// centred around zero.
func sideOffset(k, n int, step float64) float64 {
	return (float64(k) - float64(n-1)/2) * step
}

// addC2STObservations draws the by-observation form.
func addC2STObservations(p *plot.Plot, f *Figure, series []C2STSeries) {
	lo, hi := math.Inf(1), math.Inf(-1)
	var distinct []float64
	for _, s := range series {
		for _, x := range s.X {
			lo, hi = min(lo, x), max(hi, x)
			distinct = append(distinct, x)
		}
	}
	slices.Sort(distinct)
	distinct = slices.Compact(distinct)
	// Spread the series over at most ±0.3 of the gap between observations.
	step := min(0.15, 0.6/float64(len(series)))
	for k, s := range series {
		col := seriesColor(s.Color, k)
		var pubEntry []LegendEntry
		if len(s.Published) == 1 && !math.IsNaN(s.Published[0]) {
			l := refLine{V: s.Published[0], Style: lineStyle(col, 1.2, 5, 3)}
			p.Add(l) // under the points
			if lbl := publishedLabel(s); lbl != "" {
				pubEntry = append(pubEntry, LegendEntry{Label: lbl, Thumbs: []plot.Thumbnailer{l}})
			}
		}
		xs := make([]float64, len(s.X))
		off := sideOffset(k, len(series), step)
		for i, x := range s.X {
			xs[i] = x + off
		}
		pts := newPoints(xs, s.C2ST, draw.GlyphStyle{Color: col, Radius: 3, Shape: rimmedCircle{}})
		p.Add(pts)
		if s.Name != "" {
			f.Legend = append(f.Legend, LegendEntry{Label: s.Name, Thumbs: []plot.Thumbnailer{pts}})
		}
		f.Legend = append(f.Legend, pubEntry...)
	}
	p.X.Min, p.X.Max = lo-0.5, hi+0.5
	if len(distinct) <= 20 {
		ticks := make(plot.ConstantTicks, len(distinct))
		for i, x := range distinct {
			ticks[i] = plot.Tick{Value: x, Label: strconv.FormatFloat(x, 'g', -1, 64)}
		}
		p.X.Tick.Marker = ticks
	}
}

// addC2STBudgets draws the by-simulations form.
func addC2STBudgets(p *plot.Plot, f *Figure, series []C2STSeries) {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, s := range series {
		for _, x := range s.X {
			lo, hi = min(lo, x), max(hi, x)
		}
		for i, x := range s.PublishedX {
			if !math.IsNaN(s.Published[i]) {
				lo, hi = min(lo, x), max(hi, x)
			}
		}
	}
	// Series are shifted by factors of 10^±0.02 (about ±5%) so that their
	// points at one budget do not hide each other.
	const logStep = 0.02
	for k, s := range series {
		col := seriesColor(s.Color, k)
		shift := math.Pow(10, sideOffset(k, len(series), logStep))
		var thumbs []plot.Thumbnailer
		xs := make([]float64, len(s.X))
		for i, x := range s.X {
			xs[i] = x * shift
		}
		p.Add(newPoints(xs, s.C2ST, draw.GlyphStyle{Color: withAlpha(col, 0.45), Radius: 1.8, Shape: draw.CircleGlyph{}}))
		bx, med := mediansByX(s.X, s.C2ST)
		for i := range bx {
			bx[i] *= shift
		}
		ln := newLine(bx, med, lineStyle(col, 1.5))
		pts := newPoints(bx, med, draw.GlyphStyle{Color: col, Radius: 3, Shape: rimmedCircle{}})
		p.Add(ln, pts)
		thumbs = append(thumbs, ln, pts)
		if s.Name != "" {
			f.Legend = append(f.Legend, LegendEntry{Label: s.Name + " (median)", Thumbs: thumbs})
		}
		var pub []plotPoint
		for i, v := range s.Published {
			if !math.IsNaN(v) {
				pub = append(pub, plotPoint{s.PublishedX[i] * shift, v})
			}
		}
		if len(pub) > 0 {
			slices.SortFunc(pub, func(a, b plotPoint) int { return cmp.Compare(a.x, b.x) })
			sx, sy := make([]float64, len(pub)), make([]float64, len(pub))
			for i, q := range pub {
				sx[i], sy[i] = q.x, q.y
			}
			pl := newLine(sx, sy, lineStyle(col, 1.2, 5, 3))
			pp := newPoints(sx, sy, draw.GlyphStyle{Color: col, Radius: 3, Shape: ringGlyph{}})
			p.Add(pl, pp)
			if lbl := publishedLabel(s); lbl != "" {
				f.Legend = append(f.Legend, LegendEntry{Label: lbl, Thumbs: []plot.Thumbnailer{pl, pp}})
			}
		}
	}
	// Pad by a factor of 1.5 on both sides (3 around a single budget), so that
	// the shifted markers stay inside the frame.
	pad := 1.5
	if hi/lo < 1.0001 {
		pad = 3
	}
	p.X.Min, p.X.Max = lo/pad, hi*pad
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = logTicker{}
}

// plotPoint is one (x, y) pair.
type plotPoint struct{ x, y float64 }

// mediansByX returns the distinct values of x in increasing order and, for
// each, the median of the y values at it (the mean of the two middle values
// for an even count).
func mediansByX(x, y []float64) (xs, med []float64) {
	groups := map[float64][]float64{}
	for i, v := range x {
		groups[v] = append(groups[v], y[i])
	}
	for v := range groups {
		xs = append(xs, v)
	}
	slices.Sort(xs)
	med = make([]float64, len(xs))
	for i, v := range xs {
		med[i] = median(groups[v])
	}
	return xs, med
}

// median returns the median of v (the mean of the two middle values for an
// even count), sorting v in place. It returns NaN for an empty slice.
func median(v []float64) float64 {
	n := len(v)
	if n == 0 {
		return math.NaN()
	}
	slices.Sort(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

// logTicker places ticks for a logarithmic axis: labelled major ticks at the
// powers of ten in range and unlabelled minor ticks at their multiples 2..9;
// when the range holds no power of ten, the multiples are labelled instead.
// Labels use thousands separators (1,000, 10,000, ...).
type logTicker struct{}

func (logTicker) Ticks(lo, hi float64) []plot.Tick {
	if !(lo > 0 && hi > lo) || math.IsInf(hi, 0) {
		return nil
	}
	var ticks []plot.Tick
	major := false
	for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
		base := math.Pow(10, e)
		for m := 1; m <= 9; m++ {
			v := float64(m) * base
			if v < lo*(1-1e-9) || v > hi*(1+1e-9) {
				continue
			}
			t := plot.Tick{Value: v}
			if m == 1 {
				t.Label = groupThousands(v)
				major = true
			}
			ticks = append(ticks, t)
		}
	}
	if !major {
		for i := range ticks {
			ticks[i].Label = groupThousands(ticks[i].Value)
		}
	}
	return ticks
}

// groupThousands formats v with commas between groups of three digits when it
// is a whole number below 10¹⁵, and in %g form otherwise.
func groupThousands(v float64) string {
	if v != math.Trunc(v) || math.Abs(v) >= 1e15 {
		return strconv.FormatFloat(v, 'g', 4, 64)
	}
	s := strconv.FormatInt(int64(math.Abs(v)), 10)
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if v < 0 {
		return "-" + string(out)
	}
	return string(out)
}

// ringGlyph is an open circle with a white fill, for published reference
// values.
type ringGlyph struct{}

func (ringGlyph) DrawGlyph(c *draw.Canvas, sty draw.GlyphStyle, pt vg.Point) {
	var p vg.Path
	p.Move(vg.Point{X: pt.X + sty.Radius, Y: pt.Y})
	p.Arc(pt, sty.Radius, 0, 2*math.Pi)
	p.Close()
	c.SetColor(color.White)
	c.Fill(p)
	c.SetLineStyle(draw.LineStyle{Color: sty.Color, Width: 1.2})
	c.Stroke(p)
}
