package ode

import (
	"errors"
	"fmt"
	"math"
	"testing"
)

// rotation is y1' = y2, y2' = -y1 with y(0) = (1, 0): y(t) = (cos t, -sin t).
func rotation(_ float64, y, dydt []float64) {
	dydt[0] = y[1]
	dydt[1] = -y[0]
}

// logistic is y' = r·y·(1 - y/K), with the solution
// y(t) = K / (1 + (K/y0 - 1)·exp(-r·t)).
func logistic(r, k float64) (Func, func(y0, t float64) float64) {
	f := func(_ float64, y, dydt []float64) { dydt[0] = r * y[0] * (1 - y[0]/k) }
	exact := func(y0, t float64) float64 { return k / (1 + (k/y0-1)*math.Exp(-r*t)) }
	return f, exact
}

func mustSolver(t *testing.T, dim int, s *Settings) *DormandPrince {
	t.Helper()
	dp, err := NewDormandPrince(dim, s)
	if err != nil {
		t.Fatalf("NewDormandPrince: %v", err)
	}
	return dp
}

// TestFixedStepOrder checks the global error of the fifth-order solution
// falls as h^5: halving h divides the error by 2^5 = 32, so the observed
// order log2(e(h)/e(h/2)) must be close to 5. The window [4.7, 5.3] allows
// for the next term of the error expansion at these step sizes; a fourth-
// order method (a wrong weight) would give 4 and fail.
func TestFixedStepOrder(t *testing.T) {
	tests := []struct {
		name  string
		f     Func
		y0    []float64
		t1    float64
		exact func(t float64) []float64
	}{
		{"decay", func(_ float64, y, d []float64) { d[0] = -y[0] }, []float64{1}, 2,
			func(t float64) []float64 { return []float64{math.Exp(-t)} }},
		{"rotation", rotation, []float64{1, 0}, 2,
			func(t float64) []float64 { return []float64{math.Cos(t), -math.Sin(t)} }},
		{"logistic", func(_ float64, y, d []float64) { d[0] = y[0] * (1 - y[0]) }, []float64{0.1}, 2,
			func(t float64) []float64 { return []float64{1 / (1 + 9*math.Exp(-t))} }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var errs []float64
			for _, steps := range []int{8, 16, 32, 64} {
				dp := mustSolver(t, len(tc.y0), &Settings{FixedStep: tc.t1 / float64(steps)})
				dst := make([]float64, len(tc.y0))
				st, err := dp.Solve(tc.f, 0, tc.y0, []float64{tc.t1}, dst)
				if err != nil {
					t.Fatalf("Solve: %v", err)
				}
				if st.Accepted != steps {
					t.Errorf("steps = %d: got %d accepted steps, want %d", steps, st.Accepted, steps)
				}
				want := tc.exact(tc.t1)
				var e float64
				for i := range want {
					e = math.Max(e, math.Abs(dst[i]-want[i]))
				}
				errs = append(errs, e)
			}
			for i := 1; i < len(errs); i++ {
				order := math.Log2(errs[i-1] / errs[i])
				if order < 4.7 || order > 5.3 {
					t.Errorf("errors %g -> %g: got observed order %.3f, want 5 ± 0.3", errs[i-1], errs[i], order)
				}
			}
		})
	}
}

// TestErrorEstimateOrder checks the embedded error estimate of one step
// behaves as the local error of the fourth-order formula, O(h^5): halving h
// divides it by 32. A wrong error weight would leave an O(h) or O(h^2) term.
func TestErrorEstimateOrder(t *testing.T) {
	dp := mustSolver(t, 2, nil)
	var prev float64
	for i, h := range []float64{0.2, 0.1, 0.05, 0.025} {
		copy(dp.y, []float64{1, 0})
		rotation(0, dp.y, dp.k[0])
		dp.step(rotation, 0, h)
		e := math.Hypot(dp.err[0], dp.err[1])
		if i > 0 {
			if order := math.Log2(prev / e); order < 4.7 || order > 5.3 {
				t.Errorf("h = %g: got local error order %.3f, want 5 ± 0.3", h, order)
			}
		}
		prev = e
	}
}

