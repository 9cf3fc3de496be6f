package flows

import (
	"math"
	"slices"

	"github.com/gosbi/gosbi/internal/gemm"
	"github.com/gosbi/gosbi/internal/vmath"
)

// Tape-free inference for the MADE of an Autoregressive transform, used by
// the batch methods of Flow (see fast_flow.go).
//
// Layout. Activations are stored feature-major: a layer of u units over a
// chunk of r rows is a u×r row-major matrix (unit i's values at
// [i·r, (i+1)·r)), so a layer is W·H (the GEMM vectorises along the rows of
// the batch), bias and activation run over contiguous slices, and the
// units of one degree are one contiguous block.
//
// Degree sorting. The hidden units of every layer share the degrees of
// madeHiddenDegrees; the plan orders them by degree (stably). A hidden unit
// of degree k sees the inputs 1…k and the previous layer's units of degree
// <= k, which after sorting are a prefix of the previous layer; an output of
// feature j (degree j+1) sees the last layer's units of degree <= j, also a
// prefix. The masked weights are therefore block lower triangular, and
// each product only needs, for a panel of consecutive units, the prefix of
// inputs that its highest degree sees: about half of the hidden-to-hidden
// products of a 10-dimensional MADE are skipped. Within a panel the masked
// weights are stored as zeros, so the result is the masked product up to
// the order of summation.
//
// Incremental inversion. Sampling inverts the transform feature by
// feature: x_j needs the outputs of feature j, which depend on the hidden
// units of degree <= j, which depend on x_1…x_j only. Units of degree < j
// were computed for the earlier features and do not change, so pass j
// computes the units of degree j in every layer (a block of rows of each
// layer), then the outputs of feature j: the D passes together cost about
// one forward pass instead of D.

// fastPanel is a block of consecutive (sorted) units [s, e) of a layer
// whose products need the first k units (or inputs) of the layer below.
type fastPanel struct{ s, e, k int }

// Forward panels. Degree groups of at least panelTile units are panels of
// their own (gathered until panelTarget units); smaller groups (10 and
// more features at width 50) are cut into panels of panelTile units, the
// height of the widest GEMM tile (AVX-512), each reading the prefix its
// last unit needs: whole tiles beat exact degree blocks computed by the
// GEMM's short kernels of 1, 2 or 4 rows.
const (
	panelTarget = 8
	panelTile   = 14
)

// noSkip makes one panel per layer, which skips no masked block; the
// benchmarks use it to measure the skipping. Plans read it when built.
var noSkip = false

// arPlan is the static inference plan of one Autoregressive transform: the
// degree sorting of its hidden units and the panels of its products.
type arPlan struct {
	t      *Autoregressive
	m      *made
	d      int // features
	e      int // context features of the context layer (0: none)
	h      int // hidden units
	mult   int // conditioner outputs per feature
	layers int // hidden-to-hidden layers
	order  []int
	// start[k], end[k]: the sorted positions of the hidden units of degree
	// k (0 <= k < d) are [start[k], end[k]); end[k] is also the number of
	// units of degree <= k.
	start, end []int
	inPanels   []fastPanel // layer 0: k inputs of x (plus the context)
	hidPanels  []fastPanel // hidden layers: k units of the layer below
	outPanels  []fastPanel // output rows: k units of the last layer
	spline     *splineOp   // nil: affine
}

