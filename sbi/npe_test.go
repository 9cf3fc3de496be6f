package sbi_test

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/gosbi/gosbi/flows"
	"github.com/gosbi/gosbi/sbi"
	"github.com/gosbi/gosbi/simulators"
	"gonum.org/v1/gonum/mat"
)

// smallMAF is the estimator of the accuracy tests: smaller than sbi's
// default (5 transforms of 50 units) to keep the package tests fast.
var smallMAF = flows.MAF{Transforms: 3, Hidden: 32}

func gaussianLinear(t *testing.T) *simulators.Task {
	t.Helper()
	task, err := simulators.NewTask("gaussian_linear", "")
	if err != nil {
		t.Fatal(err)
	}
	return task
}

// TestGaussianLinearNPE trains NPE on gaussian_linear (10-D, prior
// N(0, 0.1·I), x = θ + N(0, 0.1·I), so p(θ | x) = N(x/2, 0.05·I)) with a small
// budget and compares posterior samples at three observations with the
// analytic posterior.
func TestGaussianLinearNPE(t *testing.T) {
	t.Parallel()
	task := gaussianLinear(t)
	rng := rand.New(rand.NewPCG(1, 1))
	ctx := context.Background()
	ts := &sbi.TrainSettings{}
	ts.MaxEpochs = 200
	t0 := time.Now()
	post, res, err := sbi.Infer(ctx, task.Simulator, task.Prior, 3000, rng, &sbi.InferSettings{
		Config: &sbi.NPEConfig{Estimator: smallMAF}, Train: ts})
	if err != nil {
		t.Fatal(err)
	}
	tr := res.Rounds[0].Train
	t.Logf("trained %d epochs (best %d, val loss %.3f) in %v", tr.Epochs, tr.BestEpoch, tr.BestValLoss, time.Since(t0))
	for range 3 {
		theta := task.Prior.Sample(nil, rng)
		x, err := task.Simulator.Run(ctx, nil, theta, rng)
		if err != nil {
			t.Fatal(err)
		}
		exact, err := task.Posterior(x)
		if err != nil {
			t.Fatal(err)
		}
		c, err := post.At(x)
		if err != nil {
			t.Fatal(err)
		}
		sr, err := c.SampleN(ctx, 2000, rng)
		if err != nil {
			t.Fatal(err)
		}
		checkGaussianLinear(t, sr.Samples, exact.(interface{ Mean([]float64) []float64 }).Mean(nil))
	}
}

// checkGaussianLinear compares 2,000 posterior samples with the analytic
// posterior N(mu, 0.05·I). Tolerances: the Monte Carlo error of 2,000
// samples is small (sd of a mean error 1/√2000 ≈ 0.022 posterior sds, of a
// log variance √(2/2000) ≈ 0.032, of a correlation ≈ 0.022, so the largest of
// 45 correlations is ≈ 0.07 by chance); the allowance is for the
// approximation of a network trained on a few thousand simulations, about
// twice the errors seen with these seeds (RMS mean error ≤ 0.15, mean log
// variance ≤ 0.16, largest |log variance| ≤ 0.35, correlation ≤ 0.08). Each
// bound still catches gross failures: a posterior that ignores x (the prior
// N(0, 0.1·I)) has an RMS mean error ≈ 1 and a mean log variance of
// log 2 ≈ 0.69; one twice too narrow has a mean log variance of -0.69.
func checkGaussianLinear(t *testing.T, s *mat.Dense, mu []float64) {
	t.Helper()
	g := gaussErrors(s, mu, 0.05)
	t.Logf("%+v", g)
	for _, c := range []struct {
		what      string
		got, want float64
	}{
		{"RMS mean error (posterior sds)", g.RMSMean, 0.3},
		{"|mean log(variance/0.05)|", math.Abs(g.MeanLogVar), 0.3},
		{"largest |log(variance/0.05)|", g.MaxLogVar, 0.6},
		{"largest |correlation|", g.MaxCorr, 0.2},
	} {
		if !(c.got <= c.want) {
			t.Errorf("%s: got %.3f, want at most %.3f", c.what, c.got, c.want)
		}
	}
}

// TestGaussianLinearSNPE runs two rounds of SNPE-C (the second from the
// posterior at x_o, atomic loss) and compares with the analytic posterior at
// x_o, with the tolerances of checkGaussianLinear.
func TestGaussianLinearSNPE(t *testing.T) {
	t.Parallel()
	task := gaussianLinear(t)
	rng := rand.New(rand.NewPCG(2, 2))
	ctx := context.Background()
	thetaO := task.Prior.Sample(nil, rng)
	xo, err := task.Simulator.Run(ctx, nil, thetaO, rng)
	if err != nil {
		t.Fatal(err)
	}
	ts := &sbi.TrainSettings{}
	ts.MaxEpochs = 100
	ts.StopAfterEpochs = 10 // sbi's 20 doubles the cost of the atomic round
	t0 := time.Now()
	post, res, err := sbi.Infer(ctx, task.Simulator, task.Prior, 1000, rng, &sbi.InferSettings{
		Config: &sbi.NPEConfig{Estimator: smallMAF}, Train: ts, Rounds: 2, Observation: xo})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res.Rounds {
		t.Logf("round %d: proposal %s, loss %s, %d simulations, %d epochs, val loss %.3f, %v",
			r.Round, r.Proposal, r.Train.Loss, r.Train.NumSimulations, r.Train.Epochs, r.Train.BestValLoss, r.Train.Runtime)
	}
	t.Logf("total %v", time.Since(t0))
	if got := res.Rounds[1]; got.Proposal != "proposal" || got.Train.Loss != sbi.LossAtomic || got.Train.NumSimulations != 2000 {
		t.Errorf("round 1: got proposal %q, loss %q, %d simulations; want proposal, atomic, 2000",
			got.Proposal, got.Train.Loss, got.Train.NumSimulations)
	}
	c, err := post.At(xo)
	if err != nil {
		t.Fatal(err)
	}
	sr, err := c.SampleN(ctx, 2000, rng)
	if err != nil {
		t.Fatal(err)
	}
	exact, err := simulators.GaussianLinearPosterior(xo)
	if err != nil {
		t.Fatal(err)
	}
	checkGaussianLinear(t, sr.Samples, exact.Mean(nil))
}
