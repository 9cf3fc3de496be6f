package sbi_test

import (
	"context"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gosbi/gosbi/diagnostics"
	"github.com/gosbi/gosbi/sbi"
	"github.com/gosbi/gosbi/simulators"
	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat"
)

// The benchmarks of issue #8: on the two_moons NLE potential (10,000
// simulations, default MAF, trained once per process), the time to fit q
// and to draw 10,000 samples, next to the time of sbi's default MCMC
// (vectorised slice sampling, 20 chains, 200 warmup steps) for 10,000
// samples, with the C2ST of each against the sbibm reference samples
// (diagnostics.FastC2STSettings, 10,000 against 10,000). Observations 1–5,
// or those in GOSBI_OBS (e.g. "1,3"). Run with
//
//	go test ./sbi/ -run '^$' -bench 'TwoMoonsNLE(VI|MCMC)' -benchtime 1x -timeout 0
//
// Training the NLE takes about 30–60 s and the NPE of the warm start about
// 15 s on the shared 2-core machine.

type twoMoonsNLE struct {
	task *simulators.Task
	dir  string
	post *sbi.MCMCPosterior
	npe  *sbi.DirectPosterior
	err  error
}

var (
	twoMoonsNLEOnce sync.Once
	twoMoonsNLEData twoMoonsNLE
)

func setupTwoMoonsNLE(b *testing.B) *twoMoonsNLE {
	dir := sbibmDir(b)
	twoMoonsNLEOnce.Do(func() {
		d := &twoMoonsNLEData
		d.dir = dir
		if d.task, d.err = simulators.NewTask("two_moons", dir); d.err != nil {
			return
		}
		ctx := context.Background()
		t0 := time.Now()
		post, _, err := sbi.InferNLE(ctx, d.task.Simulator, d.task.Prior, 10_000, rand.New(rand.NewPCG(2025, 0)), nil)
		if d.err = err; err != nil {
			return
		}
		d.post = post
		b.Logf("NLE trained in %v", time.Since(t0).Round(time.Second))
		t0 = time.Now()
		npe, _, err := sbi.Infer(ctx, d.task.Simulator, d.task.Prior, 10_000, rand.New(rand.NewPCG(2025, 1)), nil)
		if d.err = err; err != nil {
			return
		}
		d.npe = npe
		b.Logf("NPE trained in %v", time.Since(t0).Round(time.Second))
	})
	if twoMoonsNLEData.err != nil {
		b.Fatal(twoMoonsNLEData.err)
	}
	return &twoMoonsNLEData
}

func benchObservations(b *testing.B) []int {
	obs := []int{1, 2, 3, 4, 5}
	if s := os.Getenv("GOSBI_OBS"); s != "" {
		obs = obs[:0]
		for _, f := range strings.Split(s, ",") {
			k, err := strconv.Atoi(f)
			if err != nil {
				b.Fatal(err)
			}
			obs = append(obs, k)
		}
	}
	return obs
}

func fastC2ST(b *testing.B, ref, x *mat.Dense, k int) float64 {
	r, err := diagnostics.C2ST(context.Background(), ref, x, rand.New(rand.NewPCG(7, uint64(k))), diagnostics.FastC2STSettings())
	if err != nil {
		b.Fatal(err)
	}
	return r.Accuracy
}

