package vi

import (
	"context"
	"errors"
	"math"
	"testing"

	"github.com/gosbi/gosbi/dist"
	"github.com/gosbi/gosbi/internal/fdcheck"
	"github.com/gosbi/gosbi/nn"
	"gonum.org/v1/gonum/mat"
)

// TestPotentialAsDistTarget checks the dist capabilities of a Potential:
// values agree between LogProb, LogProbBatch and LogProbGradBatch, the
// gradient matches central finite differences (accurate to about 1e-8),
// and the parameters of a network inside the potential are left untouched.
func TestPotentialAsDistTarget(t *testing.T) {
	t.Parallel()
	rng := newRand(1)
	net := nn.NewMLP("net", []int{2, 8, 1}, nn.Tanh, rng)
	pot, err := NewPotential(2, func(tp *nn.Tape, th *nn.Tensor) *nn.Tensor {
		return tp.Sub(net.Forward(tp, th), tp.Scale(tp.RowSum(tp.Square(th)), 0.5))
	})
	if err != nil {
		t.Fatal(err)
	}
	const n = 5
	x := mat.NewDense(n, 2, nil)
	for i := range n {
		x.Set(i, 0, rng.NormFloat64())
		x.Set(i, 1, rng.NormFloat64())
	}
	vals := pot.LogProbBatch(nil, x)
	grad := mat.NewDense(n, 2, nil)
	gvals := pot.LogProbGradBatch(nil, grad, x)
	for i := range n {
		row := x.RawRowView(i)
		if v := pot.LogProb(row); v != vals[i] || v != gvals[i] {
			t.Errorf("row %d: LogProb %v, LogProbBatch %v, LogProbGradBatch %v", i, v, vals[i], gvals[i])
		}
		want := fdcheck.Gradient(pot.LogProb, row, 0)
		if err, _ := fdcheck.RelErr(grad.RawRowView(i), want, 1e-3); err > 1e-6 {
			t.Errorf("row %d: gradient %v, finite differences %v", i, grad.RawRowView(i), want)
		}
		g := make([]float64, 2)
		if v := pot.LogProbGrad(g, row); v != vals[i] || g[0] != grad.At(i, 0) || g[1] != grad.At(i, 1) {
			t.Errorf("row %d: LogProbGrad %v %v, want %v %v", i, v, g, vals[i], grad.RawRowView(i))
		}
	}
	for _, p := range net.Params() {
		for _, g := range p.Grad {
			if g != 0 {
				t.Fatalf("parameter %s received a gradient", p.Name)
			}
		}
	}
	if _, err := NewPotential(0, nil); !errors.Is(err, ErrTarget) {
		t.Errorf("NewPotential(0, nil): %v, want ErrTarget", err)
	}
	if _, err := NewConditionalPotential(1, 0, nil); !errors.Is(err, ErrTarget) {
		t.Errorf("NewConditionalPotential(1, 0, nil): %v, want ErrTarget", err)
	}
}

