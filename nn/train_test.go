package nn

import (
	"math/rand/v2"
	"testing"
)

// mlpStep is one training step of an MLP regression: forward, MSE loss,
// backward, Adam.
type mlpStep struct {
	net  *MLP
	opt  *Adam
	tp   *Tape
	x, y *Tensor
}

func newMLPStep(widths []int, act Activation, batch int, seed uint64) *mlpStep {
	rng := rand.New(rand.NewPCG(seed, 1))
	s := &mlpStep{
		net: NewMLP("mlp", widths, act, rng),
		tp:  NewTape(),
		x:   New(batch, widths[0]),
		y:   New(batch, widths[len(widths)-1]),
	}
	s.opt = NewAdam(s.net.Params(), 1e-3)
	for i := range s.x.Data {
		s.x.Data[i] = rng.NormFloat64()
	}
	for i := range s.y.Data {
		s.y.Data[i] = rng.NormFloat64()
	}
	return s
}

func (s *mlpStep) step() float64 {
	s.tp.Reset()
	loss := s.tp.MSE(s.net.Forward(s.tp, s.x), s.y)
	s.tp.Backward(loss)
	s.opt.Step()
	s.opt.ZeroGrad()
	return loss.Item()
}

// TestTrainStepAllocs checks that a steady-state training step (forward,
// MSE loss, backward, Adam, zeroing) makes no allocation: the tape's arena,
// the optimiser and the GEMM kernel (internal/gemm, whose scratch buffers
// and worker goroutines are recycled) reuse their memory. Both networks are
// checked: the small one's products run on the calling goroutine, the
// large one's (at least 2²¹ flops each) are split between goroutines.
func TestTrainStepAllocs(t *testing.T) {
	for _, tc := range []struct {
		widths []int
		batch  int
	}{
		{[]int{4, 50, 50, 4}, 200},
		{[]int{3, 16, 16, 2}, 64},
		{[]int{20, 128, 128, 20}, 512},
	} {
		s := newMLPStep(tc.widths, Tanh, tc.batch, 1)
		for i := 0; i < 3; i++ {
			s.step() // warm-up: grow the arena and the gradients
		}
		if got := testing.AllocsPerRun(20, func() { s.step() }); got != 0 {
			t.Errorf("%v, batch %d: got %v allocations per step, want 0", tc.widths, tc.batch, got)
		}
	}
}
