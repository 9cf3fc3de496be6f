package vmath

import (
	"fmt"
	"math"
)

// Exp sets dst[i] = exp(x[i]) for every i < len(x). dst may be x itself
// (but must not overlap it otherwise). The assembly kernels are within
// 1 ulp of the exact result (see the package documentation), give +Inf
// from x ≈ 709.78, 0 below x ≈ -745.13 (with gradual underflow between),
// 1 for ±0, +Inf for +Inf, 0 for -Inf and NaN for NaN. It panics if dst is
// shorter than x.
func Exp(dst, x []float64) {
	checkUnary("Exp", dst, x)
	if len(x) > 0 {
		active.Load().exp(dst[:len(x)], x)
	}
}

// Log1p sets dst[i] = log(1 + x[i]) for every i < len(x), accurate for
// small x. dst may be x itself (but must not overlap it otherwise). The
// assembly kernels are within 1 ulp of the exact result; they give ±0 for
// ±0, -Inf for -1, NaN below -1 and for NaN, +Inf for +Inf. It panics if
// dst is shorter than x.
func Log1p(dst, x []float64) {
	checkUnary("Log1p", dst, x)
	if len(x) > 0 {
		active.Load().log1p(dst[:len(x)], x)
	}
}

// Softplus sets dst[i] = log(1 + exp(x[i])) for every i < len(x), computed
// stably as max(x, 0) + log1p(exp(-|x|)): no overflow for large x, full
// relative accuracy for very negative x (where softplus(x) ≈ exp(x)). dst
// may be x itself (but must not overlap it otherwise). The assembly
// kernels are within 2 ulp of the exact result; softplus(+Inf) = +Inf,
// softplus(-Inf) = 0, NaN gives NaN. It panics if dst is shorter than x.
func Softplus(dst, x []float64) {
	checkUnary("Softplus", dst, x)
	if len(x) > 0 {
		active.Load().softplus(dst[:len(x)], x)
	}
}

// Sigmoid sets dst[i] = 1/(1 + exp(-x[i])) for every i < len(x), computed
// without overflow as 1/(1+t) for x >= 0 and t/(1+t) for x < 0, with
// t = exp(-|x|). dst may be x itself (but must not overlap it otherwise).
// The assembly kernels are within 2 ulp of the exact result, with full
// relative accuracy in the left tail (sigmoid(x) ≈ exp(x)); sigmoid(+Inf)
// = 1, sigmoid(-Inf) = 0, NaN gives NaN. It panics if dst is shorter than x.
func Sigmoid(dst, x []float64) {
	checkUnary("Sigmoid", dst, x)
	if len(x) > 0 {
		active.Load().sigmoid(dst[:len(x)], x)
	}
}

// TanhGrad sets the gradient through y = tanh(x):
// dst[i] = g[i]·(1 - y[i]²) for every i < len(dst), where g is the gradient
// with respect to y. It is AddTanhGrad for a buffer that holds no gradient
// yet. It panics if g or y is shorter than dst.
func TanhGrad(dst, g, y []float64) {
	if len(g) < len(dst) || len(y) < len(dst) {
		panic(fmt.Sprintf("vmath: TanhGrad: dst has %d elements, g %d, y %d", len(dst), len(g), len(y)))
	}
	if len(dst) > 0 {
		active.Load().tanhGrad(dst, g[:len(dst)], y[:len(dst)])
	}
}

// AdamConsts holds the scalars of one Adam update (Kingma & Ba 2015,
// Algorithm 1, in PyTorch's arrangement): the moment decay rates and their
// complements, the bias-corrected step lr/(1-β1ᵗ), 1/√(1-β2ᵗ) and ε.
type AdamConsts struct {
	Beta1, OneMinusBeta1 float64
	Beta2, OneMinusBeta2 float64
	Step, InvSqrtBC2     float64
	Eps                  float64
	_                    float64 // pads the struct to 64 bytes
}

// AdamStep applies one Adam update to the parameters x with gradients g
// and moments m and v, for every i < len(x):
//
//	m ← β1·m + (1-β1)·g,   v ← β2·v + ((1-β2)·g)·g
//	x ← x - (Step·m) / (√v·InvSqrtBC2 + ε)
//
// Each element is computed by these operations in this order, rounded
// once each (no fused multiply-adds), so that every implementation gives
// the same bits as the plain Go loop compiled without FMA contraction. It
// panics if g, m or v is shorter than x.
func AdamStep(x, g, m, v []float64, c *AdamConsts) {
	if len(g) < len(x) || len(m) < len(x) || len(v) < len(x) {
		panic(fmt.Sprintf("vmath: AdamStep: x has %d elements, g %d, m %d, v %d", len(x), len(g), len(m), len(v)))
	}
	if len(x) > 0 {
		n := len(x)
		active.Load().adam(x, g[:n], m[:n], v[:n], c)
	}
}

// adamGeneric is AdamStep in Go.
func adamGeneric(x, g, m, v []float64, c *AdamConsts) {
	b1, c1, b2, c2 := c.Beta1, c.OneMinusBeta1, c.Beta2, c.OneMinusBeta2
	step, ib, eps := c.Step, c.InvSqrtBC2, c.Eps
	g, m, v = g[:len(x)], m[:len(x)], v[:len(x)]
	for i, gi := range g {
		mi := b1*m[i] + c1*gi
		vi := b2*v[i] + c2*gi*gi
		m[i], v[i] = mi, vi
		x[i] -= step * mi / (math.Sqrt(vi)*ib + eps)
	}
}

func checkUnary(name string, dst, x []float64) {
	if len(dst) < len(x) {
		panic(fmt.Sprintf("vmath: %s: dst has %d elements, x has %d", name, len(dst), len(x)))
	}
}

// expGo is exp(x) within 1 ulp: math.Exp, except above x = 709, where
// math.Exp on amd64 overflows early (it returns +Inf from x ≈ 709.44,
// although exp(x) < MaxFloat64 up to x ≈ 709.78). There it reduces
// x = k·ln2 + r with |r| <= ln2/2 (Cody–Waite, k·ln2Hi exact) and scales
// math.Exp(r) by 2^k exactly, in two steps since 2^1024 overflows.
func expGo(x float64) float64 {
	if !(x > 709) {
		return math.Exp(x)
	}
	if x > 709.8 {
		return math.Inf(1) // +Inf also for x = +Inf
	}
	const ln2Hi, ln2Lo = 6.93147180369123816490e-01, 1.90821492927058770002e-10
	k := math.Round(x * math.Log2E)
	r := (x - k*ln2Hi) - k*ln2Lo
	return math.Ldexp(math.Ldexp(math.Exp(r), int(k)-2), 2)
}

// softplus is the reference for Softplus: max(x, 0) + log1p(exp(-|x|)).
func softplus(x float64) float64 {
	return max(x, 0) + math.Log1p(math.Exp(-math.Abs(x)))
}

// sigmoid is the reference for Sigmoid.
func sigmoid(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + math.Exp(-x))
	}
	e := math.Exp(x)
	return e / (1 + e)
}