// TestConditionalPotentialCondition checks that Condition fixes the context.
func TestConditionalPotentialCondition(t *testing.T) {
	t.Parallel()
	cp, err := NewConditionalPotential(2, 1, func(tp *nn.Tape, th, x *nn.Tensor) *nn.Tensor {
		return tp.Mul(tp.RowSum(th), x) // (θ1 + θ2)·x
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := []float64{3}
	p := cp.Condition(ctx)
	ctx[0] = 100 // Condition copies its argument
	if got := p.LogProb([]float64{1, 2}); got != 9 {
		t.Errorf("LogProb = %v, want (1+2)·3 = 9", got)
	}
	g := make([]float64, 2)
	p.LogProbGrad(g, []float64{1, 2})
	if g[0] != 3 || g[1] != 3 {
		t.Errorf("gradient %v, want [3 3]", g)
	}
}

// TestBijectorGradient checks the fused bijection op against finite
// differences of Σ_i (c·x_i + ladj_i) for a mix of bounded kinds.
func TestBijectorGradient(t *testing.T) {
	t.Parallel()
	b, err := dist.NewBijection([]float64{0, 1, math.Inf(-1), math.Inf(-1)}, []float64{1, math.Inf(1), 2, math.Inf(1)})
	if err != nil {
		t.Fatal(err)
	}
	bj := bijector{b}
	z := []float64{0.3, -1.2, 0.7, 2, -2.5, 0.1, -0.4, 1.5}
	c := []float64{0.5, -1, 2, 0.25}
	f := func(z []float64) float64 {
		x, ladj := bj.forward(nil, nn.FromSlice(2, 4, append([]float64(nil), z...)))
		var s float64
		for i := range 2 {
			for j := range 4 {
				s += c[j] * x.Data[i*4+j]
			}
			s += 3 * ladj.Data[i]
		}
		return s
	}
	tp := nn.NewTape()
	zt := nn.FromSlice(2, 4, append([]float64(nil), z...))
	tp.Watch(zt)
	x, ladj := bj.forward(tp, zt)
	tp.Backward(tp.Add(tp.Sum(tp.Mul(x, nn.FromSlice(1, 4, c))), tp.Scale(tp.Sum(ladj), 3)))
	want := fdcheck.Gradient(f, z, 0)
	if err, at := fdcheck.RelErr(zt.Grad, want, 1e-3); err > 1e-6 {
		t.Errorf("gradient[%d] = %v, finite difference %v", at, zt.Grad[at], want[at])
	}
}

// TestPosteriorDensity checks Posterior.LogProb on a bounded support
// against the change of variables computed by hand: for q = N(m, s²) on
// z and x = a + (b-a)·sigmoid(z), log p(x) = log N(logit((x-a)/(b-a)); m,
// s²) - log((x-a)(b-x)/(b-a)).
func TestPosteriorDensity(t *testing.T) {
	t.Parallel()
	q, _ := NewGaussian([]float64{0.4}, []float64{0.8})
	b, _ := dist.NewBijection([]float64{-1}, []float64{3})
	p, err := NewPosterior(nil, q, b)
	if err != nil {
		t.Fatal(err)
	}
	if lo, hi := p.Bounds(); lo[0] != -1 || hi[0] != 3 {
		t.Errorf("Bounds = %v, %v", lo, hi)
	}
	for _, x := range []float64{-0.99, 0, 1.5, 2.9} {
		u := (x + 1) / 4
		z := math.Log(u / (1 - u))
		want := distuvNormalLogProb(z, 0.4, 0.8) - math.Log((x+1)*(3-x)/4)
		if got := p.LogProb([]float64{x}); math.Abs(got-want) > 1e-9 {
			t.Errorf("LogProb(%g) = %.12f, want %.12f", x, got, want)
		}
	}
	draw := p.Sample(nil, newRand(1))
	if !(draw[0] > -1 && draw[0] < 3) {
		t.Errorf("draw %v outside (-1, 3)", draw)
	}
	if _, err := NewPosterior(nil, nil, nil); !errors.Is(err, ErrConfig) {
		t.Errorf("NewPosterior(nil q): %v", err)
	}
	if _, err := NewPosterior(nil, q, dist.NewIdentityBijection(2)); !errors.Is(err, ErrConfig) {
		t.Errorf("NewPosterior with a 2-D bijection: %v", err)
	}
	other, _ := dist.NewDiagNormal([]float64{0, 0}, []float64{1, 1})
	if _, err := NewPosterior(other, q, nil); !errors.Is(err, ErrTarget) {
		t.Errorf("NewPosterior with a 2-D target: %v", err)
	}
}

func distuvNormalLogProb(x, mu, sd float64) float64 {
	r := (x - mu) / sd
	return -0.5*r*r - math.Log(sd) - 0.5*math.Log(2*math.Pi)
}

// TestPosteriorConcurrent uses one posterior from several goroutines (run
// with -race): sampling, densities, importance resampling and PSIS share
// the flow and the target through pools.
func TestPosteriorConcurrent(t *testing.T) {
	t.Parallel()
	pot := bananaPotential(t, 1, 0.5)
	init, _ := dist.NewDiagNormal([]float64{0, 0}, []float64{1, 2})
	q, err := NewQ(Gaussian{}, init, nil, 100, newRand(1))
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPosterior(pot, q, nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 4)
	for g := range 4 {
		go func() {
			rng := newRand(uint64(g))
			x := mat.NewDense(200, 2, nil)
			p.SampleBatch(x, rng)
			p.LogProbBatch(nil, x)
			if err := p.SampleImportance(x, 4, rng); err != nil {
				done <- err
				return
			}
			_, err := p.PSIS(100, rng)
			done <- err
		}()
	}
	for range 4 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

// TestFromDist checks that a dist prior on the tape gives its log density
// and gradient, and that a potential combining it with nn ops fits: the
// sum of a N(0, 1) prior (via FromDist) and a N(2, 1) likelihood term is
// N(1, 1/2) up to a constant.
func TestFromDist(t *testing.T) {
	t.Parallel()
	prior, _ := dist.NewDiagNormal([]float64{0}, []float64{1})
	lp, err := FromDist(prior)
	if err != nil {
		t.Fatal(err)
	}
	tp := nn.NewTape()
	th := nn.FromSlice(2, 1, []float64{0.5, -1})
	tp.Watch(th)
	out := lp.LogDensity(tp, th)
	tp.Backward(tp.Sum(out))
	for i, x := range []float64{0.5, -1} {
		if want := prior.LogProb([]float64{x}); math.Abs(out.Data[i]-want) > 1e-12 || math.Abs(th.Grad[i]+x) > 1e-12 {
			t.Errorf("θ = %g: log density %v, gradient %v; want %v and %v", x, out.Data[i], th.Grad[i], want, -x)
		}
	}
	pot, _ := NewPotential(1, func(tp *nn.Tape, th *nn.Tensor) *nn.Tensor {
		return tp.Add(lp.LogDensity(tp, th), tp.Scale(tp.Square(tp.Shift(th, -2)), -0.5))
	})
	q, _ := NewGaussian([]float64{0}, []float64{1})
	if _, _, err := Fit(context.Background(), pot, q, newRand(1), &Settings{LearningRate: 0.03, STL: true, QualitySamples: -1}); err != nil {
		t.Fatal(err)
	}
	if m, c, _ := GaussianMoments(q); math.Abs(m[0]-1) > 0.01 || math.Abs(c.At(0, 0)-0.5) > 0.01 {
		t.Errorf("fit mean %.4f var %.4f, want 1 and 0.5", m[0], c.At(0, 0))
	}
	if _, err := FromDist(valueOnly{prior}); !errors.Is(err, ErrTarget) {
		t.Errorf("FromDist without gradient: %v, want ErrTarget", err)
	}
	if _, err := FromDist(nil); !errors.Is(err, ErrTarget) {
		t.Errorf("FromDist(nil): %v, want ErrTarget", err)
	}
}
