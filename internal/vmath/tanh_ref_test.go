package vmath

import (
	"math"
	"math/big"
)

// refPrec is the precision of the reference tanh: 200 bits, far beyond the
// 53 of float64, so that its own error (a few units in the 200th bit) does
// not show in errors measured in float64 ulps.
const refPrec = 200

// tanhBig returns tanh(x) in refPrec-bit arithmetic, for finite x: with
// y = 2|x|, E = expm1(y) by its Taylor series when y < 1 (no cancellation)
// and by exp(y/2¹⁰)^(2¹⁰) - 1 otherwise; tanh|x| = E/(E + 2).
func tanhBig(x float64) *big.Float {
	a := math.Abs(x)
	if a > 40 { // 1 - tanh(40) = 2e-35: 1 to far more than 53 bits
		return new(big.Float).SetPrec(refPrec).SetFloat64(math.Copysign(1, x))
	}
	f := func() *big.Float { return new(big.Float).SetPrec(refPrec) }
	y := f().SetFloat64(2 * a) // exact
	var e *big.Float
	if 2*a < 1 {
		e = expSeries(y, true)
	} else {
		y.SetMantExp(y, -10)
		e = expSeries(y, false)
		for range 10 {
			e.Mul(e, e)
		}
		e.Sub(e, f().SetInt64(1))
	}
	den := f().Add(e, f().SetInt64(2))
	t := f().Quo(e, den)
	if x < 0 {
		t.Neg(t)
	}
	return t
}

// expSeries sums the Taylor series of exp(y) (or of expm1(y) if m1) for
// 0 <= y < 1 until the terms fall below 2^-(refPrec+10) of the sum.
func expSeries(y *big.Float, m1 bool) *big.Float {
	sum := new(big.Float).SetPrec(refPrec)
	if !m1 {
		sum.SetInt64(1)
	}
	term := new(big.Float).SetPrec(refPrec).Set(y)
	for n := int64(2); ; n++ {
		sum.Add(sum, term)
		if term.Sign() == 0 || term.MantExp(nil)-sum.MantExp(nil) < -(refPrec+10) {
			return sum
		}
		term.Mul(term, y)
		term.Quo(term, new(big.Float).SetPrec(refPrec).SetInt64(n))
	}
}

// ulpErr returns |got - want| in units of the spacing of float64 at want
// (2^-1074 in the subnormal range) and the relative error, for finite
// want.
func ulpErr(got float64, want *big.Float) (ulps, rel float64) {
	w, _ := want.Float64()
	if w == 0 {
		return math.Abs(got) / 0x1p-1074, math.Inf(1)
	}
	_, e := math.Frexp(w)
	u := math.Ldexp(1, max(e-53, -1074))
	d := new(big.Float).SetPrec(refPrec).SetFloat64(got)
	d.Sub(d, want)
	df, _ := d.Float64()
	return math.Abs(df) / u, math.Abs(df / w)
}
