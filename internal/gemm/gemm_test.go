package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
)

// eps is the unit roundoff of float64, 2⁻⁵³.
const eps = 0x1p-53

// useImpl selects the implementation name for the rest of the test.
func useImpl(t testing.TB, name string) {
	t.Helper()
	prev := SetImplementation(name)
	t.Cleanup(func() { SetImplementation(prev) })
}

// useParallelism forces the number of goroutines Dgemm may use (as if
// GOMAXPROCS were p) and the parallel threshold for the rest of the test.
func useParallelism(t testing.TB, p, minFlops int) {
	t.Helper()
	prevP, prevF := parallelism.Swap(int64(p)), minParFlops.Swap(int64(minFlops))
	t.Cleanup(func() { parallelism.Store(prevP); minParFlops.Store(prevF) })
}

// shape is one product: op(a) m×k, op(b) k×n, with extra row-stride padding.
type shape struct {
	m, n, k int
	pad     int // added to every leading dimension
}

// operands holds random operands of a shape in storage order.
type operands struct {
	a, b, c          []float64
	lda, ldb, ldc    int
	transA, transB   bool
	m, n, k          int
	alpha, beta      float64
	arows, brows     int
	acols, bcols     int
	stored, expected []float64
}

func newOperands(rng *rand.Rand, s shape, transA, transB bool, alpha, beta float64) *operands {
	o := &operands{transA: transA, transB: transB, m: s.m, n: s.n, k: s.k, alpha: alpha, beta: beta}
	o.arows, o.acols = s.m, s.k
	if transA {
		o.arows, o.acols = s.k, s.m
	}
	o.brows, o.bcols = s.k, s.n
	if transB {
		o.brows, o.bcols = s.n, s.k
	}
	o.lda, o.ldb, o.ldc = max(o.acols, 1)+s.pad, max(o.bcols, 1)+s.pad, max(s.n, 1)+s.pad
	fill := func(r, ld int) []float64 {
		x := make([]float64, r*ld)
		for i := range x {
			x[i] = rng.NormFloat64()
		}
		return x
	}
	o.a, o.b, o.c = fill(o.arows, o.lda), fill(o.brows, o.ldb), fill(s.m, o.ldc)
	return o
}

func (o *operands) opA(i, p int) float64 {
	if o.transA {
		return o.a[p*o.lda+i]
	}
	return o.a[i*o.lda+p]
}

func (o *operands) opB(p, j int) float64 {
	if o.transB {
		return o.b[j*o.ldb+p]
	}
	return o.b[p*o.ldb+j]
}

// twoSum and twoProd are the error-free transformations of Knuth and
// Dekker: s+e == a+b and p+e == a·b exactly.
func twoSum(a, b float64) (s, e float64) {
	s = a + b
	z := s - a
	return s, (a - (s - z)) + (b - z)
}

func twoProd(a, b float64) (p, e float64) {
	p = a * b
	return p, math.FMA(a, b, -p)
}

// reference returns the exact-to-rounding value of alpha·op(a)·op(b) +
// beta·c at (i, j), by compensated summation (Ogita, Rump and Oishi,
// "Accurate sum and dot product", SIAM J. Sci. Comput. 26(6), 2005,
// algorithm Dot2: error ≤ eps·|r| + γ²·Σ|terms|), together with the
// magnitude bound Σ|terms| = |alpha|·Σ_p |a_ip·b_pj| + |beta·c_ij|.
func (o *operands) reference(c0 []float64, i, j int) (r, bound float64) {
	var s, comp float64
	if o.alpha != 0 {
		for p := 0; p < o.k; p++ {
			x, y := o.opA(i, p), o.opB(p, j)
			pr, pe := twoProd(x, y)
			var se float64
			s, se = twoSum(s, pr)
			comp += pe + se
			bound += math.Abs(x * y)
		}
	}
	// alpha·(s+comp) and beta·c, again compensated.
	ps, pe := twoProd(o.alpha, s)
	pe += o.alpha * comp
	bound *= math.Abs(o.alpha)
	if o.beta != 0 {
		bc, be := twoProd(o.beta, c0[i*o.ldc+j])
		var se float64
		ps, se = twoSum(ps, bc)
		pe += be + se
		bound += math.Abs(o.beta * c0[i*o.ldc+j])
	}
	return ps + pe, bound
}

