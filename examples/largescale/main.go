// Command largescale shows how to train on a simulation budget that is too
// expensive for one sitting: simulate the run in shards that can run on
// different machines and be interrupted, merge them into one file, and train
// neural posterior estimation from that file without loading it into memory,
// with a checkpoint so that training also survives an interruption.
//
// The simulator is a stand-in for your own expensive Go code: a stochastic
// Lotka–Volterra predator–prey model, a Markov jump process on X predators
// and Y prey with four reactions (predator birth by predation c₁XY, predator
// death c₂X, prey birth c₃Y, prey eaten c₄XY), simulated exactly with
// Gillespie's algorithm from X = 50, Y = 100 and observed every 0.2 time
// units up to t = 30. The data are 9 summary statistics of the two series:
// their means, log variances, autocorrelations at lags 0.2 and 0.4, and
// their cross-correlation. The model, the statistics and the true parameters
// c = (0.01, 0.5, 1, 0.01) follow the Lotka–Volterra experiment of
// Papamakarios, Sterratt & Murray, "Sequential neural likelihood" (AISTATS
// 2019), after Wilkinson, "Stochastic modelling for systems biology"; the
// prior here is narrower than the paper's, uniform on the log rates in
// [-6, -3] × [-2, 1] × [-2, 1] × [-6, -3], so that NPE from the prior gets a
// useful posterior at a modest budget. A simulation whose populations
// explode is abandoned after 100,000 events and counted as failed; a series
// that never changes has undefined statistics and counts as invalid. Both
// are dropped before training. For NPE this is harmless when whether a
// simulation is dropped depends only on its output: the posterior at a
// valid observation is unchanged. Here it depends on the hidden trajectory
// rather than the statistics, which is close enough for an observation far
// from explosion, as the true parameters give.
//
// The program runs four steps, each of which a rerun resumes:
//
//  1. Simulate -simulations pairs (θ from the prior) in -shards shards with
//     simulators.Shard, each into its own file under OUT/shards, all at once
//     in goroutines standing in for cluster jobs. Every chunk of 100
//     simulations is fsynced as it finishes: after Ctrl-C (or Slurm's
//     SIGTERM) the same command simulates only the chunks that are missing.
//     -delay makes every simulation artificially slower, to feel the point.
//  2. Merge the shard files with simulators.Merge into OUT/simulations.gsim,
//     which fails, naming the missing chunks, unless every chunk is present
//     exactly once. One chunk is then simulated again in this process and
//     compared with the merged file, bit for bit: the file does not depend
//     on how the run was sharded.
//  3. Train NPE (a masked autoregressive flow) from the merged file through
//     simulators.NewStoreSource and NPE.AppendSource: training streams
//     blocks of 100 rows from disk and holds a bounded number in memory
//     however large the file. The optimiser state is checkpointed to
//     OUT/npe.ckpt every epoch; a rerun after Ctrl-C resumes there and ends
//     with the same weights as an uninterrupted run (a finished checkpoint
//     makes the rerun skip training; delete it to train again).
//  4. Sample the posterior at an observation simulated at the true
//     parameters and draw a pair plot with them marked.
//
// On a cluster the same binary runs step 1 as a job array (-step simulate;
// the shard comes from $SLURM_ARRAY_TASK_ID or $JOB_COMPLETION_INDEX) and
// steps 2 to 4 as one job once the array has finished (-step train): see
// the end of the program's output and deploy/README.md, whose Slurm and
// Kubernetes templates do the same for built-in tasks with `gosbi simulate`
// and `gosbi merge`.
//
// Run it with
//
//	go run ./examples/largescale -out out
package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
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

// The observation design and limits of the predator–prey simulator.
const (
	nObs      = 151     // observations at t = 0, 0.2, …, 30
	obsStep   = 0.2     // time between observations
	maxEvents = 100_000 // events before a simulation is abandoned as exploding
	nStats    = 9       // summary statistics
	initX     = 50      // initial predators
	initY     = 100     // initial prey
)

// The prior: uniform on the log rates in this box.
var (
	priorLo = []float64{-6, -2, -2, -6}
	priorHi = []float64{-3, 1, 1, -3}
)

