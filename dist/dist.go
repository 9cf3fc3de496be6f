package dist

import (
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"
)

// LogProber is anything with a (possibly unnormalised) log density.
// LogProb returns math.Inf(-1) outside the support. It panics if len(x)
// does not match the dimension (a programmer error).
type LogProber interface {
	LogProb(x []float64) float64
}

// Sampler draws one sample.
// Sample writes a draw into dst and returns it; if dst is nil a new slice
// of the right length is allocated. All randomness comes from rng.
type Sampler interface {
	Sample(dst []float64, rng *rand.Rand) []float64
}

// Distribution is a normalised multivariate distribution over R^Dim that can
// both score and sample points.
type Distribution interface {
	Dim() int
	LogProber
	Sampler
}

// Conditional is a family of distributions indexed by a context c, such as
// a posterior q(θ | x) indexed by the observation x. Condition returns the
// member at c; the returned value does not alias c.
type Conditional interface {
	Condition(c []float64) Distribution
}

// Optional capabilities. Consumers discover them with a type assertion and
// fall back to the point-wise methods when they are absent.

// BatchSampler fills every row of dst with an independent draw.
type BatchSampler interface {
	SampleBatch(dst *mat.Dense, rng *rand.Rand)
}

// BatchLogProber evaluates the log density of every row of x and writes it
// into dst (allocated if nil, length x.RawMatrix().Rows), returning dst.
type BatchLogProber interface {
	LogProbBatch(dst []float64, x *mat.Dense) []float64
}

// Bounded reports the support of a distribution as a box: lo[i] <= x[i] <= hi[i].
// Unbounded sides are math.Inf(-1) or math.Inf(1). The returned slices must
// not be modified.
type Bounded interface {
	Bounds() (lo, hi []float64)
}

// Gradienter evaluates the log density together with its gradient with
// respect to x. LogProbGrad writes d log p / dx into grad (same length as x)
// and returns log p(x). Outside the support it returns -Inf and the contents
// of grad are unspecified.
type Gradienter interface {
	LogProbGrad(grad, x []float64) float64
}

// BatchGradienter is the batched form of Gradienter: for every row i of x
// it writes the gradient into row i of grad and the log density into dst[i]
// (dst allocated if nil), returning dst.
type BatchGradienter interface {
	LogProbGradBatch(dst []float64, grad, x *mat.Dense) []float64
}

// Meaner reports the mean of a distribution, written into dst (allocated if nil).
type Meaner interface {
	Mean(dst []float64) []float64
}

// Stder reports the marginal standard deviations, written into dst (allocated if nil).
type Stder interface {
	Std(dst []float64) []float64
}
