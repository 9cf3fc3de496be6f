package plots

import (
	"fmt"
	"image/color"
	"math"
	"slices"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// LowerKind selects what the panels below the diagonal of a pair plot show.
type LowerKind int

// Lower-triangle kinds.
const (
	// LowerContour draws, for every sample set, the contours of the highest-
	// density regions of a Gaussian-smoothed 2-D histogram at the credibility
	// levels PairConfig.Levels, the inner region lightly filled. It is the default
	// and overlays several sets well.
	LowerContour LowerKind = iota
	// LowerHist2D draws the 2-D histogram of the first sample set as cells shaded
	// from white to the set's colour, and the other sets as contours on top.
	LowerHist2D
	// LowerScatter draws the samples as translucent points (at most
	// PairConfig.MaxPoints per set, thinned evenly).
	LowerScatter
	// LowerNone leaves the lower triangle empty: a row of 1-D marginals.
	LowerNone
)

// SampleSet is one set of samples to show in a pair plot.
type SampleSet struct {
	// Name labels the set in the legend, e.g. "gosbi NPE" or "reference".
	// Sets without a name have no legend entry.
	Name string
	// Samples holds one sample per row and one parameter per column.
	Samples *mat.Dense
	// Weights are optional non-negative sample weights (e.g. importance
	// weights), one per row; nil means equal weights.
	Weights []float64
	// Color is the colour of the set; nil means the next colour of the
	// package palette (matplotlib's tab10).
	Color color.Color
}

// PairConfig configures NewPair. Its zero value (and a nil *PairConfig) means the
// documented defaults.
type PairConfig struct {
	// Labels names the parameters (one per column); nil means "θ1", "θ2", ...
	Labels []string
	// Limits gives the axis range of each parameter. A nil slice, or an entry
	// with a NaN bound or Lo ≥ Hi, means the automatic range: the smallest range
	// holding the LimitQuantile and 1-LimitQuantile quantiles of every set and
	// the true value, widened by 5% on each side.
	Limits []Range
	// LimitQuantile is the tail mass cut off by automatic limits; zero means
	// 0.005 (0.5% and 99.5% quantiles), robust to a few far outliers.
	// Values must lie in [0, 0.5).
	LimitQuantile float64
	// Bins is the number of histogram bins per axis, on the diagonal and below
	// it. Zero means Rice's rule 2·n^(1/3) for the smallest (effective) sample
	// size n, clamped to [10, 50].
	Bins int
	// Lower selects the lower-triangle panels; the zero value is LowerContour.
	Lower LowerKind
	// Levels are the credibility levels of the contours, in (0, 1);
	// nil means 0.68 and 0.95.
	Levels []float64
	// Smooth is the standard deviation, in bins, of the Gaussian that smooths
	// 2-D histograms before contouring; zero means 1, negative means none.
	Smooth float64
	// MaxPoints caps the points per set drawn by LowerScatter; zero means 2000.
	MaxPoints int
	// Truth holds the true parameters, drawn as vertical lines on the diagonal
	// and points below it; nil means none, a NaN entry skips that parameter.
	Truth []float64
	// TruthLabel is the legend label of the truth marker; empty means
	// "true parameters".
	TruthLabel string
	// TruthColor is the colour of the truth marker; nil means black.
	TruthColor color.Color
	// Title is drawn above the figure when not empty.
	Title string
	// FontSize is the size of axis labels (tick labels are 80% of it); zero
	// means 9 points.
	FontSize vg.Length
}

// Range is a closed interval [Lo, Hi] on an axis.
type Range struct{ Lo, Hi float64 }

func (r Range) valid() bool { return r.Lo < r.Hi && !math.IsInf(r.Lo, 0) && !math.IsInf(r.Hi, 0) }

// pairSet is a validated sample set, stored by column.
type pairSet struct {
	name  string
	cols  [][]float64
	w     []float64
	color color.Color
	ess   float64
}

// NewPair returns a pair (corner) plot of one or more sample sets with the same
// number of parameters d, as a d×d Figure: 1-D histograms (normalised to unit
// area, so sets of different sizes compare) on the diagonal, the pairwise
// panels selected by cfg.Lower below it, and the upper triangle empty except
// for the legend. A nil cfg means all defaults.
//
// It returns an error wrapping ErrEmpty when there is no set or a set has no
// samples, ErrShape when sets, labels, limits, truth or weights disagree in
// size, ErrNonFinite when a sample or truth value is NaN or infinite (NaN in
// Truth means no marker), and ErrInvalid for settings out of range.
func NewPair(cfg *PairConfig, sets ...SampleSet) (*Figure, error) {
	if cfg == nil {
		cfg = &PairConfig{}
	}
	ps, d, err := checkSets(sets)
	if err != nil {
		return nil, err
	}
	c, err := cfg.withDefaults(d, ps)
	if err != nil {
		return nil, err
	}
	lims := c.limits(ps)
	fs := fontSize(c.FontSize)
	truthColor := c.TruthColor
	if truthColor == nil {
		truthColor = black
	}

	grid := make([][]*plot.Plot, d)
	for i := range grid {
		grid[i] = make([]*plot.Plot, d)
	}
	bottom := d - 1
	if c.Lower == LowerNone {
		bottom = 0
		grid = grid[:1]
	}
	for i := range d {
		p := newPanel(fs)
		pairDiagonal(p, ps, i, lims[i], c.Bins)
		if t := c.Truth; t != nil && !math.IsNaN(t[i]) {
			p.Add(refLine{V: t[i], Vertical: true, Style: lineStyle(truthColor, 1.2)})
		}
		row, col := i, i
		if c.Lower == LowerNone {
			row = 0
		}
		styleAxes(p, lims[i], Range{}, row == bottom || c.Lower == LowerNone, false, c.Labels[i], "", fs)
		p.Y.Tick.Marker = plot.ConstantTicks{}
		finish(p)
		grid[row][col] = p
	}
	if c.Lower != LowerNone {
		for i := 1; i < d; i++ {
			for j := range i {
				p := newPanel(fs)
				if err := pairLower(p, ps, j, i, lims[j], lims[i], c); err != nil {
					return nil, err
				}
				if t := c.Truth; t != nil && !math.IsNaN(t[i]) && !math.IsNaN(t[j]) {
					p.Add(truthMarker(t[j], t[i], truthColor))
				}
				styleAxes(p, lims[j], lims[i], i == bottom, j == 0, c.Labels[j], c.Labels[i], fs)
				finish(p)
				grid[i][j] = p
			}
		}
	}

	f := &Figure{Panels: grid, Title: c.Title, FontSize: fs, PadX: fs * 0.5, PadY: fs * 0.5}
	for _, s := range ps {
		if s.name == "" {
			continue
		}
		f.Legend = append(f.Legend, LegendEntry{Label: s.name, Thumbs: []plot.Thumbnailer{
			&band{Color: withAlpha(s.color, 0.25), Line: lineStyle(s.color, 1.5)},
		}})
	}
	if c.Truth != nil && len(f.Legend) > 0 {
		label := c.TruthLabel
		if label == "" {
			label = "true parameters"
		}
		thumbs := []plot.Thumbnailer{refLine{Vertical: true, Style: lineStyle(truthColor, 1.2)}}
		if d > 1 && c.Lower != LowerNone {
			thumbs = append(thumbs, truthMarker(0, 0, truthColor))
		}
		f.Legend = append(f.Legend, LegendEntry{Label: label, Thumbs: thumbs})
	}
	if d == 1 || c.Lower == LowerNone {
		f.LegendPos = LegendAbove
	}
	return f, nil
}

// checkSets validates the sample sets and copies them into columns.
func checkSets(sets []SampleSet) ([]pairSet, int, error) {
	if len(sets) == 0 {
		return nil, 0, fmt.Errorf("%w: pair: no sample sets", ErrEmpty)
	}
	ps := make([]pairSet, len(sets))
	d := 0
	for k, s := range sets {
		if s.Samples == nil || s.Samples.IsEmpty() {
			return nil, 0, fmt.Errorf("%w: pair: sample set %d (%q) has no samples", ErrEmpty, k, s.Name)
		}
		n, dk := s.Samples.Dims()
		if k == 0 {
			d = dk
		} else if dk != d {
			return nil, 0, fmt.Errorf("%w: pair: sample set %d (%q) has %d columns, set 0 has %d", ErrShape, k, s.Name, dk, d)
		}
		cols := make([][]float64, d)
		for j := range cols {
			cols[j] = mat.Col(nil, j, s.Samples)
			for r, v := range cols[j] {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					return nil, 0, fmt.Errorf("%w: pair: sample set %d (%q) row %d column %d is %v", ErrNonFinite, k, s.Name, r, j, v)
				}
			}
		}
		ess := float64(n)
		if s.Weights != nil {
			if len(s.Weights) != n {
				return nil, 0, fmt.Errorf("%w: pair: sample set %d (%q) has %d weights for %d samples", ErrShape, k, s.Name, len(s.Weights), n)
			}
			var sum, sum2 float64
			for r, w := range s.Weights {
				if !(w >= 0) || math.IsInf(w, 0) {
					return nil, 0, fmt.Errorf("%w: pair: sample set %d (%q) weight %d is %v", ErrInvalid, k, s.Name, r, w)
				}
				sum += w
				sum2 += w * w
			}
			if !(sum > 0) {
				return nil, 0, fmt.Errorf("%w: pair: sample set %d (%q) has zero total weight", ErrInvalid, k, s.Name)
			}
			ess = sum * sum / sum2 // Kish's effective sample size.
		}
		ps[k] = pairSet{name: s.Name, cols: cols, w: s.Weights, color: seriesColor(s.Color, k), ess: ess}
	}
	return ps, d, nil
}

