package flows

import (
	"math"
	"math/rand/v2"
	"testing"
)

// kernelCase runs one row kernel pair (value, backward) through a finite
// difference check of Σ gy∘out + Σ gl∘ladj w.r.t. the input and parameters.
type kernelCase struct {
	name string
	m    int // parameters per feature
	fwd  func(out, ladj, in, p []float64, ps, n, d int, feat []int)
	// back accumulates gradients w.r.t. in and p given gout, gl; out is fwd's output.
	back func(gin, gp, in, out, p, gout, gl []float64, ps, n, d int, feat []int)
	// inverse is the inverse kernel (fwd of the opposite direction).
	inverse func(out, ladj, in, p []float64, ps, n, d int, feat []int)
	spread  float64 // scale of random parameters
}

func kernelCases() []kernelCase {
	const k = 4
	s := newRQSpline(k, 3, 1)
	np := splineParamsPerFeature(k)
	tmp := make([]float64, np)
	return []kernelCase{
		{
			name: "affine forward", m: 2, spread: 1,
			fwd: affineForwardRowsAlloc,
			back: func(gin, gp, in, out, p, gout, gl []float64, ps, n, d int, feat []int) {
				sc, sg := affineScratchAlloc(p, ps, n, feat)
				affineForwardBack(sc, sg, gin, gp, in, p, gout, gl, ps, n, d, feat)
			},
			inverse: affineInverseRowsAlloc,
		},
		{
			name: "affine inverse", m: 2, spread: 1,
			fwd: affineInverseRowsAlloc,
			back: func(gin, gp, in, out, p, gout, gl []float64, ps, n, d int, feat []int) {
				sc, sg := affineScratchAlloc(p, ps, n, feat)
				affineInverseBack(sc, sg, gin, gp, out, p, gout, gl, ps, n, d, feat)
			},
			inverse: affineForwardRowsAlloc,
		},
		{
			name: "spline forward", m: np, spread: 0.5,
			fwd: func(out, ladj, in, p []float64, ps, n, d int, feat []int) {
				splineForwardRows(s, out, ladj, in, p, ps, n, d, feat)
			},
			back: func(gin, gp, in, out, p, gout, gl []float64, ps, n, d int, feat []int) {
				splineForwardBack(s, gin, gp, tmp, in, p, gout, gl, ps, n, d, feat)
			},
			inverse: func(out, ladj, in, p []float64, ps, n, d int, feat []int) {
				splineInverseRows(s, out, ladj, in, p, ps, n, d, feat)
			},
		},
		{
			name: "spline inverse", m: np, spread: 0.5,
			fwd: func(out, ladj, in, p []float64, ps, n, d int, feat []int) {
				splineInverseRows(s, out, ladj, in, p, ps, n, d, feat)
			},
			back: func(gin, gp, in, out, p, gout, gl []float64, ps, n, d int, feat []int) {
				splineInverseBack(s, gin, gp, tmp, out, in, p, gout, gl, ps, n, d, feat)
			},
			inverse: func(out, ladj, in, p []float64, ps, n, d int, feat []int) {
				splineForwardRows(s, out, ladj, in, p, ps, n, d, feat)
			},
		},
	}
}

func TestRowKernels(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(8, 1))
	const n, d = 3, 4
	for _, tc := range kernelCases() {
		for _, feat := range [][]int{{0, 1, 2, 3}, {1, 3}, {2}, {1, 3, 0}} {
			for _, bcast := range []bool{false, true} {
				np := len(feat) * tc.m
				ps, prows := np, n
				if bcast {
					ps, prows = 0, 1 // one parameter row shared by all rows
				}
				in := make([]float64, n*d)
				for i := range in {
					in[i] = 1.5 * rng.NormFloat64() // some in the spline tails (|x| > 3)
				}
				in[0] = 4 // surely a tail
				p := make([]float64, prows*np)
				for i := range p {
					p[i] = tc.spread * rng.NormFloat64()
				}
				gout, gl := make([]float64, n*d), make([]float64, n)
				for i := range gout {
					gout[i] = rng.NormFloat64()
				}
				for i := range gl {
					gl[i] = rng.NormFloat64()
				}
				out, ladj := make([]float64, n*d), make([]float64, n)
				obj := func(v []float64) float64 {
					tc.fwd(out, ladj, v[:n*d], v[n*d:], ps, n, d, feat)
					var s float64
					for i := range out {
						s += gout[i] * out[i]
					}
					for i := range ladj {
						s += gl[i] * ladj[i]
					}
					return s
				}
				v := append(append([]float64{}, in...), p...)
				want := richardsonGradient(obj, v)
				tc.fwd(out, ladj, in, p, ps, n, d, feat)
				gin, gp := make([]float64, n*d), make([]float64, prows*np)
				for i := range gin {
					gin[i] = 0.25 // backward accumulates: start from a known value
				}
				tc.back(gin, gp, in, out, p, gout, gl, ps, n, d, feat)
				got := append(append([]float64{}, gin...), gp...)
				for i := 0; i < n*d; i++ {
					got[i] -= 0.25
				}
				for i := range got {
					// Richardson central differences: about 1e-8 relative here.
					if !relClose(got[i], want[i], 1e-6) {
						t.Errorf("%s feat %v broadcast %v: gradient[%d] = %v, want %v", tc.name, feat, bcast, i, got[i], want[i])
					}
				}
				// The opposite kernel undoes this one, including the log-det.
				back, bl := make([]float64, n*d), make([]float64, n)
				tc.inverse(back, bl, out, p, ps, n, d, feat)
				for i := range back {
					if math.Abs(back[i]-in[i]) > 1e-10 {
						t.Errorf("%s feat %v: round trip [%d] = %v, want %v", tc.name, feat, i, back[i], in[i])
					}
				}
				for i := range bl {
					if math.Abs(bl[i]+ladj[i]) > 1e-10 {
						t.Errorf("%s feat %v: ladj %v + inverse ladj %v, want 0", tc.name, feat, ladj[i], bl[i])
					}
				}
				// Also nil gradient slices are skipped without panicking.
				tc.back(nil, gp, in, out, p, gout, gl, ps, n, d, feat)
				tc.back(gin, nil, in, out, p, gout, gl, ps, n, d, feat)
			}
		}
	}
}

// affineScratchAlloc returns fresh scale (filled) and sigmoid scratch for
// the affine backward kernels.
func affineScratchAlloc(p []float64, ps, n int, feat []int) (sc, sg []float64) {
	qk := affineScaleRows(ps, n) * len(feat)
	sc = affineScales(make([]float64, qk), p, ps, n, feat)
	return sc, make([]float64, qk)
}

func affineForwardRowsAlloc(out, ladj, in, p []float64, ps, n, d int, feat []int) {
	affineForwardRows(make([]float64, affineScaleRows(ps, n)*len(feat)), out, ladj, in, p, ps, n, d, feat)
}

func affineInverseRowsAlloc(out, ladj, in, p []float64, ps, n, d int, feat []int) {
	affineInverseRows(make([]float64, affineScaleRows(ps, n)*len(feat)), out, ladj, in, p, ps, n, d, feat)
}
