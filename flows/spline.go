package flows

import "math"

// Monotonic rational-quadratic spline (Durkan, Bekasov, Murray & Papamakarios,
// "Neural Spline Flows", NeurIPS 2019, section 3.1 and appendix A), with linear
// (identity) tails outside [-B, B] as in nflows' unconstrained spline.
//
// One feature's spline is described by 3K-1 unnormalised numbers laid out as
//
//	[uw_0 … uw_{K-1} | uh_0 … uh_{K-1} | ud_0 … ud_{K-2}]
//
// Bin widths are softmax(scale·uw) mapped to w_k = m + (1-mK)·p_k (sums to one,
// every width at least m), scaled to [-B, B]; heights likewise. The K-1 interior
// knot derivatives are m + softplus(ud); the two boundary derivatives are 1 so
// that value and slope match the identity tails. m is minBin (widths, heights)
// or minDeriv (derivatives), both 1e-3 as in nflows.

const (
	// splineMinBin is the minimum bin width and height as a fraction of 2B.
	splineMinBin = 1e-3
	// splineMinDeriv is the minimum knot derivative.
	splineMinDeriv = 1e-3
)

// splineParamsPerFeature returns the number of unnormalised parameters of a
// K-bin spline with linear tails: K widths, K heights, K-1 interior derivatives.
func splineParamsPerFeature(k int) int { return 3*k - 1 }

// rqSpline holds the normalised knots of one spline, plus what the backward
// pass needs. It is a scratch object: set overwrites everything, so one value
// can be reused across features and rows without allocating. Its slices live
// in one buffer (see rqSplineOn), so a fused op can take its scratch from a
// tape's arena and stay safe for concurrent use.
type rqSpline struct {
	k     int
	bound float64
	scale float64 // multiplier applied to uw and uh before the softmax

	cw []float64 // K+1 knot abscissae, cw[0] = -B, cw[K] = B
	ch []float64 // K+1 knot ordinates, ch[0] = -B, ch[K] = B
	d  []float64 // K+1 knot derivatives, d[0] = d[K] = 1
	sd []float64 // K+1 sigmoid(ud) for interior knots (d softplus / d ud)
	pw []float64 // K softmax probabilities of the widths
	ph []float64 // K softmax probabilities of the heights
}

// splineScratchLen returns the buffer length rqSplineOn needs for K bins.
func splineScratchLen(k int) int { return 6*k + 4 }

// checkSplineConfig panics unless K bins on [-bound, bound] are valid.
func checkSplineConfig(k int, bound float64) {
	if k < 1 {
		panic("flows: spline needs at least one bin")
	}
	if !(bound > 0) || math.IsInf(bound, 0) {
		panic("flows: spline tail bound must be positive and finite")
	}
	if float64(k)*splineMinBin >= 1 {
		panic("flows: too many spline bins for the minimum bin size")
	}
}

// rqSplineOn returns a spline scratch whose slices live in buf, which must
// have length at least splineScratchLen(k).
func rqSplineOn(buf []float64, k int, bound, scale float64) rqSpline {
	checkSplineConfig(k, bound)
	s := rqSpline{k: k, bound: bound, scale: scale}
	s.cw, buf = buf[:k+1], buf[k+1:]
	s.ch, buf = buf[:k+1], buf[k+1:]
	s.d, buf = buf[:k+1], buf[k+1:]
	s.sd, buf = buf[:k+1], buf[k+1:]
	s.pw, buf = buf[:k], buf[k:]
	s.ph = buf[:k]
	return s
}

// newRQSpline returns a spline scratch with its own buffer.
func newRQSpline(k int, bound, scale float64) *rqSpline {
	checkSplineConfig(k, bound)
	s := rqSplineOn(make([]float64, splineScratchLen(k)), k, bound, scale)
	return &s
}

