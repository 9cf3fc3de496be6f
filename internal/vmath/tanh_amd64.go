//go:build amd64 && !purego

package vmath

import (
	"math"

	"golang.org/x/sys/cpu"
)

// Assembly kernels (tanh_amd64.s); tab is &tanhTab[0][0]. The AVX-512
// kernels take any n >= 0 (the last n mod 8 values under a mask), the AVX2
// ones a multiple of 4.

//go:noescape
func tanhAVX512(dst, x *float64, n int, tab *float64)

//go:noescape
//go:noescape
func tanhAVX2(dst, x *float64, n int, tab *float64)

//go:noescape
func addTanhGradAVX512(dst, grad, y *float64, n int, tab *float64)

//go:noescape
func addTanhGradAVX2(dst, grad, y *float64, n int, tab *float64)

// tanhTab holds the constants of the tanh kernels, each repeated 8 times
// (64 bytes) so that AVX-512 and AVX2 instructions can take them as
// full-width memory operands, in the order of the t... offsets of
// tanh_amd64.s (which are these indices times 64).
var tanhTab = func() (t [11 + len(tanhQ)][8]float64) {
	v := []float64{
		math.Float64frombits(0x7fffffffffffffff), // |x| mask
		math.Float64frombits(0x8000000000000000), // sign mask
		tanhClamp, tanhC, -0x1.fffffffffffffp-2, tanhMagic, tanhLn2Hi, tanhLn2Lo,
		1, 0.5, -0.5,
	}
	v = append(v, tanhQ[:]...)
	for i := range t {
		for j := range t[i] {
			t[i][j] = v[i]
		}
	}
	return t
}()

// cpuFeatures reports whether the processor and the operating system
// support AVX2 with FMA, and AVX-512F (golang.org/x/sys/cpu checks both the
// CPUID bits and the register state the OS enables).
func cpuFeatures() (avx2FMA, avx512 bool) {
	avx2FMA = cpu.X86.HasAVX2 && cpu.X86.HasFMA
	return avx2FMA, avx2FMA && cpu.X86.HasAVX512F
}

func init() {
	hasAVX2, hasAVX512 := cpuFeatures()
	if !hasAVX2 {
		return
	}
	impls = append([]*impl{{
		name:        "avx2",
		tanh:        tanhSliceAVX2,
		addTanhGrad: addTanhGradSliceAVX2,
		tanhGrad:    tanhGradSliceAVX2,
		exp:         unaryAVX2(expAVX2),
		log1p:       unaryAVX2(log1pAVX2),
		softplus:    unaryAVX2(softplusAVX2),
		sigmoid:     unaryAVX2(sigmoidAVX2),
		adam:        adamSliceAVX2,
	}}, impls...)
	if hasAVX512 {
		impls = append([]*impl{{
			name: "avx512",
			tanh: func(dst, x []float64) {
				tanhAVX512(&dst[0], &x[0], len(x), &tanhTab[0][0])
			},
			addTanhGrad: func(dst, g, y []float64) {
				addTanhGradAVX512(&dst[0], &g[0], &y[0], len(dst), &tanhTab[0][0])
			},
			tanhGrad: tanhGradSliceAVX512,
			exp:      unaryAVX512(expAVX512),
			log1p:    unaryAVX512(log1pAVX512),
			softplus: unaryAVX512(softplusAVX512),
			sigmoid:  unaryAVX512(sigmoidAVX512),
			adam:     adamSliceAVX512,
		}}, impls...)
	}
	active.Store(impls[0])
}

// tanhSliceAVX2 runs the 4-wide kernel on whole vectors and on a copy of
// the last partial one, so that every element goes through the kernel.
func tanhSliceAVX2(dst, x []float64) {
	n := len(x) &^ 3
	if n > 0 {
		tanhAVX2(&dst[0], &x[0], n, &tanhTab[0][0])
	}
	if r := len(x) - n; r > 0 {
		var buf [4]float64
		copy(buf[:], x[n:])
		tanhAVX2(&buf[0], &buf[0], 4, &tanhTab[0][0])
		copy(dst[n:], buf[:r])
	}
}

// addTanhGradSliceAVX2 runs the 4-wide kernel on whole vectors and on a
// copy of the last partial one.
func addTanhGradSliceAVX2(dst, g, y []float64) {
	n := len(dst) &^ 3
	if n > 0 {
		addTanhGradAVX2(&dst[0], &g[0], &y[0], n, &tanhTab[0][0])
	}
	if r := len(dst) - n; r > 0 {
		var bd, bg, by [4]float64
		copy(bd[:], dst[n:])
		copy(bg[:], g[n:])
		copy(by[:], y[n:])
		addTanhGradAVX2(&bd[0], &bg[0], &by[0], 4, &tanhTab[0][0])
		copy(dst[n:], bd[:r])
	}
}