// TestAdaptiveAccuracy checks that the global error of the adaptive solver
// scales with the tolerance. For these smooth, non-stiff problems the global
// error stays within a small multiple of the tolerance (the local error per
// step is at most tol, and the problems are contractive or neutral); the
// factor 20 is a generous bound on that accumulation over the interval.
func TestAdaptiveAccuracy(t *testing.T) {
	flog, exactLog := logistic(1.5, 10)
	times := []float64{0, 0.5, 1, 2, 3.3, 5, 8, 12}
	for _, tol := range []float64{1e-4, 1e-6, 1e-8, 1e-10} {
		t.Run(fmt.Sprintf("tol=%g", tol), func(t *testing.T) {
			s := &Settings{RelTol: tol, AbsTol: tol}
			// Logistic growth from 0.01 to the capacity 10.
			dp := mustSolver(t, 1, s)
			dst := make([]float64, len(times))
			if _, err := dp.Solve(flog, 0, []float64{0.01}, times, dst); err != nil {
				t.Fatalf("Solve logistic: %v", err)
			}
			for j, tj := range times {
				want := exactLog(0.01, tj)
				if got := dst[j]; math.Abs(got-want) > 20*tol*math.Max(1, want) {
					t.Errorf("logistic y(%v): got %.12g, want %.12g (tol %g)", tj, got, want, tol)
				}
			}
			// Harmonic oscillator over about 3 periods.
			dp2 := mustSolver(t, 2, s)
			dst2 := make([]float64, 2*len(times))
			if _, err := dp2.Solve(rotation, 0, []float64{1, 0}, times, dst2); err != nil {
				t.Fatalf("Solve rotation: %v", err)
			}
			for j, tj := range times {
				// The rotation is neutral, so errors add up over the steps;
				// allow one tolerance per unit of time on top.
				bound := 20 * tol * (1 + tj)
				if d := math.Hypot(dst2[2*j]-math.Cos(tj), dst2[2*j+1]+math.Sin(tj)); d > bound {
					t.Errorf("rotation y(%v): got error %g, want <= %g", tj, d, bound)
				}
			}
		})
	}
}

// TestTighterToleranceMoreSteps checks the step count grows as tol^(-1/5),
// the rate implied by a fifth-order error per step: a factor 1e-5 in
// tolerance should cost about 10x the steps. The window [4, 25] is wide
// because the count is an integer that includes the landing steps.
func TestTighterToleranceMoreSteps(t *testing.T) {
	var counts []int
	for _, tol := range []float64{1e-4, 1e-9} {
		dp := mustSolver(t, 2, &Settings{RelTol: tol, AbsTol: tol})
		dst := make([]float64, 2)
		st, err := dp.Solve(rotation, 0, []float64{1, 0}, []float64{20}, dst)
		if err != nil {
			t.Fatal(err)
		}
		counts = append(counts, st.Accepted)
	}
	if r := float64(counts[1]) / float64(counts[0]); r < 4 || r > 25 {
		t.Errorf("got step counts %v (ratio %.2f), want ratio about 10", counts, r)
	}
}

func TestOutputTimes(t *testing.T) {
	dp := mustSolver(t, 2, &Settings{RelTol: 1e-10, AbsTol: 1e-12})
	times := []float64{1, 1, 1, 1.5, 1.5000000001, 3}
	dst := make([]float64, 2*len(times))
	if _, err := dp.Solve(rotation, 1, []float64{1, 0}, times, dst); err != nil {
		t.Fatal(err)
	}
	for j, tj := range times {
		got := []float64{dst[2*j], dst[2*j+1]}
		want := []float64{math.Cos(tj - 1), -math.Sin(tj - 1)}
		for i := range got {
			if math.Abs(got[i]-want[i]) > 1e-8 {
				t.Errorf("y(%v)[%d]: got %.12g, want %.12g", tj, i, got[i], want[i])
			}
		}
	}
	// The first output time equals t0: exactly y0.
	if dst[0] != 1 || dst[1] != 0 {
		t.Errorf("y(t0): got %v, want exactly [1 0]", dst[:2])
	}
	// No output times: nothing to do, no error.
	if _, err := dp.Solve(rotation, 0, []float64{1, 0}, nil, nil); err != nil {
		t.Errorf("no output times: got error %v, want nil", err)
	}
}

