package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"runtime"
	"time"

	"github.com/gosbi/gosbi/flows"
	"github.com/gosbi/gosbi/internal/gemm"
	"github.com/gosbi/gosbi/internal/vmath"
	"github.com/gosbi/gosbi/nn"
	"github.com/gosbi/gosbi/sbi"
	"github.com/gosbi/gosbi/simulators"
	"gonum.org/v1/gonum/mat"
)

// The bench command measures gosbi's speed on the workloads of
// ../shared/BENCHMARKS.md, where the same work in Python's sbi on PyTorch is
// timed, and prints one JSON object on standard output:
//
//	gosbi bench flows -dim D -context C -hidden H -transforms T -batch B -steps S
//	                  [-estimator maf|nsf] [-threads N] [-seed S] [-points P] [-parts P]
//	gosbi bench npe   -task NAME -simulations N [-seed S] [-estimator maf|nsf]
//	                  [-threads N] [-num-samples K] [-max-epochs E] [-parts P]
//
// bench flows times S training steps of a flow on batches of B rows by
// flows.Train (forward log-prob, backward, total-norm clipping at 5, Adam
// with learning rate 5e-4: sbi's step), each batch cut into -parts parts
// computed in parallel (flows.Settings.Parts; default
// flows.DefaultParts(B), 1 for serial steps), then the log-prob of P =
// 100,000 points in one call, and P samples at one context. bench npe runs
// sbi.Infer end to end with sbi's defaults, each batch cut into -parts
// parts (default flows.DefaultParts(200), as flows.Train), and times the
// simulations, the training (epochs and seconds per epoch) and K posterior
// samples. -threads sets GOMAXPROCS for the run (default: the number of
// CPUs); the results do not depend on it. Nothing is written to disk.

// Random streams of the bench command (rand.NewPCG(seed, stream)).
const (
	streamBenchData   = 0x42454e43 << 32 // "BENC": the flow's data and its initial weights
	streamBenchSample = 0x42534d50 << 32 // "BSMP": the flow's samples
	streamBenchObs    = 0x424f4253 << 32 // "BOBS": the observation of bench npe
	streamBenchTrain  = 0x42545241 << 32 // "BTRA": the split and shuffling of bench flows' training
)

// benchPoints is the number of points of the log-prob and sampling timings
// of bench flows (BENCHMARKS.md's 100,000).
const benchPoints = 100_000

// Training settings of bench flows: sbi's (BENCHMARKS.md's PyTorch step).
const (
	benchLR   = 5e-4
	benchClip = 5.0
)

// benchFlowsResult is the JSON object printed by bench flows.
type benchFlowsResult struct {
	Bench      string `json:"bench"` // "flows"
	Estimator  string `json:"estimator"`
	Dim        int    `json:"dim"`
	Context    int    `json:"context"`
	Hidden     int    `json:"hidden"`
	Transforms int    `json:"transforms"`
	Batch      int    `json:"batch"`
	Steps      int    `json:"steps"`
	// Parts is the number of parts per batch (flows.Settings.Parts);
	// Workers, its former name, has the same value.
	Parts      int    `json:"parts"`
	Workers    int    `json:"workers"`
	Threads    int    `json:"threads"`
	Seed       uint64 `json:"seed"`
	Parameters int    `json:"parameters"`

	// TrainSeconds is the wall time of Steps training steps, each one
	// forward log-prob, backward, clipping and Adam, run by flows.Train in
	// epochs of StepsPerEpoch steps (at most 10 batches of data), each
	// followed by the validation of ValRows rows.
	TrainSeconds float64 `json:"train_seconds"`
	TrainMsStep  float64 `json:"train_ms_per_step"`
	// TrainGFLOPs is the matrix-product work of training per second: 6·B
	// flops per weight-matrix entry and step (forward product, weight
	// gradient and input gradient; masked entries count, as in
	// BENCHMARKS.md's 45 MFLOP per step).
	TrainGFLOPs    float64 `json:"train_gflops"`
	TrainFlopsStep float64 `json:"train_flops_per_step"`
	// TrainCPUSeconds is the CPU time of the process over the same steps
	// (all goroutines; omitted where unknown).
	TrainCPUSeconds float64 `json:"train_cpu_seconds,omitempty"`
	// FirstLoss and LastLoss are the mean training losses of the first
	// and last epochs.
	FirstLoss     float64 `json:"first_loss"`
	LastLoss      float64 `json:"last_loss"`
	StepsPerEpoch int     `json:"steps_per_epoch"`
	ValRows       int     `json:"validation_rows"`

	LogProbPoints  int     `json:"log_prob_points"`
	LogProbSeconds float64 `json:"log_prob_seconds"`
	LogProbCPU     float64 `json:"log_prob_cpu_seconds,omitempty"`
	SamplePoints   int     `json:"sample_points"`
	SampleSeconds  float64 `json:"sample_seconds"`
	SampleCPU      float64 `json:"sample_cpu_seconds,omitempty"`

	Kernels benchKernels `json:"kernels"`
}

