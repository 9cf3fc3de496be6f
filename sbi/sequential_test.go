package sbi_test

import (
	"bytes"
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gosbi/gosbi/dist"
	"github.com/gosbi/gosbi/flows"
	"github.com/gosbi/gosbi/nn"
	"github.com/gosbi/gosbi/sbi"
	"github.com/gosbi/gosbi/simulators"
	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat"
)

// TestTSNPE runs two rounds with a truncated proposal: the second round's
// θ come from the prior restricted to the first posterior's
// highest-density region and are trained by maximum likelihood.
func TestTSNPE(t *testing.T) {
	t.Parallel()
	prior := box(t, []float64{-2, -2}, []float64{2, 2})
	xo := []float64{0.5, -0.3}
	ctx := context.Background()
	post, res, err := sbi.Infer(ctx, noisy(0.1), prior, 800, rand.New(rand.NewPCG(6, 6)), &sbi.InferSettings{
		Config: &sbi.NPEConfig{Estimator: tinyMAF}, Train: tinyTrain(40), Rounds: 2, Observation: xo, Truncate: true,
		Restricted: &sbi.RestrictedSettings{NumSamples: 2000, MassDraws: 20_000}})
	if err != nil {
		t.Fatal(err)
	}
	r := res.Rounds[1]
	t.Logf("round 1: %s, acceptance %.4f, loss %s, %d epochs", r.Proposal, r.ProposalAcceptance, r.Train.Loss, r.Train.Epochs)
	if r.Proposal != "truncated prior" || r.Train.Loss != sbi.LossMLE || r.Train.NumSimulations != 1600 {
		t.Errorf("round 1: got %q, %q, %d simulations; want truncated prior, mle, 1600", r.Proposal, r.Train.Loss, r.Train.NumSimulations)
	}
	// The region around x_o (sd 0.1 per axis) is a small part of the prior
	// box of area 16: acceptance well below 1/10.
	if r.ProposalAcceptance > 0.1 {
		t.Errorf("restricted prior acceptance %.3f, want < 0.1", r.ProposalAcceptance)
	}
	c, _ := post.At(xo)
	sr, err := c.SampleN(ctx, 2000, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		t.Fatal(err)
	}
	// p(θ | x_o) ≈ N(x_o, 0.01·I): sample mean within 0.03 (MC sd 0.0022,
	// the rest is approximation), sd within 30%.
	for j := range 2 {
		col := mat.Col(nil, j, sr.Samples)
		m, s := stat.MeanStdDev(col, nil)
		if math.Abs(m-xo[j]) > 0.03 || math.Abs(s/0.1-1) > 0.3 {
			t.Errorf("θ_%d: mean %.4f, sd %.4f; want ≈ %.1f and 0.1", j, m, s, xo[j])
		}
	}

	// The restricted prior itself: samples lie in the region and in the
	// prior's support, and LogProb is -Inf outside the region.
	rp, err := sbi.NewRestrictedPrior(ctx, c, rand.New(rand.NewPCG(2, 2)), &sbi.RestrictedSettings{NumSamples: 1000})
	if err != nil {
		t.Fatal(err)
	}
	rs, err := rp.SampleN(ctx, 500, rand.New(rand.NewPCG(3, 3)))
	if err != nil {
		t.Fatal(err)
	}
	checkInBox(t, rs.Samples, []float64{-2, -2}, []float64{2, 2})
	q := post.Flow().Condition(xo)
	for i := range 500 {
		th := rs.Samples.RawRowView(i)
		if q.LogProb(th) < rp.Threshold() {
			t.Fatalf("restricted sample %v below the threshold", th)
		}
		if lp := rp.LogProb(th); math.IsInf(lp, 0) || math.Abs(lp-(prior.LogProb(th)-rp.LogMass())) > 1e-12 {
			t.Fatalf("restricted LogProb %v at a sample", lp)
		}
	}
	if lp := rp.LogProb([]float64{-1.9, 1.9}); !math.IsInf(lp, -1) {
		t.Errorf("restricted LogProb far from x_o: got %v, want -Inf", lp)
	}
}

