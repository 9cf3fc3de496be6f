//go:build amd64 && !purego

package vmath

import "math"

// Assembly kernels (elem_amd64.s). The unary ones compute dst[i] = f(x[i])
// for i < n; tab is &elemTab[0][0]. The AVX-512 kernels take any n >= 0
// (the last n mod 8 values under a mask); the AVX2 ones a multiple of 4.

//go:noescape
func expAVX512(dst, x *float64, n int, tab *float64)

//go:noescape
func expAVX2(dst, x *float64, n int, tab *float64)

//go:noescape
func log1pAVX512(dst, x *float64, n int, tab *float64)

//go:noescape
func log1pAVX2(dst, x *float64, n int, tab *float64)

//go:noescape
func softplusAVX512(dst, x *float64, n int, tab *float64)

//go:noescape
func softplusAVX2(dst, x *float64, n int, tab *float64)

//go:noescape
func sigmoidAVX512(dst, x *float64, n int, tab *float64)

//go:noescape
func sigmoidAVX2(dst, x *float64, n int, tab *float64)

//go:noescape
func tanhGradAVX512(dst, grad, y *float64, n int, tab *float64)

//go:noescape
func tanhGradAVX2(dst, grad, y *float64, n int, tab *float64)

//go:noescape
func adamAVX512(x, grad, m, v *float64, n int, c *AdamConsts)

//go:noescape
func adamAVX2(x, grad, m, v *float64, n int, c *AdamConsts)

// Offsets of the constants in elemTab, in units of 64 bytes; elem_amd64.s
// defines the same offsets (times 64) as cONE, cHALF, ....
const (
	kOne = iota
	kHalf
	kTwo
	kAbsMask
	kSign
	kExpHi
	kExpLo
	kLog2E
	kLn2Hi
	kLn2Lo
	kE13 // 1/13! … 1/2!: kE13+13-n holds 1/n!
	kE12
	kE11
	kE10
	kE9
	kE8
	kE7
	kE6
	kE5
	kE4
	kE3
	kE2
	kMagic
	kSqrt2
	kLg7 // log polynomial, highest degree first
	kLg6
	kLg5
	kLg4
	kLg3
	kLg2
	kLg1
	kMant
	kTwo52
	kTwo52P1023
	kNegOne
	kInf
	kNegInf
	kNaN
	nConst
)

// elemTab holds the constants of the kernels, each repeated 8 times (64
// bytes) so that AVX-512 and AVX2 instructions can take them as full-width
// memory operands.
var elemTab = func() (t [nConst][8]float64) {
	bits := math.Float64frombits
	fact := 1.0
	var invFact [14]float64 // invFact[n] = 1/n!, correctly rounded
	for n := 1; n <= 13; n++ {
		fact *= float64(n) // exact: 13! < 2^53
		invFact[n] = 1 / fact
	}
	v := [nConst]float64{
		kOne:     1,
		kHalf:    0.5,
		kTwo:     2,
		kAbsMask: bits(0x7fffffffffffffff),
		kSign:    bits(0x8000000000000000),
		// exp overflows from log(MaxFloat64) ≈ 709.78 and is below half
		// the smallest subnormal from ≈ -745.13: clamping to [-746, 710]
		// keeps 2^k within what the scaling handles and changes no result.
		kExpHi: 710,
		kExpLo: -746,
		kLog2E: math.Log2E,
		// Cody–Waite split of ln 2 (fdlibm's): ln2Hi has 21 trailing zero
		// bits, so k·ln2Hi is exact for |k| < 2^21.
		kLn2Hi: bits(0x3fe62e42fee00000),
		kLn2Lo: bits(0x3dea39ef35793c76),
		// 1.5·2^52 + 1023: adding an integer k to it leaves k + 1023 in
		// the low mantissa bits, the biased exponent of 2^k.
		kMagic: 0x1.8p52 + 1023,
		kSqrt2: math.Sqrt2,
		// The log kernel's polynomial: log(1+f) = 2s + s·R(s²), s =
		// f/(2+f), R(z) = z·(Lg1 + z·(Lg2 + … + z·Lg7)), |R - true| <
		// 2^-58.45 on |s| <= 0.1716 (fdlibm's e_log.c, whose coefficients
		// Go's math.Log also uses).
		kLg1:        6.666666666666735130e-01,
		kLg2:        3.999999999940941908e-01,
		kLg3:        2.857142874366239149e-01,
		kLg4:        2.222219843214978396e-01,
		kLg5:        1.818357216161805012e-01,
		kLg6:        1.531383769920937332e-01,
		kLg7:        1.479819860511658591e-01,
		kMant:       bits(0x000fffffffffffff),
		kTwo52:      0x1p52,
		kTwo52P1023: 0x1p52 + 1023,
		kNegOne:     -1,
		kInf:        math.Inf(1),
		kNegInf:     math.Inf(-1),
		kNaN:        math.NaN(),
	}
	for n := 2; n <= 13; n++ {
		v[kE13+13-n] = invFact[n]
	}
	for i := range t {
		for j := range t[i] {
			t[i][j] = v[i]
		}
	}
	return t
}()