// benchKernels names the implementations in use, so that figures from
// different machines can be told apart.
type benchKernels struct {
	GEMM   string `json:"gemm"`
	VMath  string `json:"vmath"`
	GOARCH string `json:"goarch"`
	Go     string `json:"go"`
	CPUs   int    `json:"cpus"`
}

func currentKernels() benchKernels {
	return benchKernels{GEMM: gemm.Implementation(), VMath: vmath.Implementation(), GOARCH: runtime.GOARCH,
		Go: runtime.Version(), CPUs: runtime.NumCPU()}
}

// benchNPEResult is the JSON object printed by bench npe.
type benchNPEResult struct {
	Bench              string  `json:"bench"` // "npe"
	Task               string  `json:"task"`
	Estimator          string  `json:"estimator"`
	Simulations        int     `json:"simulations"`
	Seed               uint64  `json:"seed"`
	Threads            int     `json:"threads"`
	Parts              int     `json:"parts"`
	SimulationSeconds  float64 `json:"simulation_seconds"`
	InvalidSimulations int     `json:"invalid_simulations"`
	TrainingSeconds    float64 `json:"training_seconds"`
	// InferCPUSeconds is the CPU time of the process during simulation
	// and training (omitted where unknown).
	InferCPUSeconds float64   `json:"simulation_and_training_cpu_seconds,omitempty"`
	Epochs          int       `json:"epochs"`
	SecondsPerEpoch float64   `json:"seconds_per_epoch"`
	StepsPerEpoch   int       `json:"steps_per_epoch"`
	Converged       bool      `json:"converged"`
	BestEpoch       int       `json:"best_epoch"`
	BestValLogProb  float64   `json:"best_validation_log_prob"`
	NumSamples      int       `json:"num_samples"`
	SamplingSeconds float64   `json:"sampling_seconds"`
	AcceptanceRate  float64   `json:"acceptance_rate"`
	Observation     []float64 `json:"observation"`
	TotalSeconds    float64   `json:"total_seconds"`

	Kernels benchKernels `json:"kernels"`
}

const benchUsage = `usage: gosbi bench flows -dim D -context C -hidden H -transforms T -batch B -steps S [flags]
       gosbi bench npe -task NAME -simulations N [-seed S] [flags]

Prints one JSON object with the timings. Run 'gosbi bench flows -h' or
'gosbi bench npe -h' for the flags.
`

func runBench(ctx context.Context, e env, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(e.stderr, benchUsage)
		return usagef("missing what to benchmark: flows or npe")
	}
	switch args[0] {
	case "flows":
		return runBenchFlows(ctx, e, args[1:])
	case "npe":
		return runBenchNPE(ctx, e, args[1:])
	case "-h", "-help", "--help", "help":
		fmt.Fprint(e.stderr, benchUsage)
		return nil
	}
	return usagef("unknown benchmark %q (want flows or npe)", args[0])
}

// withThreads sets GOMAXPROCS to n (n > 0) for the duration of f.
func withThreads(n int, f func() error) error {
	if n > 0 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(n))
	}
	return f()
}

func printJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

