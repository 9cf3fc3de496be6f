// Package flows implements conditional normalizing flows: densities
// p(x | c) represented by an invertible, differentiable transform of a
// standard normal base, with exact log-densities from the change-of-variables
// formula
//
//	log p(x | c) = log N(T(x; e(c)); 0, I) + log|det ∂T/∂x|.
//
// It follows the shape of zuko: transforms are separate from distributions,
// every Transform returns its output and log|det J| together, and
// conditioning returns a value (Flow.Condition).
//
// # Transforms
//
// A Transform maps x to y on a tape of package nn and returns the per-row
// log-absolute-determinant of its Jacobian; Inverse undoes it. The package
// provides
//
//   - Autoregressive: a masked autoregressive transform (MAF, Papamakarios et
//     al. 2017) whose MADE conditioner (Germain et al. 2015) computes every
//     feature's parameters in one pass; density evaluation is one pass,
//     inversion D passes. The context enters the first hidden layer
//     unmasked, and hidden units of degree 0 (which see no input) let it reach
//     every feature, including the first.
//   - Coupling: a coupling transform (RealNVP, Dinh et al. 2017) with a
//     residual conditioner (nflows' ResidualNet with context gating).
//   - Univariate maps for both: Affine (scale softplus(a) + 1e-3, as
//     sbi/nflows) and Spline, the monotonic rational-quadratic spline of
//     neural spline flows (Durkan et al. 2019) on [-B, B] with identity tails,
//     written as fused nn ops with hand-written backward passes for both
//     directions.
//   - Permutation (random from a seed, reverse), LULinear (an invertible
//     linear map in LU form, Glow/nflows), and Standardize (z-scoring, whose
//     log-determinant is included so densities stay exact).
//   - Compose and Invert.
//
// # Flows, presets and training
//
// A Flow couples a Transform with the standard normal base and an optional
// context pipeline (z-scoring fitted to data, then an embedding nn.Module,
// identity by default). LogProb on a tape is differentiable with respect to
// the parameters, x and c, for custom losses; LogProbBatch and SampleBatch
// are fast paths that record nothing and reuse pooled buffers; RSample gives
// reparameterised samples for variational inference; Condition(c) returns a
// dist.Distribution (also BatchSampler, BatchLogProber, Gradienter,
// BatchGradienter). An unconditional flow is a Flow with ContextDim 0.
//
// The presets MAF and NSF are configuration structs whose zero values are
// sbi's defaults; Build fits the z-scoring of x and c to the given data and
// initialises the weights from a *rand.Rand. Train fits a flow by maximum
// likelihood with sbi's training loop (Adam, batch 200, learning rate 5e-4,
// 10% validation, early stopping after 20 epochs without improvement with
// the best weights restored, gradient clipping at norm 5); Fit is the same
// loop for any loss. Save and Load store a flow (architecture,
// standardisation and weights) in a versioned file on top of nn's parameter
// format; a loaded flow computes bit-identical log-probabilities.
//
// # Shapes
//
// Data at the API boundary are *mat.Dense with one sample per row; on tapes
// they are nn.Tensors, N×D for N points in R^D. A context is N×C (one per
// row) or 1×C (one context broadcast to all rows); log-determinants and
// log-densities are N×1. Unconditional flows and transforms take a nil
// context.
//
// # Errors and panics
//
// Functions that take user data or configurations (Build, Train, Fit,
// NewFlow, the transform constructors, Load) validate them and return errors
// wrapping ErrData (empty data, NaN or Inf values, mismatched rows or
// columns), ErrConfig (invalid architecture or settings), ErrNonFinite
// (training that diverged: see Fit), ErrFormat, ErrVersion or ErrEmbedding
// (saved files). Load bounds what it allocates by the file's size, whatever
// its description announces. LogProbBatch never returns NaN for finite
// inputs and finite weights: points so far out that intermediate values
// overflow get -Inf. Shape mismatches inside the math
// (a tensor with the wrong number of columns passed to Forward or LogProb, a
// dst of the wrong size) are programmer errors and panic with a message
// starting "flows: ", as in package nn.
//
// # Randomness
//
// Nothing reads a global random generator. Builders and constructors take a
// *rand.Rand (math/rand/v2) for weights and permutations; Train and Fit take
// one for the train/validation split and the per-epoch shuffling; sampling
// takes one for the base noise, drawn row by row. The same seeds give
// bit-identical flows, training runs and samples.
//
// # Long runs
//
// Settings.Checkpoint makes Fit (hence Train and every estimator of package
// sbi) save its whole state atomically every few epochs and when
// interrupted, and resume from it bit for bit (see CheckpointSettings).
// Settings.Blocks trains on rows grouped in blocks (the chunks of a
// simulation file), validating on whole blocks and shuffling blocks, then
// rows within windows of blocks, so a loss backed by a disk cache needs
// only the current window in memory (see DefaultWindowBlocks for the exact
// order). Settings.Parts splits every batch into fixed parts computed on
// several goroutines; the result depends on the number of parts, never on
// the number of CPUs (see DefaultParts).
//
// # Performance
//
// A training step records every op on an nn.Tape whose arena is reused, so
// steps do not allocate after warm-up (except inside gonum's parallel GEMM
// for large products). The time is dominated by the matrix products of the
// MADE and residual layers (see the benchmarks in bench_test.go).
//
// LogProbBatch and SampleBatch cut their rows into fixed chunks processed
// on up to BatchWorkers goroutines (GOMAXPROCS by default, see
// SetBatchWorkers); results do not depend on the number. Flows made of
// Standardize, Permutation and Autoregressive transforms (MAF, and NSF
// with Autoregressive) are evaluated there without a tape, in a
// feature-major layout where the MADE's hidden units are sorted by degree:
// the masked weights are then block triangular and the products skip the
// zero blocks, every layer's bias is one more column of its GEMM, and
// sampling inverts the autoregressive transforms incrementally (feature j
// computes only the hidden units of degree j), so that drawing samples
// costs about one density evaluation instead of D. The weights are copied
// into that layout at each call (batches of fewer than 16 rows take the
// tape). On sbi's default MAF (5 transforms, width 50, tanh) the remaining
// time is the tanh of the hidden units (about 40%) and the matrix products
// (40-50%).
package flows
