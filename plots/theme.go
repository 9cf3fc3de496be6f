package plots

import (
	"image/color"
	"math"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

var (
	_ plot.Plotter     = frame{}
	_ plot.Plotter     = refLine{}
	_ plot.Thumbnailer = refLine{}
	_ plot.Plotter     = span{}
	_ plot.Plotter     = (*band)(nil)
	_ plot.DataRanger  = (*band)(nil)
	_ plot.Thumbnailer = (*band)(nil)
	_ plot.Plotter     = (*cells)(nil)
	_ plot.Plotter     = (*contours)(nil)
	_ plot.Ticker      = ticker{}
	_ draw.GlyphDrawer = rimmedCircle{}
)

// sans is the typeface of every text in this package (gonum/plot's default is serif).
var sans = font.Font{Typeface: "Liberation", Variant: "Sans"}

// palette holds the series colours: matplotlib's "tab10" qualitative palette,
// familiar to readers of scientific figures.
var palette = []color.NRGBA{
	{0x1f, 0x77, 0xb4, 0xff}, // blue
	{0xff, 0x7f, 0x0e, 0xff}, // orange
	{0x2c, 0xa0, 0x2c, 0xff}, // green
	{0xd6, 0x27, 0x28, 0xff}, // red
	{0x94, 0x67, 0xbd, 0xff}, // purple
	{0x8c, 0x56, 0x4b, 0xff}, // brown
	{0xe3, 0x77, 0xc2, 0xff}, // pink
	{0x7f, 0x7f, 0x7f, 0xff}, // grey
	{0xbc, 0xbd, 0x22, 0xff}, // olive
	{0x17, 0xbe, 0xcf, 0xff}, // cyan
}

var (
	black     = color.NRGBA{A: 0xff}
	bandColor = color.NRGBA{R: 0x9e, G: 0x9e, B: 0x9e, A: 0x66}
	gridGrey  = color.NRGBA{R: 0x80, G: 0x80, B: 0x80, A: 0xff}
)

// seriesColor returns c when it is set and the i-th palette colour otherwise.
func seriesColor(c color.Color, i int) color.Color {
	if c != nil {
		return c
	}
	return palette[i%len(palette)]
}

// withAlpha returns c with opacity a in [0, 1] (non-premultiplied).
func withAlpha(c color.Color, a float64) color.NRGBA {
	n := color.NRGBAModel.Convert(c).(color.NRGBA)
	n.A = uint8(math.Round(255 * a * float64(n.A) / 255))
	return n
}

// mix returns the opaque colour t of the way from white to c.
func mix(c color.Color, t float64) color.NRGBA {
	n := color.NRGBAModel.Convert(c).(color.NRGBA)
	f := func(v uint8) uint8 { return uint8(math.Round(255 + t*(float64(v)-255))) }
	return color.NRGBA{R: f(n.R), G: f(n.G), B: f(n.B), A: 0xff}
}

func textStyle(size vg.Length) draw.TextStyle {
	return draw.TextStyle{Color: black, Font: font.From(sans, size), Handler: plot.DefaultTextHandler}
}

func fontSize(fs vg.Length) vg.Length {
	if fs > 0 {
		return fs
	}
	return 9
}

// newPanel returns a plot styled like a matplotlib axes: sans-serif text, short
// outward ticks without minor ticks, no axis padding and a frame (added by finish).
func newPanel(fs vg.Length) *plot.Plot {
	p := plot.New()
	p.Title.TextStyle.Font = font.From(sans, fs)
	p.Title.Padding = fs * 0.4
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle.Font = font.From(sans, fs)
		a.Label.Padding = fs * 0.3
		a.Tick.Label.Font = font.From(sans, fs*0.8)
		a.Tick.Length = fs * 0.4
		a.Tick.Marker = ticker{}
		a.Padding = 0
		a.LineStyle.Width = 0
		a.Tick.LineStyle.Width = 0.6
	}
	return p
}

