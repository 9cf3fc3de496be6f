package plots

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
)

// TraceConfig configures NewTrace. Its zero value (and a nil *TraceConfig) means
// the documented defaults.
type TraceConfig struct {
	// Labels names the parameters; nil means "θ1", "θ2", ...
	Labels []string
	// Warmup, when positive, shades the first Warmup iterations.
	Warmup int
	// MaxPoints caps the points drawn per chain and panel; longer chains are
	// reduced to the minimum and maximum of equal blocks of iterations, which
	// keeps the envelope (and any spike) of the trace. Zero means 4000.
	MaxPoints int
	// Title is drawn above the figure when not empty.
	Title string
	// FontSize is the size of axis labels; zero means 9 points.
	FontSize vg.Length
}

// checkChains validates MCMC chains: at least one, none empty, all with the same
// number of columns and only finite values. It returns the number of columns
// and the shortest chain length.
func checkChains(fn string, chains []*mat.Dense) (d, n int, err error) {
	if len(chains) == 0 {
		return 0, 0, fmt.Errorf("%w: %s: no chains", ErrEmpty, fn)
	}
	for k, ch := range chains {
		if ch == nil || ch.IsEmpty() {
			return 0, 0, fmt.Errorf("%w: %s: chain %d has no draws", ErrEmpty, fn, k)
		}
		r, c := ch.Dims()
		if k == 0 {
			d, n = c, r
		} else if c != d {
			return 0, 0, fmt.Errorf("%w: %s: chain %d has %d columns, chain 0 has %d", ErrShape, fn, k, c, d)
		}
		n = min(n, r)
		for i := range r {
			for j := range c {
				if v := ch.At(i, j); math.IsNaN(v) || math.IsInf(v, 0) {
					return 0, 0, fmt.Errorf("%w: %s: chain %d row %d column %d is %v", ErrNonFinite, fn, k, i, j, v)
				}
			}
		}
	}
	return d, n, nil
}

func paramLabels(fn string, labels []string, d int) ([]string, error) {
	if labels == nil {
		labels = make([]string, d)
		for i := range labels {
			labels[i] = fmt.Sprintf("θ%d", i+1)
		}
		return labels, nil
	}
	if len(labels) != d {
		return nil, fmt.Errorf("%w: %s: %d labels for %d parameters", ErrShape, fn, len(labels), d)
	}
	return labels, nil
}

// NewTrace returns MCMC trace plots: one panel per parameter, stacked, with the
// draws of every chain (one chain per matrix, one draw per row, one parameter per
// column) against the iteration in a different colour.
//
// It returns an error wrapping ErrEmpty when there are no chains or a chain is
// empty, ErrShape when the chains or labels disagree in the number of
// parameters, ErrNonFinite for NaN or infinite draws and ErrInvalid for
// negative settings.
func NewTrace(chains []*mat.Dense, cfg *TraceConfig) (*Figure, error) {
	if cfg == nil {
		cfg = &TraceConfig{}
	}
	d, _, err := checkChains("trace", chains)
	if err != nil {
		return nil, err
	}
	labels, err := paramLabels("trace", cfg.Labels, d)
	if err != nil {
		return nil, err
	}
	if cfg.Warmup < 0 || cfg.MaxPoints < 0 {
		return nil, fmt.Errorf("%w: trace: negative warmup %d or max points %d", ErrInvalid, cfg.Warmup, cfg.MaxPoints)
	}
	maxPts := cfg.MaxPoints
	if maxPts == 0 {
		maxPts = 4000
	}
	maxPts = max(maxPts, 2)
	fs := fontSize(cfg.FontSize)
	f := &Figure{Title: cfg.Title, FontSize: fs, LegendPos: LegendAbove, PadY: fs * 0.5}
	longest := 0
	for _, ch := range chains {
		longest = max(longest, ch.RawMatrix().Rows)
	}
	for j := range d {
		p := newPanel(fs)
		if cfg.Warmup > 0 {
			p.Add(span{Lo: 0, Hi: float64(min(cfg.Warmup, longest-1)), Color: withAlpha(gridGrey, 0.18)})
		}
		for k, ch := range chains {
			x, y := envelope(mat.Col(nil, j, ch), maxPts)
			ln := newLine(x, y, lineStyle(withAlpha(palette[k%len(palette)], 0.8), 0.6))
			p.Add(ln)
			if j == 0 && len(chains) > 1 {
				f.Legend = append(f.Legend, LegendEntry{Label: fmt.Sprintf("chain %d", k+1),
					Thumbs: []plot.Thumbnailer{newLine(nil, nil, lineStyle(palette[k%len(palette)], 1.5))}})
			}
		}
		p.X.Min, p.X.Max = 0, float64(max(longest-1, 1))
		r := widen(p.Y.Min, p.Y.Max, 0.04)
		p.Y.Min, p.Y.Max = r.Lo, r.Hi
		p.Y.Label.Text = labels[j]
		p.Y.Tick.Marker = ticker{max: 4, prune: true}
		if j == d-1 {
			p.X.Label.Text = "iteration"
		} else {
			p.X.Tick.Marker = ticker{hide: true}
			p.X.Tick.Length *= 2
		}
		finish(p)
		f.Panels = append(f.Panels, []*plot.Plot{p})
	}
	return f, nil
}