// withDefaults validates cfg against d parameters and fills in the defaults.
func (cfg *PairConfig) withDefaults(d int, ps []pairSet) (PairConfig, error) {
	c := *cfg
	if c.Labels == nil {
		c.Labels = make([]string, d)
		for i := range c.Labels {
			c.Labels[i] = fmt.Sprintf("θ%d", i+1)
		}
	} else if len(c.Labels) != d {
		return c, fmt.Errorf("%w: pair: %d labels for %d parameters", ErrShape, len(c.Labels), d)
	}
	if c.Limits != nil && len(c.Limits) != d {
		return c, fmt.Errorf("%w: pair: %d limits for %d parameters", ErrShape, len(c.Limits), d)
	}
	if c.Truth != nil {
		if len(c.Truth) != d {
			return c, fmt.Errorf("%w: pair: %d true values for %d parameters", ErrShape, len(c.Truth), d)
		}
		for i, v := range c.Truth {
			if math.IsInf(v, 0) {
				return c, fmt.Errorf("%w: pair: true value %d is %v", ErrNonFinite, i, v)
			}
		}
	}
	switch q := c.LimitQuantile; {
	case q == 0:
		c.LimitQuantile = 0.005
	case !(q > 0 && q < 0.5):
		return c, fmt.Errorf("%w: pair: limit quantile %v not in [0, 0.5)", ErrInvalid, q)
	}
	switch {
	case c.Bins < 0:
		return c, fmt.Errorf("%w: pair: %d bins", ErrInvalid, c.Bins)
	case c.Bins == 0:
		n := math.Inf(1)
		for _, s := range ps {
			n = min(n, s.ess)
		}
		c.Bins = int(math.Round(2 * math.Cbrt(n))) // Rice's rule.
		c.Bins = min(max(c.Bins, 10), 50)
	}
	if c.Lower < LowerContour || c.Lower > LowerNone {
		return c, fmt.Errorf("%w: pair: lower kind %d", ErrInvalid, c.Lower)
	}
	if c.Levels == nil {
		c.Levels = []float64{0.68, 0.95}
	}
	for _, l := range c.Levels {
		if !(l > 0 && l < 1) {
			return c, fmt.Errorf("%w: pair: contour level %v not in (0, 1)", ErrInvalid, l)
		}
	}
	c.Levels = slices.Clone(c.Levels)
	slices.Sort(c.Levels)
	if c.Smooth == 0 {
		c.Smooth = 1
	}
	switch {
	case c.MaxPoints < 0:
		return c, fmt.Errorf("%w: pair: max points %d", ErrInvalid, c.MaxPoints)
	case c.MaxPoints == 0:
		c.MaxPoints = 2000
	}
	return c, nil
}

