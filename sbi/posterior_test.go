package sbi_test

import (
	"bytes"
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/gosbi/gosbi/dist"
	"github.com/gosbi/gosbi/flows"
	"github.com/gosbi/gosbi/sbi"
	"github.com/gosbi/gosbi/simulators"
	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/gonum/stat/distuv"
)

// noisy returns the 2-D simulator x = θ + N(0, σ²·I).
func noisy(sigma float64) simulators.Simulator {
	return simulators.SimulatorFunc{ThetaDim: 2, XDim: 2,
		F: func(_ context.Context, dst, theta []float64, rng *rand.Rand) ([]float64, error) {
			if dst == nil {
				dst = make([]float64, 2)
			}
			for i := range dst {
				dst[i] = theta[i] + sigma*rng.NormFloat64()
			}
			return dst, nil
		}}
}

func box(t testing.TB, lo, hi []float64) *dist.BoxUniform {
	t.Helper()
	b, err := dist.NewBoxUniform(lo, hi)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// tinyTrain is a quick training schedule for the 2-D fixtures.
func tinyTrain(epochs int) *sbi.TrainSettings {
	s := &sbi.TrainSettings{}
	s.MaxEpochs = epochs
	s.BatchSize = 100
	s.LearningRate = 2e-3
	return s
}

var tinyMAF = flows.MAF{Transforms: 2, Hidden: 24}

// narrowFixture is a posterior for a narrow box prior [-0.25, 0.25]² and a
// noisy simulator (σ = 0.5): the true posterior is nearly uniform on the
// box, which a flow cannot represent without leaking mass outside it.
var narrowFixture = sync.OnceValues(func() (*sbi.DirectPosterior, error) {
	prior, err := dist.NewBoxUniform([]float64{-0.25, -0.25}, []float64{0.25, 0.25})
	if err != nil {
		return nil, err
	}
	p, _, err := sbi.Infer(context.Background(), noisy(0.5), prior, 1000, rand.New(rand.NewPCG(10, 1)),
		&sbi.InferSettings{Config: &sbi.NPEConfig{Estimator: tinyMAF}, Train: tinyTrain(30)})
	return p, err
})

// wideFixture is a posterior for the prior U([-1, 1]²) and σ = 0.1, so
// p(θ | x) ≈ N(x, 0.01·I) away from the edges.
var wideFixture = sync.OnceValues(func() (*sbi.DirectPosterior, error) {
	prior, err := dist.NewBoxUniform([]float64{-1, -1}, []float64{1, 1})
	if err != nil {
		return nil, err
	}
	p, _, err := sbi.Infer(context.Background(), noisy(0.1), prior, 2000, rand.New(rand.NewPCG(10, 2)),
		&sbi.InferSettings{Config: &sbi.NPEConfig{Estimator: tinyMAF}, Train: tinyTrain(60)})
	return p, err
})

func fixture(t *testing.T, f func() (*sbi.DirectPosterior, error)) *sbi.DirectPosterior {
	t.Helper()
	p, err := f()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestLeakage checks that samples never leave a narrow box prior's support
// and that the leakage-corrected density integrates to one over the box
// (midpoint quadrature, 2-D).
func TestLeakage(t *testing.T) {
	t.Parallel()
	post := fixture(t, narrowFixture)
	ctx := context.Background()
	lo, hi := []float64{-0.25, -0.25}, []float64{0.25, 0.25}
	for _, xo := range [][]float64{{0.1, -0.1}, {0.4, 0.4}} {
		c, err := post.At(xo)
		if err != nil {
			t.Fatal(err)
		}
		sr, err := c.SampleN(ctx, 5000, rand.New(rand.NewPCG(1, 1)))
		if err != nil {
			t.Fatal(err)
		}
		checkInBox(t, sr.Samples, lo, hi)
		logA, err := c.LogAcceptance()
		if err != nil {
			t.Fatal(err)
		}
		// Midpoint rule on a 200×200 grid: the density is smooth, so the
		// quadrature error is far below the Monte Carlo error of A(x).
		const m = 200
		h := 0.5 / m
		grid := mat.NewDense(m*m, 2, nil)
		for i := range m {
			for j := range m {
				grid.SetRow(i*m+j, []float64{-0.25 + (float64(i)+0.5)*h, -0.25 + (float64(j)+0.5)*h})
			}
		}
		lp := c.LogProbBatch(nil, grid)
		var integral float64
		for _, v := range lp {
			integral += math.Exp(v) * h * h
		}
		a := math.Exp(logA)
		t.Logf("x_o %v: acceptance %.3f (sampling %.3f), ∫ corrected density = %.4f", xo, a, sr.AcceptanceRate, integral)
		// A(x) is estimated from 10,000 draws: relative sd √((1-a)/(a·10⁴)),
		// at most 0.015 for a ≥ 0.3; 4 sds of that.
		tol := 4 * math.Sqrt((1-a)/(a*1e4))
		if math.Abs(integral-1) > tol {
			t.Errorf("x_o %v: ∫ corrected density = %.4f, want 1 ± %.3f", xo, integral, tol)
		}
		// The test is only meaningful if there is leakage to correct: the
		// uncorrected density integrates to A(x), which must fail the check.
		if math.Abs(a-1) < 2*tol {
			t.Errorf("x_o %v: acceptance %.3f, want a leaky estimator (1 - A > %.3f)", xo, a, 2*tol)
		}
		// The sampling acceptance rate estimates the same A(x): binomial
		// sds of both estimates, 4 of them.
		if d := math.Abs(sr.AcceptanceRate - a); d > 4*math.Sqrt(a*(1-a)*(1/1e4+1/float64(sr.Draws))) {
			t.Errorf("x_o %v: sampling acceptance %.4f, estimate %.4f", xo, sr.AcceptanceRate, a)
		}
		if got := c.LogProb([]float64{0.3, 0}); !math.IsInf(got, -1) {
			t.Errorf("LogProb outside the support: got %v, want -Inf", got)
		}
	}
}

// TestSaveLoad checks that a saved and loaded posterior gives identical
// samples (same seed), log-probabilities and acceptance estimates, and
// that damaged files give clear errors.
func TestSaveLoad(t *testing.T) {
	t.Parallel()
	post := fixture(t, narrowFixture)
	var buf bytes.Buffer
	if err := sbi.Save(&buf, post); err != nil {
		t.Fatal(err)
	}
	file := buf.Bytes()
	got, err := sbi.Load(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	samePosterior(t, post, got, []float64{0.1, -0.1})

	// Damaged files.
	flip := func(i int) []byte {
		b := bytes.Clone(file)
		b[i] ^= 0x40
		return b
	}
	version := bytes.Clone(file)
	version[8] = 2
	for _, tc := range []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, sbi.ErrFormat},
		{"not a posterior", []byte("hello, world, this is not a posterior file"), sbi.ErrFormat},
		{"truncated header", file[:20], sbi.ErrFormat},
		{"truncated", file[:len(file)/2], sbi.ErrFormat},
		{"last byte missing", file[:len(file)-1], sbi.ErrFormat},
		{"flipped header byte", flip(30), sbi.ErrFormat},
		{"flipped weight byte", flip(len(file) - 100), sbi.ErrFormat},
		{"flipped checksum", flip(len(file) - 1), sbi.ErrFormat},
		{"other version", version, sbi.ErrVersion},
	} {
		_, err := sbi.Load(bytes.NewReader(tc.data))
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: got error %v, want %v", tc.name, err, tc.want)
		}
	}
}

