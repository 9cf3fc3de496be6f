//go:build amd64 && !purego

package vmath

import "golang.org/x/sys/cpu"

//go:noescape
func tanhAVX512(dst, x *float64, n int)

//go:noescape
func tanhAVX2(dst, x *float64, n int)

//go:noescape
func addTanhGradAVX512(dst, grad, y *float64, n int)

//go:noescape
func addTanhGradAVX2(dst, grad, y *float64, n int)

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
				tanhAVX512(&dst[0], &x[0], len(x))
			},
			addTanhGrad: func(dst, g, y []float64) {
				addTanhGradAVX512(&dst[0], &g[0], &y[0], len(dst))
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
		tanhAVX2(&dst[0], &x[0], n)
	}
	if r := len(x) - n; r > 0 {
		var buf [4]float64
		copy(buf[:], x[n:])
		tanhAVX2(&buf[0], &buf[0], 4)
		copy(dst[n:], buf[:r])
	}
}

// addTanhGradSliceAVX2 runs the 4-wide kernel on whole vectors and on a
// copy of the last partial one.
func addTanhGradSliceAVX2(dst, g, y []float64) {
	n := len(dst) &^ 3
	if n > 0 {
		addTanhGradAVX2(&dst[0], &g[0], &y[0], n)
	}
	if r := len(dst) - n; r > 0 {
		var bd, bg, by [4]float64
		copy(bd[:], dst[n:])
		copy(bg[:], g[n:])
		copy(by[:], y[n:])
		addTanhGradAVX2(&bd[0], &bg[0], &by[0], 4)
		copy(dst[n:], bd[:r])
	}
}
