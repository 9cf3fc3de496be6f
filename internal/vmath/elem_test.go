package vmath

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// logUniform returns per values log-uniform in magnitude in each range,
// with random signs if signed.
func logUniform(rng *rand.Rand, ranges [][2]float64, per int, signed bool) []float64 {
	var x []float64
	for _, r := range ranges {
		lo, hi := math.Log(r[0]), math.Log(r[1])
		for range per {
			v := math.Exp(lo + rng.Float64()*(hi-lo))
			if signed && rng.IntN(2) == 0 {
				v = -v
			}
			x = append(x, v)
		}
	}
	return x
}

// specials are the values every kernel is checked at besides the random
// ones: signed zeros, infinities, extremes, subnormals and the boundaries
// of the kernels' branches.
var specials = []float64{
	0, math.Copysign(0, -1), math.Inf(1), math.Inf(-1), math.MaxFloat64, -math.MaxFloat64,
	math.SmallestNonzeroFloat64, -math.SmallestNonzeroFloat64, 0x1p-1022, -0x1p-1022, 1e-300, -1e-300,
	1, -1, 2, -2, 0.5, -0.5, math.Sqrt2 - 1, math.Sqrt2/2 - 1, math.Nextafter(-1, 0), -1 + 0x1p-53,
	math.Ln2 / 2, -math.Ln2 / 2, 36, -36, 40, -40, 700, -700,
	709.78, 709.79, 709.7827128933839, 709.782712893384, 710, 711, 745.13, -708.4, -708.39, -709,
	-740, -745, -745.1332191019411, -745.1332191019412, -745.2, -746, -747, 1e10, -1e10, 1e300, -1e300,
}

// ulpDiff returns |got - want| in units of the spacing of float64 at want
// (2^-1074 in the subnormal range), for finite want.
func ulpDiff(got, want float64) float64 {
	_, e := math.Frexp(want)
	u := math.Ldexp(1, max(e-53, -1074))
	return math.Abs(got-want) / u
}

// sameSpecial reports whether got equals want where want is NaN, ±Inf or
// ±0 (signed zeros must match).
func sameSpecial(got, want float64) bool {
	switch {
	case math.IsNaN(want):
		return math.IsNaN(got)
	case want == 0:
		return got == 0 && math.Signbit(got) == math.Signbit(want)
	default:
		return got == want
	}
}

// refExp is exp(x) to within 1 ulp: expGo, the generic kernel's exp,
// which is math.Exp except above x = 709 (see expGo).
func refExp(x float64) float64 { return expGo(x) }

// refSoftplus and refSigmoid are the definitions with refExp.
func refSoftplus(x float64) float64 { return max(x, 0) + math.Log1p(refExp(-math.Abs(x))) }

func refSigmoid(x float64) float64 {
	t := refExp(-math.Abs(x))
	if x < 0 {
		return t / (1 + t)
	}
	return 1 / (1 + t)
}

// elemCases lists the unary kernels with their references, the inputs
// they are tested on, and the tolerance in ulp of the reference. Measured
// against 130-bit mpmath on 16,000–24,000 points over the same ranges, the
// assembly kernels are within 0.95 ulp (Exp), 0.75 (Log1p), 1.31
// (Softplus) and 1.81 (Sigmoid), the references within 1 ulp (math.Exp,
// math.Log1p) and 1.35–2 ulp (the compositions), so kernel and reference
// differ by less than 2, 2, 3 and 4 ulp.
var elemCases = []struct {
	name   string
	kernel func(dst, x []float64)
	ref    func(float64) float64
	ranges [][2]float64
	tol    float64
}{
	{"Exp", Exp, refExp, [][2]float64{{1e-300, 1e-8}, {1e-8, 1}, {1, 20}, {20, 700}, {700, 745.2}}, 2},
	{"Log1p", Log1p, math.Log1p, [][2]float64{{1e-300, 1e-8}, {1e-8, 0.29}, {0.29, 0.4143}, {0.4142, 1}, {1, 1e6}, {1e6, 1e300}}, 2},
	{"Softplus", Softplus, refSoftplus, [][2]float64{{1e-300, 1e-8}, {1e-8, 1}, {1, 40}, {40, 800}}, 3},
	{"Sigmoid", Sigmoid, refSigmoid, [][2]float64{{1e-300, 1e-8}, {1e-8, 1}, {1, 40}, {40, 800}}, 4},
}

