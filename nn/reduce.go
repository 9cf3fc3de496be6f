package nn

import "math"

// Sum returns the sum of all elements of a as a 1×1 tensor.
func (tp *Tape) Sum(a *Tensor) *Tensor { return tp.reduce(opSum, a) }

// Mean returns the mean of all elements of a as a 1×1 tensor (NaN for an
// empty tensor).
func (tp *Tape) Mean(a *Tensor) *Tensor { return tp.reduce(opMean, a) }

// RowSum returns the N×1 tensor of the sums of each row of a (N×D).
func (tp *Tape) RowSum(a *Tensor) *Tensor { return tp.reduce(opRowSum, a) }

// RowMean returns the N×1 tensor of the means of each row of a (N×D).
func (tp *Tape) RowMean(a *Tensor) *Tensor { return tp.reduce(opRowMean, a) }

// ColSum returns the 1×D tensor of the sums of each column of a (N×D).
func (tp *Tape) ColSum(a *Tensor) *Tensor { return tp.reduce(opColSum, a) }

// ColMean returns the 1×D tensor of the means of each column of a (N×D).
func (tp *Tape) ColMean(a *Tensor) *Tensor { return tp.reduce(opColMean, a) }

// RowLogSumExp returns the N×1 tensor log Σ_j exp(a_ij), computed stably by
// subtracting each row's maximum. A row of all -Inf gives -Inf.
func (tp *Tape) RowLogSumExp(a *Tensor) *Tensor { return tp.reduce(opRowLogSumExp, a) }

func (tp *Tape) reduce(kind opKind, a *Tensor) *Tensor {
	r, c := a.Rows, a.Cols
	var out *Tensor
	switch kind {
	case opSum, opMean:
		out = tp.alloc(1, 1)
		s := 0.0
		for _, v := range a.Data {
			s += v
		}
		if kind == opMean {
			s /= float64(len(a.Data))
		}
		out.Data[0] = s
	case opRowSum, opRowMean:
		out = tp.alloc(r, 1)
		for i := 0; i < r; i++ {
			s := 0.0
			for _, v := range a.Data[i*c : (i+1)*c] {
				s += v
			}
			if kind == opRowMean {
				s /= float64(c)
			}
			out.Data[i] = s
		}
	case opColSum, opColMean:
		out = tp.alloc(1, c)
		o := out.Data
		clear(o)
		for i := 0; i < r; i++ {
			row := a.Data[i*c : (i+1)*c]
			o = o[:len(row)]
			for j, v := range row {
				o[j] += v
			}
		}
		if kind == opColMean {
			inv := 1 / float64(r)
			for j := range out.Data {
				out.Data[j] *= inv
			}
		}
	case opRowLogSumExp:
		out = tp.alloc(r, 1)
		for i := 0; i < r; i++ {
			out.Data[i] = logSumExp(a.Data[i*c : (i+1)*c])
		}
	}
	if tp.rec(a, nil) {
		tp.push(node{kind: kind, a: a, out: out})
	}
	return out
}

func logSumExp(x []float64) float64 {
	m := math.Inf(-1)
	for _, v := range x {
		m = max(m, v)
	}
	if math.IsInf(m, 0) {
		return m // all -Inf, or some +Inf
	}
	s := 0.0
	for _, v := range x {
		s += math.Exp(v - m)
	}
	return m + math.Log(s)
}

func (tp *Tape) reduceBackward(n *node) {
	ga := tp.grad(n.a)
	if ga == nil {
		return
	}
	a, g := n.a, n.out.Grad
	r, c := a.Rows, a.Cols
	switch n.kind {
	case opSum, opMean:
		v := g[0]
		if n.kind == opMean {
			v /= float64(len(ga))
		}
		for i := range ga {
			ga[i] += v
		}
	case opRowSum, opRowMean:
		for i := 0; i < r; i++ {
			v := g[i]
			if n.kind == opRowMean {
				v /= float64(c)
			}
			row := ga[i*c : (i+1)*c]
			for j := range row {
				row[j] += v
			}
		}
	case opColSum, opColMean:
		scale := 1.0
		if n.kind == opColMean {
			scale = 1 / float64(r)
		}
		for i := 0; i < r; i++ {
			row := ga[i*c : (i+1)*c]
			gg := g[:len(row)]
			for j := range row {
				row[j] += scale * gg[j]
			}
		}
	case opRowLogSumExp:
		y := n.out.Data
		for i := 0; i < r; i++ {
			if g[i] == 0 {
				continue
			}
			row := ga[i*c : (i+1)*c]
			x := a.Data[i*c : (i+1)*c]
			x = x[:len(row)]
			gi, yi := g[i], y[i]
			for j := range row {
				row[j] += gi * math.Exp(x[j]-yi)
			}
		}
	}
}
