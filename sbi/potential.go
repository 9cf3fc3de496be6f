package sbi

import (
	"fmt"
	"math"
	"sync"

	"github.com/gosbi/gosbi/dist"
	"github.com/gosbi/gosbi/nn"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/mat"
)

// potentialModel is the trained network behind a Potential: the per-pair
// term t(θ, x) that the potential sums over the trials of an observation,
// log q(x | θ) for NLE and the logit log r(θ, x) for NRE. Implementations
// are immutable and safe for concurrent use.
type potentialModel interface {
	// dims returns the dimensions of θ and of one trial of x.
	dims() (theta, x int)
	// pairLogs writes t(θ_j, x_j) for every row j of theta and x into dst,
	// recording nothing.
	pairLogs(dst []float64, theta, x *mat.Dense)
	// pairTerms returns t(θ_j, x_j) as an M×1 tensor on tp, differentiable
	// with respect to theta.
	pairTerms(tp *nn.Tape, theta, x *nn.Tensor) *nn.Tensor
	// kind returns "likelihood" or "ratio".
	kind() string
}

// defaultPairBatch is the default largest number of (θ, trial) pairs per
// network call of a Potential: large enough to amortise the call overhead,
// small enough that the intermediate activations of a 50-unit network stay
// within a few megabytes.
const defaultPairBatch = 4096

// Potential is the unnormalised log posterior of a likelihood- or
// ratio-based estimator at an observation x_o made of K i.i.d. trials
// x_1 … x_K (the rows of x_o):
//
//	U(θ) = Σ_k log q(x_k | θ) + log p(θ)   (NLE: q the likelihood flow)
//	U(θ) = Σ_k log r(θ, x_k) + log p(θ)    (NRE: log r the classifier's logit)
//
// and -Inf outside the prior's support (where log p(θ) is -Inf). For K = 1
// this is sbi's likelihood_estimator_based_potential and
// ratio_estimator_based_potential; for K > 1 trials the sum is the log
// likelihood (ratio) of independent trials, as sbi's.
//
// A Potential implements dist.LogProber, dist.BatchLogProber,
// dist.Gradienter, dist.BatchGradienter and dist.Bounded (the prior's box,
// or ±Inf when the prior is not Bounded), so every kernel of package mcmc
// can sample it, and mcmc samples it in unconstrained space when the prior
// is bounded. Gradients with respect to θ come from the network through nn
// (a tape with θ watched and the parameters frozen), plus the prior's
// gradient when the prior implements dist.Gradienter, and otherwise a
// central finite difference of the prior's LogProb with step 1e-6·max(1,
// |θ_j|). Batches are evaluated in chunks of at most PairBatch (θ, trial)
// pairs per network call.
//
// A Potential is immutable and safe for concurrent use. LogProb and the
// batch methods panic (a programmer error) when θ has the wrong length or
// number of columns.
type Potential struct {
	model     potentialModel
	prior     dist.Distribution
	xo        *mat.Dense
	k, dt, dx int
	lo, hi    []float64
	pairBatch int
	pool      sync.Pool // *potScratch
}

var (
	_ dist.LogProber       = (*Potential)(nil)
	_ dist.BatchLogProber  = (*Potential)(nil)
	_ dist.Gradienter      = (*Potential)(nil)
	_ dist.BatchGradienter = (*Potential)(nil)
	_ dist.Bounded         = (*Potential)(nil)
)

// potScratch holds the buffers of one evaluation.
type potScratch struct {
	thPairs, xPairs []float64
	terms           []float64
	lp              []float64
	thM, thPM, xPM  mat.Dense // views re-pointed with SetRawMatrix
	thCopy, gBuf    []float64
	tape            *nn.Tape
	idx             []int
	fd              []float64
}

// newPotential validates x_o and returns the potential of model at x_o.
func newPotential(model potentialModel, prior dist.Distribution, xo *mat.Dense, pairBatch int) (*Potential, error) {
	dt, dx := model.dims()
	if xo == nil || xo.IsEmpty() {
		return nil, fmt.Errorf("sbi: potential: empty observation: %w", ErrInput)
	}
	k, c := xo.Dims()
	if c != dx {
		return nil, fmt.Errorf("sbi: potential: observation of %d columns, the estimator's x has %d: %w", c, dx, ErrInput)
	}
	for i := range k {
		if !finite(xo.RawRowView(i)) {
			return nil, fmt.Errorf("sbi: potential: trial %d of the observation has NaN or ±Inf values: %w", i, ErrInput)
		}
	}
	if pairBatch <= 0 {
		pairBatch = defaultPairBatch
	}
	p := &Potential{
		model: model, prior: prior, xo: mat.DenseCopyOf(xo), k: k, dt: dt, dx: dx,
		pairBatch: max(pairBatch, k),
	}
	p.lo, p.hi = supportBox(prior)
	return p, nil
}

