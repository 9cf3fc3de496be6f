// Command anomaly uses gosbi's normalizing flows on their own, outside
// simulation-based inference, for unsupervised anomaly detection on tabular
// data.
//
// A flow learns the joint density p(row) of a table; rows with a low
// log-density under the fitted flow are unusual given everything else in the
// table, even when each of their values is unremarkable on its own. The
// program
//
//  1. generates a table of readings from a fictional machine: five correlated,
//     non-Gaussian features (a log-normal, a curved "banana" dependence, a
//     two-regime feature and a heteroscedastic one), with a small fraction of
//     injected outliers that each break one of these dependencies;
//  2. fits an unconditional neural spline flow (flows.NSF) to a training table
//     by maximum likelihood, outliers included, as in real unlabelled data;
//  3. scores held-out rows by their log-density and flags those below the
//     -quantile quantile of the training scores;
//  4. reports precision and recall of the flags against the injected outliers
//     (with a threshold at the q quantile, about a fraction q of normal rows is
//     flagged too, so precision is limited by how rare the outliers are), and
//     the threshold-free ROC AUC of the scores;
//  5. draws synthetic rows from the flow and compares their moments with the
//     real data (and writes them to synthetic.csv);
//  6. plots the flow's density contours in every 2-D projection with the
//     flagged rows, a histogram of the scores, and the training loss.
//
// Run it with
//
//	go run ./examples/anomaly -out out
//
// and see -help for the budget flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"image/color"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"time"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/gosbi/gosbi/flows"
	"github.com/gosbi/gosbi/plots"
	"github.com/gosbi/gosbi/simulators"
)

