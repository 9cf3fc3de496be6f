package nn

import (
	"math"

	"github.com/gosbi/gosbi/internal/vmath"
)

// Scale returns s·a.
func (tp *Tape) Scale(a *Tensor, s float64) *Tensor { return tp.unary(opScale, a, s, 0) }

// Shift returns a + s (s added to every element).
func (tp *Tape) Shift(a *Tensor, s float64) *Tensor { return tp.unary(opShift, a, s, 0) }

// Neg returns -a.
func (tp *Tape) Neg(a *Tensor) *Tensor { return tp.unary(opScale, a, -1, 0) }

// Exp returns exp(a) elementwise. On amd64 with AVX2 or AVX-512 it runs a
// vectorised kernel (internal/vmath) about 7 times faster than math.Exp,
// within 1 ulp of the exact value; elsewhere it calls math.Exp.
func (tp *Tape) Exp(a *Tensor) *Tensor { return tp.unary(opExp, a, 0, 0) }

// Log returns the natural logarithm of a elementwise (NaN or -Inf for
// non-positive elements, as math.Log).
func (tp *Tape) Log(a *Tensor) *Tensor { return tp.unary(opLog, a, 0, 0) }

// Log1p returns log(1 + a) elementwise, accurate for small a (vectorised
// as Exp, within 1 ulp).
func (tp *Tape) Log1p(a *Tensor) *Tensor { return tp.unary(opLog1p, a, 0, 0) }

// Sqrt returns the square root of a elementwise.
func (tp *Tape) Sqrt(a *Tensor) *Tensor { return tp.unary(opSqrt, a, 0, 0) }

// Square returns a² elementwise.
func (tp *Tape) Square(a *Tensor) *Tensor { return tp.unary(opSquare, a, 0, 0) }

// Abs returns |a| elementwise; its derivative at 0 is taken as 0.
func (tp *Tape) Abs(a *Tensor) *Tensor { return tp.unary(opAbs, a, 0, 0) }

// Tanh returns tanh(a) elementwise. On amd64 with AVX2 or AVX-512 it runs a
// vectorised kernel (internal/vmath) about 8 times faster than math.Tanh and
// as accurate (within 1.5 ulp, relative error below 2.2e-16, monotone and
// odd); elsewhere it calls math.Tanh.
func (tp *Tape) Tanh(a *Tensor) *Tensor { return tp.unary(opTanh, a, 0, 0) }

// ReLU returns max(a, 0) elementwise; its derivative at 0 is taken as 0.
func (tp *Tape) ReLU(a *Tensor) *Tensor { return tp.unary(opReLU, a, 0, 0) }

// LeakyReLU returns a for a > 0 and slope·a otherwise (PyTorch's default
// slope is 0.01).
func (tp *Tape) LeakyReLU(a *Tensor, slope float64) *Tensor {
	return tp.unary(opLeakyReLU, a, slope, 0)
}

// ELU returns a for a > 0 and alpha·(exp(a) - 1) otherwise (Clevert et al.
// 2016; PyTorch's default alpha is 1).
func (tp *Tape) ELU(a *Tensor, alpha float64) *Tensor { return tp.unary(opELU, a, alpha, 0) }

// GELU returns the exact Gaussian error linear unit a·Φ(a), with Φ the
// standard normal CDF (Hendrycks & Gimpel 2016; PyTorch's default form).
func (tp *Tape) GELU(a *Tensor) *Tensor { return tp.unary(opGELU, a, 0, 0) }

// Sigmoid returns the logistic function 1/(1 + exp(-a)) elementwise,
// computed without overflow (vectorised as Exp, within 2 ulp).
func (tp *Tape) Sigmoid(a *Tensor) *Tensor { return tp.unary(opSigmoid, a, 0, 0) }

// Softplus returns log(1 + exp(a)) elementwise, computed stably as
// max(a, 0) + log1p(exp(-|a|)) (vectorised as Exp, within 2 ulp).
func (tp *Tape) Softplus(a *Tensor) *Tensor { return tp.unary(opSoftplus, a, 0, 0) }

// LogSigmoid returns log(sigmoid(a)) = -softplus(-a) elementwise, computed
// stably.
func (tp *Tape) LogSigmoid(a *Tensor) *Tensor { return tp.unary(opLogSigmoid, a, 0, 0) }

// Clamp returns a limited to [lo, hi] elementwise. The gradient passes
// where lo <= a <= hi and is zero outside (as PyTorch's clamp).
// It panics if lo > hi.
func (tp *Tape) Clamp(a *Tensor, lo, hi float64) *Tensor {
	if lo > hi {
		panic("nn: Clamp: lo > hi")
	}
	return tp.unary(opClamp, a, lo, hi)
}

func (tp *Tape) unary(kind opKind, a *Tensor, p, q float64) *Tensor {
	out := tp.alloc(a.Rows, a.Cols)
	unaryForward(kind, out.Data, a.Data, p, q)
	if tp.rec(a, nil) {
		tp.push(node{kind: kind, a: a, out: out, p: p, q: q})
	}
	return out
}

const invSqrt2 = 0.70710678118654752440084436210484903928483593768847
const invSqrt2Pi = 0.39894228040143267793994605993438186847585863116493