// finish adds the frame on top of everything drawn so far.
func finish(p *plot.Plot) { p.Add(frame{}) }

// ticker places "nice" ticks (multiples of 1, 2, 2.5 or 5 times a power of ten)
// without minor ticks: the smallest step giving at most max ticks (zero: 5).
// With prune set, ticks must keep 10% of the range away from both ends, so that
// tick labels of neighbouring panels cannot collide. With hide set the ticks
// have no labels; gonum/plot draws those at half the tick length, so panels
// using hide double their tick length.
type ticker struct {
	prune, hide bool
	max         int
}

func (t ticker) Ticks(lo, hi float64) []plot.Tick {
	maxN := t.max
	if maxN <= 0 {
		maxN = 5
	}
	span := hi - lo
	if !(span > 0) || math.IsInf(span, 0) {
		return nil
	}
	a, b := lo, hi
	if t.prune {
		a, b = lo+0.1*span, hi-0.1*span
	}
	mant := []float64{1, 2, 2.5, 5}
	e := math.Floor(math.Log10(span)) - 2
	var step float64
	var m float64
search:
	for ; ; e++ {
		for _, mm := range mant {
			step = mm * math.Pow(10, e)
			if n := math.Floor(b/step) - math.Ceil(a/step) + 1; n <= float64(maxN) {
				m = mm
				break search
			}
		}
	}
	dec := 0
	if e < 0 {
		dec = int(-e)
	}
	if m == 2.5 && e <= 0 {
		dec++ // 0.25, 2.5
	}
	format := func(v float64) string {
		if v == 0 {
			return "0"
		}
		if av := math.Abs(v); av >= 1e5 || e < -4 {
			return strconv.FormatFloat(v, 'g', 3, 64)
		}
		return strconv.FormatFloat(v, 'f', dec, 64)
	}
	var out []plot.Tick
	for k := math.Ceil(a / step); k <= math.Floor(b/step); k++ {
		v := k * step
		tk := plot.Tick{Value: v}
		if !t.hide {
			tk.Label = format(v)
		}
		out = append(out, tk)
	}
	return out
}

// frame strokes the border of the data area.
type frame struct{}

func (frame) Plot(c draw.Canvas, _ *plot.Plot) {
	c.SetLineStyle(draw.LineStyle{Color: black, Width: 0.6})
	c.Stroke(c.Rectangle.Path())
}

// refLine is a vertical (or horizontal) line across the whole data area at V.
type refLine struct {
	V        float64
	Vertical bool
	Style    draw.LineStyle
}

func (l refLine) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	if l.Vertical {
		x := trX(l.V)
		if c.ContainsX(x) {
			c.StrokeLine2(l.Style, x, c.Min.Y, x, c.Max.Y)
		}
		return
	}
	y := trY(l.V)
	if c.ContainsY(y) {
		c.StrokeLine2(l.Style, c.Min.X, y, c.Max.X, y)
	}
}

func (l refLine) Thumbnail(c *draw.Canvas) {
	if l.Vertical {
		x := c.Center().X
		c.StrokeLine2(l.Style, x, c.Min.Y, x, c.Max.Y)
		return
	}
	y := c.Center().Y
	c.StrokeLine2(l.Style, c.Min.X, y, c.Max.X, y)
}

// span shades the vertical strip Lo ≤ x ≤ Hi over the whole height of the data
// area; it does not take part in the automatic axis ranges.
type span struct {
	Lo, Hi float64
	Color  color.Color
}

func (s span) Plot(c draw.Canvas, p *plot.Plot) {
	trX, _ := p.Transforms(&c)
	x0, x1 := max(trX(s.Lo), c.Min.X), min(trX(s.Hi), c.Max.X)
	if x1 <= x0 {
		return
	}
	c.SetColor(s.Color)
	c.Fill(vg.Rectangle{Min: vg.Point{X: x0, Y: c.Min.Y}, Max: vg.Point{X: x1, Y: c.Max.Y}}.Path())
}

