package vi

import (
	"fmt"
	"math"
	"sync"

	"github.com/gosbi/gosbi/dist"
	"github.com/gosbi/gosbi/nn"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/mat"
)

// Differentiable is a log density written with nn operations: LogDensity
// returns log p̃(θ) for every row of theta (N×Dim) as an N×1 tensor computed
// on tp, differentiable with respect to theta. Fit and FitAmortized run it on
// a tape whose FreezeParams flag is set, so the parameters of a neural
// potential (an NLE flow, an NRE classifier) are constants: only θ, and
// through it the variational parameters, receive gradients. It may be
// called with a nil or NoGrad tape for values alone. Potential adapts a
// function to this interface.
type Differentiable interface {
	LogDensity(tp *nn.Tape, theta *nn.Tensor) *nn.Tensor
}

// PotentialFunc computes log p̃(θ) for every row of theta (N×D) as an N×1
// tensor on tp, with nn ops (or fused ops), so that it is differentiable
// with respect to theta.
type PotentialFunc func(tp *nn.Tape, theta *nn.Tensor) *nn.Tensor

// Potential is an unnormalised log density on R^Dim given as a PotentialFunc:
// the form in which a neural potential (for example log q(x_o | θ) + log p(θ)
// of a likelihood estimator) is handed to Fit. Besides Differentiable it
// implements dist.LogProber, dist.BatchLogProber, dist.Gradienter and
// dist.BatchGradienter (on pooled tapes, with the function's own parameters
// frozen), so the same value can be given to MCMC samplers. It is safe for
// concurrent use when the function is.
type Potential struct {
	dim  int
	f    PotentialFunc
	pool sync.Pool // *potState
}

// potState is the scratch of one evaluation outside Fit: a tape and a tensor
// header.
type potState struct {
	tp, ng *nn.Tape
	x      nn.Tensor
}

var (
	_ Differentiable       = (*Potential)(nil)
	_ dist.LogProber       = (*Potential)(nil)
	_ dist.BatchLogProber  = (*Potential)(nil)
	_ dist.Gradienter      = (*Potential)(nil)
	_ dist.BatchGradienter = (*Potential)(nil)
)

// NewPotential returns the potential of dimension dim computed by f. The
// error wraps ErrTarget if dim is not positive or f is nil.
func NewPotential(dim int, f PotentialFunc) (*Potential, error) {
	if dim < 1 {
		return nil, fmt.Errorf("vi: potential of dimension %d: %w", dim, ErrTarget)
	}
	if f == nil {
		return nil, fmt.Errorf("vi: nil potential function: %w", ErrTarget)
	}
	return &Potential{dim: dim, f: f}, nil
}

// Dim returns the dimension of θ.
func (p *Potential) Dim() int { return p.dim }

// LogDensity returns the function's N×1 log densities of the rows of theta.
// It panics if theta does not have Dim columns or the function does not
// return an N×1 tensor.
func (p *Potential) LogDensity(tp *nn.Tape, theta *nn.Tensor) *nn.Tensor {
	if theta.Cols != p.dim {
		panic(fmt.Sprintf("vi: Potential: θ has %d columns, want %d", theta.Cols, p.dim))
	}
	out := p.f(tp, theta)
	if out == nil || out.Rows != theta.Rows || out.Cols != 1 {
		panic(fmt.Sprintf("vi: Potential: function returned %v for %d rows, want %d×1", out, theta.Rows, theta.Rows))
	}
	return out
}

func (p *Potential) state() *potState {
	if st, ok := p.pool.Get().(*potState); ok {
		return st
	}
	tp := nn.NewTape()
	tp.FreezeParams = true
	return &potState{tp: tp, ng: nn.NewNoGradTape()}
}

func (p *Potential) put(st *potState) {
	st.tp.Reset()
	st.ng.Reset()
	st.x.Data = nil
	p.pool.Put(st)
}

// LogProb returns log p̃(θ). It panics if len(theta) != Dim.
func (p *Potential) LogProb(theta []float64) float64 {
	if len(theta) != p.dim {
		panic(fmt.Sprintf("vi: Potential.LogProb: θ of length %d, want %d", len(theta), p.dim))
	}
	st := p.state()
	defer p.put(st)
	x := st.ng.New(1, p.dim)
	copy(x.Data, theta)
	return p.LogDensity(st.ng, x).Data[0]
}

