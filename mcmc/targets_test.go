package mcmc

import (
	"math"
	"math/rand/v2"
	"sync/atomic"

	"gonum.org/v1/gonum/mat"
)

// Test targets. Each one implements LogProb, LogProbBatch (row by row with
// the same code, so batch and point values agree bit for bit) and, where
// noted, LogProbGrad.

// gaussian is N(mu, cov), unnormalised.
type gaussian struct {
	mu   []float64
	cov  *mat.SymDense
	prec []float64 // row-major precision matrix
	chol mat.TriDense
	d    int
}

func newGaussian(mu []float64, cov *mat.SymDense) *gaussian {
	d := len(mu)
	var inv mat.Dense
	if err := inv.Inverse(cov); err != nil {
		panic(err)
	}
	g := &gaussian{mu: mu, cov: cov, prec: inv.RawMatrix().Data, d: d}
	var ch mat.Cholesky
	if !ch.Factorize(cov) {
		panic("covariance not positive definite")
	}
	ch.LTo(&g.chol)
	return g
}

// corrGaussian5 is the correlated 5-D Gaussian of the kernel tests: means
// (1, -2, 0.5, 3, 0), standard deviations (1, 2, 0.5, 3, 1) and correlation
// 0.7^|i-j| (an AR(1) correlation: neighbours correlate at 0.7).
func corrGaussian5() *gaussian {
	mu := []float64{1, -2, 0.5, 3, 0}
	sd := []float64{1, 2, 0.5, 3, 1}
	cov := mat.NewSymDense(5, nil)
	for i := range 5 {
		for j := i; j < 5; j++ {
			cov.SetSym(i, j, sd[i]*sd[j]*math.Pow(0.7, float64(j-i)))
		}
	}
	return newGaussian(mu, cov)
}

func (g *gaussian) Dim() int { return g.d }

func (g *gaussian) LogProbGrad(grad, x []float64) float64 {
	var q float64
	for i := range g.d {
		var s float64
		row := g.prec[i*g.d : (i+1)*g.d]
		for j, p := range row {
			s += p * (x[j] - g.mu[j])
		}
		if grad != nil {
			grad[i] = -s
		}
		q += (x[i] - g.mu[i]) * s
	}
	return -0.5 * q
}

func (g *gaussian) LogProb(x []float64) float64 { return g.LogProbGrad(nil, x) }

func (g *gaussian) LogProbBatch(dst []float64, x *mat.Dense) []float64 {
	r, _ := x.Dims()
	if dst == nil {
		dst = make([]float64, r)
	}
	for i := range r {
		dst[i] = g.LogProb(x.RawRowView(i))
	}
	return dst
}

func (g *gaussian) Sample(dst []float64, rng *rand.Rand) []float64 {
	if dst == nil {
		dst = make([]float64, g.d)
	}
	// dst = mu + L z, filled from the last row up so z can live in dst.
	for i := range dst {
		dst[i] = rng.NormFloat64()
	}
	for i := g.d - 1; i >= 0; i-- {
		s := g.mu[i]
		for j := 0; j <= i; j++ {
			s += g.chol.At(i, j) * dst[j]
		}
		dst[i] = s
	}
	return dst
}

// banana is Rosenbrock's banana in the form whose moments are known:
// log p(x, y) = -(x-a)²/(2s²) - (y-x²)²/(2τ²), so that x ~ N(a, s²) and
// y | x ~ N(x², τ²): E y = a²+s², Var y = 2s⁴ + 4a²s² + τ², and
// Cov(x, y) = E[(x-a)x²] = 2as².
type banana struct{ a, s, tau float64 }

// newBanana is the test banana: x ~ N(1, 1), y | x ~ N(x², 1).
func newBanana() banana { return banana{a: 1, s: 1, tau: 1} }

func (b banana) Dim() int { return 2 }

func (b banana) moments() (mu []float64, cov [][]float64) {
	a2, s2 := b.a*b.a, b.s*b.s
	mu = []float64{b.a, a2 + s2}
	cxy := 2 * b.a * s2
	cov = [][]float64{{s2, cxy}, {cxy, 2*s2*s2 + 4*a2*s2 + b.tau*b.tau}}
	return mu, cov
}

func (b banana) LogProbGrad(grad, x []float64) float64 {
	u := (x[0] - b.a) / b.s
	r := (x[1] - x[0]*x[0]) / b.tau
	if grad != nil {
		grad[0] = -u/b.s + 2*x[0]*r/b.tau
		grad[1] = -r / b.tau
	}
	return -0.5*u*u - 0.5*r*r
}

func (b banana) LogProb(x []float64) float64 { return b.LogProbGrad(nil, x) }

func (b banana) LogProbBatch(dst []float64, x *mat.Dense) []float64 {
	r, _ := x.Dims()
	if dst == nil {
		dst = make([]float64, r)
	}
	for i := range r {
		dst[i] = b.LogProb(x.RawRowView(i))
	}
	return dst
}

