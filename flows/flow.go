package flows

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"

	"github.com/gosbi/gosbi/dist"
	"github.com/gosbi/gosbi/nn"
	"gonum.org/v1/gonum/mat"
)

// Flow is a (conditional) normalizing flow: a Transform T mapping data x to
// base noise z = T(x; e(c)) with a standard normal base distribution, so that
//
//	log p(x | c) = log N(T(x; e(c)); 0, I) + log|det ∂T/∂x|
//
// exactly (the change-of-variables formula). The context c is first
// z-scored (when the flow was built with context statistics) and then passed
// through an optional embedding network e (identity by default). A flow
// without context (ContextDim 0) is an unconditional density.
//
// A Flow is safe for concurrent use by several goroutines for evaluation and
// sampling (the batch methods and Condition's distributions); training and
// any recording tape must not run concurrently with them.
type Flow struct {
	t        Transform
	dim      int
	ctxDim   int
	ctxNorm  *Standardize // nil: no z-scoring of the context
	embed    nn.Module    // nil: identity
	embedDim int          // dimension of the embedded context

	frozenOnce sync.Once
	frozenT    Transform // parameter-free view of t for input gradients, or nil
	gradMu     sync.Mutex

	states freeList[batchState] // scratch of the batch methods

	fastOnce  sync.Once
	fast      *fastPlan // tape-free plan of the batch methods, nil if unsupported
	fastCalls freeList[fastCall]
	tapeJobs  freeList[tapeJob]
}

// batchState is the reusable scratch of one goroutine's batch evaluation:
// a NoGrad tape (an arena), tensor headers for views of the caller's
// matrices and the buffers of the fast path.
type batchState struct {
	tp     *nn.Tape
	xv, cv nn.Tensor
	fast   *fastScratch
}

// FlowOptions describes the context handling of a Flow built with NewFlow.
type FlowOptions struct {
	// ContextDim is the dimension of the raw context; 0 for an unconditional flow.
	ContextDim int
	// ContextMean and ContextStd, if non-nil, z-score the context before the
	// embedding: c ↦ (c - mean)/std (lengths ContextDim).
	ContextMean, ContextStd []float64
	// Embedding maps the (z-scored) context to the transform's context; nil
	// means the identity. Its parameters are trained with the flow's.
	Embedding nn.Module
}

// NewFlow returns the flow with transform t on R^dim. The transform's
// context dimension must equal the embedding's output dimension (ContextDim
// without embedding). The error wraps ErrConfig for invalid dimensions or
// statistics, or an embedding whose output cannot be evaluated.
func NewFlow(t Transform, dim int, opt FlowOptions) (*Flow, error) {
	if t == nil {
		return nil, fmt.Errorf("flows: nil transform: %w", ErrConfig)
	}
	if dim < 1 || dim > maxDim {
		return nil, fmt.Errorf("flows: flow of dimension %d: %w", dim, ErrConfig)
	}
	if opt.ContextDim < 0 || opt.ContextDim > maxDim {
		return nil, fmt.Errorf("flows: context dimension %d: %w", opt.ContextDim, ErrConfig)
	}
	f := &Flow{t: t, dim: dim, ctxDim: opt.ContextDim, embed: opt.Embedding, embedDim: opt.ContextDim}
	if opt.ContextMean != nil || opt.ContextStd != nil {
		if opt.ContextDim == 0 {
			return nil, fmt.Errorf("flows: context statistics without a context: %w", ErrConfig)
		}
		if len(opt.ContextMean) != opt.ContextDim {
			return nil, fmt.Errorf("flows: %d context means for context dimension %d: %w", len(opt.ContextMean), opt.ContextDim, ErrConfig)
		}
		s, err := NewStandardize("context", opt.ContextMean, opt.ContextStd)
		if err != nil {
			return nil, err
		}
		f.ctxNorm = s
	}
	if f.embed != nil {
		if opt.ContextDim == 0 {
			return nil, fmt.Errorf("flows: embedding without a context: %w", ErrConfig)
		}
		d, err := outputDim(f.embed, opt.ContextDim)
		if err != nil {
			return nil, err
		}
		f.embedDim = d
	}
	return f, nil
}