func runBenchFlows(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "bench flows", "-dim D -context C -hidden H -transforms T -batch B -steps S [flags]")
	dim := fs.Int("dim", 2, "dimension D of the flow's variable")
	cdim := fs.Int("context", 2, "dimension C of the context (0: unconditional)")
	hidden := fs.Int("hidden", 50, "hidden units of each conditioner")
	transforms := fs.Int("transforms", 5, "number of transforms")
	batch := fs.Int("batch", 256, "training batch size")
	steps := fs.Int("steps", 1000, "number of training steps to time")
	estimator := fs.String("estimator", "maf", "flow: maf or nsf")
	threads := fs.Int("threads", 0, "GOMAXPROCS for the run (0: the number of CPUs)")
	seed := fs.Uint64("seed", 1, "random seed")
	points := fs.Int("points", benchPoints, "points of the log-prob and sampling timings")
	parts := fs.Int("parts", 0, "parts per training batch, computed in parallel (flows.Settings.Parts; 0: flows.DefaultParts(batch), 1: serial)")
	fs.IntVar(parts, "workers", 0, "former name of -parts")
	if err := parse(fs, args); err != nil {
		return err
	}
	switch {
	case *points < 1 || *points > 100_000_000:
		return usagef("-points %d: want 1 to 100000000", *points)
	case *dim < 1 || *dim > 10_000:
		return usagef("-dim %d: want 1 to 10000", *dim)
	case *cdim < 0 || *cdim > 10_000:
		return usagef("-context %d: want 0 to 10000", *cdim)
	case *hidden < 1 || *hidden > 10_000:
		return usagef("-hidden %d: want 1 to 10000", *hidden)
	case *transforms < 1 || *transforms > 100:
		return usagef("-transforms %d: want 1 to 100", *transforms)
	case *batch < 2 || *batch > 1_000_000:
		return usagef("-batch %d: want 2 to 1000000", *batch)
	case *steps < 1:
		return usagef("-steps %d: want at least 1", *steps)
	case *threads < 0:
		return usagef("-threads %d: want 0 (all CPUs) or more", *threads)
	case *parts < 0 || *parts > *batch:
		return usagef("-parts %d: want 0 (the default) to the batch size", *parts)
	case *estimator != "maf" && *estimator != "nsf":
		return usagef("unknown estimator %q (want maf or nsf)", *estimator)
	}
	var res *benchFlowsResult
	err := withThreads(*threads, func() error {
		var err error
		res, err = benchFlows(ctx, flowsBenchSpec{
			estimator: *estimator, dim: *dim, context: *cdim, hidden: *hidden, transforms: *transforms,
			batch: *batch, steps: *steps, seed: *seed, points: *points, parts: *parts,
		})
		return err
	})
	if err != nil {
		return err
	}
	return printJSON(e.stdout, res)
}

// flowsBenchSpec is one run of bench flows.
type flowsBenchSpec struct {
	estimator                        string
	dim, context, hidden, transforms int
	batch, steps                     int
	seed                             uint64
	points                           int // log-prob and sampling points; 0: benchPoints
	parts                            int // parts per training batch; 0: flows.DefaultParts(batch)
}

// benchData returns n rows of x (n×d) and context (n×c; nil for c = 0) from
// a linear-Gaussian model, x_j = c_{j mod c} + 0.5·noise, as flows'
// benchmarks, so that training has a signal to learn.
func benchData(n, d, c int, rng *rand.Rand) (x, cm *mat.Dense) {
	x = mat.NewDense(n, d, nil)
	if c > 0 {
		cm = mat.NewDense(n, c, nil)
	}
	for i := range n {
		if cm != nil {
			for j := range c {
				cm.Set(i, j, rng.NormFloat64())
			}
		}
		for j := range d {
			v := 0.5 * rng.NormFloat64()
			if cm != nil {
				v += cm.At(i, j%c)
			}
			x.Set(i, j, v)
		}
	}
	return x, cm
}

