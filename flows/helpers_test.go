package flows

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// madeConnectivity returns reach[o][i] = true when output o is connected to
// input i through some path of the masked layers (masks in×out row-major).
func madeConnectivity(masks [][]float64, sizes []int) [][]bool {
	// reach from each input: vector over the current layer's units.
	nIn := sizes[0]
	nOut := sizes[len(sizes)-1]
	out := make([][]bool, nOut)
	for o := range out {
		out[o] = make([]bool, nIn)
	}
	for i := 0; i < nIn; i++ {
		cur := make([]bool, nIn)
		cur[i] = true
		for l, m := range masks {
			nx := make([]bool, sizes[l+1])
			for a := 0; a < sizes[l]; a++ {
				if !cur[a] {
					continue
				}
				for b := 0; b < sizes[l+1]; b++ {
					if m[a*sizes[l+1]+b] != 0 {
						nx[b] = true
					}
				}
			}
			cur = nx
		}
		for o := 0; o < nOut; o++ {
			out[o][i] = cur[o]
		}
	}
	return out
}

func TestMADEMasksAutoregressive(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		d, h, layers, mult int
		context            bool
	}{
		{1, 5, 2, 2, false}, {1, 5, 2, 2, true}, {2, 50, 3, 2, true}, {3, 7, 2, 29, false},
		{5, 8, 3, 2, true}, {5, 3, 2, 2, false}, {10, 50, 3, 2, true}, {10, 50, 3, 2, false},
	} {
		in := madeInputDegrees(tc.d)
		hid := madeHiddenDegrees(tc.h, tc.d, tc.context)
		outDeg := madeOutputDegrees(tc.d, tc.mult)
		masks := [][]float64{madeMask(in, hid, false)}
		sizes := []int{tc.d, tc.h}
		for l := 1; l < tc.layers; l++ {
			masks = append(masks, madeMask(hid, hid, false))
			sizes = append(sizes, tc.h)
		}
		masks = append(masks, madeMask(hid, outDeg, true))
		sizes = append(sizes, len(outDeg))
		reach := madeConnectivity(masks, sizes)
		for o, row := range reach {
			feat := o / tc.mult
			for i, r := range row {
				// Output of feature f (degree f+1) may depend on input i (degree
				// i+1) only if i < f. With at least d-1 hidden units (enough for
				// every degree) every allowed connection exists.
				if r && i >= feat {
					t.Errorf("d=%d h=%d ctx=%v: output %d (feature %d) reaches input %d, want no path",
						tc.d, tc.h, tc.context, o, feat, i)
				}
				if !r && i < feat && tc.h >= tc.d {
					t.Errorf("d=%d h=%d ctx=%v: output %d (feature %d) does not reach input %d, want a path",
						tc.d, tc.h, tc.context, o, feat, i)
				}
			}
		}
		// With a context, every output must be reachable from some hidden unit
		// of the first layer (the context enters there unmasked): the first
		// feature's outputs connect to degree-0 units.
		if tc.context {
			ctxReach := make([]bool, tc.h)
			for j := range ctxReach {
				ctxReach[j] = true
			}
			for l := 1; l < len(masks); l++ {
				nx := make([]bool, sizes[l+1])
				for a := 0; a < sizes[l]; a++ {
					if !ctxReach[a] {
						continue
					}
					for b := 0; b < sizes[l+1]; b++ {
						if masks[l][a*sizes[l+1]+b] != 0 {
							nx[b] = true
						}
					}
				}
				ctxReach = nx
			}
			for o, r := range ctxReach {
				if !r {
					t.Errorf("d=%d h=%d: output %d not reached by the context", tc.d, tc.h, o)
				}
			}
		}
	}
}

func TestPermutations(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(6, 1))
	for _, d := range []int{1, 2, 7} {
		for _, p := range [][]int{randomPerm(d, rng), reversePerm(d)} {
			if err := checkPerm(p); err != nil {
				t.Fatalf("checkPerm(%v) = %v, want nil", p, err)
			}
			q := invertPerm(p)
			for i := range p {
				if q[p[i]] != i || p[q[i]] != i {
					t.Fatalf("invertPerm(%v) = %v is not the inverse", p, q)
				}
			}
			src := make([]float64, d)
			for i := range src {
				src[i] = float64(10 * i)
			}
			dst, back := make([]float64, d), make([]float64, d)
			permuteRow(dst, src, p)
			permuteRow(back, dst, q)
			for i := range src {
				if back[i] != src[i] {
					t.Fatalf("permute then inverse-permute: got %v, want %v", back, src)
				}
			}
		}
	}
	if got := reversePerm(3); got[0] != 2 || got[1] != 1 || got[2] != 0 {
		t.Errorf("reversePerm(3) = %v, want [2 1 0]", got)
	}
	for _, bad := range [][]int{{0, 0}, {1, 2}, {-1, 0}} {
		if checkPerm(bad) == nil {
			t.Errorf("checkPerm(%v) = nil, want an error", bad)
		}
	}
}

