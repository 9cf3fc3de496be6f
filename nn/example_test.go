package nn_test

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/gosbi/gosbi/nn"
)

// Example trains a small MLP to fit y = x² on [-1, 1] with Adam, reusing
// one tape (and its arena) across steps.
func Example() {
	rng := rand.New(rand.NewPCG(1, 2))
	x, y := nn.New(64, 1), nn.New(64, 1)
	for i := range 64 {
		v := -1 + 2*float64(i)/63
		x.Data[i], y.Data[i] = v, v*v
	}
	net := nn.NewMLP("net", []int{1, 16, 1}, nn.Tanh, rng)
	opt := nn.NewAdam(net.Params(), 0.01)
	tp := nn.NewTape()
	for step := 0; step < 2000; step++ {
		tp.Reset()
		loss := tp.MSE(net.Forward(tp, x), y)
		tp.Backward(loss)
		nn.ClipGradNorm(net.Params(), 5)
		opt.Step()
		opt.ZeroGrad()
	}
	var infer *nn.Tape // nil: plain inference, nothing recorded
	pred := net.Forward(infer, nn.FromSlice(3, 1, []float64{-0.5, 0, 0.5}))
	fmt.Printf("f(-0.5) = %.2f, f(0) = %.2f, f(0.5) = %.2f\n", pred.Data[0], pred.Data[1], pred.Data[2])
	// Output: f(-0.5) = 0.25, f(0) = 0.00, f(0.5) = 0.25
}

// ExampleTape_Watch computes the gradient of a function with respect to
// its input, as HMC needs: for f(x) = Σ x_i², ∇f = 2x.
func ExampleTape_Watch() {
	x := nn.FromSlice(1, 3, []float64{1, -2, 3})
	tp := nn.NewTape()
	tp.Watch(x)
	f := tp.Sum(tp.Square(x))
	tp.Backward(f)
	fmt.Println(f.Item(), x.Grad)
	// Output: 14 [2 -4 6]
}

// softsign is a fused op computing y = x/(1+|x|) elementwise in one pass,
// with its own backward dy/dx = 1/(1+|x|)².
type softsign struct{}

func (softsign) Backward(ins, outs []*nn.Tensor, need []bool) {
	if !need[0] {
		return
	}
	x, y := ins[0], outs[0]
	for i, g := range y.Grad {
		d := 1 + math.Abs(x.Data[i])
		x.Grad[i] += g / (d * d)
	}
}

func softsignOp(tp *nn.Tape, x *nn.Tensor) *nn.Tensor {
	y := tp.New(x.Rows, x.Cols)
	for i, v := range x.Data {
		y.Data[i] = v / (1 + math.Abs(v))
	}
	tp.Fused(softsign{}, []*nn.Tensor{x}, y)
	return y
}

// ExampleTape_Fused adds a differentiable op with a hand-written backward
// pass.
func ExampleTape_Fused() {
	x := nn.FromSlice(1, 2, []float64{1, -3})
	tp := nn.NewTape()
	tp.Watch(x)
	y := softsignOp(tp, x)
	tp.Backward(tp.Sum(y))
	fmt.Println(y.Data, x.Grad)
	// Output: [0.5 -0.75] [0.25 0.0625]
}

// ExampleAdam minimises (p - 3)² with Adam.
func ExampleAdam() {
	p := nn.NewParam("p", 1, 1)
	opt := nn.NewAdam([]*nn.Tensor{p}, 0.1)
	tp := nn.NewTape()
	for range 500 {
		tp.Reset()
		tp.Backward(tp.Square(tp.Shift(p, -3)))
		opt.Step()
		opt.ZeroGrad()
	}
	fmt.Printf("p = %.3f after %d steps\n", p.Item(), opt.T)
	// Output: p = 3.000 after 500 steps
}

