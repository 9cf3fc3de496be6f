// Command oscillator shows how to wrap your own simulator for gosbi and check
// the posterior it learns.
//
// The model is a damped harmonic oscillator,
//
//	x'' + 2γ·x' + ω²·x = 0,   x(0) = A,   x'(0) = 0,
//
// solved numerically (simulators/ode, an adaptive Runge–Kutta solver) and
// observed at 40 time points t = 0.25, 0.5, …, 10 s with Gaussian measurement
// noise of standard deviation 0.1. The three parameters get a mixed prior
// built from gonum's distributions with dist.NewIndependent:
//
//	ω (natural frequency, rad/s) ~ Uniform(0.5, 3)
//	γ (damping rate, 1/s)        ~ Gamma(shape 2, rate 8)     (mean 0.25)
//	A (initial displacement)     ~ LogNormal(0, 0.5)          (median 1)
//
// The program runs neural posterior estimation with an MLP embedding net
// that compresses the 40-point series into 20 features while the flow
// trains, and then draws
//
//   - a pair plot of the posterior at a simulated observation, with the true
//     parameters marked;
//   - a posterior predictive plot: the observed series against bands of
//     series simulated from posterior draws;
//   - simulation-based calibration (SBC) rank histograms and an expected
//     coverage plot over -tests fresh simulations, which check that the
//     posterior is calibrated on average over the prior, not only at one
//     observation.
//
// Run it with
//
//	go run ./examples/oscillator -out out
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/gonum/stat/distuv"
	"gonum.org/v1/plot/vg"

	"github.com/gosbi/gosbi/diagnostics"
	"github.com/gosbi/gosbi/dist"
	"github.com/gosbi/gosbi/flows"
	"github.com/gosbi/gosbi/plots"
	"github.com/gosbi/gosbi/sbi"
	"github.com/gosbi/gosbi/simulators"
	"github.com/gosbi/gosbi/simulators/ode"
)

// The observation design of the experiment.
const (
	nTimes = 40   // number of observation times
	dt     = 0.25 // spacing of the observation times, s
	noise  = 0.1  // standard deviation of the measurement noise
)

