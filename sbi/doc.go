// Package sbi is gosbi's simulation-based inference layer: neural posterior
// estimation (NPE; Papamakarios & Murray 2016), its sequential form SNPE-C
// with the atomic loss (APT; Greenberg, Nonnenmacher & Macke 2019), truncated
// proposals (TSNPE; Deistler, Goncalves & Macke 2022), the DirectPosterior
// that samples and scores the trained estimator inside the prior's support,
// MAP estimation, and a versioned file format for trained posteriors. It
// follows the design of Python's sbi and defaults to its settings.
//
// # Workflow
//
// The one-call entry point is Infer:
//
//	post, res, err := sbi.Infer(ctx, task.Simulator, task.Prior, 10_000, rng, nil)
//	c, err := post.At(xo)              // the posterior at an observation
//	s, err := c.SampleN(ctx, 10_000, rng) // s.Samples, s.AcceptanceRate
//	lp := c.LogProb(theta)
//	err = sbi.SaveFile("posterior.gosbi", post)
//
// Infer is a thin wrapper around the pieces, which can be used directly for
// data simulated elsewhere or for custom round schedules: NewNPE,
// NPE.AppendSimulations (θ and x of one round, with the proposal they came
// from), NPE.Train (progress through TrainSettings.OnEpoch), NPE.Posterior,
// NewRestrictedPrior.
//
// # Estimators and training
//
// NPEConfig chooses the density estimator, a flows.MAF (default) or
// flows.NSF, and an optional embedding net for x: MLPEmbedding, or
// DeepSetsEmbedding for data made of i.i.d. trials. The network is built at
// the first Train; its z-scoring statistics of θ and x come from the
// training split of the data appended by then (never the validation rows),
// as sbi does. Training uses flows.Fit: batch 200, learning rate 5e-4,
// validation fraction 0.1, stop after 20 epochs without improvement,
// gradient-norm clipping 5, best weights restored.
//
// The loss is maximum likelihood while every round came from the prior or a
// RestrictedPrior; once a round came from another proposal (the posterior at
// x_o), every later Train uses SNPE-C's atomic loss on the data of all
// rounds (10 atoms by default): for a batch of (θ_i, x_i), the atoms of row i
// are θ_i and NumAtoms-1 θ_j of other rows, and the loss is
// -mean_i log softmax_k [log q(θ_ik | x_i) - log p(θ_ik)] at k = 0.
//
// Simulations with NaN or ±Inf values are dropped and counted when they
// came from the prior; in rounds from other proposals they are an error
// (ErrInvalidData) unless AppendOptions.ExcludeInvalid opts in, since
// dropping them biases sequential estimates.
//
// # Posteriors, leakage and budgets
//
// A flow q(θ | x) can put mass outside the prior's support. DirectPosterior
// rejects such draws when sampling and reports the acceptance rate; its
// LogProb is -Inf outside the support and log q(θ | x) - log A(x) inside, A(x)
// the acceptance rate at x estimated once per x from AcceptanceDraws draws
// and cached, so that the density integrates to one over the support.
// Rejection sampling has a budget (PosteriorSettings.MaxDraws, MaxTime):
// when too few draws are accepted, SampleN returns an error wrapping
// ErrBudget, or the partial samples with AllowPartial.
// DirectPosterior.SampleBatched and LogProbBatched work on many
// observations at once, batching flow calls across them (for diagnostics
// such as SBC).
//
// # Likelihood and ratio estimation
//
// NLE learns the likelihood q(x | θ) with a conditional flow (x modelled, θ
// the context); NRE learns the ratio r(θ, x) = p(x | θ)/p(x) with a residual
// classifier on z-scored (θ, x), with the NRE-A (binary cross-entropy on
// shuffled pairs), NRE-B (contrastive, 10 atoms), NRE-C and balanced (BNRE)
// losses. Both give a Potential at an observation x_o made of K i.i.d.
// trials (one per row): Σ_k log q(x_k | θ) + log p(θ), or
// Σ_k log r(θ, x_k) + log p(θ), -Inf outside the prior's support, evaluated
// in batches and differentiable in θ through nn, so that every mcmc kernel
// applies. MCMCPosterior samples it with sbi's defaults (vectorised slice
// sampling, 20 chains, 200 warmup steps, resampling initialisation, moves in
// unconstrained space for bounded priors) and reports R-hat, bulk and tail
// ESS and warnings; a DirectPosterior (NPE) can serve as initialiser or
// independence proposal. RejectionPosterior and ImportanceSamplingPosterior
// sample any potential with a proposal and estimate its log normalising
// constant. InferNLE and InferNRE run one round or several (SNLE, SNRE).
// Unlike NPE, NLE and NRE treat simulations with NaN or ±Inf values as an
// error in every round unless AppendOptions.ExcludeInvalid opts in.
//
// # Training from disk and resuming
//
// NPE, NLE and NRE can train from a Source (AppendSource): blocks of
// simulations read on demand, such as a simulation file of package
// simulators (simulators.NewStoreSource), with z-scoring computed exactly
// in one streaming pass and at most two windows of blocks in memory; the
// same blocks in memory give the same result bit for bit. Every Train
// accepts flows' checkpoint settings, and the WrapSimulations and
// TrainRound hooks of InferSettings and PotentialInferSettings let a
// caller persist each round and replay it on resume (as `gosbi infer
// -checkpoint` does).
//
// # Files
//
// Save writes a posterior (prior description, z-scoring, embedding, flow,
// settings) in one versioned, checksummed file; Load reads it back so that
// the same seed gives identical samples and log-probabilities. SaveMCMC and
// SaveVI do the same for MCMC posteriors of a potential and for VI
// posteriors (the fitted q, optionally with its potential). A corrupt,
// truncated or foreign file returns an error wrapping ErrFormat, a file of
// another format version ErrVersion.
//
// # Errors and panics
//
// Functions that take user data validate it and return errors wrapping the
// sentinels ErrInput, ErrInvalidData, ErrNotTrained, ErrBudget, ErrFormat,
// ErrVersion and ErrPrior (and those of flows and simulators underneath).
// The methods of the dist interfaces cannot return errors: Condition
// panics on an observation of the wrong length or with non-finite values
// (At returns an error instead), LogProb and LogProbBatch panic on a shape
// mismatch, and Sample and SampleBatch panic when the sampling budget runs
// out (SampleN returns an error instead). Panic messages start with "sbi: ".
//
// # Randomness and reproducibility
//
// Nothing reads a global generator. Train draws its seeds (split, batch
// order, atoms, initial weights) from the *rand.Rand passed in; sampling
// uses the rng passed to each call and, for a given rng state, its result
// does not depend on anything else. The leakage correction of LogProb uses
// the stream rand.NewPCG(PosteriorSettings.Seed, hash of x), so
// log-probabilities are deterministic functions of θ, x and the seed, and
// survive a Save/Load round trip bit for bit. Simulations are reproducible
// for any number of workers (see package simulators).
package sbi
