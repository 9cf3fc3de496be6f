package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/gosbi/gosbi/dist"
	"github.com/gosbi/gosbi/simulators"
)

// shardEnv lists the environment variables from which -shard defaults, in
// order: Slurm job arrays, then Kubernetes Indexed Jobs.
var shardEnv = []string{"SLURM_ARRAY_TASK_ID", "JOB_COMPLETION_INDEX"}

const simulateSynopsis = `(-task NAME | -command 'PROGRAM ARGS' -prior PRIOR.json -x-dim D) -n N -seed S -out FILE
             [-shard I -shards K] [-workers W] [-data DIR]`

// runSimulate simulates a run, or one shard of it, into a simulation file,
// appending every chunk durably as it finishes and resuming an existing
// file.
func runSimulate(ctx context.Context, e env, args []string) error {
	flags := newFlags(e, "simulate", simulateSynopsis)
	task := flags.String("task", "", "sbibm task name (see 'gosbi tasks')")
	command := flags.String("command", "", "external simulator command line, speaking the line protocol of package simulators\n(split at spaces; single or double quotes group words)")
	priorFile := flags.String("prior", "", "prior specification JSON file (with -command)")
	xDim := flags.Int("x-dim", 0, "length of x returned by the command (with -command)")
	n := flags.Int("n", 0, "number of simulations of the whole run")
	seed := flags.Uint64("seed", 1, "seed of the run; every shard of a run must use the same")
	out := flags.String("out", "", "simulation file to write or resume")
	shard := flags.Int("shard", -1, "shard to simulate, 0-based (default $SLURM_ARRAY_TASK_ID, else $JOB_COMPLETION_INDEX)")
	shards := flags.Int("shards", 0, "number of shards of the run: shard I simulates the chunks c with c mod K = I")
	workers := flags.Int("workers", 0, "parallel simulations (default: the number of CPUs)")
	data := flags.String("data", "", "sbibm data folder (needed by slcp_distractors only)")
	timeout := flags.Duration("timeout", time.Minute, "time limit of one simulation of -command (negative: none)")
	allowFailed := flags.Bool("allow-failed", false, "keep chunks in which every simulation failed even before any simulation succeeded\n(by default such a start stops the run: the command is probably broken)")
	if err := parse(flags, args); err != nil {
		return err
	}
	set := visited(flags)

	// The run.
	switch {
	case (*task == "") == (*command == ""):
		return usagef("give exactly one of -task and -command")
	case *n < 1:
		return usagef("-n %d: want at least 1", *n)
	case *out == "":
		return usagef("-out FILE is required")
	case *workers < 0:
		return usagef("-workers %d: want at least 0", *workers)
	}
	si, sk, err := shardFlags(*shard, *shards, set["shard"], set["shards"])
	if err != nil {
		return err
	}
	h := simulators.StoreHeader{Seed: *seed, N: *n, Shard: si, Shards: sk}
	var sim simulators.Simulator
	var prior dist.SizedSampler
	if *task != "" {
		if set["prior"] || set["x-dim"] {
			return usagef("-prior and -x-dim go with -command, not -task")
		}
		t, err := newTaskFlag(*task, *data)
		if err != nil {
			return err
		}
		sim, prior = t.Simulator, t.Prior
		h.Task, h.ThetaNames, h.XNames = t.Name, t.ThetaNames, t.XNames
	} else {
		if *priorFile == "" || *xDim < 1 {
			return usagef("-command needs -prior FILE and -x-dim D >= 1")
		}
		argv, err := splitCommand(*command)
		if err != nil {
			return usagef("-command: %v", err)
		}
		spec, err := simulators.ReadPriorSpec(*priorFile)
		if err != nil {
			return usageError{err}
		}
		p, err := spec.Prior()
		if err != nil {
			return usageError{err}
		}
		c, err := simulators.NewCommand(spec.Dim(), *xDim, argv[0], argv[1:], &simulators.CommandSettings{Timeout: *timeout})
		if err != nil {
			return usageError{err}
		}
		defer c.Close()
		sim, prior = c, p
		h.Command, h.PriorSHA256, h.ThetaNames = *command, spec.Hash(), spec.Names()
		h.ThetaDim, h.XDim = spec.Dim(), *xDim
	}
	h.ThetaDim, h.XDim = sim.Dims()

	w, err := simulators.OpenStoreWriter(*out, h)
	if err != nil {
		if errors.Is(err, simulators.ErrMismatch) || errors.Is(err, simulators.ErrFormat) || errors.Is(err, simulators.ErrInput) {
			return usageError{fmt.Errorf("%w\n(use another -out file, or the command line that wrote it)", err)}
		}
		return err
	}
	closed := false
	defer func() {
		if !closed {
			w.Close()
		}
	}()
	if r := w.Recovered(); r != nil {
		fmt.Fprintf(e.stderr, "gosbi simulate: %s: cut off %d damaged bytes at the end (offset %d: %v); their chunks are simulated again\n",
			*out, r.Dropped, r.Offset, r.Reason)
	}
	what := h.Task
	if what == "" {
		what = fmt.Sprintf("command %q", h.Command)
	}
	mine, _ := simulators.ShardChunks(h.N, si, sk)
	missing := w.Missing()
	if w.Header().Complete {
		fmt.Fprintf(e.stdout, "%s already holds the complete run (%s, n=%d, seed %d): nothing to do\n", *out, what, h.N, h.Seed)
		return nil
	}
	shardText := ""
	if sk > 1 {
		shardText = fmt.Sprintf(", shard %d of %d", si, sk)
	}
	fmt.Fprintf(e.stdout, "simulate %s: n=%d, seed %d%s: %d of %d chunks to run (%d already in %s)\n",
		what, h.N, h.Seed, shardText, len(missing), len(mine), len(mine)-len(missing), *out)

	total := 0
	for _, c := range missing {
		total += min(h.N, (c+1)*simulators.ChunkSize) - c*simulators.ChunkSize
	}
	bar := newProgress(e.stderr, e.tty, false, "simulating", total)
	settings := &simulators.Settings{Workers: *workers, OnProgress: func(p simulators.Progress) error {
		if p.Done < p.Total { // the end is reported by finish
			bar.update(p.Done, fmt.Sprintf("(%d invalid, %d failed)", p.Invalid, p.Failed))
		}
		return nil
	}}
	if h.Command != "" && len(missing) > 0 && !*allowFailed {
		if err := probeCommand(ctx, sim, prior); err != nil {
			return err
		}
	}
	var rep simulators.Report
	if len(missing) > 0 {
		rep, err = simulators.SimulateChunks(ctx, sim, prior, h.N, simulators.ChunkSeed(h.Seed), missing, settings,
			guardFailures(ctx, w, *allowFailed))
		bar.finish(rep.Done, fmt.Sprintf("(%d ok, %d invalid, %d failed) in %v", rep.OK, rep.Invalid, rep.Failed, rep.Runtime.Round(time.Millisecond)))
	}
	for i, se := range rep.Errors {
		if i == 3 {
			fmt.Fprintf(e.stderr, "  … %d failed simulations in all\n", rep.Failed)
			break
		}
		fmt.Fprintf(e.stderr, "  failed: %v\n", se)
	}
	closed = true
	cerr := w.Close()
	if err != nil {
		part := "run"
		if sk > 1 {
			part = "shard"
		}
		kept := fmt.Sprintf("%d of %d chunks of this %s are safely in %s; rerun the same command to resume",
			len(mine)-len(w.Missing()), len(mine), part, *out)
		if ctx.Err() != nil {
			return fmt.Errorf("interrupted: %s", kept)
		}
		return fmt.Errorf("%w\n%s", err, kept)
	}
	if cerr != nil {
		return cerr
	}
	if w.Header().Complete {
		fmt.Fprintf(e.stdout, "wrote %s: the complete run of %d simulations\n", *out, h.N)
	} else {
		fmt.Fprintf(e.stdout, "wrote %s: shard %d of %d complete (%d chunks); merge the shards with 'gosbi merge -out FILE SHARD_FILES...'\n",
			*out, si, sk, len(mine))
	}
	return nil
}