// check compares c (after the call) with the reference computed from c0
// (before it). The tolerance is the forward error bound of a dot product
// evaluated by a chain of FMAs, γ_k·Σ|a||b| with γ_k ≈ k·eps (Higham,
// "Accuracy and stability of numerical algorithms", 2nd ed., §3.1), plus
// one rounding for the product with alpha, one for the FMA with beta·c,
// one per extra block of kc = 256 added to c, and one for the reference
// itself: (k + 4 + k/256)·eps·Σ|terms| + eps·|ref|. Padding between rows
// must be untouched.
func (o *operands) check(t *testing.T, c0 []float64) {
	t.Helper()
	bad := 0
	for i := 0; i < o.m; i++ {
		for j := 0; j < o.ldc; j++ {
			got := o.c[i*o.ldc+j]
			if j >= o.n {
				if got != c0[i*o.ldc+j] && !(math.IsNaN(got) && math.IsNaN(c0[i*o.ldc+j])) {
					t.Errorf("padding c[%d][%d] changed: got %v, want %v", i, j, got, c0[i*o.ldc+j])
					bad++
				}
				continue
			}
			want, bound := o.reference(c0, i, j)
			tol := float64(o.k+4+o.k/256)*eps*bound + eps*math.Abs(want)
			if !(math.Abs(got-want) <= tol) {
				t.Errorf("c[%d][%d]: got %v, want %v (|diff| %.3g > tol %.3g)", i, j, got, want, math.Abs(got-want), tol)
				bad++
			}
			if bad > 5 {
				t.Fatalf("too many errors")
			}
		}
	}
}

func (o *operands) call() {
	Dgemm(o.transA, o.transB, o.m, o.n, o.k, o.alpha, o.a, o.lda, o.b, o.ldb, o.beta, o.c, o.ldc)
}

// testShapes covers empty and unit dimensions, primes, every remainder of
// the tile sizes (14×16 and 14×8 for AVX-512, 6×8 and 6×4 for AVX2, 4×4
// pure Go), depths beyond the block depth 256, and padded strides.
func testShapes(rng *rand.Rand) []shape {
	s := []shape{
		{0, 0, 0, 0}, {0, 5, 3, 0}, {4, 0, 3, 0}, {3, 4, 0, 0}, {3, 4, 0, 2},
		{1, 1, 1, 0}, {1, 1, 7, 0}, {1, 17, 1, 0}, {17, 1, 3, 0},
		{2, 3, 5, 0}, {7, 11, 13, 1}, {13, 17, 19, 0}, {14, 16, 8, 0}, {14, 8, 5, 0},
		{15, 9, 4, 0}, {28, 32, 2, 0}, {29, 33, 3, 3}, {6, 8, 10, 0}, {6, 4, 6, 0},
		{12, 12, 12, 0}, {31, 50, 50, 0}, {50, 50, 256, 0}, {50, 50, 257, 0}, {23, 41, 530, 1},
		{97, 7, 50, 0}, {5, 97, 50, 0}, {64, 128, 20, 0}, {43, 2, 9, 5},
	}
	for range 24 {
		s = append(s, shape{1 + rng.IntN(60), 1 + rng.IntN(60), 1 + rng.IntN(70), rng.IntN(3)})
	}
	return s
}

var alphaBetas = [][2]float64{{1, 0}, {1, 1}, {-0.7, 0}, {-0.7, 1}, {1, 2.5}, {-0.7, -1.3}, {0, 0}, {0, 1}, {0, 2.5}}