// softmaxInto writes softmax(scale·u) into p.
func softmaxInto(p, u []float64, scale float64) {
	mx := math.Inf(-1)
	for _, v := range u {
		if v*scale > mx {
			mx = v * scale
		}
	}
	var s float64
	for i, v := range u {
		e := math.Exp(v*scale - mx)
		p[i] = e
		s += e
	}
	inv := 1 / s
	for i := range p {
		p[i] *= inv
	}
}

// knotsInto writes the K+1 knots from softmax probabilities p into c.
func knotsInto(c, p []float64, bound float64) {
	k := len(p)
	a := 1 - splineMinBin*float64(k)
	var cum float64
	c[0] = -bound
	for i := 0; i < k-1; i++ {
		cum += splineMinBin + a*p[i]
		c[i+1] = 2*bound*cum - bound
	}
	c[k] = bound
}

// softplus returns log(1+exp(x)) without overflow.
func softplus(x float64) float64 {
	if x > 0 {
		return x + math.Log1p(math.Exp(-x))
	}
	return math.Log1p(math.Exp(x))
}

// sigmoid returns 1/(1+exp(-x)).
func sigmoid(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + math.Exp(-x))
	}
	e := math.Exp(x)
	return e / (1 + e)
}

// set normalises the 3K-1 unnormalised parameters u of one feature.
func (s *rqSpline) set(u []float64) {
	k := s.k
	if len(u) != 3*k-1 {
		panic("flows: spline parameter length mismatch")
	}
	softmaxInto(s.pw, u[:k], s.scale)
	softmaxInto(s.ph, u[k:2*k], s.scale)
	knotsInto(s.cw, s.pw, s.bound)
	knotsInto(s.ch, s.ph, s.bound)
	s.d[0], s.d[k] = 1, 1
	for i := 1; i < k; i++ {
		v := u[2*k+i-1]
		s.d[i] = splineMinDeriv + softplus(v)
		s.sd[i] = sigmoid(v)
	}
}

// findBin returns the bin of v among knots c (c[0] <= v <= c[K] assumed).
func findBin(c []float64, v float64) int {
	k := len(c) - 1
	// Linear scan: K is small (about 10) and the knots are sorted.
	b := 0
	for b < k-1 && v >= c[b+1] {
		b++
	}
	return b
}

// inside reports whether v is in the spline's interval [-B, B]; outside it the
// spline is the identity.
func (s *rqSpline) inside(v float64) bool { return v >= -s.bound && v <= s.bound }

// binQuantities returns x_k, w_k, y_k, h_k, d_k, d_{k+1} of bin b.
func (s *rqSpline) binQuantities(b int) (xk, wk, yk, hk, dk, dk1 float64) {
	xk, yk = s.cw[b], s.ch[b]
	return xk, s.cw[b+1] - xk, yk, s.ch[b+1] - yk, s.d[b], s.d[b+1]
}

// forward maps x to y and returns log(dy/dx) and the bin (-1 in the tails).
func (s *rqSpline) forward(x float64) (y, ladj float64, bin int) {
	if !s.inside(x) {
		return x, 0, -1
	}
	b := findBin(s.cw, x)
	y, ladj = s.evalBin(b, x)
	return y, ladj, b
}

// evalBin evaluates the rational quadratic of bin b and its log-derivative at x.
func (s *rqSpline) evalBin(b int, x float64) (y, ladj float64) {
	xk, wk, yk, hk, dk, dk1 := s.binQuantities(b)
	sl := hk / wk
	xi := (x - xk) / wk
	t := xi * (1 - xi)
	den := sl + (dk+dk1-2*sl)*t
	y = yk + hk*(sl*xi*xi+dk*t)/den
	m := dk1*xi*xi + 2*sl*t + dk*(1-xi)*(1-xi)
	ladj = 2*math.Log(sl) + math.Log(m) - 2*math.Log(den)
	return y, ladj
}

