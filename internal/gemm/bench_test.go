package gemm

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
)

// benchShapes are the products of gosbi's networks: a Linear layer's
// forward x·Wᵀ (NT) and its backward g·W (NN) and gᵀ·x (TN) at batch 256
// and width 50 (sbi's default MAF), a 2-D input layer and a 4-wide output
// layer (forward and gradients), 128-wide layers at batch 512, inference on 100,000 rows, and a
// large square product for scale.
var benchShapes = []struct {
	transA, transB bool
	m, n, k        int
}{
	{false, true, 256, 50, 50},
	{false, false, 256, 50, 50},
	{true, false, 50, 50, 256},
	{true, true, 50, 50, 256},
	{false, true, 256, 50, 2},
	{false, true, 256, 4, 50},
	{false, false, 256, 50, 4},
	{true, false, 4, 50, 256},
	{true, false, 50, 2, 256},
	{false, true, 512, 128, 128},
	{false, false, 512, 128, 128},
	{true, false, 128, 128, 512},
	{false, true, 100000, 50, 50},
	{false, false, 512, 512, 512},
}

func BenchmarkDgemm(b *testing.B) {
	for _, s := range benchShapes {
		name := fmt.Sprintf("%s%s_%dx%dx%d", tr(s.transA), tr(s.transB), s.m, s.n, s.k)
		for _, impl := range append(Implementations(), "gonum", Implementations()[0]+"-serial") {
			b.Run(name+"/"+impl, func(b *testing.B) {
				benchDgemm(b, impl, s.transA, s.transB, s.m, s.n, s.k)
			})
		}
	}
}

func tr(t bool) string {
	if t {
		return "T"
	}
	return "N"
}

// benchDgemm measures c = op(a)·op(b) + c with one implementation, or with
// gonum's blas64.Gemm for impl == "gonum".
func benchDgemm(b *testing.B, impl string, transA, transB bool, m, n, k int) {
	rng := rand.New(rand.NewPCG(1, 1))
	o := newOperands(rng, shape{m, n, k, 0}, transA, transB, 1, 1)
	f := o.call
	if impl == "gonum" {
		ta, tb := blas.NoTrans, blas.NoTrans
		if transA {
			ta = blas.Trans
		}
		if transB {
			tb = blas.Trans
		}
		ga := blas64.General{Rows: o.arows, Cols: o.acols, Stride: o.lda, Data: o.a}
		gb := blas64.General{Rows: o.brows, Cols: o.bcols, Stride: o.ldb, Data: o.b}
		gc := blas64.General{Rows: m, Cols: n, Stride: o.ldc, Data: o.c}
		f = func() { blas64.Gemm(ta, tb, 1, ga, gb, 1, gc) }
	} else if base, ok := strings.CutSuffix(impl, "-serial"); ok {
		useImpl(b, base)
		useParallelism(b, 1, 0)
	} else {
		useImpl(b, impl)
	}
	f()
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	for range b.N {
		f()
	}
	reportFlops(b, 2*float64(m)*float64(n)*float64(k)*float64(b.N), cpuTime()-cpu0)
}

// reportFlops reports GFLOP/s over wall time and, when the CPU time is
// known, cpu-GFLOP/s: flops per second of CPU time used by the process
// (over all its threads), which does not count time the benchmark spent
// descheduled on a shared machine.
func reportFlops(b *testing.B, flops float64, cpu time.Duration) {
	b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	if cpu > 0 {
		b.ReportMetric(flops/cpu.Seconds()/1e9, "cpu-GFLOP/s")
	}
}

// BenchmarkParallel compares serial and 2-goroutine runs of NN products of
// increasing size (batch×50×50, the shape of a hidden layer), to choose the
// threshold from which Dgemm splits the work (parFlops).
func BenchmarkParallel(b *testing.B) {
	for _, m := range []int{128, 256, 512, 1024, 4096} {
		for _, p := range []int{1, 2} {
			b.Run(fmt.Sprintf("%dx50x50/goroutines%d", m, p), func(b *testing.B) {
				useParallelism(b, p, 1)
				benchDgemm(b, Implementation(), false, false, m, 50, 50)
			})
		}
	}
}
