//go:build amd64 && !purego

package gemm

//go:generate go run asm_gen.go -out kernel_amd64.s

// The micro-kernels of kernel_amd64.s; see asm_gen.go for their contract.

//go:noescape
func avx512Kern14x16P(k int, a *float64, sa int, b *float64, sb int, c *float64, ldc int, alpha, beta float64, h, w int)

//go:noescape
func avx512Kern14x16R(k int, a *float64, sa int, b *float64, sb int, c *float64, ldc int, alpha, beta float64, h, w int)

//go:noescape
func avx512Kern14x8P(k int, a *float64, sa int, b *float64, sb int, c *float64, ldc int, alpha, beta float64, h, w int)

//go:noescape
func avx512Kern14x8R(k int, a *float64, sa int, b *float64, sb int, c *float64, ldc int, alpha, beta float64, h, w int)

//go:noescape
func avx512Kern8x16P(k int, a *float64, sa int, b *float64, sb int, c *float64, ldc int, alpha, beta float64, h, w int)

//go:noescape
func avx512Kern8x16R(k int, a *float64, sa int, b *float64, sb int, c *float64, ldc int, alpha, beta float64, h, w int)

//go:noescape
func avx512Kern8x8P(k int, a *float64, sa int, b *float64, sb int, c *float64, ldc int, alpha, beta float64, h, w int)

//go:noescape
func avx512Kern8x8R(k int, a *float64, sa int, b *float64, sb int, c *float64, ldc int, alpha, beta float64, h, w int)

//go:noescape
func avx512Kern4x16P(k int, a *float64, sa int, b *float64, sb int, c *float64, ldc int, alpha, beta float64, h, w int)

//go:noescape
func avx512Kern4x16R(k int, a *float64, sa int, b *float64, sb int, c *float64, ldc int, alpha, beta float64, h, w int)

//go:noescape
func avx512Kern4x8P(k int, a *float64, sa int, b *float64, sb int, c *float64, ldc int, alpha, beta float64, h, w int)

//go:noescape
func avx512Kern4x8R(k int, a *float64, sa int, b *float64, sb int, c *float64, ldc int, alpha, beta float64, h, w int)

//go:noescape
func avx512Kern2x16P(k int, a *float64, sa int, b *float64, sb int, c *float64, ldc int, alpha, beta float64, h, w int)

//go:noescape
func avx512Kern2x16R(k int, a *float64, sa int, b *float64, sb int, c *float64, ldc int, alpha, beta float64, h, w int)

//go:noescape
func avx512Kern2x8P(k int, a *float64, sa int, b *float64, sb int, c *float64, ldc int, alpha, beta float64, h, w int)

//go:noescape
func avx512Kern2x8R(k int, a *float64, sa int, b *float64, sb int, c *float64, ldc int, alpha, beta float64, h, w int)

//go:noescape
func avx512Kern1x16P(k int, a *float64, sa int, b *float64, sb int, c *float64, ldc int, alpha, beta float64, h, w int)

//go:noescape
func avx512Kern1x16R(k int, a *float64, sa int, b *float64, sb int, c *float64, ldc int, alpha, beta float64, h, w int)

//go:noescape
func avx512Kern1x8P(k int, a *float64, sa int, b *float64, sb int, c *float64, ldc int, alpha, beta float64, h, w int)

//go:noescape
func avx512Kern1x8R(k int, a *float64, sa int, b *float64, sb int, c *float64, ldc int, alpha, beta float64, h, w int)

//go:noescape
func avx2Kern6x8P(k int, a *float64, sa int, b *float64, sb int, c *float64, ldc int, alpha, beta float64, h, w int)

//go:noescape
func avx2Kern6x8R(k int, a *float64, sa int, b *float64, sb int, c *float64, ldc int, alpha, beta float64, h, w int)

//go:noescape
func avx2Kern6x4P(k int, a *float64, sa int, b *float64, sb int, c *float64, ldc int, alpha, beta float64, h, w int)

//go:noescape
func avx2Kern6x4R(k int, a *float64, sa int, b *float64, sb int, c *float64, ldc int, alpha, beta float64, h, w int)

//go:noescape
func avx2Kern4x8P(k int, a *float64, sa int, b *float64, sb int, c *float64, ldc int, alpha, beta float64, h, w int)

//go:noescape
func avx2Kern4x8R(k int, a *float64, sa int, b *float64, sb int, c *float64, ldc int, alpha, beta float64, h, w int)

//go:noescape
func avx2Kern4x4P(k int, a *float64, sa int, b *float64, sb int, c *float64, ldc int, alpha, beta float64, h, w int)

//go:noescape
func avx2Kern4x4R(k int, a *float64, sa int, b *float64, sb int, c *float64, ldc int, alpha, beta float64, h, w int)

//go:noescape
func avx2Kern2x8P(k int, a *float64, sa int, b *float64, sb int, c *float64, ldc int, alpha, beta float64, h, w int)

