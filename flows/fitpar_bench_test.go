package flows

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/gosbi/gosbi/nn"
	"gonum.org/v1/gonum/mat"
)

// benchFitStep times Fit's training step (loss, backward, clipping at 5,
// Adam) of sbi's default MAF (5 transforms, 50 hidden units) for D = C =
// dim on batches of batch rows cut into parts parts: the measurements
// behind DefaultParts.
func benchFitStep(b *testing.B, dim, batch, parts int) {
	b.ReportAllocs()
	rng := rand.New(rand.NewPCG(26, 1))
	n := 4 * batch
	th, x := benchLinearData(n, dim, rng)
	f, err := MAF{Transforms: 5, Hidden: 50}.Build(x, th, rng)
	if err != nil {
		b.Fatal(err)
	}
	params := f.Params()
	xs, cs := denseData(x), denseData(th)
	loss := func(tp *nn.Tape, idx []int) *nn.Tensor {
		return tp.Neg(tp.Mean(f.LogProb(tp, gatherRows(tp, xs, dim, idx), gatherRows(tp, cs, dim, idx))))
	}
	st := newStepper(params, loss, parts)
	defer st.close()
	opt := nn.NewAdam(params, 5e-4)
	perm := rng.Perm(n)
	nn.ZeroGrad(params)
	// One warm-up step fills the tapes' arenas, so that the figures are
	// those of the steady state.
	st.grad(perm[:batch])
	nn.ZeroGrad(params)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		from := (i % 4) * batch
		st.grad(perm[from : from+batch])
		if norm := nn.GradNorm(params); norm > 5 {
			scaleGrads(params, 5/(norm+1e-6))
		}
		opt.Step()
		opt.ZeroGrad()
	}
}

// benchLinearData returns n rows of context c (n×dim, standard normal) and
// x = c + 0.5·noise.
func benchLinearData(n, dim int, rng *rand.Rand) (c, x *mat.Dense) {
	c, x = mat.NewDense(n, dim, nil), mat.NewDense(n, dim, nil)
	for i := range n {
		for j := range dim {
			v := rng.NormFloat64()
			c.Set(i, j, v)
			x.Set(i, j, v+0.5*rng.NormFloat64())
		}
	}
	return c, x
}

func BenchmarkFitStepParts(b *testing.B) {
	for _, dim := range []int{2, 10} {
		for _, batch := range []int{64, 128, 256} {
			for _, parts := range []int{1, 2} {
				b.Run(fmt.Sprintf("D%d/B%d/P%d", dim, batch, parts), func(b *testing.B) { benchFitStep(b, dim, batch, parts) })
			}
		}
	}
}
