package nn

import "fmt"

// SliceCols returns the columns [from, to) of a as a new N×(to-from)
// tensor. It panics if the range is invalid.
func (tp *Tape) SliceCols(a *Tensor, from, to int) *Tensor {
	if from < 0 || to > a.Cols || from > to {
		panic(fmt.Sprintf("nn: SliceCols: range [%d,%d) invalid for %d columns", from, to, a.Cols))
	}
	r, c, w := a.Rows, a.Cols, to-from
	out := tp.alloc(r, w)
	for i := 0; i < r; i++ {
		copy(out.Data[i*w:(i+1)*w], a.Data[i*c+from:i*c+to])
	}
	if tp.rec(a, nil) {
		tp.push(node{kind: opSliceCols, a: a, out: out, i: from})
	}
	return out
}

func (tp *Tape) sliceColsBackward(n *node) {
	ga := tp.grad(n.a)
	if ga == nil {
		return
	}
	r, c, w, from := n.a.Rows, n.a.Cols, n.out.Cols, n.i
	g := n.out.Grad
	for i := 0; i < r; i++ {
		dst := ga[i*c+from : i*c+from+w]
		src := g[i*w : (i+1)*w]
		src = src[:len(dst)]
		for j, v := range src {
			dst[j] += v
		}
	}
}

// ConcatCols returns the tensors side by side (horizontal concatenation):
// all must have the same number of rows N; the result is N×ΣD. It panics
// if ts is empty or the row counts differ.
func (tp *Tape) ConcatCols(ts ...*Tensor) *Tensor {
	if len(ts) == 0 {
		panic("nn: ConcatCols: no tensors")
	}
	r, c := ts[0].Rows, 0
	for _, t := range ts {
		if t.Rows != r {
			panic(fmt.Sprintf("nn: ConcatCols: row counts differ: %d and %d", r, t.Rows))
		}
		c += t.Cols
	}
	out := tp.alloc(r, c)
	off := 0
	for _, t := range ts {
		w := t.Cols
		for i := 0; i < r; i++ {
			copy(out.Data[i*c+off:i*c+off+w], t.Data[i*w:(i+1)*w])
		}
		off += w
	}
	if tp.Recording(ts...) {
		start := len(tp.ptrs)
		for _, t := range ts {
			tp.ptrs = append(tp.ptrs, t)
			tp.flags = append(tp.flags, false)
			tp.leafGrad(t)
		}
		tp.push(node{kind: opConcatCols, out: out, i: start, j: len(ts)})
	}
	return out
}

func (tp *Tape) concatColsBackward(n *node) {
	g, c := n.out.Grad, n.out.Cols
	off := 0
	for _, t := range tp.ptrs[n.i : n.i+n.j] {
		w := t.Cols
		if gt := tp.grad(t); gt != nil {
			for i := 0; i < t.Rows; i++ {
				dst := gt[i*w : (i+1)*w]
				src := g[i*c+off : i*c+off+w]
				src = src[:len(dst)]
				for j, v := range src {
					dst[j] += v
				}
			}
		}
		off += w
	}
}

// GatherRows returns the tensor whose row r is row idx[r] of a
// (len(idx)×D); indices may repeat (gradients then add up). Use it for
// minibatches and contrastive atoms. idx is copied. It panics if an index
// is out of range.
func (tp *Tape) GatherRows(a *Tensor, idx []int) *Tensor {
	c := a.Cols
	out := tp.alloc(len(idx), c)
	for r, k := range idx {
		if k < 0 || k >= a.Rows {
			panic(fmt.Sprintf("nn: GatherRows: index %d out of range [0,%d)", k, a.Rows))
		}
		copy(out.Data[r*c:(r+1)*c], a.Data[k*c:(k+1)*c])
	}
	if tp.rec(a, nil) {
		start := len(tp.ints)
		tp.ints = append(tp.ints, idx...)
		tp.push(node{kind: opGatherRows, a: a, out: out, i: start, j: len(idx)})
	}
	return out
}

func (tp *Tape) gatherRowsBackward(n *node) {
	ga := tp.grad(n.a)
	if ga == nil {
		return
	}
	c, g := n.a.Cols, n.out.Grad
	for r, k := range tp.ints[n.i : n.i+n.j] {
		dst := ga[k*c : (k+1)*c]
		src := g[r*c : (r+1)*c]
		src = src[:len(dst)]
		for j, v := range src {
			dst[j] += v
		}
	}
}