// supportBox returns the prior's box, or ±Inf bounds when it is not Bounded.
func supportBox(prior dist.Distribution) (lo, hi []float64) {
	d := prior.Dim()
	lo, hi = make([]float64, d), make([]float64, d)
	if b, ok := prior.(dist.Bounded); ok {
		l, h := b.Bounds()
		copy(lo, l)
		copy(hi, h)
		return lo, hi
	}
	for j := range d {
		lo[j], hi[j] = math.Inf(-1), math.Inf(1)
	}
	return lo, hi
}

// Dim returns the dimension of θ.
func (p *Potential) Dim() int { return p.dt }

// Bounds returns the support of the prior as a box (see Potential).
func (p *Potential) Bounds() (lo, hi []float64) { return p.lo, p.hi }

// Prior returns the prior.
func (p *Potential) Prior() dist.Distribution { return p.prior }

// Observation returns a copy of x_o, one trial per row.
func (p *Potential) Observation() *mat.Dense { return mat.DenseCopyOf(p.xo) }

// Trials returns the number of trials K of the observation.
func (p *Potential) Trials() int { return p.k }

// Kind returns "likelihood" for an NLE potential and "ratio" for an NRE one.
func (p *Potential) Kind() string { return p.model.kind() }

func (p *Potential) scratch() *potScratch {
	if s, ok := p.pool.Get().(*potScratch); ok {
		return s
	}
	return &potScratch{}
}

func grow(b []float64, n int) []float64 {
	if cap(b) < n {
		return make([]float64, n)
	}
	return b[:n]
}

// view points m at the first r×c values of data and returns it.
func view(m *mat.Dense, r, c int, data []float64) *mat.Dense {
	m.SetRawMatrix(blas64.General{Rows: r, Cols: c, Stride: c, Data: data[:r*c]})
	return m
}

// fillPairs lays out the pairs of rows [from, to) of theta with every trial,
// trial-major: pair k·m + i is (θ_{from+i}, x_k), m = to-from.
func (p *Potential) fillPairs(s *potScratch, theta []float64, m int) (th, xs []float64) {
	s.thPairs = grow(s.thPairs, m*p.k*p.dt)
	s.xPairs = grow(s.xPairs, m*p.k*p.dx)
	xo := p.xo.RawMatrix()
	for k := range p.k {
		copy(s.thPairs[k*m*p.dt:(k+1)*m*p.dt], theta[:m*p.dt])
		xk := xo.Data[k*xo.Stride : k*xo.Stride+p.dx]
		for i := range m {
			copy(s.xPairs[(k*m+i)*p.dx:], xk)
		}
	}
	return s.thPairs, s.xPairs
}

// LogProb returns U(θ). It panics if len(theta) != Dim.
func (p *Potential) LogProb(theta []float64) float64 {
	if len(theta) != p.dt {
		panic(fmt.Sprintf("sbi: Potential.LogProb: θ of length %d, want %d", len(theta), p.dt))
	}
	var dst [1]float64
	p.logProbRows(dst[:], theta, 1)
	return dst[0]
}

// LogProbBatch writes U(θ_i) for every row of theta into dst (allocated if
// nil) and returns it. It panics on a shape mismatch.
func (p *Potential) LogProbBatch(dst []float64, theta *mat.Dense) []float64 {
	n, c := theta.Dims()
	if c != p.dt {
		panic(fmt.Sprintf("sbi: Potential.LogProbBatch: θ has %d columns, want %d", c, p.dt))
	}
	if dst == nil {
		dst = make([]float64, n)
	}
	if len(dst) != n {
		panic(fmt.Sprintf("sbi: Potential.LogProbBatch: dst of length %d for %d rows", len(dst), n))
	}
	raw := theta.RawMatrix()
	if raw.Stride == c {
		p.logProbRows(dst, raw.Data[:n*c], n)
		return dst
	}
	p.logProbRows(dst, mat.DenseCopyOf(theta).RawMatrix().Data, n)
	return dst
}

