package flows

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/diff/fd"
)

// randomSplineParams returns 3K-1 unnormalised parameters with a spread large
// enough to give very uneven bins.
func randomSplineParams(k int, rng *rand.Rand) []float64 {
	u := make([]float64, splineParamsPerFeature(k))
	for i := range u {
		u[i] = 2 * rng.NormFloat64()
	}
	return u
}

var splineCases = []struct {
	name  string
	k     int
	bound float64
	scale float64
}{
	{"K1", 1, 3, 1},
	{"K2", 2, 1, 1},
	{"K5", 5, 3, 1},
	{"K10", 10, 3, 1},
	{"K10scaled", 10, 5, 1 / math.Sqrt(50)},
}

func TestSplineInverseOfForward(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 1))
	for _, tc := range splineCases {
		s := newRQSpline(tc.k, tc.bound, tc.scale)
		for rep := 0; rep < 50; rep++ {
			s.set(randomSplineParams(tc.k, rng))
			for i := 0; i < 100; i++ {
				x := (rng.Float64()*2 - 1) * (tc.bound + 1)
				y, l, _ := s.forward(x)
				xb, lb, _ := s.inverse(y)
				// The round trip loses ulp(y)/f'(x): the forward rounds y and the
				// inverse amplifies that by 1/f' <= 1/1e-3 (minimum derivative) in
				// the worst bins, so 1e-11·B; the invariant required of flows is 1e-9.
				if math.Abs(xb-x) > 1e-11*tc.bound {
					t.Fatalf("%s: inverse(forward(%v)) = %v, want %v", tc.name, x, xb, x)
				}
				if math.Abs(l+lb) > 1e-9 {
					t.Fatalf("%s: forward ladj %v + inverse ladj %v = %v, want 0", tc.name, l, lb, l+lb)
				}
			}
		}
	}
}

func TestSplineMonotoneAndLadj(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(2, 1))
	for _, tc := range splineCases {
		s := newRQSpline(tc.k, tc.bound, tc.scale)
		for rep := 0; rep < 20; rep++ {
			s.set(randomSplineParams(tc.k, rng))
			prev := math.Inf(-1)
			lo, hi := -tc.bound-1, tc.bound+1
			const n = 2000
			for i := 0; i <= n; i++ {
				x := lo + (hi-lo)*float64(i)/n
				y, l, _ := s.forward(x)
				if !(y > prev) {
					t.Fatalf("%s: not increasing at x=%v: y=%v, previous %v", tc.name, x, y, prev)
				}
				prev = y
				// Central difference with step h: truncation error O(h²·f'''),
				// rounding O(ulp/h); h = 1e-6 gives about 1e-7 relative accuracy
				// away from the knots where f''' jumps.
				const h = 1e-6
				yp, _, bp := s.forward(x + h)
				ym, _, bm := s.forward(x - h)
				if bp != bm {
					continue // straddles a knot: one-sided second derivatives differ
				}
				got := math.Exp(l)
				want := (yp - ym) / (2 * h)
				if math.Abs(got-want) > 1e-5*math.Max(1, want) {
					t.Fatalf("%s: dy/dx at %v: got exp(ladj) %v, want finite difference %v", tc.name, x, got, want)
				}
			}
		}
	}
}

func TestSplineKnotContinuity(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 1))
	for _, tc := range splineCases {
		s := newRQSpline(tc.k, tc.bound, tc.scale)
		for rep := 0; rep < 20; rep++ {
			s.set(randomSplineParams(tc.k, rng))
			// Every interior knot: the rational quadratics of the two adjacent
			// bins agree in value and slope exactly (up to rounding).
			for j := 1; j < tc.k; j++ {
				c := s.cw[j]
				yl, ll := s.evalBin(j-1, c)
				yr, lr := s.evalBin(j, c)
				// 1e-12·B: a few ulps of the interval; the slopes d_j are shared.
				if math.Abs(yr-yl) > 1e-12*tc.bound || math.Abs(yr-s.ch[j]) > 1e-12*tc.bound {
					t.Errorf("%s: value at knot %d (x=%v): left %v, right %v, knot %v", tc.name, j, c, yl, yr, s.ch[j])
				}
				if math.Abs(ll-lr) > 1e-9 || math.Abs(ll-math.Log(s.d[j])) > 1e-9 {
					t.Errorf("%s: log-slope at knot %d (x=%v): left %v, right %v, knot %v", tc.name, j, c, ll, lr, math.Log(s.d[j]))
				}
			}
			// The tail bounds: the spline meets the identity tails with value ±B
			// and slope 1.
			for _, c := range []float64{-tc.bound, tc.bound} {
				y, l, _ := s.forward(c)
				const eps = 1e-9
				yo, lo, _ := s.forward(c + math.Copysign(eps, c))
				if math.Abs(y-c) > 1e-12*tc.bound || math.Abs(l) > 1e-9 || yo != c+math.Copysign(eps, c) || lo != 0 {
					t.Errorf("%s: at the tail bound %v: y %v ladj %v; just outside y %v ladj %v", tc.name, c, y, l, yo, lo)
				}
			}
		}
	}
}