// limits returns the axis range of every parameter.
func (cfg *PairConfig) limits(ps []pairSet) []Range {
	d := len(ps[0].cols)
	out := make([]Range, d)
	for j := range out {
		if cfg.Limits != nil && cfg.Limits[j].valid() {
			out[j] = cfg.Limits[j]
			continue
		}
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, s := range ps {
			q := weightedQuantiles(s.cols[j], s.w, cfg.LimitQuantile, 1-cfg.LimitQuantile)
			lo, hi = min(lo, q[0]), max(hi, q[1])
		}
		if cfg.Truth != nil && !math.IsNaN(cfg.Truth[j]) {
			lo, hi = min(lo, cfg.Truth[j]), max(hi, cfg.Truth[j])
		}
		out[j] = widen(lo, hi, 0.05)
	}
	return out
}

// widen returns [lo, hi] widened by frac of its width on each side; a point
// becomes an interval of width max(20% of its magnitude, 1) around it.
func widen(lo, hi, frac float64) Range {
	w := hi - lo
	if !(w > 0) {
		w = max(0.2*math.Abs(lo), 1)
		return Range{lo - w/2, hi + w/2}
	}
	return Range{lo - frac*w, hi + frac*w}
}

// styleAxes sets the ranges, labels and tick labels of a pair-plot panel.
func styleAxes(p *plot.Plot, xr, yr Range, showX, showY bool, xlabel, ylabel string, fs vg.Length) {
	p.X.Min, p.X.Max = xr.Lo, xr.Hi
	if yr.valid() {
		p.Y.Min, p.Y.Max = yr.Lo, yr.Hi
	}
	p.X.Tick.Marker = ticker{prune: true, hide: !showX, max: 3}
	p.Y.Tick.Marker = ticker{prune: true, hide: !showY, max: 3}
	if showX {
		p.X.Label.Text = xlabel
	} else {
		p.X.Tick.Length *= 2
	}
	if showY {
		p.Y.Label.Text = ylabel
	} else {
		p.Y.Tick.Length *= 2
	}
}

