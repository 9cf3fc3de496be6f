package sbi_test

import (
	"context"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gosbi/gosbi/diagnostics"
	"github.com/gosbi/gosbi/sbi"
	"github.com/gosbi/gosbi/simulators"
	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat"
)

// benchPotential measures NLE or NRE (amortised: one network for all
// observations; sequential: 10 rounds of nSim/10 simulations per
// observation, as sbibm's SNLE and SNRE) on an sbibm task: C2ST of 10,000
// MCMC samples (sbi's default vectorised slice sampler, 20 chains, 200
// warmup steps) against the reference samples at observations 1–5 (or
// those listed in GOSBI_OBS, e.g. "1,3"), with the wall time of MCMC
// sampling and its diagnostics.
func benchPotential(b *testing.B, task, method string, nSim int) {
	b.ReportAllocs()
	dir := sbibmDir(b)
	tk, err := simulators.NewTask(task, dir)
	if err != nil {
		b.Fatal(err)
	}
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
	ctx := context.Background()
	infer := sbi.InferNLE
	var nreCfg *sbi.NREConfig
	switch {
	case strings.HasSuffix(method, "nre"):
		infer = sbi.InferNRE
	case strings.HasSuffix(method, "nre-b"):
		// sbibm's (S)NRE is NRE-B with 10 atoms (Durkan et al. 2020).
		infer, nreCfg = sbi.InferNRE, &sbi.NREConfig{Loss: sbi.LossNREB}
	}
	sequential := strings.HasPrefix(method, "s")
	for i := 0; i < b.N; i++ {
		rng := rand.New(rand.NewPCG(2025, uint64(i)))
		var amortised *sbi.MCMCPosterior
		if !sequential {
			t0 := time.Now()
			post, res, err := infer(ctx, tk.Simulator, tk.Prior, nSim, rng, &sbi.PotentialInferSettings{NRE: nreCfg})
			if err != nil {
				b.Fatal(err)
			}
			tr := res.Rounds[0].Train
			b.Logf("%s %s, %d simulations: %d epochs, best validation loss %.3f, training %v, total %v",
				method, task, nSim, tr.Epochs, tr.BestValLoss, tr.Runtime.Round(time.Millisecond), time.Since(t0).Round(time.Millisecond))
			amortised = post
		}
		var c2sts []float64
		for _, k := range obs {
			ref, err := tk.Reference(dir, k)
			if err != nil {
				b.Fatal(err)
			}
			xo := sbi.SingleTrial(ref.Observation)
			post := amortised
			if sequential {
				t0 := time.Now()
				p, res, err := infer(ctx, tk.Simulator, tk.Prior, nSim/10, rng, &sbi.PotentialInferSettings{NRE: nreCfg, Rounds: 10, Observation: xo})
				if err != nil {
					b.Fatal(err)
				}
				var epochs int
				for _, r := range res.Rounds {
					epochs += r.Train.Epochs
				}
				b.Logf("%s %s observation %d: 10 rounds of %d simulations, %d epochs in all, total %v",
					method, task, k, nSim/10, epochs, time.Since(t0).Round(time.Millisecond))
				post = p
			}
			nRef, _ := ref.PosteriorSamples.Dims()
			mr, err := post.Sample(ctx, xo, nRef, rng)
			if err != nil {
				b.Fatal(err)
			}
			cr, err := diagnostics.C2ST(ctx, ref.PosteriorSamples, mr.Samples, rand.New(rand.NewPCG(7, uint64(k))), nil)
			if err != nil {
				b.Fatal(err)
			}
			c2sts = append(c2sts, cr.Accuracy)
			b.Logf("  observation %d: C2ST %.4f; MCMC %d samples in %v (%d evaluations), R-hat %.4f, bulk ESS %.0f, warnings %d",
				k, cr.Accuracy, nRef, mr.Runtime.Round(time.Millisecond), mr.Chains.TotalEvals(), mr.RHat, mr.ESSBulk, len(mr.Warnings))
		}
		b.ReportMetric(stat.Mean(c2sts, nil), "c2st_mean")
	}
}

// The sbibm medians of C2ST on two_moons with 10,000 simulations
// (../shared/sbibm/published_c2st.csv): NLE 0.6931, NRE 0.7649, SNLE 0.5620,
// SNRE 0.5824 (sbibm's NRE and SNRE are NRE-B with 10 atoms, training batch
// 10,000, and MCMC with 100 chains, thinning 10 and SIR initialisation). Run with -run '^$' -bench PotentialTwoMoons -benchtime 1x
// -timeout 0.

func BenchmarkPotentialTwoMoons10kNLE(b *testing.B)  { benchPotential(b, "two_moons", "nle", 10_000) }
func BenchmarkPotentialTwoMoons10kNRE(b *testing.B)  { benchPotential(b, "two_moons", "nre", 10_000) }
func BenchmarkPotentialTwoMoons10kSNLE(b *testing.B) { benchPotential(b, "two_moons", "snle", 10_000) }
func BenchmarkPotentialTwoMoons10kSNRE(b *testing.B) { benchPotential(b, "two_moons", "snre", 10_000) }

// NRE-B, sbibm's variant of (S)NRE.

func BenchmarkPotentialTwoMoons10kNREB(b *testing.B) { benchPotential(b, "two_moons", "nre-b", 10_000) }
func BenchmarkPotentialTwoMoons10kSNREB(b *testing.B) {
	benchPotential(b, "two_moons", "snre-b", 10_000)
}

// BenchmarkMCMCSample10k measures drawing 10,000 posterior samples with the
// default MCMC settings from the NLE test fixture (a 2-transform MAF) at one
// trial.
func BenchmarkMCMCSample10k(b *testing.B) {
	b.ReportAllocs()
	e, err := nleFixture()
	if err != nil {
		b.Fatal(err)
	}
	post, err := e.Posterior(nil)
	if err != nil {
		b.Fatal(err)
	}
	xo := linGaussObs(1, 5)
	rng := rand.New(rand.NewPCG(1, 1))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := post.Sample(context.Background(), xo, 10_000, rng); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPotentialBatch measures one batch evaluation of the NLE
// potential at 20 points (one vectorised slice-sampling step) and its
// gradient.
func BenchmarkPotentialBatch(b *testing.B) {
	b.ReportAllocs()
	e, err := nleFixture()
	if err != nil {
		b.Fatal(err)
	}
	post, err := e.Posterior(nil)
	if err != nil {
		b.Fatal(err)
	}
	pot, err := post.Potential(linGaussObs(1, 5))
	if err != nil {
		b.Fatal(err)
	}
	theta := mat.NewDense(20, 2, nil)
	for i := range 20 {
		theta.Set(i, 0, 0.1*float64(i)-1)
		theta.Set(i, 1, 0.05*float64(i))
	}
	dst := make([]float64, 20)
	grad := mat.NewDense(20, 2, nil)
	b.Run("logprob", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			pot.LogProbBatch(dst, theta)
		}
	})
	b.Run("grad", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			pot.LogProbGradBatch(dst, grad, theta)
		}
	})
}
