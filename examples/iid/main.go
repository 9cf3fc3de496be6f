// Command iid infers the parameters of a model observed through many
// independent, identically distributed trials, in two ways.
//
// The model is a drift-diffusion model of two-choice decisions, as used in
// cognitive science: on each trial evidence starts half-way between two
// boundaries 0 and a and drifts with rate v plus unit Brownian noise until it
// hits one of them; the response time is that first-passage time plus a
// non-decision time τ. A trial is recorded as one number, the response time
// signed by the choice (+ for the upper boundary). One observation is -trials
// such trials from one participant, and θ = (v, a, τ) has a uniform prior.
//
// The likelihood of a trial has no simple closed form, so:
//
//   - NLE learns the density of a single trial, q(x | θ), from simulations of
//     one trial each. Because trials are independent, the likelihood of an
//     observation is the product over its trials, and the MCMC posterior sums
//     log q(x_j | θ) over the rows of the observation matrix. One trained
//     network works for any number of trials.
//   - NPE learns q(θ | x_1..x_n) directly from simulated data sets of n
//     trials. Since the order of trials carries no information, x is first
//     summarised by a permutation-invariant embedding (sbi.DeepSetsEmbedding:
//     a network applied to every trial, averaged over trials, then another
//     network), trained jointly with the flow.
//
// The program prints both posteriors with their run times and draws them in
// one pair plot with the true parameters.
//
//	go run ./examples/iid -out out
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
	"time"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/plot/vg"

	"github.com/gosbi/gosbi/dist"
	"github.com/gosbi/gosbi/flows"
	"github.com/gosbi/gosbi/plots"
	"github.com/gosbi/gosbi/sbi"
	"github.com/gosbi/gosbi/simulators"
)

var labels = []string{"drift v", "boundary a", "non-decision τ"}