// newARPlan returns the plan of t, or nil if the transform is outside what
// the plan supports (an unknown univariate map, or masks that do not have
// the MADE structure the plan assumes).
func newARPlan(t *Autoregressive) *arPlan {
	m := t.made
	cfg := t.cfg
	p := &arPlan{
		t: t, m: m, d: cfg.Features, h: cfg.Hidden, layers: len(m.hidden),
		mult: cfg.Univariate.ParamsPerFeature(),
	}
	if m.ctx != nil {
		p.e = m.ctx.In()
	}
	switch ops := t.ops.(type) {
	case *affineOps:
	case *splineOps:
		o := ops.inv
		p.spline = &o
	default:
		return nil
	}
	deg := madeHiddenDegrees(p.h, p.d, cfg.Context > 0)
	p.order = make([]int, p.h)
	for i := range p.order {
		p.order[i] = i
	}
	slices.SortStableFunc(p.order, func(a, b int) int { return deg[a] - deg[b] })
	p.start, p.end = make([]int, p.d), make([]int, p.d)
	pos := 0
	for k := 0; k < p.d; k++ {
		p.start[k] = pos
		for pos < p.h && deg[p.order[pos]] == k {
			pos++
		}
		p.end[k] = pos
	}
	if pos != p.h || !p.masksMatch(deg) {
		return nil
	}
	var ps []fastPanel
	groups := 0
	for k := 0; k < p.d; k++ {
		if p.end[k] > p.start[k] {
			groups++
		}
	}
	switch {
	case noSkip:
		ps = []fastPanel{{s: 0, e: p.h, k: p.d - 1}}
	case p.h < groups*panelTile:
		for s := 0; s < p.h; s += panelTile {
			e := min(p.h, s+panelTile)
			ps = append(ps, fastPanel{s: s, e: e, k: deg[p.order[e-1]]})
		}
	default:
		s := 0
		for k := 0; k < p.d; k++ {
			if p.end[k] == s || (p.end[k]-s < panelTarget && k < p.d-1) {
				continue
			}
			ps = append(ps, fastPanel{s: s, e: p.end[k], k: k})
			s = p.end[k]
		}
	}
	for _, q := range ps {
		p.inPanels = append(p.inPanels, fastPanel{s: q.s, e: q.e, k: q.k}) // inputs 1…k
		p.hidPanels = append(p.hidPanels, fastPanel{s: q.s, e: q.e, k: p.end[q.k]})
	}
	// Output panels: whole features (mult rows each).
	s := 0
	if noSkip {
		s = p.d - 1
	}
	for j := 0; j < p.d; j++ {
		if (j+1-s)*p.mult < panelTarget && j < p.d-1 {
			continue
		}
		p.outPanels = append(p.outPanels, fastPanel{s: s * p.mult, e: (j + 1) * p.mult, k: p.end[j]})
		s = j + 1
	}
	return p
}

// masksMatch reports whether every connection the masks allow lies in the
// blocks the plan computes (hidden units sorted by degree deg).
func (p *arPlan) masksMatch(deg []int) bool {
	m := p.m
	if m.in != nil {
		for u := 0; u < p.h; u++ {
			for i := 0; i < p.d; i++ {
				if m.in.M.Data[u*p.d+i] != 0 && i+1 > deg[u] {
					return false
				}
			}
		}
	}
	for _, l := range m.hidden {
		for u := 0; u < p.h; u++ {
			for v := 0; v < p.h; v++ {
				if l.M.Data[u*p.h+v] != 0 && deg[v] > deg[u] {
					return false
				}
			}
		}
	}
	for o := 0; o < p.d*p.mult; o++ {
		for v := 0; v < p.h; v++ {
			if m.out.M.Data[o*p.h+v] != 0 && deg[v] > o/p.mult {
				return false
			}
		}
	}
	return true
}

// arWeights holds one snapshot of a transform's weights in the plan's
// layout: hidden units sorted by degree, masks applied, and every layer's
// bias stored as an extra weight column multiplying a row of ones in the
// layer's input (the ones row of fastScratch and arScratch), so that one
// GEMM computes bias plus product and nothing is filled beforehand.
type arWeights struct {
	// w0 is the first layer, h×(e+1+d): the context columns, the bias,
	// then the inputs; its input is the chunk state [context; ones; x].
	w0 []float64
	b0 []float64 // h: first-layer bias (input, context and D=1 biases)
	// wh is, per hidden layer, h×(1+h): bias, then the units below.
	wh [][]float64
	// wo is the output layer, (d·mult)×(1+h): bias, then the last layer.
	wo []float64
}

// refresh copies the current parameters into w (allocating on first use).
func (p *arPlan) refresh(w *arWeights) {
	m, h, d, e := p.m, p.h, p.d, p.e
	ld0, ldh := e+1+d, 1+h
	w.w0 = resize(w.w0, h*ld0)
	w.b0 = resize(w.b0, h)
	w.wo = resize(w.wo, d*p.mult*ldh)
	if len(w.wh) != p.layers {
		w.wh = make([][]float64, p.layers)
	}
	for i, u := range p.order {
		row := w.w0[i*ld0 : (i+1)*ld0]
		var b float64
		if m.ctx != nil {
			copy(row[:e], m.ctx.W.Data[u*e:(u+1)*e])
			if m.ctx.B != nil {
				b += m.ctx.B.Data[u]
			}
		}
		if m.in != nil {
			wr, mr := m.in.W.Data[u*d:(u+1)*d], m.in.M.Data[u*d:(u+1)*d]
			for j := range d {
				row[e+1+j] = wr[j] * mr[j]
			}
			if m.in.B != nil {
				b += m.in.B.Data[u]
			}
		} else {
			clear(row[e+1:])
		}
		if m.bias != nil {
			b += m.bias.Data[u]
		}
		w.b0[i] = b
		row[e] = b
	}
	for l, lay := range m.hidden {
		w.wh[l] = resize(w.wh[l], h*ldh)
		for i, u := range p.order {
			row := w.wh[l][i*ldh : (i+1)*ldh]
			wr, mr := lay.W.Data[u*h:(u+1)*h], lay.M.Data[u*h:(u+1)*h]
			for j, v := range p.order {
				row[1+j] = wr[v] * mr[v]
			}
			row[0] = 0
			if lay.B != nil {
				row[0] = lay.B.Data[u]
			}
		}
	}
	for o := 0; o < d*p.mult; o++ {
		row := w.wo[o*ldh : (o+1)*ldh]
		wr, mr := m.out.W.Data[o*h:(o+1)*h], m.out.M.Data[o*h:(o+1)*h]
		for j, v := range p.order {
			row[1+j] = wr[v] * mr[v]
		}
		row[0] = 0
		if m.out.B != nil {
			row[0] = m.out.B.Data[o]
		}
	}
}

