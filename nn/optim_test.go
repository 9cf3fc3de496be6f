package nn

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// refAdam is a direct transcription of Kingma & Ba (2015), Algorithm 1,
// with optional L2 (coupled) or decoupled (AdamW) weight decay.
func refAdam(p, g []float64, steps int, lr, wd float64, decoupled bool) []float64 {
	const b1, b2, eps = 0.9, 0.999, 1e-8
	p = slices.Clone(p)
	m := make([]float64, len(p))
	v := make([]float64, len(p))
	for t := 1; t <= steps; t++ {
		for i := range p {
			gi := g[i] * float64(t) // a gradient that changes with t
			if decoupled {
				p[i] *= 1 - lr*wd
			} else {
				gi += wd * p[i]
			}
			m[i] = b1*m[i] + (1-b1)*gi
			v[i] = b2*v[i] + (1-b2)*gi*gi
			mhat := m[i] / (1 - math.Pow(b1, float64(t)))
			vhat := v[i] / (1 - math.Pow(b2, float64(t)))
			p[i] -= lr * mhat / (math.Sqrt(vhat) + eps)
		}
	}
	return p
}

func TestAdamMatchesReference(t *testing.T) {
	t.Parallel()
	p0 := []float64{1, -2, 0.5, 3}
	g := []float64{0.3, -1e-3, 2, 0}
	for _, tc := range []struct {
		name      string
		wd        float64
		decoupled bool
	}{{"Adam", 0, false}, {"Adam/L2", 0.1, false}, {"AdamW", 0.05, true}} {
		p := NewParam("p", 1, 4)
		copy(p.Data, p0)
		var opt *Adam
		if tc.decoupled {
			opt = NewAdamW([]*Tensor{p}, 0.01, tc.wd)
		} else {
			opt = NewAdam([]*Tensor{p}, 0.01)
			opt.WeightDecay = tc.wd
		}
		const steps = 5
		for s := 1; s <= steps; s++ {
			for i := range g {
				p.Grad[i] = g[i] * float64(s)
			}
			opt.Step()
		}
		want := refAdam(p0, g, steps, 0.01, tc.wd, tc.decoupled)
		for i := range want {
			if math.Abs(p.Data[i]-want[i]) > 1e-14 {
				t.Errorf("%s: p[%d] = %v, want %v", tc.name, i, p.Data[i], want[i])
			}
		}
	}
}

func TestAdamScheduleAndState(t *testing.T) {
	t.Parallel()
	mk := func() (*Tensor, *Adam) {
		p := NewParam("p", 1, 3)
		copy(p.Data, []float64{1, 2, 3})
		opt := NewAdam([]*Tensor{p}, 0.1)
		return p, opt
	}
	grad := func(p *Tensor, s int) {
		for i := range p.Grad {
			p.Grad[i] = math.Sin(float64(s + i))
		}
	}
	// A schedule returning 0 freezes the parameters but still advances T.
	p, opt := mk()
	var seen []int
	opt.Schedule = func(step int) float64 { seen = append(seen, step); return 0 }
	for s := 1; s <= 3; s++ {
		grad(p, s)
		opt.Step()
	}
	if !slices.Equal(p.Data, []float64{1, 2, 3}) || !slices.Equal(seen, []int{1, 2, 3}) || opt.T != 3 {
		t.Errorf("zero schedule: params %v, steps seen %v, T %d", p.Data, seen, opt.T)
	}

	// Interrupting training and resuming from an exported state is
	// identical to training straight through.
	p1, o1 := mk()
	for s := 1; s <= 6; s++ {
		grad(p1, s)
		o1.Step()
	}
	p2, o2 := mk()
	for s := 1; s <= 3; s++ {
		grad(p2, s)
		o2.Step()
	}
	state, vals := o2.State(), slices.Clone(p2.Data)
	p3, o3 := mk()
	copy(p3.Data, vals)
	if err := o3.SetState(state); err != nil {
		t.Fatal(err)
	}
	for s := 4; s <= 6; s++ {
		grad(p3, s)
		o3.Step()
	}
	if !bitsEqual(p3.Data, p1.Data) {
		t.Errorf("resumed training: got %v, want %v", p3.Data, p1.Data)
	}
	if err := o3.SetState(AdamState{T: 1, M: [][]float64{{1}}, V: [][]float64{{1}}}); err == nil {
		t.Errorf("SetState with wrong sizes: no error")
	}
	if err := o3.SetState(AdamState{T: -1, M: state.M, V: state.V}); err == nil {
		t.Errorf("SetState with negative T: no error")
	}
}

func TestClipGradNorm(t *testing.T) {
	t.Parallel()
	a, b := NewParam("a", 1, 2), NewParam("b", 2, 1)
	copy(a.Grad, []float64{3, 0})
	copy(b.Grad, []float64{0, 4})
	ps := []*Tensor{a, b}
	if n := ClipGradNorm(ps, 10); n != 5 || a.Grad[0] != 3 || b.Grad[1] != 4 {
		t.Errorf("below the limit: norm %v, grads %v %v", n, a.Grad, b.Grad)
	}
	if n := ClipGradNorm(ps, 1); n != 5 {
		t.Errorf("norm: got %v, want 5", n)
	}
	if n := GradNorm(ps); math.Abs(n-1) > 1e-6 {
		t.Errorf("norm after clipping to 1: got %v", n)
	}
	copy(a.Grad, []float64{3e200, 0})
	copy(b.Grad, []float64{0, 4e200})
	if n := GradNorm(ps); math.Abs(n/5e200-1) > 1e-15 {
		t.Errorf("norm without overflow: got %v, want 5e200", n)
	}
	a.Grad[0] = math.NaN()
	if n := ClipGradNorm(ps, 1); !math.IsNaN(n) || b.Grad[1] != 4e200 {
		t.Errorf("NaN gradient: norm %v, grads changed to %v", n, b.Grad)
	}
}

