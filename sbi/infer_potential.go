package sbi

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/gosbi/gosbi/dist"
	"github.com/gosbi/gosbi/simulators"
	"gonum.org/v1/gonum/mat"
)

// PotentialInferSettings tunes InferNLE and InferNRE. The zero value (and a
// nil *PotentialInferSettings) means amortised inference with sbi's
// defaults: one round, the default estimator, default training, an MCMC
// posterior with default settings.
type PotentialInferSettings struct {
	// NLE and NRE are the architectures of InferNLE and InferNRE (nil:
	// defaults); the other one is ignored.
	NLE *NLEConfig
	NRE *NREConfig
	// Train tunes every round's training, including OnEpoch (nil:
	// defaults).
	Train *TrainSettings
	// Simulate tunes the simulation runs (nil: defaults).
	Simulate *simulators.Settings
	// MCMC holds the settings of the returned posterior and of the
	// proposals of later rounds (nil: defaults).
	MCMC *MCMCSettings
	// Rounds is the number of rounds; zero means 1. With more than one,
	// round r ≥ 1 draws its n parameters from the MCMC posterior of round
	// r-1 at Observation (SNLE, Papamakarios et al. 2019; SNRE, Hermans et
	// al. 2020 and Durkan et al. 2020), and training uses all rounds.
	Rounds int
	// Observation is x_o, one trial per row, required when Rounds > 1.
	Observation *mat.Dense
	// ExcludeInvalid drops simulations with NaN or ±Inf values instead of
	// failing (see AppendOptions.ExcludeInvalid).
	ExcludeInvalid bool
	// OnRound, if non-nil, is called after every round; a non-nil error
	// stops the run, which returns it wrapped.
	OnRound func(RoundResult) error
	// OnSimulations, if non-nil, is called in every round right after the
	// round's simulations were appended to the estimator (before its
	// training), with the round (from 0; round 0 simulates from the prior,
	// later rounds from the posterior at Observation) and the simulated θ
	// and x, one simulation per row in simulation order, invalid and failed
	// ones (x all NaN) included. It lets a caller train another estimator on
	// the same simulations, such as an NPE on the prior round whose
	// posterior starts a VIPosterior (VISettings.Proposal). The matrices are
	// released when it returns and must not be modified: copy what you keep.
	// A non-nil error stops the run, which returns it wrapped.
	OnSimulations func(round int, theta, x *mat.Dense) error
	// WrapSimulations and TrainRound are the hooks of InferSettings: the
	// first wraps each round's draw of θ (by MCMC from the previous
	// round's posterior after the first round) and their simulation, the
	// second gives each round's training settings in place of Train (see
	// RoundSimulations).
	WrapSimulations func(round int, run func() (*RoundSimulations, error)) (*RoundSimulations, error)
	TrainRound      func(round int) *TrainSettings
}

// potentialEstimator is what NLE and NRE share.
type potentialEstimator interface {
	AppendSimulations(theta, x *mat.Dense, opts *AppendOptions) (int, error)
	Train(ctx context.Context, rng *rand.Rand, settings *TrainSettings) (*TrainResult, error)
	Posterior(settings *MCMCSettings) (*MCMCPosterior, error)
	addKind(who string, theta, x *mat.Dense, kind proposalKind, exclude bool) (int, error)
}

// InferNLE runs neural likelihood estimation end to end, as sbi's NLE (one
// round) or SNLE (Rounds > 1): it simulates n parameter vectors per round,
// from the prior in round 0 and from the MCMC posterior at Observation in
// later rounds, trains an NLE on all rounds so far, and returns its MCMC
// posterior with a report. Each RoundResult of a later round records the
// time spent on MCMC in ProposalTime and the sampler's mean acceptance rate
// in ProposalAcceptance. All randomness comes from rng.
//
// Errors wrap ErrInput for invalid arguments (nil simulator, prior or rng,
// n < 2, mismatched dimensions, a missing or invalid observation for several
// rounds) and the errors of the steps; when ctx is cancelled or a callback
// fails, the rounds finished so far are reported with the error.
func InferNLE(ctx context.Context, sim simulators.Simulator, prior dist.Distribution, n int, rng *rand.Rand, settings *PotentialInferSettings) (*MCMCPosterior, *InferResult, error) {
	var cfg *NLEConfig
	if settings != nil {
		cfg = settings.NLE
	}
	return inferPotential(ctx, "InferNLE", sim, prior, n, rng, settings, func() (potentialEstimator, error) {
		return NewNLE(prior, cfg)
	})
}

// InferNRE runs neural ratio estimation end to end, as sbi's NRE (one
// round) or SNRE (Rounds > 1), with the loss of settings.NRE (NRE-A by
// default); otherwise as InferNLE.
func InferNRE(ctx context.Context, sim simulators.Simulator, prior dist.Distribution, n int, rng *rand.Rand, settings *PotentialInferSettings) (*MCMCPosterior, *InferResult, error) {
	var cfg *NREConfig
	if settings != nil {
		cfg = settings.NRE
	}
	return inferPotential(ctx, "InferNRE", sim, prior, n, rng, settings, func() (potentialEstimator, error) {
		return NewNRE(prior, cfg)
	})
}

