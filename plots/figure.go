package plots

import (
	"bytes"
	"errors"
	"fmt"
	"image/color"
	"io"
	"os"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Sentinel errors returned (wrapped) by the constructors and by Save.
var (
	// ErrEmpty reports that there is nothing to plot.
	ErrEmpty = errors.New("plots: no data")
	// ErrShape reports inputs whose lengths or dimensions do not agree.
	ErrShape = errors.New("plots: shape mismatch")
	// ErrNonFinite reports a NaN or infinite value in the data.
	ErrNonFinite = errors.New("plots: non-finite value")
	// ErrInvalid reports a setting or value outside its valid range.
	ErrInvalid = errors.New("plots: invalid setting")
	// ErrFormat reports a file extension that names no supported image format.
	ErrFormat = errors.New("plots: unsupported image format")
)

// LegendPos says where a Figure draws its legend.
type LegendPos int

// Legend positions. LegendAuto uses the top-right cell of the grid when it holds no
// panel (as in a pair plot) and the top-right corner inside the top-right panel otherwise.
// The corner positions are inside the data area of the top-right (top-left, ...) panel.
// LegendAbove draws a single row of entries above the panels, under the title.
const (
	LegendAuto LegendPos = iota
	LegendTopRight
	LegendTopLeft
	LegendBottomRight
	LegendBottomLeft
	LegendAbove
	LegendNone
)

// LegendEntry is one line of a Figure legend: a label and the thumbnails drawn,
// on top of each other, in front of it.
type LegendEntry struct {
	Label  string
	Thumbs []plot.Thumbnailer
}

// Figure is a grid of gonum/plot panels drawn with aligned data areas, with an
// optional title and legend. Every constructor of this package returns a *Figure;
// its panels are ordinary *plot.Plot values that the caller may restyle or add
// plotters to before saving.
type Figure struct {
	// Panels holds the panels row by row, top row first. Every row must have the
	// same length; nil entries are left blank.
	Panels [][]*plot.Plot

	// Title is drawn centred above the panels when it is not empty.
	Title string

	// Legend lists the legend entries; LegendPos says where they go.
	Legend    []LegendEntry
	LegendPos LegendPos

	// FontSize is the size of the title and legend text; zero means 10 points.
	FontSize vg.Length

	// PadX and PadY are the gaps between neighbouring panels, Margin the blank
	// border around the figure. Zero values mean 6, 6 and 4 points.
	PadX, PadY, Margin vg.Length

	// DPI is the resolution of raster formats (PNG, JPEG, TIFF); zero means 96,
	// gonum/plot's default, so that a PNG of width w has w/vg.Inch*96 pixels.
	DPI int
}

func (f *Figure) fontSize() vg.Length {
	if f.FontSize > 0 {
		return f.FontSize
	}
	return 10
}

func orDefault(v, def vg.Length) vg.Length {
	if v > 0 {
		return v
	}
	return def
}

// check reports whether the figure can be drawn.
func (f *Figure) check() error {
	if f == nil || len(f.Panels) == 0 || len(f.Panels[0]) == 0 {
		return fmt.Errorf("%w: figure has no panels", ErrEmpty)
	}
	cols := len(f.Panels[0])
	for i, row := range f.Panels {
		if len(row) != cols {
			return fmt.Errorf("%w: figure row %d has %d panels, want %d", ErrShape, i, len(row), cols)
		}
	}
	if f.DPI < 0 {
		return fmt.Errorf("%w: DPI %d is negative", ErrInvalid, f.DPI)
	}
	return nil
}

// Draw draws the figure onto c. It panics if Panels is empty or ragged (Save and
// WriterTo check this and return an error instead).
func (f *Figure) Draw(c draw.Canvas) {
	if err := f.check(); err != nil {
		panic(err.Error())
	}
	c.SetColor(color.White)
	c.Fill(c.Rectangle.Path())

	margin := orDefault(f.Margin, 4)
	c = draw.Crop(c, margin, -margin, margin, -margin)
	fs := f.fontSize()
	if f.Title != "" {
		sty := textStyle(fs * 1.2)
		sty.XAlign = draw.XCenter
		sty.YAlign = draw.YTop
		c.FillText(sty, vg.Point{X: c.Center().X, Y: c.Max.Y}, f.Title)
		c.Max.Y -= sty.Height(f.Title) + fs*0.5
	}
	legend := f.Legend
	if f.LegendPos == LegendNone {
		legend = nil
	}
	if len(legend) > 0 && f.LegendPos == LegendAbove {
		h := drawLegendRow(c, legend, fs)
		c.Max.Y -= h + fs*0.5
	}

	rows, cols := len(f.Panels), len(f.Panels[0])
	tiles := draw.Tiles{
		Rows: rows, Cols: cols,
		PadX: orDefault(f.PadX, 6), PadY: orDefault(f.PadY, 6),
	}
	canvases := plot.Align(f.Panels, tiles, c)
	for i, row := range f.Panels {
		for j, p := range row {
			if p != nil {
				p.Draw(canvases[i][j])
			}
		}
	}
	if len(legend) == 0 || f.LegendPos == LegendAbove {
		return
	}

	pos := f.LegendPos
	if pos == LegendAuto {
		if f.Panels[0][cols-1] == nil {
			// An empty top-right cell (the upper triangle of a pair plot):
			// draw the legend there without a box.
			drawLegendBox(canvases[0][cols-1], legend, fs, true, false, false)
			return
		}
		pos = LegendTopRight
	}
	top := pos == LegendTopRight || pos == LegendTopLeft
	left := pos == LegendTopLeft || pos == LegendBottomLeft
	r, col := 0, cols-1
	if !top {
		r = rows - 1
	}
	if left {
		col = 0
	}
	p := f.Panels[r][col]
	for p == nil {
		// Bottom rows of per-parameter grids may have blank cells on the right.
		if left {
			col++
		} else {
			col--
		}
		if col < 0 || col >= cols {
			break
		}
		p = f.Panels[r][col]
	}
	if p == nil {
		return
	}
	dc := p.DataCanvas(canvases[r][col])
	inset := fs * 0.4
	dc = draw.Crop(dc, inset, -inset, inset, -inset)
	drawLegendBox(dc, legend, fs, top, left, true)
}

// WriterTo returns an io.WriterTo that writes the figure of width w and height h
// in the given format ("png", "svg", "pdf", "eps", "jpg", "jpeg", "tif", "tiff", "tex").
func (f *Figure) WriterTo(w, h vg.Length, format string) (io.WriterTo, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	if !(w > 0 && h > 0) {
		return nil, fmt.Errorf("%w: figure size %v×%v must be positive", ErrInvalid, w, h)
	}
	format = strings.ToLower(strings.TrimPrefix(format, "."))
	var cw vg.CanvasWriterTo
	dpi := f.DPI
	if dpi == 0 {
		dpi = vgimg.DefaultDPI
	}
	switch format {
	case "png", "jpg", "jpeg", "tif", "tiff":
		img := vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(dpi), vgimg.UseBackgroundColor(color.White))
		switch format {
		case "png":
			cw = vgimg.PngCanvas{Canvas: img}
		case "jpg", "jpeg":
			cw = vgimg.JpegCanvas{Canvas: img}
		default:
			cw = vgimg.TiffCanvas{Canvas: img}
		}
	default:
		var err error
		cw, err = draw.NewFormattedCanvas(w, h, format)
		if err != nil {
			return nil, fmt.Errorf("%w: %q", ErrFormat, format)
		}
	}
	f.Draw(draw.New(cw))
	return cw, nil
}

