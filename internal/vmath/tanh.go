package vmath

import (
	"fmt"
	"math"
	"sync/atomic"
)

// impl is one implementation of the slice kernels. Every function gets
// slices of equal, positive length.
type impl struct {
	name        string
	tanh        func(dst, x []float64)
	addTanhGrad func(dst, g, y []float64)
	tanhGrad    func(dst, g, y []float64)
	exp         func(dst, x []float64)
	log1p       func(dst, x []float64)
	softplus    func(dst, x []float64)
	sigmoid     func(dst, x []float64)
	adam        func(x, g, m, v []float64, c *AdamConsts)
}

// generic is the portable implementation: the math package element by
// element.
var generic = &impl{
	name: "generic",
	tanh: func(dst, x []float64) {
		dst = dst[:len(x)]
		for i, v := range x {
			dst[i] = math.Tanh(v)
		}
	},
	addTanhGrad: func(dst, g, y []float64) {
		g, y = g[:len(dst)], y[:len(dst)]
		for i, v := range g {
			dst[i] += v * (1 - y[i]*y[i])
		}
	},
	tanhGrad: func(dst, g, y []float64) {
		g, y = g[:len(dst)], y[:len(dst)]
		for i, v := range g {
			dst[i] = v * (1 - y[i]*y[i])
		}
	},
	exp: func(dst, x []float64) {
		dst = dst[:len(x)]
		for i, v := range x {
			dst[i] = expGo(v)
		}
	},
	log1p: func(dst, x []float64) {
		dst = dst[:len(x)]
		for i, v := range x {
			dst[i] = math.Log1p(v)
		}
	},
	softplus: func(dst, x []float64) {
		dst = dst[:len(x)]
		for i, v := range x {
			dst[i] = softplus(v)
		}
	},
	sigmoid: func(dst, x []float64) {
		dst = dst[:len(x)]
		for i, v := range x {
			dst[i] = sigmoid(v)
		}
	},
	adam: adamGeneric,
}

// impls lists the implementations usable on this machine, best first;
// assembly ones are prepended by tanh_amd64.go.
var impls = []*impl{generic}

var active atomic.Pointer[impl]

func init() { active.Store(impls[0]) }

// Implementations returns the names of the implementations usable on this
// machine, best (the default) first: "avx512", "avx2" and "generic" on
// amd64, "generic" (math.Tanh) elsewhere.
func Implementations() []string {
	names := make([]string, len(impls))
	for i, im := range impls {
		names[i] = im.name
	}
	return names
}

// Implementation returns the name of the implementation in use.
func Implementation() string { return active.Load().name }

// SetImplementation selects an implementation by name (one of
// Implementations) and returns the previous one. It exists for tests and
// benchmarks and panics on an unknown name.
func SetImplementation(name string) (previous string) {
	for _, im := range impls {
		if im.name == name {
			return active.Swap(im).name
		}
	}
	panic(fmt.Sprintf("vmath: unknown or unsupported implementation %q", name))
}

// Tanh sets dst[i] = tanh(x[i]) for every i < len(x). dst may be x itself
// (but must not overlap it otherwise). The assembly kernels are within
// 1.5 ulp of tanh (relative error below 2.2e-16, see the package
// documentation), monotone and odd; every element is computed the same
// way whatever its position in the slice. Tanh panics if dst is shorter
// than x.
func Tanh(dst, x []float64) {
	if len(dst) < len(x) {
		panic(fmt.Sprintf("vmath: Tanh: dst has %d elements, x has %d", len(dst), len(x)))
	}
	if len(x) == 0 {
		return
	}
	active.Load().tanh(dst[:len(x)], x)
}

// AddTanhGrad adds the gradient through y = tanh(x) to dst:
// dst[i] += g[i]·(1 - y[i]²) for every i < len(dst), where g is the
// gradient with respect to y. The assembly kernels round 1 - y² and the
// update once each (fused multiply-adds). It panics if g or y is shorter
// than dst.
func AddTanhGrad(dst, g, y []float64) {
	if len(g) < len(dst) || len(y) < len(dst) {
		panic(fmt.Sprintf("vmath: AddTanhGrad: dst has %d elements, g %d, y %d", len(dst), len(g), len(y)))
	}
	if len(dst) == 0 {
		return
	}
	active.Load().addTanhGrad(dst, g[:len(dst)], y[:len(dst)])
}

