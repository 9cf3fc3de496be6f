package fdcheck

import (
	"math"
	"testing"
)

func TestGradient(t *testing.T) {
	// f(x, y) = sin(x)·exp(y) + x³, ∇f = (cos(x)·exp(y) + 3x², sin(x)·exp(y)).
	f := func(v []float64) float64 { return math.Sin(v[0])*math.Exp(v[1]) + v[0]*v[0]*v[0] }
	x := []float64{0.7, -0.3}
	want := []float64{math.Cos(0.7)*math.Exp(-0.3) + 3*0.49, math.Sin(0.7) * math.Exp(-0.3)}
	got := Gradient(f, x, 0)
	// Central differences with h = 6e-6 are accurate to about 1e-10 here.
	if e, at := RelErr(got, want, 1e-3); e > 1e-8 {
		t.Errorf("component %d: got %v, want %v (relative error %.3g)", at, got[at], want[at], e)
	}
	if x[0] != 0.7 || x[1] != -0.3 {
		t.Errorf("Gradient modified x: %v", x)
	}
}

func TestRelErr(t *testing.T) {
	for _, tc := range []struct {
		got, want []float64
		floor     float64
		err       float64
		at        int
	}{
		{[]float64{1, 2}, []float64{1, 2}, 0, 0, 0},
		{[]float64{1, 2.2}, []float64{1, 2}, 0, 0.2 / 2.2, 1},
		{[]float64{1e-9, 1}, []float64{2e-9, 1}, 1e-3, 1e-9 / 1e-3, 0},
		{[]float64{math.NaN()}, []float64{1}, 0, math.Inf(1), 0},
	} {
		err, at := RelErr(tc.got, tc.want, tc.floor)
		if math.Abs(err-tc.err) > 1e-15 || at != tc.at {
			t.Errorf("RelErr(%v, %v, %v): got (%v, %d), want (%v, %d)", tc.got, tc.want, tc.floor, err, at, tc.err, tc.at)
		}
	}
}