func TestDgemmAgainstReference(t *testing.T) {
	for _, name := range Implementations() {
		t.Run(name, func(t *testing.T) {
			useImpl(t, name)
			rng := rand.New(rand.NewPCG(1, 2))
			for _, s := range testShapes(rng) {
				for tr := range 4 {
					transA, transB := tr&1 != 0, tr&2 != 0
					for _, ab := range alphaBetas {
						o := newOperands(rng, s, transA, transB, ab[0], ab[1])
						c0 := append([]float64(nil), o.c...)
						o.call()
						t.Run(fmt.Sprintf("m%d_n%d_k%d_pad%d_tA%v_tB%v_a%v_b%v", s.m, s.n, s.k, s.pad, transA, transB, ab[0], ab[1]), func(t *testing.T) {
							o.check(t, c0)
						})
					}
				}
			}
		})
	}
}

// TestDgemmNaN checks the BLAS conventions: c is not read when beta is
// zero, a and b are not read when alpha is zero.
func TestDgemmNaN(t *testing.T) {
	for _, name := range Implementations() {
		t.Run(name, func(t *testing.T) {
			useImpl(t, name)
			rng := rand.New(rand.NewPCG(3, 4))
			for _, s := range []shape{{20, 19, 7, 0}, {3, 5, 2, 1}} {
				for tr := range 4 {
					o := newOperands(rng, s, tr&1 != 0, tr&2 != 0, 1.5, 0)
					for i := range o.c {
						o.c[i] = math.NaN()
					}
					c0 := append([]float64(nil), o.c...)
					o.call()
					o.check(t, c0)

					o = newOperands(rng, s, tr&1 != 0, tr&2 != 0, 0, -2)
					for i := range o.a {
						o.a[i] = math.NaN()
					}
					for i := range o.b {
						o.b[i] = math.Inf(1)
					}
					c0 = append([]float64(nil), o.c...)
					o.call()
					for i := 0; i < o.m; i++ {
						for j := 0; j < o.n; j++ {
							if got, want := o.c[i*o.ldc+j], -2*c0[i*o.ldc+j]; got != want {
								t.Fatalf("alpha=0: c[%d][%d]: got %v, want %v", i, j, got, want)
							}
						}
					}
				}
			}
		})
	}
}

// TestDgemmAgainstGonum compares with gonum's blas64.Gemm on the shapes
// of the nn package; both results carry the error bound of check, so the
// tolerance is twice it.
func TestDgemmAgainstGonum(t *testing.T) {
	shapes := []shape{{256, 50, 50, 0}, {50, 50, 256, 0}, {256, 4, 50, 0}, {256, 50, 2, 0}, {100, 128, 128, 0}}
	for _, name := range Implementations() {
		t.Run(name, func(t *testing.T) {
			useImpl(t, name)
			rng := rand.New(rand.NewPCG(5, 6))
			for _, s := range shapes {
				for tr := range 4 {
					transA, transB := tr&1 != 0, tr&2 != 0
					o := newOperands(rng, s, transA, transB, 1, 1)
					want := append([]float64(nil), o.c...)
					ta, tb := blas.NoTrans, blas.NoTrans
					if transA {
						ta = blas.Trans
					}
					if transB {
						tb = blas.Trans
					}
					blas64.Gemm(ta, tb, 1,
						blas64.General{Rows: o.arows, Cols: o.acols, Stride: o.lda, Data: o.a},
						blas64.General{Rows: o.brows, Cols: o.bcols, Stride: o.ldb, Data: o.b},
						1, blas64.General{Rows: o.m, Cols: o.n, Stride: o.ldc, Data: want})
					c0 := append([]float64(nil), o.c...)
					o.call()
					for i := 0; i < o.m; i++ {
						for j := 0; j < o.n; j++ {
							_, bound := o.reference(c0, i, j)
							tol := 2 * float64(o.k+4) * eps * bound
							if got, w := o.c[i*o.ldc+j], want[i*o.ldc+j]; !(math.Abs(got-w) <= tol) {
								t.Fatalf("%v tA=%v tB=%v: c[%d][%d]: got %v, gonum %v (tol %.3g)", s, transA, transB, i, j, got, w, tol)
							}
						}
					}
				}
			}
		})
	}
}