// band fills the area between Lo and Hi. With Step unset, Lo[i] and Hi[i] are the
// values at X[i]; with Step set, X holds len(Lo)+1 bin edges and the band is
// constant on each bin. A positive Line.Width also strokes the upper edge.
type band struct {
	X, Lo, Hi []float64
	Step      bool
	Color     color.Color
	Line      draw.LineStyle
}

// outline returns the lower and upper boundary as data points, left to right.
func (b *band) outline() (lo, hi plotter.XYs) {
	if !b.Step {
		for i, x := range b.X {
			lo = append(lo, plotter.XY{X: x, Y: b.Lo[i]})
			hi = append(hi, plotter.XY{X: x, Y: b.Hi[i]})
		}
		return lo, hi
	}
	for i := range b.Lo {
		lo = append(lo, plotter.XY{X: b.X[i], Y: b.Lo[i]}, plotter.XY{X: b.X[i+1], Y: b.Lo[i]})
		hi = append(hi, plotter.XY{X: b.X[i], Y: b.Hi[i]}, plotter.XY{X: b.X[i+1], Y: b.Hi[i]})
	}
	return lo, hi
}

func (b *band) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	lo, hi := b.outline()
	if len(lo) == 0 {
		return
	}
	poly := make([]vg.Point, 0, 2*len(lo))
	for _, q := range lo {
		poly = append(poly, vg.Point{X: trX(q.X), Y: trY(q.Y)})
	}
	for i := len(hi) - 1; i >= 0; i-- {
		poly = append(poly, vg.Point{X: trX(hi[i].X), Y: trY(hi[i].Y)})
	}
	if b.Color != nil {
		if clipped := c.ClipPolygonXY(poly); len(clipped) > 0 {
			c.FillPolygon(b.Color, clipped)
		}
	}
	if b.Line.Width > 0 {
		top := poly[len(lo):]
		c.StrokeLines(b.Line, c.ClipLinesXY(top)...)
	}
}

func (b *band) DataRange() (xmin, xmax, ymin, ymax float64) {
	lo, hi := b.outline()
	x0, x1, y0, y1 := plotter.XYRange(lo)
	x2, x3, y2, y3 := plotter.XYRange(hi)
	return min(x0, x2), max(x1, x3), min(y0, y2), max(y1, y3)
}

func (b *band) Thumbnail(c *draw.Canvas) {
	if b.Color != nil {
		c.FillPolygon(b.Color, c.ClipPolygonY([]vg.Point{
			c.Min, {X: c.Min.X, Y: c.Max.Y}, c.Max, {X: c.Max.X, Y: c.Min.Y},
		}))
	}
	if b.Line.Width > 0 {
		c.StrokeLine2(b.Line, c.Min.X, c.Max.Y, c.Max.X, c.Max.Y)
	}
}

// newLine returns a polyline through (xs[i], ys[i]).
func newLine(xs, ys []float64, sty draw.LineStyle) *plotter.Line {
	xy := make(plotter.XYs, len(xs))
	for i := range xs {
		xy[i] = plotter.XY{X: xs[i], Y: ys[i]}
	}
	return &plotter.Line{XYs: xy, LineStyle: sty}
}

// newPoints returns glyphs at (xs[i], ys[i]).
func newPoints(xs, ys []float64, sty draw.GlyphStyle) *plotter.Scatter {
	xy := make(plotter.XYs, len(xs))
	for i := range xs {
		xy[i] = plotter.XY{X: xs[i], Y: ys[i]}
	}
	return &plotter.Scatter{XYs: xy, GlyphStyle: sty}
}

func lineStyle(c color.Color, w vg.Length, dashes ...vg.Length) draw.LineStyle {
	return draw.LineStyle{Color: c, Width: w, Dashes: dashes}
}

// seq returns from, from+1, ..., from+n-1 as float64.
func seq(from, n int) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = float64(from + i)
	}
	return s
}