var labels = []string{"ω (rad/s)", "γ (1/s)", "A"}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "oscillator:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("oscillator", flag.ContinueOnError)
	nSim := fs.Int("simulations", 10_000, "simulation budget for training")
	nSamples := fs.Int("samples", 5000, "number of posterior samples at the observation")
	nTests := fs.Int("tests", 200, "number of SBC and coverage tests (fresh simulations)")
	nRanks := fs.Int("sbc-samples", 100, "posterior draws per SBC and coverage test")
	nPred := fs.Int("predictive", 500, "number of posterior predictive simulations")
	maxEpochs := fs.Int("epochs", 0, "cap on training epochs (0: train until early stopping)")
	thetaFlag := fs.String("theta", "1.8,0.15,1.3", "true ω,γ,A of the observation")
	seed := fs.Uint64("seed", 1, "random seed")
	out := fs.String("out", "out", "output folder for the plots")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *nSim < 50 || *nSamples < 10 || *nTests < 2 || *nRanks < 2 || *nPred < 2 || *maxEpochs < 0 {
		return fmt.Errorf("-simulations must be at least 50, -samples 10, -tests, -sbc-samples and -predictive 2, and -epochs not negative")
	}
	truth, err := parseTheta(*thetaFlag)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	start := time.Now()
	rng := rand.New(rand.NewPCG(*seed, 0))

	// The prior: any gonum distuv continuous distribution (or anything with
	// LogProb and Quantile methods) can be a component.
	prior, err := dist.NewIndependent(
		distuv.Uniform{Min: 0.5, Max: 3},
		distuv.Gamma{Alpha: 2, Beta: 8},
		distuv.LogNormal{Mu: 0, Sigma: 0.5},
	)
	if err != nil {
		return err
	}
	if math.IsInf(prior.LogProb(truth), -1) {
		return fmt.Errorf("-theta %v is outside the prior's support", truth)
	}
	sim, err := newOscillator()
	if err != nil {
		return err
	}

	// The observation: in a real study this is your measured series.
	xo, err := sim.Run(ctx, nil, truth, rng)
	if err != nil {
		return err
	}

	// Training data: θ from the prior, x from the simulator.
	sims, err := simulators.Simulate(ctx, sim, prior, *nSim, rng, nil)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "simulation: %s\n", sims.Report)

	// NPE with an embedding net: the MLP (sbi's FCEmbedding: 2 hidden layers
	// of 40 units, 20 outputs) is trained jointly with the flow, so the flow
	// conditions on 20 learned features of the series instead of 40 raw
	// values.
	npe, err := sbi.NewNPE(prior, &sbi.NPEConfig{Embedding: sbi.MLPEmbedding{}})
	if err != nil {
		return err
	}
	if _, err := npe.AppendSimulations(sims.Data.Theta, sims.Data.X, nil); err != nil {
		return err
	}
	tr, err := npe.Train(ctx, rng, &sbi.TrainSettings{Settings: flows.Settings{
		MaxEpochs: *maxEpochs,
		OnEpoch: func(s flows.EpochStats) error {
			if s.Epoch%25 == 0 {
				fmt.Fprintf(stdout, "  epoch %3d: validation log-prob %.3f (best %.3f at epoch %d)\n",
					s.Epoch, -s.ValLoss, -s.BestValLoss, s.BestEpoch)
			}
			return nil
		},
	}})
	if err != nil {
		return fmt.Errorf("training: %w", err)
	}
	fmt.Fprintf(stdout, "training: %d epochs in %.1fs, best validation log-prob %.3f\n",
		tr.Epochs, tr.Runtime.Seconds(), -tr.BestValLoss)
	post, err := npe.Posterior(nil)
	if err != nil {
		return err
	}

	// The posterior at the observation.
	atXo, err := post.At(xo)
	if err != nil {
		return err
	}
	s, err := atXo.SampleN(ctx, *nSamples, rng)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "posterior at x_o (%d samples, acceptance %.3f):\n", *nSamples, s.AcceptanceRate)
	for j, name := range labels {
		col := mat.Col(nil, j, s.Samples)
		m, sd := stat.MeanStdDev(col, nil)
		fmt.Fprintf(stdout, "  %-10s mean %.3f, std %.3f, true %.3f\n", name, m, sd, truth[j])
	}
	files := []string{"oscillator_posterior.png", "oscillator_predictive.png", "oscillator_sbc.png", "oscillator_coverage.png"}
	pair, err := plots.NewPair(&plots.PairConfig{
		Labels: labels,
		Truth:  truth,
		Title:  "damped oscillator: posterior at the observation",
	}, plots.SampleSet{Name: "NPE posterior", Samples: s.Samples})
	if err != nil {
		return err
	}
	if err := pair.Save(filepath.Join(*out, files[0]), 6*vg.Inch, 6*vg.Inch); err != nil {
		return err
	}

	// Posterior predictive check: simulate series at posterior draws. If the
	// model and posterior are right, the observed series looks like one of
	// them.
	predTheta := s.Samples.Slice(0, min(*nPred, *nSamples), 0, 3).(*mat.Dense)
	pred, err := simulators.SimulateAt(ctx, sim, predTheta, rng, nil)
	if err != nil {
		return err
	}
	kept, _, err := pred.Data.FilterInvalid()
	if err != nil {
		return err
	}
	times := make([]float64, nTimes)
	for k := range times {
		times[k] = dt * float64(k+1)
	}
	pp, err := plots.NewPredictive(xo, kept.X, &plots.PredictiveConfig{
		X: times, XLabel: "time (s)", YLabel: "displacement",
		Title: "posterior predictive check",
	})
	if err != nil {
		return err
	}
	if err := pp.Save(filepath.Join(*out, files[1]), 6*vg.Inch, 3.5*vg.Inch); err != nil {
		return err
	}

	// Calibration over the prior. Each test draws θ_i from the prior,
	// simulates x_i, and ranks θ_i among posterior draws at x_i: a calibrated
	// posterior gives uniform ranks (SBC) and an expected-coverage curve on
	// the diagonal. The leakage correction of LogProb is a constant per x_i
	// and does not change the ranks of the coverage test, so it is switched
	// off to save time.
	tests, err := simulators.Simulate(ctx, sim, prior, *nTests, rng, nil)
	if err != nil {
		return err
	}
	testData, _, err := tests.Data.FilterInvalid()
	if err != nil {
		return err
	}
	fast, err := post.WithSettings(&sbi.PosteriorSettings{NoLeakageCorrection: true})
	if err != nil {
		return err
	}
	sbc, err := diagnostics.SBC(ctx, fast, testData.Theta, testData.X, *nRanks, rng, nil)
	if err != nil {
		return err
	}
	cov, err := diagnostics.Coverage(ctx, fast, testData.Theta, testData.X, *nRanks, rng, nil)
	if err != nil {
		return err
	}
	nt := testData.Len()
	fmt.Fprintf(stdout, "calibration over %d tests with %d posterior draws each:\n", nt, *nRanks)
	for j, name := range labels {
		fmt.Fprintf(stdout, "  %-10s SBC rank KS p-value %.3f\n", name, sbc.KSPValue[j])
	}
	fmt.Fprintf(stdout, "  expected coverage: mean error %+.3f (negative: overconfident), KS p-value %.3f\n",
		cov.MeanError, cov.KSPValue)

	rh, err := plots.NewRankHist(sbc.Ranks, sbc.NumSamples, &plots.RankConfig{
		Labels: labels, Cols: 3, Title: "SBC rank histograms",
	})
	if err != nil {
		return err
	}
	if err := rh.Save(filepath.Join(*out, files[2]), 8*vg.Inch, 3*vg.Inch); err != nil {
		return err
	}
	cp, err := plots.NewCoverage(&plots.CoverageConfig{N: nt, Title: "expected coverage of HPD regions"},
		plots.CoverageCurve{Name: "NPE", Nominal: cov.Levels, Empirical: cov.Coverage})
	if err != nil {
		return err
	}
	if err := cp.Save(filepath.Join(*out, files[3]), 4.5*vg.Inch, 4.5*vg.Inch); err != nil {
		return err
	}
	for _, f := range files {
		fmt.Fprintf(stdout, "wrote %s\n", filepath.Join(*out, f))
	}
	fmt.Fprintf(stdout, "total %.1fs\n", time.Since(start).Seconds())
	return nil
}

