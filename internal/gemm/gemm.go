package gemm

import (
	"fmt"
	"sync/atomic"
)

// kernFunc is the signature of the assembly micro-kernels (see asm_gen.go):
// it computes one mr×nr tile C = alpha·A·B + beta·C over k steps, with
// B(p, j) at b[p*sb+j] and A(i, p) at a[p*sa+i] (mode P) or a[i*sa+p]
// (mode R), and stores its top-left h×w part (the driver always passes
// h = mr). A must hold all mr rows of the tile and B all nr columns, or
// only w where the implementation has maskB; w must exceed nr minus one
// vector.
type kernFunc func(k int, a *float64, sa int, b *float64, sb int, c *float64, ldc int, alpha, beta float64, h, w int)

// impl is one implementation of the micro-kernel with its blocking
// parameters. Panels of op(B) are nr columns wide, except that a last
// panel of at most half columns uses the narrower kernels (half == 0: none).
type impl struct {
	name     string
	mr, nr   int
	half     int
	mc       int         // rows of A per cache block (a multiple of mr)
	kc       int         // depth of a cache block
	nc       int         // columns of B per cache block (a multiple of nr)
	wide     [2]kernFunc // modes P, R for panels nr wide; nil: the pure-Go kernel
	narrow   [2]kernFunc // modes P, R for panels half wide
	short    []shortKern // kernels of fewer rows, by decreasing mr, down to 1
	maskB    bool        // kernels load B under the column mask: partial panels are read in place
	parFlops int         // products of at least this many flops run on several goroutines
}

// shortKern holds the kernels for tiles of mr rows, fewer than the
// implementation's. The rows left over by full tiles are covered by short
// kernels of decreasing sizes (8+4+1 for 13 rows), each reading exactly its
// rows in place: packing them would cost more than the product.
type shortKern struct {
	mr           int
	wide, narrow [2]kernFunc // modes P, R
}

const (
	modeP = 0
	modeR = 1
)

// generic is the portable implementation: a 4×4 register block in Go.
var generic = &impl{name: "generic", mr: 4, nr: 4, mc: 128, kc: 256, nc: 512, parFlops: 1 << 21}

// impls lists the implementations usable on this machine, best first; the
// first one is the default. Assembly implementations are prepended by
// kernel_amd64.go.
var impls = []*impl{generic}

// active is the implementation Dgemm uses.
var active atomic.Pointer[impl]

func init() { active.Store(impls[0]) }

// Implementations returns the names of the kernel implementations usable on
// this machine, best (the default) first: "avx512", "avx2" and "generic"
// (pure Go) on amd64, "generic" elsewhere.
func Implementations() []string {
	names := make([]string, len(impls))
	for i, im := range impls {
		names[i] = im.name
	}
	return names
}

// Implementation returns the name of the implementation in use.
func Implementation() string { return active.Load().name }

// SetImplementation selects the kernel implementation by name (one of
// Implementations) and returns the previous one. It exists for tests and
// benchmarks; it is safe to call concurrently with Dgemm, whose calls then
// use either implementation. It panics on an unknown name.
func SetImplementation(name string) (previous string) {
	for _, im := range impls {
		if im.name == name {
			return active.Swap(im).name
		}
	}
	panic(fmt.Sprintf("gemm: unknown or unsupported implementation %q", name))
}

// problem holds the operands of one call.
type problem struct {
	transA, transB bool
	m, n, k        int
	alpha, beta    float64
	a              []float64
	lda            int
	b              []float64
	ldb            int
	c              []float64
	ldc            int
	packA, packB   bool // pack every tile of A, every panel of B
}

