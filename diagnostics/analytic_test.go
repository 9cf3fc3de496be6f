package diagnostics

import (
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"

	"github.com/gosbi/gosbi/dist"
)

// gaussModel is the conjugate model θ ~ N(0, τ²I), x | θ ~ N(θ, σ²I) in dim
// dimensions, whose exact posterior is N(w·x, v·I) with w = τ²/(τ²+σ²) and
// v = τ²σ²/(τ²+σ²). sbibm's gaussian_linear is τ² = σ² = 0.1 in 10-D.
type gaussModel struct {
	dim          int
	tau2, sigma2 float64
}

var gaussianLinear = gaussModel{dim: 10, tau2: 0.1, sigma2: 0.1}

// testSet draws T pairs (θ_i, x_i) from the model's joint distribution.
func (m gaussModel) testSet(T int, rng *rand.Rand) (theta, x *mat.Dense) {
	theta, x = mat.NewDense(T, m.dim, nil), mat.NewDense(T, m.dim, nil)
	st, ss := math.Sqrt(m.tau2), math.Sqrt(m.sigma2)
	for i := 0; i < T; i++ {
		for d := 0; d < m.dim; d++ {
			th := st * rng.NormFloat64()
			theta.Set(i, d, th)
			x.Set(i, d, th+ss*rng.NormFloat64())
		}
	}
	return theta, x
}

// postStd is the exact posterior standard deviation.
func (m gaussModel) postStd() float64 { return math.Sqrt(m.tau2 * m.sigma2 / (m.tau2 + m.sigma2)) }

// gaussPosterior is the model's exact posterior, optionally distorted: its
// standard deviation multiplied by scale (< 1 overconfident, > 1
// underconfident) and its mean moved by shift[d] exact posterior standard
// deviations in dimension d. With batch set, the conditioned values offer
// SampleBatch and LogProbBatch.
type gaussPosterior struct {
	m     gaussModel
	scale float64
	shift []float64
	batch bool
}

func (p gaussPosterior) Condition(x []float64) dist.Distribution {
	w := p.m.tau2 / (p.m.tau2 + p.m.sigma2)
	sd := p.m.postStd()
	g := &diagGauss{mean: make([]float64, len(x)), std: make([]float64, len(x))}
	for d, v := range x {
		g.mean[d] = w * v
		if p.shift != nil {
			g.mean[d] += p.shift[d] * sd
		}
		g.std[d] = p.scale * sd
	}
	if p.batch {
		return &batchDiagGauss{g}
	}
	return g
}

// diagGauss is N(mean, diag(std²)).
type diagGauss struct{ mean, std []float64 }

func (g *diagGauss) Dim() int { return len(g.mean) }

func (g *diagGauss) LogProb(x []float64) float64 {
	if len(x) != len(g.mean) {
		panic("diagGauss: dimension mismatch")
	}
	lp := 0.0
	for d, v := range x {
		z := (v - g.mean[d]) / g.std[d]
		lp += -0.5*z*z - math.Log(g.std[d]) - 0.5*math.Log(2*math.Pi)
	}
	return lp
}

func (g *diagGauss) Sample(dst []float64, rng *rand.Rand) []float64 {
	if dst == nil {
		dst = make([]float64, len(g.mean))
	}
	for d := range dst {
		dst[d] = g.mean[d] + g.std[d]*rng.NormFloat64()
	}
	return dst
}

func (g *diagGauss) Mean(dst []float64) []float64 {
	return append(dst[:0], g.mean...)
}

type batchDiagGauss struct{ *diagGauss }

func (g *batchDiagGauss) SampleBatch(dst *mat.Dense, rng *rand.Rand) {
	r, _ := dst.Dims()
	for i := 0; i < r; i++ {
		g.Sample(dst.RawRowView(i), rng)
	}
}

func (g *batchDiagGauss) LogProbBatch(dst []float64, x *mat.Dense) []float64 {
	r, _ := x.Dims()
	if dst == nil {
		dst = make([]float64, r)
	}
	for i := 0; i < r; i++ {
		dst[i] = g.LogProb(x.RawRowView(i))
	}
	return dst
}

var (
	_ dist.Distribution   = (*diagGauss)(nil)
	_ dist.BatchSampler   = (*batchDiagGauss)(nil)
	_ dist.BatchLogProber = (*batchDiagGauss)(nil)
	_ dist.Conditional    = gaussPosterior{}
)

// shiftFirst returns a shift of s posterior standard deviations in the first
// of dim dimensions.
func shiftFirst(dim int, s float64) []float64 {
	v := make([]float64, dim)
	v[0] = s
	return v
}