// GatherCols returns the tensor whose column j is column idx[j] of a
// (N×len(idx)); use it for feature permutations. Indices may repeat. idx is
// copied. It panics if an index is out of range.
func (tp *Tape) GatherCols(a *Tensor, idx []int) *Tensor {
	r, c, w := a.Rows, a.Cols, len(idx)
	for _, k := range idx {
		if k < 0 || k >= c {
			panic(fmt.Sprintf("nn: GatherCols: index %d out of range [0,%d)", k, c))
		}
	}
	out := tp.alloc(r, w)
	for i := 0; i < r; i++ {
		src := a.Data[i*c : (i+1)*c]
		dst := out.Data[i*w : (i+1)*w]
		for j, k := range idx {
			dst[j] = src[k]
		}
	}
	if tp.rec(a, nil) {
		start := len(tp.ints)
		tp.ints = append(tp.ints, idx...)
		tp.push(node{kind: opGatherCols, a: a, out: out, i: start, j: w})
	}
	return out
}

func (tp *Tape) gatherColsBackward(n *node) {
	ga := tp.grad(n.a)
	if ga == nil {
		return
	}
	r, c, w, g := n.a.Rows, n.a.Cols, n.out.Cols, n.out.Grad
	idx := tp.ints[n.i : n.i+n.j]
	for i := 0; i < r; i++ {
		dst := ga[i*c : (i+1)*c]
		src := g[i*w : (i+1)*w]
		src = src[:len(idx)]
		for j, k := range idx {
			dst[k] += src[j]
		}
	}
}

// Mask returns a ∘ m, where m is a fixed tensor (typically of 0s and 1s)
// of a's shape or a 1×D row broadcast down a's rows. m is a constant: no
// gradient flows to it even if it is tracked. MaskedLinear uses Mask on its
// weight. It panics on shape mismatch.
func (tp *Tape) Mask(a, m *Tensor) *Tensor {
	r, c := a.Rows, a.Cols
	if m.Cols != c || (m.Rows != r && m.Rows != 1) {
		panic(fmt.Sprintf("nn: Mask: mask %d×%d does not fit %d×%d", m.Rows, m.Cols, r, c))
	}
	out := tp.alloc(r, c)
	if m.Rows == r {
		binarySame(opMul, out.Data, a.Data, m.Data)
	} else {
		for i := 0; i < r; i++ {
			binarySame(opMul, out.Data[i*c:(i+1)*c], a.Data[i*c:(i+1)*c], m.Data)
		}
	}
	if tp.rec(a, nil) {
		tp.push(node{kind: opMask, a: a, b: m, out: out})
	}
	return out
}

func (tp *Tape) maskBackward(n *node) {
	ga := tp.grad(n.a)
	if ga == nil {
		return
	}
	g, m := n.out.Grad, n.b.Data
	c := n.a.Cols
	if n.b.Rows == n.a.Rows {
		m = m[:len(g)]
		ga = ga[:len(g)]
		for i, v := range g {
			ga[i] += v * m[i]
		}
		return
	}
	for i := 0; i < n.a.Rows; i++ {
		row := ga[i*c : (i+1)*c]
		gg := g[i*c : (i+1)*c]
		gg = gg[:len(row)]
		mm := m[:len(row)]
		for j, v := range gg {
			row[j] += v * mm[j]
		}
	}
}

// MSE returns the mean squared error mean((pred - target)²) over all
// elements as a 1×1 tensor, in one fused op. Gradients flow to both
// operands if tracked. It panics if the shapes differ.
func (tp *Tape) MSE(pred, target *Tensor) *Tensor {
	if !sameShape(pred, target) {
		shapePanic("MSE", pred, target)
	}
	out := tp.alloc(1, 1)
	p, t := pred.Data, target.Data[:len(pred.Data)]
	s := 0.0
	for i, v := range p {
		d := v - t[i]
		s += d * d
	}
	out.Data[0] = s / float64(len(p))
	if tp.rec(pred, target) {
		tp.push(node{kind: opMSE, a: pred, b: target, out: out})
	}
	return out
}

func (tp *Tape) mseBackward(n *node) {
	p, t := n.a.Data, n.b.Data[:len(n.a.Data)]
	k := 2 * n.out.Grad[0] / float64(len(p))
	if gp := tp.grad(n.a); gp != nil {
		gp = gp[:len(p)]
		for i, v := range p {
			gp[i] += k * (v - t[i])
		}
	}
	if gt := tp.grad(n.b); gt != nil {
		gt = gt[:len(p)]
		for i, v := range p {
			gt[i] -= k * (v - t[i])
		}
	}
}