// ExampleSave saves a network's parameters and loads them into another
// network of the same architecture.
func ExampleSave() {
	a := nn.NewMLP("net", []int{2, 4, 1}, nn.Tanh, rand.New(rand.NewPCG(1, 1)))
	b := nn.NewMLP("net", []int{2, 4, 1}, nn.Tanh, rand.New(rand.NewPCG(2, 2)))
	var buf bytes.Buffer
	if err := nn.Save(&buf, a.Params()); err != nil {
		fmt.Println(err)
		return
	}
	if err := nn.Load(&buf, b.Params()); err != nil {
		fmt.Println(err)
		return
	}
	x := nn.FromSlice(1, 2, []float64{0.3, -0.7})
	var tp *nn.Tape
	fmt.Println(a.Forward(tp, x).Item() == b.Forward(tp, x).Item())
	// Output: true
}

// ExampleNewNoGradTape evaluates a network repeatedly without recording,
// reusing the tape's buffers from one batch to the next.
func ExampleNewNoGradTape() {
	net := nn.NewMLP("net", []int{2, 8, 1}, nn.Tanh, rand.New(rand.NewPCG(1, 1)))
	tp := nn.NewNoGradTape()
	x := nn.New(4, 2)
	sum := 0.0
	for batch := 0; batch < 3; batch++ {
		tp.Reset() // previous outputs are recycled here
		for i := range x.Data {
			x.Data[i] = float64(batch+i) / 10
		}
		y := net.Forward(tp, x)
		sum += tp.Sum(y).Item()
	}
	fmt.Printf("recorded ops: %d, sum of outputs: %.3f\n", tp.Len(), sum)
	// Output: recorded ops: 0, sum of outputs: -1.925
}

// ExampleNewMaskedLinear builds a layer whose output 0 sees only input 0
// and output 1 sees both inputs, as in MADE.
func ExampleNewMaskedLinear() {
	mask := nn.FromSlice(2, 2, []float64{1, 0, 1, 1}).Dense()
	l := nn.NewMaskedLinear("made", mask, false, rand.New(rand.NewPCG(1, 1)))
	var tp *nn.Tape
	a := l.Forward(tp, nn.FromSlice(1, 2, []float64{1, 0}))
	b := l.Forward(tp, nn.FromSlice(1, 2, []float64{1, 5}))
	fmt.Println("output 0 unchanged:", a.Data[0] == b.Data[0], "output 1 unchanged:", a.Data[1] == b.Data[1])
	// Output: output 0 unchanged: true output 1 unchanged: false
}

// ExampleDataParallel trains the MLP of Example with each batch split
// between two goroutines: each computes the loss of its rows (their
// squared errors over the batch size, so that the parts add up to the
// mean) and its backward pass on its own tape.
func ExampleDataParallel() {
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 64
	x, y := nn.New(n, 1), nn.New(n, 1)
	for i := range n {
		v := -1 + 2*float64(i)/(n-1)
		x.Data[i], y.Data[i] = v, v*v
	}
	net := nn.NewMLP("net", []int{1, 16, 1}, nn.Tanh, rng)
	opt := nn.NewAdam(net.Params(), 0.01)
	dp := nn.NewDataParallel(net.Params(), 2)
	defer dp.Close()
	loss := func(tp *nn.Tape, from, to int) *nn.Tensor {
		xb, yb := tp.New(to-from, 1), tp.New(to-from, 1)
		copy(xb.Data, x.Data[from:to])
		copy(yb.Data, y.Data[from:to])
		return tp.Scale(tp.MSE(net.Forward(tp, xb), yb), float64(to-from)/n)
	}
	var l float64
	for step := 0; step < 2000; step++ {
		l = dp.Backward(n, loss)
		nn.ClipGradNorm(net.Params(), 5)
		opt.Step()
		opt.ZeroGrad()
	}
	pred := net.Forward(nil, nn.FromSlice(3, 1, []float64{-0.5, 0, 0.5}))
	fmt.Printf("loss %.4f; f(-0.5) = %.2f, f(0) = %.2f, f(0.5) = %.2f\n", l, pred.Data[0], pred.Data[1], pred.Data[2])
	// Output: loss 0.0000; f(-0.5) = 0.25, f(0) = 0.00, f(0.5) = 0.25
}