//go:noescape
func avx2Kern2x8R(k int, a *float64, sa int, b *float64, sb int, c *float64, ldc int, alpha, beta float64, h, w int)

//go:noescape
func avx2Kern2x4P(k int, a *float64, sa int, b *float64, sb int, c *float64, ldc int, alpha, beta float64, h, w int)

//go:noescape
func avx2Kern2x4R(k int, a *float64, sa int, b *float64, sb int, c *float64, ldc int, alpha, beta float64, h, w int)

//go:noescape
func avx2Kern1x8P(k int, a *float64, sa int, b *float64, sb int, c *float64, ldc int, alpha, beta float64, h, w int)

//go:noescape
func avx2Kern1x8R(k int, a *float64, sa int, b *float64, sb int, c *float64, ldc int, alpha, beta float64, h, w int)

//go:noescape
func avx2Kern1x4P(k int, a *float64, sa int, b *float64, sb int, c *float64, ldc int, alpha, beta float64, h, w int)

//go:noescape
func avx2Kern1x4R(k int, a *float64, sa int, b *float64, sb int, c *float64, ldc int, alpha, beta float64, h, w int)

func cpuid(eaxArg, ecxArg uint32) (eax, ebx, ecx, edx uint32)

func xgetbv() (eax, edx uint32)

// cpuFeatures reports whether the processor and the operating system
// support AVX2 with FMA, and AVX-512F, by CPUID and XGETBV (Intel SDM vol. 2,
// CPUID leaves 1 and 7; XCR0 bits 1–2 for YMM state, 5–7 for ZMM state).
// golang.org/x/sys/cpu would do the same, but its current version cannot be
// required by this module's go.mod line (go 1.26 < its go 1.26.0).
// On darwin the kernel enables AVX-512 state lazily, so XCR0 may not show it
// and AVX2 is used instead.
func cpuFeatures() (avx2FMA, avx512 bool) {
	maxID, _, _, _ := cpuid(0, 0)
	if maxID < 7 {
		return false, false
	}
	_, _, ecx1, _ := cpuid(1, 0)
	const fma, osxsave, avx = 1 << 12, 1 << 27, 1 << 28
	if ecx1&(fma|osxsave|avx) != fma|osxsave|avx {
		return false, false
	}
	xcr0, _ := xgetbv()
	_, ebx7, _, _ := cpuid(7, 0)
	const avx2, avx512f = 1 << 5, 1 << 16
	avx2FMA = xcr0&0x6 == 0x6 && ebx7&avx2 != 0
	avx512 = avx2FMA && xcr0&0xe6 == 0xe6 && ebx7&avx512f != 0
	return avx2FMA, avx512
}

func init() {
	hasAVX2, hasAVX512 := cpuFeatures()
	if !hasAVX2 {
		return
	}
	avx2 := &impl{
		name: "avx2", mr: 6, nr: 8, half: 4, mc: 96, kc: 256, nc: 512,
		wide:   [2]kernFunc{avx2Kern6x8P, avx2Kern6x8R},
		narrow: [2]kernFunc{avx2Kern6x4P, avx2Kern6x4R},
		short: []shortKern{
			{4, [2]kernFunc{avx2Kern4x8P, avx2Kern4x8R}, [2]kernFunc{avx2Kern4x4P, avx2Kern4x4R}},
			{2, [2]kernFunc{avx2Kern2x8P, avx2Kern2x8R}, [2]kernFunc{avx2Kern2x4P, avx2Kern2x4R}},
			{1, [2]kernFunc{avx2Kern1x8P, avx2Kern1x8R}, [2]kernFunc{avx2Kern1x4P, avx2Kern1x4R}},
		},
		parFlops: 1 << 21,
	}
	impls = append([]*impl{avx2}, impls...)
	defer func() { active.Store(impls[0]) }()
	if !hasAVX512 {
		return
	}
	avx512 := &impl{
		name: "avx512", mr: 14, nr: 16, half: 8, mc: 168, kc: 256, nc: 512,
		wide:   [2]kernFunc{avx512Kern14x16P, avx512Kern14x16R},
		narrow: [2]kernFunc{avx512Kern14x8P, avx512Kern14x8R},
		short: []shortKern{
			{8, [2]kernFunc{avx512Kern8x16P, avx512Kern8x16R}, [2]kernFunc{avx512Kern8x8P, avx512Kern8x8R}},
			{4, [2]kernFunc{avx512Kern4x16P, avx512Kern4x16R}, [2]kernFunc{avx512Kern4x8P, avx512Kern4x8R}},
			{2, [2]kernFunc{avx512Kern2x16P, avx512Kern2x16R}, [2]kernFunc{avx512Kern2x8P, avx512Kern2x8R}},
			{1, [2]kernFunc{avx512Kern1x16P, avx512Kern1x16R}, [2]kernFunc{avx512Kern1x8P, avx512Kern1x8R}},
		},
		maskB:    true,
		parFlops: 1 << 21,
	}
	impls = append([]*impl{avx512}, impls...)
}