// Constants of tanhGo and of the assembly kernels (tanh_amd64.s), which
// compute the same operations in the same order.
const (
	// tanhClamp bounds |x|: tanh(x) rounds to 1 from |x| ≈ 19.06, and
	// e^(2·20) is far from overflow.
	tanhClamp = 20
	// tanhC is 2·log2(e), so that round(|x|·tanhC) = round(2|x|/ln 2).
	tanhC = 2 * math.Log2E
	// tanhMagic is 1.5·2^52 + 1023: fma(a, tanhC, tanhMagic) rounds
	// a·tanhC to the nearest integer n and leaves n + 1023, the biased
	// exponent of 2^n, in the low mantissa bits (0 <= n <= 58).
	tanhMagic = 0x1.8p52 + 1023
	// tanhLn2Hi + tanhLn2Lo = ln(2)/2 (fdlibm's split of ln 2, halved):
	// tanhLn2Hi has 21 trailing zero bits, so n·tanhLn2Hi is exact and
	// |x| - n·tanhLn2Hi too (Sterbenz).
	tanhLn2Hi = 0x1.62e42feep-2
	tanhLn2Lo = 0x1.a39ef35793c76p-34
)

// tanhQ holds the coefficients of Q, highest degree first:
// (e^(2s) - 1)/2 = s + s²·Q(s) for s in [-0.003, ln(2)/2 + 0.003]. Q is
// the degree-10 Chebyshev interpolant of ((e^(2s) - 1)/2 - s)/s² on that
// interval (mpmath.chebyfit, 200-bit arithmetic); with its coefficients
// rounded to float64, s + s²·Q(s) is within 5.7e-18 (0.05 units of
// 2⁻⁵³) relative of (e^(2s) - 1)/2. Every coefficient is positive, like
// those of the Taylor series.
var tanhQ = [11]float64{
	0x1.81a6586a39735p-18,
	0x1.9911feb4f8f7fp-16,
	0x1.2928d50e91927p-13,
	0x1.71c6b108f22a0p-11,
	0x1.a01b1804457c9p-9,
	0x1.a019f9750436ep-7,
	0x1.6c16c191bba06p-5,
	0x1.11111110aeb27p-3,
	0x1.55555555564c4p-2,
	0x1.5555555555549p-1,
	0x1.0000000000000p+0,
}

// tanhGo is tanh(x) by the algorithm of the assembly kernels, with the
// same operations in the same order (fused multiply-adds included), so
// that it gives their bits; the tests use it as their reference. With
// a = min(|x|, 20):
//
//	n = floor(2a/ln 2) (up to ties), s = a - n·ln(2)/2 >= 0 (Cody–Waite),
//	h = s + s²·Q(s) ≈ (e^(2s) - 1)/2,
//	H = 2ⁿ·h + (2ⁿ - 1)/2 = (e^(2a) - 1)/2, a sum of terms >= 0,
//	tanh(a) = H/(H + 1), with the rounding of H + 1 and of the quotient
//	corrected through the exact residual H - q·(H + 1),
//
// and the sign of x is copied onto the result. No branch is needed: for
// a < ln(2)/2, n = 0 and H = h keeps full relative precision down to the
// subnormals (where tanh returns x); the quotient damps the error of H
// (d log tanh / d log H = 1/(H+1) <= 1); from a ≈ 19.06 the result rounds
// to 1. tanhGo is slower than math.Tanh in Go (about 11 ns against 9), so
// the generic implementation keeps math.Tanh.
func tanhGo(x float64) float64 {
	a := min(math.Abs(x), tanhClamp) // min keeps a NaN
	kf := math.FMA(a, tanhC, -0x1.fffffffffffffp-2) + tanhMagic
	n := kf - tanhMagic
	s := math.FMA(-n, tanhLn2Hi, a)
	s = math.FMA(-n, tanhLn2Lo, s)
	s2 := float64(s * s)       // the conversion forbids fusing (Go spec)
	e, o := tanhQ[0], tanhQ[1] // Q(s) = e(s²) + s·o(s²)
	for i := 2; i < len(tanhQ); i += 2 {
		e = math.FMA(e, s2, tanhQ[i])
		if i+1 < len(tanhQ) {
			o = math.FMA(o, s2, tanhQ[i+1])
		}
	}
	h := math.FMA(s2, math.FMA(s, o, e), s)
	scale := math.Float64frombits(math.Float64bits(kf) << 52) // 2ⁿ
	big := math.FMA(scale, h, math.FMA(scale, 0.5, -0.5))
	d := big + 1
	dErr := big - (d - 1) // d + dErr = big + 1 exactly
	y := 1 / d
	q := float64(big * y)
	r := math.FMA(-q, d, big)
	r = math.FMA(-q, dErr, r)
	return math.Copysign(math.FMA(r, y, q), x)
}
