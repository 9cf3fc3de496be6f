package sbi_test

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gosbi/gosbi/dist"
	"github.com/gosbi/gosbi/sbi"
	"github.com/gosbi/gosbi/vi"
	"gonum.org/v1/gonum/mat"
)

// TestVIPosteriorLinearGaussian fits q with the defaults (vi.Init from the
// prior, NSF, forward KL) to the NLE potential of linGauss at one trial and
// compares its draws with the analytic posterior.
//
// Tolerances: 4,000 independent draws give a Monte Carlo error of about
// 0.016 sd for a mean and 0.011 for log sd; the NLE's own error at this
// budget is 0.03–0.22 sd for the mean (see checkPotentialAccuracy, whose
// bounds 0.4, 0.15 and 0.12 we reuse), and a converged reverse-KL fit of a
// near-Gaussian target adds little. A q that ignored the observation or the
// likelihood (the prior: mean off by ≈1.5 sd, log sd off by ≈1.2) fails.
func TestVIPosteriorLinearGaussian(t *testing.T) {
	post, err := fixtureNLE(t).Posterior(nil)
	if err != nil {
		t.Fatal(err)
	}
	xo := linGaussObs(1, 5)
	// Fewer particles, quality draws and a shorter convergence window than
	// the defaults keep the test fast; the 2-D target needs no more.
	settings := &sbi.VISettings{VI: &vi.Settings{Particles: 128, Window: 50, QualitySamples: 4000}}
	vp, err := sbi.NewVIPosterior(context.Background(), post, xo, rand.New(rand.NewPCG(7, 1)), settings)
	if err != nil {
		t.Fatal(err)
	}
	res := vp.Result()
	t.Logf("iterations %d, converged %v, k-hat %.3f, runtime %v, warnings %q",
		res.Iterations, res.Converged, res.Khat, res.Runtime, res.Warnings)
	if res.Iterations <= 0 || res.Runtime <= 0 || math.IsNaN(res.Khat) {
		t.Errorf("result: %d iterations, runtime %v, k-hat %v", res.Iterations, res.Runtime, res.Khat)
	}
	// The potential is smooth and close to Gaussian: q fits it well
	// (k-hat measured 0.32 with these seeds; 0.7 is PSIS's reliability bound).
	if res.Khat > vi.KhatThreshold {
		t.Errorf("k-hat %.3f above %.1f", res.Khat, vi.KhatThreshold)
	}
	if vp.Dim() != 2 {
		t.Errorf("Dim = %d, want 2", vp.Dim())
	}
	s, err := vp.SampleN(4000, rand.New(rand.NewPCG(7, 2)))
	if err != nil {
		t.Fatal(err)
	}
	mean, cov := linGaussPosterior(xo)
	me, ls, ce := momentErrors(s, mean, cov)
	t.Logf("mean error %.3f sd, log sd error %.3f, correlation error %.3f", me, ls, ce)
	if me > 0.4 || ls > 0.15 || ce > 0.12 {
		t.Errorf("mean error %.3f sd, log sd error %.3f, correlation error %.3f; want < 0.4, 0.15, 0.12", me, ls, ce)
	}
	th := vp.Sample(nil, rand.New(rand.NewPCG(7, 3)))
	lp := vp.LogProb(th)
	batch := vp.LogProbBatch(nil, mat.NewDense(1, 2, th))
	if math.IsNaN(lp) || math.IsInf(lp, 0) || math.Abs(batch[0]-lp) > 1e-9*math.Max(1, math.Abs(lp)) {
		t.Errorf("LogProb %v, LogProbBatch %v", lp, batch[0])
	}
}