// LogProbBatch writes log p̃ of every row of theta into dst (allocated if
// nil) and returns it. It panics on a shape mismatch.
func (p *Potential) LogProbBatch(dst []float64, theta *mat.Dense) []float64 {
	n := checkBatch("Potential.LogProbBatch", theta, p.dim)
	dst = useDst("Potential.LogProbBatch", dst, n)
	st := p.state()
	defer p.put(st)
	for from := 0; from < n; from += chunkRows {
		to := min(n, from+chunkRows)
		st.ng.Reset()
		x := rowsTensor(st.ng, &st.x, theta, from, to)
		copy(dst[from:to], p.LogDensity(st.ng, x).Data)
	}
	return dst
}

// LogProbGrad writes ∂ log p̃/∂θ into grad and returns log p̃(θ). It panics
// if the lengths differ from Dim.
func (p *Potential) LogProbGrad(grad, theta []float64) float64 {
	if len(theta) != p.dim || len(grad) != p.dim {
		panic(fmt.Sprintf("vi: Potential.LogProbGrad: lengths %d and %d, want %d", len(grad), len(theta), p.dim))
	}
	var out [1]float64
	p.LogProbGradBatch(out[:], mat.NewDense(1, p.dim, grad), mat.NewDense(1, p.dim, theta))
	return out[0]
}

// LogProbGradBatch writes, for every row θ_i of theta, ∂ log p̃(θ_i)/∂θ_i
// into row i of grad and log p̃(θ_i) into dst[i] (dst allocated if nil), and
// returns dst. The function's own parameters are constants: their gradients
// are not touched. It panics on a shape mismatch.
func (p *Potential) LogProbGradBatch(dst []float64, grad, theta *mat.Dense) []float64 {
	n := checkBatch("Potential.LogProbGradBatch", theta, p.dim)
	if r, c := grad.Dims(); r != n || c != p.dim {
		panic(fmt.Sprintf("vi: Potential.LogProbGradBatch: grad is %d×%d, want %d×%d", r, c, n, p.dim))
	}
	dst = useDst("Potential.LogProbGradBatch", dst, n)
	st := p.state()
	defer p.put(st)
	tp := st.tp
	g := grad.RawMatrix()
	for from := 0; from < n; from += chunkRows {
		to := min(n, from+chunkRows)
		tp.Reset()
		x := copyRows(tp, theta, from, to)
		tp.Watch(x)
		lp := p.LogDensity(tp, x)
		copy(dst[from:to], lp.Data)
		if tp.Tracked(lp) {
			tp.Backward(tp.Sum(lp))
		}
		for i := from; i < to; i++ {
			row := g.Data[i*g.Stride : i*g.Stride+p.dim]
			if tp.Tracked(lp) {
				copy(row, x.Grad[(i-from)*p.dim:(i-from+1)*p.dim])
			} else {
				clear(row) // the function does not depend on θ
			}
		}
	}
	return dst
}

// FromDist returns the log density of d as a Differentiable, for use inside
// a PotentialFunc: for example the log prior of a neural potential,
// log q_ψ(x_o | θ) + log p(θ), when the prior is a dist distribution. Values
// come from d's LogProbBatch (or LogProb) and gradients, on a recording
// tape, from its LogProbGradBatch (or LogProbGrad), through a fused op; the
// gradient is taken as zero where log d is ±Inf or NaN. The result also
// implements dist.LogProber and has a Dim method. The error wraps ErrTarget
// if d is nil, has no Dim() int method or no gradient capability.
func FromDist(d dist.LogProber) (Differentiable, error) {
	if d == nil {
		return nil, fmt.Errorf("vi: FromDist(nil): %w", ErrTarget)
	}
	dd, ok := d.(interface{ Dim() int })
	if !ok || dd.Dim() < 1 {
		return nil, fmt.Errorf("vi: FromDist: %T has no positive Dim(): %w", d, ErrTarget)
	}
	dens, err := newDensity(d, dd.Dim())
	if err != nil {
		return nil, err
	}
	if df, ok := dens.(diffDensity); ok {
		return df.d, nil // already Differentiable
	}
	return dens.(*distDensity), nil
}

// LogDensity implements Differentiable.
func (d *distDensity) LogDensity(tp *nn.Tape, theta *nn.Tensor) *nn.Tensor {
	return d.logDensity(tp, theta)
}

// LogProb implements dist.LogProber.
func (d *distDensity) LogProb(theta []float64) float64 { return d.lp.LogProb(theta) }

// Dim returns the dimension of θ.
func (d *distDensity) Dim() int { return d.dim }