// Dgemm computes c = alpha·op(a)·op(b) + beta·c for row-major matrices,
// where op(a) is m×k, op(b) is k×n and c is m×n. When transA is false a is
// stored m×k with row stride lda (element (i, p) at a[i*lda+p]); when it is
// true a is stored k×m (element (i, p) of op(a) at a[p*lda+i]); likewise b is
// k×n, or n×k when transB, with row stride ldb; c has row stride ldc.
//
// As in the reference BLAS, c is not read when beta is zero and a and b are
// not read when alpha is zero or k is zero, so NaNs there do not propagate.
// Every element of c is computed by the same sequence of floating-point
// operations whatever its position and however the work is split between
// goroutines: a chain of fused multiply-adds over p in increasing order
// within blocks of the implementation's depth kc (256), each block added as
// c = fma(beta, c, alpha·Σ). Large products run on several goroutines
// (splitting rows or columns, never k), so the result does not depend on
// GOMAXPROCS. Dgemm is safe for concurrent use and does not allocate in
// steady state.
//
// Dgemm panics with a "gemm: ..." message if a dimension is negative, a
// stride is smaller than the row it strides over, or a slice is too short.
func Dgemm(transA, transB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	dgemm(true, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// DgemmSerial is Dgemm on the calling goroutine only, for callers that
// already run one product per core (it gives the same bits as Dgemm).
func DgemmSerial(transA, transB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	dgemm(false, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

func dgemm(par, transA, transB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("gemm: negative dimension m=%d n=%d k=%d", m, n, k))
	}
	checkMatrix("c", m, n, c, ldc)
	if m == 0 || n == 0 {
		return
	}
	if alpha == 0 || k == 0 {
		scale(m, n, beta, c, ldc)
		return
	}
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	checkMatrix("a", ar, ac, a, lda)
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	checkMatrix("b", br, bc, b, ldb)

	im := active.Load()
	pr := problem{
		transA: transA, transB: transB, m: m, n: n, k: k,
		alpha: alpha, beta: beta, a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: ldc,
	}
	// Read in place when the layout allows it. Row strides that are
	// multiples of 4 KiB map the rows of a tile to the same L1 cache set,
	// so those operands are packed.
	pr.packA = im.wide[0] == nil || lda%512 == 0
	pr.packB = im.wide[0] == nil || transB || ldb%512 == 0
	if par && 2*float64(m)*float64(n)*float64(k) >= float64(parThreshold(im)) && parallel(im, &pr) {
		return
	}
	ws := getWorkspace()
	ws.run(im, &pr, 0, m, 0, n)
	putWorkspace(ws)
}

// checkMatrix panics unless x holds a r×c row-major matrix with row stride ld.
func checkMatrix(name string, r, c int, x []float64, ld int) {
	if ld < max(c, 1) {
		panic(fmt.Sprintf("gemm: stride of %s is %d, want at least %d", name, ld, max(c, 1)))
	}
	if r > 0 && c > 0 && len(x) < (r-1)*ld+c {
		panic(fmt.Sprintf("gemm: %s has %d elements, want at least %d for %d×%d with stride %d", name, len(x), (r-1)*ld+c, r, c, ld))
	}
}

// scale sets c = beta·c (c = 0 when beta is zero, whatever c holds).
func scale(m, n int, beta float64, c []float64, ldc int) {
	if beta == 1 {
		return
	}
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
			continue
		}
		for j := range row {
			row[j] *= beta
		}
	}
}

// run computes the rows [i0, i1) and columns [j0, j1) of c. The bounds are
// multiples of the tile size, or m and n, so that every tile is the same
// whichever part of the product it belongs to.
func (ws *workspace) run(im *impl, pr *problem, i0, i1, j0, j1 int) {
	mr, nr := im.mr, im.nr
	for jc := j0; jc < j1; jc += im.nc {
		jce := min(jc+im.nc, j1)
		for pc := 0; pc < pr.k; pc += im.kc {
			kc := min(im.kc, pr.k-pc)
			beta := pr.beta
			if pc > 0 {
				beta = 1
			}
			ws.packPanels(im, pr, pc, kc, jc, jce)
			for ic := i0; ic < i1; ic += im.mc {
				ice := min(ic+im.mc, i1)
				ws.packTiles(im, pr, pc, kc, ic, ice)
				for jr, q := jc, 0; jr < jce; jr, q = jr+nr, q+1 {
					w := min(nr, jce-jr)
					kw := nr
					if w <= im.half {
						kw = im.half
					}
					// Source of the panel: in place, or packed at q·kc·nr.
					bs, boff, bst := pr.b, pc*pr.ldb+jr, pr.ldb
					if pr.packB || (w < nr && !im.maskB) {
						bs, boff, bst = ws.bpack, q*kc*nr, kw
					}
					for ir, t := ic, 0; ir < ice; ir, t = ir+mr, t+1 {
						h := min(mr, ice-ir)
						// Source of the tile: packed at t·kc·mr, or in place.
						as, aoff, ast, mode := pr.a, 0, pr.lda, modeP
						switch {
						case pr.packA:
							as, aoff, ast = ws.apack, t*kc*mr, mr
						case pr.transA:
							aoff = pc*pr.lda + ir
						default:
							aoff, mode = ir*pr.lda+pc, modeR
						}
						coff := ir*pr.ldc + jr
						if im.wide[0] == nil {
							genericTile(kc, h, w, as, aoff, ast, mode, bs, boff, bst, pr.c, coff, pr.ldc, pr.alpha, beta)
							continue
						}
						if h == mr {
							fn := im.wide[mode]
							if kw < nr {
								fn = im.narrow[mode]
							}
							fn(kc, &as[aoff], ast, &bs[boff], bst, &pr.c[coff], pr.ldc, pr.alpha, beta, h, w)
							continue
						}
						// Rows left over: short kernels of decreasing size.
						rowStep := 1 // mode P: rows are adjacent
						if mode == modeR {
							rowStep = ast
						}
						for _, sk := range im.short {
							for h >= sk.mr {
								fn := sk.wide[mode]
								if kw < nr {
									fn = sk.narrow[mode]
								}
								fn(kc, &as[aoff], ast, &bs[boff], bst, &pr.c[coff], pr.ldc, pr.alpha, beta, sk.mr, w)
								h -= sk.mr
								aoff += sk.mr * rowStep
								coff += sk.mr * pr.ldc
							}
						}
					}
				}
			}
		}
	}
}

