package dist

import (
	"errors"
	"math"
	"testing"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat/distuv"
)

type bijCase struct {
	name   string
	lo, hi []float64
}

func bijCases() []bijCase {
	inf := math.Inf(1)
	return []bijCase{
		{"identity", []float64{-inf}, []float64{inf}},
		{"lower", []float64{2}, []float64{inf}},
		{"upper", []float64{-inf}, []float64{-1}},
		{"interval", []float64{-3}, []float64{5}},
		{"narrow interval", []float64{1}, []float64{1.001}},
		{"mixed", []float64{-inf, 0, -inf, -1, 100}, []float64{inf, inf, 3, 1, 110}},
	}
}

func mustBij(t *testing.T, lo, hi []float64) *Bijection {
	t.Helper()
	b, err := NewBijection(lo, hi)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestBijectionInvariants runs every bijection through the same checks on a
// grid of z in [-10, 10]: inverse of forward, forward plus inverse ladj is
// zero, and ladj equals log|det J| of a central finite-difference Jacobian
// with step h = 1e-6. The tolerance is 1e-6 (truncation error O(h²)) plus
// the rounding error of each diagonal entry, ε|x_j|/(2h|J_jj|), counted four
// times for margin: a narrow interval has a tiny Jacobian.
func TestBijectionInvariants(t *testing.T) {
	t.Parallel()
	for _, c := range bijCases() {
		b := mustBij(t, c.lo, c.hi)
		d := b.Dim()
		for k := -20; k <= 20; k++ {
			z := make([]float64, d)
			for i := range z {
				z[i] = float64(k)/2 + 0.37*float64(i) // spread the dimensions
				if z[i] > 10 {
					z[i] -= 20
				}
			}
			x := make([]float64, d)
			fwd := b.Forward(x, z)
			for i, v := range x {
				if !(v >= c.lo[i] && v <= c.hi[i]) {
					t.Fatalf("%s: Forward(%v)[%d] = %v outside [%v, %v]", c.name, z, i, v, c.lo[i], c.hi[i])
				}
			}
			z2 := make([]float64, d)
			inv := b.Inverse(z2, x)
			for i := range z {
				if !closeTo(z2[i], z[i], 1e-8) {
					t.Errorf("%s: Inverse(Forward(z))[%d]: got %.12g, want %.12g", c.name, i, z2[i], z[i])
				}
			}
			if math.Abs(fwd+inv) > 1e-8*math.Max(1, math.Abs(fwd)) {
				t.Errorf("%s: z = %v: forward ladj %v + inverse ladj %v != 0", c.name, z, fwd, inv)
			}
			// Finite-difference Jacobian dx/dz, then log|det|.
			const h = 1e-6
			jac := mat.NewDense(d, d, nil)
			xp, xm := make([]float64, d), make([]float64, d)
			for j := range d {
				zp := append([]float64(nil), z...)
				zm := append([]float64(nil), z...)
				zp[j] += h
				zm[j] -= h
				b.Forward(xp, zp)
				b.Forward(xm, zm)
				for i := range d {
					jac.Set(i, j, (xp[i]-xm[i])/(2*h))
				}
			}
			tol := 1e-6
			for j := range d {
				tol += 4 * 0x1p-52 * math.Abs(x[j]) / (2 * h * math.Abs(jac.At(j, j)))
			}
			logDet, _ := mat.LogDet(jac)
			if math.Abs(logDet-fwd) > tol {
				t.Errorf("%s: z = %v: ladj %v, finite-difference log|det J| %v (tolerance %.3g)", c.name, z, fwd, logDet, tol)
			}
		}
	}
}

// TestBijectionExtremes checks that large |z| gives no NaN, that infinite z
// lands on the bounds, that bounds map to ±Inf and that points outside the
// support give NaN.
func TestBijectionExtremes(t *testing.T) {
	t.Parallel()
	inf := math.Inf(1)
	b := mustBij(t, []float64{-3}, []float64{5})
	for _, z := range []float64{-1e308, -800, -50, 50, 800, 1e308} {
		x := []float64{0}
		ladj := b.Forward(x, []float64{z})
		if math.IsNaN(x[0]) || math.IsNaN(ladj) || math.IsInf(ladj, 0) {
			t.Errorf("interval Forward(%v): got x %v, ladj %v, want finite", z, x[0], ladj)
		}
		if x[0] < -3 || x[0] > 5 {
			t.Errorf("interval Forward(%v) = %v outside [-3, 5]", z, x[0])
		}
		gz := []float64{0}
		b.PullbackGrad(gz, []float64{z}, []float64{1})
		if math.IsNaN(gz[0]) {
			t.Errorf("interval PullbackGrad(%v) is NaN", z)
		}
	}
	tests := []struct {
		name       string
		lo, hi, z  float64
		wantX      float64
		wantLadjIn float64 // sign of the infinite forward ladj
	}{
		{"interval -Inf", -3, 5, -inf, -3, -1},
		{"interval +Inf", -3, 5, inf, 5, -1},
		{"lower -Inf", 2, inf, -inf, 2, -1},
		{"upper -Inf", -inf, -1, -inf, -1, -1},
	}
	for _, tt := range tests {
		b := mustBij(t, []float64{tt.lo}, []float64{tt.hi})
		x := []float64{0}
		ladj := b.Forward(x, []float64{tt.z})
		if x[0] != tt.wantX || !math.IsInf(ladj, int(tt.wantLadjIn)) {
			t.Errorf("%s: Forward: got x %v ladj %v, want x %v ladj %v·Inf", tt.name, x[0], ladj, tt.wantX, tt.wantLadjIn)
		}
		z := []float64{0}
		il := b.Inverse(z, []float64{tt.wantX})
		if !math.IsInf(z[0], int(math.Copysign(1, tt.z))) || !math.IsInf(il, 1) {
			t.Errorf("%s: Inverse(bound): got z %v ladj %v, want z %v, ladj +Inf", tt.name, z[0], il, tt.z)
		}
	}
	for _, c := range []struct {
		name   string
		lo, hi float64
		x      float64
	}{{"interval", -3, 5, 6}, {"lower", 2, inf, 1}, {"upper", -inf, -1, 0}} {
		b := mustBij(t, []float64{c.lo}, []float64{c.hi})
		z := []float64{0}
		if b.Inverse(z, []float64{c.x}); !math.IsNaN(z[0]) {
			t.Errorf("%s: Inverse of outside point %v: got %v, want NaN", c.name, c.x, z[0])
		}
	}
}

// quadTarget is f(x) = Σ_i a_i x_i + c_i x_i², with analytic gradient.
type quadTarget struct{ a, c []float64 }

func (q quadTarget) LogProb(x []float64) float64 {
	s := 0.0
	for i, v := range x {
		s += q.a[i]*v + q.c[i]*v*v
	}
	return s
}

func (q quadTarget) LogProbGrad(g, x []float64) float64 {
	for i, v := range x {
		g[i] = q.a[i] + 2*q.c[i]*v
	}
	return q.LogProb(x)
}

// TestPullbackGrad checks PullbackGrad and the Unconstrained gradient against
// central finite differences of f(T(z)) + ladj(z) with step 1e-6·max(1, |z|)
// (tolerance 1e-5 relative, see TestGradients).
func TestPullbackGrad(t *testing.T) {
	t.Parallel()
	for _, c := range bijCases() {
		b := mustBij(t, c.lo, c.hi)
		d := b.Dim()
		q := quadTarget{a: make([]float64, d), c: make([]float64, d)}
		for i := range d {
			q.a[i] = 0.3 * float64(i+1)
			q.c[i] = -0.01 * float64(i+1)
		}
		u := Unconstrained(q, b)
		ug, ok := u.(Gradienter)
		if !ok {
			t.Fatalf("%s: Unconstrained of a Gradienter is not a Gradienter", c.name)
		}
		rng := newRNG(21)
		for range 20 {
			z := make([]float64, d)
			for i := range z {
				z[i] = 2 * rng.NormFloat64()
			}
			x := make([]float64, d)
			b.Forward(x, z)
			gx := make([]float64, d)
			q.LogProbGrad(gx, x)
			gz := make([]float64, d)
			b.PullbackGrad(gz, z, gx)
			gu := make([]float64, d)
			lpu := ug.LogProbGrad(gu, z)
			if want := u.LogProb(z); !closeTo(lpu, want, 1e-14) {
				t.Errorf("%s: LogProbGrad value %v, LogProb %v", c.name, lpu, want)
			}
			f := func(z []float64) float64 {
				x := make([]float64, d)
				l := b.Forward(x, z)
				return q.LogProb(x) + l
			}
			for i := range d {
				fd := centralDiff(f, z, i, 1e-6*math.Max(1, math.Abs(z[i])))
				if !closeTo(gz[i], fd, 1e-5) {
					t.Errorf("%s: z = %v: PullbackGrad[%d] = %.10g, want %.10g (finite difference)", c.name, z, i, gz[i], fd)
				}
				if gu[i] != gz[i] {
					t.Errorf("%s: Unconstrained grad[%d] = %v, PullbackGrad %v", c.name, i, gu[i], gz[i])
				}
			}
		}
	}
}

// TestUnconstrainedIntegrates integrates exp(log q(z)) over z by composite
// Gauss-Legendre quadrature on [-40, 40] in 800 panels. The tails beyond
// ±40 hold less than e^-40 of the mass for these targets, so the integral
// must be 1 within 1e-9.
func TestUnconstrainedIntegrates(t *testing.T) {
	t.Parallel()
	beta, err := NewIndependent(distuv.Beta{Alpha: 2, Beta: 5})
	if err != nil {
		t.Fatal(err)
	}
	ln, _ := NewLogNormal([]float64{0.3}, []float64{0.8})
	nrm, _ := NewDiagNormal([]float64{1}, []float64{2})
	gam, _ := NewIndependent(distuv.Gamma{Alpha: 3, Beta: 2})
	box, _ := NewBoxUniform([]float64{-2}, []float64{7})
	for _, c := range []struct {
		name string
		d    Distribution
	}{{"Beta(2,5)", beta}, {"LogNormal", ln}, {"Normal", nrm}, {"Gamma", gam}, {"BoxUniform", box}} {
		u := Unconstrained(c.d, nil)
		f := func(z float64) float64 { return math.Exp(u.LogProb([]float64{z})) }
		if got := integrateEdges(f, linspace(-40, 40, 800)); math.Abs(got-1) > 1e-9 {
			t.Errorf("%s: got ∫q(z)dz = %.12f, want 1", c.name, got)
		}
	}
}

// logOnly hides every capability but LogProb.
type logOnly struct{ d LogProber }

func (l logOnly) LogProb(x []float64) float64 { return l.d.LogProb(x) }

// batchOnly has LogProb and LogProbBatch but no gradient.
type batchOnly struct{ d *Independent }

func (l batchOnly) LogProb(x []float64) float64 { return l.d.LogProb(x) }
func (l batchOnly) LogProbBatch(dst []float64, x *mat.Dense) []float64 {
	return l.d.LogProbBatch(dst, x)
}

// gradOnly has LogProb and LogProbGrad but no batch method.
type gradOnly struct{ d *Independent }

func (l gradOnly) LogProb(x []float64) float64        { return l.d.LogProb(x) }
func (l gradOnly) LogProbGrad(g, x []float64) float64 { return l.d.LogProbGrad(g, x) }

func TestUnconstrainedCapabilities(t *testing.T) {
	t.Parallel()
	ind, err := NewIndependent(distuv.Beta{Alpha: 2, Beta: 5}, distuv.Gamma{Alpha: 2, Beta: 1}, distuv.UnitNormal)
	if err != nil {
		t.Fatal(err)
	}
	b := BijectionFor(ind)
	tests := []struct {
		name          string
		target        LogProber
		grad, batched bool
	}{
		{"full", ind, true, true},
		{"log only", logOnly{ind}, false, false},
		{"batch only", batchOnly{ind}, false, true},
		{"grad only", gradOnly{ind}, true, false},
	}
	z := mat.NewDense(40, 3, nil)
	rng := newRNG(4)
	for i := range 40 {
		for j := range 3 {
			z.Set(i, j, 3*rng.NormFloat64())
		}
	}
	z.Set(0, 0, math.Inf(-1)) // maps onto a bound: log q = -Inf
	z.Set(1, 1, 1000)         // x = +Inf for the Gamma: log q = -Inf
	for _, tt := range tests {
		u := Unconstrained(tt.target, b)
		_, g := u.(Gradienter)
		_, bl := u.(BatchLogProber)
		if g != tt.grad || bl != tt.batched {
			t.Errorf("%s: got Gradienter %v BatchLogProber %v, want %v %v", tt.name, g, bl, tt.grad, tt.batched)
		}
		if dd, ok := u.(interface{ Dim() int }); !ok || dd.Dim() != 3 {
			t.Errorf("%s: Unconstrained has no Dim() = 3", tt.name)
		}
		got := LogProbs(u, z, nil)
		for i := range 40 {
			want := u.LogProb(z.RawRowView(i))
			if got[i] != want {
				t.Errorf("%s: row %d: LogProbs %v, LogProb %v", tt.name, i, got[i], want)
			}
			if math.IsNaN(want) {
				t.Errorf("%s: row %d: LogProb is NaN", tt.name, i)
			}
		}
		if !math.IsInf(got[0], -1) || !math.IsInf(got[1], -1) {
			t.Errorf("%s: got %v %v at the bounds, want -Inf", tt.name, got[0], got[1])
		}
	}
	mustPanic(t, "Unconstrained dim mismatch", func() { Unconstrained(ind, NewIdentityBijection(2)) })
}

func TestUnconstrainedNoAllocs(t *testing.T) {
	ind, _ := NewIndependent(distuv.Beta{Alpha: 2, Beta: 5}, distuv.Gamma{Alpha: 2, Beta: 1})
	u := Unconstrained(ind, nil)
	z := []float64{0.3, -0.2}
	g := make([]float64, 2)
	u.LogProb(z) // warm the pool
	if a := testing.AllocsPerRun(100, func() { u.LogProb(z) }); a != 0 {
		t.Errorf("LogProb allocates %v times", a)
	}
	if a := testing.AllocsPerRun(100, func() { u.(Gradienter).LogProbGrad(g, z) }); a != 0 {
		t.Errorf("LogProbGrad allocates %v times", a)
	}
}

func TestBijectionFor(t *testing.T) {
	t.Parallel()
	box, _ := NewBoxUniform([]float64{0, 1}, []float64{1, 2})
	nrm, _ := NewDiagNormal([]float64{0}, []float64{1})
	ln, _ := NewLogNormal([]float64{0}, []float64{1})
	tests := []struct {
		name     string
		d        any
		dim      int
		identity bool
	}{
		{"box", box, 2, false},
		{"normal", nrm, 1, true},
		{"lognormal", ln, 1, false},
		{"dim only", pointOnly{box}, 2, true},
	}
	for _, tt := range tests {
		b := BijectionFor(tt.d)
		if b.Dim() != tt.dim || b.IsIdentity() != tt.identity {
			t.Errorf("%s: got dim %d identity %v, want %d %v", tt.name, b.Dim(), b.IsIdentity(), tt.dim, tt.identity)
		}
	}
	// The box bijection maps onto the box.
	lo, hi := BijectionFor(box).Bounds()
	if !equalSlices(lo, []float64{0, 1}) || !equalSlices(hi, []float64{1, 2}) {
		t.Errorf("got bounds %v %v, want [0 1] [1 2]", lo, hi)
	}
	mustPanic(t, "BijectionFor(no Dim)", func() { BijectionFor(logOnly{box}) })
	mustPanic(t, "NewIdentityBijection(0)", func() { NewIdentityBijection(0) })
	mustPanic(t, "Forward wrong length", func() { BijectionFor(box).Forward(make([]float64, 2), make([]float64, 3)) })
}

func TestNewBijectionErrors(t *testing.T) {
	t.Parallel()
	inf, nan := math.Inf(1), math.NaN()
	tests := []struct {
		name   string
		lo, hi []float64
		want   error
	}{
		{"ok", []float64{-inf, 0}, []float64{inf, 1}, nil},
		{"empty", nil, nil, ErrDim},
		{"lengths", []float64{0}, []float64{1, 2}, ErrDim},
		{"lo = hi", []float64{1}, []float64{1}, ErrParam},
		{"lo > hi", []float64{2}, []float64{1}, ErrParam},
		{"NaN lo", []float64{nan}, []float64{1}, ErrParam},
		{"NaN hi", []float64{0}, []float64{nan}, ErrParam},
		{"lo = +Inf", []float64{inf}, []float64{inf}, ErrParam},
		{"hi = -Inf", []float64{-inf}, []float64{-inf}, ErrParam},
		{"width overflow", []float64{-math.MaxFloat64}, []float64{math.MaxFloat64}, ErrParam},
	}
	for _, tt := range tests {
		_, err := NewBijection(tt.lo, tt.hi)
		if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
			t.Errorf("%s: got error %v, want %v", tt.name, err, tt.want)
		}
	}
}

