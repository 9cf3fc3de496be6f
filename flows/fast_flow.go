package flows

import (
	"math"

	"github.com/gosbi/gosbi/nn"
	"gonum.org/v1/gonum/mat"
)

// The fast path of LogProbBatch and SampleBatch: flows made of
// Standardize, Permutation and Autoregressive transforms (MAF, and NSF with
// Autoregressive set), possibly nested in Composed, are evaluated without a
// tape, chunk by chunk in the feature-major layout of fast_made.go, with
// the degree-sorted MADE plans (masked blocks skipped, incremental
// inversion). Other flows take the tape path. Both paths cut the rows into
// fixed chunks and run them on the worker pool of parallel.go.

// fastRows is the chunk of the fast path: the activations of a 50-unit
// layer (100 KiB) stay in the L2 cache, and a row stride of 256 values
// keeps the GEMM from packing its operands (it packs strides that are
// multiples of 4 KiB).
const fastRows = 256

// fastMinRows is the smallest batch given to the fast path: below it,
// copying the weights into the plan's layout costs more than it saves.
const fastMinRows = 16

// fastOff sends every batch to the tape path (benchmarks compare the two).
var fastOff = false

// fastStage is one step of a fastPlan: exactly one field is set.
type fastStage struct {
	std       *Standardize
	perm, inv []int
	ar        *arPlan
}

// fastPlan is the static plan of a Flow's transform for the fast path.
type fastPlan struct {
	stages []fastStage
	ars    []*arPlan
	d, e   int // features; embedded context features (0: unconditional)
}

// newFastPlan returns the plan of f's transform, or nil if it contains a
// transform the fast path does not handle.
func newFastPlan(f *Flow) *fastPlan {
	p := &fastPlan{d: f.dim}
	if f.ctxDim > 0 {
		p.e = f.embedDim
	}
	if !p.add(f.t) {
		return nil
	}
	return p
}

func (p *fastPlan) add(t Transform) bool {
	switch t := t.(type) {
	case *Composed:
		for _, s := range t.ts {
			if !p.add(s) {
				return false
			}
		}
	case *Standardize:
		if t.mean.Cols != p.d {
			return false
		}
		p.stages = append(p.stages, fastStage{std: t})
	case *Permutation:
		if len(t.perm) != p.d {
			return false
		}
		p.stages = append(p.stages, fastStage{perm: t.perm, inv: t.inv})
	case *Autoregressive:
		if t.cfg.Features != p.d || (t.cfg.Context != 0 && t.cfg.Context != p.e) {
			return false
		}
		a := newARPlan(t)
		if a == nil {
			return false
		}
		p.stages = append(p.stages, fastStage{ar: a})
		p.ars = append(p.ars, a)
	default:
		return false
	}
	return true
}

// fastPlanOf returns f's fast plan (built once), or nil.
func (f *Flow) fastPlanOf() *fastPlan {
	f.fastOnce.Do(func() { f.fast = newFastPlan(f) })
	return f.fast
}

// fastCall is the per-call state of the fast path: a snapshot of the
// weights (taken at the start of every call, so that training between
// calls is seen) and the chunk jobs. It is pooled per Flow.
type fastCall struct {
	p  *fastPlan
	ws []arWeights
	lp lpJob
	sj sampleJob
}

// getCall returns a fastCall with the current weights and the broadcast
// context row c (nil: none or one context per row) folded in.
func (f *Flow) getCall(p *fastPlan, c *mat.Dense) *fastCall {
	fc := f.fastCalls.get()
	if fc.p != p {
		*fc = fastCall{p: p, ws: make([]arWeights, len(p.ars))}
	}
	for i, a := range p.ars {
		a.refresh(&fc.ws[i])
	}
	if c != nil {
		st := f.getState()
		ce := f.EmbedContext(st.tp, viewRows(st.tp, &st.cv, c, 0, 1))
		for i, a := range p.ars {
			a.setContext(&fc.ws[i], ce.Data)
		}
		f.putState(st)
	}
	return fc
}

func (f *Flow) putCall(fc *fastCall) {
	fc.lp = lpJob{}
	fc.sj = sampleJob{}
	f.fastCalls.put(fc)
}

// fastScratch is a goroutine's chunk buffers for the fast path.
type fastScratch struct {
	a, b []float64 // two states: ec context rows, ones, d feature rows; r columns
	sq   []float64 // r: sums of squares
	ar   arScratch
}

// sizeFor makes s large enough for plan p with ec context rows and r rows,
// and sets the ones rows.
func (s *fastScratch) sizeFor(p *fastPlan, ec, r int) {
	s.a = resize(s.a, (ec+1+p.d)*r)
	s.b = resize(s.b, (ec+1+p.d)*r)
	fill(s.a[ec*r:(ec+1)*r], 1)
	fill(s.b[ec*r:(ec+1)*r], 1)
	s.sq = resize(s.sq, r)
	s.ar.prod = resize(s.ar.prod, r)
	s.ar.sum = resize(s.ar.sum, r)
	for _, a := range p.ars {
		s.ar.size(a, r)
	}
}

