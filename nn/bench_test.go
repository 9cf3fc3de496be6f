package nn

import (
	"math/rand/v2"
	"testing"
)

// mlpFlops counts the floating-point operations of the matrix products of
// one training step of an MLP (2·m·n·k per GEMM): the forward product and
// the weight gradient of every layer, and the input gradient of every layer
// but the first (the data is not watched).
func mlpFlops(widths []int, batch int) float64 {
	f := 0.0
	for l := 0; l+1 < len(widths); l++ {
		g := 2 * float64(batch*widths[l]*widths[l+1])
		f += 2 * g
		if l > 0 {
			f += g
		}
	}
	return f
}

// benchTrainStep measures one training step (forward, MSE loss, backward,
// Adam) of an MLP with tanh activations.
func benchTrainStep(b *testing.B, widths []int, batch int) {
	s := newMLPStep(widths, Tanh, batch, 1)
	for range 3 {
		s.step()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		s.step()
	}
	b.ReportMetric(mlpFlops(widths, batch)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// benchInference measures a forward pass on a NoGrad tape.
func benchInference(b *testing.B, widths []int, batch int) {
	rng := rand.New(rand.NewPCG(1, 1))
	net := NewMLP("m", widths, Tanh, rng)
	x := randTensor(rng, batch, widths[0], normal)
	tp := NewNoGradTape()
	b.ReportAllocs()
	for range b.N {
		tp.Reset()
		net.Forward(tp, x)
	}
	fwd := mlpFlops(widths, batch) // includes backward terms; scale to forward only
	for l := 0; l+1 < len(widths); l++ {
		g := 2 * float64(batch*widths[l]*widths[l+1])
		fwd -= g
		if l > 0 {
			fwd -= g
		}
	}
	b.ReportMetric(fwd*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

func BenchmarkTrainStepMLP4x50x50x4Batch200(b *testing.B) {
	benchTrainStep(b, []int{4, 50, 50, 4}, 200)
}

func BenchmarkTrainStepMLP20x128x128x20Batch512(b *testing.B) {
	benchTrainStep(b, []int{20, 128, 128, 20}, 512)
}

func BenchmarkInferenceMLP20x128x128x20Batch512(b *testing.B) {
	benchInference(b, []int{20, 128, 128, 20}, 512)
}