// pairDiagonal adds the normalised histograms of parameter j of every set.
func pairDiagonal(p *plot.Plot, ps []pairSet, j int, r Range, bins int) {
	edges := make([]float64, bins+1)
	for b := range edges {
		edges[b] = r.Lo + float64(b)*(r.Hi-r.Lo)/float64(bins)
	}
	edges[bins] = r.Hi
	ymax := 0.0
	alpha := 0.25 // fill opacity; lighter when several sets overlap
	if len(ps) > 1 {
		alpha = 0.12
	}
	for _, s := range ps {
		h := density(s.cols[j], s.w, r, bins)
		ymax = max(ymax, slices.Max(h))
		p.Add(&band{X: edges, Lo: make([]float64, bins), Hi: h, Step: true,
			Color: withAlpha(s.color, alpha), Line: lineStyle(s.color, 1.2)})
	}
	if !(ymax > 0) {
		ymax = 1
	}
	p.Y.Min, p.Y.Max = 0, 1.1*ymax
}

// density returns the histogram of x (weights w, nil for equal) on bins equal
// bins of r, normalised by the total weight of all of x (inside r or not) and
// the bin width, so that it estimates the probability density.
func density(x, w []float64, r Range, bins int) []float64 {
	h := histogram(x, w, r.Lo, r.Hi, bins)
	total := float64(len(x))
	if w != nil {
		total = 0
		for _, v := range w {
			total += v
		}
	}
	width := (r.Hi - r.Lo) / float64(bins)
	for b := range h {
		h[b] /= total * width
	}
	return h
}

// pairLower adds the panel of parameter j (x) against parameter i (y).
func pairLower(p *plot.Plot, ps []pairSet, j, i int, xr, yr Range, c PairConfig) error {
	for k, s := range ps {
		switch {
		case c.Lower == LowerScatter:
			p.Add(scatterSet(s, j, i, c.MaxPoints))
		case c.Lower == LowerHist2D && k == 0:
			g := newGrid(xr, yr, c.Bins, c.Bins)
			g.z = histogram2D(s.cols[j], s.cols[i], s.w, xr.Lo, xr.Hi, yr.Lo, yr.Hi, c.Bins, c.Bins)
			p.Add(&cells{grid: g, color: s.color})
		default:
			g := newGrid(xr, yr, c.Bins, c.Bins)
			g.z = histogram2D(s.cols[j], s.cols[i], s.w, xr.Lo, xr.Hi, yr.Lo, yr.Hi, c.Bins, c.Bins)
			smooth2D(g.z, g.nx, g.ny, c.Smooth)
			if ct := newContours(g, c.Levels, s.color, c.Lower == LowerContour); ct != nil {
				p.Add(ct)
			}
		}
	}
	return nil
}