// features names the columns of the generated table.
var features = []string{"load", "power", "temperature", "mode", "vibration"}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "anomaly:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("anomaly", flag.ContinueOnError)
	nTrain := fs.Int("n", 10000, "number of training rows (the budget)")
	nTest := fs.Int("test", 2000, "number of held-out rows to score")
	frac := fs.Float64("outliers", 0.02, "fraction of injected outliers in both tables")
	quantile := fs.Float64("quantile", 0.02, "flag held-out rows whose log-density is below this quantile of the training scores")
	maxEpochs := fs.Int("epochs", 0, "cap on training epochs (0: train until early stopping)")
	seed := fs.Uint64("seed", 1, "random seed")
	out := fs.String("out", "out", "output folder for plots and synthetic.csv")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case *nTrain < 50 || *nTest < 10:
		return fmt.Errorf("-n must be at least 50 and -test at least 10")
	case !(*frac >= 0 && *frac < 0.5):
		return fmt.Errorf("-outliers must be in [0, 0.5)")
	case !(*quantile > 0 && *quantile < 1):
		return fmt.Errorf("-quantile must be in (0, 1)")
	case *maxEpochs < 0:
		return fmt.Errorf("-epochs must not be negative")
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	start := time.Now()

	// Every random step takes its own generator derived from the seed, so that
	// changing one step (say the number of epochs) does not change the data.
	rngData := rand.New(rand.NewPCG(*seed, 1))
	rngFlow := rand.New(rand.NewPCG(*seed, 2))
	rngSample := rand.New(rand.NewPCG(*seed, 3))

	// 1. Data. Outliers are unlabelled for the flow; the labels are only used
	// to score the detector at the end.
	train, _ := generate(*nTrain, *frac, rngData)
	test, isOutlier := generate(*nTest, *frac, rngData)
	nOut := 0
	for _, o := range isOutlier {
		if o {
			nOut++
		}
	}
	fmt.Fprintf(stdout, "data: %d training rows, %d held-out rows (%d injected outliers), %d features\n",
		*nTrain, *nTest, nOut, len(features))

	// 2. Fit a neural spline flow. flows.NSF{} is sbi's default architecture
	// (5 rational-quadratic spline coupling layers with 50 hidden units); Build
	// fits the z-scoring of the columns to the data and initialises the
	// weights, and the context (the second argument) is nil because the
	// density is unconditional.
	flow, err := flows.NSF{}.Build(train, nil, rngFlow)
	if err != nil {
		return err
	}
	tr, err := flows.Train(ctx, flow, train, nil, rngFlow, &flows.Settings{MaxEpochs: *maxEpochs})
	if err != nil {
		return fmt.Errorf("training: %w", err)
	}
	fmt.Fprintf(stdout, "training: %d epochs in %.1fs, best validation log-density %.3f per row (epoch %d)\n",
		tr.Epochs, tr.Runtime.Seconds(), -tr.BestValLoss, tr.BestEpoch)

	// 3. Score rows by log-density. The threshold comes from the training
	// rows, so that about a fraction -quantile of new normal-looking data is
	// flagged whatever the held-out table contains.
	trainScores := flow.LogProbBatch(nil, train, nil)
	testScores := flow.LogProbBatch(nil, test, nil)
	threshold := stat.Quantile(*quantile, stat.Empirical, sorted(trainScores), nil)
	flagged := make([]bool, len(testScores))
	for i, s := range testScores {
		flagged[i] = s < threshold
	}

	// 4. Precision and recall against the injected outliers.
	var tp, fp, fn int
	for i := range flagged {
		switch {
		case flagged[i] && isOutlier[i]:
			tp++
		case flagged[i]:
			fp++
		case isOutlier[i]:
			fn++
		}
	}
	precision := float64(tp) / float64(tp+fp)
	recall := float64(tp) / float64(tp+fn)
	// The area under the ROC curve does not depend on the threshold: the
	// probability that a random outlier scores below a random normal row.
	fmt.Fprintf(stdout, "ranking: ROC AUC of the log-density for the injected outliers %.3f (0.5 is chance)\n", rocAUC(testScores, isOutlier))
	fmt.Fprintf(stdout, "threshold: log-density %.3f (the %.3g quantile of the training scores)\n", threshold, *quantile)
	fmt.Fprintf(stdout, "flagged %d of %d held-out rows: precision %.3f, recall %.3f (true positives %d, false positives %d, missed %d)\n",
		tp+fp, *nTest, precision, recall, tp, fp, fn)

	// 5. Synthetic rows. A flow is a generative model: SampleBatch draws new
	// rows, which should reproduce the moments and correlations of the data.
	synth := mat.NewDense(*nTest, len(features), nil)
	flow.SampleBatch(synth, nil, rngSample)
	if err := simulators.WriteCSV(filepath.Join(*out, "synthetic.csv"), synth, features); err != nil {
		return err
	}
	inliers := rowsWhere(test, isOutlier, false)
	if inliers == nil {
		return fmt.Errorf("every held-out row is an outlier: lower -outliers or raise -test")
	}
	fmt.Fprintf(stdout, "synthetic rows against held-out inliers (mean, std):\n")
	for j, name := range features {
		a, b := mat.Col(nil, j, inliers), mat.Col(nil, j, synth)
		ma, sa := stat.MeanStdDev(a, nil)
		mb, sb := stat.MeanStdDev(b, nil)
		fmt.Fprintf(stdout, "  %-12s data %7.3f %6.3f   flow %7.3f %6.3f\n", name, ma, sa, mb, sb)
	}
	fmt.Fprintf(stdout, "  largest difference of correlation coefficients: %.3f\n", maxCorrDiff(inliers, synth))

	// 6. Plots.
	files := []string{"anomaly_pairs.png", "anomaly_scores.png", "anomaly_loss.png"}
	dense := mat.NewDense(max(20_000, *nTest), len(features), nil)
	flow.SampleBatch(dense, nil, rngSample)
	if err := pairPlot(filepath.Join(*out, files[0]), dense, test, flagged, isOutlier); err != nil {
		return err
	}
	if err := scorePlot(filepath.Join(*out, files[1]), testScores, isOutlier, threshold); err != nil {
		return err
	}
	lf, err := lossFigure(tr.History, "-mean log-density", "NSF training")
	if err != nil {
		return err
	}
	if err := lf.Save(filepath.Join(*out, files[2]), 5*vg.Inch, 3.5*vg.Inch); err != nil {
		return err
	}
	for _, f := range append(files, "synthetic.csv") {
		fmt.Fprintf(stdout, "wrote %s\n", filepath.Join(*out, f))
	}
	fmt.Fprintf(stdout, "total %.1fs\n", time.Since(start).Seconds())
	return nil
}

