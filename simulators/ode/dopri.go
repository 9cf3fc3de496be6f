package ode

import (
	"errors"
	"fmt"
	"math"
)

// Func evaluates the right-hand side of y' = f(t, y), writing f(t, y) into
// dydt. It must not modify y or keep a reference to y or dydt.
type Func func(t float64, y, dydt []float64)

// Sentinel errors returned (wrapped) by Solve. Test for them with errors.Is.
var (
	// ErrInput reports invalid arguments: mismatched lengths, output times
	// before t0, unsorted or non-finite output times, or bad settings.
	ErrInput = errors.New("ode: invalid input")
	// ErrStepSize reports that the step size fell below the resolution of t.
	ErrStepSize = errors.New("ode: step size too small")
	// ErrMaxSteps reports that Settings.MaxSteps steps were not enough.
	ErrMaxSteps = errors.New("ode: too many steps")
)

// Settings tune a DormandPrince solver. The zero value of every field means
// the documented default; a nil *Settings means all defaults.
type Settings struct {
	// RelTol is the relative tolerance of the local error, default 1e-6.
	RelTol float64
	// AbsTol is the absolute tolerance of the local error, default 1e-9.
	AbsTol float64
	// InitialStep is the first trial step. Zero selects it automatically with
	// the starting-step heuristic of Hairer et al. (section II.4).
	InitialStep float64
	// MaxStep bounds the step size; zero means no bound.
	MaxStep float64
	// MaxSteps bounds the number of attempted steps (accepted plus rejected)
	// of one Solve; default 100,000.
	MaxSteps int
	// FixedStep, when positive, switches error control off: the solver takes
	// steps of exactly this size (shortened only to land on output times).
	// It exists for convergence studies.
	FixedStep float64
}

// Stats counts the work of one Solve.
type Stats struct {
	Accepted int // accepted steps
	Rejected int // rejected steps
	Evals    int // evaluations of the right-hand side
}

// Dormand–Prince RK5(4) coefficients (Dormand and Prince 1980; Hairer et al.
// table II.5.2). The fifth-order weights b are the last row of a (FSAL).
const (
	c2, c3, c4, c5 = 1.0 / 5, 3.0 / 10, 4.0 / 5, 8.0 / 9

	a21 = 1.0 / 5

	a31, a32 = 3.0 / 40, 9.0 / 40

	a41, a42, a43 = 44.0 / 45, -56.0 / 15, 32.0 / 9

	a51, a52, a53, a54 = 19372.0 / 6561, -25360.0 / 2187, 64448.0 / 6561, -212.0 / 729

	a61, a62, a63, a64, a65 = 9017.0 / 3168, -355.0 / 33, 46732.0 / 5247, 49.0 / 176, -5103.0 / 18656

	a71, a73, a74, a75, a76 = 35.0 / 384, 500.0 / 1113, 125.0 / 192, -2187.0 / 6784, 11.0 / 84

	// e = b(5th order) - b*(4th order), the weights of the error estimate.
	e1, e3, e4, e5, e6, e7 = 71.0 / 57600, -71.0 / 16695, 71.0 / 1920, -17253.0 / 339200, 22.0 / 525, -1.0 / 40
)

// Step-size controller constants (Hairer et al., section II.4, eq. 4.13):
// h_new = h·min(facMax, max(facMin, safety·err^(-1/5))).
const (
	safety = 0.9
	facMin = 0.2
	facMax = 10.0
)

// DormandPrince is an adaptive Dormand–Prince RK5(4) solver for systems of a
// fixed dimension. It owns its scratch space; a value must not be used by two
// goroutines at once.
type DormandPrince struct {
	dim      int
	s        Settings
	y, ynew  []float64
	tmp, err []float64
	k        [7][]float64
}

// NewDormandPrince returns a solver for systems of dimension dim. It returns
// an error wrapping ErrInput when dim < 1 or a setting is negative or not
// finite.
func NewDormandPrince(dim int, s *Settings) (*DormandPrince, error) {
	if dim < 1 {
		return nil, fmt.Errorf("ode: dimension %d, want at least 1: %w", dim, ErrInput)
	}
	var set Settings
	if s != nil {
		set = *s
	}
	for _, v := range []struct {
		name string
		val  float64
	}{{"RelTol", set.RelTol}, {"AbsTol", set.AbsTol}, {"InitialStep", set.InitialStep}, {"MaxStep", set.MaxStep}, {"FixedStep", set.FixedStep}} {
		if v.val < 0 || math.IsNaN(v.val) || math.IsInf(v.val, 0) {
			return nil, fmt.Errorf("ode: %s = %v, want a finite non-negative number: %w", v.name, v.val, ErrInput)
		}
	}
	if set.MaxSteps < 0 {
		return nil, fmt.Errorf("ode: MaxSteps = %d, want non-negative: %w", set.MaxSteps, ErrInput)
	}
	if set.RelTol == 0 {
		set.RelTol = 1e-6
	}
	if set.AbsTol == 0 {
		set.AbsTol = 1e-9
	}
	if set.MaxSteps == 0 {
		set.MaxSteps = 100_000
	}
	dp := &DormandPrince{dim: dim, s: set}
	buf := make([]float64, 11*dim)
	next := func() []float64 {
		v := buf[:dim:dim]
		buf = buf[dim:]
		return v
	}
	dp.y, dp.ynew, dp.tmp, dp.err = next(), next(), next(), next()
	for i := range dp.k {
		dp.k[i] = next()
	}
	return dp, nil
}