// inverse maps y back to x and returns log(dx/dy) = -log(dy/dx) at x, and the
// bin (-1 in the tails).
func (s *rqSpline) inverse(y float64) (x, ladj float64, bin int) {
	if !s.inside(y) {
		return y, 0, -1
	}
	b := findBin(s.ch, y)
	xk, wk, yk, hk, dk, dk1 := s.binQuantities(b)
	sl := hk / wk
	dy := y - yk
	q := dk + dk1 - 2*sl
	a := hk*(sl-dk) + dy*q
	bb := hk*dk - dy*q
	c := -sl * dy
	disc := bb*bb - 4*a*c
	if disc < 0 {
		disc = 0
	}
	// The numerically stable root of a·ξ² + b·ξ + c = 0 in [0, 1].
	xi := 2 * c / (-bb - math.Sqrt(disc))
	if xi < 0 {
		xi = 0
	} else if xi > 1 {
		xi = 1
	}
	// One Newton step on ξ polishes the closed-form root, which loses a few
	// digits to cancellation in nearly flat or nearly linear bins.
	t := xi * (1 - xi)
	den := sl + q*t
	m := dk1*xi*xi + 2*sl*t + dk*(1-xi)*(1-xi)
	fy := yk + hk*(sl*xi*xi+dk*t)/den
	if dfy := hk * sl * m / (den * den); dfy > 0 {
		if nx := xi - (fy-y)/dfy; nx >= 0 && nx <= 1 {
			xi = nx
			t = xi * (1 - xi)
			den = sl + q*t
			m = dk1*xi*xi + 2*sl*t + dk*(1-xi)*(1-xi)
		}
	}
	x = xi*wk + xk
	ladj = -(2*math.Log(sl) + math.Log(m) - 2*math.Log(den))
	return x, ladj, b
}

// binPartials holds the partial derivatives of a forward evaluation y(x) and
// L(x) = log dy/dx with respect to x and the six bin quantities.
type binPartials struct {
	fx, lx                       float64 // d/dx
	fxk, fwk, fyk, fhk, fdk, fd1 float64 // dy/d(bin quantity)
	lxk, lwk, lhk, ldk, ld1      float64 // dL/d(bin quantity); dL/dyk = 0
}

// partials evaluates y and L in bin b at x together with their partials.
func (s *rqSpline) partials(x float64, b int) binPartials {
	xk, wk, _, hk, dk, dk1 := s.binQuantities(b)
	sl := hk / wk
	xi := (x - xk) / wk
	t := xi * (1 - xi)
	q := dk + dk1 - 2*sl
	den := sl + q*t
	num := sl*xi*xi + dk*t
	m := dk1*xi*xi + 2*sl*t + dk*(1-xi)*(1-xi)
	den2 := den * den
	omx := 1 - 2*xi // dt/dxi

	// y = yk + hk·num/den.
	fsl := hk * (xi*xi*den - num*(1-2*t)) / den2 // ∂y/∂s at fixed hk
	fdk := hk * t * (den - num) / den2
	fd1 := -hk * num * t / den2
	fxi := hk * ((2*sl*xi+dk*omx)*den - num*q*omx) / den2
	fhkDirect := num / den

	// L = 2 log s + log m - 2 log den.
	lsl := 2/sl + 2*t/m - 2*(1-2*t)/den
	ldk := (1-xi)*(1-xi)/m - 2*t/den
	ld1 := xi*xi/m - 2*t/den
	lxi := (2*dk1*xi+2*sl*omx-2*dk*(1-xi))/m - 2*q*omx/den

	// s = hk/wk, xi = (x-xk)/wk.
	var p binPartials
	p.fx = fxi / wk
	p.lx = lxi / wk
	p.fxk = -fxi / wk
	p.lxk = -lxi / wk
	p.fwk = -fxi*xi/wk - fsl*hk/(wk*wk)
	p.lwk = -lxi*xi/wk - lsl*hk/(wk*wk)
	p.fyk = 1
	p.fhk = fhkDirect + fsl/wk
	p.lhk = lsl / wk
	p.fdk, p.fd1 = fdk, fd1
	p.ldk, p.ld1 = ldk, ld1
	return p
}