// benchFlows builds the flow and times training, log-prob and sampling.
func benchFlows(ctx context.Context, s flowsBenchSpec) (*benchFlowsResult, error) {
	if s.points == 0 {
		s.points = benchPoints
	}
	if s.parts == 0 {
		s.parts = flows.DefaultParts(s.batch)
	}
	rng := rand.New(rand.NewPCG(s.seed, streamBenchData))
	// Training: flows.Train on k·B rows (k = the largest divisor of S up
	// to 10) and 2 validation rows, for S/k epochs of k steps; the
	// z-scoring is fitted to all the rows. The log-prob and sampling data
	// come from the same model.
	k := 1
	for d := 1; d <= min(10, s.steps); d++ {
		if s.steps%d == 0 {
			k = d
		}
	}
	const valRows = 2
	nTrain := k * s.batch
	n := nTrain + valRows
	x, cm := benchData(n, s.dim, s.context, rng)
	var (
		f   *flows.Flow
		err error
	)
	switch s.estimator {
	case "maf":
		f, err = flows.MAF{Transforms: s.transforms, Hidden: s.hidden}.Build(x, cm, rng)
	case "nsf":
		f, err = flows.NSF{Transforms: s.transforms, Hidden: s.hidden}.Build(x, cm, rng)
	default:
		return nil, usagef("unknown estimator %q (want maf or nsf)", s.estimator)
	}
	if err != nil {
		return nil, usageError{fmt.Errorf("building the flow: %w", err)}
	}
	params := f.Params()
	var weights int
	for _, p := range params {
		if p.Rows > 1 && p.Cols > 1 {
			weights += p.Len()
		}
	}
	res := &benchFlowsResult{
		Bench: "flows", Estimator: s.estimator, Dim: s.dim, Context: s.context, Hidden: s.hidden,
		Transforms: s.transforms, Batch: s.batch, Steps: s.steps, Parts: s.parts, Workers: s.parts,
		Threads: runtime.GOMAXPROCS(0), Seed: s.seed,
		Parameters: nn.NumParams(params), TrainFlopsStep: 6 * float64(s.batch) * float64(weights),
		StepsPerEpoch: k, ValRows: valRows,
		LogProbPoints: s.points, SamplePoints: s.points, Kernels: currentKernels(),
	}

	// The validation fraction (v - 1/2)/n leaves exactly v rows out:
	// ⌊(1 - f)·n⌋ = ⌊n - v + 1/2⌋ = n - v.
	settings := &flows.Settings{
		BatchSize: s.batch, LearningRate: benchLR, ClipNorm: benchClip, Parts: s.parts,
		ValidationFraction: (valRows - 0.5) / float64(n),
		MaxEpochs:          s.steps / k, StopAfterEpochs: s.steps/k + 1,
	}
	t0, c0 := time.Now(), processCPU()
	tr, err := flows.Train(ctx, f, x, cm, rand.New(rand.NewPCG(s.seed, streamBenchTrain)), settings)
	if err != nil {
		return nil, fmt.Errorf("training: %w", err)
	}
	res.TrainSeconds = time.Since(t0).Seconds()
	res.TrainCPUSeconds = (processCPU() - c0).Seconds()
	if tr.NumTrain != nTrain || tr.Epochs != s.steps/k || tr.Skipped != 0 {
		return nil, fmt.Errorf("training: %d epochs on %d rows with %d skipped steps, want %d epochs on %d rows",
			tr.Epochs, tr.NumTrain, tr.Skipped, s.steps/k, nTrain)
	}
	res.FirstLoss, res.LastLoss = tr.History[0].TrainLoss, tr.History[len(tr.History)-1].TrainLoss
	res.TrainMsStep = 1e3 * res.TrainSeconds / float64(s.steps)
	res.TrainGFLOPs = res.TrainFlopsStep * float64(s.steps) / res.TrainSeconds / 1e9

	// Log-prob of s.points points in one call (no gradient).
	px, pc := benchData(s.points, s.dim, s.context, rng)
	dst := make([]float64, s.points)
	t0, c0 = time.Now(), processCPU()
	f.LogProbBatch(dst, px, pc)
	res.LogProbSeconds = time.Since(t0).Seconds()
	res.LogProbCPU = (processCPU() - c0).Seconds()
	for i, v := range dst {
		if math.IsNaN(v) {
			return nil, fmt.Errorf("log-prob of point %d is NaN", i)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	// s.points samples at one context.
	var c1 *mat.Dense
	if pc != nil {
		c1 = mat.NewDense(1, s.context, pc.RawRowView(0))
	}
	samples := mat.NewDense(s.points, s.dim, nil)
	srng := rand.New(rand.NewPCG(s.seed, streamBenchSample))
	t0, c0 = time.Now(), processCPU()
	f.SampleBatch(samples, c1, srng)
	res.SampleSeconds = time.Since(t0).Seconds()
	res.SampleCPU = (processCPU() - c0).Seconds()
	return res, nil
}

func runBenchNPE(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "bench npe", "-task NAME -simulations N [-seed S] [flags]")
	task := fs.String("task", "two_moons", "sbibm task name (see 'gosbi tasks')")
	nsim := fs.Int("simulations", 10_000, "simulation budget")
	seed := fs.Uint64("seed", 1, "random seed")
	estimator := fs.String("estimator", "maf", "density estimator: maf or nsf")
	threads := fs.Int("threads", 0, "GOMAXPROCS for the run (0: the number of CPUs)")
	nsamples := fs.Int("num-samples", 10_000, "posterior samples to draw and time")
	maxEpochs := fs.Int("max-epochs", 0, "cap on training epochs (0: until early stopping, sbi's default)")
	data := fs.String("data", "", "sbibm data folder (needed by slcp_distractors only)")
	parts := fs.Int("parts", 0, "parts per training batch, computed in parallel (flows.Settings.Parts; 0: flows.DefaultParts(200), as flows.Train; 1: serial)")
	if err := parse(fs, args); err != nil {
		return err
	}
	switch {
	case *nsim < 2:
		return usagef("-simulations %d: want at least 2", *nsim)
	case *nsamples < 1:
		return usagef("-num-samples %d: want at least 1", *nsamples)
	case *maxEpochs < 0:
		return usagef("-max-epochs %d: want 0 or more", *maxEpochs)
	case *parts < 0 || *parts > 200:
		return usagef("-parts %d: want 0 (the default) to 200, the batch size", *parts)
	case *threads < 0:
		return usagef("-threads %d: want 0 (all CPUs) or more", *threads)
	case *estimator != "maf" && *estimator != "nsf":
		return usagef("unknown estimator %q (want maf or nsf)", *estimator)
	}
	t, err := newTaskFlag(*task, *data)
	if err != nil {
		return err
	}
	var res *benchNPEResult
	err = withThreads(*threads, func() error {
		var err error
		res, err = benchNPE(ctx, t, *estimator, *nsim, *nsamples, *maxEpochs, *parts, *seed)
		return err
	})
	if err != nil {
		return err
	}
	return printJSON(e.stdout, res)
}

// benchNPE runs amortised NPE with sbi's defaults on task t and times it,
// each training batch cut into parts parts (0: flows.DefaultParts of sbi's
// batch size 200; NPE's maximum-likelihood loss is safe to split). The
// posterior is sampled at an observation simulated from a prior draw (its own
// random stream), so that any task runs without reference data.
func benchNPE(ctx context.Context, t *simulators.Task, estimator string, nsim, nsamples, maxEpochs, parts int, seed uint64) (*benchNPEResult, error) {
	if parts == 0 {
		parts = flows.DefaultParts(200)
	}
	start := time.Now()
	var est sbi.Estimator = flows.MAF{}
	if estimator == "nsf" {
		est = flows.NSF{}
	}
	res := &benchNPEResult{Bench: "npe", Task: t.Name, Estimator: estimator, Seed: seed,
		Threads: runtime.GOMAXPROCS(0), Parts: parts, NumSamples: nsamples, Kernels: currentKernels()}

	orng := rand.New(rand.NewPCG(seed, streamBenchObs))
	theta := t.Prior.Sample(nil, orng)
	xo, err := t.Simulator.Run(ctx, nil, theta, orng)
	if err != nil {
		return nil, fmt.Errorf("simulating the observation: %w", err)
	}
	res.Observation = xo

	settings := &sbi.InferSettings{
		Config: &sbi.NPEConfig{Estimator: est},
		Train:  &sbi.TrainSettings{Settings: flows.Settings{MaxEpochs: maxEpochs, Parts: parts}},
	}
	c0 := processCPU()
	post, ir, err := sbi.Infer(ctx, t.Simulator, t.Prior, nsim, rand.New(rand.NewPCG(seed, streamTrain)), settings)
	if err != nil {
		return nil, err
	}
	res.InferCPUSeconds = (processCPU() - c0).Seconds()
	rr := ir.Rounds[0]
	res.Simulations = rr.Simulation.Requested
	res.InvalidSimulations = rr.Simulation.Invalid + rr.Simulation.Failed
	res.SimulationSeconds = rr.Simulation.Runtime.Seconds()
	tr := rr.Train
	res.TrainingSeconds = tr.Runtime.Seconds()
	res.Epochs = tr.Epochs
	if tr.Epochs > 0 {
		res.SecondsPerEpoch = res.TrainingSeconds / float64(tr.Epochs)
		res.StepsPerEpoch = tr.History[0].Steps + tr.History[0].Skipped
	}
	res.Converged, res.BestEpoch = tr.Converged, tr.BestEpoch
	res.BestValLogProb = -tr.BestValLoss

	t0 := time.Now()
	c, err := post.At(xo)
	if err != nil {
		return nil, err
	}
	sr, err := c.SampleN(ctx, nsamples, rand.New(rand.NewPCG(seed, streamSample)))
	if err != nil {
		return nil, err
	}
	res.SamplingSeconds = time.Since(t0).Seconds()
	res.AcceptanceRate = sr.AcceptanceRate
	res.TotalSeconds = time.Since(start).Seconds()
	return res, nil
}