// bimodal is w·N(-c·1, I) + (1-w)·N(c·1, I) in d dimensions.
type bimodal struct {
	w, c float64
	d    int
}

func (b bimodal) Dim() int { return b.d }

func (b bimodal) LogProbGrad(grad, x []float64) float64 {
	var q1, q2 float64
	for _, v := range x {
		q1 += (v + b.c) * (v + b.c)
		q2 += (v - b.c) * (v - b.c)
	}
	l1 := math.Log(b.w) - 0.5*q1
	l2 := math.Log(1-b.w) - 0.5*q2
	lp := logAddExp(l1, l2)
	if grad != nil {
		p1 := math.Exp(l1 - lp)
		for i, v := range x {
			grad[i] = -p1*(v+b.c) - (1-p1)*(v-b.c)
		}
	}
	return lp
}

func (b bimodal) LogProb(x []float64) float64 { return b.LogProbGrad(nil, x) }

// funnel is Neal's funnel: v ~ N(0, 3²), x_i | v ~ N(0, e^v), i = 1..d-1
// (Neal 2003, section 8).
type funnel struct{ d int }

func (f funnel) Dim() int { return f.d }

func (f funnel) LogProbGrad(grad, x []float64) float64 {
	v := x[0]
	lp := -v * v / 18
	ev := math.Exp(-v)
	var s float64
	for i := 1; i < f.d; i++ {
		s += x[i] * x[i]
		if grad != nil {
			grad[i] = -x[i] * ev
		}
	}
	n := float64(f.d - 1)
	lp += -0.5*s*ev - 0.5*n*v
	if grad != nil {
		grad[0] = -v/9 + 0.5*s*ev - 0.5*n
	}
	return lp
}

func (f funnel) LogProb(x []float64) float64 { return f.LogProbGrad(nil, x) }

// beta25 is Beta(2, 5) on [0, 1], unnormalised, with its bounds.
type beta25 struct{}

func (beta25) Dim() int { return 1 }

func (beta25) Bounds() (lo, hi []float64) { return []float64{0}, []float64{1} }

func (beta25) LogProbGrad(grad, x []float64) float64 {
	v := x[0]
	if !(v > 0 && v < 1) {
		return math.Inf(-1)
	}
	if grad != nil {
		grad[0] = 1/v - 4/(1-v)
	}
	return math.Log(v) + 4*math.Log1p(-v)
}

func (b beta25) LogProb(x []float64) float64 { return b.LogProbGrad(nil, x) }

// truncNormal is N(0, I) truncated to the box [lo, hi], unnormalised.
type truncNormal struct{ lo, hi []float64 }

func (t truncNormal) Dim() int { return len(t.lo) }

func (t truncNormal) Bounds() (lo, hi []float64) { return t.lo, t.hi }

func (t truncNormal) LogProbGrad(grad, x []float64) float64 {
	var s float64
	for i, v := range x {
		if !(v >= t.lo[i] && v <= t.hi[i]) {
			return math.Inf(-1)
		}
		s += v * v
		if grad != nil {
			grad[i] = -v
		}
	}
	return -0.5 * s
}

func (t truncNormal) LogProb(x []float64) float64 { return t.LogProbGrad(nil, x) }

// counting wraps a target and counts calls to LogProb and LogProbBatch.
type counting struct {
	*gaussian
	points, batches atomic.Int64
}

func (c *counting) LogProb(x []float64) float64 {
	c.points.Add(1)
	return c.gaussian.LogProb(x)
}

func (c *counting) LogProbBatch(dst []float64, x *mat.Dense) []float64 {
	c.batches.Add(1)
	return c.gaussian.LogProbBatch(dst, x)
}

// plainFunc is a target with LogProb only.
type plainFunc func(x []float64) float64

func (f plainFunc) LogProb(x []float64) float64 { return f(x) }

// isotropic is an isotropic normal proposal N(m·1, s²I) implementing
// dist.Distribution.
type isotropic struct {
	m, s float64
	d    int
}

func (q isotropic) Dim() int { return q.d }

func (q isotropic) LogProb(x []float64) float64 {
	var s float64
	for _, v := range x {
		z := (v - q.m) / q.s
		s += z * z
	}
	return -0.5*s - float64(q.d)*(math.Log(q.s)+0.5*math.Log(2*math.Pi))
}

func (q isotropic) Sample(dst []float64, rng *rand.Rand) []float64 {
	if dst == nil {
		dst = make([]float64, q.d)
	}
	for i := range dst {
		dst[i] = q.m + q.s*rng.NormFloat64()
	}
	return dst
}

// sampleInto fills every row of dst with a draw.
func (q isotropic) sampleInto(dst *mat.Dense, rng *rand.Rand) {
	r, _ := dst.Dims()
	for i := range r {
		q.Sample(dst.RawRowView(i), rng)
	}
}