// generate returns n rows of the machine table and marks the rows that are
// injected outliers (a fraction frac, at random positions).
//
// A normal row: load ~ N(0, 1); log power = 0.4·load + 0.3·ε (log-normal,
// increasing with load); temperature = 0.5·load² − 0.5 + 0.5·ε (a curved
// dependence); mode = ±1.5 + 0.4·ε with the + regime more likely at high load;
// vibration = 0.3·mode + (0.3 + 0.2·|load|)·ε (noise growing with load). Each
// outlier breaks one of these rules by several conditional standard
// deviations (3.75 to 6), so that most outliers have marginal values well inside the
// normal range.
func generate(n int, frac float64, rng *rand.Rand) (*mat.Dense, []bool) {
	x := mat.NewDense(n, len(features), nil)
	outlier := make([]bool, n)
	for i := range n {
		load := rng.NormFloat64()
		logPower := 0.4*load + 0.3*rng.NormFloat64()
		temp := 0.5*load*load - 0.5 + 0.5*rng.NormFloat64()
		regime := -1.0
		if rng.Float64() < 1/(1+math.Exp(-2*load)) {
			regime = 1
		}
		mode := 1.5*regime + 0.4*rng.NormFloat64()
		scale := 0.3 + 0.2*math.Abs(load)
		vib := 0.3*mode + scale*rng.NormFloat64()
		if rng.Float64() < frac {
			outlier[i] = true
			switch rng.IntN(4) {
			case 0: // power far too high for the load: +1.5 in log, 5 sd.
				logPower += 1.5
			case 1: // too cold for the load: −2.5, 5 sd.
				temp -= 2.5
			case 2: // between the two regimes: about 3.75 sd from both.
				mode = 0.2 * rng.NormFloat64()
			case 3: // vibration 6 sd off.
				if rng.IntN(2) == 0 {
					vib += 6 * scale
				} else {
					vib -= 6 * scale
				}
			}
		}
		x.SetRow(i, []float64{load, math.Exp(logPower), temp, mode, vib})
	}
	return x, outlier
}

// rocAUC returns the area under the ROC curve of the rule "low score means
// positive": the Mann–Whitney probability that a positive row scores below a
// negative one, ties counting one half. It is NaN without both classes.
func rocAUC(scores []float64, positive []bool) float64 {
	var pos, neg []float64
	for i, s := range scores {
		if positive[i] {
			pos = append(pos, s)
		} else {
			neg = append(neg, s)
		}
	}
	if len(pos) == 0 || len(neg) == 0 {
		return math.NaN()
	}
	slices.Sort(neg)
	var sum float64
	for _, p := range pos {
		below, _ := slices.BinarySearch(neg, p) // negatives < p
		above := len(neg) - below               // negatives >= p
		ties := 0
		for k := below; k < len(neg) && neg[k] == p; k++ {
			ties++
		}
		sum += float64(above-ties) + 0.5*float64(ties)
	}
	return sum / float64(len(pos)*len(neg))
}

// sorted returns a sorted copy of v.
func sorted(v []float64) []float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s
}

// rowsWhere returns the rows i of x with mask[i] == want.
func rowsWhere(x *mat.Dense, mask []bool, want bool) *mat.Dense {
	var rows []int
	for i, m := range mask {
		if m == want {
			rows = append(rows, i)
		}
	}
	_, c := x.Dims()
	if len(rows) == 0 {
		return nil
	}
	out := mat.NewDense(len(rows), c, nil)
	for k, i := range rows {
		out.SetRow(k, x.RawRowView(i))
	}
	return out
}

// maxCorrDiff returns the largest absolute difference between the
// correlation matrices of a and b.
func maxCorrDiff(a, b *mat.Dense) float64 {
	var ca, cb mat.SymDense
	stat.CorrelationMatrix(&ca, a, nil)
	stat.CorrelationMatrix(&cb, b, nil)
	d := 0.0
	n := ca.SymmetricDim()
	for i := range n {
		for j := range i {
			d = max(d, math.Abs(ca.At(i, j)-cb.At(i, j)))
		}
	}
	return d
}

var (
	grey   = color.NRGBA{R: 0x90, G: 0x90, B: 0x90, A: 0x90}
	red    = color.NRGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}
	dark   = color.NRGBA{A: 0xff}
	flowCl = color.NRGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}
)

// pairPlot draws the flow's density contours (from the samples dense) in
// every 2-D projection, with the held-out rows on top: unflagged rows grey,
// flagged rows red, injected outliers circled in black.
func pairPlot(path string, dense, test *mat.Dense, flagged, isOutlier []bool) error {
	f, err := plots.NewPair(&plots.PairConfig{
		Labels: features,
		Levels: []float64{0.5, 0.9, 0.99},
		Title:  "flow density (contours) and held-out rows",
	}, plots.SampleSet{Name: "flow density", Samples: dense, Color: flowCl})
	if err != nil {
		return err
	}
	small := draw.GlyphStyle{Color: grey, Radius: vg.Points(0.8), Shape: draw.CircleGlyph{}}
	flag := draw.GlyphStyle{Color: red, Radius: vg.Points(1.8), Shape: draw.CircleGlyph{}}
	ring := draw.GlyphStyle{Color: dark, Radius: vg.Points(3), Shape: draw.RingGlyph{}}
	d := len(features)
	for i := 1; i < d; i++ {
		for j := range i {
			p := f.Panels[i][j]
			// The pair plot fixed the axis ranges; adding plotters would
			// widen them to the outliers, so keep and restore them. Points
			// outside the range are not drawn.
			xmin, xmax, ymin, ymax := p.X.Min, p.X.Max, p.Y.Min, p.Y.Max
			var normal, fl, out plotter.XYs
			for r := range flagged {
				pt := plotter.XY{X: test.At(r, j), Y: test.At(r, i)}
				if flagged[r] {
					fl = append(fl, pt)
				} else {
					normal = append(normal, pt)
				}
				if isOutlier[r] {
					out = append(out, pt)
				}
			}
			for _, s := range []struct {
				xys plotter.XYs
				sty draw.GlyphStyle
			}{{normal, small}, {fl, flag}, {out, ring}} {
				if len(s.xys) == 0 {
					continue
				}
				sc, err := plotter.NewScatter(s.xys)
				if err != nil {
					return err
				}
				sc.GlyphStyle = s.sty
				p.Add(sc)
			}
			p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = xmin, xmax, ymin, ymax
		}
	}
	f.Legend = append(f.Legend,
		plots.LegendEntry{Label: "held-out row", Thumbs: []plot.Thumbnailer{glyph(small)}},
		plots.LegendEntry{Label: "flagged", Thumbs: []plot.Thumbnailer{glyph(flag)}},
		plots.LegendEntry{Label: "injected outlier", Thumbs: []plot.Thumbnailer{glyph(ring)}},
	)
	return f.Save(path, 8*vg.Inch, 8*vg.Inch)
}

