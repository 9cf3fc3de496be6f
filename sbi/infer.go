package sbi

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/gosbi/gosbi/dist"
	"github.com/gosbi/gosbi/simulators"
)

// InferSettings tunes Infer. The zero value (and a nil *InferSettings) means
// amortised NPE with sbi's defaults: one round, a MAF, default training.
type InferSettings struct {
	// Config is the architecture (nil: defaults).
	Config *NPEConfig
	// Train tunes every round's training, including the OnEpoch progress
	// callback (nil: defaults).
	Train *TrainSettings
	// Simulate tunes the simulation runs, including workers and the
	// OnProgress callback (nil: defaults).
	Simulate *simulators.Settings
	// Posterior holds the settings of the returned posterior and of the
	// proposals of later rounds (nil: defaults).
	Posterior *PosteriorSettings
	// Rounds is the number of rounds; zero means 1. With more than one,
	// round r ≥ 1 draws its θ from the posterior of round r-1 at
	// Observation (SNPE-C, atomic loss), or from the prior restricted to
	// that posterior's highest-density region when Truncate is set (TSNPE,
	// maximum likelihood).
	Rounds int
	// Observation is x_o, required when Rounds > 1.
	Observation []float64
	// Truncate selects truncated proposals (TSNPE) for rounds after the
	// first; Restricted tunes them (nil: defaults).
	Truncate   bool
	Restricted *RestrictedSettings
	// ExcludeInvalid drops invalid simulations of rounds after the first
	// instead of failing (see AppendOptions.ExcludeInvalid).
	ExcludeInvalid bool
	// OnRound, if non-nil, is called after every round; a non-nil error
	// stops Infer, which returns it wrapped.
	OnRound func(RoundResult) error
	// WrapSimulations, if non-nil, wraps the draw of each round's θ from
	// its proposal and their simulation: Infer calls it with the round
	// (from 0) and run, which does that work with Infer's rng, and goes on
	// with what it returns (see RoundSimulations for resuming). An error
	// stops Infer, which returns it wrapped.
	WrapSimulations func(round int, run func() (*RoundSimulations, error)) (*RoundSimulations, error)
	// TrainRound, if non-nil, returns the training settings of each round
	// (from 0), used instead of Train: for example Train with a checkpoint
	// file per round (flows.CheckpointSettings).
	TrainRound func(round int) *TrainSettings
}

// RoundSimulations is what the draw of one round's θ from its proposal and
// their simulation produce, as passed through the WrapSimulations hook of
// InferSettings and PotentialInferSettings.
//
// The hook lets a caller keep every round durable and resume an
// interrupted run: it saves run's result with the state of the random
// source behind Infer's rng before and after run (rand.PCG implements
// encoding.BinaryMarshaler), and when called again for a round whose saved
// state before matches the current one, it returns the saved result
// instead of calling run and moves the source to the saved state after.
// With the training of every round checkpointed (TrainRound and
// flows.CheckpointSettings), the resumed run then ends with bit for bit
// the estimator of an uninterrupted one. The proposal of a later round (the
// previous round's posterior, or its restriction for TSNPE) is built
// before the hook is called, so a returned result is appended as coming
// from it.
type RoundSimulations struct {
	// Result is the simulation run (θ, x and the report).
	Result *simulators.Result
	// ProposalTime and ProposalAcceptance are those of RoundResult: the
	// time spent drawing θ from the proposal and the acceptance rate (zero
	// and 1 for the prior).
	ProposalTime       time.Duration
	ProposalAcceptance float64
}

// RoundResult reports one round of Infer.
type RoundResult struct {
	// Round counts from 0.
	Round int
	// Proposal is "prior", "truncated prior" or "proposal" (the posterior).
	Proposal string
	// ProposalTime is the time spent drawing θ from the proposal (zero for
	// the prior, whose draws happen inside the simulation run), and
	// ProposalAcceptance the acceptance rate of that rejection sampling (1
	// for the prior).
	ProposalTime       time.Duration
	ProposalAcceptance float64
	// Simulation reports the simulation run (counts and wall time).
	Simulation simulators.Report
	// Dropped is the number of invalid simulations left out.
	Dropped int
	// Train is the training result.
	Train *TrainResult
}

