package vi

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gosbi/gosbi/dist"
	"github.com/gosbi/gosbi/flows"
	"gonum.org/v1/gonum/mat"
)

// smallMAF is a MAF small enough for fast tests; the 2-D targets here need
// no more.
var smallMAF = flows.MAF{Transforms: 2, Hidden: 16}

// TestInitBimodal checks that Init from a broad proposal keeps both modes
// of ½N((-3, 0), 0.5²I) + ½N((3, 0), 0.5²I) and that the fitted q is close
// to the target (β reaches 1 in its rounds).
//
// Tolerances: with 5,000 draws from q the standard error of the fraction in
// the right half-plane is √(¼/5000) ≈ 0.007; Init's own error (2,000
// resampled draws, ESS ≥ 500: a weight error of about 1/√500 ≈ 0.045 on
// each mode) dominates, so 0.4–0.6 is about 2 of its standard errors, and a
// q on one mode (fraction 0 or 1) fails. The standard deviation of θ₁
// inside a mode is 0.5; 0.35–0.8 allows (measured 0.64) the broader fit of 50 epochs of
// maximum likelihood on 2,000 points and fails for a bridge between the
// modes (an affine MAF: measured 1.9) or the proposal's 3.
func TestInitBimodal(t *testing.T) {
	target := bimodalPotential(t, 3, 0.5)
	proposal, err := dist.NewDiagNormal([]float64{0, 0}, []float64{3, 3})
	if err != nil {
		t.Fatal(err)
	}
	rng := newRand(21)
	// A spline flow: an affine MAF in 2-D cannot make the marginal of θ₁
	// bimodal when θ₂ carries no information about the mode.
	q, res, err := Init(context.Background(), target, proposal, flows.NSF{Transforms: 2, Hidden: 16}, nil, rng, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("rounds %d, β %.3f, ESS %.0f (untempered %.0f), epochs %d, %v", res.Rounds, res.Beta, res.ESS, res.ESSTarget, res.Epochs, res.Runtime)
	if res.Beta != 1 {
		t.Errorf("β = %v after %d rounds, want 1", res.Beta, res.Rounds)
	}
	post, err := NewPosterior(target, q, nil)
	if err != nil {
		t.Fatal(err)
	}
	x := mat.NewDense(5000, 2, nil)
	post.SampleBatch(x, rng)
	var right int
	var ss [2]float64
	for i := range 5000 {
		v := x.At(i, 0)
		m := -3.0
		if v > 0 {
			right++
			m = 3
		}
		ss[0] += (v - m) * (v - m)
		ss[1] += x.At(i, 1) * x.At(i, 1)
	}
	frac := float64(right) / 5000
	sd0 := math.Sqrt(ss[0] / 5000)
	t.Logf("fraction right %.3f, within-mode sd %.3f", frac, sd0)
	if frac < 0.4 || frac > 0.6 {
		t.Errorf("fraction in the right mode %.3f, want 0.4–0.6", frac)
	}
	if sd0 < 0.35 || sd0 > 0.8 {
		t.Errorf("within-mode sd of θ₁ %.3f, want 0.35–0.8 (target 0.5)", sd0)
	}
}

// TestInitTemperature checks the tempering: with one round from a proposal
// far broader than the target the untempered weights have a small ESS, and
// β is the largest temperature that keeps the requested one.
func TestInitTemperature(t *testing.T) {
	target, err := dist.NewDiagNormal([]float64{1, -1}, []float64{0.05, 0.05})
	if err != nil {
		t.Fatal(err)
	}
	proposal, err := dist.NewDiagNormal([]float64{0, 0}, []float64{2, 2})
	if err != nil {
		t.Fatal(err)
	}
	s := &InitSettings{Candidates: 4000, Draws: 500, MinESS: 200, Rounds: 1, Epochs: 2}
	_, res, err := Init(context.Background(), target, proposal, Gaussian{}, nil, newRand(22), s)
	if err != nil {
		t.Fatal(err)
	}
	// The untempered ESS is n/E_r[(p/r)²] = n/Π_j S²·exp(μ_j²/(2S²-s²))/(s·√(2S²-s²))
	// for r = N(0, S²), p = N(μ, s²) per coordinate (S = 2, s = 0.05,
	// |μ_j| = 1): 4000/32.1² ≈ 3.9 (measured 3.7), far below 200.
	t.Logf("untempered ESS %.1f, β %.4f, ESS %.1f", res.ESSTarget, res.Beta, res.ESS)
	if res.ESSTarget >= 200 || res.Beta >= 1 || res.Beta <= 0 {
		t.Errorf("untempered ESS %.1f, β %v: want ESS < 200 and β in (0, 1)", res.ESSTarget, res.Beta)
	}
	// Bisection to 60 halvings: the ESS at β is at least 200 and that at a
	// slightly larger β is below (the ESS is continuous and decreasing).
	if res.ESS < 200 {
		t.Errorf("ESS at β = %v is %.2f, want ≥ 200", res.Beta, res.ESS)
	}
	if res.Rounds != 1 || res.Epochs < 1 || res.Epochs > 2 {
		t.Errorf("rounds %d, epochs %d, want 1 and 1–2", res.Rounds, res.Epochs)
	}
}

// TestWarmStartFewerIterations checks the purpose of Init as a warm start:
// on a correlated 2-D Gaussian target, reverse KL from a q started by Init
// with a slightly-off proposal (mean off by 0.5 sd, scales 1.5 times too
// large, no correlation: an imperfect amortised estimate) reaches an ELBO
// within 0.05 nats of log Z = 0 in fewer than half the iterations of a
// cold start from N(0, 5²I), with the same optimiser.
//
// The criterion is on the mean loss (KL(q ‖ p), since the target is
// normalised) over 20 consecutive iterations of 256 particles: its standard
// error near the optimum is below 0.01 (measured loss sd ≈ 0.1 per
// iteration), so 0.05 is not reached by noise.
func TestWarmStartFewerIterations(t *testing.T) {
	target, _, _ := correlatedNormal(t, 2, 0.8)
	off, err := dist.NewDiagNormal([]float64{-1 + 0.5, -0.5 - 0.5*math.Sqrt(1.2)}, []float64{1.5, 1.5 * math.Sqrt(1.2)})
	if err != nil {
		t.Fatal(err)
	}
	cold, err := dist.NewDiagNormal([]float64{0, 0}, []float64{5, 5})
	if err != nil {
		t.Fatal(err)
	}
	const window, tol, maxIter = 20, 0.05, 1500
	reach := func(q *flows.Flow, seed uint64) int {
		t.Helper()
		losses := make([]float64, 0, maxIter)
		hit := -1
		s := &Settings{MaxIterations: maxIter, Window: -1, QualitySamples: -1, OnIteration: func(st IterStats) error {
			losses = append(losses, st.Loss)
			if n := len(losses); n >= window {
				var m float64
				for _, v := range losses[n-window:] {
					m += v / window
				}
				if m < tol {
					hit = n
					return errStop
				}
			}
			return nil
		}}
		if _, _, err := Fit(context.Background(), target, q, newRand(seed), s); err != nil && !errors.Is(err, errStop) {
			t.Fatal(err)
		}
		return hit
	}
	qc, err := NewQ(smallMAF, cold, nil, 1000, newRand(23))
	if err != nil {
		t.Fatal(err)
	}
	qw, ir, err := Init(context.Background(), target, off, smallMAF, nil, newRand(23), &InitSettings{Candidates: 5000})
	if err != nil {
		t.Fatal(err)
	}
	nc, nw := reach(qc, 24), reach(qw, 24)
	t.Logf("iterations to KL < %.2f: cold %d, warm %d (Init: %d rounds, β %.2f, %v)", tol, nc, nw, ir.Rounds, ir.Beta, ir.Runtime)
	if nw < 0 {
		t.Fatalf("warm start did not reach KL < %.2f in %d iterations", tol, maxIter)
	}
	if nc >= 0 && 2*nw >= nc {
		t.Errorf("warm start took %d iterations, cold start %d: want fewer than half", nw, nc)
	}
}

var errStop = errors.New("stop")

// TestSampleResampledCorrects checks PSIS importance resampling on a q that
// is too broad: q = N(0, 2²) for a N(0.5, 1) target. Raw draws of q have sd
// 2; resampled ones must have the target's mean and sd.
//
// Tolerances: with 4,000 output draws from a pool of 16,000 (ESS of the
// pool 16,000/E_q[(p/q)²] = 16,000·√7·e^(-1/28)/4 ≈ 10,200, measured
// 10,209, so nearly all output draws are distinct), the standard error of
// the mean is about 1/√4000 ≈ 0.016 and that of the sd about 0.011; 0.06
// is about 4 of them, while q's own mean error 0.5 and sd error 1 fail.
func TestSampleResampledCorrects(t *testing.T) {
	target, err := dist.NewDiagNormal([]float64{0.5}, []float64{1})
	if err != nil {
		t.Fatal(err)
	}
	q, err := NewGaussian([]float64{0}, []float64{2})
	if err != nil {
		t.Fatal(err)
	}
	post, err := NewPosterior(target, q, nil)
	if err != nil {
		t.Fatal(err)
	}
	x := mat.NewDense(4000, 1, nil)
	pr, err := post.SampleResampled(x, 4, newRand(25))
	if err != nil {
		t.Fatal(err)
	}
	m, s := colStats(x, 0)
	t.Logf("mean %.3f, sd %.3f, pool k-hat %.2f, ESS %.0f", m, s, pr.Khat, pr.ESS)
	if math.Abs(m-0.5) > 0.06 || math.Abs(s-1) > 0.06 {
		t.Errorf("resampled mean %.3f, sd %.3f; want 0.5, 1 within 0.06", m, s)
	}
	if pr.Khat > 0.5 {
		// A broader proposal has bounded weights: k̂ ≤ 0 in theory.
		t.Errorf("pool k-hat %.2f, want ≤ 0.5", pr.Khat)
	}
	// Bounded support: draws stay inside (0, 1) through the bijection.
	beta := betaTarget(t)
	qb, err := NewGaussian([]float64{0}, []float64{1})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := dist.NewBijection([]float64{0}, []float64{1})
	pb, err := NewPosterior(beta, qb, b)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pb.SampleResampled(x, 0, newRand(26)); err != nil {
		t.Fatal(err)
	}
	for i := range 4000 {
		if v := x.At(i, 0); !(v > 0 && v < 1) {
			t.Fatalf("draw %d = %v outside (0, 1)", i, v)
		}
	}
}

// betaTarget is the Beta(2, 5) density on (0, 1), unnormalised.
func betaTarget(t *testing.T) dist.LogProber {
	t.Helper()
	return logProberFunc(func(x []float64) float64 {
		if !(x[0] > 0 && x[0] < 1) {
			return math.Inf(-1)
		}
		return math.Log(x[0]) + 4*math.Log1p(-x[0])
	})
}

type logProberFunc func([]float64) float64

func (f logProberFunc) LogProb(x []float64) float64 { return f(x) }

func TestInitAndResampleErrors(t *testing.T) {
	target, _ := dist.NewDiagNormal([]float64{0}, []float64{1})
	prop2, _ := dist.NewDiagNormal([]float64{0, 0}, []float64{1, 1})
	ctx := context.Background()
	rng := newRand(27)
	cases := []struct {
		name string
		run  func() error
		want error
	}{
		{"nil family", func() error { _, _, err := Init(ctx, target, target, nil, nil, rng, nil); return err }, ErrConfig},
		{"nil proposal", func() error { _, _, err := Init(ctx, target, nil, Gaussian{}, nil, rng, nil); return err }, ErrConfig},
		{"nil rng", func() error { _, _, err := Init(ctx, target, target, Gaussian{}, nil, nil, nil); return err }, ErrConfig},
		{"nil target", func() error { _, _, err := Init(ctx, nil, target, Gaussian{}, nil, rng, nil); return err }, ErrTarget},
		{"dimension", func() error { _, _, err := Init(ctx, target, prop2, Gaussian{}, nil, rng, nil); return err }, ErrTarget},
		{"negative epochs", func() error {
			_, _, err := Init(ctx, target, target, Gaussian{}, nil, rng, &InitSettings{Epochs: -1})
			return err
		}, ErrConfig},
		{"no finite weight", func() error {
			nowhere := logProberFunc(func([]float64) float64 { return math.Inf(-1) })
			_, _, err := Init(ctx, nowhere, target, Gaussian{}, nil, rng, &InitSettings{Candidates: 100})
			return err
		}, ErrData},
		{"resample without target", func() error {
			q, _ := NewGaussian([]float64{0}, []float64{1})
			p, _ := NewPosterior(nil, q, nil)
			_, err := p.SampleResampled(mat.NewDense(10, 1, nil), 4, rng)
			return err
		}, ErrTarget},
		{"resample too few", func() error {
			q, _ := NewGaussian([]float64{0}, []float64{1})
			p, _ := NewPosterior(target, q, nil)
			_, err := p.SampleResampled(mat.NewDense(2, 1, nil), 4, rng)
			return err
		}, ErrConfig},
	}
	for _, c := range cases {
		if err := c.run(); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
}

// ExampleInit starts a full-rank Gaussian q at the target N((1, -1), 0.1²I)
// from draws of a broad proposal, then refines it with Fit.
func ExampleInit() {
	target, _ := dist.NewDiagNormal([]float64{1, -1}, []float64{0.1, 0.1})
	proposal, _ := dist.NewDiagNormal([]float64{0, 0}, []float64{2, 2})
	rng := rand.New(rand.NewPCG(1, 2))
	q, ir, err := Init(context.Background(), target, proposal, Gaussian{}, nil, rng, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	m, _, _ := GaussianMoments(q)
	fmt.Printf("start after %d rounds (β = %.0f): mean (%.1f, %.1f)\n", ir.Rounds, ir.Beta, m[0], m[1])
	_, res, err := Fit(context.Background(), target, q, rng, &Settings{QualitySamples: -1})
	if err != nil {
		fmt.Println(err)
		return
	}
	m, c, _ := GaussianMoments(q)
	fmt.Printf("fitted: mean (%.2f, %.2f), sd (%.2f, %.2f), converged %v\n", m[0], m[1], math.Sqrt(c.At(0, 0)), math.Sqrt(c.At(1, 1)), res.Converged)
	// Output:
	// start after 2 rounds (β = 1): mean (1.0, -1.0)
	// fitted: mean (1.00, -1.00), sd (0.10, 0.10), converged true
}
