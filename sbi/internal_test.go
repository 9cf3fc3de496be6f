package sbi

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/gosbi/gosbi/dist"
	"github.com/gosbi/gosbi/flows"
	"github.com/gosbi/gosbi/nn"
	"gonum.org/v1/gonum/floats/scalar"
	"gonum.org/v1/gonum/mat"
)

// TestSplitMatchesFit checks that splitIndices predicts the validation rows
// flows.Fit uses (the z-scoring statistics are fitted to the complement):
// the loss sees the validation rows on its NoGrad tape.
func TestSplitMatchesFit(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		n  int
		vf float64
	}{{10, 0}, {57, 0.1}, {200, 0.25}, {3, 0.5}} {
		const s1, s2 = 11, 29
		p := nn.NewParam("p", 1, 1)
		seen := map[int]bool{}
		loss := func(tp *nn.Tape, idx []int) *nn.Tensor {
			if tp.NoGrad {
				for _, i := range idx {
					seen[i] = true
				}
			}
			return tp.Mean(tp.Square(p))
		}
		_, err := flows.Fit(context.Background(), []*nn.Tensor{p}, tc.n, loss, rand.New(rand.NewPCG(s1, s2)),
			&flows.Settings{MaxEpochs: 1, ValidationFraction: tc.vf})
		if err != nil {
			t.Fatal(err)
		}
		var got []int
		for i := range seen {
			got = append(got, i)
		}
		slices.Sort(got)
		_, val := splitIndices(tc.n, tc.vf, s1, s2)
		want := slices.Clone(val)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("n=%d f=%v: Fit validated rows %v, splitIndices predicts %v", tc.n, tc.vf, got, want)
		}
	}
}

// TestAtomicLoss checks the atomic loss against a direct evaluation: with
// as many atoms as rows every other row of the batch is an atom, so the
// loss is deterministic:
//
//	-mean_i [ l_ii - log Σ_j exp(l_ij) ],  l_ij = log q(θ_j | x_i) - log p(θ_j).
func TestAtomicLoss(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	prior, err := dist.NewDiagNormal([]float64{0, 1}, []float64{1, 2})
	if err != nil {
		t.Fatal(err)
	}
	const n = 7
	theta := dist.SampleN(prior, n, rng)
	x := mat.NewDense(n, 3, nil)
	for i := range n {
		for j := range 3 {
			x.Set(i, j, theta.At(i, j%2)+rng.NormFloat64())
		}
	}
	e, err := NewNPE(prior, &NPEConfig{Estimator: flows.MAF{Transforms: 2, Hidden: 8}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.AppendSimulations(theta, x, nil); err != nil {
		t.Fatal(err)
	}
	if e.flow, _, err = e.build(theta, x, rng); err != nil {
		t.Fatal(err)
	}
	idx := []int{4, 0, 6, 2, 5}
	b := len(idx)
	loss := e.atomicLoss(b, rand.New(rand.NewPCG(5, 6)))
	got := loss(nn.NewNoGradTape(), idx).Item()

	var want float64
	for _, i := range idx {
		lij := make([]float64, 0, b)
		for _, j := range idx {
			lq := e.flow.Condition(x.RawRowView(i)).LogProb(theta.RawRowView(j))
			lij = append(lij, lq-prior.LogProb(theta.RawRowView(j)))
		}
		m := slices.Max(lij)
		var s float64
		for _, v := range lij {
			s += math.Exp(v - m)
		}
		li := e.flow.Condition(x.RawRowView(i)).LogProb(theta.RawRowView(i)) - prior.LogProb(theta.RawRowView(i))
		want -= (li - m - math.Log(s)) / float64(b)
	}
	if !scalar.EqualWithinAbsOrRel(got, want, 1e-10, 1e-10) {
		t.Errorf("atomic loss: got %.12g, want %.12g", got, want)
	}

	// With fewer atoms the loss is random but bounded: each term lies
	// between 0 and the full-batch term's contrast, and it must be finite
	// and differentiable (Backward does not panic).
	tp := nn.NewTape()
	l := e.atomicLoss(3, rand.New(rand.NewPCG(7, 8)))(tp, idx)
	if v := l.Item(); math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		t.Errorf("atomic loss with 3 atoms: got %v, want a finite non-negative value", v)
	}
	tp.Backward(l)
	if g := nn.GradNorm(e.flow.Params()); !(g > 0) {
		t.Errorf("atomic loss gradient norm %v, want > 0", g)
	}
}
