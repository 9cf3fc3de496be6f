package vmath

import (
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"
)

// tanhTol is the tolerance of a kernel against math.Tanh, relative to
// |math.Tanh(x)|: 3 ulp of 1 (3·2⁻⁵²), because measured against 200-bit
// arithmetic the kernels are within 1.46 ulp and math.Tanh within 1.35 ulp
// (see the package documentation), so they differ by less than 2.9 ulp. It
// is below the 1e-15 the nn package asks for.
const tanhTol = 3 * 0x1p-52

// tanhInputs returns values log-uniform in magnitude over each decade range
// that matters (subnormal and tiny values where tanh x = x, the polynomial
// range below 0.625, the expm1 range, the tails where tanh rounds to ±1),
// both signs, plus special and boundary values.
func tanhInputs(rng *rand.Rand, perRange int) []float64 {
	x := []float64{
		0, math.Copysign(0, -1), math.Inf(1), math.Inf(-1), math.MaxFloat64, -math.MaxFloat64,
		math.SmallestNonzeroFloat64, -math.SmallestNonzeroFloat64, 0x1p-1022, 1e-300,
		0.625, math.Nextafter(0.625, 0), math.Nextafter(0.625, 1), -0.625,
		19.06, 19.07, 20, math.Nextafter(20, 0), math.Nextafter(20, 30), 1e300, 710, -710,
		0.5 * math.Ln2, math.Ln2, 1, 2, 3,
	}
	for _, r := range [][2]float64{{1e-310, 1e-300}, {1e-300, 1e-8}, {1e-8, 0.1}, {0.1, 0.625}, {0.6, 0.65}, {0.625, 1}, {1, 3}, {3, 10}, {10, 25}, {25, 1e6}} {
		lo, hi := math.Log(r[0]), math.Log(r[1])
		for range perRange {
			v := math.Exp(lo + rng.Float64()*(hi-lo))
			if rng.IntN(2) == 0 {
				v = -v
			}
			x = append(x, v)
		}
	}
	return x
}

func TestTanhAgainstMath(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	x := tanhInputs(rng, 20000)
	for _, name := range Implementations() {
		t.Run(name, func(t *testing.T) {
			useImpl(t, name)
			y := make([]float64, len(x))
			Tanh(y, x)
			bad := 0
			for i, v := range x {
				got, want := y[i], math.Tanh(v)
				if math.Signbit(got) != math.Signbit(want) || !(math.Abs(got-want) <= tanhTol*math.Abs(want)) {
					t.Errorf("tanh(%v): got %v, want %v (rel. diff %.3g > %.3g)", v, got, want, math.Abs(got-want)/math.Abs(want), tanhTol)
					if bad++; bad > 10 {
						t.FailNow()
					}
				}
			}
			nan := []float64{math.NaN(), -math.NaN(), 1}
			Tanh(nan, nan)
			if !math.IsNaN(nan[0]) || !math.IsNaN(nan[1]) {
				t.Errorf("tanh(NaN): got %v, want NaN", nan[:2])
			}
		})
	}
}

// TestTanhLengths checks every length around the vector widths, at every
// offset into the data, and in place: each value must equal, bit for bit,
// the value computed for it in a long slice, whatever its position (no
// special path for the tail).
func TestTanhLengths(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	x := make([]float64, 64)
	for i := range x {
		x[i] = 3 * rng.NormFloat64()
	}
	for _, name := range Implementations() {
		t.Run(name, func(t *testing.T) {
			useImpl(t, name)
			ref := make([]float64, len(x))
			Tanh(ref, x)
			for n := 0; n <= 33; n++ {
				for off := 0; off+n <= len(x) && off < 9; off++ {
					dst := make([]float64, n+1)
					dst[n] = 42
					Tanh(dst, x[off:off+n])
					for i := range n {
						if math.Float64bits(dst[i]) != math.Float64bits(ref[off+i]) {
							t.Fatalf("n=%d off=%d: tanh(x[%d]) = %v, in the long slice %v", n, off, off+i, dst[i], ref[off+i])
						}
					}
					if dst[n] != 42 {
						t.Fatalf("n=%d off=%d: wrote past len(x)", n, off)
					}
					inPlace := append([]float64(nil), x[off:off+n]...)
					Tanh(inPlace, inPlace)
					for i := range n {
						if inPlace[i] != ref[off+i] {
							t.Fatalf("n=%d off=%d in place: got %v, want %v", n, off, inPlace[i], ref[off+i])
						}
					}
				}
			}
		})
	}
}

func TestTanhNoAlloc(t *testing.T) {
	x := make([]float64, 37)
	y := make([]float64, 37)
	for _, name := range Implementations() {
		useImpl(t, name)
		if got := testing.AllocsPerRun(20, func() { Tanh(y, x) }); got != 0 {
			t.Errorf("%s: got %v allocations per call, want 0", name, got)
		}
	}
}