func TestSolveErrors(t *testing.T) {
	blowUp := func(_ float64, y, d []float64) { d[0] = y[0] * y[0] } // y = 1/(1-t)
	nanRHS := func(t float64, y, d []float64) {
		d[0] = 1
		if t > 0.5 {
			d[0] = math.NaN()
		}
	}
	tests := []struct {
		name  string
		s     *Settings
		f     Func
		t0    float64
		y0    []float64
		times []float64
		dst   []float64
		want  error
	}{
		{"y0 length", nil, blowUp, 0, []float64{1, 2}, []float64{1}, make([]float64, 1), ErrInput},
		{"dst length", nil, blowUp, 0, []float64{1}, []float64{1}, make([]float64, 2), ErrInput},
		{"time before t0", nil, blowUp, 0, []float64{1}, []float64{-1}, make([]float64, 1), ErrInput},
		{"unsorted", nil, blowUp, 0, []float64{1}, []float64{0.5, 0.2}, make([]float64, 2), ErrInput},
		{"NaN time", nil, blowUp, 0, []float64{1}, []float64{math.NaN()}, make([]float64, 1), ErrInput},
		{"NaN y0", nil, blowUp, 0, []float64{math.NaN()}, []float64{1}, make([]float64, 1), ErrInput},
		{"Inf t0", nil, blowUp, math.Inf(-1), []float64{1}, []float64{1}, make([]float64, 1), ErrInput},
		{"blow-up", nil, blowUp, 0, []float64{1}, []float64{2}, make([]float64, 1), ErrStepSize},
		{"NaN rhs", nil, nanRHS, 0, []float64{0}, []float64{1}, make([]float64, 1), ErrStepSize},
		{"step budget", &Settings{MaxSteps: 5, RelTol: 1e-10}, rotation, 0, []float64{1, 0}, []float64{100}, make([]float64, 2), ErrMaxSteps},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dp := mustSolver(t, 1, tc.s)
			if len(tc.y0) == 2 && tc.name != "y0 length" {
				dp = mustSolver(t, 2, tc.s)
			}
			_, err := dp.Solve(tc.f, tc.t0, tc.y0, tc.times, tc.dst)
			if !errors.Is(err, tc.want) {
				t.Errorf("got error %v, want %v", err, tc.want)
			}
		})
	}
}

func TestNewDormandPrinceErrors(t *testing.T) {
	tests := []struct {
		name string
		dim  int
		s    *Settings
	}{
		{"zero dim", 0, nil},
		{"negative tol", 1, &Settings{RelTol: -1}},
		{"NaN abstol", 1, &Settings{AbsTol: math.NaN()}},
		{"Inf max step", 1, &Settings{MaxStep: math.Inf(1)}},
		{"negative steps", 1, &Settings{MaxSteps: -1}},
	}
	for _, tc := range tests {
		if _, err := NewDormandPrince(tc.dim, tc.s); !errors.Is(err, ErrInput) {
			t.Errorf("%s: got error %v, want ErrInput", tc.name, err)
		}
	}
}

func TestMaxStep(t *testing.T) {
	dp := mustSolver(t, 2, &Settings{MaxStep: 0.01})
	dst := make([]float64, 2)
	st, err := dp.Solve(rotation, 0, []float64{1, 0}, []float64{1}, dst)
	if err != nil {
		t.Fatal(err)
	}
	// 1 / 0.01 = 100 steps at least; the tolerance alone would take a handful.
	if st.Accepted < 100 {
		t.Errorf("got %d accepted steps, want at least 100 with MaxStep 0.01", st.Accepted)
	}
}

func TestSolveDoesNotAllocate(t *testing.T) {
	dp := mustSolver(t, 2, &Settings{RelTol: 1e-8, AbsTol: 1e-8})
	times := []float64{1, 2, 5}
	dst := make([]float64, 6)
	y0 := []float64{1, 0}
	allocs := testing.AllocsPerRun(20, func() {
		if _, err := dp.Solve(rotation, 0, y0, times, dst); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("got %v allocations per Solve, want 0", allocs)
	}
}

func ExampleDormandPrince_Solve() {
	// Exponential decay y' = -y from y(0) = 1, observed at t = 1 and 2.
	dp, err := NewDormandPrince(1, &Settings{RelTol: 1e-10, AbsTol: 1e-12})
	if err != nil {
		fmt.Println(err)
		return
	}
	decay := func(_ float64, y, dydt []float64) { dydt[0] = -y[0] }
	dst := make([]float64, 2)
	if _, err := dp.Solve(decay, 0, []float64{1}, []float64{1, 2}, dst); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("y(1) = %.8f (exp(-1) = %.8f)\n", dst[0], math.Exp(-1))
	fmt.Printf("y(2) = %.8f (exp(-2) = %.8f)\n", dst[1], math.Exp(-2))
	// Output:
	// y(1) = 0.36787944 (exp(-1) = 0.36787944)
	// y(2) = 0.13533528 (exp(-2) = 0.13533528)
}

func BenchmarkSolveLogistic(b *testing.B) {
	b.ReportAllocs()
	f, _ := logistic(1.5, 10)
	dp, err := NewDormandPrince(1, &Settings{RelTol: 1e-8, AbsTol: 1e-8})
	if err != nil {
		b.Fatal(err)
	}
	times := []float64{1, 5, 12}
	dst := make([]float64, 3)
	for b.Loop() {
		if _, err := dp.Solve(f, 0, []float64{0.01}, times, dst); err != nil {
			b.Fatal(err)
		}
	}
}