// ConditionalTarget is an unnormalised log density of θ indexed by a context
// x, such as log p(x | θ) + log p(θ) for amortised variational inference:
// LogDensity returns an N×1 tensor for θ (N×Dim) and x (N×ContextDim, one
// context per row), differentiable with respect to θ, with the conventions
// of Differentiable. ConditionalPotential implements it.
type ConditionalTarget interface {
	Dim() int
	ContextDim() int
	LogDensity(tp *nn.Tape, theta, x *nn.Tensor) *nn.Tensor
}

// ConditionalPotentialFunc computes log p̃(θ_i | x_i) for every row of theta
// (N×D) and x (N×C) as an N×1 tensor on tp, differentiable with respect to
// theta.
type ConditionalPotentialFunc func(tp *nn.Tape, theta, x *nn.Tensor) *nn.Tensor

// ConditionalPotential is a ConditionalTarget given as a function.
type ConditionalPotential struct {
	dim, ctxDim int
	f           ConditionalPotentialFunc
}

var _ ConditionalTarget = (*ConditionalPotential)(nil)

// NewConditionalPotential returns the conditional potential with θ of
// dimension dim and contexts of dimension ctxDim computed by f. The error
// wraps ErrTarget for non-positive dimensions or a nil f.
func NewConditionalPotential(dim, ctxDim int, f ConditionalPotentialFunc) (*ConditionalPotential, error) {
	if dim < 1 || ctxDim < 1 {
		return nil, fmt.Errorf("vi: conditional potential of dimensions %d and %d: %w", dim, ctxDim, ErrTarget)
	}
	if f == nil {
		return nil, fmt.Errorf("vi: nil conditional potential function: %w", ErrTarget)
	}
	return &ConditionalPotential{dim: dim, ctxDim: ctxDim, f: f}, nil
}

// Dim returns the dimension of θ.
func (p *ConditionalPotential) Dim() int { return p.dim }

// ContextDim returns the dimension of the context x.
func (p *ConditionalPotential) ContextDim() int { return p.ctxDim }

// LogDensity returns the function's N×1 log densities. It panics on a shape
// mismatch of the arguments or of the function's result.
func (p *ConditionalPotential) LogDensity(tp *nn.Tape, theta, x *nn.Tensor) *nn.Tensor {
	if theta.Cols != p.dim || x.Cols != p.ctxDim || x.Rows != theta.Rows {
		panic(fmt.Sprintf("vi: ConditionalPotential: θ %d×%d and x %d×%d, want N×%d and N×%d",
			theta.Rows, theta.Cols, x.Rows, x.Cols, p.dim, p.ctxDim))
	}
	out := p.f(tp, theta, x)
	if out == nil || out.Rows != theta.Rows || out.Cols != 1 {
		panic(fmt.Sprintf("vi: ConditionalPotential: function returned %v for %d rows, want %d×1", out, theta.Rows, theta.Rows))
	}
	return out
}

// Condition returns the potential θ ↦ log p̃(θ | x) at the context x
// (copied). It panics if len(x) != ContextDim.
func (p *ConditionalPotential) Condition(x []float64) *Potential {
	if len(x) != p.ctxDim {
		panic(fmt.Sprintf("vi: ConditionalPotential.Condition: context of length %d, want %d", len(x), p.ctxDim))
	}
	c := append([]float64(nil), x...)
	pot, _ := NewPotential(p.dim, func(tp *nn.Tape, theta *nn.Tensor) *nn.Tensor {
		return p.LogDensity(tp, theta, repeatRow(tp, c, theta.Rows))
	})
	return pot
}

// repeatRow returns an n×len(c) tensor (from tp's arena) whose rows are c.
func repeatRow(tp *nn.Tape, c []float64, n int) *nn.Tensor {
	t := tp.New(n, len(c))
	for i := range n {
		copy(t.Data[i*len(c):(i+1)*len(c)], c)
	}
	return t
}

// chunkRows bounds the rows evaluated at once outside the optimisation loop.
const chunkRows = 2048

// density is the target as Fit sees it: a function of θ on a tape.
type density interface {
	logDensity(tp *nn.Tape, theta *nn.Tensor) *nn.Tensor
}

// diffDensity adapts a Differentiable.
type diffDensity struct{ d Differentiable }

func (d diffDensity) logDensity(tp *nn.Tape, theta *nn.Tensor) *nn.Tensor {
	return checkOut(d.d.LogDensity(tp, theta), theta.Rows)
}

// checkOut panics unless out is an n×1 tensor of log densities.
func checkOut(out *nn.Tensor, n int) *nn.Tensor {
	if out == nil || out.Rows != n || out.Cols != 1 {
		panic(fmt.Sprintf("vi: target returned %v for %d rows, want %d×1", out, n, n))
	}
	return out
}