// TestDeepSets checks that the DeepSets embedding is invariant to the order
// of the trials, trains, and survives a save/load round trip.
func TestDeepSets(t *testing.T) {
	t.Parallel()
	const trials = 5
	prior := box(t, []float64{-1, -1}, []float64{1, 1})
	// Each trial is θ + N(0, 0.3²·I), 5 trials per simulation.
	sim := simulators.SimulatorFunc{ThetaDim: 2, XDim: 2 * trials,
		F: func(_ context.Context, dst, theta []float64, rng *rand.Rand) ([]float64, error) {
			if dst == nil {
				dst = make([]float64, 2*trials)
			}
			for i := range dst {
				dst[i] = theta[i%2] + 0.3*rng.NormFloat64()
			}
			return dst, nil
		}}
	emb := sbi.DeepSetsEmbedding{TrialDim: 2, Trials: trials}
	ctx := context.Background()
	post, res, err := sbi.Infer(ctx, sim, prior, 1000, rand.New(rand.NewPCG(4, 4)), &sbi.InferSettings{
		Config: &sbi.NPEConfig{Estimator: tinyMAF, Embedding: emb}, Train: tinyTrain(100)})
	if err != nil {
		t.Fatal(err)
	}
	tr := res.Rounds[0].Train
	t.Logf("%d epochs, best %d, val loss %.3f", tr.Epochs, tr.BestEpoch, tr.BestValLoss)
	x := []float64{0.3, -0.2, 0.5, 0.1, 0.2, -0.4, 0.45, 0.0, 0.25, -0.1}
	perm := []int{3, 0, 4, 2, 1}
	xp := make([]float64, len(x))
	for j, p := range perm {
		copy(xp[2*j:2*j+2], x[2*p:2*p+2])
	}
	c, _ := post.At(x)
	th := []float64{0.3, -0.1}
	// The flow's density, without the leakage correction (whose Monte Carlo
	// estimate uses a stream seeded by x's bits). Summation order differs
	// between the two orders: rounding only.
	if a, b := post.Flow().Condition(x).LogProb(th), post.Flow().Condition(xp).LogProb(th); math.Abs(a-b) > 1e-12 {
		t.Errorf("log-prob with permuted trials: got %v, want %v", b, a)
	}
	// The trial mean is (0.34, -0.12) and the posterior ≈ N(mean, 0.3²/5·I),
	// sd 0.134: the posterior mean within 0.07 (half an sd: approximation).
	sr, err := c.SampleN(ctx, 2000, rand.New(rand.NewPCG(5, 5)))
	if err != nil {
		t.Fatal(err)
	}
	for j, want := range []float64{0.34, -0.12} {
		if m := stat.Mean(mat.Col(nil, j, sr.Samples), nil); math.Abs(m-want) > 0.07 {
			t.Errorf("θ_%d: posterior mean %.3f, want %.2f ± 0.07", j, m, want)
		}
	}
	var buf bytes.Buffer
	if err := sbi.Save(&buf, post); err != nil {
		t.Fatal(err)
	}
	got, err := sbi.Load(&buf)
	if err != nil {
		t.Fatal(err)
	}
	samePosterior(t, post, got, x)
}

