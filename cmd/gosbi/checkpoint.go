package main

import (
	"bufio"
	"bytes"
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
	"github.com/gosbi/gosbi/internal/atomicfile"
	"github.com/gosbi/gosbi/nn"
	"github.com/gosbi/gosbi/sbi"
	"github.com/gosbi/gosbi/simulators"
	"gonum.org/v1/gonum/mat"
)

// infer -checkpoint DIR keeps in DIR everything needed to resume an
// interrupted run, of every method (npe, nle, nre and their sequential
// versions snpe, snle, snre with any number of rounds):
//
//	run.json              the arguments that identify the run (task, method,
//	                      sampler, estimator, budget, rounds, seed, epochs,
//	                      observation); a rerun with other arguments is refused
//	simulations-R.gosbi   round R's simulations (θ and x, failed rows
//	                      included, with the simulation report and the time
//	                      and acceptance rate of drawing θ from the round's
//	                      proposal) and the state of the run's random
//	                      generator before and after drawing and simulating
//	                      them, in nn's parameter-file framing (CRC-32C);
//	                      written when the round's simulations are done
//	train-R.ckpt          the training checkpoint of round R (flows.Fit's:
//	                      written every epoch, on interrupt, and marked
//	                      complete at the end); the complete one holds the
//	                      estimator that draws round R+1's proposal
//	warm-start-npe.ckpt   with -sampler vi -vi-warm-start npe: the training
//	                      checkpoint of the warm start's NPE
//
// The run is sbi.Infer (or InferNLE, InferNRE) with the hooks
// WrapSimulations and TrainRound. Rerunning the same command replays the
// rounds: a round whose simulations are saved, for the same generator state
// before, is loaded instead of drawing its proposal and simulating, and the
// generator is moved to the saved state after; training resumes from the
// round's checkpoint (or returns at once when complete). Every random draw
// of a replayed round, and so of the rounds after it and of the sampling,
// is then the same as in an uninterrupted run: posterior_samples.csv and
// the posterior file are byte-identical to an uninterrupted run's, and to
// a run's without -checkpoint. Only whole stages are saved: a round
// interrupted while drawing its proposal or simulating draws and simulates
// again from the start, and sampling is redone.

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

// wrapSimulations is the WrapSimulations hook of sbi.InferSettings and
// PotentialInferSettings: it loads round's simulations if they were saved
// by this run with the generator in its current state, and moves the
// generator to where they left it; otherwise it draws and simulates them
// with run and saves them.
func (c *ckpt) wrapSimulations(round int, run func() (*sbi.RoundSimulations, error)) (*sbi.RoundSimulations, error) {
	before, err := c.src.MarshalBinary()
	if err != nil {
		return nil, err
	}
	path := c.simPath(round)
	if rs, after, err := readSimulations(path, before); err == nil {
		if err := c.src.UnmarshalBinary(after); err != nil {
			return nil, fmt.Errorf("checkpoint %s: %w", path, err)
		}
		return rs, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	rs, err := run()
	if err != nil {
		return nil, err
	}
	after, err := c.src.MarshalBinary()
	if err != nil {
		return nil, err
	}
	if err := writeSimulations(path, rs, before, after); err != nil {
		return nil, fmt.Errorf("saving the simulations of round %d: %w", round, err)
	}
	return rs, nil
}

// simMeta is the metadata of a simulations file. ProposalAcceptance is
// absent (nil, meaning 1) in files of round 0 written before sequential
// checkpoints existed.
type simMeta struct {
	Before, After      []byte
	Report             simulators.Report
	ProposalTimeNS     int64    `json:",omitempty"`
	ProposalAcceptance *float64 `json:",omitempty"`
}

func writeSimulations(path string, rs *sbi.RoundSimulations, before, after []byte) error {
	res := rs.Result
	rep := res.Report
	rep.Errors = nil
	acc := rs.ProposalAcceptance
	m, err := json.Marshal(simMeta{Before: before, After: after, Report: rep, ProposalTimeNS: int64(rs.ProposalTime), ProposalAcceptance: &acc})
	if err != nil {
		return err
	}
	var theta, x *mat.Dense
	if res.Data != nil {
		theta, x = res.Data.Theta, res.Data.X
	}
	var ts []*nn.Tensor
	for _, t := range []struct {
		name string
		m    *mat.Dense
	}{{"theta", theta}, {"x", x}} {
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
func readSimulations(path string, before []byte) (*sbi.RoundSimulations, []byte, error) {
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
	rs := &sbi.RoundSimulations{Result: res, ProposalTime: time.Duration(m.ProposalTimeNS), ProposalAcceptance: 1}
	if m.ProposalAcceptance != nil {
		rs.ProposalAcceptance = *m.ProposalAcceptance
	}
	return rs, m.After, nil
}

// trainSettings returns train with the round's training checkpoint.
func (c *ckpt) trainSettings(train *sbi.TrainSettings, round int) *sbi.TrainSettings {
	s := *train
	s.Checkpoint = &flows.CheckpointSettings{Path: c.trainPath(round), Tag: c.tag}
	return &s
}

// trainRound returns the TrainRound hook of sbi's settings: train with
// each round's training checkpoint.
func (c *ckpt) trainRound(train *sbi.TrainSettings) func(int) *sbi.TrainSettings {
	return func(round int) *sbi.TrainSettings { return c.trainSettings(train, round) }
}

// warmStartCheckpoint returns the training checkpoint of the NPE of
// -vi-warm-start npe.
func (c *ckpt) warmStartCheckpoint() *flows.CheckpointSettings {
	return &flows.CheckpointSettings{Path: filepath.Join(c.dir, "warm-start-npe.ckpt"), Tag: c.tag + " warm start"}
}

// writeAtomic writes path through write atomically, readable by everyone
// (see atomicfile.Write).
func writeAtomic(path string, write func(io.Writer) error) error {
	return atomicfile.Write(path, 0o644, write)
}
