package flows

import (
	"math"

	"github.com/gosbi/gosbi/internal/vmath"
)

// Row-wise kernels of the univariate transforms, on raw row-major slices.
// They are the value and gradient halves of the fused nn ops in ops.go.
//
// x and y are n×d; feat lists the transformed columns (the other columns pass
// through unchanged); p holds rows of len(feat)·m parameters, the m
// parameters of feature feat[j] in columns j·m … j·m+m-1, with row stride ps:
// ps = len(feat)·m for one parameter row per data row, ps = 0 for a single
// row broadcast to all (its gradient then sums over rows); ladj has length n.
// Backward kernels accumulate (+=) into the gradient slices, skipping nil ones.

// logProd accumulates Σ log s_j for positive s_j as a running product with
// occasional logarithms, one log per row instead of one per feature. The
// product is flushed into the sum before it can overflow or underflow.
type logProd struct{ p, l float64 }

func (a *logProd) mul(s float64) {
	a.p *= s
	if a.p > 1e150 || a.p < 1e-150 {
		a.l += math.Log(a.p)
		a.p = 1
	}
}

func (a *logProd) log() float64 { return a.l + math.Log(a.p) }

// affineMinScale is the lower bound of the affine scale, softplus(raw) + 1e-3
// as in sbi/nflows' masked affine autoregressive transform.
const affineMinScale = 1e-3

// affineScaleRows returns the number of parameter rows (n, or 1 when the
// parameters are broadcast, ps = 0): the rows of the scale scratch s.
func affineScaleRows(ps, n int) int {
	if ps == 0 {
		return 1
	}
	return n
}

// affineGatherRaw copies the raw scales p[r·ps + 2j] of the q parameter rows
// into the contiguous q×len(feat) slice dst.
func affineGatherRaw(dst, p []float64, ps, q int, feat []int) {
	k := len(feat)
	for r := 0; r < q; r++ {
		pr, dr := p[r*ps:r*ps+2*k], dst[r*k:(r+1)*k]
		for j := range dr {
			dr[j] = pr[2*j]
		}
	}
}

// affineScales sets s (q×len(feat), q = affineScaleRows(ps, n)) to the
// scales softplus(raw) + 1e-3, vectorised over the whole slice, and returns
// it trimmed to q·len(feat).
func affineScales(s, p []float64, ps, n int, feat []int) []float64 {
	q := affineScaleRows(ps, n)
	s = s[:q*len(feat)]
	affineGatherRaw(s, p, ps, q, feat)
	vmath.Softplus(s, s)
	for i := range s {
		s[i] += affineMinScale
	}
	return s
}

// affineSigmoids sets sg (q×len(feat)) to sigmoid(raw) = d softplus / d raw.
func affineSigmoids(sg, p []float64, ps, n int, feat []int) []float64 {
	q := affineScaleRows(ps, n)
	sg = sg[:q*len(feat)]
	affineGatherRaw(sg, p, ps, q, feat)
	vmath.Sigmoid(sg, sg)
	return sg
}

// affineScaleStride is the row stride in the scale scratch: len(feat), or 0
// for broadcast parameters.
func affineScaleStride(ps int, feat []int) int {
	if ps == 0 {
		return 0
	}
	return len(feat)
}

// affineForwardRows computes y = x·s + t on the transformed columns with
// s = softplus(raw) + 1e-3, and ladj = Σ log s. sc (at least
// affineScaleRows(ps, n)·len(feat) long) receives the scales s, which the
// backward kernels reuse.
func affineForwardRows(sc, y, ladj, x, p []float64, ps, n, d int, feat []int) {
	k := len(feat)
	m := 2 * k
	sc = affineScales(sc, p, ps, n, feat)
	ss := affineScaleStride(ps, feat)
	for r := 0; r < n; r++ {
		xr, yr, pr, sr := x[r*d:(r+1)*d], y[r*d:(r+1)*d], p[r*ps:r*ps+m], sc[r*ss:r*ss+k]
		copy(yr, xr)
		lp := logProd{p: 1}
		for j, f := range feat {
			s := sr[j]
			yr[f] = xr[f]*s + pr[2*j+1]
			lp.mul(s)
		}
		ladj[r] = lp.log()
	}
}