// outputDim evaluates m on one zero row to find its output width.
func outputDim(m nn.Module, in int) (d int, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("flows: embedding rejects %d context features: %v: %w", in, r, ErrConfig)
		}
	}()
	out := m.Forward(nil, nn.New(1, in))
	if out.Rows != 1 || out.Cols < 1 {
		return 0, fmt.Errorf("flows: embedding maps 1×%d to %d×%d: %w", in, out.Rows, out.Cols, ErrConfig)
	}
	return out.Cols, nil
}

// Dim returns the dimension of the modelled variable.
func (f *Flow) Dim() int { return f.dim }

// ContextDim returns the dimension of the raw context (0 if unconditional).
func (f *Flow) ContextDim() int { return f.ctxDim }

// Transform returns the flow's transform (data → noise).
func (f *Flow) Transform() Transform { return f.t }

// Embedding returns the context embedding network, or nil for the identity.
func (f *Flow) Embedding() nn.Module { return f.embed }

// ContextStandardization returns copies of the context z-scoring statistics,
// or nil, nil if the context is not z-scored.
func (f *Flow) ContextStandardization() (mean, std []float64) {
	if f.ctxNorm == nil {
		return nil, nil
	}
	return f.ctxNorm.Mean(), f.ctxNorm.Std()
}

// Params returns the trainable parameters: the transform's, then the
// embedding's.
func (f *Flow) Params() []*nn.Tensor {
	ps := f.t.Params()
	if f.embed != nil {
		ps = append(ps, f.embed.Params()...)
	}
	return ps
}

// EmbedContext returns the transform's context for raw contexts c (N×C or
// nil): z-scored and embedded. It is differentiable with respect to c and
// the embedding's parameters.
func (f *Flow) EmbedContext(tp *nn.Tape, c *nn.Tensor) *nn.Tensor {
	if f.ctxDim == 0 {
		if c != nil {
			panic(fmt.Sprintf("flows: unconditional flow given a %d×%d context", c.Rows, c.Cols))
		}
		return nil
	}
	if c == nil {
		panic(fmt.Sprintf("flows: flow needs a context with %d columns, got nil", f.ctxDim))
	}
	checkInput("context", c, f.ctxDim)
	if f.ctxNorm != nil {
		c, _ = f.ctxNorm.Forward(tp, c, nil)
	}
	if f.embed != nil {
		c = f.embed.Forward(tp, c)
	}
	return c
}

// LogProb returns log p(x | c) of every row as an N×1 tensor, on tape tp.
// x is N×Dim; c is N×ContextDim, 1×ContextDim (one context for all rows) or
// nil for an unconditional flow. It is differentiable with respect to the
// parameters, x and c (watch them on tp to get their gradients). It panics
// on shape mismatch.
func (f *Flow) LogProb(tp *nn.Tape, x, c *nn.Tensor) *nn.Tensor {
	checkInput("LogProb", x, f.dim)
	return f.logProbEmbedded(tp, f.t, x, f.EmbedContext(tp, c))
}

func (f *Flow) logProbEmbedded(tp *nn.Tape, t Transform, x, ce *nn.Tensor) *nn.Tensor {
	if ce != nil && ce.Rows != x.Rows && ce.Rows != 1 {
		panic(fmt.Sprintf("flows: %d data rows with %d context rows", x.Rows, ce.Rows))
	}
	z, ladj := t.Forward(tp, x, ce)
	return tp.Add(normalLogProb(tp, z), ladj)
}