// glyph is a legend thumbnail showing one glyph.
type glyph draw.GlyphStyle

// Thumbnail draws the glyph in the middle of c.
func (g glyph) Thumbnail(c *draw.Canvas) {
	c.DrawGlyph(draw.GlyphStyle(g), c.Center())
}

// scorePlot draws histograms of the held-out log-densities of normal rows and
// injected outliers on common bins, with the flagging threshold.
func scorePlot(path string, scores []float64, isOutlier []bool, threshold float64) error {
	// Very low scores would squash the histogram: clip them at a floor
	// below the threshold and say so in the axis label.
	s := sorted(scores)
	median := stat.Quantile(0.5, stat.Empirical, s, nil)
	lo := min(threshold, max(s[0], threshold-1.5*(median-threshold)))
	hi := s[len(s)-1]
	const nBins = 40
	width := (hi - lo) / nBins
	newBins := func() []plotter.HistogramBin {
		b := make([]plotter.HistogramBin, nBins)
		for k := range b {
			b[k].Min, b[k].Max = lo+float64(k)*width, lo+float64(k+1)*width
		}
		return b
	}
	normal, out := newBins(), newBins()
	for i, v := range scores {
		k := min(nBins-1, max(0, int((v-lo)/width)))
		if isOutlier[i] {
			out[k].Weight++
		} else {
			normal[k].Weight++
		}
	}
	top := 0.0
	for _, b := range normal {
		top = max(top, b.Weight)
	}
	plot.DefaultFont = font.Font{Typeface: "Liberation", Variant: "Sans"}
	p := plot.New()
	p.Title.Text = "held-out log-densities under the flow"
	p.X.Label.Text = fmt.Sprintf("log-density (values below %.1f counted in the first bin)", lo)
	p.Y.Label.Text = "rows"
	for _, h := range []struct {
		bins []plotter.HistogramBin
		c    color.NRGBA
		name string
	}{
		{normal, color.NRGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xa0}, "normal rows"},
		{out, color.NRGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xc0}, "injected outliers"},
	} {
		hp := &plotter.Histogram{Bins: h.bins, Width: width, FillColor: h.c}
		p.Add(hp)
		p.Legend.Add(h.name, hp)
	}
	line, err := plotter.NewLine(plotter.XYs{{X: threshold, Y: 0}, {X: threshold, Y: top}})
	if err != nil {
		return err
	}
	line.LineStyle = draw.LineStyle{Color: dark, Width: vg.Points(1.2), Dashes: []vg.Length{vg.Points(4), vg.Points(3)}}
	p.Add(line)
	p.Legend.Add("threshold", line)
	p.Legend.Top = true
	p.Legend.Left = true
	return p.Save(6*vg.Inch, 4*vg.Inch, path)
}

// lossFigure plots the training and validation losses per epoch. An epoch
// whose validation loss was not finite (reported as +Inf) leaves out the
// validation curve, which the plot cannot draw.
func lossFigure(history []flows.EpochStats, ylabel, title string) (*plots.Figure, error) {
	train, val := make([]float64, len(history)), make([]float64, len(history))
	finite := true
	for i, h := range history {
		train[i], val[i] = h.TrainLoss, h.ValLoss
		finite = finite && !math.IsInf(h.ValLoss, 0) && !math.IsNaN(h.ValLoss)
	}
	if !finite {
		val = nil
	}
	return plots.NewLoss(train, val, &plots.LossConfig{YLabel: ylabel, Title: title})
}
