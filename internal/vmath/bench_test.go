package vmath

import (
	"fmt"
	"math/big"
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

// BenchmarkTanhAccuracy measures each implementation's error against
// tanhBig (200-bit arithmetic) on 1.2 million points of tanhSweep, and
// reports the maximum and mean error in ulp and the maximum relative
// error. The reference takes about 20 s; run it with -benchtime=1x.
func BenchmarkTanhAccuracy(b *testing.B) {
	x := tanhSweep(rand.New(rand.NewPCG(15, 16)), 150000)
	want := make([]*big.Float, len(x))
	for i, v := range x {
		want[i] = tanhBig(v)
	}
	y := make([]float64, len(x))
	for _, name := range Implementations() {
		b.Run(name, func(b *testing.B) {
			useImpl(b, name)
			b.ReportAllocs()
			for range b.N {
				Tanh(y, x)
			}
			b.StopTimer()
			var maxULP, sumULP, maxRel float64
			for i := range x {
				ulps, rel := ulpErr(y[i], want[i])
				maxULP, sumULP = max(maxULP, ulps), sumULP+ulps
				if y[i] != 0 {
					maxRel = max(maxRel, rel)
				}
			}
			b.ReportMetric(maxULP, "max-ulp")
			b.ReportMetric(sumULP/float64(len(x)), "mean-ulp")
			b.ReportMetric(maxRel*1e16, "max-rel-1e-16")
		})
	}
}