// packPanels packs the panels of op(B)[pc:pc+kc, jc:jce] that the kernels
// cannot read in place into ws.bpack, panel q at q·kc·nr, row p of a panel
// kw wide at p·kw, zero-padded to kw columns.
func (ws *workspace) packPanels(im *impl, pr *problem, pc, kc, jc, jce int) {
	nr := im.nr
	panels := (jce - jc + nr - 1) / nr
	ws.bpack = grow(ws.bpack, panels*kc*nr)
	for jr, q := jc, 0; jr < jce; jr, q = jr+nr, q+1 {
		w := min(nr, jce-jr)
		if !pr.packB && (w == nr || im.maskB) {
			continue
		}
		kw := nr
		if w <= im.half {
			kw = im.half
		}
		dst := ws.bpack[q*kc*nr : q*kc*nr+kc*kw]
		if !pr.transB {
			// Row by row, with loops rather than copy and clear: rows
			// are at most 16 wide, too short to amortise a call.
			for p := 0; p < kc; p++ {
				row := dst[p*kw : p*kw+kw]
				src := pr.b[(pc+p)*pr.ldb+jr:]
				src = src[:w]
				for j, v := range src {
					row[j] = v
				}
				for j := w; j < kw; j++ {
					row[j] = 0
				}
			}
			continue
		}
		// Transposed: column j of the panel is row jr+j of b. Four
		// columns per pass, so that each row of the panel is written in
		// runs of four.
		if w < kw {
			clear(dst)
		}
		j := 0
		for ; j+4 <= w; j += 4 {
			s0 := pr.b[(jr+j)*pr.ldb+pc:]
			s0 = s0[:kc]
			s1 := pr.b[(jr+j+1)*pr.ldb+pc:]
			s1 = s1[:len(s0)]
			s2 := pr.b[(jr+j+2)*pr.ldb+pc:]
			s2 = s2[:len(s0)]
			s3 := pr.b[(jr+j+3)*pr.ldb+pc:]
			s3 = s3[:len(s0)]
			for p := range s0 {
				d := dst[p*kw+j : p*kw+j+4 : p*kw+j+4]
				d[0], d[1], d[2], d[3] = s0[p], s1[p], s2[p], s3[p]
			}
		}
		for ; j < w; j++ {
			src := pr.b[(jr+j)*pr.ldb+pc:]
			src = src[:kc]
			for p, v := range src {
				dst[p*kw+j] = v
			}
		}
	}
}

// packTiles packs the tiles of op(A)[ic:ice, pc:pc+kc] into ws.apack
// (tile t at t·kc·mr) when pr.packA; otherwise the kernels read A in place.
// A packed tile holds row p of the tile at p·mr, zero-padded to mr rows.
func (ws *workspace) packTiles(im *impl, pr *problem, pc, kc, ic, ice int) {
	if !pr.packA {
		return
	}
	mr := im.mr
	tiles := (ice - ic + mr - 1) / mr
	ws.apack = grow(ws.apack, tiles*kc*mr)
	for ir, t := ic, 0; ir < ice; ir, t = ir+mr, t+1 {
		packTile(ws.apack[t*kc*mr:t*kc*mr+kc*mr], pr, ir, min(mr, ice-ir), mr, pc, kc)
	}
}

// packTile packs rows [ir, ir+h) and columns [pc, pc+kc) of op(A) into dst
// (kc·mr elements), row p of the tile at p·mr, zero-padded to mr rows.
func packTile(dst []float64, pr *problem, ir, h, mr, pc, kc int) {
	if pr.transA {
		for p := 0; p < kc; p++ {
			row := dst[p*mr : p*mr+mr]
			src := pr.a[(pc+p)*pr.lda+ir:]
			src = src[:h]
			for i, v := range src {
				row[i] = v
			}
			for i := h; i < mr; i++ {
				row[i] = 0
			}
		}
		return
	}
	if h < mr {
		clear(dst)
	}
	for i := 0; i < h; i++ {
		src := pr.a[(ir+i)*pr.lda+pc:]
		src = src[:kc]
		for p, v := range src {
			dst[p*mr+i] = v
		}
	}
}

// grow returns s with length at least n, reusing its storage when possible.
func grow(s []float64, n int) []float64 {
	if cap(s) >= n {
		return s[:cap(s)]
	}
	return make([]float64, n)
}
