package main

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/gosbi/gosbi/simulators"
)

func runDemo(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "demo", "[-out DIR]")
	out := fs.String("out", "out", "output folder")
	nsim := fs.Int("simulations", 10_000, "simulation budget")
	nsamples := fs.Int("num-samples", 10_000, "number of posterior samples")
	seed := fs.Uint64("seed", 1, "random seed")
	maxEpochs := fs.Int("max-epochs", 0, "cap on training epochs (0: until early stopping)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *nsim < 2 || *nsamples < 1 || *maxEpochs < 0 {
		return usagef("-simulations must be at least 2, -num-samples at least 1, -max-epochs at least 0")
	}
	t, err := simulators.NewTask("two_moons", "")
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "gosbi demo: neural posterior estimation on two_moons with %d simulations\n", *nsim)
	s, err := runPipeline(ctx, e, pipeline{
		name: t.Name, sim: t.Simulator, prior: t.Prior, thetaNames: t.ThetaNames, xo: []float64{0, 0},
		method: "npe", estimator: "maf", simulations: *nsim, rounds: 1, samples: *nsamples,
		seed: *seed, maxEpochs: *maxEpochs, out: *out, plotName: "posterior.png",
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "simulation %.1fs, training %.1fs (%v epochs, best validation log-prob %.3f), sampling %.2fs (acceptance %.3f)\n",
		s.SimulationSeconds, s.TrainingSeconds, s.Epochs, -s.BestValLoss, s.SamplingSeconds, s.AcceptanceRate)
	fmt.Fprintf(e.stdout, "posterior at x_o = (0, 0): mean (%.3f, %.3f), std (%.3f, %.3f)\n",
		s.PosteriorMean[0], s.PosteriorMean[1], s.PosteriorStd[0], s.PosteriorStd[1])
	fmt.Fprintf(e.stdout, "wrote %s (total %.1fs)\n", filepath.Join(*out, "posterior.png"), s.TotalSeconds)
	return nil
}