func unaryForward(kind opKind, y, x []float64, p, q float64) {
	x = x[:len(y)]
	switch kind {
	case opScale:
		for i, v := range x {
			y[i] = p * v
		}
	case opShift:
		for i, v := range x {
			y[i] = v + p
		}
	case opExp:
		vmath.Exp(y, x)
	case opLog:
		for i, v := range x {
			y[i] = math.Log(v)
		}
	case opLog1p:
		vmath.Log1p(y, x)
	case opSqrt:
		for i, v := range x {
			y[i] = math.Sqrt(v)
		}
	case opSquare:
		for i, v := range x {
			y[i] = v * v
		}
	case opAbs:
		for i, v := range x {
			y[i] = math.Abs(v)
		}
	case opTanh:
		vmath.Tanh(y, x)
	case opReLU:
		for i, v := range x {
			y[i] = max(v, 0)
		}
	case opLeakyReLU:
		for i, v := range x {
			if v > 0 {
				y[i] = v
			} else {
				y[i] = p * v
			}
		}
	case opELU:
		for i, v := range x {
			if v > 0 {
				y[i] = v
			} else {
				y[i] = p * math.Expm1(v)
			}
		}
	case opGELU:
		for i, v := range x {
			y[i] = v * 0.5 * math.Erfc(-v*invSqrt2)
		}
	case opSigmoid:
		vmath.Sigmoid(y, x)
	case opSoftplus:
		vmath.Softplus(y, x)
	case opLogSigmoid: // -softplus(-x), in place in y
		for i, v := range x {
			y[i] = -v
		}
		vmath.Softplus(y, y)
		for i, v := range y {
			y[i] = -v
		}
	case opClamp:
		for i, v := range x {
			y[i] = min(max(v, p), q)
		}
	default:
		panic("nn: internal error: bad unary op")
	}
}

func (tp *Tape) unaryBackward(n *node) {
	ga, fresh := tp.gradOut(n.a)
	if ga == nil {
		return
	}
	g := n.out.Grad
	x := n.a.Data[:len(g)]
	y := n.out.Data[:len(g)]
	ga = ga[:len(g)]
	p, q := n.p, n.q
	if fresh {
		switch n.kind {
		case opTanh:
			vmath.TanhGrad(ga, g, y) // ga = g·(1 - y²)
			return
		case opScale:
			for i, v := range g {
				ga[i] = p * v
			}
			return
		case opShift:
			copy(ga, g)
			return
		}
		clear(ga) // the other ops accumulate into a zeroed buffer
	}
	switch n.kind {
	case opScale:
		for i, v := range g {
			ga[i] += p * v
		}
	case opShift:
		for i, v := range g {
			ga[i] += v
		}
	case opExp:
		for i, v := range g {
			ga[i] += v * y[i]
		}
	case opLog:
		for i, v := range g {
			ga[i] += v / x[i]
		}
	case opLog1p:
		for i, v := range g {
			ga[i] += v / (1 + x[i])
		}
	case opSqrt:
		for i, v := range g {
			ga[i] += v * 0.5 / y[i]
		}
	case opSquare:
		for i, v := range g {
			ga[i] += 2 * v * x[i]
		}
	case opAbs:
		for i, v := range g {
			switch {
			case x[i] > 0:
				ga[i] += v
			case x[i] < 0:
				ga[i] -= v
			}
		}
	case opTanh:
		vmath.AddTanhGrad(ga, g, y) // ga += g·(1 - y²)
	case opReLU:
		for i, v := range g {
			if x[i] > 0 {
				ga[i] += v
			}
		}
	case opLeakyReLU:
		for i, v := range g {
			if x[i] > 0 {
				ga[i] += v
			} else {
				ga[i] += p * v
			}
		}
	case opELU:
		for i, v := range g {
			if x[i] > 0 {
				ga[i] += v
			} else {
				ga[i] += v * (y[i] + p)
			}
		}
	case opGELU:
		for i, v := range g {
			xi := x[i]
			cdf := 0.5 * math.Erfc(-xi*invSqrt2)
			pdf := invSqrt2Pi * math.Exp(-0.5*xi*xi)
			ga[i] += v * (cdf + xi*pdf)
		}
	case opSigmoid:
		for i, v := range g {
			ga[i] += v * y[i] * (1 - y[i])
		}
	case opSoftplus: // ga += g·sigmoid(x)
		addMulSigmoid(ga, g, x, false)
	case opLogSigmoid: // ga += g·sigmoid(-x)
		addMulSigmoid(ga, g, x, true)
	case opClamp:
		for i, v := range g {
			if x[i] >= p && x[i] <= q {
				ga[i] += v
			}
		}
	}
}

// addMulSigmoid adds g·sigmoid(x) (g·sigmoid(-x) if neg) to dst, computing
// the sigmoids with the vectorised kernel in chunks of a stack buffer.
func addMulSigmoid(dst, g, x []float64, neg bool) {
	var buf [256]float64
	for len(dst) > 0 {
		n := min(len(dst), len(buf))
		s := buf[:n]
		if neg {
			for i, v := range x[:n] {
				s[i] = -v
			}
			vmath.Sigmoid(s, s)
		} else {
			vmath.Sigmoid(s, x[:n])
		}
		d, gg := dst[:n], g[:n]
		for i, v := range gg {
			d[i] += v * s[i]
		}
		dst, g, x = dst[n:], g[n:], x[n:]
	}
}