var (
	labels     = []string{"log c₁ (predation → birth)", "log c₂ (predator death)", "log c₃ (prey birth)", "log c₄ (prey eaten)"}
	thetaNames = []string{"log_c1", "log_c2", "log_c3", "log_c4"}
	xNames     = []string{"mean_X", "mean_Y", "logvar_X", "logvar_Y", "acf1_X", "acf2_X", "acf1_Y", "acf2_Y", "xcorr"}
	// truth is the true θ of the observation: log(0.01, 0.5, 1, 0.01).
	truth = []float64{math.Log(0.01), math.Log(0.5), 0, math.Log(0.01)}
)

// task names the simulator in the simulation files: files written by
// another model, or another version of it, are rejected instead of mixed.
const task = "largescale-lotka-volterra-v1"

// shardEnv lists the environment variables from which -step simulate takes
// its shard, as `gosbi simulate` does: Slurm job arrays, then Kubernetes
// Indexed Jobs.
var shardEnv = []string{"SLURM_ARRAY_TASK_ID", "JOB_COMPLETION_INDEX"}

func main() {
	// Slurm and Kubernetes send SIGTERM before they kill a job: treat it
	// like Ctrl-C, so that what is finished is on disk.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "largescale:", err)
		os.Exit(1)
	}
}

// config holds the parsed flags.
type config struct {
	n, shards, shard, workers, epochs, samples int
	window                                     int
	step, out                                  string
	delay                                      time.Duration
	seed                                       uint64
}