// samePosterior checks that b reproduces a bit for bit at x.
func samePosterior(t *testing.T, a, b *sbi.DirectPosterior, x []float64) {
	t.Helper()
	ctx := context.Background()
	ca, err := a.At(x)
	if err != nil {
		t.Fatal(err)
	}
	cb, err := b.At(x)
	if err != nil {
		t.Fatal(err)
	}
	sa, err := ca.SampleN(ctx, 500, rand.New(rand.NewPCG(4, 4)))
	if err != nil {
		t.Fatal(err)
	}
	sb, err := cb.SampleN(ctx, 500, rand.New(rand.NewPCG(4, 4)))
	if err != nil {
		t.Fatal(err)
	}
	if !mat.Equal(sa.Samples, sb.Samples) || sa.Draws != sb.Draws {
		t.Errorf("samples differ after the round trip")
	}
	la, lb := ca.LogProbBatch(nil, sa.Samples), cb.LogProbBatch(nil, sa.Samples)
	for i := range la {
		if la[i] != lb[i] {
			t.Fatalf("log-prob %d: got %v after the round trip, want %v", i, lb[i], la[i])
		}
	}
	aa, _ := ca.LogAcceptance()
	ab, _ := cb.LogAcceptance()
	if aa != ab {
		t.Errorf("log acceptance: got %v after the round trip, want %v", ab, aa)
	}
}