// Dim returns the dimension of the systems the solver accepts.
func (dp *DormandPrince) Dim() int { return dp.dim }

// Solve integrates y' = f(t, y) from y(t0) = y0 and writes y(times[j]) into
// dst[j*dim : (j+1)*dim] for every output time, so len(dst) must be
// len(times)·dim. The output times must be finite, non-decreasing and not
// before t0; a time equal to t0 yields y0. Solve steps exactly onto every
// output time. It returns the work done and an error wrapping ErrInput,
// ErrStepSize or ErrMaxSteps on failure, in which case the rows of dst after
// the last time reached are left unspecified. Solve does not allocate.
func (dp *DormandPrince) Solve(f Func, t0 float64, y0, times, dst []float64) (Stats, error) {
	var st Stats
	n := dp.dim
	if len(y0) != n {
		return st, fmt.Errorf("ode: len(y0) = %d, want %d: %w", len(y0), n, ErrInput)
	}
	if len(dst) != len(times)*n {
		return st, fmt.Errorf("ode: len(dst) = %d, want len(times)·dim = %d: %w", len(dst), len(times)*n, ErrInput)
	}
	if math.IsNaN(t0) || math.IsInf(t0, 0) {
		return st, fmt.Errorf("ode: t0 = %v is not finite: %w", t0, ErrInput)
	}
	prev := t0
	for j, tj := range times {
		if math.IsNaN(tj) || math.IsInf(tj, 0) || tj < prev {
			return st, fmt.Errorf("ode: output time %d is %v, want finite, >= t0 and non-decreasing: %w", j, tj, ErrInput)
		}
		prev = tj
	}
	for i, v := range y0 {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return st, fmt.Errorf("ode: y0[%d] = %v is not finite: %w", i, v, ErrInput)
		}
	}
	if len(times) == 0 {
		return st, nil
	}

	y, k := dp.y, &dp.k
	copy(y, y0)
	t := t0
	f(t, y, k[0])
	st.Evals++

	tEnd := times[len(times)-1]
	h := dp.s.FixedStep
	if h == 0 {
		h = dp.s.InitialStep
		if h == 0 && tEnd > t0 {
			h = dp.initialStep(f, t, tEnd-t0)
			st.Evals++
		}
	}
	if dp.s.MaxStep > 0 {
		h = math.Min(h, dp.s.MaxStep)
	}

	attempts := 0
	for j, tj := range times {
		for t < tj {
			if attempts >= dp.s.MaxSteps {
				return st, fmt.Errorf("ode: %d steps did not reach t = %v (at t = %v): %w", attempts, tj, t, ErrMaxSteps)
			}
			attempts++
			// Land exactly on tj: take the remaining interval when the step
			// would overshoot it or stop just short of it.
			hTry, hit := h, false
			if t+1.01*h >= tj {
				hTry, hit = tj-t, true
			}
			if hTry <= 16*eps*math.Max(math.Abs(t), math.Abs(tj)) && !hit {
				return st, fmt.Errorf("ode: step size %g at t = %v: %w", hTry, t, ErrStepSize)
			}
			dp.step(f, t, hTry)
			st.Evals += 6
			if dp.s.FixedStep > 0 {
				st.Accepted++
				dp.accept(&t, hTry, tj, hit)
				continue
			}
			e := dp.errNorm()
			if e <= 1 {
				st.Accepted++
				dp.accept(&t, hTry, tj, hit)
				fac := facMax
				if e > 0 {
					fac = math.Min(facMax, math.Max(facMin, safety*math.Pow(e, -0.2)))
				}
				hNew := hTry * fac
				if hit {
					// A shortened landing step says little about the step the
					// problem allows; do not let it shrink the next one.
					hNew = math.Max(hNew, h)
				}
				h = hNew
			} else {
				st.Rejected++
				fac := facMin
				if !math.IsNaN(e) && !math.IsInf(e, 0) {
					fac = math.Max(facMin, safety*math.Pow(e, -0.2))
				}
				h = hTry * math.Min(1, fac)
				if h <= 16*eps*math.Abs(t) || h == 0 {
					return st, fmt.Errorf("ode: step size %g at t = %v after error estimate %g: %w", h, t, e, ErrStepSize)
				}
			}
			if dp.s.MaxStep > 0 {
				h = math.Min(h, dp.s.MaxStep)
			}
		}
		copy(dst[j*n:(j+1)*n], y)
	}
	return st, nil
}