// TestValidation checks that invalid input gives errors wrapping the
// documented sentinels.
func TestValidation(t *testing.T) {
	t.Parallel()
	prior := box(t, []float64{0, 0}, []float64{1, 1})
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 1))
	fresh := func() *sbi.NPE {
		e, err := sbi.NewNPE(prior, nil)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	good := mat.NewDense(4, 2, []float64{0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8})
	post := fixture(t, wideFixture)
	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"nil prior", func() error { _, err := sbi.NewNPE(nil, nil); return err }(), sbi.ErrInput},
		{"embedding with a custom estimator", func() error {
			_, err := sbi.NewNPE(prior, &sbi.NPEConfig{Estimator: customEstimator{}, Embedding: sbi.MLPEmbedding{}})
			return err
		}(), sbi.ErrInput},
		{"two embeddings", func() error {
			_, err := sbi.NewNPE(prior, &sbi.NPEConfig{Estimator: flows.MAF{Embedding: nn.NewMLP("e", []int{2, 2}, 0, rng)}, Embedding: sbi.MLPEmbedding{}})
			return err
		}(), sbi.ErrInput},
		{"train before data", func() error { _, err := fresh().Train(ctx, rng, nil); return err }(), sbi.ErrNotTrained},
		{"posterior before training", func() error { _, err := fresh().Posterior(nil); return err }(), sbi.ErrNotTrained},
		{"θ of the wrong width", func() error {
			_, err := fresh().AppendSimulations(mat.NewDense(4, 3, nil), good, nil)
			return err
		}(), sbi.ErrInput},
		{"row counts differ", func() error {
			_, err := fresh().AppendSimulations(good, mat.NewDense(3, 2, nil), nil)
			return err
		}(), sbi.ErrInput},
		{"θ outside the support", func() error {
			_, err := fresh().AppendSimulations(mat.NewDense(4, 2, []float64{0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 1.7, 0.8}), good, nil)
			return err
		}(), sbi.ErrInput},
		{"x width changes", func() error {
			e := fresh()
			if _, err := e.AppendSimulations(good, good, nil); err != nil {
				return err
			}
			_, err := e.AppendSimulations(good, mat.NewDense(4, 3, nil), nil)
			return err
		}(), sbi.ErrInput},
		{"one atom", func() error {
			e := fresh()
			if _, err := e.AppendSimulations(good, good, nil); err != nil {
				return err
			}
			_, err := e.Train(ctx, rng, &sbi.TrainSettings{NumAtoms: 1})
			return err
		}(), sbi.ErrInput},
		{"observation of the wrong length", func() error { _, err := post.At([]float64{1}); return err }(), sbi.ErrInput},
		{"observation with NaN", func() error { _, err := post.At([]float64{0, math.NaN()}); return err }(), sbi.ErrInput},
		{"negative budget", func() error { _, err := post.WithSettings(&sbi.PosteriorSettings{MaxDraws: -1}); return err }(), sbi.ErrInput},
		{"no samples", func() error {
			c, _ := post.At([]float64{0, 0})
			_, err := c.SampleN(ctx, 0, rng)
			return err
		}(), sbi.ErrInput},
		{"batched θ of the wrong width", func() error {
			_, err := post.LogProbBatched(nil, mat.NewDense(2, 3, nil), mat.NewDense(1, 2, nil))
			return err
		}(), sbi.ErrInput},
		{"Infer with one simulation", func() error { _, _, err := sbi.Infer(ctx, noisy(1), prior, 1, rng, nil); return err }(), sbi.ErrInput},
		{"Infer rounds without observation", func() error {
			_, _, err := sbi.Infer(ctx, noisy(1), prior, 10, rng, &sbi.InferSettings{Rounds: 2})
			return err
		}(), sbi.ErrInput},
		{"Infer simulator and prior disagree", func() error {
			p3 := box(t, []float64{0, 0, 0}, []float64{1, 1, 1})
			_, _, err := sbi.Infer(ctx, noisy(1), p3, 10, rng, nil)
			return err
		}(), sbi.ErrInput},
		{"DeepSets of the wrong size", func() error {
			e, err := sbi.NewNPE(prior, &sbi.NPEConfig{Embedding: sbi.DeepSetsEmbedding{TrialDim: 3, Trials: 1}})
			if err != nil {
				return err
			}
			if _, err := e.AppendSimulations(good, good, nil); err != nil {
				return err
			}
			_, err = e.Train(ctx, rng, nil)
			return err
		}(), sbi.ErrInput},
		{"save nil", sbi.Save(&bytes.Buffer{}, nil), sbi.ErrInput},
		{"load with a prior of the wrong dimension", func() error {
			var buf bytes.Buffer
			if err := sbi.Save(&buf, post); err != nil {
				return err
			}
			_, err := sbi.LoadWithPrior(&buf, box(t, []float64{0}, []float64{1}))
			return err
		}(), sbi.ErrInput},
	} {
		if !errors.Is(tc.err, tc.want) {
			t.Errorf("%s: got error %v, want %v", tc.name, tc.err, tc.want)
		}
	}
}

type customEstimator struct{}

func (customEstimator) Build(theta, x *mat.Dense, rng *rand.Rand) (*flows.Flow, error) {
	return flows.MAF{}.Build(theta, x, rng)
}

var _ dist.Distribution = (*sbi.RestrictedPrior)(nil)