func inferPotential(ctx context.Context, who string, sim simulators.Simulator, prior dist.Distribution, n int, rng *rand.Rand,
	settings *PotentialInferSettings, newEst func() (potentialEstimator, error)) (*MCMCPosterior, *InferResult, error) {
	start := time.Now()
	var s PotentialInferSettings
	if settings != nil {
		s = *settings
	}
	if s.Rounds == 0 {
		s.Rounds = 1
	}
	switch {
	case sim == nil || prior == nil || rng == nil:
		return nil, nil, fmt.Errorf("sbi: %s: nil simulator, prior or rng: %w", who, ErrInput)
	case n < 2:
		return nil, nil, fmt.Errorf("sbi: %s: %d simulations per round, need at least 2: %w", who, n, ErrInput)
	case s.Rounds < 1:
		return nil, nil, fmt.Errorf("sbi: %s: %d rounds: %w", who, s.Rounds, ErrInput)
	}
	td, xd := sim.Dims()
	if td != prior.Dim() {
		return nil, nil, fmt.Errorf("sbi: %s: simulator takes θ of length %d, prior has dimension %d: %w", who, td, prior.Dim(), ErrInput)
	}
	if s.Rounds > 1 {
		if s.Observation == nil || s.Observation.IsEmpty() {
			return nil, nil, fmt.Errorf("sbi: %s: %d rounds need an observation: %w", who, s.Rounds, ErrInput)
		}
		if _, c := s.Observation.Dims(); c != xd {
			return nil, nil, fmt.Errorf("sbi: %s: observation of %d columns, simulator output %d: %w", who, c, xd, ErrInput)
		}
	}
	est, err := newEst()
	if err != nil {
		return nil, nil, err
	}
	res := &InferResult{}
	finish := func(err error) (*MCMCPosterior, *InferResult, error) {
		res.Runtime = time.Since(start)
		return nil, res, err
	}
	for r := range s.Rounds {
		rr := RoundResult{Round: r, Proposal: fromPrior.String(), ProposalAcceptance: 1}
		var (
			kind = fromPrior
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
			post, err := est.Posterior(s.MCMC)
			if err != nil {
				return finish(fmt.Errorf("sbi: %s: round %d: %w", who, r, err))
			}
			rr.Proposal, kind = fromPosterior.String(), fromPosterior
			run = func() (*RoundSimulations, error) {
				t0 := time.Now()
				mr, err := post.Sample(ctx, s.Observation, n, rng)
				if err != nil {
					return nil, fmt.Errorf("sampling the proposal: %w", err)
				}
				rs := &RoundSimulations{ProposalTime: time.Since(t0), ProposalAcceptance: mr.AcceptanceRate}
				if rs.Result, err = simulators.SimulateAt(ctx, sim, mr.Samples, rng, s.Simulate); err != nil {
					return nil, fmt.Errorf("simulating: %w", err)
				}
				return rs, nil
			}
		}
		rs, err := wrapRound(r, run, s.WrapSimulations)
		if err != nil {
			return finish(fmt.Errorf("sbi: %s: round %d: %w", who, r, err))
		}
		sres := rs.Result
		rr.ProposalTime, rr.ProposalAcceptance = rs.ProposalTime, rs.ProposalAcceptance
		rr.Simulation = sres.Report
		if sres.Data == nil || sres.Data.Len() == 0 {
			return finish(fmt.Errorf("sbi: %s: round %d: no simulation finished: %w", who, r, ErrInvalidData))
		}
		if _, c := sres.Data.Theta.Dims(); c != prior.Dim() {
			return finish(fmt.Errorf("sbi: %s: round %d: simulated θ of %d columns: %w", who, r, c, ErrInput))
		}
		rr.Dropped, err = est.addKind(who, sres.Data.Theta, sres.Data.X, kind, s.ExcludeInvalid)
		if err != nil {
			return finish(fmt.Errorf("sbi: %s: round %d: %w", who, r, err))
		}
		if s.OnSimulations != nil {
			if err := s.OnSimulations(r, sres.Data.Theta, sres.Data.X); err != nil {
				return finish(fmt.Errorf("sbi: %s: round %d: stopped by OnSimulations: %w", who, r, err))
			}
		}
		// The estimator holds its own copy: release the simulation result
		// before training (see Infer).
		sres, rs = nil, nil
		rr.Train, err = est.Train(ctx, rng, roundTrain(r, s.Train, s.TrainRound))
		if err != nil {
			return finish(fmt.Errorf("sbi: %s: round %d: %w", who, r, err))
		}
		res.Rounds = append(res.Rounds, rr)
		if s.OnRound != nil {
			if err := s.OnRound(rr); err != nil {
				return finish(fmt.Errorf("sbi: %s: stopped by OnRound: %w", who, err))
			}
		}
	}
	post, err := est.Posterior(s.MCMC)
	if err != nil {
		return finish(err)
	}
	res.Runtime = time.Since(start)
	return post, res, nil
}
