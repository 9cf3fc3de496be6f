// Command variational samples the same posterior in two ways, by Markov
// chain Monte Carlo and by variational inference (VI), and compares their
// speed and agreement.
//
// Neural likelihood estimation (NLE) learns q(x | θ) from simulations; the
// posterior at an observation x_o is then known up to a constant, through the
// potential U(θ) = log q(x_o | θ) + log p(θ) (sbi.Potential). There are two
// ways to draw from it:
//
//   - MCMC (here sbi's default, vectorised slice sampling with 20 chains):
//     asymptotically exact, but every new batch of draws costs many potential
//     evaluations, and convergence must be checked (R-hat).
//   - VI (vi.Fit): fit a normalizing flow r(θ) to the potential; afterwards
//     draws are instant. The default objective here is the importance-weighted
//     bound (IWELBO, Burda et al. 2016), which covers all modes; sbi's default,
//     the reverse Kullback–Leibler divergence KL(r ‖ p) (-objective rKL), is
//     mode seeking and on this task usually keeps only one of the two modes.
//     The fit is checked with Pareto-smoothed importance sampling: k̂ below 0.7
//     means r is good enough for importance-weighted estimates (and for
//     importance resampling, which the program also does), above it r misses
//     part of the posterior.
//
// The task is sbibm's two_moons, whose posterior is a crescent, usually with
// two modes: a real test for VI. The program prints both run times, k̂ and a
// classifier two-sample test between the two sample sets (0.5: the
// classifier cannot tell them apart), and draws both in one pair plot, with
// the sbibm reference posterior when -data is given.
//
//	go run ./examples/variational -out out
//	go run ./examples/variational -data ../shared/sbibm -obs 1 -out out
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"image/color"
	"io"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/plot/vg"

	"github.com/gosbi/gosbi/diagnostics"
	"github.com/gosbi/gosbi/dist"
	"github.com/gosbi/gosbi/flows"
	"github.com/gosbi/gosbi/plots"
	"github.com/gosbi/gosbi/sbi"
	"github.com/gosbi/gosbi/simulators"
	"github.com/gosbi/gosbi/vi"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "variational:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("variational", flag.ContinueOnError)
	nSim := fs.Int("simulations", 10_000, "NLE simulation budget")
	nSamples := fs.Int("samples", 5000, "posterior samples per method")
	maxEpochs := fs.Int("epochs", 0, "cap on NLE training epochs (0: early stopping)")
	maxIter := fs.Int("vi-iterations", 0, "cap on VI iterations (0: 2000, or fewer if converged)")
	family := fs.String("family", "nsf", `variational family: "maf", "nsf" or "gaussian"`)
	objective := fs.String("objective", "IW", `VI objective: "rKL" (reverse KL, mode seeking), "IW" (importance weighted), "fKL" (forward KL, mass covering) or "alpha" (Rényi)`)
	warmup := fs.Int("warmup", 200, "MCMC warmup steps per chain")
	dataDir := fs.String("data", "", "folder of sbibm reference data (empty: simulate the observation)")
	obs := fs.Int("obs", 1, "sbibm observation number, with -data")
	seed := fs.Uint64("seed", 1, "random seed")
	out := fs.String("out", "out", "output folder for the plots")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *nSim < 50 || *nSamples < 25 || *maxEpochs < 0 || *maxIter < 0 || *warmup < 1 {
		return fmt.Errorf("-simulations must be at least 50, -samples at least 25, -warmup at least 1, -epochs and -vi-iterations not negative")
	}
	fam, err := vi.FamilyByName(*family)
	if err != nil {
		return err
	}
	obj, err := vi.ParseObjective(*objective)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	start := time.Now()
	rng := rand.New(rand.NewPCG(*seed, 0))
	task, err := simulators.NewTask("two_moons", "")
	if err != nil {
		return err
	}
	var xo, truth []float64
	var ref *mat.Dense
	if *dataDir != "" {
		r, err := simulators.LoadReference(*dataDir, task.Name, *obs)
		if err != nil {
			return err
		}
		xo, truth, ref = r.Observation, r.TrueParameters, r.PosteriorSamples
		fmt.Fprintf(stdout, "observation %d from %s\n", *obs, *dataDir)
	} else {
		truth = task.Prior.Sample(nil, rng)
		if xo, err = task.Simulator.Run(ctx, nil, truth, rng); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "simulated observation at θ = %.3f\n", truth)
	}

	// NLE, trained once; both samplers use its potential.
	sims, err := simulators.Simulate(ctx, task.Simulator, task.Prior, *nSim, rng, nil)
	if err != nil {
		return err
	}
	nle, err := sbi.NewNLE(task.Prior, nil)
	if err != nil {
		return err
	}
	if _, err := nle.AppendSimulations(sims.Data.Theta, sims.Data.X, nil); err != nil {
		return err
	}
	tr, err := nle.Train(ctx, rng, &sbi.TrainSettings{Settings: flows.Settings{MaxEpochs: *maxEpochs}})
	if err != nil {
		return fmt.Errorf("NLE training: %w", err)
	}
	fmt.Fprintf(stdout, "NLE: %d simulations, %d epochs in %.1fs\n", *nSim, tr.Epochs, tr.Runtime.Seconds())
	mcmcPost, err := nle.Posterior(&sbi.MCMCSettings{Warmup: *warmup})
	if err != nil {
		return err
	}
	xoMat := mat.NewDense(1, len(xo), xo) // one trial per row
	potential, err := mcmcPost.Potential(xoMat)
	if err != nil {
		return err
	}

	// MCMC on the potential.
	mc, err := mcmcPost.Sample(ctx, xoMat, *nSamples, rng)
	if err != nil {
		return fmt.Errorf("MCMC: %w", err)
	}
	fmt.Fprintf(stdout, "MCMC: %d draws in %.2fs (%d chains, %d warmup steps each), R-hat %.3f\n",
		*nSamples, mc.Runtime.Seconds(), mc.Chains.NumChains(), *warmup, mc.RHat)
	if len(mc.Warnings) > 0 {
		// With well separated modes, each slice-sampling chain stays in the
		// mode it started in: the chains disagree and R-hat says so. The
		// pooled draws cover every mode that some chain found, but the
		// weights of the modes are only as good as the initialisation
		// (chains started by resampling prior draws by their potential).
		fmt.Fprintf(stdout, "  MCMC warnings (with separated modes, each chain stays in one): %s\n", strings.Join(mc.Warnings, "; "))
	}

	// VI on the same potential. The prior is bounded, so the flow lives in
	// unconstrained coordinates (dist.BijectionFor maps R² onto the prior's
	// box) and starts close to the prior; NewQ fits its standardisation to
	// prior draws.
	b := dist.BijectionFor(task.Prior)
	q, err := vi.NewQ(fam, task.Prior, b, 0, rng)
	if err != nil {
		return err
	}
	viStart := time.Now()
	vp, vr, err := vi.Fit(ctx, potential, q, rng, &vi.Settings{Objective: obj, Bijection: b, MaxIterations: *maxIter})
	if err != nil {
		return fmt.Errorf("VI: %w", err)
	}
	fitTime := time.Since(viStart)
	sampleStart := time.Now()
	viSamples := mat.NewDense(*nSamples, 2, nil)
	vp.SampleBatch(viSamples, rng)
	fmt.Fprintf(stdout, "VI (%s, %s): fit in %.2fs (%d iterations, converged %v), %d draws in %.3fs\n",
		*family, obj, fitTime.Seconds(), vr.Iterations, vr.Converged, *nSamples, time.Since(sampleStart).Seconds())
	fmt.Fprintf(stdout, "  Pareto k-hat %.3f (below %.1f: reliable), importance-sampling ESS %.0f\n",
		vr.Khat, vi.KhatThreshold, vr.ESS)
	if vr.Khat > vi.KhatThreshold {
		fmt.Fprintf(stdout, "  k-hat above %.1f: the variational posterior misses part of the target (reverse KL, -objective rKL, is mode seeking; IW and fKL are mass covering)\n", vi.KhatThreshold)
	}

	// Importance resampling corrects the remaining mismatch between the
	// fitted flow and the potential when k-hat is small: draw several times
	// more points from the flow and resample them by their weights p̃/q.
	resampled := mat.NewDense(*nSamples, 2, nil)
	if err := vp.SampleImportance(resampled, 10, rng); err != nil {
		return err
	}
	for _, cmp := range []struct {
		name string
		x    *mat.Dense
	}{{"VI", viSamples}, {"VI + importance resampling", resampled}} {
		c, err := diagnostics.C2ST(ctx, cmp.x, mc.Samples, rng, diagnostics.FastC2STSettings())
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "C2ST, %s against MCMC: %.3f (0.5: indistinguishable)\n", cmp.name, c.Accuracy)
	}

	sets := []plots.SampleSet{
		{Name: "MCMC (slice)", Samples: mc.Samples},
		{Name: fmt.Sprintf("VI (%s, %s)", *family, obj), Samples: viSamples},
		{Name: "VI + importance resampling", Samples: resampled},
	}
	if ref != nil {
		sets = append(sets, plots.SampleSet{Name: "reference", Samples: ref, Color: color.NRGBA{R: 0x7f, G: 0x7f, B: 0x7f, A: 0xff}})
	}
	pair, err := plots.NewPair(&plots.PairConfig{
		Labels: task.ThetaNames, Truth: truth,
		Title: fmt.Sprintf("NLE posterior on two moons: MCMC and VI (k-hat %.2f)", vr.Khat),
	}, sets...)
	if err != nil {
		return err
	}
	file := filepath.Join(*out, "variational_posteriors.png")
	if err := pair.Save(file, 6*vg.Inch, 6*vg.Inch); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s\n", file)
	fmt.Fprintf(stdout, "total %.1fs\n", time.Since(start).Seconds())
	return nil
}
