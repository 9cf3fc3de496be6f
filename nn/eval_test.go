package nn

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestActivationEvalMatchesApply checks that the tape-free Eval gives the
// bits of Apply for every activation, in place and out of place, including
// special values.
func TestActivationEvalMatchesApply(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 1))
	x := make([]float64, 203) // odd length: the vector kernels' tails
	for i := range x {
		x[i] = 4 * rng.NormFloat64()
	}
	x[0], x[1], x[2], x[3] = 0, math.Inf(1), math.Inf(-1), -30
	for a := DefaultActivation; int(a) < len(activationNames); a++ {
		want := a.Apply(nil, FromSlice(1, len(x), append([]float64(nil), x...))).Data
		got := make([]float64, len(x))
		a.Eval(got, x)
		inPlace := append([]float64(nil), x...)
		a.Eval(inPlace, inPlace)
		for i := range x {
			if math.Float64bits(got[i]) != math.Float64bits(want[i]) || math.Float64bits(inPlace[i]) != math.Float64bits(want[i]) {
				t.Fatalf("%v at x=%v: got %v (in place %v), want %v", a, x[i], got[i], inPlace[i], want[i])
			}
		}
	}
	defer func() {
		if recover() == nil {
			t.Errorf("Eval with a short dst: got no panic")
		}
	}()
	Tanh.Eval(make([]float64, 1), x)
}