// unaryAVX512 adapts an AVX-512 unary kernel to slices.
func unaryAVX512(k func(dst, x *float64, n int, tab *float64)) func(dst, x []float64) {
	return func(dst, x []float64) { k(&dst[0], &x[0], len(x), &elemTab[0][0]) }
}

// unaryAVX2 adapts an AVX2 unary kernel to slices: whole vectors in place,
// the last partial one through a buffer, so that every element goes
// through the kernel.
func unaryAVX2(k func(dst, x *float64, n int, tab *float64)) func(dst, x []float64) {
	return func(dst, x []float64) {
		n := len(x) &^ 3
		if n > 0 {
			k(&dst[0], &x[0], n, &elemTab[0][0])
		}
		if r := len(x) - n; r > 0 {
			var buf [4]float64
			copy(buf[:], x[n:])
			k(&buf[0], &buf[0], 4, &elemTab[0][0])
			copy(dst[n:], buf[:r])
		}
	}
}

func tanhGradSliceAVX512(dst, g, y []float64) {
	tanhGradAVX512(&dst[0], &g[0], &y[0], len(dst), &elemTab[0][0])
}

func tanhGradSliceAVX2(dst, g, y []float64) {
	n := len(dst) &^ 3
	if n > 0 {
		tanhGradAVX2(&dst[0], &g[0], &y[0], n, &elemTab[0][0])
	}
	if r := len(dst) - n; r > 0 {
		var bd, bg, by [4]float64
		copy(bg[:], g[n:])
		copy(by[:], y[n:])
		tanhGradAVX2(&bd[0], &bg[0], &by[0], 4, &elemTab[0][0])
		copy(dst[n:], bd[:r])
	}
}

func adamSliceAVX512(x, g, m, v []float64, c *AdamConsts) {
	adamAVX512(&x[0], &g[0], &m[0], &v[0], len(x), c)
}

// adamSliceAVX2 runs the 4-wide kernel on whole vectors and on a copy of
// the last partial one.
func adamSliceAVX2(x, g, m, v []float64, c *AdamConsts) {
	n := len(x) &^ 3
	if n > 0 {
		adamAVX2(&x[0], &g[0], &m[0], &v[0], n, c)
	}
	if r := len(x) - n; r > 0 {
		var bx, bg, bm, bv [4]float64
		copy(bx[:], x[n:])
		copy(bg[:], g[n:])
		copy(bm[:], m[n:])
		copy(bv[:], v[n:])
		adamAVX2(&bx[0], &bg[0], &bm[0], &bv[0], 4, c)
		copy(x[n:], bx[:r])
		copy(m[n:], bm[:r])
		copy(v[n:], bv[:r])
	}
}
