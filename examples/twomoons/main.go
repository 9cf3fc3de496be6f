// Command twomoons runs neural posterior estimation (NPE) on the two-moons
// benchmark task of sbibm (Lueckmann et al. 2021) and draws the posterior as a
// pair plot.
//
// Two moons has two parameters with a uniform prior on [-1, 1]² and a
// two-dimensional observation; its posterior is a thin crescent, often with
// two modes, which makes it a standard visual check for a density estimator.
// The program goes through the steps of amortised NPE one by one:
//
//  1. draw θ from the prior and simulate x for each (simulators.Simulate);
//  2. train a conditional normalizing flow q(θ | x) on the pairs (sbi.NPE);
//  3. condition it on the observation x_o and sample the posterior;
//  4. plot the samples (plots.NewPair) and the training loss.
//
// With -data pointing to a folder of sbibm reference data (the one holding
// two_moons/num_observation_1/...), the observation comes from there, the
// reference posterior samples are overlaid on the pair plot, and a classifier
// two-sample test (C2ST; 0.5 means indistinguishable) compares the two sample
// sets. Without it, a true θ is drawn from the prior and x_o simulated from it.
//
//	go run ./examples/twomoons -out out
//	go run ./examples/twomoons -data ../shared/sbibm -obs 1 -out out
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
	"time"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/plot/vg"

	"github.com/gosbi/gosbi/diagnostics"
	"github.com/gosbi/gosbi/flows"
	"github.com/gosbi/gosbi/plots"
	"github.com/gosbi/gosbi/sbi"
	"github.com/gosbi/gosbi/simulators"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "twomoons:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("twomoons", flag.ContinueOnError)
	nSim := fs.Int("simulations", 10_000, "simulation budget")
	nSamples := fs.Int("samples", 10_000, "number of posterior samples")
	maxEpochs := fs.Int("epochs", 0, "cap on training epochs (0: train until early stopping)")
	estimator := fs.String("estimator", "maf", `density estimator: "maf", "nsf" or "maf_rqs"`)
	dataDir := fs.String("data", "", "folder of sbibm reference data (empty: no reference overlay)")
	obs := fs.Int("obs", 1, "sbibm observation number, with -data")
	seed := fs.Uint64("seed", 1, "random seed")
	out := fs.String("out", "out", "output folder for the plots")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *nSim < 50 || *nSamples < 10 || *maxEpochs < 0 {
		return fmt.Errorf("-simulations must be at least 50, -samples at least 10 and -epochs not negative")
	}
	// EstimatorByName returns sbi's default architecture of that name.
	est, err := sbi.EstimatorByName(*estimator)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	start := time.Now()
	rng := rand.New(rand.NewPCG(*seed, 0))

	// The sbibm tasks come with their prior (a dist.Distribution) and
	// simulator (a simulators.Simulator). Your own model plugs in the same
	// way: see the oscillator example.
	task, err := simulators.NewTask("two_moons", "")
	if err != nil {
		return err
	}

	// The observation x_o and, when known, the parameters that produced it.
	var xo, truth []float64
	var ref *mat.Dense
	if *dataDir != "" {
		r, err := simulators.LoadReference(*dataDir, task.Name, *obs)
		if err != nil {
			return err
		}
		xo, truth, ref = r.Observation, r.TrueParameters, r.PosteriorSamples
		fmt.Fprintf(stdout, "observation %d from %s: x_o = %.4f, true θ = %.4f\n", *obs, *dataDir, xo, truth)
	} else {
		truth = task.Prior.Sample(nil, rng)
		if xo, err = task.Simulator.Run(ctx, nil, truth, rng); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "simulated observation: x_o = %.4f from θ = %.4f\n", xo, truth)
	}

	// 1. Simulate. Simulate runs in parallel and is reproducible: the result
	// depends on rng only, not on the number of workers.
	sims, err := simulators.Simulate(ctx, task.Simulator, task.Prior, *nSim, rng, nil)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "simulation: %s\n", sims.Report)

	// 2. Train. NewNPE takes the prior and an architecture (nil: sbi's
	// default MAF); AppendSimulations adds one round of (θ, x) pairs, nil
	// options meaning they were drawn from the prior; Train fits the flow by
	// maximum likelihood with early stopping on a validation split.
	npe, err := sbi.NewNPE(task.Prior, &sbi.NPEConfig{Estimator: est})
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

	// 3. Sample. The posterior is amortised: At conditions it on any
	// observation without retraining. Draws outside the prior's support are
	// rejected ("leakage"); the acceptance rate says how many.
	post, err := npe.Posterior(nil)
	if err != nil {
		return err
	}
	atXo, err := post.At(xo)
	if err != nil {
		return err
	}
	s, err := atXo.SampleN(ctx, *nSamples, rng)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "sampling: %d samples in %.2fs, acceptance rate %.3f\n",
		*nSamples, s.Runtime.Seconds(), s.AcceptanceRate)
	for j, name := range task.ThetaNames {
		m, sd := stat.MeanStdDev(mat.Col(nil, j, s.Samples), nil)
		fmt.Fprintf(stdout, "  %s: posterior mean %.3f, std %.3f (true %.3f)\n", name, m, sd, truth[j])
	}

	// With reference samples, a classifier two-sample test: a small
	// classifier tries to tell NPE samples from reference samples, and its
	// cross-validated accuracy is the score (sbibm's metric).
	if ref != nil {
		n := min(*nSamples, ref.RawMatrix().Rows)
		c2, err := diagnostics.C2ST(ctx, s.Samples.Slice(0, n, 0, 2).(*mat.Dense),
			ref.Slice(0, n, 0, 2).(*mat.Dense), rng, diagnostics.FastC2STSettings())
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "C2ST against the reference posterior: %.3f (0.5 is perfect), %d samples each\n", c2.Accuracy, n)
	}

	// 4. Plot.
	sets := []plots.SampleSet{{Name: "gosbi NPE", Samples: s.Samples}}
	if ref != nil {
		sets = append(sets, plots.SampleSet{Name: "reference", Samples: ref, Color: color.NRGBA{R: 0x7f, G: 0x7f, B: 0x7f, A: 0xff}})
	}
	pair, err := plots.NewPair(&plots.PairConfig{
		Labels: task.ThetaNames,
		Truth:  truth,
		Title:  fmt.Sprintf("two moons: NPE posterior from %d simulations", *nSim),
	}, sets...)
	if err != nil {
		return err
	}
	files := []string{"twomoons_posterior.png", "twomoons_loss.png"}
	if err := pair.Save(filepath.Join(*out, files[0]), 6*vg.Inch, 6*vg.Inch); err != nil {
		return err
	}
	lf, err := lossFigure(tr.History, "-mean log q(θ | x)", "NPE training")
	if err != nil {
		return err
	}
	if err := lf.Save(filepath.Join(*out, files[1]), 5*vg.Inch, 3.5*vg.Inch); err != nil {
		return err
	}
	for _, f := range files {
		fmt.Fprintf(stdout, "wrote %s\n", filepath.Join(*out, f))
	}
	fmt.Fprintf(stdout, "total %.1fs\n", time.Since(start).Seconds())
	return nil
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
