package plots_test

import (
	"fmt"
	"image/png"
	"log"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/plot/vg"

	"github.com/gosbi/gosbi/plots"
)

// pngSize returns the pixel size of a PNG file.
func pngSize(path string) string {
	f, err := os.Open(path)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	cfg, err := png.DecodeConfig(f)
	if err != nil {
		log.Fatal(err)
	}
	return fmt.Sprintf("%dx%d", cfg.Width, cfg.Height)
}

// This example compares an estimated posterior with reference samples in a
// corner plot and saves it as PNG (and, by extension, SVG or PDF).
func ExampleNewPair() {
	rng := rand.New(rand.NewPCG(1, 2))
	draw := func(n int, shift float64) *mat.Dense {
		m := mat.NewDense(n, 3, nil)
		for i := range n {
			z := rng.NormFloat64()
			for j := range 3 {
				m.Set(i, j, 0.8*z+0.6*rng.NormFloat64()+shift+float64(j))
			}
		}
		return m
	}
	fig, err := plots.NewPair(&plots.PairConfig{
		Labels: []string{"α", "β", "γ"},
		Truth:  []float64{0.1, 1.1, 2.1},
	},
		plots.SampleSet{Name: "gosbi NPE", Samples: draw(5000, 0.1)},
		plots.SampleSet{Name: "reference", Samples: draw(5000, 0)},
	)
	if err != nil {
		log.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "plots-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "pair.png")
	if err := fig.Save(path, 6*vg.Inch, 6*vg.Inch); err != nil {
		log.Fatal(err)
	}
	fmt.Println("panels:", len(fig.Panels), "x", len(fig.Panels[0]))
	fmt.Println("pair.png:", pngSize(path), "pixels")
	// Output:
	// panels: 3 x 3
	// pair.png: 576x576 pixels
}

// This example computes the 99% band of an SBC rank-histogram bin holding 4 of
// 101 rank values, for 500 SBC runs.
func ExampleBinomialInterval() {
	lo, hi, err := plots.BinomialInterval(500, 4.0/101, 0.99)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("expected %.1f, band [%d, %d]\n", 500*4.0/101, lo, hi)
	// Output:
	// expected 19.8, band [10, 32]
}

// This example computes the 95% simultaneous band for the ECDF of 100 uniform
// PIT values at 50 points: the adjusted pointwise level γ is about ten times
// smaller than 5%.
func ExampleSimultaneousBand() {
	b, err := plots.SimultaneousBand(100, 50, 0, 0.95, 1000, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		log.Fatal(err)
	}
	mid := len(b.Z) / 2
	fmt.Printf("γ < 0.01: %v\n", b.Gamma < 0.01)
	fmt.Printf("band at z=%.1f: [%.2f, %.2f]\n", b.Z[mid], b.Lower[mid], b.Upper[mid])
	// Output:
	// γ < 0.01: true
	// band at z=0.5: [0.36, 0.64]
}

// This example plots training and validation losses with the best epoch marked.
func ExampleNewLoss() {
	train := []float64{2.1, 1.2, 0.8, 0.6, 0.5, 0.45, 0.42}
	val := []float64{2.2, 1.3, 0.9, 0.75, 0.7, 0.72, 0.74}
	fig, err := plots.NewLoss(train, val, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(fig.Legend[2].Label)
	// Output:
	// best epoch 5 (0.7)
}

// This example draws SBC rank histograms for two parameters of 400 runs with 99
// posterior draws each: 400/20 = 20 bins of 5 rank values.
func ExampleNewRankHist() {
	rng := rand.New(rand.NewPCG(3, 3))
	ranks := make([][]int, 400)
	for i := range ranks {
		ranks[i] = []int{rng.IntN(100), rng.IntN(100)}
	}
	fig, err := plots.NewRankHist(ranks, 99, &plots.RankConfig{Labels: []string{"a", "b"}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(fig.Panels), "x", len(fig.Panels[0]), "panels;", fig.Legend[1].Label)
	// Output:
	// 1 x 2 panels; 99% band of uniform counts (N = 400)
}

// This example draws an expected-coverage plot with the binomial band of 200
// test cases.
func ExampleNewCoverage() {
	levels := []float64{0, 0.25, 0.5, 0.75, 1}
	fig, err := plots.NewCoverage(&plots.CoverageConfig{N: 200},
		plots.CoverageCurve{Name: "NPE", Nominal: levels, Empirical: []float64{0, 0.2, 0.44, 0.71, 1}})
	if err != nil {
		log.Fatal(err)
	}
	for _, e := range fig.Legend {
		fmt.Println(e.Label)
	}
	// Output:
	// 95% binomial band (N = 200)
	// NPE
	// ideal
}

// This example draws MCMC traces of two chains with a shaded warm-up phase.
func ExampleNewTrace() {
	rng := rand.New(rand.NewPCG(4, 4))
	chains := []*mat.Dense{mat.NewDense(500, 2, nil), mat.NewDense(500, 2, nil)}
	for _, c := range chains {
		x := []float64{3, -3}
		for i := range 500 {
			for j := range x {
				x[j] = 0.9*x[j] + 0.4*rng.NormFloat64()
				c.Set(i, j, x[j])
			}
		}
	}
	fig, err := plots.NewTrace(chains, &plots.TraceConfig{Warmup: 100})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(fig.Panels), "panels,", len(fig.Legend), "chains")
	// Output:
	// 2 panels, 2 chains
}

// This example compares an observed series with posterior predictive
// simulations.
func ExampleNewPredictive() {
	rng := rand.New(rand.NewPCG(5, 5))
	obs := make([]float64, 20)
	sims := mat.NewDense(300, 20, nil)
	for t := range obs {
		obs[t] = math.Sin(float64(t) / 3)
		for s := range 300 {
			sims.Set(s, t, math.Sin(float64(t)/3)+0.3*rng.NormFloat64())
		}
	}
	fig, err := plots.NewPredictive(obs, sims, &plots.PredictiveConfig{XLabel: "time"})
	if err != nil {
		log.Fatal(err)
	}
	for _, e := range fig.Legend {
		fmt.Println(e.Label)
	}
	// Output:
	// observed
	// posterior predictive median
	// 50% interval
	// 90% interval
}

// This example draws ECDF-difference plots of SBC ranks with the 95%
// simultaneous band of Säilynoja et al. (2022).
func ExampleNewECDFDiff() {
	rng := rand.New(rand.NewPCG(6, 6))
	ranks := make([][]int, 300)
	for i := range ranks {
		ranks[i] = []int{rng.IntN(100)}
	}
	fig, err := plots.NewECDFDiff(ranks, 99, &plots.ECDFConfig{Seed: 1})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(fig.Legend[1].Label)
	// Output:
	// 95% simultaneous band (N = 300)
}

// This example draws autocorrelation plots for one chain of two parameters.
func ExampleNewAutocorr() {
	rng := rand.New(rand.NewPCG(7, 7))
	chain := mat.NewDense(1000, 2, nil)
	x := []float64{0, 0}
	for i := range 1000 {
		for j := range x {
			x[j] = 0.5*x[j] + rng.NormFloat64()
			chain.Set(i, j, x[j])
		}
	}
	fig, err := plots.NewAutocorr([]*mat.Dense{chain}, &plots.AutocorrConfig{MaxLag: 20})
	if err != nil {
		log.Fatal(err)
	}
	p := fig.Panels[0][0]
	fmt.Printf("%s: lags %.0f to %.0f\n", p.Title.Text, p.X.Min, p.X.Max)
	// Output:
	// θ1: lags 0 to 20
}

// This example draws a TARP plot with bootstrap bounds around the expected
// coverage probability.
func ExampleNewTARP() {
	alpha := []float64{0, 0.2, 0.4, 0.6, 0.8, 1}
	ecp := []float64{0, 0.18, 0.41, 0.62, 0.79, 1}
	lo := []float64{0, 0.12, 0.33, 0.55, 0.74, 1}
	hi := []float64{0, 0.24, 0.48, 0.68, 0.84, 1}
	fig, err := plots.NewTARP(nil, plots.CoverageCurve{Name: "NPE", Nominal: alpha, Empirical: ecp, Lower: lo, Upper: hi})
	if err != nil {
		log.Fatal(err)
	}
	p := fig.Panels[0][0]
	fmt.Printf("%s vs %s\n", p.Y.Label.Text, p.X.Label.Text)
	// Output:
	// expected coverage probability vs credibility level α
}
