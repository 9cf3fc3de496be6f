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

// TestTrainStepAllocs checks that a steady-state training step allocates a
// small constant number of times, independent of the number of steps. The
// tape's arena and the optimiser make no allocations at all; the only
// allocations come from gonum's Dgemm, which starts worker goroutines (a
// channel, a WaitGroup and one closure per 64×64 block) when the output has
// at least 4 such blocks. The 4→50→50→4 MLP at batch 200 has at most
// 4 blocks per product and 9 products per step, hence the bound below.
func TestTrainStepAllocs(t *testing.T) {
	s := newMLPStep([]int{4, 50, 50, 4}, Tanh, 200, 1)
	for i := 0; i < 3; i++ {
		s.step() // warm-up: grow the arena and the gradients
	}
	a10 := testing.AllocsPerRun(10, func() { s.step() })
	a50 := testing.AllocsPerRun(50, func() { s.step() })
	const bound = 9 * (4 + 3) // 9 GEMMs × (4 goroutine closures + channel, WaitGroup, slack)
	if a10 > bound || a50 > bound {
		t.Errorf("allocations per step: got %v (10 runs) and %v (50 runs), want <= %d", a10, a50, bound)
	}
	if a50 > a10 {
		t.Errorf("allocations per step grow with the number of steps: %v after 10 runs, %v after 50", a10, a50)
	}
	// A small network whose products stay below gonum's parallel
	// threshold must not allocate at all.
	small := newMLPStep([]int{3, 16, 16, 2}, Tanh, 64, 2)
	for i := 0; i < 3; i++ {
		small.step()
	}
	if got := testing.AllocsPerRun(20, func() { small.step() }); got != 0 {
		t.Errorf("allocations per step of a small MLP: got %v, want 0", got)
	}
	t.Logf("allocations per step: %v (4→50→50→4, batch 200)", a50)
}