const eps = 0x1p-52

// accept moves the state to the end of the step just taken; a landing step
// sets t to the output time exactly so that rounding cannot leave a sliver.
func (dp *DormandPrince) accept(t *float64, h, tj float64, hit bool) {
	if hit {
		*t = tj
	} else {
		*t += h
	}
	copy(dp.y, dp.ynew)
	dp.k[0], dp.k[6] = dp.k[6], dp.k[0] // FSAL: f(t+h, ynew) is the next k1
}

// step computes one Dormand–Prince step of size h from (t, dp.y) with
// dp.k[0] = f(t, y): the fifth-order result goes to dp.ynew, f at it to
// dp.k[6], and the error estimate (un-normalised) to dp.err.
func (dp *DormandPrince) step(f Func, t, h float64) {
	y, yt, k := dp.y, dp.tmp, &dp.k
	k1, k2, k3, k4, k5, k6, k7 := k[0], k[1], k[2], k[3], k[4], k[5], k[6]
	for i := range y {
		yt[i] = y[i] + h*a21*k1[i]
	}
	f(t+c2*h, yt, k2)
	for i := range y {
		yt[i] = y[i] + h*(a31*k1[i]+a32*k2[i])
	}
	f(t+c3*h, yt, k3)
	for i := range y {
		yt[i] = y[i] + h*(a41*k1[i]+a42*k2[i]+a43*k3[i])
	}
	f(t+c4*h, yt, k4)
	for i := range y {
		yt[i] = y[i] + h*(a51*k1[i]+a52*k2[i]+a53*k3[i]+a54*k4[i])
	}
	f(t+c5*h, yt, k5)
	for i := range y {
		yt[i] = y[i] + h*(a61*k1[i]+a62*k2[i]+a63*k3[i]+a64*k4[i]+a65*k5[i])
	}
	f(t+h, yt, k6)
	yn := dp.ynew
	for i := range y {
		yn[i] = y[i] + h*(a71*k1[i]+a73*k3[i]+a74*k4[i]+a75*k5[i]+a76*k6[i])
	}
	f(t+h, yn, k7)
	e := dp.err
	for i := range y {
		e[i] = h * (e1*k1[i] + e3*k3[i] + e4*k4[i] + e5*k5[i] + e6*k6[i] + e7*k7[i])
	}
}

// errNorm is the root-mean-square of err_i / (AbsTol + RelTol·max(|y_i|, |ynew_i|))
// (Hairer et al., eq. II.4.11). It is NaN or +Inf when the step produced
// non-finite values.
func (dp *DormandPrince) errNorm() float64 {
	var sum float64
	for i, e := range dp.err {
		sc := dp.s.AbsTol + dp.s.RelTol*math.Max(math.Abs(dp.y[i]), math.Abs(dp.ynew[i]))
		r := e / sc
		sum += r * r
	}
	v := math.Sqrt(sum / float64(dp.dim))
	if math.IsNaN(v) {
		return math.Inf(1)
	}
	return v
}

// initialStep chooses the first step with the heuristic of Hairer et al.,
// section II.4 ("Starting step size"), for a method of order 5. It needs
// dp.k[0] = f(t, y) and evaluates f once more.
func (dp *DormandPrince) initialStep(f Func, t, span float64) float64 {
	y, f0, y1, f1 := dp.y, dp.k[0], dp.tmp, dp.k[1]
	var d0, d1 float64
	for i := range y {
		sc := dp.s.AbsTol + dp.s.RelTol*math.Abs(y[i])
		d0 += (y[i] / sc) * (y[i] / sc)
		d1 += (f0[i] / sc) * (f0[i] / sc)
	}
	nf := float64(dp.dim)
	d0, d1 = math.Sqrt(d0/nf), math.Sqrt(d1/nf)
	h0 := 1e-6
	if d0 >= 1e-5 && d1 >= 1e-5 {
		h0 = 0.01 * d0 / d1
	}
	h0 = math.Min(h0, span)
	for i := range y {
		y1[i] = y[i] + h0*f0[i]
	}
	f(t+h0, y1, f1)
	var d2 float64
	for i := range y {
		sc := dp.s.AbsTol + dp.s.RelTol*math.Abs(y[i])
		r := (f1[i] - f0[i]) / sc
		d2 += r * r
	}
	d2 = math.Sqrt(d2/nf) / h0
	var h1 float64
	if m := math.Max(d1, d2); m <= 1e-15 || math.IsNaN(m) {
		h1 = math.Max(1e-6, h0*1e-3)
	} else {
		h1 = math.Pow(0.01/m, 1.0/5)
	}
	return math.Min(math.Min(100*h0, h1), span)
}
