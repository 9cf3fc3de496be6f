// Package vmath holds gosbi's vectorised elementwise kernels over float64
// slices, for the hot loops of the nn package. It has one so far: Tanh.
//
// On amd64 the kernels are written in Go assembly for AVX-512 (8 values at
// a time) and AVX2 with FMA (4 at a time), chosen at run time by CPUID;
// elsewhere, on older processors and with the purego build tag they fall
// back to the standard library (math.Tanh), which they match in accuracy.
//
// # Accuracy of Tanh
//
// The algorithm is described in tanh_amd64.s: an odd polynomial below
// |x| = 0.625, 1 - 2/(expm1(2|x|)+2) above, with expm1 by Cody–Waite
// reduction and a Taylor series. Against tanh computed with 120-bit mpmath
// on 64,000 points log-uniform in [1e-300, 20], both kernels stay within
// 1.27 ulp (maximum relative error 2.5e-16; math.Tanh: 1.36 ulp and
// 2.7e-16) with a mean of 0.25–0.36 ulp; they give exactly ±1 from
// |x| = 20, ±0 for ±0, ±1 for ±Inf and NaN for NaN. The two kernels can
// differ in the last bit, since AVX-512 refines a reciprocal estimate where
// AVX2 divides. Each value is computed the same way wherever it sits in the
// slice, so results do not depend on slice lengths or offsets.
package vmath