// TestDgemmDeterministic checks that every element is computed by the same
// operations whatever its position in a tile and however the work is split:
// results must be bit-identical (1) for any number of goroutines, and (2)
// when the rows of op(a) or the columns of op(b) are shifted by one, which
// moves elements between full tiles read in place and packed edge tiles.
func TestDgemmDeterministic(t *testing.T) {
	for _, name := range Implementations() {
		t.Run(name, func(t *testing.T) {
			useImpl(t, name)
			rng := rand.New(rand.NewPCG(7, 8))
			for _, s := range []shape{{301, 53, 67, 0}, {30, 211, 40, 1}, {47, 45, 300, 0}} {
				for tr := range 4 {
					transA, transB := tr&1 != 0, tr&2 != 0
					o := newOperands(rng, s, transA, transB, -0.7, 1.3)
					c0 := append([]float64(nil), o.c...)
					var first []float64
					for _, p := range []int{1, 2, 3, 8} {
						useParallelism(t, p, 1)
						copy(o.c, c0)
						o.call()
						if first == nil {
							first = append([]float64(nil), o.c...)
							continue
						}
						for i := range first {
							if math.Float64bits(o.c[i]) != math.Float64bits(first[i]) {
								t.Fatalf("%v tA=%v tB=%v: %d goroutines: c[%d] = %v, 1 goroutine gave %v", s, transA, transB, p, i, o.c[i], first[i])
							}
						}
					}
					// DgemmSerial, with the pool allowed, gives the same bits.
					useParallelism(t, 8, 1)
					copy(o.c, c0)
					DgemmSerial(o.transA, o.transB, o.m, o.n, o.k, o.alpha, o.a, o.lda, o.b, o.ldb, o.beta, o.c, o.ldc)
					for i := range first {
						if math.Float64bits(o.c[i]) != math.Float64bits(first[i]) {
							t.Fatalf("%v tA=%v tB=%v: DgemmSerial: c[%d] = %v, Dgemm gave %v", s, transA, transB, i, o.c[i], first[i])
						}
					}
					useParallelism(t, 1, 1)
					shifted := *o
					// Drop the first row of op(a): rows i+1 of c become rows i.
					if transA {
						shifted.a = o.a[1:]
					} else {
						shifted.a = o.a[o.lda:]
					}
					shifted.m = o.m - 1
					shifted.c = append([]float64(nil), c0[o.ldc:]...)
					shifted.call()
					for i := 0; i < shifted.m; i++ {
						for j := 0; j < o.n; j++ {
							if got, want := shifted.c[i*o.ldc+j], first[(i+1)*o.ldc+j]; math.Float64bits(got) != math.Float64bits(want) {
								t.Fatalf("%v tA=%v tB=%v: row shift: c[%d][%d] = %v, unshifted %v", s, transA, transB, i+1, j, got, want)
							}
						}
					}
					// Drop the first column of op(b).
					shifted = *o
					if transB {
						shifted.b = o.b[o.ldb:]
					} else {
						shifted.b = o.b[1:]
					}
					shifted.n = o.n - 1
					shifted.c = append([]float64(nil), c0[1:]...)
					shifted.call()
					for i := 0; i < o.m; i++ {
						for j := 0; j < shifted.n; j++ {
							if got, want := shifted.c[i*o.ldc+j], first[i*o.ldc+j+1]; math.Float64bits(got) != math.Float64bits(want) {
								t.Fatalf("%v tA=%v tB=%v: column shift: c[%d][%d] = %v, unshifted %v", s, transA, transB, i, j+1, got, want)
							}
						}
					}
				}
			}
		})
	}
}

