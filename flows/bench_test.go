package flows

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/gosbi/gosbi/nn"
	"gonum.org/v1/gonum/mat"
)

// benchFlow builds sbi's default MAF for d-dimensional x and c-dimensional
// context, on Gaussian data x = A·c + noise.
func benchFlow(b *testing.B, n, d, c int) (*Flow, *mat.Dense, *mat.Dense) {
	b.Helper()
	rng := rand.New(rand.NewPCG(1, 1))
	cm := randDense(n, c, 0, 1, rng)
	x := randDense(n, d, 0, 0.5, rng)
	for i := 0; i < n; i++ {
		for j := 0; j < d; j++ {
			x.Set(i, j, x.At(i, j)+cm.At(i, j%c))
		}
	}
	f, err := MAF{}.Build(x, cm, rng)
	if err != nil {
		b.Fatal(err)
	}
	return f, x, cm
}

// benchTrainStep times one training step of the default MAF at batch 256:
// -mean log-prob, backward, optional total-norm clipping at 5, Adam.
func benchTrainStep(b *testing.B, d, c int, clip bool) {
	const batch = 256
	f, x, cm := benchFlow(b, batch, d, c)
	params := f.Params()
	opt := nn.NewAdam(params, 5e-4)
	xt, ct := nn.FromDense(x), nn.FromDense(cm)
	tp := nn.NewTape()
	step := func() {
		tp.Reset()
		loss := tp.Neg(tp.Mean(f.LogProb(tp, xt, ct)))
		tp.Backward(loss)
		if clip {
			nn.ClipGradNorm(params, 5)
		}
		opt.Step()
		opt.ZeroGrad()
	}
	step()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		step()
	}
}

func BenchmarkMAFTrainStep2(b *testing.B)      { benchTrainStep(b, 2, 2, false) }
func BenchmarkMAFTrainStep2Clip(b *testing.B)  { benchTrainStep(b, 2, 2, true) }
func BenchmarkMAFTrainStep10(b *testing.B)     { benchTrainStep(b, 10, 10, false) }
func BenchmarkMAFTrainStep10Clip(b *testing.B) { benchTrainStep(b, 10, 10, true) }

// benchWorkers sets the goroutines of the batch methods for the rest of
// the benchmark (0: GOMAXPROCS).
func benchWorkers(b *testing.B, w int) {
	prev := SetBatchWorkers(w)
	b.Cleanup(func() { SetBatchWorkers(prev) })
}

// reportCPU reports the process CPU time per op since cpu0 (it excludes
// time descheduled on a shared machine, and adds up both cores).
func reportCPU(b *testing.B, cpu0 time.Duration) {
	if cpu := processCPUTime() - cpu0; cpu > 0 {
		b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/op")
	}
}

// benchLogProb times the log-prob of 100,000 points (no gradient) with w
// goroutines (0: GOMAXPROCS).
func benchLogProb(b *testing.B, d, w int) {
	const n = 100_000
	f, x, cm := benchFlow(b, n, d, d)
	benchWorkers(b, w)
	dst := make([]float64, n)
	f.LogProbBatch(dst, x, cm)
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPUTime()
	for range b.N {
		f.LogProbBatch(dst, x, cm)
	}
	reportCPU(b, cpu0)
}

func BenchmarkMAFLogProb100k2(b *testing.B)        { benchLogProb(b, 2, 0) }
func BenchmarkMAFLogProb100k10(b *testing.B)       { benchLogProb(b, 10, 0) }
func BenchmarkMAFLogProb100k2Serial(b *testing.B)  { benchLogProb(b, 2, 1) }
func BenchmarkMAFLogProb100k10Serial(b *testing.B) { benchLogProb(b, 10, 1) }

// benchSample times 100,000 samples at one context with w goroutines.
func benchSample(b *testing.B, d, w int) {
	const n = 100_000
	f, _, cm := benchFlow(b, 1000, d, d)
	benchWorkers(b, w)
	c1 := mat.NewDense(1, d, cm.RawRowView(0))
	dst := mat.NewDense(n, d, nil)
	rng := rand.New(rand.NewPCG(2, 2))
	f.SampleBatch(dst, c1, rng)
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPUTime()
	for range b.N {
		f.SampleBatch(dst, c1, rng)
	}
	reportCPU(b, cpu0)
}

func BenchmarkMAFSample100k2(b *testing.B)        { benchSample(b, 2, 0) }
func BenchmarkMAFSample100k10(b *testing.B)       { benchSample(b, 10, 0) }
func BenchmarkMAFSample100k2Serial(b *testing.B)  { benchSample(b, 2, 1) }
func BenchmarkMAFSample100k10Serial(b *testing.B) { benchSample(b, 10, 1) }

// benchEpoch times one training epoch over 10,000 (θ, x) pairs with sbi's
// defaults: 9,000 training rows in 45 batches of 200, clipping, validation
// on 1,000 rows.
func benchEpoch(b *testing.B, d int) {
	const n = 10_000
	f, x, cm := benchFlow(b, n, d, d)
	rng := rand.New(rand.NewPCG(3, 3))
	s := &Settings{MaxEpochs: 1}
	if _, err := Train(context.Background(), f, x, cm, rng, s); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := Train(context.Background(), f, x, cm, rng, s); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMAFTrainEpoch10k(b *testing.B)   { benchEpoch(b, 2) }
func BenchmarkMAFTrainEpoch10k10(b *testing.B) { benchEpoch(b, 10) }

// BenchmarkTwoMoonsHighBudget fits sbi's default NSF to 10,000 two-moons
// points with sbi's training defaults (until early stopping) and reports the
// held-out gap to the exact density in nats (metric "gap-nats"): the
// reference for the margin of TestTwoMoonsFit. It takes minutes; run it with
// -benchtime 1x.
func BenchmarkTwoMoonsHighBudget(b *testing.B) {
	for range b.N {
		rng := rand.New(rand.NewPCG(51, 1))
		train := twoMoons(10_000, rng)
		test := twoMoons(5_000, rng)
		f, err := NSF{}.Build(train, nil, rng)
		if err != nil {
			b.Fatal(err)
		}
		res, err := Train(context.Background(), f, train, nil, rng, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(twoMoonsGap(f, test), "gap-nats")
		b.ReportMetric(float64(res.Epochs), "epochs")
	}
}

// BenchmarkMAFLogProbNoSkip times the serial log-prob of 100,000 points
// with MADE plans that do not skip the masked blocks (one product per
// layer), for comparison with BenchmarkMAFLogProb100k*Serial.
func BenchmarkMAFLogProbNoSkip(b *testing.B) {
	for _, d := range []int{2, 10} {
		b.Run(fmt.Sprintf("D%d", d), func(b *testing.B) {
			noSkip = true
			b.Cleanup(func() { noSkip = false })
			benchLogProb(b, d, 1)
		})
	}
}

// BenchmarkMAFLogProbSmall times LogProbBatch on small batches (sbi's
// default MAF, D = C = 2, one context per row) on the tape-free path and on
// the tape: the crossover justifies fastMinRows.
func BenchmarkMAFLogProbSmall(b *testing.B) {
	for _, n := range []int{4, 16, 64} {
		for _, off := range []bool{false, true} {
			b.Run(fmt.Sprintf("n%d/tape=%v", n, off), func(b *testing.B) {
				fastOff = off
				b.Cleanup(func() { fastOff = false })
				f, x, cm := benchFlow(b, n, 2, 2)
				dst := make([]float64, n)
				f.LogProbBatch(dst, x, cm)
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					f.LogProbBatch(dst, x, cm)
				}
			})
		}
	}
}