// probeCommand runs one simulation of an external command, at a θ drawn
// from the prior with a stream of its own (the run's streams are not
// touched), so that a broken command fails in seconds with its error
// rather than filling the file with failures. An error the program itself
// reports for that θ is not fatal.
func probeCommand(ctx context.Context, sim simulators.Simulator, prior dist.SizedSampler) error {
	rng := rand.New(rand.NewPCG(0x50524f42, 0)) // "PROB"
	theta := make([]float64, prior.Dim())
	prior.Sample(theta, rng)
	_, err := sim.Run(ctx, nil, theta, rng)
	if err == nil || errors.Is(err, simulators.ErrProgram) {
		return nil
	}
	return fmt.Errorf("the command failed a test simulation at θ = %v, nothing was run: %w\n(-allow-failed skips this check)", theta, err)
}

// errAllFailed stops a run whose first chunks failed entirely.
var errAllFailed = errors.New("every simulation of the chunk failed before any succeeded")

// guardFailures returns the chunk callback that appends to w. Unless allow
// is set, a chunk in which every simulation failed, before any simulation
// of this process succeeded, stops the run without being written: such a
// start usually means a broken command, and writing it would make the
// failures part of the run.
//
// A chunk that finishes after ctx is cancelled is not written either: a
// signal from the terminal also reaches the processes of -command, whose
// simulations may then fail for that reason alone.
func guardFailures(ctx context.Context, w *simulators.StoreWriter, allow bool) func(*simulators.Chunk) error {
	sawSuccess := allow
	return func(c *simulators.Chunk) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if !sawSuccess {
			allFailed := true
			for _, st := range c.Status {
				allFailed = allFailed && st == simulators.StatusFailed
			}
			if allFailed {
				first := "no error kept"
				if len(c.Errors) > 0 {
					first = c.Errors[0].Error()
				}
				return fmt.Errorf("%w; nothing was written (-allow-failed keeps such chunks); the first error: %s", errAllFailed, first)
			}
			sawSuccess = true
		}
		return w.Append(c)
	}
}