// affineForwardBack propagates gy (n×d) and gl (n) to gx and gp. sc holds
// the scales set by affineForwardRows; sg (as long) is scratch for the
// sigmoids, needed only when gp is non-nil.
func affineForwardBack(sc, sg, gx, gp, x, p, gy, gl []float64, ps, n, d int, feat []int) {
	k := len(feat)
	m := 2 * k
	ss := affineScaleStride(ps, feat)
	if gp != nil {
		sg = affineSigmoids(sg, p, ps, n, feat)
	}
	for r := 0; r < n; r++ {
		xr, gyr, sr := x[r*d:(r+1)*d], gy[r*d:(r+1)*d], sc[r*ss:r*ss+k]
		g := gl[r]
		if gx != nil {
			gxr := gx[r*d : (r+1)*d]
			for i, v := range gyr {
				gxr[i] += v // identity columns; transformed ones corrected below
			}
			for j, f := range feat {
				gxr[f] += gyr[f] * (sr[j] - 1)
			}
		}
		if gp != nil {
			gpr, sgr := gp[r*ps:r*ps+m], sg[r*ss:r*ss+k]
			for j, f := range feat {
				s := sr[j]
				gpr[2*j] += (gyr[f]*xr[f] + g/s) * sgr[j]
				gpr[2*j+1] += gyr[f]
			}
		}
	}
}

// affineInverseRows computes x = (y - t)/s on the transformed columns and
// ladj = -Σ log s; sc receives the scales as in affineForwardRows.
func affineInverseRows(sc, x, ladj, y, p []float64, ps, n, d int, feat []int) {
	k := len(feat)
	m := 2 * k
	sc = affineScales(sc, p, ps, n, feat)
	ss := affineScaleStride(ps, feat)
	for r := 0; r < n; r++ {
		xr, yr, pr, sr := x[r*d:(r+1)*d], y[r*d:(r+1)*d], p[r*ps:r*ps+m], sc[r*ss:r*ss+k]
		copy(xr, yr)
		lp := logProd{p: 1}
		for j, f := range feat {
			s := sr[j]
			xr[f] = (yr[f] - pr[2*j+1]) / s
			lp.mul(s)
		}
		ladj[r] = -lp.log()
	}
}

// affineInverseBack propagates gx (n×d, gradient w.r.t. the inverse's output
// x) and gl to gy and gp; x is the inverse's output. sc holds the scales set
// by affineInverseRows; sg is sigmoid scratch as in affineForwardBack.
func affineInverseBack(sc, sg, gy, gp, x, p, gx, gl []float64, ps, n, d int, feat []int) {
	k := len(feat)
	m := 2 * k
	ss := affineScaleStride(ps, feat)
	if gp != nil {
		sg = affineSigmoids(sg, p, ps, n, feat)
	}
	for r := 0; r < n; r++ {
		xr, gxr, sr := x[r*d:(r+1)*d], gx[r*d:(r+1)*d], sc[r*ss:r*ss+k]
		g := gl[r]
		if gy != nil {
			gyr := gy[r*d : (r+1)*d]
			for i, v := range gxr {
				gyr[i] += v
			}
			for j, f := range feat {
				gyr[f] += gxr[f] * (1/sr[j] - 1)
			}
		}
		if gp != nil {
			gpr, sgr := gp[r*ps:r*ps+m], sg[r*ss:r*ss+k]
			for j, f := range feat {
				s := sr[j]
				// x = (y-t)/s: dx/ds = -x/s, dx/dt = -1/s; ladj = -log s.
				gpr[2*j] += (-gxr[f]*xr[f]/s - g/s) * sgr[j]
				gpr[2*j+1] -= gxr[f] / s
			}
		}
	}
}

