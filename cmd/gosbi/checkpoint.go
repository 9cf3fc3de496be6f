package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/gosbi/gosbi/flows"
	"github.com/gosbi/gosbi/nn"
	"github.com/gosbi/gosbi/sbi"
	"github.com/gosbi/gosbi/simulators"
	"gonum.org/v1/gonum/mat"
)

// infer -checkpoint DIR keeps in DIR everything needed to resume an
// interrupted run of a single-round method (npe, nle, nre):
//
//	run.json              the arguments that identify the run (task, method,
//	                      sampler, estimator, budget, seed, epochs,
//	                      observation); a rerun with other arguments is refused
//	simulations-0.gosbi   the round's simulations (θ and x, failed rows
//	                      included) with the state of the run's random
//	                      generator before and after simulating, in nn's
//	                      parameter-file framing (CRC-32C)
//	train-0.ckpt          the training checkpoint of flows.Fit (written every
//	                      epoch, on interrupt, and marked complete at the end)
//
// Rerunning the same command loads the simulations instead of simulating,
// resumes training from its checkpoint (or skips it when complete) and
// redoes the sampling, so its outputs are those of an uninterrupted run:
// posterior_samples.csv and the posterior file are byte-identical, and so
// are they to a run without -checkpoint. Only whole stages are saved: an
// interrupted simulation run is simulated again from the start.

// ckptRun is the identity of a checkpointed run, stored in run.json.
type ckptRun struct {
	Format      int       `json:"format"`
	Task        string    `json:"task"`
	Method      string    `json:"method"`
	Sampler     string    `json:"sampler"`
	Estimator   string    `json:"estimator"`
	Simulations int       `json:"simulations"`
	Rounds      int       `json:"rounds"`
	Seed        uint64    `json:"seed"`
	MaxEpochs   int       `json:"max_epochs"`
	Observation []float64 `json:"observation"`
}

// errInterrupted marks a run stopped by a signal after saving its state.
var errInterrupted = errors.New("interrupted")

// ckpt is the checkpoint folder of one infer run.
type ckpt struct {
	dir string
	tag string // hash of run.json, the training checkpoint's Tag
	src *rand.PCG
}

// openCheckpoint prepares dir for the run p whose generator is src: it
// creates dir and run.json, or checks that an existing run.json describes
// the same run (a usage error otherwise). resumed reports saved state.
func openCheckpoint(dir string, p pipeline, src *rand.PCG) (c *ckpt, resumed bool, err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, false, err
	}
	id, err := json.Marshal(ckptRun{Format: 1, Task: p.name, Method: p.method, Sampler: p.sampler, Estimator: p.estimator,
		Simulations: p.simulations, Rounds: p.rounds, Seed: p.seed, MaxEpochs: p.maxEpochs, Observation: p.xo})
	if err != nil {
		return nil, false, err
	}
	sum := sha256.Sum256(id)
	c = &ckpt{dir: dir, tag: "gosbi infer " + hex.EncodeToString(sum[:16]), src: src}
	path := filepath.Join(dir, "run.json")
	old, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return c, false, writeAtomic(path, func(w io.Writer) error { _, err := w.Write(append(id, '\n')); return err })
	case err != nil:
		return nil, false, err
	case !bytes.Equal(bytes.TrimSpace(old), id):
		return nil, false, usagef("-checkpoint %s holds another run (%s); this run is %s: use another folder or delete it",
			dir, bytes.TrimSpace(old), id)
	}
	return c, true, nil
}

func (c *ckpt) simPath(round int) string {
	return filepath.Join(c.dir, fmt.Sprintf("simulations-%d.gosbi", round))
}
func (c *ckpt) trainPath(round int) string {
	return filepath.Join(c.dir, fmt.Sprintf("train-%d.ckpt", round))
}