// Save writes the figure, w wide and h high, to the file at path in the format
// named by the extension of path (.png, .svg, .pdf, .eps, .jpg, .jpeg, .tif, .tiff,
// .tex). The file is written only when drawing succeeded.
func (f *Figure) Save(path string, w, h vg.Length) error {
	ext := strings.TrimPrefix(filepath.Ext(path), ".")
	if ext == "" {
		return fmt.Errorf("%w: %q has no file extension", ErrFormat, path)
	}
	wt, err := f.WriterTo(w, h, ext)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if _, err := wt.WriteTo(&buf); err != nil {
		return fmt.Errorf("plots: encode %s: %w", path, err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("plots: %w", err)
	}
	return nil
}

// legendMetrics returns the text style, thumbnail width and row height of a legend.
func legendMetrics(fs vg.Length) (sty draw.TextStyle, thumbW, rowH vg.Length) {
	sty = textStyle(fs)
	sty.YAlign = draw.YCenter
	return sty, fs * 2, fs * 1.35
}

// drawLegendBox draws the entries as a column in a corner of c. With box set, a
// white translucent box with a thin frame is drawn behind the entries.
func drawLegendBox(c draw.Canvas, entries []LegendEntry, fs vg.Length, top, left, box bool) {
	sty, thumbW, rowH := legendMetrics(fs)
	gap := fs * 0.4
	var textW vg.Length
	for _, e := range entries {
		textW = max(textW, sty.Width(e.Label))
	}
	pad := fs * 0.35
	w := thumbW + gap + textW + 2*pad
	h := rowH*vg.Length(len(entries)) + 2*pad
	x0 := c.Max.X - w
	if left {
		x0 = c.Min.X
	}
	y0 := c.Min.Y
	if top {
		y0 = c.Max.Y - h
	}
	if box {
		rect := vg.Rectangle{Min: vg.Point{X: x0, Y: y0}, Max: vg.Point{X: x0 + w, Y: y0 + h}}
		c.SetColor(color.NRGBA{R: 255, G: 255, B: 255, A: 220})
		c.Fill(rect.Path())
		c.SetLineStyle(draw.LineStyle{Color: color.Gray{Y: 180}, Width: 0.5})
		c.Stroke(rect.Path())
	}
	for i, e := range entries {
		yc := y0 + h - pad - rowH*(vg.Length(i)+0.5)
		drawEntry(c, e, sty, vg.Point{X: x0 + pad, Y: yc}, thumbW, rowH, gap)
	}
}

// drawLegendRow draws the entries centred in rows at the top of c, breaking
// rows where they would exceed the width of c, and returns the height used.
func drawLegendRow(c draw.Canvas, entries []LegendEntry, fs vg.Length) vg.Length {
	sty, thumbW, rowH := legendMetrics(fs)
	gap := fs * 0.4
	sep := fs * 1.5
	width := func(e LegendEntry) vg.Length { return thumbW + gap + sty.Width(e.Label) }
	avail := c.Max.X - c.Min.X
	var rows [][]LegendEntry
	var cur []LegendEntry
	var curW vg.Length
	for _, e := range entries {
		w := width(e)
		if len(cur) > 0 && curW+sep+w > avail {
			rows = append(rows, cur)
			cur, curW = nil, 0
		}
		if len(cur) > 0 {
			curW += sep
		}
		cur = append(cur, e)
		curW += w
	}
	rows = append(rows, cur)
	for r, row := range rows {
		var total vg.Length
		for i, e := range row {
			if i > 0 {
				total += sep
			}
			total += width(e)
		}
		x := c.Center().X - total/2
		yc := c.Max.Y - rowH*(vg.Length(r)+0.5)
		for _, e := range row {
			drawEntry(c, e, sty, vg.Point{X: x, Y: yc}, thumbW, rowH, gap)
			x += width(e) + sep
		}
	}
	return rowH * vg.Length(len(rows))
}

// drawEntry draws one legend entry whose thumbnail starts at the left of pt,
// vertically centred on pt.Y.
func drawEntry(c draw.Canvas, e LegendEntry, sty draw.TextStyle, pt vg.Point, thumbW, rowH, gap vg.Length) {
	th := rowH * 0.6
	icon := draw.Canvas{Canvas: c.Canvas, Rectangle: vg.Rectangle{
		Min: vg.Point{X: pt.X, Y: pt.Y - th/2},
		Max: vg.Point{X: pt.X + thumbW, Y: pt.Y + th/2},
	}}
	for _, t := range e.Thumbs {
		t.Thumbnail(&icon)
	}
	c.FillText(sty, vg.Point{X: pt.X + thumbW + gap, Y: pt.Y}, e.Label)
}

// gridShape returns a near-square grid for n panels: cols = ceil(sqrt(n)) unless
// cols > 0 is given.
func gridShape(n, cols int) (rows, c int) {
	if cols <= 0 {
		cols = 1
		for cols*cols < n {
			cols++
		}
	}
	cols = min(cols, n)
	return (n + cols - 1) / cols, cols
}

// gridFigure arranges panels row by row into a grid with the given number of
// columns (zero: near-square), leaving trailing cells blank.
func gridFigure(panels []*plot.Plot, cols int) *Figure {
	rows, cols := gridShape(len(panels), cols)
	grid := make([][]*plot.Plot, rows)
	for i := range grid {
		grid[i] = make([]*plot.Plot, cols)
		for j := range grid[i] {
			if k := i*cols + j; k < len(panels) {
				grid[i][j] = panels[k]
			}
		}
	}
	return &Figure{Panels: grid}
}