// loadRows writes rows [from, to) of m (r = to-from rows, k columns)
// transposed into dst (k×r).
func loadRows(dst []float64, m *mat.Dense, from, to int) {
	raw := m.RawMatrix()
	r, k := to-from, raw.Cols
	for i := 0; i < r; i++ {
		src := raw.Data[(from+i)*raw.Stride : (from+i)*raw.Stride+k]
		for j, v := range src {
			dst[j*r+i] = v
		}
	}
}

// storeRows writes the k×r matrix src transposed into rows [from, to) of m.
func storeRows(m *mat.Dense, src []float64, from, to int) {
	raw := m.RawMatrix()
	r, k := to-from, raw.Cols
	for i := 0; i < r; i++ {
		row := raw.Data[(from+i)*raw.Stride : (from+i)*raw.Stride+k]
		for j := range row {
			row[j] = src[j*r+i]
		}
	}
}

// loadContext writes the embedded contexts of rows [from, to) of c (one per
// row) into the first e rows of s.a and s.b (e×r each).
func (f *Flow) loadContext(st *batchState, s *fastScratch, c *mat.Dense, e, from, to int) {
	r := to - from
	st.tp.Reset()
	ce := f.EmbedContext(st.tp, viewRows(st.tp, &st.cv, c, from, to))
	for i := 0; i < r; i++ {
		for j, v := range ce.Data[i*e : (i+1)*e] {
			s.a[j*r+i] = v
		}
	}
	copy(s.b[:e*r], s.a[:e*r])
}

// permuteRows writes the d rows of src (r columns) to dst with dst row i =
// src row idx[i].
func permuteRows(dst, src []float64, idx []int, r int) {
	for i, k := range idx {
		copy(dst[i*r:(i+1)*r], src[k*r:(k+1)*r])
	}
}

// fastJob is what the chunk jobs of the fast path share: the call, and the
// n rows of input with their contexts.
type fastJob struct {
	f       *Flow
	fc      *fastCall
	c       *mat.Dense
	n       int
	ctxRows bool // one context per row (else none or folded into the biases)
}

// newFastJob starts a fast call over n rows with contexts c: nil, one row
// (folded into the biases of the call) or one row per input row. The
// caller returns the call with f.putCall(j.fc).
func (f *Flow) newFastJob(p *fastPlan, c *mat.Dense, n int) fastJob {
	oneCtx := c != nil && c.RawMatrix().Rows == 1
	var bc *mat.Dense
	if oneCtx {
		bc = c
	}
	return fastJob{f: f, fc: f.getCall(p, bc), c: c, n: n, ctxRows: c != nil && !oneCtx}
}

func (j *fastJob) begin() *batchState { return j.f.getState() }
func (j *fastJob) end(st *batchState) { j.f.putState(st) }

// chunks returns the number of chunks of the job.
func (j *fastJob) chunks() int { return (j.n + fastRows - 1) / fastRows }

// load prepares chunk i, rows [from, to): it sizes the goroutine's scratch
// s for the chunk (which sets the row of ones of both states), writes the
// chunk's ec embedded contexts into both (ec = 0 unless ctxRows), and rows
// [from, to) of m transposed into the feature rows of s.a.
func (j *fastJob) load(st *batchState, i int, m *mat.Dense) (s *fastScratch, from, to, ec int) {
	p := j.fc.p
	from = i * fastRows
	to = min(j.n, from+fastRows)
	if j.ctxRows {
		ec = p.e
	}
	s = st.fastScratch()
	s.sizeFor(p, ec, to-from)
	if j.ctxRows {
		j.f.loadContext(st, s, j.c, p.e, from, to)
	}
	loadRows(s.a[(ec+1)*(to-from):], m, from, to)
	return s, from, to, ec
}

// lpJob is the chunk job of the fast LogProbBatch.
type lpJob struct {
	fastJob
	x   *mat.Dense
	dst []float64
}

func (j *lpJob) chunk(st *batchState, i int) {
	p := j.fc.p
	s, from, to, ec := j.load(st, i, j.x)
	r, d := to-from, p.d
	cur, oth := s.a, s.b
	prod, sum := s.ar.prod[:r], s.ar.sum[:r]
	fill(prod, 1)
	clear(sum)
	ai := 0
	for _, sg := range p.stages {
		x := cur[(ec+1)*r : (ec+1+d)*r]
		switch {
		case sg.std != nil:
			mu, inv := sg.std.mean.Data, sg.std.invStd
			for k := 0; k < d; k++ {
				row := x[k*r : (k+1)*r]
				for q, v := range row {
					row[q] = (v - mu[k]) * inv[k]
				}
			}
			for q := range sum {
				sum[q] += sg.std.logDet
			}
		case sg.perm != nil:
			permuteRows(oth[(ec+1)*r:], x, sg.perm, r)
			cur, oth = oth, cur
		default:
			sg.ar.forward(&j.fc.ws[ai], &s.ar, cur, ec, j.ctxRows && sg.ar.e > 0, r)
			ai++
		}
	}
	// log N(z; 0, I) + ladj, the squares summed in feature order as normalLogProb.
	z := cur[(ec+1)*r : (ec+1+d)*r]
	sq := s.sq[:r]
	clear(sq)
	for k := 0; k < d; k++ {
		for q, v := range z[k*r : (k+1)*r] {
			sq[q] += v * v
		}
	}
	cst := -0.5 * float64(d) * math.Log(2*math.Pi)
	out := j.dst[from:to]
	for q := range out {
		out[q] = (cst - 0.5*sq[q]) + (sum[q] + math.Log(prod[q]))
	}
}

