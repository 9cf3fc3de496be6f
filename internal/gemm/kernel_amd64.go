//go:build amd64 && !purego

package gemm

import "golang.org/x/sys/cpu"

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
