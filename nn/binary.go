package nn

import "fmt"

// Binary elementwise ops broadcast like NumPy restricted to rank 2: each
// dimension of an operand either equals the result's or is 1. So an N×D
// tensor combines with another N×D, a 1×D row (broadcast down the rows), an
// N×1 column (broadcast across the columns) or a 1×1 scalar, in either
// order.

// Add returns a + b with broadcasting. It panics if the shapes are not
// compatible.
func (tp *Tape) Add(a, b *Tensor) *Tensor { return tp.binary(opAdd, a, b) }

// Sub returns a - b with broadcasting. It panics if the shapes are not
// compatible.
func (tp *Tape) Sub(a, b *Tensor) *Tensor { return tp.binary(opSub, a, b) }

// Mul returns the elementwise product a ∘ b with broadcasting. It panics if
// the shapes are not compatible.
func (tp *Tape) Mul(a, b *Tensor) *Tensor { return tp.binary(opMul, a, b) }

// Div returns the elementwise quotient a / b with broadcasting. It panics
// if the shapes are not compatible.
func (tp *Tape) Div(a, b *Tensor) *Tensor { return tp.binary(opDiv, a, b) }

var binaryNames = [...]string{opAdd: "Add", opSub: "Sub", opMul: "Mul", opDiv: "Div"}

// bcast describes how an operand of shape r×c maps onto the result: the
// offset of element (i, j) is i*rs + j*cs.
type bcast struct{ rs, cs int }

func broadcastShape(name string, a, b *Tensor) (r, c int, sa, sb bcast) {
	r, c = bdim(a.Rows, b.Rows), bdim(a.Cols, b.Cols)
	if (a.Rows != r && a.Rows != 1) || (b.Rows != r && b.Rows != 1) ||
		(a.Cols != c && a.Cols != 1) || (b.Cols != c && b.Cols != 1) {
		panic(fmt.Sprintf("nn: %s: shapes %d×%d and %d×%d do not broadcast", name, a.Rows, a.Cols, b.Rows, b.Cols))
	}
	return r, c, strides(a, r, c), strides(b, r, c)
}

// bdim returns the broadcast size of two dimensions (validated by the
// caller): the other one where one of them is 1, so 0 and 1 give 0.
func bdim(x, y int) int {
	if x == 1 {
		return y
	}
	return x
}

func strides(t *Tensor, r, c int) bcast {
	var s bcast
	if t.Cols == c && c > 1 {
		s.cs = 1
	}
	if t.Rows == r && r > 1 {
		s.rs = t.Cols
	}
	return s
}

func (tp *Tape) binary(kind opKind, a, b *Tensor) *Tensor {
	var out *Tensor
	if sameShape(a, b) {
		out = tp.alloc(a.Rows, a.Cols)
		binarySame(kind, out.Data, a.Data, b.Data)
	} else {
		r, c, sa, sb := broadcastShape(binaryNames[kind], a, b)
		out = tp.alloc(r, c)
		for i := 0; i < r; i++ {
			binaryRow(kind, out.Data[i*c:(i+1)*c], a.Data[i*sa.rs:], sa.cs, b.Data[i*sb.rs:], sb.cs)
		}
	}
	if tp.rec(a, b) {
		tp.push(node{kind: kind, a: a, b: b, out: out})
	}
	return out
}

func binarySame(kind opKind, dst, a, b []float64) {
	a = a[:len(dst)]
	b = b[:len(dst)]
	switch kind {
	case opAdd:
		for i := range dst {
			dst[i] = a[i] + b[i]
		}
	case opSub:
		for i := range dst {
			dst[i] = a[i] - b[i]
		}
	case opMul:
		for i := range dst {
			dst[i] = a[i] * b[i]
		}
	case opDiv:
		for i := range dst {
			dst[i] = a[i] / b[i]
		}
	}
}