// splineForwardRows applies the spline s (scratch; K bins) to the
// transformed columns.
func splineForwardRows(s *rqSpline, y, ladj, x, p []float64, ps, n, d int, feat []int) {
	m := splineParamsPerFeature(s.k) * len(feat)
	np := splineParamsPerFeature(s.k)
	for r := 0; r < n; r++ {
		xr, yr, pr := x[r*d:(r+1)*d], y[r*d:(r+1)*d], p[r*ps:r*ps+m]
		copy(yr, xr)
		var l float64
		for j, f := range feat {
			if !s.inside(xr[f]) {
				continue // identity tails: parameters unused
			}
			s.set(pr[j*np : (j+1)*np])
			v, lj, _ := s.forward(xr[f])
			yr[f] = v
			l += lj
		}
		ladj[r] = l
	}
}

// splineForwardBack propagates gy and gl to gx and gp for splineForwardRows.
// gp must be non-nil (it is the scratch for the parameter gradient, which the
// spline math accumulates in any case) unless the caller only needs gx;
// tmp has length 3K-1.
func splineForwardBack(s *rqSpline, gx, gp, tmp, x, p, gy, gl []float64, ps, n, d int, feat []int) {
	np := splineParamsPerFeature(s.k)
	m := np * len(feat)
	for r := 0; r < n; r++ {
		xr, pr, gyr := x[r*d:(r+1)*d], p[r*ps:r*ps+m], gy[r*d:(r+1)*d]
		var gxr []float64
		if gx != nil {
			gxr = gx[r*d : (r+1)*d]
			for i, v := range gyr {
				gxr[i] += v // identity columns; transformed ones corrected below
			}
		}
		for j, f := range feat {
			xv := xr[f]
			if !s.inside(xv) {
				continue // tails: dy/dx = 1 (already added), no parameter gradient
			}
			s.set(pr[j*np : (j+1)*np])
			g := tmp
			if gp != nil {
				g = gp[r*ps+j*np : r*ps+(j+1)*np]
			}
			gxv := s.forwardBackward(g, xv, gyr[f], gl[r])
			if gxr != nil {
				gxr[f] += gxv - gyr[f]
			}
		}
	}
}

// splineInverseRows applies the inverse spline to the transformed columns.
func splineInverseRows(s *rqSpline, x, ladj, y, p []float64, ps, n, d int, feat []int) {
	np := splineParamsPerFeature(s.k)
	m := np * len(feat)
	for r := 0; r < n; r++ {
		xr, yr, pr := x[r*d:(r+1)*d], y[r*d:(r+1)*d], p[r*ps:r*ps+m]
		copy(xr, yr)
		var l float64
		for j, f := range feat {
			if !s.inside(yr[f]) {
				continue
			}
			s.set(pr[j*np : (j+1)*np])
			v, lj, _ := s.inverse(yr[f])
			xr[f] = v
			l += lj
		}
		ladj[r] = l
	}
}

// splineInverseBack propagates gx (w.r.t. the inverse's output x) and gl to
// gy and gp for splineInverseRows; x is the inverse's output.
func splineInverseBack(s *rqSpline, gy, gp, tmp, x, y, p, gx, gl []float64, ps, n, d int, feat []int) {
	np := splineParamsPerFeature(s.k)
	m := np * len(feat)
	for r := 0; r < n; r++ {
		xr, yr, pr, gxr := x[r*d:(r+1)*d], y[r*d:(r+1)*d], p[r*ps:r*ps+m], gx[r*d:(r+1)*d]
		var gyr []float64
		if gy != nil {
			gyr = gy[r*d : (r+1)*d]
			for i, v := range gxr {
				gyr[i] += v
			}
		}
		for j, f := range feat {
			yv := yr[f]
			if !s.inside(yv) {
				continue
			}
			s.set(pr[j*np : (j+1)*np])
			g := tmp
			if gp != nil {
				g = gp[r*ps+j*np : r*ps+(j+1)*np]
			}
			gyv := s.inverseBackward(g, yv, xr[f], gxr[f], gl[r])
			if gyr != nil {
				gyr[f] += gyv - gxr[f]
			}
		}
	}
}
