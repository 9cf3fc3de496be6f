package nn

import (
	"fmt"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
)

// gemm computes c = alpha*op(a)*op(b) + beta*c for row-major a, b and c,
// where op(a) is m×k, op(b) is k×n and c is m×n; op transposes when the
// corresponding flag is set (a is then stored k×m, b n×k). Every matrix
// product of the package goes through this one function, so that a faster
// kernel can replace it in one place.
//
// Products go to blas64.Gemm, except a·bᵀ with an inner dimension k <= 4
// (the input layer of a network on low-dimensional data, such as a flow on
// 2-D parameters): gonum computes each of its m·n entries with a separate
// dot-product call, which on such short vectors runs at under 1 GFLOP/s, so
// an unrolled loop (gemmNTSmallK) is 3–4 times faster there.
func gemm(transA, transB bool, m, n, k int, alpha float64, a []float64, b []float64, beta float64, c []float64) {
	if m == 0 || n == 0 {
		return
	}
	if !transA && transB && k > 0 && k <= 4 {
		gemmNTSmallK(m, n, k, alpha, a, b, beta, c)
		return
	}
	ta, tb := blas.NoTrans, blas.NoTrans
	ga := blas64.General{Rows: m, Cols: k, Stride: k, Data: a}
	if transA {
		ta = blas.Trans
		ga = blas64.General{Rows: k, Cols: m, Stride: m, Data: a}
	}
	gb := blas64.General{Rows: k, Cols: n, Stride: n, Data: b}
	if transB {
		tb = blas.Trans
		gb = blas64.General{Rows: n, Cols: k, Stride: k, Data: b}
	}
	if k == 0 {
		// blas64 rejects zero strides; the product is empty.
		if beta == 0 {
			clear(c[:m*n])
		} else if beta != 1 {
			for i := range c[:m*n] {
				c[i] *= beta
			}
		}
		return
	}
	blas64.Gemm(ta, tb, alpha, ga, gb, beta, blas64.General{Rows: m, Cols: n, Stride: n, Data: c})
}

// gemmNTSmallK computes c = alpha*a*bᵀ + beta*c for a m×k, b n×k and
// 1 <= k <= 4, all row-major.
func gemmNTSmallK(m, n, k int, alpha float64, a, b []float64, beta float64, c []float64) {
	c = c[:m*n]
	if beta == 0 {
		clear(c)
	} else if beta != 1 {
		for i := range c {
			c[i] *= beta
		}
	}
	a, b = a[:m*k], b[:n*k]
	for i := 0; i < m; i++ {
		ci := c[i*n : i*n+n]
		ai := a[i*k : i*k+k]
		switch k {
		case 1:
			a0 := alpha * ai[0]
			bb := b[:len(ci)]
			for j, v := range bb {
				ci[j] += a0 * v
			}
		case 2:
			a0, a1 := alpha*ai[0], alpha*ai[1]
			bb := b[:2*len(ci)]
			for j := range ci {
				ci[j] += a0*bb[2*j] + a1*bb[2*j+1]
			}
		case 3:
			a0, a1, a2 := alpha*ai[0], alpha*ai[1], alpha*ai[2]
			bb := b[:3*len(ci)]
			for j := range ci {
				ci[j] += a0*bb[3*j] + a1*bb[3*j+1] + a2*bb[3*j+2]
			}
		case 4:
			a0, a1, a2, a3 := alpha*ai[0], alpha*ai[1], alpha*ai[2], alpha*ai[3]
			bb := b[:4*len(ci)]
			for j := range ci {
				ci[j] += a0*bb[4*j] + a1*bb[4*j+1] + a2*bb[4*j+2] + a3*bb[4*j+3]
			}
		}
	}
}

// MatMul returns the matrix product a·b (a is m×k, b is k×n, the result
// m×n). It panics if the inner dimensions differ.
func (tp *Tape) MatMul(a, b *Tensor) *Tensor { return tp.MatMulT(a, b, false, false) }