// simulate runs the simulations of round 0 from the prior, as
// simulators.Simulate called with the run's generator, or loads them from
// an earlier run and moves the generator to where the simulation left it.
func (c *ckpt) simulate(ctx context.Context, p pipeline, n int, rng *rand.Rand, settings *simulators.Settings) (*simulators.Result, error) {
	before, err := c.src.MarshalBinary()
	if err != nil {
		return nil, err
	}
	path := c.simPath(0)
	if res, after, err := readSimulations(path, before); err == nil {
		if err := c.src.UnmarshalBinary(after); err != nil {
			return nil, fmt.Errorf("checkpoint %s: %w", path, err)
		}
		return res, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	res, err := simulators.Simulate(ctx, p.sim, p.prior, n, rng, settings)
	if err != nil {
		return nil, err
	}
	after, err := c.src.MarshalBinary()
	if err != nil {
		return nil, err
	}
	if err := writeSimulations(path, res, before, after); err != nil {
		return nil, fmt.Errorf("saving the simulations: %w", err)
	}
	return res, nil
}

// simMeta is the metadata of a simulations file.
type simMeta struct {
	Before, After []byte
	Report        simulators.Report
}

func writeSimulations(path string, res *simulators.Result, before, after []byte) error {
	rep := res.Report
	rep.Errors = nil
	m, err := json.Marshal(simMeta{Before: before, After: after, Report: rep})
	if err != nil {
		return err
	}
	var ts []*nn.Tensor
	for _, t := range []struct {
		name string
		m    *mat.Dense
	}{{"theta", res.Data.Theta}, {"x", res.Data.X}} {
		r, cols := 0, 0
		var data []float64
		if t.m != nil {
			r, cols = t.m.Dims()
			data = make([]float64, 0, r*cols)
			for i := range r {
				data = append(data, t.m.RawRowView(i)...)
			}
		}
		ts = append(ts, &nn.Tensor{Name: t.name, Rows: r, Cols: cols, Data: data})
	}
	return writeAtomic(path, func(w io.Writer) error {
		return nn.SaveMeta(w, ts, map[string]string{"gosbi.simulations": "1", "meta": string(m)})
	})
}

// readSimulations reads a simulations file written when the generator was
// in state before; it returns an error wrapping fs.ErrNotExist if there is
// none.
func readSimulations(path string, before []byte) (*simulators.Result, []byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	ts, meta, err := nn.Read(bufio.NewReader(f))
	if err != nil {
		return nil, nil, fmt.Errorf("checkpoint %s: %w (delete it to simulate again)", path, err)
	}
	var m simMeta
	if meta["gosbi.simulations"] != "1" || len(ts) != 2 || ts[0].Name != "theta" || ts[1].Name != "x" || ts[0].Rows != ts[1].Rows ||
		json.Unmarshal([]byte(meta["meta"]), &m) != nil {
		return nil, nil, fmt.Errorf("checkpoint %s: not a simulations file (delete it to simulate again)", path)
	}
	if !bytes.Equal(m.Before, before) {
		return nil, nil, fmt.Errorf("checkpoint %s: simulations of another run (delete it to simulate again)", path)
	}
	res := &simulators.Result{Report: m.Report, Data: &simulators.Dataset{}}
	if ts[0].Rows > 0 {
		res.Data.Theta = mat.NewDense(ts[0].Rows, ts[0].Cols, ts[0].Data)
		res.Data.X = mat.NewDense(ts[1].Rows, ts[1].Cols, ts[1].Data)
	}
	return res, m.After, nil
}

// trainSettings returns train with the round's training checkpoint.
func (c *ckpt) trainSettings(train *sbi.TrainSettings, round int) *sbi.TrainSettings {
	s := *train
	s.Checkpoint = &flows.CheckpointSettings{Path: c.trainPath(round), Tag: c.tag}
	return &s
}

// inferNPE is sbi.Infer for one round with the checkpoints of c.
func (c *ckpt) inferNPE(ctx context.Context, p pipeline, n int, rng *rand.Rand, s *sbi.InferSettings) (*sbi.DirectPosterior, *sbi.InferResult, error) {
	start := time.Now()
	npe, err := sbi.NewNPE(p.prior, s.Config)
	if err != nil {
		return nil, nil, err
	}
	res := &sbi.InferResult{}
	rr := sbi.RoundResult{Proposal: "prior", ProposalAcceptance: 1}
	sres, err := c.simulate(ctx, p, n, rng, s.Simulate)
	if err != nil {
		return nil, res, fmt.Errorf("simulating: %w", err)
	}
	rr.Simulation = sres.Report
	if sres.Data == nil || sres.Data.Len() == 0 {
		return nil, res, fmt.Errorf("no simulation finished: %w", sbi.ErrInvalidData)
	}
	if rr.Dropped, err = npe.AppendSimulations(sres.Data.Theta, sres.Data.X, nil); err != nil {
		return nil, res, err
	}
	if rr.Train, err = npe.Train(ctx, rng, c.trainSettings(s.Train, 0)); err != nil {
		return nil, res, err
	}
	res.Rounds = append(res.Rounds, rr)
	if s.OnRound != nil {
		if err := s.OnRound(rr); err != nil {
			return nil, res, err
		}
	}
	post, err := npe.Posterior(s.Posterior)
	res.Runtime = time.Since(start)
	return post, res, err
}

// inferPotential is sbi.InferNLE or InferNRE for one round with the
// checkpoints of c.
func (c *ckpt) inferPotential(ctx context.Context, p pipeline, n int, rng *rand.Rand, s *sbi.PotentialInferSettings, ratio bool) (*sbi.MCMCPosterior, *sbi.InferResult, error) {
	start := time.Now()
	type estimator interface {
		AppendSimulations(theta, x *mat.Dense, opts *sbi.AppendOptions) (int, error)
		Train(ctx context.Context, rng *rand.Rand, settings *sbi.TrainSettings) (*sbi.TrainResult, error)
		Posterior(settings *sbi.MCMCSettings) (*sbi.MCMCPosterior, error)
	}
	var (
		est estimator
		err error
	)
	if ratio {
		est, err = sbi.NewNRE(p.prior, s.NRE)
	} else {
		est, err = sbi.NewNLE(p.prior, s.NLE)
	}
	if err != nil {
		return nil, nil, err
	}
	res := &sbi.InferResult{}
	rr := sbi.RoundResult{Proposal: "prior", ProposalAcceptance: 1}
	sres, err := c.simulate(ctx, p, n, rng, s.Simulate)
	if err != nil {
		return nil, res, fmt.Errorf("simulating: %w", err)
	}
	rr.Simulation = sres.Report
	if sres.Data == nil || sres.Data.Len() == 0 {
		return nil, res, fmt.Errorf("no simulation finished: %w", sbi.ErrInvalidData)
	}
	if rr.Dropped, err = est.AppendSimulations(sres.Data.Theta, sres.Data.X, nil); err != nil {
		return nil, res, err
	}
	if rr.Train, err = est.Train(ctx, rng, c.trainSettings(s.Train, 0)); err != nil {
		return nil, res, err
	}
	res.Rounds = append(res.Rounds, rr)
	if s.OnRound != nil {
		if err := s.OnRound(rr); err != nil {
			return nil, res, err
		}
	}
	post, err := est.Posterior(s.MCMC)
	res.Runtime = time.Since(start)
	return post, res, err
}

// writeAtomic writes path through write: a temporary file in the same
// folder, synced and renamed over path, then the folder synced.
func writeAtomic(path string, write func(io.Writer) error) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err = f.Chmod(0o644); err != nil {
		return err
	}
	bw := bufio.NewWriter(f)
	if err = write(bw); err != nil {
		return err
	}
	if err = bw.Flush(); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return err
	}
	if d, derr := os.Open(dir); derr == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
