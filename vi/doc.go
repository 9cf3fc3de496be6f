// Package vi fits normalizing flows to unnormalised, differentiable log
// densities by variational inference: instead of sampling the target p̃(θ)
// with MCMC, it optimises a flow q(θ) (package flows) to approximate the
// normalised target, after which drawing samples and evaluating densities
// is instant. This matters when many posterior samples are needed
// (diagnostics, many observations) and is how likelihood- and ratio-based
// posteriors of package sbi become samplable without MCMC.
//
// # Fitting
//
// Fit(ctx, target, q, rng, settings) updates the parameters of the
// unconditional flow q in place and returns a Posterior and a Result.
// FitAmortized does the same for a conditional flow q(θ | x) trained over
// many contexts x against a ConditionalTarget (amortised VI): its
// AmortizedPosterior gives the posterior at any x without further
// training.
//
// The variational family is any *flows.Flow: flows.MAF (sbi's default),
// flows.NSF, or the full-rank Gaussian of this package (Gaussian,
// NewGaussian; GaussianMoments reads its mean and covariance). NewQ builds
// one from draws of a starting distribution, typically the prior, in the
// unconstrained space of the support, and FamilyByName maps sbi's names.
//
// # Targets
//
// A target is a dist.LogProber with a gradient with respect to θ, found by
// type assertion:
//
//   - Differentiable: a log density written with nn operations, such as a
//     neural likelihood log q_ψ(x_o | θ) plus a log prior. Fit evaluates it
//     on an nn.Tape whose FreezeParams flag is set and on which only q's
//     parameters are watched, so the network's own parameters are
//     constants (they get no gradients and cost no backward work).
//     Potential adapts a function func(tp, θ) *nn.Tensor to this and to
//     dist's LogProber, BatchLogProber, Gradienter and BatchGradienter;
//     FromDist puts a dist distribution with a gradient (a prior) on the
//     tape, to be added to the network's output inside such a function.
//   - dist.BatchGradienter or dist.Gradienter: a user-supplied gradient (all
//     priors of package dist have one), called through a fused nn op.
//
// When the target implements dist.Bounded, or Settings.Bijection is set, q
// is fitted in unconstrained coordinates z with θ = T(z) (dist's
// bijections): the density of z is log p̃(T(z)) + log|det dT/dz|, computed
// on the tape with a fused op; the Posterior maps draws back with T and
// includes the Jacobian in its LogProb, so draws always lie inside the
// support.
//
// # Objectives
//
// Settings.Objective selects the divergence, with Settings.Particles draws
// per iteration (default 256):
//
//   - ReverseKL (default): the negative ELBO, -E_q[log p̃ - log q], with
//     reparameterised gradients θ = T⁻¹(ε), ε ~ N(0, I) (flows.Flow.RSample).
//     Settings.STL drops the score term (sticking the landing, Roeder et al.
//     2017), whose gradient noise does not vanish at the optimum.
//   - IWELBO: the importance-weighted ELBO over groups of K draws (Burda et
//     al. 2016), optionally with the DReG gradient (Tucker et al. 2019).
//   - ForwardKL: KL(p ‖ q) by self-normalised importance sampling with q as
//     proposal.
//   - Renyi: the variational Rényi bound of order α (Li & Turner 2016).
//
// Every objective is implemented as one fused op whose backward pass
// weights the per-draw log densities log p̃(θ_i) and log q(θ_i); the
// path-only estimators differentiate log q at a constant copy of θ to cancel
// the score term. The tests check each gradient against finite differences
// of the Monte Carlo objective with common random numbers.
//
// The optimiser follows sbi's defaults: Adam with learning rate 1e-3
// decayed by 0.999 per iteration, total-norm gradient clipping at 10, at
// most 2,000 iterations, and a convergence test on running medians of the
// loss (see Settings.Window). Iterations whose loss or gradient is not
// finite are skipped; 100 in a row abort the fit with ErrNonFinite.
//
// # Quality control
//
// After fitting, Fit draws Settings.QualitySamples points from q and runs
// Pareto-smoothed importance sampling (PSIS, Vehtari et al. 2024) on the
// ratios p̃/q: Result.Khat above KhatThreshold (0.7) adds a warning to
// Result.Warnings, meaning that q misses mass of the target and estimates
// from it are unreliable (Yao et al. 2018). k̂ cannot see a mode that q
// never reaches; a mode q's tails reach only rarely gives a large k̂. The
// same pass estimates the normalising constant (Result.LogZ). PSIS is also
// exported for any log ratios. Posterior.SampleImportance corrects a
// slightly-off fit by sampling-importance-resampling.
//
// # Shapes, errors and panics
//
// Points are []float64; batches are *mat.Dense with one point per row; on
// tapes θ is an N×D nn.Tensor and log densities are N×1. Fit, FitAmortized,
// NewQ, NewGaussian, NewPosterior, NewPotential and PSIS validate their
// arguments and return errors wrapping ErrConfig (settings, family), ErrTarget
// (no gradient, dimension mismatch), ErrData (log ratios, contexts) or
// ErrNonFinite. Shape mismatches inside the math (a point of the wrong
// length, a potential returning the wrong shape) are programmer errors and
// panic with a message starting "vi: ".
//
// # Randomness and concurrency
//
// Nothing reads a global random generator: Fit, FitAmortized, NewQ and the
// sampling methods take a *rand.Rand (math/rand/v2), and a seed fixes a fit
// bit for bit. The optimisation runs in the calling goroutine and does not
// allocate per iteration once its tape has grown. A fitted Posterior is
// safe for concurrent use when its target is.
package vi