// setContext folds a broadcast (embedded) context ce into the first-layer
// bias column for the rest of the call; ce nil restores the plain bias.
func (p *arPlan) setContext(w *arWeights, ce []float64) {
	if p.e == 0 {
		return
	}
	ld0 := p.e + 1 + p.d
	for i, b := range w.b0 {
		row := w.w0[i*ld0 : (i+1)*ld0]
		if ce != nil {
			for c, v := range row[:p.e] {
				b += v * ce[c]
			}
		}
		row[p.e] = b
	}
}

// atLeast returns s if it has at least n elements, else a slice of n
// (reallocated only if the capacity is short).
func atLeast(s []float64, n int) []float64 {
	if len(s) >= n {
		return s
	}
	return resize(s, n)
}

// resize returns s with length n, reallocated only if its capacity is short.
func resize(s []float64, n int) []float64 {
	if cap(s) < n {
		return make([]float64, n)
	}
	return s[:n]
}

// product sets the m×r block c (row stride r) to a·b, a m×k with row stride
// lda, b k×r with row stride r: with the bias column of a and the ones row
// of b, a layer's pre-activations.
func product(c, a []float64, lda int, b []float64, m, r, k int) {
	gemm.DgemmSerial(false, false, m, r, k, 1, a, lda, b, r, 0, c, r)
}

// fill sets every element of s to v.
func fill(s []float64, v float64) {
	for i := range s {
		s[i] = v
	}
}

// arScratch is the per-goroutine scratch of the plans: the activations of
// every layer and the conditioner's outputs for one chunk.
type arScratch struct {
	hs   [][]float64 // layers+1 buffers of (1+h)×r: a row of ones, then the units
	out  []float64   // (d·mult)×r
	sc   []float64   // r: affine scales
	tmp  []float64   // spline parameters of one feature
	spl  []float64   // spline scratch
	prod []float64   // r: running products of the affine scales
	sum  []float64   // r: sums of the other log-determinant terms
}

// size makes s large enough for plan p and r rows (keeping what larger
// plans of the same flow need) and sets the ones rows of the layers.
func (s *arScratch) size(p *arPlan, r int) {
	for len(s.hs) < p.layers+1 {
		s.hs = append(s.hs, nil)
	}
	for l := 0; l <= p.layers; l++ {
		s.hs[l] = atLeast(s.hs[l], (1+p.h)*r)
		fill(s.hs[l][:r], 1)
	}
	s.out = atLeast(s.out, p.d*p.mult*r)
	s.sc = atLeast(s.sc, r)
	if p.spline != nil {
		s.tmp = atLeast(s.tmp, p.mult)
		s.spl = atLeast(s.spl, splineScratchLen(p.spline.k))
	}
}

// firstLayer returns how the first layer reads a chunk state st holding ec
// context rows, a row of ones, then the features: from weight column off,
// input rows from row 0 of in, kc rows before the features. With ctxRows
// the layer reads the e context rows of st (ec must be e); otherwise the
// context, if any, was folded into the bias by setContext.
func (p *arPlan) firstLayer(st []float64, ec int, ctxRows bool, r int) (off int, in []float64, kc int) {
	if ctxRows {
		return 0, st, p.e + 1
	}
	return p.e, st[ec*r:], 1
}

