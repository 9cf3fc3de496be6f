//go:build amd64 && !purego

package gemm

import (
	"fmt"
	"testing"
)

// BenchmarkKernel measures one micro-kernel call on operands in L1 (the
// ceiling for the whole product).
func BenchmarkKernel(b *testing.B) {
	for _, kc := range []struct {
		name   string
		fn     kernFunc
		mr, nr int
		mode   int
	}{
		{"avx512_14x16P", avx512Kern14x16P, 14, 16, modeP},
		{"avx512_14x16R", avx512Kern14x16R, 14, 16, modeR},
		{"avx512_14x8P", avx512Kern14x8P, 14, 8, modeP},
		{"avx2_6x8P", avx2Kern6x8P, 6, 8, modeP},
		{"avx2_6x8R", avx2Kern6x8R, 6, 8, modeR},
	} {
		if kc.mr == 14 && Implementations()[0] != "avx512" {
			continue
		}
		for _, k := range []int{4, 50, 256} {
			b.Run(fmt.Sprintf("%s/k%d", kc.name, k), func(b *testing.B) {
				a := make([]float64, kc.mr*k)
				bb := make([]float64, kc.nr*k)
				c := make([]float64, kc.mr*kc.nr)
				for i := range a {
					a[i] = 1e-3
				}
				for i := range bb {
					bb[i] = 1e-3
				}
				sa := kc.mr
				if kc.mode == modeR {
					sa = k
				}
				b.ReportAllocs()
				cpu0 := cpuTime()
				for range b.N {
					kc.fn(k, &a[0], sa, &bb[0], kc.nr, &c[0], kc.nr, 1, 1, kc.mr, kc.nr)
				}
				reportFlops(b, 2*float64(kc.mr*kc.nr*k)*float64(b.N), cpuTime()-cpu0)
			})
		}
	}
}