func TestElemAgainstMath(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, c := range elemCases {
		x := append(logUniform(rng, c.ranges, 5000, true), specials...)
		if c.name == "Log1p" {
			// Log1p's domain is x >= -1: the random negative values above
			// 1 in magnitude all give NaN; add the interval (-1, 0).
			x = append(x, logUniform(rng, [][2]float64{{1e-300, 1e-8}, {1e-8, 0.29}, {0.29, 1}}, 5000, false)...)
			for i := len(x) - 15000; i < len(x); i++ {
				x[i] = -x[i]
			}
		}
		for _, name := range Implementations() {
			t.Run(c.name+"/"+name, func(t *testing.T) {
				useImpl(t, name)
				y := make([]float64, len(x))
				c.kernel(y, x)
				bad := 0
				for i, v := range x {
					got, want := y[i], c.ref(v)
					ok := sameSpecial(got, want)
					if !ok && !math.IsNaN(want) && !math.IsInf(want, 0) && want != 0 {
						ok = !math.IsNaN(got) && ulpDiff(got, want) <= c.tol
					}
					if !ok {
						t.Errorf("%s(%v): got %v, want %v (%.3g ulp > %v)", c.name, v, got, want, ulpDiff(got, want), c.tol)
						if bad++; bad > 10 {
							t.FailNow()
						}
					}
				}
				nan := []float64{math.NaN(), -math.NaN(), 1}
				c.kernel(nan, nan)
				if !math.IsNaN(nan[0]) || !math.IsNaN(nan[1]) {
					t.Errorf("%s(NaN): got %v, want NaN", c.name, nan[:2])
				}
			})
		}
	}
}

// TestElemSpecialValues checks the values the documentation promises.
func TestElemSpecialValues(t *testing.T) {
	inf, nan := math.Inf(1), math.NaN()
	negZero := math.Copysign(0, -1)
	for _, c := range []struct {
		name      string
		kernel    func(dst, x []float64)
		x, want   []float64
		mustExact bool
	}{
		{"Exp", Exp, []float64{0, negZero, inf, -inf, 709.79, -746, 1, 709.78}, []float64{1, 1, inf, 0, inf, 0, math.E, 1.7928227943945155e+308}, false},
		{"Log1p", Log1p, []float64{0, negZero, -1, -1.5, -inf, inf, 1e-300, -1e-300}, []float64{0, negZero, -inf, nan, nan, inf, 1e-300, -1e-300}, true},
		{"Softplus", Softplus, []float64{inf, -inf, 1000, -1000, 0}, []float64{inf, 0, 1000, 0, math.Ln2}, true},
		{"Sigmoid", Sigmoid, []float64{inf, -inf, 0, negZero, 40, -800}, []float64{1, 0, 0.5, 0.5, 1, 0}, true},
	} {
		for _, name := range Implementations() {
			useImpl(t, name)
			y := make([]float64, len(c.x))
			c.kernel(y, c.x)
			for i, v := range c.x {
				got, want := y[i], c.want[i]
				ok := sameSpecial(got, want)
				if !ok && !c.mustExact && !math.IsInf(want, 0) && !math.IsNaN(want) && want != 0 {
					ok = ulpDiff(got, want) <= 1 // see elemCases
				}
				if !ok {
					t.Errorf("%s: %s(%v): got %v, want %v", name, c.name, v, got, want)
				}
			}
		}
	}
}