// distDensity adapts a dist.LogProber with a gradient capability: values
// come from LogProbBatch (or LogProb), and on a recording tape from
// LogProbGradBatch (or LogProbGrad) through a fused op.
type distDensity struct {
	lp   dist.LogProber
	bl   dist.BatchLogProber  // may be nil
	g    dist.Gradienter      // may be nil
	bg   dist.BatchGradienter // may be nil
	dim  int
	pool sync.Pool // *[2]mat.Dense headers
}

// newDensity returns the density of target, or an error wrapping ErrTarget
// if it is nil or has no gradient capability. dim is the dimension of q.
func newDensity(target dist.LogProber, dim int) (density, error) {
	if target == nil {
		return nil, fmt.Errorf("vi: nil target: %w", ErrTarget)
	}
	if dd, ok := target.(interface{ Dim() int }); ok && dd.Dim() != dim {
		return nil, fmt.Errorf("vi: target of dimension %d for q of dimension %d: %w", dd.Dim(), dim, ErrTarget)
	}
	if d, ok := target.(Differentiable); ok {
		return diffDensity{d}, nil
	}
	dd := &distDensity{lp: target, dim: dim}
	dd.bl, _ = target.(dist.BatchLogProber)
	dd.g, _ = target.(dist.Gradienter)
	dd.bg, _ = target.(dist.BatchGradienter)
	if dd.g == nil && dd.bg == nil {
		return nil, fmt.Errorf("vi: target %T has no gradient (implement vi.Differentiable, dist.Gradienter or dist.BatchGradienter): %w", target, ErrTarget)
	}
	return dd, nil
}

func (d *distDensity) headers() *[2]mat.Dense {
	if h, ok := d.pool.Get().(*[2]mat.Dense); ok {
		return h
	}
	return new([2]mat.Dense)
}

// view points m at the values of t (rows × cols, contiguous).
func view(m *mat.Dense, data []float64, rows, cols int) *mat.Dense {
	m.SetRawMatrix(blas64.General{Rows: rows, Cols: cols, Stride: cols, Data: data})
	return m
}

func (d *distDensity) logDensity(tp *nn.Tape, theta *nn.Tensor) *nn.Tensor {
	if theta.Cols != d.dim {
		panic(fmt.Sprintf("vi: target: θ has %d columns, want %d", theta.Cols, d.dim))
	}
	n := theta.Rows
	out := tp.New(n, 1)
	h := d.headers()
	defer func() {
		h[0].SetRawMatrix(blas64.General{})
		h[1].SetRawMatrix(blas64.General{})
		d.pool.Put(h)
	}()
	if !tp.Recording(theta) {
		switch {
		case d.bl != nil:
			d.bl.LogProbBatch(out.Data, view(&h[0], theta.Data, n, d.dim))
		default:
			for i := range n {
				out.Data[i] = d.lp.LogProb(theta.Data[i*d.dim : (i+1)*d.dim])
			}
		}
		return out
	}
	grad := tp.New(n, d.dim)
	switch {
	case d.bg != nil:
		d.bg.LogProbGradBatch(out.Data, view(&h[1], grad.Data, n, d.dim), view(&h[0], theta.Data, n, d.dim))
	default:
		for i := range n {
			out.Data[i] = d.g.LogProbGrad(grad.Data[i*d.dim:(i+1)*d.dim], theta.Data[i*d.dim:(i+1)*d.dim])
		}
	}
	// Outside the support the gradient is unspecified: make it zero so that
	// a zero loss weight does not turn into NaN.
	for i, v := range out.Data {
		if math.IsInf(v, 0) || math.IsNaN(v) {
			clear(grad.Data[i*d.dim : (i+1)*d.dim])
		}
	}
	tp.Fused(gradOp{}, []*nn.Tensor{theta, grad}, out)
	return out
}

// gradOp is the backward pass of distDensity: ∂θ_i += g_i·∇ log p̃(θ_i),
// with the gradients stored in ins[1].
type gradOp struct{}

// Backward implements nn.FusedOp.
func (gradOp) Backward(ins, outs []*nn.Tensor, need []bool) {
	if !need[0] {
		return
	}
	theta, grad, g := ins[0], ins[1], outs[0].Grad
	d := theta.Cols
	for i, gi := range g {
		if gi == 0 {
			continue
		}
		tg, gr := theta.Grad[i*d:(i+1)*d], grad.Data[i*d:(i+1)*d]
		for j, v := range gr {
			tg[j] += gi * v
		}
	}
}