func TestBijectionBatch(t *testing.T) {
	t.Parallel()
	inf := math.Inf(1)
	b := mustBij(t, []float64{-inf, 0, -1}, []float64{inf, inf, 1})
	rng := newRNG(12)
	z := mat.NewDense(30, 3, nil)
	for i := range 30 {
		for j := range 3 {
			z.Set(i, j, 2*rng.NormFloat64())
		}
	}
	x := mat.NewDense(30, 3, nil)
	fl := b.ForwardBatch(x, z, nil)
	z2 := mat.NewDense(30, 3, nil)
	il := b.InverseBatch(z2, x, nil)
	for i := range 30 {
		xr := make([]float64, 3)
		if l := b.Forward(xr, z.RawRowView(i)); l != fl[i] || !equalSlices(xr, x.RawRowView(i)) {
			t.Errorf("row %d: ForwardBatch differs from Forward", i)
		}
		zr := make([]float64, 3)
		if l := b.Inverse(zr, x.RawRowView(i)); l != il[i] || !equalSlices(zr, z2.RawRowView(i)) {
			t.Errorf("row %d: InverseBatch differs from Inverse", i)
		}
	}
	// In place: x may be z.
	zc := mat.DenseCopyOf(z)
	b.ForwardBatch(zc, zc, nil)
	if !mat.Equal(zc, x) {
		t.Errorf("in-place ForwardBatch differs")
	}
}