func TestSplineTailsIdentity(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(4, 1))
	s := newRQSpline(8, 2, 1)
	s.set(randomSplineParams(8, rng))
	for _, x := range []float64{-1e6, -10, -2.0000001, 2.0000001, 3, 1e6} {
		y, l, b := s.forward(x)
		if y != x || l != 0 || b != -1 {
			t.Errorf("forward(%v) = %v, %v, bin %d; want %v, 0, -1", x, y, l, b, x)
		}
		xb, lb, _ := s.inverse(x)
		if xb != x || lb != 0 {
			t.Errorf("inverse(%v) = %v, %v; want %v, 0", x, xb, lb, x)
		}
		g := make([]float64, splineParamsPerFeature(8))
		if gx := s.forwardBackward(g, x, 0.7, 0.3); gx != 0.7 {
			t.Errorf("tail gradient w.r.t. x = %v, want 0.7", gx)
		}
		for i, v := range g {
			if v != 0 {
				t.Errorf("tail gradient w.r.t. parameter %d = %v, want 0", i, v)
			}
		}
	}
	// The knots span exactly [-B, B] and the spline maps the interval onto itself.
	if s.cw[0] != -2 || s.cw[8] != 2 || s.ch[0] != -2 || s.ch[8] != 2 {
		t.Errorf("end knots = %v %v %v %v, want ±2", s.cw[0], s.cw[8], s.ch[0], s.ch[8])
	}
}

// relClose reports whether got and want agree to tol relative to max(1, |want|).
func relClose(got, want, tol float64) bool {
	return math.Abs(got-want) <= tol*math.Max(1, math.Abs(want))
}

func TestSplineGradients(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(5, 1))
	for _, tc := range splineCases {
		k := tc.k
		np := splineParamsPerFeature(k)
		s := newRQSpline(k, tc.bound, tc.scale)
		nFwd, nInv := 0, 0
		for rep := 0; rep < 60; rep++ {
			u := randomSplineParams(k, rng)
			x := (rng.Float64()*2 - 1) * tc.bound * 0.999
			s.set(u)
			if y, _, b := s.forward(x); nearKnot(s.cw, b, x) || nearKnot(s.ch, b, y) {
				// ladj is only C⁰ across a knot; finite differences that move a
				// knot past x (or y) would not be derivatives.
				continue
			}
			gy, gl := rng.NormFloat64(), rng.NormFloat64()

			// Forward: objective gy·y + gl·L as a function of (u, x).
			fwd := func(v []float64) float64 {
				s.set(v[:np])
				y, l, _ := s.forward(v[np])
				return gy*y + gl*l
			}
			v := append(append([]float64{}, u...), x)
			want := richardsonGradient(fwd, v)
			s.set(u)
			got := make([]float64, np+1)
			got[np] = s.forwardBackward(got[:np], x, gy, gl)
			nFwd++
			for i := range got {
				// Richardson-extrapolated central differences are accurate to
				// about 1e-8 relative here; 1e-6 leaves room for the steep,
				// ill-conditioned inverses of nearly flat bins.
				if !relClose(got[i], want[i], 1e-6) {
					t.Errorf("%s forward: d/dv[%d] = %v, want %v", tc.name, i, got[i], want[i])
				}
			}

			// Inverse: objective gx·x(y) + gl·Linv(y) as a function of (u, y).
			s.set(u)
			y, _, _ := s.forward(x)
			inv := func(v []float64) float64 {
				s.set(v[:np])
				xx, l, _ := s.inverse(v[np])
				return gy*xx + gl*l
			}
			w := append(append([]float64{}, u...), y)
			// Finite differences of the inverse are ill-conditioned where the
			// slope f'(x) is small (rounding and curvature grow like 1/f'), so
			// the inverse is checked only at slopes of at least 0.1.
			if _, lf, _ := s.forward(x); lf < math.Log(0.1) {
				continue
			}
			want = richardsonGradient(inv, w)
			s.set(u)
			xx, _, _ := s.inverse(y)
			for i := range got {
				got[i] = 0
			}
			got[np] = s.inverseBackward(got[:np], y, xx, gy, gl)
			nInv++
			for i := range got {
				if !relClose(got[i], want[i], 1e-6) {
					t.Errorf("%s inverse: d/dv[%d] = %v, want %v", tc.name, i, got[i], want[i])
				}
			}
		}
		// Guard against a vacuous test: most draws must have been checked.
		if nFwd < 20 || nInv < 10 {
			t.Errorf("%s: only %d forward and %d inverse gradient checks ran", tc.name, nFwd, nInv)
		}
	}
}

// richardsonGradient returns the gradient of f at x by central differences
// with steps h and h/2 combined by Richardson extrapolation (error O(h⁴)),
// with h = 1e-5·max(1, |x_i|): small enough not to move a knot across x (see
// nearKnot), large enough that rounding noise (amplified by the inverse's
// conditioning) stays near 1e-8.
func richardsonGradient(f func([]float64) float64, x []float64) []float64 {
	settings := func(h float64) *fd.Settings { return &fd.Settings{Formula: fd.Central, Step: h} }
	g := make([]float64, len(x))
	y := append([]float64{}, x...)
	for i := range x {
		h := 1e-5 * math.Max(1, math.Abs(x[i]))
		fi := func(v float64) float64 { y[i] = v; r := f(y); y[i] = x[i]; return r }
		d1 := fd.Derivative(fi, x[i], settings(h))
		d2 := fd.Derivative(fi, x[i], settings(h/2))
		g[i] = (4*d2 - d1) / 3
	}
	return g
}

// nearKnot reports whether v is within 1% of a bin width of the edges of bin
// b of knots c. A parameter step of 1e-5 moves a knot by at most
// 2B·1e-5/4 <= 1e-4 (B <= 5), below 1% of the smallest bin 2B·1e-3.
func nearKnot(c []float64, b int, v float64) bool {
	w := c[b+1] - c[b]
	return v-c[b] < 1e-2*w || c[b+1]-v < 1e-2*w
}