// TestDgemmConcurrent runs products from several goroutines at once, large
// enough to use the worker pool, and compares them with serial results.
func TestDgemmConcurrent(t *testing.T) {
	useParallelism(t, 2, 1)
	rng := rand.New(rand.NewPCG(9, 10))
	const workers = 6
	ops := make([]*operands, workers)
	want := make([][]float64, workers)
	c0 := make([][]float64, workers)
	for w := range ops {
		ops[w] = newOperands(rng, shape{40 + 13*w, 30 + 7*w, 50, 0}, w&1 != 0, w&2 != 0, 1, 1)
		c0[w] = append([]float64(nil), ops[w].c...)
		ops[w].call()
		want[w] = append([]float64(nil), ops[w].c...)
	}
	var wg sync.WaitGroup
	errs := make([]string, workers)
	for w := range ops {
		wg.Go(func() {
			o := ops[w]
			for range 20 {
				copy(o.c, c0[w])
				o.call()
				for i := range o.c {
					if o.c[i] != want[w][i] {
						errs[w] = fmt.Sprintf("goroutine %d: c[%d] = %v, want %v", w, i, o.c[i], want[w][i])
						return
					}
				}
			}
		})
	}
	wg.Wait()
	for _, e := range errs {
		if e != "" {
			t.Error(e)
		}
	}
}

// TestDgemmNoAlloc checks that calls do not allocate once the scratch
// buffers exist, for serial and parallel products and every transpose.
func TestDgemmNoAlloc(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, name := range Implementations() {
		for _, par := range []int{1, 2} {
			for _, s := range []shape{{256, 50, 50, 0}, {50, 50, 256, 0}, {29, 19, 300, 0}} {
				for tr := range 4 {
					t.Run(fmt.Sprintf("%s/par%d/%v/tr%d", name, par, s, tr), func(t *testing.T) {
						useImpl(t, name)
						useParallelism(t, par, 1)
						o := newOperands(rng, s, tr&1 != 0, tr&2 != 0, 1, 0)
						o.call()
						if got := testing.AllocsPerRun(20, o.call); got != 0 {
							t.Errorf("got %v allocations per call, want 0", got)
						}
					})
				}
			}
		}
	}
}

func TestDgemmPanics(t *testing.T) {
	x := make([]float64, 12)
	for _, tc := range []struct {
		name string
		f    func()
	}{
		{"negative m", func() { Dgemm(false, false, -1, 2, 2, 1, x, 2, x, 2, 0, x, 2) }},
		{"short a", func() { Dgemm(false, false, 4, 2, 4, 1, x, 4, x, 2, 0, x, 2) }},
		{"short b", func() { Dgemm(false, true, 2, 4, 4, 1, x, 4, x[:15-5], 4, 0, x, 4) }},
		{"short c", func() { Dgemm(false, false, 3, 5, 1, 1, x, 1, x, 5, 0, x, 5) }},
		{"small lda", func() { Dgemm(false, false, 2, 2, 3, 1, x, 2, x, 2, 0, x, 2) }},
		{"small lda trans", func() { Dgemm(true, false, 3, 2, 2, 1, x, 2, x, 2, 0, x, 2) }},
		{"small ldc", func() { Dgemm(false, false, 2, 3, 2, 1, x, 2, x, 3, 0, x, 2) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				r := recover()
				if msg, ok := r.(string); !ok || !strings.HasPrefix(msg, "gemm: ") {
					t.Errorf("got panic %v, want a \"gemm: ...\" message", r)
				}
			}()
			tc.f()
		})
	}
}

func TestSetImplementation(t *testing.T) {
	names := Implementations()
	if got, want := names[len(names)-1], "generic"; got != want {
		t.Errorf("last implementation: got %q, want %q", got, want)
	}
	if got, want := Implementation(), names[0]; got != want {
		t.Errorf("default implementation: got %q, want %q", got, want)
	}
	defer func() {
		if recover() == nil {
			t.Error("SetImplementation(\"nope\") did not panic")
		}
	}()
	SetImplementation("nope")
}

func ExampleDgemm() {
	// c = a·bᵀ with a 2×3 and b 2×3: c is 2×2.
	a := []float64{1, 2, 3, 4, 5, 6}
	b := []float64{1, 0, 1, 0, 1, 0}
	c := make([]float64, 4)
	Dgemm(false, true, 2, 2, 3, 1, a, 3, b, 3, 0, c, 2)
	fmt.Println(c)
	// Output: [4 2 10 5]
}