// RSample maps base noise z (N×Dim, standard normal draws) to samples
// x = T⁻¹(z; e(c)) and returns them with their log-density log p(x | c), on
// tape tp: the reparameterised samples of variational inference,
// differentiable with respect to the parameters (and z and c). c is as for
// LogProb. It panics on shape mismatch.
func (f *Flow) RSample(tp *nn.Tape, z, c *nn.Tensor) (x, logp *nn.Tensor) {
	checkInput("RSample", z, f.dim)
	ce := f.EmbedContext(tp, c)
	if ce != nil && ce.Rows != z.Rows && ce.Rows != 1 {
		panic(fmt.Sprintf("flows: %d noise rows with %d context rows", z.Rows, ce.Rows))
	}
	x, ladj := f.t.Inverse(tp, z, ce)
	// log p(x) = log N(z) + log|det ∂z/∂x| = log N(z) - log|det ∂x/∂z|.
	return x, tp.Sub(normalLogProb(tp, z), ladj)
}

// batchRows is the number of rows the batch methods process at once: large
// enough to amortise per-op overhead, small enough to stay in cache.
const batchRows = 2048

func (f *Flow) getState() *batchState {
	st := f.states.get()
	if st.tp == nil {
		st.tp = nn.NewNoGradTape()
	}
	return st
}

func (f *Flow) putState(st *batchState) {
	st.tp.Reset()
	st.xv.Data, st.cv.Data = nil, nil // do not retain the caller's matrices
	f.states.put(st)
}

// checkBatchContext panics unless c is a valid context matrix for n data
// rows: nil for an unconditional flow, else n rows or one row of ContextDim
// columns.
func (f *Flow) checkBatchContext(what string, c *mat.Dense, n int) {
	if f.ctxDim == 0 {
		if c != nil {
			panic(fmt.Sprintf("flows: %s: unconditional flow given a context", what))
		}
		return
	}
	if c == nil {
		panic(fmt.Sprintf("flows: %s: flow needs a context with %d columns", what, f.ctxDim))
	}
	r, cc := c.Dims()
	if cc != f.ctxDim || (r != n && r != 1) {
		panic(fmt.Sprintf("flows: %s: context is %d×%d, want %d×%d or 1×%d", what, r, cc, n, f.ctxDim, f.ctxDim))
	}
}

// viewRows returns rows [from, to) of m as a tensor: view (reused) pointing
// into m's memory when its rows are contiguous (the ops never write their
// inputs), else a copy in tp's arena.
func viewRows(tp *nn.Tape, view *nn.Tensor, m *mat.Dense, from, to int) *nn.Tensor {
	raw := m.RawMatrix()
	if raw.Stride != raw.Cols {
		return copyRows(tp, m, from, to)
	}
	view.Rows, view.Cols, view.Data = to-from, raw.Cols, raw.Data[from*raw.Cols:to*raw.Cols]
	return view
}

// copyRows copies rows [from, to) of m into a tensor from tp's arena.
func copyRows(tp *nn.Tape, m *mat.Dense, from, to int) *nn.Tensor {
	raw := m.RawMatrix()
	t := tp.New(to-from, raw.Cols)
	for i := from; i < to; i++ {
		copy(t.Data[(i-from)*raw.Cols:(i-from+1)*raw.Cols], raw.Data[i*raw.Stride:i*raw.Stride+raw.Cols])
	}
	return t
}

// LogProbBatch writes log p(x_i | c_i) for every row of x into dst
// (allocated if nil, length x's row count) and returns dst. c has one row
// per row of x, a single row used for all, or is nil for an unconditional
// flow. It records nothing and, after warm-up, does not allocate. It panics
// on shape mismatch.
//
// The rows are processed in fixed chunks on up to BatchWorkers goroutines;
// the result does not depend on their number. Flows made of Standardize,
// Permutation and Autoregressive transforms (MAF; NSF with Autoregressive)
// are evaluated by a tape-free path that skips the masked blocks of the
// MADE weights; it agrees with LogProb up to the rounding of a different
// order of summation (relative differences of order 1e-15).
//
// With finite parameters, a row with finite x and c never gets NaN: a row so
// far out that intermediate values overflow float64 (beyond about 1e300
// after standardisation, where Inf-Inf or 0·Inf would give NaN) gets -Inf,
// the float64 value of its vanishing density. NaN or ±Inf inputs give NaN.
func (f *Flow) LogProbBatch(dst []float64, x, c *mat.Dense) []float64 {
	n, d := x.Dims()
	if d != f.dim {
		panic(fmt.Sprintf("flows: LogProbBatch: x has %d columns, want %d", d, f.dim))
	}
	f.checkBatchContext("LogProbBatch", c, n)
	if dst == nil {
		dst = make([]float64, n)
	}
	if len(dst) != n {
		panic(fmt.Sprintf("flows: LogProbBatch: dst has length %d, want %d", len(dst), n))
	}
	if p := f.fastPlanOf(); p != nil && n >= fastMinRows && !fastOff {
		f.logProbFast(p, dst, x, c)
	} else {
		f.runTape(dst, x, c, n)
	}
	f.overflowToNegInf(dst, nil, x, c)
	return dst
}

