// Package dist is the probability vocabulary of gosbi: the interfaces that
// priors, posteriors, simulators' parameter spaces and samplers share, the
// standard priors, and bijections between box-constrained and unconstrained
// spaces.
//
// # Vocabulary
//
// A point is a []float64; a batch of points is a *mat.Dense with one point
// per row. The core interfaces are small:
//
//   - LogProber: LogProb(x) returns a (possibly unnormalised) log density, -Inf
//     outside the support.
//   - Sampler: Sample(dst, rng) draws one point using only rng.
//   - Distribution: Dim, LogProb and Sample together, normalised.
//   - Conditional: Condition(c) returns the Distribution at context c, as a
//     posterior q(θ | x) indexed by the observation x.
//
// # Capabilities by type assertion
//
// Optional interfaces advertise extra abilities; consumers discover them with a
// type assertion and fall back to the point-wise methods:
//
//	if g, ok := d.(dist.Gradienter); ok { lp = g.LogProbGrad(grad, x) }
//
// They are BatchSampler, BatchLogProber, Bounded (box support),
// Gradienter and BatchGradienter (d log p / dx), Meaner and Stder. The
// helpers SampleN and LogProbs do this dispatch for the batch interfaces.
//
// # Priors
//
// Every prior below implements Distribution, BatchSampler, BatchLogProber,
// Bounded, Gradienter, BatchGradienter, Meaner and Stder, is immutable after
// construction and safe for concurrent use:
//
//   - BoxUniform: uniform on a box, the usual sbibm prior.
//   - Normal: multivariate normal with full (NewNormal) or diagonal
//     (NewDiagNormal) covariance.
//   - LogNormal: independent log-normals, as in the sbibm SIR and
//     Lotka-Volterra tasks.
//   - Independent: a product of one-dimensional distributions from
//     gonum.org/v1/gonum/stat/distuv (Gamma, Beta, Uniform, Normal, ...), one
//     per dimension.
//
// Constructors copy their inputs, validate them and return errors wrapping
// ErrDim (zero dimension, mismatched lengths) or ErrParam (NaN or infinite
// values, non-positive scales, lo >= hi, covariance not positive definite).
//
// # Bijections
//
// A Bijection maps R^d onto a box, one dimension at a time (identity, exp or
// scaled sigmoid, chosen from which bounds are finite); BijectionFor picks the
// one for a Bounded distribution. Forward and Inverse return the log absolute
// Jacobian determinant, PullbackGrad carries a gradient from constrained to
// unconstrained coordinates, and Unconstrained wraps a LogProber into the log
// density of z, log p(T(z)) + log|det dT/dz|, for samplers (HMC) and
// variational inference that need an unconstrained space.
//
// # Errors, panics and randomness
//
// Invalid user input to a constructor is an error. Shape mismatches (a point
// of the wrong length, a matrix with the wrong number of columns) are
// programmer errors and panic with a message starting "dist: ". All
// randomness comes from the *rand.Rand (math/rand/v2) passed to each call, so
// the same seed gives the same samples; batch samplers draw in the same order
// as repeated calls to Sample.
package dist