// bijector applies a dist.Bijection z ↦ x = T(z) on a tape, with the
// per-row log|det dT/dz|, as a fused op.
type bijector struct{ b *dist.Bijection }

// forward returns x = T(z) (N×D) and log|det dT/dz| (N×1).
func (bj bijector) forward(tp *nn.Tape, z *nn.Tensor) (x, ladj *nn.Tensor) {
	d := bj.b.Dim()
	if z.Cols != d {
		panic(fmt.Sprintf("vi: bijection of dimension %d applied to %d columns", d, z.Cols))
	}
	n := z.Rows
	x, ladj = tp.New(n, d), tp.New(n, 1)
	for i := range n {
		ladj.Data[i] = bj.b.Forward(x.Data[i*d:(i+1)*d], z.Data[i*d:(i+1)*d])
	}
	if tp.Recording(z) {
		scratch := tp.New(1, 2*d)
		tp.Fused(bijectOp{bj.b}, []*nn.Tensor{z, scratch}, x, ladj)
	}
	return x, ladj
}

// bijectOp is the backward pass of bijector: for each row,
// ∂z += g_x ∘ dx/dz + g_ladj·∂ladj/∂z, computed with Bijection.PullbackGrad,
// which returns g ∘ dx/dz + ∂ladj/∂z for any g (so g = 0 gives ∂ladj/∂z).
type bijectOp struct{ b *dist.Bijection }

// Backward implements nn.FusedOp.
func (o bijectOp) Backward(ins, outs []*nn.Tensor, need []bool) {
	if !need[0] {
		return
	}
	z, scratch := ins[0], ins[1]
	gx, gl := outs[0].Grad, outs[1].Grad
	d := z.Cols
	s0, s1 := scratch.Data[:d], scratch.Data[d:2*d]
	for i := 0; i < z.Rows; i++ {
		zi, gz := z.Data[i*d:(i+1)*d], z.Grad[i*d:(i+1)*d]
		clear(s0)
		o.b.PullbackGrad(s0, zi, s0)              // ∂ladj/∂z
		o.b.PullbackGrad(s1, zi, gx[i*d:(i+1)*d]) // g_x ∘ dx/dz + ∂ladj/∂z
		for j := range d {
			gz[j] += s1[j] + (gl[i]-1)*s0[j]
		}
	}
}

// zDensity is the log density of z in unconstrained space:
// log p̃(T(z)) + log|det dT/dz| (or log p̃(z) without a bijection).
type zDensity struct {
	d  density
	bj *bijector // nil for the identity
}

func (zd zDensity) logDensity(tp *nn.Tape, z *nn.Tensor) *nn.Tensor {
	if zd.bj == nil {
		return zd.d.logDensity(tp, z)
	}
	x, ladj := zd.bj.forward(tp, z)
	return tp.Add(zd.d.logDensity(tp, x), ladj)
}

// checkBatch panics unless m has d columns, and returns its rows.
func checkBatch(who string, m *mat.Dense, d int) int {
	r, c := m.Dims()
	if c != d {
		panic(fmt.Sprintf("vi: %s: %d columns, want %d", who, c, d))
	}
	return r
}

// useDst returns dst, allocated if nil; it panics if its length is not n.
func useDst(who string, dst []float64, n int) []float64 {
	if dst == nil {
		return make([]float64, n)
	}
	if len(dst) != n {
		panic(fmt.Sprintf("vi: %s: dst has length %d, want %d", who, len(dst), n))
	}
	return dst
}

// rowsTensor returns rows [from, to) of m as a tensor: view (reused) when
// m's rows are contiguous, else a copy in tp's arena.
func rowsTensor(tp *nn.Tape, v *nn.Tensor, m *mat.Dense, from, to int) *nn.Tensor {
	raw := m.RawMatrix()
	if raw.Stride != raw.Cols {
		return copyRows(tp, m, from, to)
	}
	v.Rows, v.Cols, v.Data = to-from, raw.Cols, raw.Data[from*raw.Cols:to*raw.Cols]
	v.Grad = nil
	return v
}

// copyRows copies rows [from, to) of m into a tensor of tp's arena.
func copyRows(tp *nn.Tape, m *mat.Dense, from, to int) *nn.Tensor {
	raw := m.RawMatrix()
	t := tp.New(to-from, raw.Cols)
	for i := from; i < to; i++ {
		copy(t.Data[(i-from)*raw.Cols:(i-from+1)*raw.Cols], raw.Data[i*raw.Stride:i*raw.Stride+raw.Cols])
	}
	return t
}