// overflowToNegInf sets to -Inf every NaN entry of lp whose row of x (and of
// the context c: one row per row of x, a single row, or nil) is finite,
// provided every parameter and buffer of f is finite: a NaN can then only
// come from an intermediate overflow (Inf-Inf or 0·Inf) at a point whose
// density underflows. Where lp ends up -Inf for a finite row, the row of
// grad (if non-nil) is set to zero: a vanishing density has no usable
// gradient, and NaN would poison a sampler's state. The common case, no NaN
// and no -Inf, costs one pass over lp and allocates nothing.
func (f *Flow) overflowToNegInf(lp []float64, grad, x, c *mat.Dense) {
	suspect := false
	for _, v := range lp {
		if math.IsNaN(v) || math.IsInf(v, -1) {
			suspect = true
			break
		}
	}
	if !suspect || !f.finiteParams() {
		return
	}
	for i, v := range lp {
		if !(math.IsNaN(v) || math.IsInf(v, -1)) || !finiteRow(x, i) {
			continue
		}
		if c != nil && !finiteRow(c, min(i, c.RawMatrix().Rows-1)) {
			continue
		}
		lp[i] = math.Inf(-1)
		if grad != nil {
			g := grad.RawRowView(i)
			for j := range g {
				g[j] = 0
			}
		}
	}
}

// finiteParams reports whether every parameter and buffer of f is finite.
func (f *Flow) finiteParams() bool {
	for _, t := range f.tensors() {
		for _, v := range t.Data {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return false
			}
		}
	}
	return true
}

// finiteRow reports whether row i of m is finite.
func finiteRow(m *mat.Dense, i int) bool {
	for _, v := range m.RawRowView(i) {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return false
		}
	}
	return true
}

// SampleBatch fills every row of dst with a draw from p(x | c_i): one draw
// per row of c, or, if c has a single row (or is nil for an unconditional
// flow), dst.Rows draws at that context. All randomness comes from rng: the
// base noise is drawn first, row by row in order, on the calling goroutine
// (rng.NormFloat64 for each element), then mapped through the inverse
// transform in fixed chunks on up to BatchWorkers goroutines, so the
// samples do not depend on their number. Autoregressive transforms are
// inverted incrementally (see LogProbBatch for the flows of the tape-free
// path): each feature costs only the hidden units it adds. It records
// nothing and, after warm-up, does not allocate. It panics on shape
// mismatch.
func (f *Flow) SampleBatch(dst, c *mat.Dense, rng *rand.Rand) {
	n, d := dst.Dims()
	if d != f.dim {
		panic(fmt.Sprintf("flows: SampleBatch: dst has %d columns, want %d", d, f.dim))
	}
	f.checkBatchContext("SampleBatch", c, n)
	raw := dst.RawMatrix()
	for i := 0; i < n; i++ {
		row := raw.Data[i*raw.Stride : i*raw.Stride+d]
		for j := range row {
			row[j] = rng.NormFloat64()
		}
	}
	if p := f.fastPlanOf(); p != nil && n >= fastMinRows && !fastOff {
		f.sampleFast(p, dst, c)
		return
	}
	f.runTape(nil, dst, c, n)
}

