package sbi_test

import (
	"context"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gosbi/gosbi/diagnostics"
	"github.com/gosbi/gosbi/sbi"
	"github.com/gosbi/gosbi/simulators"
	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat"
)

// sbibmDir locates the shared sbibm reference data (../shared/sbibm from the
// repository root).
func sbibmDir(tb testing.TB) string {
	tb.Helper()
	dir := filepath.Join("..", "..", "shared", "sbibm")
	if _, err := os.Stat(filepath.Join(dir, "two_moons")); err != nil {
		tb.Skipf("sbibm reference data not found at %s: %v", dir, err)
	}
	return dir
}

// benchAccuracy trains NPE with sbi's defaults on nSim simulations of task
// (one amortised network) and compares its samples at observations 1–5 with
// the reference posterior samples: classifier two-sample test accuracy
// (C2ST, 0.5 is perfect, as sbibm), and the errors of the mean and of the
// covariance in units of the reference standard deviations.
func benchAccuracy(b *testing.B, task string, nSim int, c2st bool) {
	b.ReportAllocs()
	dir := sbibmDir(b)
	tk, err := simulators.NewTask(task, dir)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		rng := rand.New(rand.NewPCG(2024, uint64(i)))
		t0 := time.Now()
		post, res, err := sbi.Infer(ctx, tk.Simulator, tk.Prior, nSim, rng, nil)
		if err != nil {
			b.Fatal(err)
		}
		tr := res.Rounds[0].Train
		b.Logf("%s, %d simulations: %d epochs, best validation loss %.3f, training %v, total %v",
			task, nSim, tr.Epochs, tr.BestValLoss, tr.Runtime.Round(time.Millisecond), time.Since(t0).Round(time.Millisecond))
		var c2sts []float64
		for k := 1; k <= 5; k++ {
			ref, err := tk.Reference(dir, k)
			if err != nil {
				b.Fatal(err)
			}
			c, err := post.At(ref.Observation)
			if err != nil {
				b.Fatal(err)
			}
			nRef, d := ref.PosteriorSamples.Dims()
			t1 := time.Now()
			sr, err := c.SampleN(ctx, nRef, rng)
			if err != nil {
				b.Fatal(err)
			}
			st := time.Since(t1)
			acc := math.NaN()
			if c2st {
				cr, err := diagnostics.C2ST(ctx, ref.PosteriorSamples, sr.Samples, rand.New(rand.NewPCG(7, uint64(k))), nil)
				if err != nil {
					b.Fatal(err)
				}
				acc = cr.Accuracy
			}
			c2sts = append(c2sts, acc)
			var meanErr, covErr float64
			var cs, cref mat.SymDense
			stat.CovarianceMatrix(&cs, sr.Samples, nil)
			stat.CovarianceMatrix(&cref, ref.PosteriorSamples, nil)
			for j := range d {
				sd := math.Sqrt(cref.At(j, j))
				e := math.Abs(stat.Mean(mat.Col(nil, j, sr.Samples), nil)-stat.Mean(mat.Col(nil, j, ref.PosteriorSamples), nil)) / sd
				meanErr = math.Max(meanErr, e)
				for l := range d {
					sl := math.Sqrt(cref.At(l, l))
					covErr = math.Max(covErr, math.Abs(cs.At(j, l)-cref.At(j, l))/(sd*sl))
				}
			}
			b.Logf("  observation %d: C2ST %.4f, max |mean error|/sd %.3f, max |cov error|/(sd·sd) %.3f, acceptance %.3f, %d samples in %v",
				k, acc, meanErr, covErr, sr.AcceptanceRate, nRef, st.Round(time.Millisecond))
		}
		b.ReportMetric(stat.Mean(c2sts, nil), "c2st_mean")
	}
}

// BenchmarkAccuracyTwoMoons10k measures NPE's accuracy on two_moons with
// 10,000 simulations (sbibm's NPE median C2ST: 0.6076). Run with
// -run '^$' -bench AccuracyTwoMoons -benchtime 1x.
func BenchmarkAccuracyTwoMoons10k(b *testing.B) { benchAccuracy(b, "two_moons", 10_000, true) }

// BenchmarkAccuracyGaussianLinear10k measures NPE's accuracy on
// gaussian_linear with 10,000 simulations (sbibm's NPE median C2ST: 0.5343).
func BenchmarkAccuracyGaussianLinear10k(b *testing.B) {
	benchAccuracy(b, "gaussian_linear", 10_000, true)
}

// BenchmarkMomentsGaussianLinear10k is BenchmarkAccuracyGaussianLinear10k
// without the (slow, 10-D) C2ST: mean and covariance errors only.
func BenchmarkMomentsGaussianLinear10k(b *testing.B) {
	benchAccuracy(b, "gaussian_linear", 10_000, false)
}

// benchSample measures posterior sampling (10,000 draws with rejection) and
// log-probabilities (10,000 points, leakage correction cached) at one
// observation of the 2-D wide fixture.
func benchSample(b *testing.B, logProb bool) {
	b.ReportAllocs()
	post, err := wideFixture()
	if err != nil {
		b.Fatal(err)
	}
	c, err := post.At([]float64{0.3, -0.2})
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	sr, err := c.SampleN(context.Background(), 10_000, rng)
	if err != nil {
		b.Fatal(err)
	}
	dst := make([]float64, 10_000)
	c.LogProbBatch(dst, sr.Samples)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if logProb {
			c.LogProbBatch(dst, sr.Samples)
		} else if _, err := c.SampleN(context.Background(), 10_000, rng); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSample10k(b *testing.B)  { benchSample(b, false) }
func BenchmarkLogProb10k(b *testing.B) { benchSample(b, true) }