func parseFlags(args []string) (*config, error) {
	fs := flag.NewFlagSet("largescale", flag.ContinueOnError)
	var c config
	fs.IntVar(&c.n, "simulations", 20_000, "simulation budget of the whole run")
	fs.IntVar(&c.shards, "shards", 4, "number of shards the run is split into (cluster jobs)")
	fs.IntVar(&c.shard, "shard", -1, "with -step simulate: the one shard to simulate, 0-based\n(default $SLURM_ARRAY_TASK_ID, else $JOB_COMPLETION_INDEX, else all)")
	fs.StringVar(&c.step, "step", "all", "all: simulate, merge, train, sample; simulate: only simulate shards;\ntrain: merge the shard files on disk, train and sample")
	fs.IntVar(&c.workers, "workers", 1, "parallel simulations per shard (CPUs of one cluster job)")
	fs.DurationVar(&c.delay, "delay", 0, "artificial extra time of every simulation, e.g. 5ms")
	fs.IntVar(&c.window, "window", 20, "blocks (chunks of 100 rows) per shuffling window of training;\nat most twice as many are in memory (0: flows.DefaultWindowBlocks, about 16k rows)")
	fs.IntVar(&c.epochs, "epochs", 0, "cap on training epochs (0: train until early stopping)")
	fs.IntVar(&c.samples, "samples", 5000, "number of posterior samples at the observation")
	fs.Uint64Var(&c.seed, "seed", 1, "random seed of the run (every shard must use the same)")
	fs.StringVar(&c.out, "out", "out", "output folder: shard files, merged file, checkpoint, plot")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	chunks := (c.n + simulators.ChunkSize - 1) / simulators.ChunkSize
	switch {
	case c.n < 2*simulators.ChunkSize:
		return nil, fmt.Errorf("-simulations %d: want at least %d (two chunks: training holds out whole chunks for validation)",
			c.n, 2*simulators.ChunkSize)
	case c.shards < 1 || c.shards > chunks:
		return nil, fmt.Errorf("-shards %d: want 1 to %d, the number of chunks of %d simulations (a shard is a set of whole chunks of %d)",
			c.shards, chunks, c.n, simulators.ChunkSize)
	case c.shard < -1 || c.shard >= c.shards:
		return nil, fmt.Errorf("-shard %d: want 0 to %d", c.shard, c.shards-1)
	case c.step != "all" && c.step != "simulate" && c.step != "train":
		return nil, fmt.Errorf("-step %q: want all, simulate or train", c.step)
	case c.shard >= 0 && c.step != "simulate":
		return nil, fmt.Errorf("-shard needs -step simulate")
	case c.workers < 1 || c.delay < 0 || c.epochs < 0 || c.window < 0 || c.samples < 10:
		return nil, fmt.Errorf("-workers must be at least 1, -delay, -epochs and -window not negative, -samples at least 10")
	}
	return &c, nil
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	cfg, err := parseFlags(args)
	if err != nil {
		return err
	}
	start := time.Now()
	shardDir := filepath.Join(cfg.out, "shards")
	if err := os.MkdirAll(shardDir, 0o755); err != nil {
		return err
	}
	prior, err := dist.NewBoxUniform(priorLo, priorHi)
	if err != nil {
		return err
	}
	model := &predatorPrey{delay: cfg.delay}

	// The run: every shard file carries this header, and files of another
	// run (other N, seed, number of shards, prior or model) are refused
	// with an error naming the field.
	spec := sha256.Sum256(fmt.Appendf(nil, "box uniform %v %v", priorLo, priorHi))
	hdr := simulators.StoreHeader{
		Task: task, PriorSHA256: fmt.Sprintf("%x", spec), Seed: cfg.seed, N: cfg.n,
		ThetaDim: 4, XDim: nStats, ThetaNames: thetaNames, XNames: xNames, Shards: cfg.shards,
	}
	shardFile := func(i int) string { return filepath.Join(shardDir, fmt.Sprintf("shard-%d.gsim", i)) }

	// Step 1: simulate.
	var simTime time.Duration
	if cfg.step != "train" {
		which, err := shardsToRun(cfg)
		if err != nil {
			return err
		}
		t0 := time.Now()
		err = simulateShards(ctx, stdout, model, prior, hdr, which, shardFile, cfg.workers)
		simTime = time.Since(t0)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "simulation: %d of %d shards in %.1fs\n", len(which), cfg.shards, simTime.Seconds())
		if cfg.step == "simulate" {
			printCluster(stdout, cfg)
			return nil
		}
	}

	// Step 2: merge, and check that the file does not depend on the split.
	t0 := time.Now()
	merged := filepath.Join(cfg.out, "simulations.gsim")
	// Merge the shard files that exist: for a missing one, Merge reports
	// the chunks missing and that the shard has no file.
	var inputs []string
	for i := range cfg.shards {
		if _, err := os.Stat(shardFile(i)); err == nil {
			inputs = append(inputs, shardFile(i))
		}
	}
	if len(inputs) == 0 {
		return fmt.Errorf("no shard files in %s: simulate them first (-step simulate or -step all)", shardDir)
	}
	info, err := simulators.Merge(merged, inputs...)
	if err != nil {
		// ErrIncomplete lists the missing chunks and the shards they
		// belong to: rerun those shards (their files resume).
		if errors.Is(err, simulators.ErrMismatch) {
			return fmt.Errorf("merging the shards: %w (use the flags of the run that wrote them, or another -out)", err)
		}
		return fmt.Errorf("merging the shards: %w", err)
	}
	mergeTime := time.Since(t0)
	fmt.Fprintf(stdout, "merged %d chunks from %d shard files into %s (%.1f MB, complete: %v) in %.2fs\n",
		info.Chunks, len(inputs), merged, float64(info.Bytes)/1e6, info.Header.Complete, mergeTime.Seconds())
	r, err := simulators.OpenStore(merged)
	if err != nil {
		return err
	}
	defer r.Close()
	mh := r.Header()
	c := mh.NumChunks() / 2
	if err := spotCheck(ctx, model, prior, r, c, cfg.workers); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "spot check: chunk %d simulated again in this process equals the merged file bit for bit\n", c)

	// Step 3: train from the file. NewStoreSource reads the file once to
	// count the valid rows of each chunk; AppendSource reads it once more to
	// check the values against the prior; Train then streams it.
	src, err := simulators.NewStoreSource(r)
	if err != nil {
		return err
	}
	rep := src.Report()
	fmt.Fprintf(stdout, "training data: %d simulations, %d valid, %d dropped (%d invalid, %d failed), in %d blocks\n",
		rep.Done, rep.OK, src.Dropped(), rep.Invalid, rep.Failed, src.NumBlocks())
	npe, err := sbi.NewNPE(prior, nil)
	if err != nil {
		return err
	}
	if _, err := npe.AppendSource(ctx, src); err != nil {
		return err
	}
	ckpt := filepath.Join(cfg.out, "npe.ckpt")
	if _, err := os.Stat(ckpt); err == nil {
		fmt.Fprintf(stdout, "found %s: training resumes from it (delete it to train from scratch)\n", ckpt)
	}
	// The rng of training gets its own stream, so that a rerun passes Train
	// an rng in the same state, as resuming from a checkpoint requires.
	trainRNG := rand.New(rand.NewPCG(cfg.seed, 1))
	t0 = time.Now()
	// Every epoch shuffles the blocks, then the rows within windows of
	// -window blocks; a batch draws from at most two consecutive windows,
	// so at most 2·window blocks are in memory at once (a least recently
	// used cache), whatever the size of the file. A small window costs
	// nothing statistically here: every chunk already holds independent
	// draws from the prior, so the rows of a few random chunks are as good
	// a batch as rows from the whole file.
	tr, err := npe.Train(ctx, trainRNG, &sbi.TrainSettings{Settings: flows.Settings{
		WindowBlocks: cfg.window,
		MaxEpochs:    cfg.epochs,
		OnEpoch: func(s flows.EpochStats) error {
			if s.Epoch%10 == 0 {
				fmt.Fprintf(stdout, "  epoch %3d: validation log-prob %.3f (best %.3f at epoch %d), %.1fs\n",
					s.Epoch, -s.ValLoss, -s.BestValLoss, s.BestEpoch, s.Elapsed.Seconds())
			}
			return nil
		},
		// The checkpoint is tied to the run: data of another seed, size or
		// prior is refused rather than trained on with stale weights.
		Checkpoint: &flows.CheckpointSettings{Path: ckpt, Tag: fmt.Sprintf("%s %s seed %d n %d", task, hdr.PriorSHA256, cfg.seed, cfg.n)},
	}})
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return fmt.Errorf("training interrupted; the checkpoint %s holds what was done: rerun the same command to resume (%w)", ckpt, err)
		}
		if errors.Is(err, flows.ErrCheckpoint) {
			return fmt.Errorf("training: %w (the flags differ from the run that wrote it)", err)
		}
		return fmt.Errorf("training: %w", err)
	}
	trainTime := time.Since(t0)
	// tr.Epochs and tr.Runtime count the runs before a resume too. A
	// complete checkpoint restores the trained weights without training:
	// then no block was cached.
	trained := tr.Stream.MaxResidentRows > 0
	if trained {
		fmt.Fprintf(stdout, "training: %d epochs (best %d, validation log-prob %.3f) in %.1fs on %d rows; %d block reads from disk, at most %d rows in memory\n",
			tr.Epochs, tr.BestEpoch, -tr.BestValLoss, tr.Runtime.Seconds(), tr.NumSimulations,
			tr.Stream.BlockReads, tr.Stream.MaxResidentRows)
	} else {
		fmt.Fprintf(stdout, "training: restored from the complete checkpoint %s (%d epochs, best %d, validation log-prob %.3f)\n",
			ckpt, tr.Epochs, tr.BestEpoch, -tr.BestValLoss)
	}

	// Step 4: the posterior at an observation simulated at the true θ.
	t0 = time.Now()
	xo, err := model.Run(ctx, nil, truth, rand.New(rand.NewPCG(cfg.seed, 2)))
	if err != nil {
		return fmt.Errorf("simulating the observation: %w", err)
	}
	post, err := npe.Posterior(nil)
	if err != nil {
		return err
	}
	atXo, err := post.At(xo)
	if err != nil {
		return err
	}
	s, err := atXo.SampleN(ctx, cfg.samples, rand.New(rand.NewPCG(cfg.seed, 3)))
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "posterior at x_o (%d samples, acceptance rate %.3f; prior width 3 per parameter):\n",
		cfg.samples, s.AcceptanceRate)
	for j, name := range labels {
		m, sd := stat.MeanStdDev(mat.Col(nil, j, s.Samples), nil)
		fmt.Fprintf(stdout, "  %-28s mean %6.3f, std %.3f, true %6.3f\n", name, m, sd, truth[j])
	}
	pair, err := plots.NewPair(&plots.PairConfig{
		Labels: labels,
		Truth:  truth,
		Title:  fmt.Sprintf("predator–prey: NPE posterior from %d simulations on disk", cfg.n),
	}, plots.SampleSet{Name: "NPE posterior", Samples: s.Samples})
	if err != nil {
		return err
	}
	plotFile := filepath.Join(cfg.out, "largescale_posterior.png")
	if err := pair.Save(plotFile, 7*vg.Inch, 7*vg.Inch); err != nil {
		return err
	}
	sampleTime := time.Since(t0)
	fmt.Fprintf(stdout, "wrote %s\n", plotFile)

	fmt.Fprintln(stdout, "summary:")
	fmt.Fprintf(stdout, "  simulations      %d in %d shards, %d dropped as invalid or failed (%.1f%%)\n",
		cfg.n, cfg.shards, src.Dropped(), 100*float64(src.Dropped())/float64(cfg.n))
	if trained {
		fmt.Fprintf(stdout, "  training         %d epochs, peak rows in memory %d of %d (cache of %d blocks)\n",
			tr.Epochs, tr.Stream.MaxResidentRows, tr.NumSimulations, tr.Stream.CacheBlocks)
	} else {
		fmt.Fprintf(stdout, "  training         %d epochs, restored from the checkpoint\n", tr.Epochs)
	}
	fmt.Fprintf(stdout, "  times (this run) simulate %.1fs, merge %.2fs, train %.1fs, sample and plot %.1fs, total %.1fs\n",
		simTime.Seconds(), mergeTime.Seconds(), trainTime.Seconds(), sampleTime.Seconds(), time.Since(start).Seconds())
	printCluster(stdout, cfg)
	return nil
}