// TestElemImplementationsAgree checks that the assembly kernels give the
// same bits, as their documentation says: the AVX2 and AVX-512 kernels do
// the same operations (the scaling by 2^k and the exponent extraction
// differ but are exact).
func TestElemImplementationsAgree(t *testing.T) {
	var asm []string
	for _, name := range Implementations() {
		if name != "generic" {
			asm = append(asm, name)
		}
	}
	if len(asm) < 2 {
		t.Skipf("only %v: nothing to compare", asm)
	}
	rng := rand.New(rand.NewPCG(11, 12))
	for _, c := range elemCases {
		x := append(logUniform(rng, c.ranges, 2000, true), specials...)
		var ref []float64
		for _, name := range asm {
			useImpl(t, name)
			y := make([]float64, len(x))
			c.kernel(y, x)
			if ref == nil {
				ref = y
				continue
			}
			for i := range x {
				if math.Float64bits(y[i]) != math.Float64bits(ref[i]) && !(math.IsNaN(y[i]) && math.IsNaN(ref[i])) {
					t.Fatalf("%s(%v): %s gives %v, %s %v", c.name, x[i], name, y[i], asm[0], ref[i])
				}
			}
		}
	}
}

// TestElemLengths checks every length around the vector widths, at every
// offset and in place: each value equals, bit for bit, the one computed in
// a long slice (no special path for the tail), and nothing past len(x) is
// written.
func TestElemLengths(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	x := make([]float64, 48)
	for i := range x {
		x[i] = 4 * rng.NormFloat64()
		if i%7 == 3 {
			x[i] = -1 + rng.Float64()
		}
	}
	for _, c := range elemCases {
		for _, name := range Implementations() {
			t.Run(c.name+"/"+name, func(t *testing.T) {
				useImpl(t, name)
				ref := make([]float64, len(x))
				c.kernel(ref, x)
				for n := 0; n <= 33; n++ {
					for off := 0; off+n <= len(x) && off < 9; off++ {
						dst := make([]float64, n+1)
						dst[n] = 42
						c.kernel(dst, x[off:off+n])
						inPlace := append([]float64(nil), x[off:off+n]...)
						c.kernel(inPlace, inPlace)
						for i := range n {
							if !sameBits(dst[i], ref[off+i]) || !sameBits(inPlace[i], ref[off+i]) {
								t.Fatalf("n=%d off=%d: value %d is %v (in place %v), in the long slice %v", n, off, i, dst[i], inPlace[i], ref[off+i])
							}
						}
						if dst[n] != 42 {
							t.Fatalf("n=%d off=%d: wrote past len(x)", n, off)
						}
					}
				}
			})
		}
	}
}

func sameBits(a, b float64) bool {
	return math.Float64bits(a) == math.Float64bits(b) || (math.IsNaN(a) && math.IsNaN(b))
}

// TestTanhGrad compares with the plain loop for every length up to 40,
// within the bound of TestAddTanhGrad (without a dst term): the loop
// rounds y², 1-y² and the product, the kernels 1-y² and the product.
func TestTanhGrad(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 7))
	for _, name := range Implementations() {
		t.Run(name, func(t *testing.T) {
			useImpl(t, name)
			for n := 0; n <= 40; n++ {
				dst, g, y := make([]float64, n+1), make([]float64, n), make([]float64, n)
				for i := range n {
					dst[i], g[i], y[i] = rng.NormFloat64(), rng.NormFloat64(), math.Tanh(2*rng.NormFloat64())
				}
				dst[n] = 42
				TanhGrad(dst[:n], g, y)
				for i := range n {
					want := g[i] * (1 - y[i]*y[i])
					if tol := 8 * 0x1p-53 * math.Abs(g[i]) * (1 + y[i]*y[i]); math.Abs(dst[i]-want) > tol {
						t.Fatalf("n=%d: dst[%d] = %v, want %v", n, i, dst[i], want)
					}
				}
				if dst[n] != 42 {
					t.Fatalf("n=%d: wrote past len(dst)", n)
				}
			}
		})
	}
}

