package mcmc

import (
	"context"
	"math"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/gosbi/gosbi/dist"
)

// benchESS runs 4 chains (one worker, so the figures are per core) of 2000
// draws after 1000 warmup transitions, and reports the smallest bulk ESS over
// the parameters per second of sampling and per target evaluation (a
// gradient evaluation counts as one).
func benchESS(b *testing.B, target dist.LogProber, kernel Kernel, init Init) {
	b.ReportAllocs()
	var essSec, essEval, n float64
	seed := uint64(0)
	for b.Loop() {
		seed++
		c, err := Sample(context.Background(), target, 2000, init, kernel, seeded(seed),
			&Settings{Chains: 4, Warmup: 1000, Workers: 1})
		if err != nil {
			b.Fatal(err)
		}
		ess := math.Inf(1)
		for _, e := range c.ESSBulk() {
			ess = math.Min(ess, e)
		}
		essSec += ess / c.Runtime.Seconds()
		essEval += ess / float64(c.TotalEvals())
		n++
	}
	b.ReportMetric(essSec/n, "ESS/s")
	b.ReportMetric(essEval/n, "ESS/eval")
}

func gaussBench(b *testing.B, k Kernel) {
	benchESS(b, corrGaussian5(), k, FromProposal{Proposal: isotropic{s: 3, d: 5}})
}

func bananaBench(b *testing.B, k Kernel) {
	benchESS(b, newBanana(), k, FromProposal{Proposal: isotropic{s: 1, d: 2}})
}

func gaussProposal() dist.Distribution {
	g := corrGaussian5()
	return newGaussian(g.mu, scaledSym(g.cov, 2))
}

// bananaProposal is a normal with the banana's mean and twice its marginal
// variances (ignoring the correlation).
func bananaProposal() dist.Distribution {
	mu, cov := newBanana().moments()
	return newGaussian(mu, mat.NewSymDense(2, []float64{2 * cov[0][0], 0, 0, 2 * cov[1][1]}))
}

func BenchmarkGaussSlice(b *testing.B)           { gaussBench(b, Slice{}) }
func BenchmarkGaussSliceVectorized(b *testing.B) { gaussBench(b, SliceVectorized{}) }
func BenchmarkGaussRandomWalk(b *testing.B)      { gaussBench(b, RandomWalk{}) }
func BenchmarkGaussHMC(b *testing.B)             { gaussBench(b, HMC{}) }
func BenchmarkGaussNUTS(b *testing.B)            { gaussBench(b, NUTS{}) }
func BenchmarkGaussIndependence(b *testing.B) {
	gaussBench(b, Independence{Proposal: gaussProposal()})
}
func BenchmarkGaussMixture(b *testing.B) {
	gaussBench(b, Mixture{Kernels: []Kernel{NUTS{}, Independence{Proposal: gaussProposal()}}})
}

func BenchmarkBananaSlice(b *testing.B)           { bananaBench(b, Slice{}) }
func BenchmarkBananaSliceVectorized(b *testing.B) { bananaBench(b, SliceVectorized{}) }
func BenchmarkBananaRandomWalk(b *testing.B)      { bananaBench(b, RandomWalk{}) }
func BenchmarkBananaHMC(b *testing.B)             { bananaBench(b, HMC{}) }
func BenchmarkBananaNUTS(b *testing.B)            { bananaBench(b, NUTS{}) }
func BenchmarkBananaIndependence(b *testing.B) {
	bananaBench(b, Independence{Proposal: bananaProposal()})
}
func BenchmarkBananaMixture(b *testing.B) {
	bananaBench(b, Mixture{Kernels: []Kernel{NUTS{}, Independence{Proposal: bananaProposal()}}})
}

// benchVectorSteps reports transitions per second (summed over chains) of
// the vectorised slice sampler on the 5-D Gaussian, and target evaluations
// per second.
func benchVectorSteps(b *testing.B, chains int) {
	b.ReportAllocs()
	g := corrGaussian5()
	var steps, evals, secs float64
	seed := uint64(0)
	for b.Loop() {
		seed++
		c, err := Sample(context.Background(), g, 200, FromProposal{Proposal: isotropic{s: 3, d: 5}}, SliceVectorized{},
			seeded(seed), &Settings{Chains: chains, Warmup: 100})
		if err != nil {
			b.Fatal(err)
		}
		steps += float64(chains * 300)
		evals += float64(c.TotalEvals())
		secs += c.Runtime.Seconds()
	}
	b.ReportMetric(steps/secs, "steps/s")
	b.ReportMetric(evals/secs, "evals/s")
}

func BenchmarkSliceVectorizedSteps20(b *testing.B)  { benchVectorSteps(b, 20) }
func BenchmarkSliceVectorizedSteps100(b *testing.B) { benchVectorSteps(b, 100) }