// InferResult reports a whole Infer run.
type InferResult struct {
	// Rounds has one entry per finished round.
	Rounds []RoundResult
	// Runtime is the total wall time.
	Runtime time.Duration
}

// Infer runs neural posterior estimation end to end, as sbi's infer: it
// simulates n parameter vectors per round (from the prior in round 0, see
// InferSettings.Rounds for the others) with simulators.Simulate, trains an
// NPE on all rounds so far, and returns the posterior with a report. It is
// a thin wrapper around NewNPE, simulators.Simulate or SimulateAt,
// NPE.AppendSimulations, NPE.Train, NPE.Posterior and NewRestrictedPrior;
// all randomness comes from rng.
//
// Errors wrap ErrInput for invalid arguments (nil simulator or prior, n < 2,
// mismatched dimensions, a missing or wrong-length observation for several
// rounds), and the errors of the steps; when ctx is cancelled or a callback
// fails, Infer returns the rounds finished so far with the error.
func Infer(ctx context.Context, sim simulators.Simulator, prior dist.Distribution, n int, rng *rand.Rand, settings *InferSettings) (*DirectPosterior, *InferResult, error) {
	start := time.Now()
	var s InferSettings
	if settings != nil {
		s = *settings
	}
	if s.Rounds == 0 {
		s.Rounds = 1
	}
	switch {
	case sim == nil || prior == nil || rng == nil:
		return nil, nil, fmt.Errorf("sbi: Infer: nil simulator, prior or rng: %w", ErrInput)
	case n < 2:
		return nil, nil, fmt.Errorf("sbi: Infer: %d simulations per round, need at least 2: %w", n, ErrInput)
	case s.Rounds < 1:
		return nil, nil, fmt.Errorf("sbi: Infer: %d rounds: %w", s.Rounds, ErrInput)
	}
	td, xd := sim.Dims()
	if td != prior.Dim() {
		return nil, nil, fmt.Errorf("sbi: Infer: simulator takes θ of length %d, prior has dimension %d: %w", td, prior.Dim(), ErrInput)
	}
	if s.Rounds > 1 {
		if len(s.Observation) != xd || !finite(s.Observation) {
			return nil, nil, fmt.Errorf("sbi: Infer: %d rounds need a finite observation of length %d, have %v: %w", s.Rounds, xd, s.Observation, ErrInput)
		}
	}
	npe, err := NewNPE(prior, s.Config)
	if err != nil {
		return nil, nil, err
	}
	res := &InferResult{}
	finish := func(err error) (*DirectPosterior, *InferResult, error) {
		res.Runtime = time.Since(start)
		return nil, res, err
	}
	for r := range s.Rounds {
		rr := RoundResult{Round: r, Proposal: fromPrior.String(), ProposalAcceptance: 1}
		var (
			opts *AppendOptions
			run  func() (*RoundSimulations, error)
		)
		if r == 0 {
			run = func() (*RoundSimulations, error) {
				sres, err := simulators.Simulate(ctx, sim, prior, n, rng, s.Simulate)
				if err != nil {
					return nil, fmt.Errorf("simulating: %w", err)
				}
				return &RoundSimulations{Result: sres, ProposalAcceptance: 1}, nil
			}
		} else {
			proposal, err := roundProposal(ctx, npe, &s, rng)
			if err != nil {
				return finish(fmt.Errorf("sbi: Infer: round %d: %w", r, err))
			}
			opts = &AppendOptions{Proposal: proposal, ExcludeInvalid: s.ExcludeInvalid}
			rr.Proposal = kindOf(proposal, npe.prior).String()
			run = func() (*RoundSimulations, error) {
				t0 := time.Now()
				sr, err := proposal.SampleN(ctx, n, rng)
				if err != nil {
					return nil, err
				}
				rs := &RoundSimulations{ProposalTime: time.Since(t0), ProposalAcceptance: sr.AcceptanceRate}
				if rs.Result, err = simulators.SimulateAt(ctx, sim, sr.Samples, rng, s.Simulate); err != nil {
					return nil, fmt.Errorf("simulating: %w", err)
				}
				return rs, nil
			}
		}
		rs, err := wrapRound(r, run, s.WrapSimulations)
		if err != nil {
			return finish(fmt.Errorf("sbi: Infer: round %d: %w", r, err))
		}
		sres := rs.Result
		rr.ProposalTime, rr.ProposalAcceptance = rs.ProposalTime, rs.ProposalAcceptance
		rr.Simulation = sres.Report
		if sres.Data == nil || sres.Data.Len() == 0 {
			return finish(fmt.Errorf("sbi: Infer: round %d: no simulation finished: %w", r, ErrInvalidData))
		}
		rr.Dropped, err = npe.AppendSimulations(sres.Data.Theta, sres.Data.X, opts)
		if err != nil {
			return finish(fmt.Errorf("sbi: Infer: round %d: %w", r, err))
		}
		// The NPE holds its own copy of the simulations: release the result
		// before training so that only one copy of the data is live while
		// training. (gc's liveness analysis already treats sres as dead
		// from here; the explicit release keeps it so if code after this
		// point comes to mention it.)
		sres, rs, opts = nil, nil, nil
		rr.Train, err = npe.Train(ctx, rng, roundTrain(r, s.Train, s.TrainRound))
		if err != nil {
			return finish(fmt.Errorf("sbi: Infer: round %d: %w", r, err))
		}
		res.Rounds = append(res.Rounds, rr)
		if s.OnRound != nil {
			if err := s.OnRound(rr); err != nil {
				return finish(fmt.Errorf("sbi: Infer: stopped by OnRound: %w", err))
			}
		}
	}
	post, err := npe.Posterior(s.Posterior)
	if err != nil {
		return finish(err)
	}
	res.Runtime = time.Since(start)
	return post, res, nil
}