// TestAdamStep compares every implementation with the Go loop over several
// steps, for every length up to 40. The kernels do the loop's operations in
// its order, rounding each once, so they agree with it exactly unless the
// compiler contracts the loop's multiply-adds into FMAs (GOAMD64=v3); the
// tolerance allows for that: a few roundings of the update and of x.
func TestAdamStep(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	c := &AdamConsts{Beta1: 0.9, OneMinusBeta1: 1 - 0.9, Beta2: 0.999, OneMinusBeta2: 1 - 0.999, Eps: 1e-8}
	for _, name := range Implementations() {
		t.Run(name, func(t *testing.T) {
			useImpl(t, name)
			for n := 0; n <= 40; n++ {
				x, g := make([]float64, n+1), make([]float64, n)
				m, v := make([]float64, n+1), make([]float64, n+1)
				for i := range n {
					x[i] = rng.NormFloat64()
				}
				x[n], m[n], v[n] = 42, 43, 44
				xr, mr, vr := append([]float64(nil), x[:n]...), make([]float64, n), make([]float64, n)
				for step := 1; step <= 3; step++ {
					for i := range g {
						g[i] = rng.NormFloat64() * math.Pow(10, float64(rng.IntN(7)-3))
					}
					c.Step = 1e-3 / (1 - math.Pow(0.9, float64(step)))
					c.InvSqrtBC2 = 1 / math.Sqrt(1-math.Pow(0.999, float64(step)))
					AdamStep(x[:n], g, m[:n], v[:n], c)
					adamGeneric(xr, g, mr, vr, c)
					for i := range n {
						// The update is at most Step·(1-β1)/√(1-β2)·√(1-β2ᵗ)-ish
						// in size; 8 roundings of 1e-2 bound the differences.
						if d := math.Abs(x[i] - xr[i]); d > 8*0x1p-52*(math.Abs(xr[i])+1e-2) {
							t.Fatalf("n=%d step %d: x[%d] = %v, want %v", n, step, i, x[i], xr[i])
						}
						if math.Abs(m[i]-mr[i]) > 4*0x1p-52*math.Abs(mr[i]) || math.Abs(v[i]-vr[i]) > 4*0x1p-52*math.Abs(vr[i]) {
							t.Fatalf("n=%d step %d: moments (%v, %v), want (%v, %v)", n, step, m[i], v[i], mr[i], vr[i])
						}
					}
				}
				if x[n] != 42 || m[n] != 43 || v[n] != 44 {
					t.Fatalf("n=%d: wrote past len(x)", n)
				}
			}
		})
	}
}

func TestElemNoAlloc(t *testing.T) {
	x, y := make([]float64, 37), make([]float64, 37)
	m, v := make([]float64, 37), make([]float64, 37)
	c := &AdamConsts{Beta1: 0.9, OneMinusBeta1: 0.1, Beta2: 0.999, OneMinusBeta2: 0.001, Step: 1e-3, InvSqrtBC2: 1, Eps: 1e-8}
	for _, name := range Implementations() {
		useImpl(t, name)
		for _, f := range []func(){
			func() { Exp(y, x) }, func() { Log1p(y, x) }, func() { Softplus(y, x) }, func() { Sigmoid(y, x) },
			func() { TanhGrad(y, x, x) }, func() { AdamStep(x, y, m, v, c) },
		} {
			if got := testing.AllocsPerRun(20, f); got != 0 {
				t.Errorf("%s: got %v allocations per call, want 0", name, got)
			}
		}
	}
}

func TestElemPanics(t *testing.T) {
	short, long := make([]float64, 2), make([]float64, 3)
	for _, f := range []func(){
		func() { Exp(short, long) }, func() { Log1p(short, long) }, func() { Softplus(short, long) },
		func() { Sigmoid(short, long) }, func() { TanhGrad(long, short, long) },
		func() { AdamStep(long, long, short, long, &AdamConsts{}) },
	} {
		func() {
			defer func() {
				if msg, ok := recover().(string); !ok || !strings.HasPrefix(msg, "vmath: ") {
					t.Errorf("got panic %v, want a \"vmath: ...\" message", msg)
				}
			}()
			f()
		}()
	}
}

func ExampleSoftplus() {
	x := []float64{-800, -20, -1, 0, 1, 20, 800}
	y := make([]float64, len(x))
	Softplus(y, x)
	for _, v := range y {
		fmt.Printf("%.6g ", v)
	}
	fmt.Println()
	// Output: 0 2.06115e-09 0.313262 0.693147 1.31326 20 800
}