// forward applies the transform in place to the chunk st (ec context rows,
// ones, d feature rows, each r long; see firstLayer). The log-determinant
// is accumulated into s.prod (products of affine scales, as logProd) and
// s.sum (other terms).
func (p *arPlan) forward(w *arWeights, s *arScratch, st []float64, ec int, ctxRows bool, r int) {
	ld0, ldh := p.e+1+p.d, 1+p.h
	off, in, kc := p.firstLayer(st, ec, ctxRows, r)
	h0 := s.hs[0][r:]
	for _, q := range p.inPanels {
		product(h0[q.s*r:q.e*r], w.w0[q.s*ld0+off:], ld0, in, q.e-q.s, r, kc+q.k)
	}
	for l := 1; l <= p.layers; l++ {
		hl, prev := s.hs[l][r:], s.hs[l-1]
		for _, q := range p.hidPanels {
			blk := hl[q.s*r : q.e*r]
			product(blk, w.wh[l-1][q.s*ldh:], ldh, prev, q.e-q.s, r, 1+q.k)
			p.t.cfg.Activation.Eval(blk, blk)
		}
	}
	last := s.hs[p.layers]
	for _, q := range p.outPanels {
		product(s.out[q.s*r:q.e*r], w.wo[q.s*ldh:], ldh, last, q.e-q.s, r, 1+q.k)
	}
	x := st[(ec+1)*r : (ec+1+p.d)*r]
	if p.spline == nil {
		for j := 0; j < p.d; j++ {
			p.affineForward(s, x[j*r:(j+1)*r], s.out[2*j*r:(2*j+1)*r], s.out[(2*j+1)*r:(2*j+2)*r])
		}
		return
	}
	for j := 0; j < p.d; j++ {
		p.splineRow(s, x[j*r:(j+1)*r], s.out[j*p.mult*r:], r, false)
	}
}

// affineForward maps x to x·sc + t with sc = softplus(raw) + 1e-3 (as
// affineForwardRows) and multiplies the scales into s.prod.
func (p *arPlan) affineForward(s *arScratch, x, raw, t []float64) {
	sc := s.sc[:len(x)]
	vmath.Softplus(sc, raw[:len(x)])
	t = t[:len(x)]
	prod := s.prod[:len(x)]
	for i, v := range x {
		sv := sc[i] + affineMinScale
		x[i] = v*sv + t[i]
		q := prod[i] * sv
		if q > 1e150 || q < 1e-150 {
			s.sum[i] += math.Log(q)
			q = 1
		}
		prod[i] = q
	}
}

// affineInverse sets x to (y - t)/sc (as affineInverseRows).
func (p *arPlan) affineInverse(s *arScratch, x, y, raw, t []float64) {
	sc := s.sc[:len(x)]
	vmath.Softplus(sc, raw[:len(x)])
	y, t = y[:len(x)], t[:len(x)]
	for i := range x {
		x[i] = (y[i] - t[i]) / (sc[i] + affineMinScale)
	}
}

// splineRow applies the spline (or its inverse) of one feature to the r
// values of in, in place, with parameters the mult rows of par (row
// stride r); forward adds the log-derivatives to s.sum.
func (p *arPlan) splineRow(s *arScratch, in, par []float64, r int, inverse bool) {
	o := p.spline
	spl := rqSplineOn(s.spl, o.k, o.bound, o.scale)
	tmp := s.tmp[:p.mult]
	for i, v := range in[:r] {
		if !spl.inside(v) {
			continue // identity tails
		}
		for q := range tmp {
			tmp[q] = par[q*r+i]
		}
		spl.set(tmp)
		if inverse {
			in[i], _, _ = spl.inverse(v)
		} else {
			y, l, _ := spl.forward(v)
			in[i] = y
			s.sum[i] += l
		}
	}
}

// inverse computes the chunk's x from y feature by feature (see the file
// comment): src holds the chunk state of y, dst receives x in the same
// layout (its context and ones rows must already be set); ec and ctxRows
// as for forward.
func (p *arPlan) inverse(w *arWeights, s *arScratch, src, dst []float64, ec int, ctxRows bool, r int) {
	ld0, ldh := p.e+1+p.d, 1+p.h
	off, in, kc := p.firstLayer(dst, ec, ctxRows, r)
	mult := p.mult
	y, x := src[(ec+1)*r:(ec+1+p.d)*r], dst[(ec+1)*r:(ec+1+p.d)*r]
	last := s.hs[p.layers]
	for j := 0; j < p.d; j++ {
		if a, b := p.start[j], p.end[j]; b > a {
			product(s.hs[0][(1+a)*r:(1+b)*r], w.w0[a*ld0+off:], ld0, in, b-a, r, kc+j)
			for l := 1; l <= p.layers; l++ {
				blk := s.hs[l][(1+a)*r : (1+b)*r]
				product(blk, w.wh[l-1][a*ldh:], ldh, s.hs[l-1], b-a, r, 1+b)
				p.t.cfg.Activation.Eval(blk, blk)
			}
		}
		out := s.out[j*mult*r : (j+1)*mult*r]
		product(out, w.wo[j*mult*ldh:], ldh, last, mult, r, 1+p.end[j])
		xj, yj := x[j*r:(j+1)*r], y[j*r:(j+1)*r]
		if p.spline == nil {
			p.affineInverse(s, xj, yj, out[:r], out[r:2*r])
			continue
		}
		copy(xj, yj)
		p.splineRow(s, xj, out, r, true)
	}
}