// TestAdamRosenbrock minimises the Rosenbrock function
// f(x, y) = (1-x)² + 100(y-x²)², whose minimum is at (1, 1), from the
// classic start (-1.2, 1), with the loss built from tape ops.
func TestAdamRosenbrock(t *testing.T) {
	t.Parallel()
	p := NewParam("xy", 1, 2)
	p.Data[0], p.Data[1] = -1.2, 1
	const lr, steps = 0.05, 5000
	opt := NewAdam([]*Tensor{p}, lr)
	// Constant steps for the first half, then exponential decay to
	// lr/1000, lets Adam settle in the narrow curved valley instead of
	// hovering across it at a distance proportional to lr.
	opt.Schedule = func(t int) float64 {
		if t < steps/2 {
			return lr
		}
		return lr * math.Pow(1e-3, float64(t-steps/2)/(steps/2))
	}
	tp := NewTape()
	var f float64
	for s := 0; s < steps; s++ {
		tp.Reset()
		x, y := tp.SliceCols(p, 0, 1), tp.SliceCols(p, 1, 2)
		loss := tp.Add(tp.Square(tp.Shift(tp.Neg(x), 1)), tp.Scale(tp.Square(tp.Sub(y, tp.Square(x))), 100))
		tp.Backward(loss)
		opt.Step()
		opt.ZeroGrad()
		f = loss.Item()
	}
	// Tolerance: along the valley floor f ≈ (1-x)², so |x-1| < 1e-6 needs
	// f < 1e-12 (this run reaches about 1e-17); y ≈ x² doubles the error.
	if math.Abs(p.Data[0]-1) > 1e-6 || math.Abs(p.Data[1]-1) > 2e-6 || f > 1e-12 {
		t.Errorf("Adam on Rosenbrock: got (%v, %v) with f = %v, want (1, 1)", p.Data[0], p.Data[1], f)
	}
}

// TestMLPRegression fits y = sin(3x) + ε, ε ~ N(0, σ²), σ = 0.1, on x ∈
// [-1, 1] and checks the fit reaches the noise level.
func TestMLPRegression(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(10, 1))
	const n, sigma = 256, 0.1
	f := func(x float64) float64 { return math.Sin(3 * x) }
	data := func(n int) (x, y *Tensor) {
		x, y = New(n, 1), New(n, 1)
		for i := range n {
			x.Data[i] = 2*rng.Float64() - 1
			y.Data[i] = f(x.Data[i]) + sigma*rng.NormFloat64()
		}
		return x, y
	}
	x, y := data(n)
	net := NewMLP("reg", []int{1, 32, 32, 1}, Tanh, rng)
	opt := NewAdam(net.Params(), 1e-2)
	tp := NewTape()
	for s := 0; s < 1500; s++ {
		tp.Reset()
		tp.Backward(tp.MSE(net.Forward(tp, x), y))
		opt.Step()
		opt.ZeroGrad()
	}
	const m = 2000
	xt, yt := data(m)
	pred := net.Forward(nil, xt)
	var fitErr, testMSE float64
	for i := range m {
		d := pred.Data[i] - f(xt.Data[i])
		fitErr += d * d / m
		e := pred.Data[i] - yt.Data[i]
		testMSE += e * e / m
	}
	// Held-out MSE estimates σ² + fit error; its sampling sd is about
	// σ²·√(2/m) = 3.2e-4, so 5 sd above σ² = 0.01 is 0.0116. The function
	// error itself must be well under the noise variance (10 %).
	if testMSE > sigma*sigma*(1+5*math.Sqrt(2.0/m)) || fitErr > 0.1*sigma*sigma {
		t.Errorf("regression: held-out MSE %.5f (noise variance %.5f), function error %.5f", testMSE, sigma*sigma, fitErr)
	}
	t.Logf("held-out MSE %.5f, function error %.5f", testMSE, fitErr)
}

// TestMLPXOR trains a classifier on noisy XOR clusters with the logistic
// loss softplus(z) - y·z and checks it separates them.
func TestMLPXOR(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(11, 1))
	const n = 200
	x, y := New(n, 2), New(n, 1)
	for i := range n {
		a, b := rng.IntN(2), rng.IntN(2)
		x.Data[2*i] = float64(2*a-1) + 0.15*rng.NormFloat64()
		x.Data[2*i+1] = float64(2*b-1) + 0.15*rng.NormFloat64()
		y.Data[i] = float64(a ^ b)
	}
	net := NewMLP("xor", []int{2, 8, 1}, Tanh, rng)
	opt := NewAdam(net.Params(), 0.05)
	tp := NewTape()
	var loss float64
	for s := 0; s < 300; s++ {
		tp.Reset()
		z := net.Forward(tp, x)
		l := tp.Mean(tp.Sub(tp.Softplus(z), tp.Mul(y, z)))
		tp.Backward(l)
		opt.Step()
		opt.ZeroGrad()
		loss = l.Item()
	}
	z := net.Forward(nil, x)
	wrong := 0
	for i := range n {
		if (z.Data[i] > 0) != (y.Data[i] == 1) {
			wrong++
		}
	}
	// The clusters (sd 0.15, centres 2 apart) do not overlap: every point
	// must be classified correctly.
	if wrong != 0 {
		t.Errorf("XOR: %d of %d points misclassified (loss %.3g)", wrong, n, loss)
	}
	t.Logf("XOR loss %.3g", loss)
}