// visited returns the names of the flags set on the command line.
func visited(fs *flag.FlagSet) map[string]bool {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return set
}

// shardFlags resolves -shard and -shards: -shard defaults from the first
// of shardEnv that is set, and a shard index needs -shards.
func shardFlags(shard, shards int, shardSet, shardsSet bool) (int, int, error) {
	from := "-shard"
	if !shardSet {
		for _, name := range shardEnv {
			v, ok := os.LookupEnv(name)
			if !ok || v == "" {
				continue
			}
			i, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				return 0, 0, usagef("$%s = %q is not a shard index", name, v)
			}
			shard, shardSet, from = i, true, "$"+name
			break
		}
	}
	switch {
	case !shardSet && !shardsSet:
		return 0, 1, nil
	case shardSet && !shardsSet:
		return 0, 0, usagef("%s = %d needs -shards K, the number of shards (to run unsharded here, give -shard 0 -shards 1)", from, shard)
	case shards < 1:
		return 0, 0, usagef("-shards %d: want at least 1", shards)
	case !shardSet && shards > 1:
		return 0, 0, usagef("-shards %d needs -shard I (or $%s)", shards, strings.Join(shardEnv, " or $"))
	case !shardSet:
		return 0, 1, nil
	case shard < 0 || shard >= shards:
		return 0, 0, usagef("%s = %d outside 0..%d for -shards %d (Slurm: use --array=0-%d)", from, shard, shards-1, shards, shards-1)
	}
	return shard, shards, nil
}

// splitCommand splits a command line into words at unquoted spaces; single
// quotes keep everything literal, double quotes allow \" and \\, and a
// backslash outside quotes escapes the next character.
func splitCommand(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch == ' ' || ch == '\t' || ch == '\n':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case ch == '\'':
			inWord = true
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, errors.New("unterminated single quote")
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
		case ch == '"':
			inWord = true
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) && (s[i+1] == '"' || s[i+1] == '\\') {
					i++
				}
				cur.WriteByte(s[i])
			}
			if i >= len(s) {
				return nil, errors.New("unterminated double quote")
			}
		case ch == '\\' && i+1 < len(s):
			inWord = true
			i++
			cur.WriteByte(s[i])
		default:
			inWord = true
			cur.WriteByte(ch)
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	if len(words) == 0 {
		return nil, errors.New("empty command")
	}
	return words, nil
}
