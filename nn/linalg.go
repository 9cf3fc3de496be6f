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
	// beta 0 overwrites a gradient buffer that holds no gradient yet.
	if ga, fresh := tp.gradOut(a); ga != nil {
		beta := betaOf(fresh)
		switch {
		case !transA && !transB: // dA (m×k) += G·Bᵀ
			gemm(false, true, m, k, nn, 1, g, b.Data, beta, ga)
		case !transA && transB: // dA (m×k) += G·B
			gemm(false, false, m, k, nn, 1, g, b.Data, beta, ga)
		case transA && !transB: // dA (k×m) += B·Gᵀ
			gemm(false, true, k, m, nn, 1, b.Data, g, beta, ga)
		default: // dA (k×m) += Bᵀ·Gᵀ
			gemm(true, true, k, m, nn, 1, b.Data, g, beta, ga)
		}
	}
	if gb, fresh := tp.gradOut(b); gb != nil {
		beta := betaOf(fresh)
		switch {
		case !transA && !transB: // dB (k×n) += Aᵀ·G
			gemm(true, false, k, nn, m, 1, a.Data, g, beta, gb)
		case !transA && transB: // dB (n×k) += Gᵀ·A
			gemm(true, false, nn, k, m, 1, g, a.Data, beta, gb)
		case transA && !transB: // dB (k×n) += A·G
			gemm(false, false, k, nn, m, 1, a.Data, g, beta, gb)
		default: // dB (n×k) += Gᵀ·Aᵀ
			gemm(true, true, nn, k, m, 1, g, a.Data, beta, gb)
		}
	}
}

// betaOf returns the GEMM beta that accumulates into a gradient buffer (1)
// or overwrites a fresh one (0).
func betaOf(fresh bool) float64 {
	if fresh {
		return 0
	}
	return 1
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
		fillRows(y.Data[:nr*out], b.Data[:out])
		beta = 1
	}
	gemm(false, true, nr, out, x.Cols, 1, x.Data, w.Data, beta, y.Data)
	if tp.rec(x, w) || tp.rec(b, nil) {
		tp.push(node{kind: opLinear, a: x, b: w, c: b, out: y})
	}
	return y
}

// fillRows sets every row of the row-major matrix dst (rows of len(row)
// values) to row, copying ever larger blocks of rows already set: a few
// long copies instead of one short copy per row.
func fillRows(dst, row []float64) {
	if len(dst) == 0 {
		return
	}
	done := copy(dst, row)
	for done < len(dst) {
		done += copy(dst[done:], dst[:done])
	}
}

func (tp *Tape) linearBackward(n *node) {
	x, w, b, y := n.a, n.b, n.c, n.out
	nr, out, in := y.Rows, y.Cols, x.Cols
	g := y.Grad
	if gx, fresh := tp.gradOut(x); gx != nil { // dX (N×in) += G·W
		gemm(false, false, nr, in, out, 1, g, w.Data, betaOf(fresh), gx)
	}
	if gw, fresh := tp.gradOut(w); gw != nil { // dW (out×in) += Gᵀ·X
		gemm(true, false, out, in, nr, 1, g, x.Data, betaOf(fresh), gw)
	}
	if gb, fresh := tp.gradOut(b); gb != nil { // db += column sums of G
		colSums(gb[:out], g[:nr*out], fresh)
	}
}

// colSums adds the column sums of the row-major len(g)/len(dst) × len(dst)
// matrix g to dst, or stores them if set. Four rows at a time, so that dst
// is loaded and stored once per four rows; the sums are formed in the same
// order whatever the caller, (r0+r1)+(r2+r3) added to the running total.
func colSums(dst, g []float64, set bool) {
	c := len(dst)
	if set {
		clear(dst)
	}
	if c == 0 {
		return
	}
	r := len(g) / c
	i := 0
	for ; i+4 <= r; i += 4 {
		r0 := g[i*c : (i+1)*c]
		r1 := g[(i+1)*c : (i+2)*c]
		r2 := g[(i+2)*c : (i+3)*c]
		r3 := g[(i+3)*c : (i+4)*c]
		r0, r1, r2, r3 = r0[:len(dst)], r1[:len(dst)], r2[:len(dst)], r3[:len(dst)]
		for j := range dst {
			dst[j] += (r0[j] + r1[j]) + (r2[j] + r3[j])
		}
	}
	for ; i < r; i++ {
		row := g[i*c : (i+1)*c]
		row = row[:len(dst)]
		for j, v := range row {
			dst[j] += v
		}
	}
}
