package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/gosbi/gosbi/sbi"
	"github.com/gosbi/gosbi/simulators"
)

// infer -train-data FILE trains on a complete simulation file written by
// `gosbi simulate` or `gosbi merge` instead of simulating, for the
// single-round methods npe, nle and nre (any -sampler). The file is
// streamed (sbi.NPE.AppendSource, NLE.AppendSource, NRE.AppendSource):
// training runs in flows.Fit's block mode, one block per chunk of the file
// with its failed and invalid simulations left out (counted in
// summary.json), and only a cache of two shuffling windows of blocks is in
// memory. With -sampler vi -vi-warm-start npe the warm start's NPE streams
// the same file.

// trainData is an opened training file.
type trainData struct {
	path   string
	reader *simulators.StoreReader
	src    *simulators.StoreSource
	tag    string // identifies the file's run in training checkpoints
}

// openTrainData opens path for the task named task with dimensions td and
// xd: the file must hold a complete run of that task. Errors for another
// task or other dimensions are usage errors; a partial file gives an error
// wrapping simulators.ErrIncomplete that lists the missing chunks.
func openTrainData(path, task string, td, xd int) (*trainData, error) {
	r, err := simulators.OpenStore(path)
	if err != nil {
		return nil, fmt.Errorf("-train-data: %w", err)
	}
	h := r.Header()
	switch {
	case h.Task != task:
		r.Close()
		name := h.Task
		if name == "" {
			name = "command " + h.Command
		}
		return nil, usagef("-train-data %s holds simulations of %q, not of task %q", path, name, task)
	case h.ThetaDim != td || h.XDim != xd:
		r.Close()
		return nil, usagef("-train-data %s holds θ of %d and x of %d values, task %s has %d and %d", path, h.ThetaDim, h.XDim, task, td, xd)
	}
	src, err := simulators.NewStoreSource(r)
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("-train-data: %w", err)
	}
	hb, err := json.Marshal(h)
	if err != nil {
		r.Close()
		return nil, err
	}
	sum := sha256.Sum256(hb)
	return &trainData{path: path, reader: r, src: src, tag: hex.EncodeToString(sum[:8])}, nil
}

// Close closes the file.
func (d *trainData) Close() error { return d.reader.Close() }

// inferFromFile is sbi.Infer for one round of NPE whose simulations come
// from the file d instead of a simulator: the round's report holds the
// file's counts (its simulation time is not stored, so it is zero). With
// a checkpoint folder ck (nil for none), training saves and resumes its
// state there.
func inferFromFile(ctx context.Context, d *trainData, p pipeline, rng *rand.Rand, s *sbi.InferSettings, ck *ckpt) (*sbi.DirectPosterior, *sbi.InferResult, error) {
	start := time.Now()
	npe, err := sbi.NewNPE(p.prior, s.Config)
	if err != nil {
		return nil, nil, err
	}
	res, err := d.round(ctx, npe, rng, d.trainSettings(s.Train, ck), nil, s.OnRound)
	if err != nil {
		return nil, res, err
	}
	post, err := npe.Posterior(s.Posterior)
	res.Runtime = time.Since(start)
	return post, res, err
}

// trainSettings returns train with the training checkpoint of ck (none
// when ck is nil), tagged with the file's run.
func (d *trainData) trainSettings(train *sbi.TrainSettings, ck *ckpt) *sbi.TrainSettings {
	if ck == nil {
		return train
	}
	train = ck.trainSettings(train, 0)
	c := *train.Checkpoint
	c.Tag += ":" + d.tag
	train.Checkpoint = &c
	return train
}

// inferPotentialFromFile is sbi.InferNLE (or InferNRE when ratio is set)
// for one round whose simulations come from the file d, as inferFromFile.
// A warm start (nil for none) trains its NPE on the same file, with the
// run's generator in the state the estimator's training starts from, as
// when it trains on simulations.
func inferPotentialFromFile(ctx context.Context, d *trainData, p pipeline, rng *rand.Rand, s *sbi.PotentialInferSettings, ck *ckpt, ratio bool, warm *warmStart) (*sbi.MCMCPosterior, *sbi.InferResult, error) {
	start := time.Now()
	type estimator interface {
		fileEstimator
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
	res, err := d.round(ctx, est, rng, d.trainSettings(s.Train, ck), warm, s.OnRound)
	if err != nil {
		return nil, res, err
	}
	post, err := est.Posterior(s.MCMC)
	res.Runtime = time.Since(start)
	return post, res, err
}

// fileEstimator is what the round of a run on a file needs of an estimator.
type fileEstimator interface {
	AppendSource(ctx context.Context, src sbi.Source) (int, error)
	Train(ctx context.Context, rng *rand.Rand, settings *sbi.TrainSettings) (*sbi.TrainResult, error)
}

// round runs the one round of a run on the file d: est takes the file's
// simulations and trains on them with train; before that a warm start
// (nil for none) trains its NPE on them. onRound (nil for none) sees the
// round's result.
func (d *trainData) round(ctx context.Context, est fileEstimator, rng *rand.Rand, train *sbi.TrainSettings, warm *warmStart, onRound func(sbi.RoundResult) error) (*sbi.InferResult, error) {
	res := &sbi.InferResult{}
	rr := sbi.RoundResult{Proposal: "prior", ProposalAcceptance: 1, Simulation: d.src.Report()}
	var err error
	if rr.Dropped, err = est.AppendSource(ctx, d.src); err != nil {
		return res, fmt.Errorf("-train-data %s: %w", d.path, err)
	}
	if warm != nil {
		if err := warm.trainOnSource(ctx, d.src, d.tag); err != nil {
			return res, fmt.Errorf("-train-data %s: %w", d.path, err)
		}
	}
	if rr.Train, err = est.Train(ctx, rng, train); err != nil {
		return res, err
	}
	res.Rounds = append(res.Rounds, rr)
	if onRound != nil {
		if err := onRound(rr); err != nil {
			return res, err
		}
	}
	return res, nil
}

// trainOnSource trains the warm start's NPE on src, as onSimulations does
// on the first round's simulations: from a copy of the run's generator,
// which it does not advance. tag is added to its checkpoint's tag.
func (w *warmStart) trainOnSource(ctx context.Context, src sbi.Source, tag string) error {
	train := w.train
	if train.Checkpoint != nil {
		t, c := *train, *train.Checkpoint
		c.Tag += ":" + tag
		t.Checkpoint = &c
		train = &t
	}
	return w.fit(ctx, train, func(npe *sbi.NPE) error {
		_, err := npe.AppendSource(ctx, src)
		return err
	})
}