// kindOf classifies a proposal as AppendSimulations does.
func kindOf(proposal, prior dist.Distribution) proposalKind {
	switch proposal.(type) {
	case nil:
		return fromPrior
	case *RestrictedPrior:
		return fromTruncated
	}
	if same(proposal, prior) {
		return fromPrior
	}
	return fromPosterior
}

// same reports a == b, false when their dynamic type is not comparable.
func same(a, b dist.Distribution) (eq bool) {
	defer func() {
		if recover() != nil {
			eq = false
		}
	}()
	return a == b
}

// roundSampler is a proposal of Infer: the posterior at the observation or
// its restriction (TSNPE).
type roundSampler interface {
	dist.Distribution
	SampleN(ctx context.Context, n int, rng *rand.Rand) (*SampleResult, error)
}

// roundProposal builds the proposal of a round after the first: the
// posterior of the estimator at the observation, or its restriction.
func roundProposal(ctx context.Context, npe *NPE, s *InferSettings, rng *rand.Rand) (roundSampler, error) {
	post, err := npe.Posterior(s.Posterior)
	if err != nil {
		return nil, err
	}
	cond, err := post.At(s.Observation)
	if err != nil {
		return nil, err
	}
	if !s.Truncate {
		return cond, nil
	}
	return NewRestrictedPrior(ctx, cond, rng, s.Restricted)
}

// wrapRound runs the round's draw and simulation run through the hook wrap
// (if not nil) and checks what it returns.
func wrapRound(round int, run func() (*RoundSimulations, error), wrap func(int, func() (*RoundSimulations, error)) (*RoundSimulations, error)) (*RoundSimulations, error) {
	if wrap == nil {
		return run()
	}
	var runErr error
	rs, err := wrap(round, func() (*RoundSimulations, error) {
		rs, err := run()
		runErr = err
		return rs, err
	})
	switch {
	case err != nil && err == runErr:
		return nil, err
	case err != nil:
		return nil, fmt.Errorf("WrapSimulations: %w", err)
	}
	if rs == nil || rs.Result == nil {
		return nil, fmt.Errorf("WrapSimulations returned no simulations: %w", ErrInput)
	}
	return rs, nil
}

// roundTrain returns the training settings of a round.
func roundTrain(round int, train *TrainSettings, perRound func(int) *TrainSettings) *TrainSettings {
	if perRound != nil {
		return perRound(round)
	}
	return train
}
