// Command external runs neural posterior estimation with a simulator written
// in Python, to show how a model in another language plugs into gosbi.
//
// The simulator is sim.py in this folder (standard library only): a noisy
// exponential decay read at ten times, with parameters θ = (log decay rate,
// noise standard deviation). gosbi starts the script once per worker and
// talks to it over standard input and output, one JSON object per line
// (the protocol is described in the simulators package documentation):
//
//	request:  {"theta": [0.1, 0.05], "seed": 1234567}
//	response: {"x": [0.52, 0.29, ...]}   or   {"error": "message"}
//
// The script seeds all its randomness from the request's seed, so results
// are reproducible and do not depend on how many processes run. A simulation
// that fails (an error response, a crash, a timeout) is counted and
// reported, and the run goes on.
//
// The script is compiled into the program (go:embed) and written to a
// temporary folder, so the program runs from any directory; -script runs
// another copy instead. Without python3 in PATH the program prints why and
// exits successfully, so that it never breaks a build.
//
//	go run ./examples/external -out out
package main

import (
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
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

//go:embed sim.py
var script []byte

var labels = []string{"log decay rate", "noise std"}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "external:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("external", flag.ContinueOnError)
	nSim := fs.Int("simulations", 10_000, "simulation budget")
	nSamples := fs.Int("samples", 5000, "number of posterior samples")
	maxEpochs := fs.Int("epochs", 0, "cap on training epochs (0: train until early stopping)")
	workers := fs.Int("workers", 0, "number of Python processes (0: one per CPU)")
	python := fs.String("python", "python3", "Python interpreter")
	scriptPath := fs.String("script", "", "simulator script (empty: the copy of sim.py built into this program)")
	seed := fs.Uint64("seed", 1, "random seed")
	out := fs.String("out", "out", "output folder for the plots")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *nSim < 50 || *nSamples < 10 || *maxEpochs < 0 || *workers < 0 {
		return fmt.Errorf("-simulations must be at least 50, -samples at least 10, -epochs and -workers not negative")
	}
	if _, err := exec.LookPath(*python); err != nil {
		fmt.Fprintf(stdout, "skipping the external example: %s not found in PATH (it needs Python 3 to run sim.py)\n", *python)
		return nil
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	start := time.Now()
	rng := rand.New(rand.NewPCG(*seed, 0))

	path := *scriptPath
	if path == "" {
		dir, err := os.MkdirTemp("", "gosbi-external-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		path = filepath.Join(dir, "sim.py")
		if err := os.WriteFile(path, script, 0o644); err != nil {
			return err
		}
	}

	// The external simulator: θ has 2 values, x has 10. Processes start on
	// the first simulation and are stopped by Close. "-u" keeps Python's
	// output unbuffered (the script also flushes every line).
	sim, err := simulators.NewCommand(2, 10, *python, []string{"-u", path},
		&simulators.CommandSettings{Timeout: 30 * time.Second})
	if err != nil {
		return err
	}
	defer sim.Close()

	prior, err := dist.NewBoxUniform([]float64{-2, 0.02}, []float64{1, 0.3})
	if err != nil {
		return err
	}

	// A simulated observation at known parameters.
	truth := []float64{-0.5, 0.08}
	xo, err := sim.Run(ctx, nil, truth, rng)
	if err != nil {
		return fmt.Errorf("first simulation: %w", err)
	}

	// From here on the Python simulator is used like any Go one.
	sims, err := simulators.Simulate(ctx, sim, prior, *nSim, rng, &simulators.Settings{Workers: *workers})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "simulation (Python): %s\n", sims.Report)
	for _, e := range sims.Report.Errors {
		fmt.Fprintf(stdout, "  failed: %v\n", e)
	}

	npe, err := sbi.NewNPE(prior, nil)
	if err != nil {
		return err
	}
	dropped, err := npe.AppendSimulations(sims.Data.Theta, sims.Data.X, nil)
	if err != nil {
		return err
	}
	if dropped > 0 {
		fmt.Fprintf(stdout, "dropped %d failed or invalid simulations\n", dropped)
	}
	tr, err := npe.Train(ctx, rng, &sbi.TrainSettings{Settings: flows.Settings{MaxEpochs: *maxEpochs}})
	if err != nil {
		return fmt.Errorf("training: %w", err)
	}
	fmt.Fprintf(stdout, "training: %d epochs in %.1fs, best validation log-prob %.3f\n",
		tr.Epochs, tr.Runtime.Seconds(), -tr.BestValLoss)
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
	fmt.Fprintf(stdout, "posterior at x_o (acceptance %.3f):\n", s.AcceptanceRate)
	for j, name := range labels {
		m, sd := stat.MeanStdDev(mat.Col(nil, j, s.Samples), nil)
		fmt.Fprintf(stdout, "  %-15s mean %.3f, std %.3f, true %.3f\n", name, m, sd, truth[j])
	}

	pair, err := plots.NewPair(&plots.PairConfig{
		Labels: labels,
		Truth:  truth,
		Title:  "exponential decay simulated in Python: NPE posterior",
	}, plots.SampleSet{Name: "NPE posterior", Samples: s.Samples})
	if err != nil {
		return err
	}
	file := filepath.Join(*out, "external_posterior.png")
	if err := pair.Save(file, 5*vg.Inch, 5*vg.Inch); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s\n", file)
	fmt.Fprintf(stdout, "total %.1fs\n", time.Since(start).Seconds())
	return nil
}