// logProbRows evaluates n contiguous rows of theta.
func (p *Potential) logProbRows(dst, theta []float64, n int) {
	s := p.scratch()
	defer p.pool.Put(s)
	s.lp = grow(s.lp, n)
	dist.LogProbs(p.prior, view(&s.thM, n, p.dt, theta), s.lp)
	chunk := max(p.pairBatch/p.k, 1)
	for from := 0; from < n; from += chunk {
		m := min(chunk, n-from)
		th, xs := p.fillPairs(s, theta[from*p.dt:], m)
		s.terms = grow(s.terms, m*p.k)
		p.model.pairLogs(s.terms, view(&s.thPM, m*p.k, p.dt, th), view(&s.xPM, m*p.k, p.dx, xs))
		for i := range m {
			lp := s.lp[from+i]
			if math.IsInf(lp, -1) || math.IsNaN(lp) {
				dst[from+i] = lp
				continue
			}
			sum := lp
			for k := range p.k {
				sum += s.terms[k*m+i]
			}
			dst[from+i] = overflowed(sum)
		}
	}
}

// LogProbGrad writes ∂U/∂θ into grad and returns U(θ). Outside the support
// it returns -Inf and sets grad to zero. It panics if the lengths differ from
// Dim.
func (p *Potential) LogProbGrad(grad, theta []float64) float64 {
	if len(theta) != p.dt || len(grad) != p.dt {
		panic(fmt.Sprintf("sbi: Potential.LogProbGrad: θ of length %d and grad of length %d, want %d", len(theta), len(grad), p.dt))
	}
	var dst [1]float64
	p.gradRows(dst[:], grad, theta, 1)
	return dst[0]
}

// LogProbGradBatch writes, for every row θ_i of theta, ∂U/∂θ_i into row i
// of grad and U(θ_i) into dst[i] (dst allocated if nil), and returns dst. It
// panics on a shape mismatch.
func (p *Potential) LogProbGradBatch(dst []float64, grad, theta *mat.Dense) []float64 {
	n, c := theta.Dims()
	gr, gc := grad.Dims()
	if c != p.dt || gr != n || gc != p.dt {
		panic(fmt.Sprintf("sbi: Potential.LogProbGradBatch: θ %d×%d, grad %d×%d, want %d columns", n, c, gr, gc, p.dt))
	}
	if dst == nil {
		dst = make([]float64, n)
	}
	if len(dst) != n {
		panic(fmt.Sprintf("sbi: Potential.LogProbGradBatch: dst of length %d for %d rows", len(dst), n))
	}
	s := p.scratch()
	s.thCopy = grow(s.thCopy, n*p.dt)
	s.gBuf = grow(s.gBuf, n*p.dt)
	th, g := s.thCopy, s.gBuf
	for i := range n {
		copy(th[i*p.dt:(i+1)*p.dt], theta.RawRowView(i))
	}
	defer p.pool.Put(s) // after gradRows, which takes a scratch of its own
	p.gradRows(dst, g, th, n)
	for i := range n {
		copy(grad.RawRowView(i), g[i*p.dt:(i+1)*p.dt])
	}
	return dst
}