func TestLUHelpers(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(7, 1))
	for _, d := range []int{1, 2, 3, 6} {
		m := luTriSize(d)
		lower, upper, diag := make([]float64, m), make([]float64, m), make([]float64, d)
		for i := range lower {
			lower[i], upper[i] = rng.NormFloat64(), rng.NormFloat64()
		}
		for i := range diag {
			diag[i] = rng.NormFloat64()
		}
		l, u, w := make([]float64, d*d), make([]float64, d*d), make([]float64, d*d)
		luWeight(w, l, u, lower, upper, diag, d)
		W := mat.NewDense(d, d, w)
		// log|det W| from gonum's LU agrees with the parametrisation.
		got := luLogDet(diag)
		want, sign := mat.LogDet(W)
		if sign <= 0 || math.Abs(got-want) > 1e-10 {
			t.Errorf("d=%d: luLogDet = %v, want %v (sign %v)", d, got, want, sign)
		}
		// luSolveRow inverts y = W·x + b.
		x, b, y, tmp := make([]float64, d), make([]float64, d), make([]float64, d), make([]float64, d)
		for i := range x {
			x[i], b[i] = rng.NormFloat64(), rng.NormFloat64()
		}
		for i := 0; i < d; i++ {
			y[i] = b[i]
			for j := 0; j < d; j++ {
				y[i] += w[i*d+j] * x[j]
			}
		}
		xb := make([]float64, d)
		luSolveRow(xb, y, b, l, u, tmp, d)
		for i := range x {
			if math.Abs(xb[i]-x[i]) > 1e-9*(1+math.Abs(x[i])) {
				t.Errorf("d=%d: solve got %v, want %v", d, xb, x)
				break
			}
		}
		// luBackward against finite differences of the scalar
		// Σ G∘W + c·log|det W| for fixed random G and c.
		g := make([]float64, d*d)
		for i := range g {
			g[i] = rng.NormFloat64()
		}
		c := rng.NormFloat64()
		obj := func(v []float64) float64 {
			luWeight(w, l, u, v[:m], v[m:2*m], v[2*m:], d)
			s := c * luLogDet(v[2*m:])
			for i := range g {
				s += g[i] * w[i]
			}
			return s
		}
		v := append(append(append([]float64{}, lower...), upper...), diag...)
		wantG := richardsonGradient(obj, v)
		gl, gu, gd := make([]float64, m), make([]float64, m), make([]float64, d)
		luAssemble(l, u, lower, upper, diag, d)
		luBackward(gl, gu, gd, g, l, u, diag, c, d)
		gotG := append(append(append([]float64{}, gl...), gu...), gd...)
		for i := range gotG {
			// Richardson central differences of a polynomial-plus-softplus
			// function: accurate to about 1e-9.
			if !relClose(gotG[i], wantG[i], 1e-7) {
				t.Errorf("d=%d: luBackward gradient[%d] = %v, want %v", d, i, gotG[i], wantG[i])
			}
		}
	}
	// The identity initialisation gives U's diagonal exactly 1 (up to rounding).
	if got := softplus(luIdentityDiag) + luEps; math.Abs(got-1) > 1e-15 {
		t.Errorf("softplus(luIdentityDiag)+eps = %v, want 1", got)
	}
}

func TestMeanStd(t *testing.T) {
	t.Parallel()
	x := mat.NewDense(4, 3, []float64{
		1, 5, 1e9,
		2, 5, 1e9,
		3, 5, 1e9,
		4, 5, 1e9,
	})
	mean, std := meanStd(x)
	// Column 0: mean 2.5, unbiased variance (2.25+0.25+0.25+2.25)/3 = 5/3.
	wantMean := []float64{2.5, 5, 1e9}
	wantStd := []float64{math.Sqrt(5.0 / 3), 1, 1} // constant columns are guarded to 1
	for j := range mean {
		if math.Abs(mean[j]-wantMean[j]) > 1e-12*math.Abs(wantMean[j]) || math.Abs(std[j]-wantStd[j]) > 1e-12 {
			t.Errorf("column %d: got mean %v std %v, want %v %v", j, mean[j], std[j], wantMean[j], wantStd[j])
		}
	}
	// A single row cannot give a spread: std 1.
	_, std = meanStd(mat.NewDense(1, 2, []float64{3, 4}))
	if std[0] != 1 || std[1] != 1 {
		t.Errorf("one row: std = %v, want [1 1]", std)
	}
}