// TestNSF trains with a neural spline flow chosen by name and checks the
// posterior mean and a save/load round trip.
func TestNSF(t *testing.T) {
	t.Parallel()
	est, err := sbi.EstimatorByName("nsf")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sbi.EstimatorByName("gan"); !errors.Is(err, sbi.ErrInput) {
		t.Errorf("unknown estimator: got %v, want ErrInput", err)
	}
	nsf := est.(flows.NSF)
	nsf.Transforms, nsf.Hidden = 2, 24
	prior := box(t, []float64{-1, -1}, []float64{1, 1})
	ctx := context.Background()
	post, _, err := sbi.Infer(ctx, noisy(0.1), prior, 1000, rand.New(rand.NewPCG(12, 1)),
		&sbi.InferSettings{Config: &sbi.NPEConfig{Estimator: nsf}, Train: tinyTrain(60)})
	if err != nil {
		t.Fatal(err)
	}
	xo := []float64{0.2, 0.4}
	c, _ := post.At(xo)
	sr, err := c.SampleN(ctx, 2000, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		t.Fatal(err)
	}
	// p(θ | x_o) ≈ N(x_o, 0.01·I): mean within 0.04 (MC sd 0.0022, the rest
	// approximation of a small, briefly trained flow).
	for j := range 2 {
		if m := stat.Mean(mat.Col(nil, j, sr.Samples), nil); math.Abs(m-xo[j]) > 0.04 {
			t.Errorf("θ_%d: posterior mean %.3f, want %.1f ± 0.04", j, m, xo[j])
		}
	}
	var buf bytes.Buffer
	if err := sbi.Save(&buf, post); err != nil {
		t.Fatal(err)
	}
	got, err := sbi.Load(&buf)
	if err != nil {
		t.Fatal(err)
	}
	samePosterior(t, post, got, xo)
}

// TestCancel checks that cancelling during training stops Infer with an
// error wrapping the cause, and that OnEpoch sees every epoch.
func TestCancel(t *testing.T) {
	t.Parallel()
	prior := box(t, []float64{-1, -1}, []float64{1, 1})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ts := tinyTrain(50)
	var epochs []int
	ts.OnEpoch = func(s flows.EpochStats) error {
		epochs = append(epochs, s.Epoch)
		if s.Epoch == 3 {
			cancel()
		}
		return nil
	}
	_, res, err := sbi.Infer(ctx, noisy(0.1), prior, 300, rand.New(rand.NewPCG(1, 1)),
		&sbi.InferSettings{Config: &sbi.NPEConfig{Estimator: tinyMAF}, Train: ts})
	if !errors.Is(err, context.Canceled) || res == nil || len(res.Rounds) != 0 {
		t.Errorf("got error %v and result %+v, want context.Canceled and no finished round", err, res)
	}
	if len(epochs) != 3 || epochs[2] != 3 {
		t.Errorf("OnEpoch saw epochs %v, want [1 2 3]", epochs)
	}
	stop := errors.New("enough")
	_, _, err = sbi.Infer(context.Background(), noisy(0.1), prior, 300, rand.New(rand.NewPCG(1, 1)),
		&sbi.InferSettings{Config: &sbi.NPEConfig{Estimator: tinyMAF}, Train: tinyTrain(2),
			OnRound: func(sbi.RoundResult) error { return stop }})
	if !errors.Is(err, stop) {
		t.Errorf("OnRound error: got %v, want it wrapped", err)
	}
}

// TestReproducible checks that the same seed gives bit-identical posteriors,
// through a sequential run (split, shuffling, atoms, proposals, sampling).
func TestReproducible(t *testing.T) {
	t.Parallel()
	prior := box(t, []float64{-1, -1}, []float64{1, 1})
	xo := []float64{0.2, -0.1}
	run := func() *mat.Dense {
		ts := tinyTrain(5)
		ts.NumAtoms = 4
		post, _, err := sbi.Infer(context.Background(), noisy(0.1), prior, 300, rand.New(rand.NewPCG(21, 22)),
			&sbi.InferSettings{Config: &sbi.NPEConfig{Estimator: tinyMAF}, Train: ts, Rounds: 2, Observation: xo})
		if err != nil {
			t.Fatal(err)
		}
		c, _ := post.At(xo)
		sr, err := c.SampleN(context.Background(), 100, rand.New(rand.NewPCG(1, 1)))
		if err != nil {
			t.Fatal(err)
		}
		return sr.Samples
	}
	if a, b := run(), run(); !mat.Equal(a, b) {
		t.Errorf("two runs with the same seed differ")
	}
}
