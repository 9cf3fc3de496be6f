package plots

import (
	"fmt"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// LossConfig configures NewLoss. Its zero value (and a nil *LossConfig) means the
// documented defaults.
type LossConfig struct {
	// Best is the 1-based epoch to mark as best; zero means the epoch of the
	// smallest validation loss (training loss when there is no validation
	// loss), and -1 means no mark.
	Best int
	// TrainLabel and ValLabel are the legend labels; empty means "training"
	// and "validation".
	TrainLabel, ValLabel string
	// YLabel labels the vertical axis; empty means "loss".
	YLabel string
	// YRange fixes the vertical range when Lo < Hi (useful when the first
	// epochs dwarf the rest); the zero value fits all data.
	YRange Range
	// Title is drawn above the plot when not empty.
	Title string
	// FontSize is the size of axis labels; zero means 9 points.
	FontSize vg.Length
}

// NewLoss returns a plot of the training loss and, when val is not nil, the
// validation loss per epoch (epochs numbered from 1), with the best epoch marked
// by a dotted vertical line and a point. val must be nil or as long as train.
//
// It returns an error wrapping ErrEmpty when train is empty, ErrShape when the
// lengths differ, ErrNonFinite for NaN or infinite losses and ErrInvalid when
// cfg.Best is out of range.
func NewLoss(train, val []float64, cfg *LossConfig) (*Figure, error) {
	if cfg == nil {
		cfg = &LossConfig{}
	}
	if len(train) == 0 {
		return nil, fmt.Errorf("%w: loss: no training losses", ErrEmpty)
	}
	if val != nil && len(val) != len(train) {
		return nil, fmt.Errorf("%w: loss: %d validation losses for %d epochs", ErrShape, len(val), len(train))
	}
	for _, s := range [][]float64{train, val} {
		for i, v := range s {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("%w: loss: epoch %d loss is %v", ErrNonFinite, i+1, v)
			}
		}
	}
	ref := val
	if ref == nil {
		ref = train
	}
	best := cfg.Best
	switch {
	case best == 0:
		for i, v := range ref {
			if best == 0 || v < ref[best-1] {
				best = i + 1
			}
		}
	case best < -1 || best > len(train):
		return nil, fmt.Errorf("%w: loss: best epoch %d not in 1..%d", ErrInvalid, best, len(train))
	}

	fs := fontSize(cfg.FontSize)
	p := newPanel(fs)
	epochs := seq(1, len(train))
	f := &Figure{Panels: [][]*plot.Plot{{p}}, Title: cfg.Title, FontSize: fs}
	if best > 0 {
		l := refLine{V: float64(best), Vertical: true, Style: lineStyle(gridGrey, 1, 2, 2)}
		p.Add(l)
	}
	names := []string{orString(cfg.TrainLabel, "training"), orString(cfg.ValLabel, "validation")}
	for k, s := range [][]float64{train, val} {
		if s == nil {
			continue
		}
		ln := newLine(epochs, s, lineStyle(palette[k], 1.5))
		p.Add(ln)
		f.Legend = append(f.Legend, LegendEntry{Label: names[k], Thumbs: []plot.Thumbnailer{ln}})
	}
	if best > 0 {
		pt := newPoints([]float64{float64(best)}, []float64{ref[best-1]},
			draw.GlyphStyle{Color: black, Radius: 3, Shape: rimmedCircle{}})
		p.Add(pt)
		f.Legend = append(f.Legend, LegendEntry{
			Label:  fmt.Sprintf("best epoch %d (%.4g)", best, ref[best-1]),
			Thumbs: []plot.Thumbnailer{refLine{Vertical: true, Style: lineStyle(gridGrey, 1, 2, 2)}, pt},
		})
	}
	p.X.Label.Text = "epoch"
	p.Y.Label.Text = orString(cfg.YLabel, "loss")
	p.X.Min, p.X.Max = 1, math.Max(float64(len(train)), 2)
	if cfg.YRange.valid() {
		p.Y.Min, p.Y.Max = cfg.YRange.Lo, cfg.YRange.Hi
	} else {
		r := widen(p.Y.Min, p.Y.Max, 0.04)
		p.Y.Min, p.Y.Max = r.Lo, r.Hi
	}
	finish(p)
	return f, nil
}

func orString(s, def string) string {
	if s != "" {
		return s
	}
	return def
}