// Simulation constants of the diffusion: Euler–Maruyama step and the
// longest decision time simulated (a trial still undecided then is
// answered by the nearer boundary; with a ≤ 2 this has probability below
// 1e-8).
const (
	dtStep  = 1e-3
	maxTime = 10.0
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "iid:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("iid", flag.ContinueOnError)
	trials := fs.Int("trials", 20, "trials per observation")
	nNLE := fs.Int("nle-simulations", 10_000, "NLE budget: single-trial simulations")
	nNPE := fs.Int("npe-simulations", 5000, "NPE budget: simulated data sets of -trials trials each")
	nSamples := fs.Int("samples", 2000, "posterior samples per method")
	maxEpochs := fs.Int("epochs", 0, "cap on training epochs (0: early stopping)")
	warmup := fs.Int("warmup", 200, "MCMC warmup steps per chain")
	seed := fs.Uint64("seed", 1, "random seed")
	out := fs.String("out", "out", "output folder for the plots")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *trials < 1 || *nNLE < 50 || *nNPE < 50 || *nSamples < 10 || *maxEpochs < 0 || *warmup < 1 {
		return fmt.Errorf("-trials must be at least 1, -nle-simulations and -npe-simulations at least 50, -samples and -warmup at least 10 and 1, -epochs not negative")
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	start := time.Now()
	rng := rand.New(rand.NewPCG(*seed, 0))
	prior, err := dist.NewBoxUniform([]float64{-2, 0.5, 0.1}, []float64{2, 2, 0.5})
	if err != nil {
		return err
	}
	oneTrial := ddm(1)
	manyTrials := ddm(*trials)

	// The observation: -trials trials of one participant, one per row.
	truth := []float64{1, 1.2, 0.3}
	obs, err := manyTrials.Run(ctx, nil, truth, rng)
	if err != nil {
		return err
	}
	xo := mat.NewDense(*trials, 1, obs)
	upper := 0
	for _, v := range obs {
		if v > 0 {
			upper++
		}
	}
	fmt.Fprintf(stdout, "observation: %d trials at v=%.2f, a=%.2f, τ=%.2f; %d upper responses, mean |RT| %.3f s\n",
		*trials, truth[0], truth[1], truth[2], upper, meanAbs(obs))
	train := &sbi.TrainSettings{Settings: flows.Settings{MaxEpochs: *maxEpochs}}

	// NLE on single trials. The trial density is bimodal (one mode per
	// choice, with a gap of 2τ around zero), which an affine flow cannot
	// represent in one dimension: use a neural spline flow.
	t0 := time.Now()
	sims, err := simulators.Simulate(ctx, oneTrial, prior, *nNLE, rng, nil)
	if err != nil {
		return err
	}
	nle, err := sbi.NewNLE(prior, &sbi.NLEConfig{Estimator: flows.NSF{}})
	if err != nil {
		return err
	}
	if _, err := nle.AppendSimulations(sims.Data.Theta, sims.Data.X, nil); err != nil {
		return err
	}
	nleTrain, err := nle.Train(ctx, rng, train)
	if err != nil {
		return fmt.Errorf("NLE training: %w", err)
	}
	mcmcPost, err := nle.Posterior(&sbi.MCMCSettings{Warmup: *warmup})
	if err != nil {
		return err
	}
	nleRes, err := mcmcPost.Sample(ctx, xo, *nSamples, rng) // sums over the rows of xo
	if err != nil {
		return fmt.Errorf("MCMC: %w", err)
	}
	fmt.Fprintf(stdout, "NLE: %d single-trial simulations, %d epochs; MCMC %.1fs; total %.1fs\n",
		*nNLE, nleTrain.Epochs, nleRes.Runtime.Seconds(), time.Since(t0).Seconds())
	fmt.Fprintf(stdout, "  R-hat %.3f\n", nleRes.RHat)

	// NPE on whole data sets, with a permutation-invariant embedding.
	t0 = time.Now()
	sets, err := simulators.Simulate(ctx, manyTrials, prior, *nNPE, rng, nil)
	if err != nil {
		return err
	}
	npe, err := sbi.NewNPE(prior, &sbi.NPEConfig{Embedding: sbi.DeepSetsEmbedding{TrialDim: 1, Trials: *trials}})
	if err != nil {
		return err
	}
	if _, err := npe.AppendSimulations(sets.Data.Theta, sets.Data.X, nil); err != nil {
		return err
	}
	npeTrain, err := npe.Train(ctx, rng, train)
	if err != nil {
		return fmt.Errorf("NPE training: %w", err)
	}
	post, err := npe.Posterior(nil)
	if err != nil {
		return err
	}
	atXo, err := post.At(obs) // NPE takes the trials as one flat vector
	if err != nil {
		return err
	}
	npeRes, err := atXo.SampleN(ctx, *nSamples, rng)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "NPE: %d data sets (%d trials), %d epochs; sampling %.2fs; total %.1fs\n",
		*nNPE, *nNPE**trials, npeTrain.Epochs, npeRes.Runtime.Seconds(), time.Since(t0).Seconds())

	fmt.Fprintf(stdout, "posterior mean ± std:\n")
	for j, name := range labels {
		ml, sl := stat.MeanStdDev(mat.Col(nil, j, nleRes.Samples), nil)
		mn, sn := stat.MeanStdDev(mat.Col(nil, j, npeRes.Samples), nil)
		fmt.Fprintf(stdout, "  %-15s NLE %.3f ± %.3f   NPE %.3f ± %.3f   true %.3f\n", name, ml, sl, mn, sn, truth[j])
	}

	pair, err := plots.NewPair(&plots.PairConfig{
		Labels: labels, Truth: truth,
		Title: fmt.Sprintf("drift-diffusion model, %d i.i.d. trials", *trials),
	},
		plots.SampleSet{Name: "NLE (sum over trials) + MCMC", Samples: nleRes.Samples},
		plots.SampleSet{Name: "NPE with DeepSets embedding", Samples: npeRes.Samples},
	)
	if err != nil {
		return err
	}
	file := filepath.Join(*out, "iid_posteriors.png")
	if err := pair.Save(file, 6.5*vg.Inch, 6.5*vg.Inch); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s\n", file)
	fmt.Fprintf(stdout, "total %.1fs\n", time.Since(start).Seconds())
	return nil
}

// ddm returns the drift-diffusion simulator of n trials per call: x_j is the
// signed response time of trial j.
func ddm(n int) simulators.SimulatorFunc {
	sqdt := math.Sqrt(dtStep)
	return simulators.SimulatorFunc{ThetaDim: 3, XDim: n,
		F: func(ctx context.Context, dst, theta []float64, rng *rand.Rand) ([]float64, error) {
			if dst == nil {
				dst = make([]float64, n)
			}
			v, a, tau := theta[0], theta[1], theta[2]
			for j := range n {
				x, t := a/2, 0.0
				for x > 0 && x < a && t < maxTime {
					x += v*dtStep + sqdt*rng.NormFloat64()
					t += dtStep
				}
				rt := tau + t
				if x > a/2 { // the upper boundary (or nearer to it at maxTime)
					dst[j] = rt
				} else {
					dst[j] = -rt
				}
			}
			return dst, nil
		}}
}

func meanAbs(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += math.Abs(x)
	}
	return s / float64(len(v))
}