// sampleJob is the chunk job of the fast SampleBatch: the base noise is
// already in the rows of dst, which receive the samples.
type sampleJob struct {
	fastJob
	dst *mat.Dense
}

func (j *sampleJob) chunk(st *batchState, i int) {
	p := j.fc.p
	s, from, to, ec := j.load(st, i, j.dst)
	r, d := to-from, p.d
	cur, oth := s.a, s.b
	ai := len(p.ars)
	for si := len(p.stages) - 1; si >= 0; si-- {
		sg := p.stages[si]
		x := cur[(ec+1)*r : (ec+1+d)*r]
		switch {
		case sg.std != nil:
			mu, sd := sg.std.mean.Data, sg.std.std.Data
			for k := 0; k < d; k++ {
				row := x[k*r : (k+1)*r]
				for q, v := range row {
					row[q] = v*sd[k] + mu[k]
				}
			}
		case sg.perm != nil:
			permuteRows(oth[(ec+1)*r:], x, sg.inv, r)
			cur, oth = oth, cur
		default:
			ai--
			sg.ar.inverse(&j.fc.ws[ai], &s.ar, cur, oth, ec, j.ctxRows && sg.ar.e > 0, r)
			cur, oth = oth, cur
		}
	}
	storeRows(j.dst, cur[(ec+1)*r:(ec+1+d)*r], from, to)
}

// fastScratch returns the state's fast-path buffers.
func (st *batchState) fastScratch() *fastScratch {
	if st.fast == nil {
		st.fast = new(fastScratch)
	}
	return st.fast
}

// logProbFast is LogProbBatch's fast path (shapes already checked).
func (f *Flow) logProbFast(p *fastPlan, dst []float64, x, c *mat.Dense) {
	j := f.newFastJob(p, c, len(dst))
	defer f.putCall(j.fc)
	j.fc.lp = lpJob{fastJob: j, x: x, dst: dst}
	runChunks(&j.fc.lp, j.chunks())
}

// sampleFast is SampleBatch's fast path: dst holds the base noise.
func (f *Flow) sampleFast(p *fastPlan, dst, c *mat.Dense) {
	n, _ := dst.Dims()
	j := f.newFastJob(p, c, n)
	defer f.putCall(j.fc)
	j.fc.sj = sampleJob{fastJob: j, dst: dst}
	runChunks(&j.fc.sj, j.chunks())
}

// tapeJob is the chunk job of the tape path of both batch methods (chunks
// of batchRows rows).
type tapeJob struct {
	f      *Flow
	x, c   *mat.Dense // x: data (log-prob) or noise and samples (dst of SampleBatch)
	lp     []float64  // log-prob output; nil for sampling
	n      int
	oneCtx bool
}

func (j *tapeJob) begin() *batchState { return j.f.getState() }
func (j *tapeJob) end(st *batchState) { j.f.putState(st) }

func (j *tapeJob) chunk(st *batchState, i int) {
	f, tp := j.f, st.tp
	from := i * batchRows
	to := min(j.n, from+batchRows)
	tp.Reset()
	var ce *nn.Tensor
	if j.oneCtx {
		ce = f.EmbedContext(tp, viewRows(tp, &st.cv, j.c, 0, 1))
	} else if j.c != nil {
		ce = f.EmbedContext(tp, viewRows(tp, &st.cv, j.c, from, to))
	}
	if j.lp != nil {
		lp := f.logProbEmbedded(tp, f.t, viewRows(tp, &st.xv, j.x, from, to), ce)
		copy(j.lp[from:to], lp.Data)
		return
	}
	d := f.dim
	z := copyRows(tp, j.x, from, to)
	x, _ := f.t.Inverse(tp, z, ce)
	raw := j.x.RawMatrix()
	for q := from; q < to; q++ {
		copy(raw.Data[q*raw.Stride:q*raw.Stride+d], x.Data[(q-from)*d:(q-from+1)*d])
	}
}

// runTape runs the tape path on n rows: log-probs of x into lp, or (lp nil)
// samples from the noise in x, in place.
func (f *Flow) runTape(lp []float64, x, c *mat.Dense, n int) {
	j := f.tapeJobs.get()
	*j = tapeJob{f: f, x: x, c: c, lp: lp, n: n, oneCtx: c != nil && c.RawMatrix().Rows == 1}
	runChunks(j, (n+batchRows-1)/batchRows)
	*j = tapeJob{}
	f.tapeJobs.put(j)
}