// TestConcurrentUse checks that values sharing pooled scratch space give the
// same results when used from several goroutines (run with -race to also
// check for data races).
func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	const d = stackDim + 2 // large enough to use the Normal's pool
	std := make([]float64, d)
	for i := range std {
		std[i] = 1 + float64(i%3)
	}
	cov := mat.NewSymDense(d, nil)
	for i := range d {
		cov.SetSym(i, i, std[i]*std[i])
		if i > 0 {
			cov.SetSym(i, i-1, 0.3)
		}
	}
	nd, err := NewNormal(make([]float64, d), cov)
	if err != nil {
		t.Fatal(err)
	}
	lo, hi := make([]float64, d), make([]float64, d)
	for i := range d {
		lo[i], hi[i] = -10, 10
	}
	u := Unconstrained(nd, mustBij(t, lo, hi)).(Gradienter)
	pts := SampleN(nd, 64, newRNG(31))
	want := make([]float64, 64)
	for i := range want {
		want[i] = u.LogProbGrad(make([]float64, d), pts.RawRowView(i)) + nd.LogProb(pts.RawRowView(i))
	}
	done := make(chan []float64)
	for range 4 {
		go func() {
			got := make([]float64, 64)
			g := make([]float64, d)
			for i := range got {
				got[i] = u.LogProbGrad(g, pts.RawRowView(i)) + nd.LogProb(pts.RawRowView(i))
			}
			done <- got
		}()
	}
	for range 4 {
		if got := <-done; !equalSlices(got, want) {
			t.Errorf("concurrent results differ from serial ones")
		}
	}
}