func TestTanhPanics(t *testing.T) {
	defer func() {
		if msg, ok := recover().(string); !ok || !strings.HasPrefix(msg, "vmath: ") {
			t.Errorf("got panic %v, want a \"vmath: ...\" message", msg)
		}
	}()
	Tanh(make([]float64, 2), make([]float64, 3))
}

func ExampleTanh() {
	x := []float64{-2, -0.5, 0, 1e-9, 0.5, 2, 30}
	y := make([]float64, len(x))
	Tanh(y, x)
	for _, v := range y {
		fmt.Printf("%.6g ", v)
	}
	fmt.Println()
	// Output: -0.964028 -0.462117 0 1e-09 0.462117 0.964028 1
}

// TestAddTanhGrad compares with the plain loop for every length up to 40.
// The loop rounds y² (an error of u·y²·|g| after multiplying by g, large
// relative to 1-y² when y is near ±1), 1-y², the product and the sum: at
// most 3u·(|g|·(1+y²) + |dst|) in all, u = 2⁻⁵³; the kernels round only
// 1-y² and the fused update, so the two differ by at most 6u·(...); the
// tolerance is 8u·(...).
func TestAddTanhGrad(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, name := range Implementations() {
		t.Run(name, func(t *testing.T) {
			useImpl(t, name)
			for n := 0; n <= 40; n++ {
				dst, g, y := make([]float64, n+1), make([]float64, n), make([]float64, n)
				for i := range n {
					dst[i], g[i], y[i] = rng.NormFloat64(), rng.NormFloat64(), math.Tanh(2*rng.NormFloat64())
				}
				dst[n] = 42
				dst0 := append([]float64(nil), dst...)
				want := append([]float64(nil), dst...)
				for i := range n {
					want[i] += g[i] * (1 - y[i]*y[i])
				}
				AddTanhGrad(dst[:n], g, y)
				for i := range n {
					tol := 8 * 0x1p-53 * (math.Abs(g[i])*(1+y[i]*y[i]) + math.Abs(dst0[i]))
					if math.Abs(dst[i]-want[i]) > tol {
						t.Fatalf("n=%d: dst[%d] = %v, want %v", n, i, dst[i], want[i])
					}
				}
				if dst[n] != 42 {
					t.Fatalf("n=%d: wrote past len(dst)", n)
				}
			}
		})
	}
	defer func() {
		if msg, ok := recover().(string); !ok || !strings.HasPrefix(msg, "vmath: ") {
			t.Errorf("short g: got panic %v, want a \"vmath: ...\" message", msg)
		}
	}()
	AddTanhGrad(make([]float64, 3), make([]float64, 2), make([]float64, 3))
}

// tanhSweep returns the inputs of the accuracy tests: per values
// log-uniform in magnitude over each range (subnormals, the range where
// tanh x = x, the polynomial's range, the quotient's, the tail where tanh
// rounds to 1), with random signs, and runs of 64 consecutive float64
// values from a few points where the algorithm changes regime (n = 1, 2,
// H = 1).
func tanhSweep(rng *rand.Rand, per int) []float64 {
	x := logUniform(rng, [][2]float64{{1e-310, 1e-300}, {1e-300, 1e-8}, {1e-8, 0.01}, {0.01, 0.35}, {0.35, 1}, {1, 3}, {3, 10}, {10, 19.1}}, per, true)
	for _, v := range []float64{math.Ln2 / 2, math.Ln2, 0.5493061443340548} {
		for range 64 {
			x = append(x, v)
			v = math.Nextafter(v, 1)
		}
	}
	return x
}

// TestTanhAccuracy measures every implementation against tanhBig (200-bit
// arithmetic). The tolerance is 2 ulp of the result: the kernels measured
// at most 1.46 ulp (relative error 2.2e-16) on 1.2 million points of the
// same ranges (BenchmarkTanhAccuracy), math.Tanh 1.35 ulp (2.7e-16); the
// relative error must also stay below 3e-16, under the 4e-16 the flows
// package was promised.
func TestTanhAccuracy(t *testing.T) {
	per := 2000 // 16,000 points, about 0.3 s of 200-bit arithmetic
	if testing.Short() {
		per = 250
	}
	x := tanhSweep(rand.New(rand.NewPCG(7, 8)), per)
	want := make([]*big.Float, len(x))
	for i, v := range x {
		want[i] = tanhBig(v)
	}
	for _, name := range Implementations() {
		t.Run(name, func(t *testing.T) {
			useImpl(t, name)
			y := make([]float64, len(x))
			Tanh(y, x)
			for i, v := range x {
				ulps, rel := ulpErr(y[i], want[i])
				if ulps > 2 || (y[i] != 0 && rel > 3e-16) {
					t.Fatalf("tanh(%v): got %v, error %.3g ulp (relative %.3g), want <= 2 ulp and 3e-16", v, y[i], ulps, rel)
				}
			}
		})
	}
}

