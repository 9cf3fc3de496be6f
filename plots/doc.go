// Package plots draws the figures of a simulation-based inference workflow on
// gonum/plot: pair (corner) plots of posterior samples, training-loss curves,
// MCMC trace and autocorrelation plots, SBC rank histograms, ECDF-difference
// plots with simultaneous bands, expected-coverage and TARP calibration plots,
// and posterior predictive checks.
//
// The package imports nothing else of gosbi. It takes plain numbers: samples
// and chains as *mat.Dense with one sample (draw) per row and one parameter per
// column, series as []float64, SBC ranks as [][]int (one run per row), PIT
// values as *mat.Dense, and small structs defined here (SampleSet,
// CoverageCurve). Results of other gosbi packages convert to these directly.
//
// # Figures
//
// Every constructor (NewPair, NewLoss, NewTrace, NewAutocorr, NewRankHist,
// NewECDFDiff, NewECDFDiffPIT, NewCoverage, NewTARP, NewPredictive, NewC2ST)
// returns a *Figure: a grid of ordinary *plot.Plot panels, aligned with
// plot.Align, with an optional title and legend. Panels may be restyled or receive more plotters
// before saving. Figure.Save writes a file whose format follows the extension
// (.png, .svg, .pdf, .jpg, .tif, .eps, .tex); Figure.WriterTo writes to any
// io.Writer and Figure.Draw onto any draw.Canvas. Sizes are vg.Length values;
// raster formats use Figure.DPI (default 96, so a 6-inch PNG is 576 pixels
// wide). EPS has no transparency (translucent fills come out opaque) and
// gonum/plot v0.17 writes its header as "%%!PS"; prefer PDF or SVG for vector
// output.
//
// Every constructor takes a config struct (PairConfig, LossConfig, ...) whose
// zero value, and a nil pointer, means the documented defaults.
//
// # Statistics
//
// The bands are exact where that is cheap: SBC histogram bands and calibration
// bands use exact binomial quantiles (BinomialQuantile, BinomialInterval), with
// per-bin probabilities when the rank values do not split evenly into bins.
// The ECDF-difference bands are simultaneous bands computed by the simulation
// method of Säilynoja, Bürkner and Vehtari (2022), see SimultaneousBand; the
// simulation uses a PCG generator seeded from ECDFConfig.Seed, so figures are
// reproducible. Pair-plot contours enclose the highest-density regions of a
// Gaussian-smoothed 2-D histogram that hold the requested credibility mass (as
// corner.py computes them) and are traced by marching squares.
//
// # Errors and panics
//
// Constructors validate their input and return errors wrapping the sentinels
// ErrEmpty (nothing to plot), ErrShape (lengths or dimensions disagree),
// ErrNonFinite (NaN or infinite data) and ErrInvalid (settings or values out of
// range); Save and WriterTo add ErrFormat (unknown extension). Test them with
// errors.Is. Figure.Draw panics on an empty or ragged Panels grid, which Save
// reports as an error instead; SimultaneousBand panics on a nil *rand.Rand.
//
// Nothing in this package prints or reads a global random generator.
package plots
