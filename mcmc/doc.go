// Package mcmc samples any log density with Markov chain Monte Carlo: many
// chains at once, with adaptation during warmup and the convergence
// diagnostics of Vehtari et al. (2021) built in. Likelihood- and ratio-based
// posteriors (NLE, NRE) are sampled with it.
//
// # Targets
//
// A target is a dist.LogProber: an unnormalised log density that returns
// -Inf outside its support. Optional capabilities are discovered by type
// assertion: dist.BatchLogProber (used by SliceVectorized and the
// initialisation strategies, one call for many points), dist.Gradienter
// (needed by HMC and NUTS) and dist.Bounded (sampling in unconstrained space,
// see Space). A NaN or +Inf log density is an error wrapping ErrNaN whose
// message names the point.
//
// # Kernels
//
//   - Slice: coordinate-wise slice sampling with stepping out and shrinkage
//     (Neal 2003), bracket widths tuned in warmup.
//   - SliceVectorized: the same, advancing all chains together with one
//     batch evaluation per step (sbi's slice_np_vectorized, its default for
//     MCMC posteriors); it gives the same draws as Slice.
//   - RandomWalk: Metropolis with covariance adaptation (Haario et al. 2001)
//     and scale adaptation to acceptance 0.234.
//   - HMC: static Hamiltonian Monte Carlo; NUTS: the No-U-Turn sampler with
//     multinomial trajectory sampling as in Stan. Both adapt the step size by
//     dual averaging (Hoffman and Gelman 2014) and a diagonal mass matrix in
//     Stan's windows, and count divergences.
//   - Independence: independence Metropolis–Hastings with any
//     dist.Distribution proposal (a trained flow makes global moves).
//   - Mixture: a random mixture of the above, for example local NUTS moves
//     with global Independence moves.
//
// # Driver
//
// Sample runs the chains: Settings chooses the number of chains (default
// 4), warmup (default 200), thinning, the number of worker goroutines, a
// progress callback and the sampling space. An Init chooses the starting
// points: FromPoints, FromProposal (draws from the prior), SIR
// (sampling-importance-resampling) or Resample (sbi's resampling by
// potential). The result, Chains, holds the draws of every chain in the
// original space with their log densities, acceptance rates, step sizes,
// divergences, evaluation counts and timings, and computes R̂, bulk and
// tail ESS and a Summary table.
//
// # Unconstrained space
//
// With Settings.Space = Auto (the default), a target that implements
// dist.Bounded with a finite bound is sampled in unconstrained coordinates z,
// x = T(z) with dist's bijection, on the density
// log p(T(z)) + log|det dT/dz| (dist.Unconstrained); draws and log densities
// are mapped back to x. An Independence proposal stays a density over x;
// the kernel applies the change of variables itself.
//
// # Diagnostics
//
// RHat (rank-normalised split-R̂, the larger of bulk and folded), SplitRHat,
// ESS (of the mean), ESSBulk and ESSTail take plain [][]float64 chains, one
// slice per chain, and validate them (ErrNoChains, ErrShortChains,
// ErrRaggedChains, ErrNonFinite).
//
// # Randomness and concurrency
//
// One seed is drawn from the caller's *rand.Rand and chain k uses the stream
// rand.NewPCG(seed, k), so results are bit-identical for any number of
// workers. Per-chain kernels run chains in parallel goroutines (up to
// Settings.Workers), calling the target concurrently: the target must then
// be safe for concurrent use. SliceVectorized runs in the calling goroutine.
// Transitions do not allocate.
//
// # Errors and panics
//
// Sample and the diagnostics validate their input and return errors that
// wrap the sentinel errors of this package (ErrInvalid, ErrNaN, ErrInitInf,
// ErrNoGradient, ErrNoChains, …) or ctx's error. A target that panics on a
// point of the wrong length (a programmer error) panics through Sample.
//
// References: R. M. Neal (2003), Slice sampling, Ann. Statist. 31(3);
// H. Haario, E. Saksman, J. Tamminen (2001), An adaptive Metropolis
// algorithm, Bernoulli 7(2); C. Andrieu, J. Thoms (2008), A tutorial on
// adaptive MCMC, Stat. Comput. 18; M. D. Hoffman, A. Gelman (2014), The
// No-U-Turn sampler, JMLR 15; M. Betancourt (2017), A conceptual
// introduction to Hamiltonian Monte Carlo, arXiv:1701.02434; A. Vehtari,
// A. Gelman, D. Simpson, B. Carpenter, P.-C. Bürkner (2021),
// Rank-normalization, folding, and localization: an improved R̂, Bayesian
// Anal. 16(2); L. Tierney (1994), Markov chains for exploring posterior
// distributions, Ann. Statist. 22(4).
package mcmc
