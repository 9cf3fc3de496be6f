package nn

import (
	"fmt"

	gemmk "github.com/gosbi/gosbi/internal/gemm"
)

// gemm computes c = alpha*op(a)*op(b) + beta*c for row-major a, b and c,
// where op(a) is m×k, op(b) is k×n and c is m×n; op transposes when the
// corresponding flag is set (a is then stored k×m, b n×k). Every matrix
// product of the package goes through this one function, so that a faster
// kernel can replace it in one place.
//
// Products go to internal/gemm: register-blocked assembly micro-kernels
// (AVX-512 or AVX2+FMA, chosen at run time; pure Go elsewhere) that read
// the operands in place where they can, 5–10 times faster than gonum's
// pure-Go Dgemm on the shapes of small networks. It also replaced the
// unrolled a·bᵀ loop this function used for k <= 4, being 2–5 times faster
// there too. Products of more than about two million flops use both cores;
// results do not depend on the number of goroutines.
func gemm(transA, transB bool, m, n, k int, alpha float64, a []float64, b []float64, beta float64, c []float64) {
	lda, ldb := k, n
	if transA {
		lda = m
	}
	if transB {
		ldb = k
	}
	// Strides of empty matrices are irrelevant but must be positive.
	gemmk.Dgemm(transA, transB, m, n, k, alpha, a, max(lda, 1), b, max(ldb, 1), beta, c, max(n, 1))
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