// shardsToRun returns the shards step 1 simulates: all of them, or with
// -step simulate the one given by -shard or the environment.
func shardsToRun(cfg *config) ([]int, error) {
	if cfg.step == "simulate" {
		if cfg.shard >= 0 {
			return []int{cfg.shard}, nil
		}
		for _, name := range shardEnv {
			v, ok := os.LookupEnv(name)
			if !ok || v == "" {
				continue
			}
			i, err := strconv.Atoi(v)
			if err != nil || i < 0 || i >= cfg.shards {
				return nil, fmt.Errorf("$%s = %q: want a shard from 0 to %d", name, v, cfg.shards-1)
			}
			return []int{i}, nil
		}
	}
	all := make([]int, cfg.shards)
	for i := range all {
		all[i] = i
	}
	return all, nil
}

// shardOutcome is what simulating one shard did.
type shardOutcome struct {
	had, want int // chunks on disk before, chunks of the shard
	rep       simulators.Report
	err       error
}

// simulateShards simulates the shards which, each into its own file and on
// its own goroutine, as independent cluster jobs would, and prints what each
// did. A shard file that exists is resumed: only its missing chunks are
// simulated.
func simulateShards(ctx context.Context, stdout io.Writer, sim simulators.Simulator, prior dist.SizedSampler,
	run simulators.StoreHeader, which []int, file func(int) string, workers int) error {
	// Open every file before simulating anything, the existing ones
	// first, so that a file of another run stops the program before it
	// creates new files or spends time.
	out := make([]shardOutcome, len(which))
	writers := make([]*simulators.StoreWriter, len(which))
	defer func() {
		for _, w := range writers {
			if w != nil {
				w.Close()
			}
		}
	}()
	for _, existing := range []bool{true, false} {
		for k, i := range which {
			if _, err := os.Stat(file(i)); (err == nil) != existing {
				continue
			}
			h := run
			h.Shard = i
			w, err := simulators.OpenStoreWriter(file(i), h)
			if err != nil {
				if errors.Is(err, simulators.ErrMismatch) {
					return fmt.Errorf("shard %d: %w\n(the shard files belong to a run with other flags: use its flags, or another -out)", i, err)
				}
				return fmt.Errorf("shard %d: %w", i, err)
			}
			writers[k] = w
			chunks, err := simulators.ShardChunks(run.N, i, run.Shards)
			if err != nil {
				return err
			}
			out[k].want, out[k].had = len(chunks), w.Len()
		}
	}
	var wg sync.WaitGroup
	for k := range which {
		wg.Go(func() {
			o, w := &out[k], writers[k]
			o.rep, o.err = simulators.Shard(ctx, sim, prior, w, &simulators.Settings{Workers: workers, MaxErrors: 1})
			// Close rewrites a file that became complete (a run of one
			// shard) canonically.
			writers[k] = nil
			if err := w.Close(); o.err == nil {
				o.err = err
			}
		})
	}
	wg.Wait()
	var errs []error
	for k, i := range which {
		o := out[k]
		r := o.rep
		fmt.Fprintf(stdout, "shard %d of %d: %d chunks, %d on disk before, simulated %d (%d ok, %d invalid, %d failed) in %.1fs\n",
			i, run.Shards, o.want, o.had, r.Done, r.OK, r.Invalid, r.Failed, r.Runtime.Seconds())
		if len(r.Errors) > 0 {
			fmt.Fprintf(stdout, "  first failure: %v\n", r.Errors[0])
		}
		if o.err != nil {
			errs = append(errs, fmt.Errorf("shard %d: %w", i, o.err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		if errors.Is(err, context.Canceled) {
			return fmt.Errorf("simulation interrupted; every finished chunk is on disk: rerun the same command to resume: %w", context.Cause(ctx))
		}
		return err
	}
	return nil
}

// spotCheck simulates chunk c of the run of r again and compares it with the
// file, bit for bit. This holds for any split into shards and any number of
// workers, with the same build on the same CPU architecture (see
// deploy/README.md).
func spotCheck(ctx context.Context, sim simulators.Simulator, prior dist.SizedSampler, r *simulators.StoreReader, c, workers int) error {
	stored, err := r.ReadChunk(c, nil)
	if err != nil {
		return err
	}
	h := r.Header()
	same := func(a, b *mat.Dense) bool {
		return slices.EqualFunc(a.RawMatrix().Data, b.RawMatrix().Data, func(u, v float64) bool {
			return math.Float64bits(u) == math.Float64bits(v)
		})
	}
	var ok bool
	_, err = simulators.SimulateChunks(ctx, sim, prior, h.N, simulators.ChunkSeed(h.Seed), []int{c},
		&simulators.Settings{Workers: workers}, func(ch *simulators.Chunk) error {
			ok = same(ch.Theta, stored.Theta) && same(ch.X, stored.X) && slices.Equal(ch.Status, stored.Status)
			return nil
		})
	if err != nil {
		return fmt.Errorf("spot check of chunk %d: %w", c, err)
	}
	if !ok {
		return fmt.Errorf("spot check: chunk %d simulated again differs from %s: was the file written by another build of this program?", c, r.Name())
	}
	return nil
}

// printCluster prints how the same program runs on a Slurm cluster.
func printCluster(stdout io.Writer, cfg *config) {
	flags := fmt.Sprintf("-simulations %d -shards %d -seed %d -out /shared/run", cfg.n, cfg.shards, cfg.seed)
	fmt.Fprintf(stdout, `on a Slurm cluster, with this program built once and the folder -out on a shared file system:
  go build -o /shared/bin/largescale ./examples/largescale
  sbatch --array=0-%d --requeue --wrap '/shared/bin/largescale -step simulate %s'
  sbatch --dependency=afterok:ARRAY_JOB_ID --wrap '/shared/bin/largescale -step train %s'
  (-step simulate takes its shard from $SLURM_ARRAY_TASK_ID; a requeued task resumes its file; deploy/README.md
  and deploy/slurm/ do the same for built-in tasks with gosbi simulate -shard I -shards K and gosbi merge)
`, cfg.shards-1, flags, flags)
}

// predatorPrey is the simulator: a stochastic Lotka–Volterra model. It
// implements simulators.Simulator; Run is safe for concurrent use since it
// keeps all its state on the stack.
type predatorPrey struct {
	delay time.Duration // artificial extra time of every simulation
}

var _ simulators.Simulator = (*predatorPrey)(nil)

// errExplosion reports a simulation abandoned after maxEvents events.
var errExplosion = errors.New("population explosion")

// Dims returns the lengths of θ (4 log rates) and x (9 statistics).
func (m *predatorPrey) Dims() (theta, x int) { return 4, nStats }

// Run simulates one trajectory for θ = (log c₁, …, log c₄) and returns its
// summary statistics. An explosion is an error (Simulate marks the
// simulation failed); a constant series gives -Inf and NaN statistics
// (marked invalid).
func (m *predatorPrey) Run(ctx context.Context, dst, theta []float64, rng *rand.Rand) ([]float64, error) {
	if dst == nil {
		dst = make([]float64, nStats)
	}
	var series [2][nObs]float64
	if err := gillespie(ctx, theta, rng, &series); err != nil {
		return nil, err
	}
	if m.delay > 0 {
		t := time.NewTimer(m.delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
	summarize(&series, dst)
	return dst, nil
}

// gillespie simulates the Markov jump process exactly (Gillespie's direct
// method: exponential waiting time with the total rate, then a reaction
// chosen in proportion to its rate) and records the state at the
// observation times.
func gillespie(ctx context.Context, theta []float64, rng *rand.Rand, series *[2][nObs]float64) error {
	c1, c2, c3, c4 := math.Exp(theta[0]), math.Exp(theta[1]), math.Exp(theta[2]), math.Exp(theta[3])
	x, y := float64(initX), float64(initY)
	t := 0.0
	k := 0 // next observation
	for ev := 0; ; ev++ {
		if ev == maxEvents {
			return fmt.Errorf("after %d events at t = %.2f (%g predators, %g prey): %w", ev, t, x, y, errExplosion)
		}
		if ev&1023 == 1023 && ctx.Err() != nil {
			return ctx.Err()
		}
		r1, r2, r3, r4 := c1*x*y, c2*x, c3*y, c4*x*y
		total := r1 + r2 + r3 + r4
		next := math.Inf(1) // both species extinct: nothing happens any more
		if total > 0 {
			next = t + rng.ExpFloat64()/total
		}
		for k < nObs && float64(k)*obsStep < next {
			series[0][k], series[1][k] = x, y
			k++
		}
		if k == nObs {
			return nil
		}
		t = next
		switch u := rng.Float64() * total; {
		case u < r1:
			x++
		case u < r1+r2:
			x--
		case u < r1+r2+r3:
			y++
		default:
			y--
		}
	}
}

// summarize writes the 9 statistics of the series (X, Y) into dst: means,
// log variances, autocorrelations at lags 1 and 2 (0.2 and 0.4 time units)
// of X and of Y, and the cross-correlation of X and Y.
func summarize(series *[2][nObs]float64, dst []float64) {
	var mean, sd [2]float64
	for s := range 2 {
		m, v := stat.MeanVariance(series[s][:], nil)
		mean[s], sd[s] = m, math.Sqrt(v)
		dst[s] = m
		dst[2+s] = math.Log(v) // -Inf for a constant series
	}
	for s := range 2 {
		for lag := 1; lag <= 2; lag++ {
			a := 0.0
			for i := 0; i+lag < nObs; i++ {
				a += (series[s][i] - mean[s]) * (series[s][i+lag] - mean[s])
			}
			dst[4+2*s+lag-1] = a / ((nObs - 1) * sd[s] * sd[s]) // NaN for a constant series
		}
	}
	cc := 0.0
	for i := range nObs {
		cc += (series[0][i] - mean[0]) * (series[1][i] - mean[1])
	}
	dst[8] = cc / ((nObs - 1) * sd[0] * sd[1])
}