// gradRows evaluates n contiguous rows of theta with gradients (grad n·dt).
func (p *Potential) gradRows(dst, grad, theta []float64, n int) {
	s := p.scratch()
	defer p.pool.Put(s)
	if s.tape == nil {
		s.tape = nn.NewTape()
		s.tape.FreezeParams = true
	}
	tp := s.tape
	chunk := max(p.pairBatch/p.k, 1)
	for from := 0; from < n; from += chunk {
		m := min(chunk, n-from)
		tp.Reset()
		th := tp.New(m, p.dt)
		copy(th.Data, theta[from*p.dt:(from+m)*p.dt])
		tp.Watch(th)
		s.idx = s.idx[:0]
		for range p.k {
			for i := range m {
				s.idx = append(s.idx, i)
			}
		}
		thRep := th
		if p.k > 1 {
			thRep = tp.GatherRows(th, s.idx)
		}
		_, xs := p.fillPairs(s, theta[from*p.dt:], m)
		xt := tp.New(m*p.k, p.dx)
		copy(xt.Data, xs)
		terms := p.model.pairTerms(tp, thRep, xt)
		sum := terms
		if p.k > 1 {
			sum = blockSum(tp, terms, p.k)
		}
		tp.Backward(tp.Sum(sum))
		for i := range m {
			v := overflowed(sum.Data[i])
			gi := grad[(from+i)*p.dt : (from+i+1)*p.dt]
			copy(gi, th.Grad[i*p.dt:(i+1)*p.dt])
			if math.IsInf(v, -1) || !finite(gi) {
				// A vanishing density has no usable gradient; one that
				// overflowed at a finite density is no better, and NaN or
				// ±Inf would poison a sampler's state.
				clear(gi)
			}
			dst[from+i] = v
		}
	}
	// The prior and its gradient.
	pg, hasGrad := p.prior.(dist.Gradienter)
	s.fd = grow(s.fd, 2*p.dt)
	pgrad := s.fd[:p.dt]
	for i := range n {
		ti := theta[i*p.dt : (i+1)*p.dt]
		gi := grad[i*p.dt : (i+1)*p.dt]
		var lp float64
		if hasGrad {
			lp = pg.LogProbGrad(pgrad, ti)
		} else {
			lp = p.prior.LogProb(ti)
			if !math.IsInf(lp, -1) {
				fdPriorGrad(p.prior, pgrad, ti, s.fd[p.dt:])
			}
		}
		if math.IsInf(lp, -1) || math.IsNaN(lp) || math.IsInf(dst[i], -1) {
			dst[i] += lp // -Inf, or NaN for a θ the prior cannot evaluate
			clear(gi)
			continue
		}
		dst[i] += lp
		for j := range gi {
			gi[j] += pgrad[j]
		}
	}
}

// overflowed returns v, or -Inf when v is NaN or +Inf. The potential is
// evaluated at θ of finite prior log-density (a NaN prior value is passed
// on instead) and a validated finite x_o, with finite weights, so a NaN or
// +Inf can only come from an intermediate float64
// overflow (Inf-Inf, 0·Inf) in the network at inputs many orders of
// magnitude outside its training data, where the density underflows. -Inf
// is its float64 value, as flows.Flow.LogProbBatch returns there; NaN would
// poison a sampler's state and +Inf would dominate it.
func overflowed(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 1) {
		return math.Inf(-1)
	}
	return v
}

// fdPriorGrad writes the central finite difference of prior.LogProb at x
// into grad, with step 1e-6·max(1, |x_j|); buf has len(x).
func fdPriorGrad(prior dist.LogProber, grad, x, buf []float64) {
	copy(buf, x)
	for j := range x {
		h := 1e-6 * math.Max(1, math.Abs(x[j]))
		buf[j] = x[j] + h
		up := prior.LogProb(buf)
		buf[j] = x[j] - h
		down := prior.LogProb(buf)
		buf[j] = x[j]
		grad[j] = (up - down) / (2 * h)
		if math.IsInf(up, 0) || math.IsInf(down, 0) || math.IsNaN(grad[j]) {
			grad[j] = 0 // at the edge of the support: no usable difference
		}
	}
}

// blockSumOp is the backward pass of blockSum.
type blockSumOp struct{}

// Backward spreads the gradient of each row sum over its k terms.
func (blockSumOp) Backward(ins, outs []*nn.Tensor, need []bool) {
	if !need[0] {
		return
	}
	in, out := ins[0], outs[0]
	m := out.Rows
	for k := 0; k < in.Rows/m; k++ {
		g := in.Grad[k*m : (k+1)*m]
		for i, v := range out.Grad[:m] {
			g[i] += v
		}
	}
}

// blockSum returns the m×1 sums over k of the rows k·m + i of the (k·m)×1
// tensor t.
func blockSum(tp *nn.Tape, t *nn.Tensor, k int) *nn.Tensor {
	if t.Cols != 1 || t.Rows%k != 0 {
		panic(fmt.Sprintf("sbi: blockSum of a %d×%d tensor in %d blocks", t.Rows, t.Cols, k))
	}
	m := t.Rows / k
	out := tp.New(m, 1)
	for i := range m {
		var s float64
		for b := range k {
			s += t.Data[b*m+i]
		}
		out.Data[i] = s
	}
	tp.Fused(blockSumOp{}, []*nn.Tensor{t}, out)
	return out
}

// SingleTrial returns the observation made of the one trial x (copied) as a
// 1×len(x) matrix, the form the potential-based posteriors take; nil for an
// empty x.
func SingleTrial(x []float64) *mat.Dense {
	if len(x) == 0 {
		return nil
	}
	return mat.NewDense(1, len(x), append([]float64(nil), x...))
}
