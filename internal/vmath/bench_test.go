package vmath

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkTanh measures Tanh on the activations of a 50-wide layer at
// batch 256 (12,800 values, typical of the pre-activations of a network:
// normal with standard deviation 2).
func BenchmarkTanh(b *testing.B) {
	for _, n := range []int{12800, 1003} {
		for _, name := range Implementations() {
			b.Run(fmt.Sprintf("n%d/%s", n, name), func(b *testing.B) {
				useImpl(b, name)
				rng := rand.New(rand.NewPCG(1, 1))
				x := make([]float64, n)
				for i := range x {
					x[i] = 2 * rng.NormFloat64()
				}
				y := make([]float64, n)
				b.ReportAllocs()
				cpu0 := cpuTime()
				for range b.N {
					Tanh(y, x)
				}
				values := float64(b.N) * float64(n)
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/values, "ns/value")
				if cpu := cpuTime() - cpu0; cpu > 0 {
					// CPU time excludes time descheduled on a shared machine.
					b.ReportMetric(float64(cpu.Nanoseconds())/values, "cpu-ns/value")
				}
			})
		}
	}
}

// useImpl selects the implementation name for the rest of the test.
func useImpl(t testing.TB, name string) {
	t.Helper()
	prev := SetImplementation(name)
	t.Cleanup(func() { SetImplementation(prev) })
}