// TestTanhMatchesGo checks that the assembly kernels give the bits of
// tanhGo, the same algorithm in Go, everywhere: on the accuracy sweep, on
// special values and on runs of consecutive values.
func TestTanhMatchesGo(t *testing.T) {
	x := append(tanhSweep(rand.New(rand.NewPCG(9, 10)), 4000), tanhInputs(rand.New(rand.NewPCG(11, 12)), 200)...)
	x = append(x, math.NaN(), -math.NaN())
	for _, name := range Implementations() {
		if name == "generic" { // math.Tanh
			continue
		}
		t.Run(name, func(t *testing.T) {
			useImpl(t, name)
			y := make([]float64, len(x))
			Tanh(y, x)
			for i, v := range x {
				want := tanhGo(v)
				if math.Float64bits(y[i]) != math.Float64bits(want) && !(math.IsNaN(want) && math.IsNaN(y[i])) {
					t.Fatalf("tanh(%v): got %v, tanhGo %v", v, y[i], want)
				}
			}
		})
	}
}

// TestTanhMonotoneOdd checks on runs of consecutive float64 values that
// Tanh never decreases (random runs over [1e-4, 20], and runs across each
// point k·ln(2)/2 where the kernels' reduction changes its k, and across
// H = 1, 19.06 and the clamp at 20), and that tanh(-x) = -tanh(x) bit for
// bit.
func TestTanhMonotoneOdd(t *testing.T) {
	const run = 512
	rng := rand.New(rand.NewPCG(13, 14))
	var starts []float64
	for range 200 {
		starts = append(starts, math.Exp(math.Log(1e-4)+rng.Float64()*math.Log(20/1e-4)))
	}
	for k := 1; k <= 58; k++ {
		starts = append(starts, float64(k)*math.Ln2/2)
	}
	starts = append(starts, 0.5493061443340548, 19.06, 20)
	x := make([]float64, 0, len(starts)*run)
	for _, v := range starts {
		v = math.Nextafter(v, 0)
		for range run / 2 {
			v = math.Nextafter(v, 0)
		}
		for range run {
			x = append(x, v)
			v = math.Nextafter(v, 30)
		}
	}
	neg := make([]float64, len(x))
	for i, v := range x {
		neg[i] = -v
	}
	for _, name := range Implementations() {
		t.Run(name, func(t *testing.T) {
			useImpl(t, name)
			y, yn := make([]float64, len(x)), make([]float64, len(x))
			Tanh(y, x)
			Tanh(yn, neg)
			for i := range x {
				if i%run != 0 && y[i] < y[i-1] {
					t.Fatalf("tanh(%v) = %v < tanh(%v) = %v", x[i], y[i], x[i-1], y[i-1])
				}
				if yn[i] != -y[i] {
					t.Fatalf("tanh(%v) = %v, tanh(%v) = %v: not odd", x[i], y[i], neg[i], yn[i])
				}
			}
		})
	}
}

// TestTanhSpecial checks the values every implementation must give
// exactly: signed zeros, subnormals and tiny values (tanh x = x), ±1 from
// |x| = 19.1 (where tanh rounds to 1) up to ±Inf, and NaN.
func TestTanhSpecial(t *testing.T) {
	negZero := math.Copysign(0, -1)
	cases := []struct{ x, want float64 }{
		{0, 0}, {negZero, negZero},
		{math.SmallestNonzeroFloat64, math.SmallestNonzeroFloat64}, {-0x1p-1060, -0x1p-1060},
		{0x1p-1022, 0x1p-1022}, {1e-300, 1e-300}, {-1e-20, -1e-20},
		{19.1, 1}, {-19.1, -1}, {20, 1}, {math.Nextafter(20, 0), 1}, {21, 1}, {-710, -1},
		{math.MaxFloat64, 1}, {-math.MaxFloat64, -1}, {math.Inf(1), 1}, {math.Inf(-1), -1},
	}
	x := make([]float64, len(cases))
	for i, c := range cases {
		x[i] = c.x
	}
	for _, name := range Implementations() {
		t.Run(name, func(t *testing.T) {
			useImpl(t, name)
			y := make([]float64, len(x))
			Tanh(y, x)
			for i, c := range cases {
				if math.Float64bits(y[i]) != math.Float64bits(c.want) {
					t.Errorf("tanh(%v): got %v, want %v", c.x, y[i], c.want)
				}
			}
			nan := []float64{math.NaN(), -math.NaN()}
			Tanh(nan, nan)
			if !math.IsNaN(nan[0]) || !math.IsNaN(nan[1]) {
				t.Errorf("tanh(NaN): got %v, want NaN", nan)
			}
		})
	}
}
