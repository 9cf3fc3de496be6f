package vmath

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkElem measures the unary kernels on 12,800 values (a 50-wide
// layer at batch 256), normal with standard deviation 2, per
// implementation.
func BenchmarkElem(b *testing.B) {
	const n = 12800
	rng := rand.New(rand.NewPCG(1, 1))
	x := make([]float64, n)
	for i := range x {
		x[i] = 2 * rng.NormFloat64()
	}
	y := make([]float64, n)
	for _, f := range []struct {
		name string
		k    func(dst, x []float64)
	}{{"exp", Exp}, {"log1p", Log1p}, {"softplus", Softplus}, {"sigmoid", Sigmoid}} {
		for _, name := range Implementations() {
			b.Run(fmt.Sprintf("%s/%s", f.name, name), func(b *testing.B) {
				useImpl(b, name)
				b.ReportAllocs()
				cpu0 := cpuTime()
				for range b.N {
					f.k(y, x)
				}
				values := float64(b.N) * n
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/values, "ns/value")
				if cpu := cpuTime() - cpu0; cpu > 0 {
					b.ReportMetric(float64(cpu.Nanoseconds())/values, "cpu-ns/value")
				}
			})
		}
	}
}

// BenchmarkAdamStep measures one Adam update of 36,100 parameters (sbi's
// default MAF at D = C = 10).
func BenchmarkAdamStep(b *testing.B) {
	const n = 36100
	rng := rand.New(rand.NewPCG(2, 2))
	x, g, m, v := make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
	for i := range x {
		x[i], g[i] = rng.NormFloat64(), rng.NormFloat64()
	}
	c := &AdamConsts{Beta1: 0.9, OneMinusBeta1: 0.1, Beta2: 0.999, OneMinusBeta2: 0.001, Step: 1e-3, InvSqrtBC2: 1, Eps: 1e-8}
	for _, name := range Implementations() {
		b.Run(name, func(b *testing.B) {
			useImpl(b, name)
			b.ReportAllocs()
			cpu0 := cpuTime()
			for range b.N {
				AdamStep(x, g, m, v, c)
			}
			if cpu := cpuTime() - cpu0; cpu > 0 {
				b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N)/n, "cpu-ns/value")
			}
		})
	}
}