// TestSaveLoadPriors round-trips posteriors over every describable prior
// kind, and a custom prior through LoadWithPrior.
func TestSaveLoadPriors(t *testing.T) {
	t.Parallel()
	normal, _ := dist.NewDiagNormal([]float64{0, 1}, []float64{1, 2})
	lognormal, _ := dist.NewLogNormal([]float64{0, 1}, []float64{0.5, 0.3})
	indep, _ := dist.NewIndependent(distuv.Uniform{Min: -1, Max: 1}, distuv.Normal{Mu: 0, Sigma: 1})
	for _, prior := range []dist.Distribution{normal, lognormal, indep, box(t, []float64{-1, -1}, []float64{1, 1})} {
		rng := rand.New(rand.NewPCG(1, 9))
		theta := dist.SampleN(prior, 50, rng)
		e, err := sbi.NewNPE(prior, &sbi.NPEConfig{Estimator: tinyMAF, Embedding: sbi.MLPEmbedding{Hidden: 8, Out: 4}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.AppendSimulations(theta, theta, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := e.Train(context.Background(), rng, tinyTrain(2)); err != nil {
			t.Fatal(err)
		}
		post, err := e.Posterior(&sbi.PosteriorSettings{Seed: 77, AcceptanceDraws: 2000})
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := sbi.Save(&buf, post); err != nil {
			t.Fatal(err)
		}
		got, err := sbi.Load(bytes.NewReader(buf.Bytes()))
		if prior == indep {
			if !errors.Is(err, sbi.ErrPrior) {
				t.Fatalf("custom prior: got error %v, want ErrPrior", err)
			}
			if got, err = sbi.LoadWithPrior(bytes.NewReader(buf.Bytes()), prior); err != nil {
				t.Fatal(err)
			}
		} else if err != nil {
			t.Fatalf("%T: %v", prior, err)
		}
		if s := got.Settings(); s.Seed != 77 || s.AcceptanceDraws != 2000 {
			t.Errorf("%T: settings after the round trip %+v", prior, s)
		}
		x := theta.RawRowView(0)
		samePosterior(t, post, got, x)
		// The reconstructed prior agrees with the original.
		for i := range 5 {
			th := theta.RawRowView(i)
			if a, b := prior.LogProb(th), got.Prior().LogProb(th); math.Abs(a-b) > 1e-12*math.Max(1, math.Abs(a)) {
				t.Errorf("%T: prior log-prob %v after the round trip, want %v", prior, b, a)
			}
		}
	}
}

// TestInvalidSimulations checks that invalid simulations from the prior are
// dropped and counted, and that those of later rounds are an error unless
// the caller opts in.
func TestInvalidSimulations(t *testing.T) {
	t.Parallel()
	prior := box(t, []float64{0, 0}, []float64{1, 1})
	sim := simulators.SimulatorFunc{ThetaDim: 2, XDim: 2,
		F: func(_ context.Context, dst, theta []float64, rng *rand.Rand) ([]float64, error) {
			if dst == nil {
				dst = make([]float64, 2)
			}
			dst[0], dst[1] = theta[0]+0.1*rng.NormFloat64(), theta[1]+0.1*rng.NormFloat64()
			if theta[0] > 0.8 {
				dst[1] = math.NaN()
			}
			return dst, nil
		}}
	rng := rand.New(rand.NewPCG(5, 5))
	post, res, err := sbi.Infer(context.Background(), sim, prior, 500, rng,
		&sbi.InferSettings{Config: &sbi.NPEConfig{Estimator: tinyMAF}, Train: tinyTrain(3)})
	if err != nil {
		t.Fatal(err)
	}
	r := res.Rounds[0]
	if r.Dropped != r.Simulation.Invalid || r.Train.NumInvalid != r.Dropped || r.Train.NumSimulations != 500-r.Dropped {
		t.Errorf("got %d dropped, %d invalid in the report, %d counted by Train, %d trained on; want equal counts and 500 in all",
			r.Dropped, r.Simulation.Invalid, r.Train.NumInvalid, r.Train.NumSimulations)
	}
	// About 20% of θ have θ₀ > 0.8: 100 ± 4·√(500·0.2·0.8) ≈ 100 ± 36.
	if r.Dropped < 64 || r.Dropped > 136 {
		t.Errorf("dropped %d of 500, want about 100", r.Dropped)
	}

	// A later round from the posterior.
	e, err := sbi.NewNPE(prior, &sbi.NPEConfig{Estimator: tinyMAF})
	if err != nil {
		t.Fatal(err)
	}
	theta := dist.SampleN(prior, 100, rng)
	x := mat.DenseCopyOf(theta)
	if _, err := e.AppendSimulations(theta, x, nil); err != nil {
		t.Fatal(err)
	}
	c, err := post.At([]float64{0.5, 0.5})
	if err != nil {
		t.Fatal(err)
	}
	x.Set(3, 1, math.Inf(1))
	if _, err := e.AppendSimulations(theta, x, &sbi.AppendOptions{Proposal: c}); !errors.Is(err, sbi.ErrInvalidData) {
		t.Errorf("invalid simulations from a proposal: got error %v, want ErrInvalidData", err)
	}
	if e.NumSimulations() != 100 {
		t.Errorf("a failed append changed the data: %d simulations, want 100", e.NumSimulations())
	}
	n, err := e.AppendSimulations(theta, x, &sbi.AppendOptions{Proposal: c, ExcludeInvalid: true})
	if err != nil || n != 1 || e.NumSimulations() != 199 {
		t.Errorf("with ExcludeInvalid: got %d dropped (%v), %d simulations; want 1 and 199", n, err, e.NumSimulations())
	}
	tr, err := e.Train(context.Background(), rng, tinyTrain(2))
	if err != nil {
		t.Fatal(err)
	}
	if tr.Loss != sbi.LossAtomic || tr.NumInvalid != 1 {
		t.Errorf("after a proposal round: loss %q, %d invalid; want atomic and 1", tr.Loss, tr.NumInvalid)
	}
}

// TestBudget checks rejection sampling when almost nothing is accepted: a
// flow trained for the prior U([-1, 1]²) used with a prior box far from its
// mass.
func TestBudget(t *testing.T) {
	t.Parallel()
	post := fixture(t, wideFixture)
	far := box(t, []float64{5, 5}, []float64{6, 6})
	p, err := sbi.NewDirectPosterior(post.Flow(), far, &sbi.PosteriorSettings{MaxDraws: 20_000, AcceptanceDraws: 1000})
	if err != nil {
		t.Fatal(err)
	}
	c, err := p.At([]float64{0, 0})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	_, err = c.SampleN(ctx, 100, rand.New(rand.NewPCG(1, 2)))
	if !errors.Is(err, sbi.ErrBudget) || !strings.Contains(err.Error(), "acceptance rate") {
		t.Errorf("got error %v, want ErrBudget mentioning the acceptance rate", err)
	}
	if d := c.AcceptanceRate(); !math.IsNaN(d) {
		t.Errorf("AcceptanceRate after a failed call: got %v, want NaN (no completed draws recorded)", d)
	}
	if _, err := c.LogAcceptance(); !errors.Is(err, sbi.ErrBudget) {
		t.Errorf("LogAcceptance: got %v, want ErrBudget", err)
	}
	// With no accepted draw, LogProb divides by the one-sided 95% upper
	// bound of the acceptance rate, 1 - 0.05^(1/1000) for the 1000
	// AcceptanceDraws, instead of returning NaN (issue 12).
	th := []float64{5.5, 5.5}
	lq := post.Flow().LogProbBatch(nil, mat.NewDense(1, 2, th), mat.NewDense(1, 2, []float64{0, 0}))[0]
	want := lq - math.Log(1-math.Pow(0.05, 1.0/1000))
	if lp := c.LogProb(th); math.IsNaN(lp) || math.Abs(lp-want) > 1e-9*math.Max(1, math.Abs(want)) {
		t.Errorf("LogProb with zero acceptance: got %v, want %v", lp, want)
	}
	func() {
		defer func() {
			if r := recover(); r == nil || !strings.Contains(r.(string), "budget") {
				t.Errorf("SampleBatch: got panic %v, want one about the budget", r)
			}
		}()
		c.SampleBatch(mat.NewDense(10, 2, nil), rand.New(rand.NewPCG(1, 2)))
	}()
	pp, err := p.WithSettings(&sbi.PosteriorSettings{MaxDraws: 20_000, AllowPartial: true})
	if err != nil {
		t.Fatal(err)
	}
	cp, _ := pp.At([]float64{0, 0})
	sr, err := cp.SampleN(ctx, 100, rand.New(rand.NewPCG(1, 2)))
	if err != nil || sr.Complete || sr.Draws != 20_000 {
		t.Errorf("AllowPartial: got %+v, %v; want an incomplete result after 20000 draws", sr, err)
	}
	// A time budget.
	pt, _ := p.WithSettings(&sbi.PosteriorSettings{MaxTime: 1})
	ct, _ := pt.At([]float64{0, 0})
	if _, err := ct.SampleN(ctx, 100, rand.New(rand.NewPCG(1, 2))); !errors.Is(err, sbi.ErrBudget) {
		t.Errorf("MaxTime: got error %v, want ErrBudget", err)
	}
}

// TestMAP checks that MAP finds the maximum of the posterior density: no
// point of a fine grid around it is higher (up to the grid's resolution),
// and it improves on the best initial sample.
func TestMAP(t *testing.T) {
	t.Parallel()
	post := fixture(t, wideFixture)
	xo := []float64{0.3, -0.2}
	c, err := post.At(xo)
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.MAP(context.Background(), rand.New(rand.NewPCG(3, 3)), &sbi.MAPSettings{Iterations: 300, NumOptimize: 20})
	if err != nil {
		t.Fatal(err)
	}
	const m, half = 121, 0.3
	grid := mat.NewDense(m*m, 2, nil)
	for i := range m {
		for j := range m {
			grid.SetRow(i*m+j, []float64{xo[0] - half + 2*half*float64(i)/(m-1), xo[1] - half + 2*half*float64(j)/(m-1)})
		}
	}
	lp := c.LogProbBatch(nil, grid)
	best := math.Inf(-1)
	for _, v := range lp {
		best = math.Max(best, v)
	}
	t.Logf("MAP %v: log-prob %.5f (initial best %.5f, grid best %.5f)", res.Theta, res.LogProb, res.InitLogProb, best)
	// Grid spacing 0.005 around a mode of curvature ≈ 1/0.01: the grid
	// maximum is below the true one by at most ½·100·0.0025² ≈ 3e-4 per
	// axis; a MAP lower than the grid's best by more than that failed.
	if res.LogProb < best-1e-3 {
		t.Errorf("MAP log-prob %.5f, grid maximum %.5f", res.LogProb, best)
	}
	if res.LogProb < res.InitLogProb {
		t.Errorf("MAP log-prob %.5f below the best initial sample %.5f", res.LogProb, res.InitLogProb)
	}
	// The posterior is ≈ N(x_o, 0.01·I): its mode is x_o up to the
	// network's approximation error (a fraction of the sd 0.1).
	if d := math.Hypot(res.Theta[0]-xo[0], res.Theta[1]-xo[1]); d > 0.05 {
		t.Errorf("MAP %v is %.3f from x_o %v, want within 0.05", res.Theta, d, xo)
	}
}

// TestBatched checks that batched sampling and log-probs over several
// observations agree with the one-observation methods.
func TestBatched(t *testing.T) {
	t.Parallel()
	post := fixture(t, wideFixture)
	ctx := context.Background()
	xs := mat.NewDense(3, 2, []float64{0, 0, 0.5, -0.5, 0.95, 0.9})
	res, err := post.SampleBatched(ctx, xs, 1000, rand.New(rand.NewPCG(8, 8)))
	if err != nil {
		t.Fatal(err)
	}
	for o, r := range res {
		x := xs.RawRowView(o)
		if n, _ := r.Samples.Dims(); n != 1000 || !r.Complete {
			t.Fatalf("observation %d: %d samples, complete %v", o, n, r.Complete)
		}
		checkInBox(t, r.Samples, []float64{-1, -1}, []float64{1, 1})
		c, _ := post.At(x)
		single, err := c.SampleN(ctx, 1000, rand.New(rand.NewPCG(9, uint64(o))))
		if err != nil {
			t.Fatal(err)
		}
		// Two independent sample means of a posterior with sd ≤ 0.1: the
		// difference has sd ≤ 0.1·√(2/1000) ≈ 0.0045; allow 5 sds.
		for j := range 2 {
			a := stat.Mean(mat.Col(nil, j, r.Samples), nil)
			b := stat.Mean(mat.Col(nil, j, single.Samples), nil)
			if math.Abs(a-b) > 0.023 {
				t.Errorf("observation %d, θ_%d: batched mean %.4f, single mean %.4f", o, j, a, b)
			}
		}
		// Log-probs: batched over rows paired with their observation.
		th := r.Samples.Slice(0, 5, 0, 2).(*mat.Dense)
		rep := mat.NewDense(5, 2, nil)
		for i := range 5 {
			rep.SetRow(i, x)
		}
		got, err := post.LogProbBatched(nil, th, rep)
		if err != nil {
			t.Fatal(err)
		}
		want := c.LogProbBatch(nil, th)
		for i := range got {
			if math.Abs(got[i]-want[i]) > 1e-12*math.Max(1, math.Abs(want[i])) {
				t.Errorf("observation %d row %d: batched log-prob %v, want %v", o, i, got[i], want[i])
			}
		}
	}
	// Near the corner (0.95, 0.9) part of the mass leaks out of the box.
	if res[2].AcceptanceRate > 0.9 || res[0].AcceptanceRate < 0.99 {
		t.Errorf("acceptance rates %.3f at the centre and %.3f at the corner; want ≈ 1 and < 0.9",
			res[0].AcceptanceRate, res[2].AcceptanceRate)
	}
}