// binaryRow computes one row of a broadcast op. acs and bcs are 0 (the
// operand's row is a single value) or 1.
func binaryRow(kind opKind, dst, a []float64, acs int, b []float64, bcs int) {
	switch {
	case acs == 1 && bcs == 1:
		binarySame(kind, dst, a, b)
	case acs == 1:
		a = a[:len(dst)]
		v := b[0]
		switch kind {
		case opAdd:
			for i := range dst {
				dst[i] = a[i] + v
			}
		case opSub:
			for i := range dst {
				dst[i] = a[i] - v
			}
		case opMul:
			for i := range dst {
				dst[i] = a[i] * v
			}
		case opDiv:
			for i := range dst {
				dst[i] = a[i] / v
			}
		}
	case bcs == 1:
		b = b[:len(dst)]
		u := a[0]
		switch kind {
		case opAdd:
			for i := range dst {
				dst[i] = u + b[i]
			}
		case opSub:
			for i := range dst {
				dst[i] = u - b[i]
			}
		case opMul:
			for i := range dst {
				dst[i] = u * b[i]
			}
		case opDiv:
			for i := range dst {
				dst[i] = u / b[i]
			}
		}
	default:
		var v float64
		switch kind {
		case opAdd:
			v = a[0] + b[0]
		case opSub:
			v = a[0] - b[0]
		case opMul:
			v = a[0] * b[0]
		case opDiv:
			v = a[0] / b[0]
		}
		for i := range dst {
			dst[i] = v
		}
	}
}

func (tp *Tape) binaryBackward(n *node) {
	a, b, out := n.a, n.b, n.out
	g := out.Grad
	if sameShape(a, b) {
		// One operand after the other: if a and b are the same tensor, the
		// second sees the buffer written by the first (not fresh).
		if ga, fresh := tp.gradOut(a); ga != nil {
			binarySameBackwardA(n.kind, ga, g, b.Data, fresh)
		}
		if gb, fresh := tp.gradOut(b); gb != nil {
			binarySameBackwardB(n.kind, gb, g, out.Data, a.Data, b.Data, fresh)
		}
		return
	}
	ga, gb := tp.grad(a), tp.grad(b)
	r, c := out.Rows, out.Cols
	sa, sb := strides(a, r, c), strides(b, r, c)
	// General strided loop; broadcasting ops are rarer and cheap (bias-like).
	for i := 0; i < r; i++ {
		for j := 0; j < c; j++ {
			gv := g[i*c+j]
			ia, ib := i*sa.rs+j*sa.cs, i*sb.rs+j*sb.cs
			switch n.kind {
			case opAdd:
				if ga != nil {
					ga[ia] += gv
				}
				if gb != nil {
					gb[ib] += gv
				}
			case opSub:
				if ga != nil {
					ga[ia] += gv
				}
				if gb != nil {
					gb[ib] -= gv
				}
			case opMul:
				if ga != nil {
					ga[ia] += gv * b.Data[ib]
				}
				if gb != nil {
					gb[ib] += gv * a.Data[ia]
				}
			case opDiv:
				bv := b.Data[ib]
				if ga != nil {
					ga[ia] += gv / bv
				}
				if gb != nil {
					gb[ib] -= gv * out.Data[i*c+j] / bv
				}
			}
		}
	}
}

// binarySameBackwardA propagates g to the first operand's gradient ga (set
// when it is fresh, accumulated otherwise) for same-shape operands.
func binarySameBackwardA(kind opKind, ga, g, b []float64, set bool) {
	n := len(g)
	ga, b = ga[:n], b[:n]
	switch {
	case (kind == opAdd || kind == opSub) && set:
		copy(ga, g)
	case kind == opAdd || kind == opSub:
		for i, v := range g {
			ga[i] += v
		}
	case kind == opMul && set:
		for i, v := range g {
			ga[i] = v * b[i]
		}
	case kind == opMul:
		for i, v := range g {
			ga[i] += v * b[i]
		}
	case kind == opDiv && set:
		for i, v := range g {
			ga[i] = v / b[i]
		}
	case kind == opDiv:
		for i, v := range g {
			ga[i] += v / b[i]
		}
	}
}

// binarySameBackwardB propagates g to the second operand's gradient gb (set
// when it is fresh, accumulated otherwise); y is the op's output.
func binarySameBackwardB(kind opKind, gb, g, y, a, b []float64, set bool) {
	n := len(g)
	gb, y, a, b = gb[:n], y[:n], a[:n], b[:n]
	switch {
	case kind == opAdd && set:
		copy(gb, g)
	case kind == opAdd:
		for i, v := range g {
			gb[i] += v
		}
	case kind == opSub && set:
		for i, v := range g {
			gb[i] = -v
		}
	case kind == opSub:
		for i, v := range g {
			gb[i] -= v
		}
	case kind == opMul && set:
		for i, v := range g {
			gb[i] = v * a[i]
		}
	case kind == opMul:
		for i, v := range g {
			gb[i] += v * a[i]
		}
	case kind == opDiv && set:
		for i, v := range g {
			gb[i] = -(v * y[i] / b[i])
		}
	case kind == opDiv:
		for i, v := range g {
			gb[i] -= v * y[i] / b[i]
		}
	}
}