// scatterSet returns at most maxPts evenly thinned points of columns j, i.
func scatterSet(s pairSet, j, i, maxPts int) *plotter.Scatter {
	n := len(s.cols[j])
	step := max(1, (n+maxPts-1)/maxPts)
	xy := make(plotter.XYs, 0, n/step+1)
	for r := 0; r < n; r += step {
		xy = append(xy, plotter.XY{X: s.cols[j][r], Y: s.cols[i][r]})
	}
	return &plotter.Scatter{XYs: xy, GlyphStyle: draw.GlyphStyle{
		Color: withAlpha(s.color, 0.35), Radius: 1.2, Shape: draw.CircleGlyph{},
	}}
}

// truthMarker is a filled circle with a white rim.
func truthMarker(x, y float64, c color.Color) *plotter.Scatter {
	return &plotter.Scatter{XYs: plotter.XYs{{X: x, Y: y}}, GlyphStyleFunc: nil,
		GlyphStyle: draw.GlyphStyle{Color: c, Radius: 3, Shape: rimmedCircle{}}}
}

// rimmedCircle is a filled circle with a white outline, visible on any background.
type rimmedCircle struct{}

func (rimmedCircle) DrawGlyph(c *draw.Canvas, sty draw.GlyphStyle, pt vg.Point) {
	var p vg.Path
	p.Move(vg.Point{X: pt.X + sty.Radius + 0.8, Y: pt.Y})
	p.Arc(pt, sty.Radius+0.8, 0, 2*math.Pi)
	p.Close()
	c.SetColor(color.White)
	c.Fill(p)
	c.SetColor(sty.Color)
	draw.CircleGlyph{}.DrawGlyph(c, sty, pt)
}

// grid is a regular nx×ny grid of cell values over a rectangle; it implements
// plotter.GridXYZ with cell centres as coordinates.
type grid struct {
	z      []float64
	nx, ny int
	x0, dx float64
	y0, dy float64
}

func newGrid(xr, yr Range, nx, ny int) *grid {
	return &grid{nx: nx, ny: ny, x0: xr.Lo, dx: (xr.Hi - xr.Lo) / float64(nx), y0: yr.Lo, dy: (yr.Hi - yr.Lo) / float64(ny)}
}

func (g *grid) Dims() (c, r int)    { return g.nx, g.ny }
func (g *grid) Z(c, r int) float64  { return g.z[r*g.nx+c] }
func (g *grid) X(c int) float64     { return g.x0 + (float64(c)+0.5)*g.dx }
func (g *grid) Y(r int) float64     { return g.y0 + (float64(r)+0.5)*g.dy }
func (g *grid) xEdge(c int) float64 { return g.x0 + float64(c)*g.dx }
func (g *grid) yEdge(r int) float64 { return g.y0 + float64(r)*g.dy }
func (g *grid) maxZ() (m float64)   { return slices.Max(g.z) }
func (g *grid) rng() (xr, yr Range) { return Range{g.x0, g.xEdge(g.nx)}, Range{g.y0, g.yEdge(g.ny)} }

// cells draws a 2-D histogram: non-empty cells shaded from white (empty) to the
// colour (fullest cell), opaque so that neighbouring cells overlap seamlessly.
type cells struct {
	grid  *grid
	color color.Color
}

func (h *cells) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	m := h.grid.maxZ()
	if !(m > 0) {
		return
	}
	const overlap = 0.3 // points; hides anti-aliasing seams between cells.
	for r := range h.grid.ny {
		for col := range h.grid.nx {
			v := h.grid.Z(col, r)
			if v <= 0 {
				continue
			}
			rect := vg.Rectangle{
				Min: vg.Point{X: trX(h.grid.xEdge(col)) - overlap, Y: trY(h.grid.yEdge(r)) - overlap},
				Max: vg.Point{X: trX(h.grid.xEdge(col+1)) + overlap, Y: trY(h.grid.yEdge(r+1)) + overlap},
			}
			rect.Min.X, rect.Min.Y = max(rect.Min.X, c.Min.X), max(rect.Min.Y, c.Min.Y)
			rect.Max.X, rect.Max.Y = min(rect.Max.X, c.Max.X), min(rect.Max.Y, c.Max.Y)
			// A square-root ramp keeps sparsely populated cells visible.
			c.SetColor(mix(h.color, 0.08+0.92*math.Sqrt(v/m)))
			c.Fill(rect.Path())
		}
	}
}
