// Package diagnostics tells users whether to believe a posterior: it checks
// calibration over many simulated data sets and compares sample sets.
//
// It imports only dist and nn of gosbi and takes interfaces: a posterior is a
// dist.Conditional (Condition(x) gives the posterior at x, a
// dist.Distribution), samples are *mat.Dense with one draw per row, a
// simulator is anything with the Run method of Simulator (every
// simulators.Simulator). Values of package sbi fit these without this
// package importing it.
//
// # Calibration over a test set
//
// SBC, Coverage and TARP take test pairs (θ_i, x_i), row i of theta and x,
// with θ_i drawn from the prior and x_i simulated from θ_i, and draw L
// samples from posterior.Condition(x_i) for each (with SampleBatch when the
// conditioned value offers it). For a correct posterior, θ_i is then
// exchangeable with its L draws, so any statistic ranks it uniformly among
// them; each diagnostic records such a rank per test:
//
//   - SBC (Talts et al. 2018): ranks of every marginal and of any Reducer
//     statistic (NegLogProb for the posterior density), uniformity tests per
//     column (Kolmogorov–Smirnov, χ² on bins), and the data-averaged
//     posterior against the prior (per-dimension two-sample KS; pass
//     SBCResult.DAP and theta to C2ST for a multivariate check). The result
//     also gives posterior z-scores and shrinkage per test and parameter.
//   - Coverage: expected coverage of highest-density regions, from the
//     number of draws with a higher log density than θ_i (needs LogProb; uses
//     LogProbBatch when offered), with Clopper–Pearson bands.
//   - TARP (Lemos et al. 2023): expected coverage of balls around random
//     reference points, with the area to curve and the KS distance to the
//     diagonal.
//
// Reading the results: coverage below the diagonal (CoverageResult.MeanError
// < 0, TARP's ATC < 0, U-shaped SBC histograms) means an overconfident
// posterior, above it an underconfident one; a biased posterior gives
// skewed rank histograms and small KS p-values.
//
// # Comparing samples
//
//   - C2ST: the classifier two-sample test exactly as the sbibm benchmark
//     computes it (scikit-learn's MLPClassifier recipe, 5-fold CV),
//     0.5 meaning indistinguishable; FastC2STSettings for interactive use.
//   - MMD and MMDTest: squared maximum mean discrepancy with a Gaussian
//     kernel (median-heuristic bandwidth), biased and unbiased, with a
//     permutation p-value.
//   - Misspecification: MMD between the observations and simulations, with
//     an exact p-value, to detect observations the simulator cannot produce.
//   - PredictiveCheck: posterior predictive simulations, their distances to
//     the observation (sbibm's MEDDIST) and per-dimension intervals.
//   - ZScoreShrinkage: posterior z-score and contraction of one posterior.
//
// # Errors
//
// Exported functions validate their input: nil or empty matrices,
// mismatched shapes, NaN or infinite values, invalid settings and posterior
// draws that are not finite give errors wrapping ErrEmpty, ErrDim,
// ErrNonFinite or ErrSettings (test with errors.Is). Errors of the caller's
// simulator or progress callback are returned wrapped; a cancelled context
// stops the work and its error is returned. ClopperPearson, a numeric
// helper, panics on arguments out of range.
//
// # Randomness and parallelism
//
// Every random function takes a *rand.Rand (math/rand/v2). Work that runs
// in parallel (tests of SBC, Coverage and TARP, folds of C2ST, chunks of
// simulations and permutations) takes one seed from that generator and gives
// unit i its own stream rand.NewPCG(seed, i), so results depend on the
// generator but not on the Workers setting. With Workers > 1 the posterior's
// Condition and the simulator's Run are called from several goroutines at
// once; each conditioned distribution is used by one goroutine only.
// Long runs report progress through an OnProgress callback in their
// settings, called one at a time.
package diagnostics