// benchTwoMoonsVI fits a VIPosterior per observation (cold: from the prior
// through vi.Init; warm: from the NPE posterior at x_o), then draws 10,000
// samples from q and 10,000 by PSIS importance resampling (oversampling 4).
func benchTwoMoonsVI(b *testing.B, warm bool, s sbi.VISettings) {
	tm := setupTwoMoonsNLE(b)
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		var fit, samp, res, c2, c2r, c2npe []float64
		for _, k := range benchObservations(b) {
			ref, err := tm.task.Reference(tm.dir, k)
			if err != nil {
				b.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(11, uint64(k)))
			s := s
			if warm {
				c, err := tm.npe.At(ref.Observation)
				if err != nil {
					b.Fatal(err)
				}
				s.Proposal = c
				sr, err := c.SampleN(ctx, 10_000, rng)
				if err != nil {
					b.Fatal(err)
				}
				c2npe = append(c2npe, fastC2ST(b, ref.PosteriorSamples, sr.Samples, k))
			}
			t0 := time.Now()
			vp, err := sbi.NewVIPosterior(ctx, tm.post, sbi.SingleTrial(ref.Observation), rng, &s)
			if err != nil {
				b.Fatal(err)
			}
			fit = append(fit, time.Since(t0).Seconds())
			t0 = time.Now()
			x, err := vp.SampleN(10_000, rng)
			if err != nil {
				b.Fatal(err)
			}
			samp = append(samp, time.Since(t0).Seconds())
			t0 = time.Now()
			xr, pr, err := vp.SampleResampled(10_000, 0, rng)
			if err != nil {
				b.Fatal(err)
			}
			res = append(res, time.Since(t0).Seconds())
			c2 = append(c2, fastC2ST(b, ref.PosteriorSamples, x, k))
			c2r = append(c2r, fastC2ST(b, ref.PosteriorSamples, xr, k))
			vr, ir := vp.Result(), vp.InitResult()
			msg := ""
			if warm {
				msg = " (NPE alone " + strconv.FormatFloat(c2npe[len(c2npe)-1], 'f', 3, 64) + ")"
			}
			if ir != nil {
				b.Logf("  observation %d: init %d rounds β %.2f in %v; fit %d iterations (converged %v) k-hat %.2f; total %.1f s; 10k draws %.3f s, resampled %.3f s (pool k-hat %.2f, ESS %.0f); C2ST %.3f, resampled %.3f%s",
					k, ir.Rounds, ir.Beta, ir.Runtime.Round(time.Millisecond), vr.Iterations, vr.Converged, vr.Khat, fit[len(fit)-1], samp[len(samp)-1], res[len(res)-1], pr.Khat, pr.ESS, c2[len(c2)-1], c2r[len(c2r)-1], msg)
			} else {
				b.Logf("  observation %d: fit %d iterations (converged %v) k-hat %.2f; total %.1f s; 10k draws %.3f s, resampled %.3f s (pool k-hat %.2f, ESS %.0f); C2ST %.3f, resampled %.3f",
					k, vr.Iterations, vr.Converged, vr.Khat, fit[len(fit)-1], samp[len(samp)-1], res[len(res)-1], pr.Khat, pr.ESS, c2[len(c2)-1], c2r[len(c2r)-1])
			}
		}
		b.ReportMetric(stat.Mean(fit, nil), "fit_s")
		b.ReportMetric(stat.Mean(samp, nil), "sample10k_s")
		b.ReportMetric(stat.Mean(res, nil), "resample10k_s")
		b.ReportMetric(stat.Mean(c2, nil), "c2st")
		b.ReportMetric(stat.Mean(c2r, nil), "c2st_resampled")
		if warm {
			b.ReportMetric(stat.Mean(c2npe, nil), "c2st_npe")
		}
	}
}

// BenchmarkTwoMoonsNLEVI uses NewVIPosterior's defaults.
func BenchmarkTwoMoonsNLEVI(b *testing.B) { benchTwoMoonsVI(b, false, sbi.VISettings{}) }

// BenchmarkTwoMoonsNLEVIWarm starts q from the NPE posterior at x_o.
func BenchmarkTwoMoonsNLEVIWarm(b *testing.B) { benchTwoMoonsVI(b, true, sbi.VISettings{}) }

// BenchmarkTwoMoonsNLEMCMC draws 10,000 samples with sbi's default MCMC.
func BenchmarkTwoMoonsNLEMCMC(b *testing.B) {
	tm := setupTwoMoonsNLE(b)
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		var times, c2 []float64
		for _, k := range benchObservations(b) {
			ref, err := tm.task.Reference(tm.dir, k)
			if err != nil {
				b.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(12, uint64(k)))
			t0 := time.Now()
			mr, err := tm.post.Sample(ctx, sbi.SingleTrial(ref.Observation), 10_000, rng)
			if err != nil {
				b.Fatal(err)
			}
			times = append(times, time.Since(t0).Seconds())
			c2 = append(c2, fastC2ST(b, ref.PosteriorSamples, mr.Samples, k))
			b.Logf("  observation %d: 10k MCMC samples %.3f s, C2ST %.3f, R-hat %.2f", k, times[len(times)-1], c2[len(c2)-1], mr.RHat)
		}
		b.ReportMetric(stat.Mean(times, nil), "sample10k_s")
		b.ReportMetric(stat.Mean(c2, nil), "c2st")
	}
}