// TestVIPosteriorWarmStart starts q from a deliberately poor stand-in for
// an NPE posterior at x_o (mean off by 0.8 posterior sd in each coordinate,
// sd 1.6 times too large, no correlation) and refines it on the NLE
// potential: the result must be accurate where the proposal is not, and
// importance resampling must keep it so.
//
// Tolerances are those of TestVIPosteriorLinearGaussian (0.4 sd, 0.15,
// 0.12; see there). The proposal itself fails all three: mean error 0.8
// sd, log sd error log 1.6 ≈ 0.47, correlation error |ρ| ≈ 0.42. The
// resampled draws (1,000 from a pool of 4,000, ESS 3,900 measured) have
// a Monte Carlo error of about 0.03 sd on the mean, well inside the bounds.
func TestVIPosteriorWarmStart(t *testing.T) {
	post, err := fixtureNLE(t).Posterior(nil)
	if err != nil {
		t.Fatal(err)
	}
	xo := linGaussObs(1, 5)
	mean, cov := linGaussPosterior(xo)
	sd := []float64{math.Sqrt(cov.At(0, 0)), math.Sqrt(cov.At(1, 1))}
	off, err := dist.NewDiagNormal([]float64{mean[0] + 0.8*sd[0], mean[1] - 0.8*sd[1]}, []float64{1.6 * sd[0], 1.6 * sd[1]})
	if err != nil {
		t.Fatal(err)
	}
	{
		s := dist.SampleN(off, 4000, rand.New(rand.NewPCG(9, 0)))
		me, ls, ce := momentErrors(s, mean, cov)
		t.Logf("proposal alone: mean error %.3f sd, log sd error %.3f, correlation error %.3f", me, ls, ce)
		if me < 0.4 && ls < 0.15 && ce < 0.12 {
			t.Fatalf("the proposal passes the accuracy bounds: the test cannot fail")
		}
	}
	settings := &sbi.VISettings{
		Proposal: off,
		Init:     &vi.InitSettings{Candidates: 5000},
		VI:       &vi.Settings{Objective: vi.ForwardKL, Particles: 128, Window: 50, QualitySamples: 4000},
	}
	vp, err := sbi.NewVIPosterior(context.Background(), post, xo, rand.New(rand.NewPCG(9, 1)), settings)
	if err != nil {
		t.Fatal(err)
	}
	ir, res := vp.InitResult(), vp.Result()
	t.Logf("init: %d rounds, β %.2f, ESS %.0f; fit: %d iterations, k-hat %.3f, runtime %v", ir.Rounds, ir.Beta, ir.ESS, res.Iterations, res.Khat, res.Runtime)
	if ir.Beta != 1 {
		t.Errorf("β = %v, want 1 (the proposal overlaps the posterior)", ir.Beta)
	}
	for _, c := range []struct {
		name string
		s    *mat.Dense
	}{
		{"q", func() *mat.Dense {
			x, err := vp.SampleN(4000, rand.New(rand.NewPCG(9, 2)))
			if err != nil {
				t.Fatal(err)
			}
			return x
		}()},
		{"resampled", func() *mat.Dense {
			x, pr, err := vp.SampleResampled(1000, 0, rand.New(rand.NewPCG(9, 3)))
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("resampling pool: k-hat %.2f, ESS %.0f", pr.Khat, pr.ESS)
			return x
		}()},
	} {
		me, ls, ce := momentErrors(c.s, mean, cov)
		t.Logf("%s: mean error %.3f sd, log sd error %.3f, correlation error %.3f", c.name, me, ls, ce)
		if me > 0.4 || ls > 0.15 || ce > 0.12 {
			t.Errorf("%s: mean error %.3f sd, log sd error %.3f, correlation error %.3f; want < 0.4, 0.15, 0.12", c.name, me, ls, ce)
		}
	}
}

func TestVIPosteriorErrors(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(8, 1))
	if _, err := sbi.NewVIPosterior(ctx, nil, linGaussObs(1, 5), rng, nil); !errors.Is(err, sbi.ErrInput) {
		t.Errorf("nil posterior: err = %v, want ErrInput", err)
	}
	post, err := fixtureNLE(t).Posterior(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sbi.NewVIPosterior(ctx, post, mat.NewDense(1, 3, nil), rng, nil); !errors.Is(err, sbi.ErrInput) {
		t.Errorf("3-column observation: err = %v, want ErrInput", err)
	}
	if _, err := sbi.NewVIPosterior(ctx, post, linGaussObs(1, 5), nil, nil); !errors.Is(err, sbi.ErrInput) {
		t.Errorf("nil rng: err = %v, want ErrInput", err)
	}
	prop3, _ := dist.NewDiagNormal([]float64{0, 0, 0}, []float64{1, 1, 1})
	if _, err := sbi.NewVIPosterior(ctx, post, linGaussObs(1, 5), rng, &sbi.VISettings{Proposal: prop3}); !errors.Is(err, sbi.ErrInput) {
		t.Errorf("3-D proposal: err = %v, want ErrInput", err)
	}
}
