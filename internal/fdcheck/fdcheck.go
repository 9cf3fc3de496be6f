// Package fdcheck compares analytic gradients with central finite
// differences (gonum.org/v1/gonum/diff/fd), for tests across gosbi.
package fdcheck

import (
	"math"

	"gonum.org/v1/gonum/diff/fd"
)

// DefaultStep is the central-difference step: about the cube root of the
// float64 machine epsilon (2.2e-16), which balances the O(h²) truncation
// error against the O(ε/h) rounding error of the central formula.
const DefaultStep = 6e-6

// Gradient returns the central finite-difference gradient of f at x with
// step h (DefaultStep if h is 0). f must not keep or modify its argument.
func Gradient(f func(x []float64) float64, x []float64, h float64) []float64 {
	if h == 0 {
		h = DefaultStep
	}
	return fd.Gradient(nil, f, x, &fd.Settings{Formula: fd.Central, Step: h})
}

// RelErr returns the largest relative error between got and want,
// max_i |got_i - want_i| / max(|got_i|, |want_i|, floor), and the index
// where it occurs. The floor keeps components that are zero up to rounding
// from dominating; pass the scale below which an absolute error is
// meaningful (e.g. 1e-3 for O(1) losses). It panics if the lengths differ.
func RelErr(got, want []float64, floor float64) (err float64, at int) {
	if len(got) != len(want) {
		panic("fdcheck: length mismatch")
	}
	at = -1
	for i := range got {
		d := math.Abs(got[i] - want[i])
		s := max(math.Abs(got[i]), math.Abs(want[i]), floor)
		e := d / s
		if math.IsNaN(e) {
			e = math.Inf(1)
		}
		if e > err || at < 0 {
			err, at = e, i
		}
	}
	return err, at
}
