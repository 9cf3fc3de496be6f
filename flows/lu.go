package flows

import "math"

// LU parametrisation of an invertible D×D matrix (Kingma & Dhariwal, "Glow",
// NeurIPS 2018, section 3.2; nflows' LULinear): W = L·U with L unit lower
// triangular and U upper triangular with diagonal softplus(r) + luEps > 0, so
// log|det W| = Σ log(softplus(r_i) + luEps) and W is always invertible.
// The free entries are stored as flat vectors: the D(D-1)/2 strictly lower
// entries of L and strictly upper entries of U, row-major.

// luEps is the lower bound of U's diagonal (nflows' default 1e-3).
const luEps = 1e-3

// luIdentityDiag is the raw diagonal value r with softplus(r)+luEps = 1.
var luIdentityDiag = math.Log(math.Expm1(1 - luEps))

// luTriSize returns the number of strictly lower (or upper) entries of a d×d matrix.
func luTriSize(d int) int { return d * (d - 1) / 2 }

// luAssemble writes L and U (d×d row-major) from the free parameters.
func luAssemble(l, u []float64, lower, upper, diagRaw []float64, d int) {
	for i := range l {
		l[i], u[i] = 0, 0
	}
	li, ui := 0, 0
	for i := 0; i < d; i++ {
		for j := 0; j < i; j++ {
			l[i*d+j] = lower[li]
			li++
		}
		l[i*d+i] = 1
		u[i*d+i] = softplus(diagRaw[i]) + luEps
		for j := i + 1; j < d; j++ {
			u[i*d+j] = upper[ui]
			ui++
		}
	}
}

// luWeight writes W = L·U (d×d row-major) into w, using l and u as scratch.
func luWeight(w, l, u []float64, lower, upper, diagRaw []float64, d int) {
	luAssemble(l, u, lower, upper, diagRaw, d)
	for i := 0; i < d; i++ {
		for j := 0; j < d; j++ {
			var s float64
			// L[i,k] is zero for k > i; U[k,j] is zero for k > j.
			kmax := min(i, j)
			for k := 0; k <= kmax; k++ {
				s += l[i*d+k] * u[k*d+j]
			}
			w[i*d+j] = s
		}
	}
}

// luLogDet returns log|det W| = Σ log(softplus(r_i) + luEps).
func luLogDet(diagRaw []float64) float64 {
	var s float64
	for _, r := range diagRaw {
		s += math.Log(softplus(r) + luEps)
	}
	return s
}

// luBackward accumulates into gLower, gUpper, gDiag the gradient of a scalar
// with gradient gw (d×d row-major) w.r.t. W = L·U, plus gLogDet times the
// gradient of log|det W|. dL = gW·Uᵀ (strictly lower part), dU = Lᵀ·gW
// (upper part, the diagonal through softplus).
func luBackward(gLower, gUpper, gDiag []float64, gw, l, u []float64, diagRaw []float64, gLogDet float64, d int) {
	li, ui := 0, 0
	for i := 0; i < d; i++ {
		for j := 0; j < i; j++ { // (gW·Uᵀ)[i,j] = Σ_k gW[i,k]·U[j,k], k >= j
			var s float64
			for k := j; k < d; k++ {
				s += gw[i*d+k] * u[j*d+k]
			}
			gLower[li] += s
			li++
		}
		for j := i; j < d; j++ { // (Lᵀ·gW)[i,j] = Σ_k L[k,i]·gW[k,j], k >= i
			var s float64
			for k := i; k < d; k++ {
				s += l[k*d+i] * gw[k*d+j]
			}
			if j == i {
				diag := softplus(diagRaw[i]) + luEps
				gDiag[i] += (s + gLogDet/diag) * sigmoid(diagRaw[i])
			} else {
				gUpper[ui] += s
				ui++
			}
		}
	}
}

// luSolveRow solves x·Wᵀ = y - b for one row, i.e. W·x = y - b, by forward
// substitution with L then back substitution with U (a nil bias means zero).
// l and u come from luAssemble; tmp has length d. x and y may alias.
func luSolveRow(x, y, bias, l, u, tmp []float64, d int) {
	for i := 0; i < d; i++ { // L·z = y - b
		s := y[i]
		if bias != nil {
			s -= bias[i]
		}
		for k := 0; k < i; k++ {
			s -= l[i*d+k] * tmp[k]
		}
		tmp[i] = s
	}
	for i := d - 1; i >= 0; i-- { // U·x = z
		s := tmp[i]
		for k := i + 1; k < d; k++ {
			s -= u[i*d+k] * tmp[k]
		}
		tmp[i] = s / u[i*d+i]
	}
	copy(x, tmp[:d])
}