// accumulate adds to g (length 3K-1, laid out as the unnormalised parameters)
// the gradient of cy·y + cl·L with respect to the unnormalised parameters,
// where y and L are evaluated in bin b with partials p.
func (s *rqSpline) accumulate(g []float64, b int, p *binPartials, cy, cl float64) {
	k := s.k
	// Gradients w.r.t. the bin quantities.
	gxk := cy*p.fxk + cl*p.lxk
	gwk := cy*p.fwk + cl*p.lwk
	gyk := cy * p.fyk
	ghk := cy*p.fhk + cl*p.lhk
	gdk := cy*p.fdk + cl*p.ldk
	gd1 := cy*p.fd1 + cl*p.ld1

	// x_k = cw[b], w_k = cw[b+1]-cw[b]; cw[0] and cw[K] are constants.
	s.backKnots(g[:k], s.pw, b, gxk-gwk, gwk)
	s.backKnots(g[k:2*k], s.ph, b, gyk-ghk, ghk)
	if b >= 1 {
		g[2*k+b-1] += gdk * s.sd[b]
	}
	if b+1 <= k-1 {
		g[2*k+b] += gd1 * s.sd[b+1]
	}
}

// backKnots propagates gradients ga w.r.t. knot c[b] and gb w.r.t. c[b+1]
// through c[j] = -B + 2B·Σ_{i<j} (m + (1-mK)·p_i) and p = softmax(scale·u),
// accumulating into gu.
func (s *rqSpline) backKnots(gu, p []float64, b int, ga, gb float64) {
	k := s.k
	c := 2 * s.bound * (1 - splineMinBin*float64(k))
	// g_p[i] = c·(ga·[i < b]·[1 <= b <= K-1] + gb·[i < b+1]·[b+1 <= K-1]).
	if b < 1 {
		ga = 0
	}
	if b+1 > k-1 {
		gb = 0
	}
	if ga == 0 && gb == 0 {
		return
	}
	// dot = Σ p_i g_p[i].
	var dot float64
	for i := 0; i <= b && i < k; i++ {
		gi := gb
		if i < b {
			gi += ga
		}
		dot += p[i] * gi * c
	}
	for i := 0; i < k; i++ {
		var gi float64
		if i < b {
			gi = ga + gb
		} else if i == b {
			gi = gb
		}
		gu[i] += s.scale * p[i] * (gi*c - dot)
	}
}

// forwardBackward adds to gu the gradient, w.r.t. the unnormalised parameters,
// of gy·y(x) + gl·L(x) for the forward spline, and returns its gradient w.r.t. x.
// In the tails y = x and L = 0.
func (s *rqSpline) forwardBackward(gu []float64, x, gy, gl float64) (gx float64) {
	if !s.inside(x) {
		return gy
	}
	b := findBin(s.cw, x)
	p := s.partials(x, b)
	s.accumulate(gu, b, &p, gy, gl)
	return gy*p.fx + gl*p.lx
}

// inverseBackward adds to gu the gradient, w.r.t. the unnormalised parameters,
// of gx·x(y) + gl·Linv(y) for the inverse spline x = f⁻¹(y) with log-derivative
// Linv(y) = -L(x), and returns its gradient w.r.t. y. x must be the inverse of
// y computed by inverse (it is passed in to avoid solving again).
//
// By the implicit function theorem, with f(x, q) = y: dx/dy = 1/f_x,
// dx/dq = -f_q/f_x, and dLinv/dq = -(L_q + L_x·dx/dq).
func (s *rqSpline) inverseBackward(gu []float64, y, x, gx, gl float64) (gy float64) {
	if !s.inside(y) {
		return gx
	}
	b := findBin(s.ch, y)
	p := s.partials(x, b)
	cy := (gl*p.lx - gx) / p.fx
	s.accumulate(gu, b, &p, cy, -gl)
	return -cy
}