// MatMulT returns op(a)·op(b), where op transposes its operand when the
// corresponding flag is set: MatMulT(a, b, false, true) is a·bᵀ. Transposes
// are handled by the GEMM kernel without copies. It panics if the inner
// dimensions differ.
func (tp *Tape) MatMulT(a, b *Tensor, transA, transB bool) *Tensor {
	m, k := a.Rows, a.Cols
	if transA {
		m, k = k, m
	}
	kb, n := b.Rows, b.Cols
	if transB {
		kb, n = n, kb
	}
	if k != kb {
		panic(fmt.Sprintf("nn: MatMul: inner dimensions differ: op(a) is %d×%d, op(b) is %d×%d", m, k, kb, n))
	}
	out := tp.alloc(m, n)
	gemm(transA, transB, m, n, k, 1, a.Data, b.Data, 0, out.Data)
	if tp.rec(a, b) {
		var flags int
		if transA {
			flags |= 1
		}
		if transB {
			flags |= 2
		}
		tp.push(node{kind: opMatMul, a: a, b: b, out: out, i: flags})
	}
	return out
}

func (tp *Tape) matMulBackward(n *node) {
	a, b, out := n.a, n.b, n.out
	transA, transB := n.i&1 != 0, n.i&2 != 0
	m, nn := out.Rows, out.Cols
	k := a.Cols
	if transA {
		k = a.Rows
	}
	g := out.Grad
	if ga := tp.grad(a); ga != nil {
		switch {
		case !transA && !transB: // dA (m×k) += G·Bᵀ
			gemm(false, true, m, k, nn, 1, g, b.Data, 1, ga)
		case !transA && transB: // dA (m×k) += G·B
			gemm(false, false, m, k, nn, 1, g, b.Data, 1, ga)
		case transA && !transB: // dA (k×m) += B·Gᵀ
			gemm(false, true, k, m, nn, 1, b.Data, g, 1, ga)
		default: // dA (k×m) += Bᵀ·Gᵀ
			gemm(true, true, k, m, nn, 1, b.Data, g, 1, ga)
		}
	}
	if gb := tp.grad(b); gb != nil {
		switch {
		case !transA && !transB: // dB (k×n) += Aᵀ·G
			gemm(true, false, k, nn, m, 1, a.Data, g, 1, gb)
		case !transA && transB: // dB (n×k) += Gᵀ·A
			gemm(true, false, nn, k, m, 1, g, a.Data, 1, gb)
		case transA && !transB: // dB (k×n) += A·G
			gemm(false, false, k, nn, m, 1, a.Data, g, 1, gb)
		default: // dB (n×k) += Gᵀ·Aᵀ
			gemm(true, true, nn, k, m, 1, g, a.Data, 1, gb)
		}
	}
}

// Linear returns the affine map x·wᵀ + b, with x N×in, w out×in (the
// PyTorch layout) and b 1×out or nil; the result is N×out. It is one fused
// op: the bias is added by the GEMM itself. It panics on shape mismatch.
func (tp *Tape) Linear(x, w, b *Tensor) *Tensor {
	if x.Cols != w.Cols {
		panic(fmt.Sprintf("nn: Linear: x is %d×%d but w is %d×%d (want w out×%d)", x.Rows, x.Cols, w.Rows, w.Cols, x.Cols))
	}
	if b != nil && (b.Rows != 1 || b.Cols != w.Rows) {
		panic(fmt.Sprintf("nn: Linear: bias is %d×%d, want 1×%d", b.Rows, b.Cols, w.Rows))
	}
	nr, out := x.Rows, w.Rows
	y := tp.alloc(nr, out)
	beta := 0.0
	if b != nil {
		bd := b.Data[:out]
		for i := 0; i < nr; i++ {
			copy(y.Data[i*out:(i+1)*out], bd)
		}
		beta = 1
	}
	gemm(false, true, nr, out, x.Cols, 1, x.Data, w.Data, beta, y.Data)
	if tp.rec(x, w) || tp.rec(b, nil) {
		tp.push(node{kind: opLinear, a: x, b: w, c: b, out: y})
	}
	return y
}

func (tp *Tape) linearBackward(n *node) {
	x, w, b, y := n.a, n.b, n.c, n.out
	nr, out, in := y.Rows, y.Cols, x.Cols
	g := y.Grad
	if gx := tp.grad(x); gx != nil { // dX (N×in) += G·W
		gemm(false, false, nr, in, out, 1, g, w.Data, 1, gx)
	}
	if gw := tp.grad(w); gw != nil { // dW (out×in) += Gᵀ·X
		gemm(true, false, out, in, nr, 1, g, x.Data, 1, gw)
	}
	if gb := tp.grad(b); gb != nil { // db += column sums of G
		gb = gb[:out]
		for i := 0; i < nr; i++ {
			row := g[i*out : (i+1)*out]
			for j, v := range row {
				gb[j] += v
			}
		}
	}
}