// envelope returns the trace (i, x[i]) reduced to at most about maxPts points:
// unchanged when short enough, otherwise the minimum and maximum of each block
// of consecutive iterations, in iteration order.
func envelope(x []float64, maxPts int) (xs, ys []float64) {
	n := len(x)
	if n <= maxPts {
		return seq(0, n), x
	}
	block := (2*n + maxPts - 1) / maxPts
	for s := 0; s < n; s += block {
		e := min(s+block, n)
		lo, hi := s, s
		for i := s; i < e; i++ {
			if x[i] < x[lo] {
				lo = i
			}
			if x[i] > x[hi] {
				hi = i
			}
		}
		a, b := min(lo, hi), max(lo, hi)
		xs = append(xs, float64(a), float64(b))
		ys = append(ys, x[a], x[b])
	}
	return xs, ys
}

// AutocorrConfig configures NewAutocorr. Its zero value (and a nil
// *AutocorrConfig) means the documented defaults.
type AutocorrConfig struct {
	// Labels names the parameters; nil means "θ1", "θ2", ...
	Labels []string
	// MaxLag is the largest lag shown; zero means min(100, n-1) for the
	// shortest chain length n. It must be below n.
	MaxLag int
	// Cols is the number of panel columns; zero means a near-square grid.
	Cols int
	// Title is drawn above the figure when not empty.
	Title string
	// FontSize is the size of axis labels; zero means 9 points.
	FontSize vg.Length
}

// NewAutocorr returns autocorrelation plots: one panel per parameter with the
// sample autocorrelation ρ_k = Σ_{t<n-k}(x_t-m)(x_{t+k}-m) / Σ_t(x_t-m)² of every
// chain at lags k = 0..MaxLag, and a grey band ±1.96/√n, the 95% band of ρ_k
// for white noise (Bartlett's approximation). Chains are as for NewTrace.
//
// It returns the errors of NewTrace, and an error wrapping ErrInvalid when
// MaxLag is negative or not below the shortest chain length.
func NewAutocorr(chains []*mat.Dense, cfg *AutocorrConfig) (*Figure, error) {
	if cfg == nil {
		cfg = &AutocorrConfig{}
	}
	d, n, err := checkChains("autocorr", chains)
	if err != nil {
		return nil, err
	}
	labels, err := paramLabels("autocorr", cfg.Labels, d)
	if err != nil {
		return nil, err
	}
	if n < 2 {
		return nil, fmt.Errorf("%w: autocorr: chains need at least 2 draws, shortest has %d", ErrEmpty, n)
	}
	maxLag := cfg.MaxLag
	switch {
	case maxLag == 0:
		maxLag = min(100, n-1)
	case maxLag < 0 || maxLag >= n:
		return nil, fmt.Errorf("%w: autocorr: max lag %d not in 1..%d", ErrInvalid, maxLag, n-1)
	}
	if cfg.Cols < 0 {
		return nil, fmt.Errorf("%w: autocorr: %d columns", ErrInvalid, cfg.Cols)
	}
	fs := fontSize(cfg.FontSize)
	lags := seq(0, maxLag+1)
	white := 1.96 / math.Sqrt(float64(n)) // 97.5% normal quantile over √n.
	panels := make([]*plot.Plot, d)
	var legend []LegendEntry
	for j := range d {
		p := newPanel(fs)
		p.Add(&band{X: []float64{0, float64(maxLag)}, Lo: []float64{-white, -white}, Hi: []float64{white, white}, Color: bandColor})
		p.Add(refLine{V: 0, Style: lineStyle(black, 0.6)})
		ymin := -0.2
		for k, ch := range chains {
			rho := autocorr(mat.Col(nil, j, ch), maxLag)
			for _, r := range rho {
				ymin = min(ymin, r)
			}
			ln := newLine(lags, rho, lineStyle(palette[k%len(palette)], 1.2))
			p.Add(ln)
			if j == 0 && len(chains) > 1 {
				legend = append(legend, LegendEntry{Label: fmt.Sprintf("chain %d", k+1), Thumbs: []plot.Thumbnailer{ln}})
			}
		}
		p.Title.Text = labels[j]
		p.X.Min, p.X.Max = 0, float64(maxLag)
		p.Y.Min, p.Y.Max = ymin-0.05, 1.05
		finish(p)
		panels[j] = p
	}
	f := gridFigure(panels, cfg.Cols)
	f.Title, f.FontSize, f.Legend, f.LegendPos = cfg.Title, fs, legend, LegendAbove
	labelGrid(f, "lag", "autocorrelation")
	return f, nil
}

// labelGrid puts the x label on the lowest panel of every column and the y
// label on the first panel of every row, and hides the x tick labels of panels
// that have a panel below them.
func labelGrid(f *Figure, xlabel, ylabel string) {
	for i, row := range f.Panels {
		for j, p := range row {
			if p == nil {
				continue
			}
			below := i+1 < len(f.Panels) && f.Panels[i+1][j] != nil
			if below {
				p.X.Tick.Marker = ticker{hide: true}
				p.X.Tick.Length *= 2
			} else {
				p.X.Label.Text = xlabel
			}
			if j == 0 {
				p.Y.Label.Text = ylabel
			}
		}
	}
}