// frozen returns a view of the transform whose parameters are constants, or
// nil if the transform contains types from outside the package.
func (f *Flow) frozen() Transform {
	f.frozenOnce.Do(func() {
		if fr, ok := f.t.(freezer); ok {
			f.frozenT = fr.frozen()
		}
	})
	return f.frozenT
}

// normalLogProb returns log N(z; 0, I) of every row of z (N×1).
func normalLogProb(tp *nn.Tape, z *nn.Tensor) *nn.Tensor {
	n, d := z.Rows, z.Cols
	out := tp.New(n, 1)
	c := -0.5 * float64(d) * math.Log(2*math.Pi)
	for r := 0; r < n; r++ {
		var s float64
		for _, v := range z.Data[r*d : (r+1)*d] {
			s += v * v
		}
		out.Data[r] = c - 0.5*s
	}
	tp.Fused(normalOp{}, []*nn.Tensor{z}, out)
	return out
}

// normalOp is the fused op of normalLogProb: d/dz = -z.
type normalOp struct{}

// Backward implements nn.FusedOp.
func (normalOp) Backward(ins, outs []*nn.Tensor, need []bool) {
	if !need[0] {
		return
	}
	z, g := ins[0], outs[0].Grad
	d := z.Cols
	for r := 0; r < z.Rows; r++ {
		gr := g[r]
		zr, gz := z.Data[r*d:(r+1)*d], z.Grad[r*d:(r+1)*d]
		for j, v := range zr {
			gz[j] -= gr * v
		}
	}
}

// Condition returns the distribution p(· | c) of the flow at context c
// (copied; nil or empty for an unconditional flow). The result implements
// dist.Distribution, dist.BatchSampler, dist.BatchLogProber,
// dist.Gradienter and dist.BatchGradienter. The context is embedded once,
// here. It panics if len(c) differs from ContextDim.
func (f *Flow) Condition(c []float64) dist.Distribution {
	return f.condition(c)
}

func (f *Flow) condition(c []float64) *Conditioned {
	if len(c) != f.ctxDim {
		panic(fmt.Sprintf("flows: Condition: context of length %d, want %d", len(c), f.ctxDim))
	}
	d := &Conditioned{f: f}
	if f.ctxDim > 0 {
		d.c = mat.NewDense(1, f.ctxDim, append([]float64(nil), c...))
		ce := f.EmbedContext(nil, nn.FromSlice(1, f.ctxDim, append([]float64(nil), c...)))
		d.ce = constOf(ce)
	}
	return d
}

// Conditioned is a Flow at a fixed context: a normalised distribution over
// R^Dim. It is safe for concurrent use.
type Conditioned struct {
	f  *Flow
	c  *mat.Dense // 1×C raw context, nil if unconditional
	ce *nn.Tensor // 1×E embedded context (constant), nil if unconditional
}

var (
	_ dist.Distribution    = (*Conditioned)(nil)
	_ dist.BatchSampler    = (*Conditioned)(nil)
	_ dist.BatchLogProber  = (*Conditioned)(nil)
	_ dist.Gradienter      = (*Conditioned)(nil)
	_ dist.BatchGradienter = (*Conditioned)(nil)
	_ dist.Conditional     = (*Flow)(nil)
)

// Dim returns the dimension of the distribution.
func (d *Conditioned) Dim() int { return d.f.dim }

// Context returns a copy of the raw context (nil if unconditional).
func (d *Conditioned) Context() []float64 {
	if d.c == nil {
		return nil
	}
	return append([]float64(nil), d.c.RawRowView(0)...)
}

// LogProb returns log p(x | c). It panics if len(x) != Dim.
func (d *Conditioned) LogProb(x []float64) float64 {
	if len(x) != d.f.dim {
		panic(fmt.Sprintf("flows: LogProb: point of length %d, want %d", len(x), d.f.dim))
	}
	var out [1]float64
	d.f.LogProbBatch(out[:], mat.NewDense(1, len(x), x), d.c)
	return out[0]
}