// oscillator is the simulator: it implements simulators.Simulator with Dims
// and Run. Simulate calls Run from several goroutines at once, and an ODE
// solver owns scratch space, so every call takes a solver from a pool.
type oscillator struct {
	solvers sync.Pool
	times   []float64
}

var _ simulators.Simulator = (*oscillator)(nil)

func newOscillator() (*oscillator, error) {
	// Fail early on bad solver settings rather than inside the pool.
	if _, err := ode.NewDormandPrince(2, nil); err != nil {
		return nil, err
	}
	o := &oscillator{times: make([]float64, nTimes)}
	for k := range o.times {
		o.times[k] = dt * float64(k+1)
	}
	o.solvers.New = func() any {
		dp, _ := ode.NewDormandPrince(2, nil) // checked above
		return &solver{dp: dp, y: make([]float64, 2*nTimes)}
	}
	return o, nil
}

// solver is an ODE solver with its output buffer.
type solver struct {
	dp *ode.DormandPrince
	y  []float64
}

// Dims returns the lengths of θ = (ω, γ, A) and of x, the observed series.
func (o *oscillator) Dims() (theta, x int) { return 3, nTimes }

// Run solves the oscillator's equation for θ and adds measurement noise
// drawn from rng. An ODE failure (which cannot happen inside the prior's
// support, but could for a θ given by hand) is returned as an error, which
// Simulate counts as a failed simulation.
func (o *oscillator) Run(ctx context.Context, dst, theta []float64, rng *rand.Rand) ([]float64, error) {
	if dst == nil {
		dst = make([]float64, nTimes)
	}
	omega, gamma, amp := theta[0], theta[1], theta[2]
	s := o.solvers.Get().(*solver)
	defer o.solvers.Put(s)
	// State y = (x, v): x' = v, v' = -2γv - ω²x.
	f := func(_ float64, y, dydt []float64) {
		dydt[0] = y[1]
		dydt[1] = -2*gamma*y[1] - omega*omega*y[0]
	}
	if _, err := s.dp.Solve(f, 0, []float64{amp, 0}, o.times, s.y); err != nil {
		return nil, fmt.Errorf("oscillator at θ = %v: %w", theta, err)
	}
	for k := range nTimes {
		dst[k] = s.y[2*k] + noise*rng.NormFloat64()
	}
	return dst, nil
}

// parseTheta parses "ω,γ,A".
func parseTheta(s string) ([]float64, error) {
	parts := strings.Split(s, ",")
	if len(parts) != 3 {
		return nil, fmt.Errorf("-theta %q: want three comma-separated numbers ω,γ,A", s)
	}
	theta := make([]float64, 3)
	for i, p := range parts {
		v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("-theta %q: %q is not a finite number", s, p)
		}
		theta[i] = v
	}
	return theta, nil
}