// LogProbBatch writes log p(x_i | c) for every row of x into dst (allocated
// if nil) and returns it.
func (d *Conditioned) LogProbBatch(dst []float64, x *mat.Dense) []float64 {
	return d.f.LogProbBatch(dst, x, d.c)
}

// Sample writes one draw into dst (allocated if nil) and returns it.
func (d *Conditioned) Sample(dst []float64, rng *rand.Rand) []float64 {
	if dst == nil {
		dst = make([]float64, d.f.dim)
	}
	if len(dst) != d.f.dim {
		panic(fmt.Sprintf("flows: Sample: dst of length %d, want %d", len(dst), d.f.dim))
	}
	d.f.SampleBatch(mat.NewDense(1, len(dst), dst), d.c, rng)
	return dst
}

// SampleBatch fills every row of dst with an independent draw.
func (d *Conditioned) SampleBatch(dst *mat.Dense, rng *rand.Rand) {
	d.f.SampleBatch(dst, d.c, rng)
}

// LogProbGrad writes ∂ log p(x | c)/∂x into grad and returns log p(x | c).
// It panics if the lengths differ from Dim.
func (d *Conditioned) LogProbGrad(grad, x []float64) float64 {
	if len(x) != d.f.dim || len(grad) != d.f.dim {
		panic(fmt.Sprintf("flows: LogProbGrad: lengths %d and %d, want %d", len(grad), len(x), d.f.dim))
	}
	var out [1]float64
	d.LogProbGradBatch(out[:], mat.NewDense(1, len(grad), grad), mat.NewDense(1, len(x), x))
	return out[0]
}

// LogProbGradBatch writes, for every row x_i of x, ∂ log p(x_i | c)/∂x_i into
// row i of grad and log p(x_i | c) into dst[i] (dst allocated if nil), and
// returns dst. The parameters' gradients are not modified. A finite row
// whose log-density is -Inf (see Flow.LogProbBatch) gets a zero gradient.
// It panics on shape mismatch.
func (d *Conditioned) LogProbGradBatch(dst []float64, grad, x *mat.Dense) []float64 {
	n, dim := x.Dims()
	if gr, gc := grad.Dims(); dim != d.f.dim || gr != n || gc != dim {
		panic(fmt.Sprintf("flows: LogProbGradBatch: x %d×%d, grad %d×%d, want %d columns", n, dim, gr, gc, d.f.dim))
	}
	if dst == nil {
		dst = make([]float64, n)
	}
	if len(dst) != n {
		panic(fmt.Sprintf("flows: LogProbGradBatch: dst has length %d, want %d", len(dst), n))
	}
	t := d.f.frozen()
	if t == nil {
		// A transform from outside the package: serialise and keep the
		// parameters' gradients intact by saving and restoring them.
		d.f.gradMu.Lock()
		defer d.f.gradMu.Unlock()
		ps := d.f.t.Params()
		saved := make([][]float64, len(ps))
		for i, p := range ps {
			saved[i] = append([]float64(nil), p.Grad...)
		}
		defer func() {
			for i, p := range ps {
				copy(p.Grad, saved[i])
			}
		}()
		t = d.f.t
	}
	tp := nn.NewTape()
	gr := grad.RawMatrix()
	for from := 0; from < n; from += batchRows {
		to := min(n, from+batchRows)
		tp.Reset()
		xt := copyRows(tp, x, from, to)
		tp.Watch(xt)
		lp := d.f.logProbEmbedded(tp, t, xt, d.ce)
		tp.Backward(tp.Sum(lp))
		copy(dst[from:to], lp.Data)
		for i := from; i < to; i++ {
			copy(gr.Data[i*gr.Stride:i*gr.Stride+dim], xt.Grad[(i-from)*dim:(i-from+1)*dim])
		}
	}
	d.f.overflowToNegInf(dst, grad, x, d.c)
	return dst
}
