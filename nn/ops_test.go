package nn

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func randTensor(rng *rand.Rand, r, c int, g gen) *Tensor {
	t := New(r, c)
	for i := range t.Data {
		t.Data[i] = g(rng)
	}
	return t
}

// TestUnaryValues checks each elementwise op against an independent scalar
// formula.
func TestUnaryValues(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(2, 1))
	phi := func(x float64) float64 { return 0.5 * (1 + math.Erf(x/math.Sqrt2)) }
	for _, tc := range []struct {
		name string
		op   func(tp *Tape, a *Tensor) *Tensor
		ref  func(x float64) float64
		g    gen
	}{
		{"Scale", func(tp *Tape, a *Tensor) *Tensor { return tp.Scale(a, 3) }, func(x float64) float64 { return 3 * x }, normal},
		{"Shift", func(tp *Tape, a *Tensor) *Tensor { return tp.Shift(a, -2) }, func(x float64) float64 { return x - 2 }, normal},
		{"Neg", (*Tape).Neg, func(x float64) float64 { return -x }, normal},
		{"Exp", (*Tape).Exp, math.Exp, normal},
		{"Log", (*Tape).Log, math.Log, positive},
		{"Log1p", (*Tape).Log1p, func(x float64) float64 { return math.Log(1 + x) }, positive},
		{"Sqrt", (*Tape).Sqrt, math.Sqrt, positive},
		{"Square", (*Tape).Square, func(x float64) float64 { return x * x }, normal},
		{"Abs", (*Tape).Abs, math.Abs, normal},
		{"Tanh", (*Tape).Tanh, func(x float64) float64 { return (math.Exp(2*x) - 1) / (math.Exp(2*x) + 1) }, normal},
		{"ReLU", (*Tape).ReLU, func(x float64) float64 { return math.Max(0, x) }, normal},
		{"LeakyReLU", func(tp *Tape, a *Tensor) *Tensor { return tp.LeakyReLU(a, 0.2) }, func(x float64) float64 { return math.Max(0, x) + 0.2*math.Min(0, x) }, normal},
		{"ELU", func(tp *Tape, a *Tensor) *Tensor { return tp.ELU(a, 2) }, func(x float64) float64 {
			if x > 0 {
				return x
			}
			return 2 * (math.Exp(x) - 1)
		}, normal},
		{"GELU", (*Tape).GELU, func(x float64) float64 { return x * phi(x) }, normal},
		{"Sigmoid", (*Tape).Sigmoid, func(x float64) float64 { return 1 / (1 + math.Exp(-x)) }, normal},
		{"Softplus", (*Tape).Softplus, func(x float64) float64 { return math.Log(1 + math.Exp(x)) }, normal},
		{"LogSigmoid", (*Tape).LogSigmoid, func(x float64) float64 { return math.Log(1 / (1 + math.Exp(-x))) }, normal},
		{"Clamp", func(tp *Tape, a *Tensor) *Tensor { return tp.Clamp(a, -0.5, 0.7) }, func(x float64) float64 { return math.Min(0.7, math.Max(-0.5, x)) }, normal},
	} {
		a := randTensor(rng, 5, 4, tc.g)
		got := tc.op(nil, a)
		for i, x := range a.Data {
			want := tc.ref(x)
			if d := math.Abs(got.Data[i] - want); d > 1e-14*math.Max(1, math.Abs(want)) {
				t.Errorf("%s(%v): got %v, want %v", tc.name, x, got.Data[i], want)
			}
		}
	}
}

// TestStableExtremes checks that the stable formulations do not overflow.
func TestStableExtremes(t *testing.T) {
	t.Parallel()
	x := FromSlice(1, 4, []float64{-1000, -40, 40, 1000})
	var tp *Tape
	for _, tc := range []struct {
		name string
		got  *Tensor
		want []float64
	}{
		{"Sigmoid", tp.Sigmoid(x), []float64{0, math.Exp(-40) / (1 + math.Exp(-40)), 1 / (1 + math.Exp(-40)), 1}},
		{"Softplus", tp.Softplus(x), []float64{0, math.Log1p(math.Exp(-40)), 40 + math.Log1p(math.Exp(-40)), 1000}},
		{"LogSigmoid", tp.LogSigmoid(x), []float64{-1000, -40 - math.Log1p(math.Exp(-40)), -math.Log1p(math.Exp(-40)), 0}},
		{"RowLogSumExp", tp.RowLogSumExp(x), []float64{1000}},
	} {
		for i, w := range tc.want {
			if g := tc.got.Data[i]; math.Abs(g-w) > 1e-15*math.Max(1, math.Abs(w)) {
				t.Errorf("%s[%d]: got %v, want %v", tc.name, i, g, w)
			}
		}
	}
	inf := FromSlice(2, 2, []float64{math.Inf(-1), math.Inf(-1), math.Inf(-1), 0})
	if got := tp.RowLogSumExp(inf).Data; !math.IsInf(got[0], -1) || got[1] != 0 {
		t.Errorf("RowLogSumExp with -Inf rows: got %v, want [-Inf 0]", got)
	}
}

// TestBinaryBroadcastValues compares broadcasting ops with explicit
// indexing.
func TestBinaryBroadcastValues(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 1))
	shapes := [][2]int{{4, 3}, {1, 3}, {4, 1}, {1, 1}}
	ops := []struct {
		name string
		op   func(tp *Tape, a, b *Tensor) *Tensor
		ref  func(x, y float64) float64
	}{
		{"Add", (*Tape).Add, func(x, y float64) float64 { return x + y }},
		{"Sub", (*Tape).Sub, func(x, y float64) float64 { return x - y }},
		{"Mul", (*Tape).Mul, func(x, y float64) float64 { return x * y }},
		{"Div", (*Tape).Div, func(x, y float64) float64 { return x / y }},
	}
	for _, sa := range shapes {
		for _, sb := range shapes {
			a := randTensor(rng, sa[0], sa[1], normal)
			b := randTensor(rng, sb[0], sb[1], positive)
			r, c := max(sa[0], sb[0]), max(sa[1], sb[1])
			for _, o := range ops {
				got := o.op(nil, a, b)
				if got.Rows != r || got.Cols != c {
					t.Fatalf("%s %v %v: shape %d×%d, want %d×%d", o.name, sa, sb, got.Rows, got.Cols, r, c)
				}
				for i := 0; i < r; i++ {
					for j := 0; j < c; j++ {
						want := o.ref(a.At(i%sa[0], j%sa[1]), b.At(i%sb[0], j%sb[1]))
						if g := got.At(i, j); g != want {
							t.Errorf("%s %v %v at (%d,%d): got %v, want %v", o.name, sa, sb, i, j, g, want)
						}
					}
				}
			}
		}
	}
}

func TestReduceAndShapeValues(t *testing.T) {
	t.Parallel()
	a := FromSlice(2, 3, []float64{1, 2, 3, 4, 5, 6})
	b := FromSlice(2, 1, []float64{7, 8})
	var tp *Tape
	lse := func(xs ...float64) float64 {
		s := 0.0
		for _, x := range xs {
			s += math.Exp(x)
		}
		return math.Log(s)
	}
	for _, tc := range []struct {
		name string
		got  *Tensor
		r, c int
		want []float64
	}{
		{"Sum", tp.Sum(a), 1, 1, []float64{21}},
		{"Mean", tp.Mean(a), 1, 1, []float64{3.5}},
		{"RowSum", tp.RowSum(a), 2, 1, []float64{6, 15}},
		{"RowMean", tp.RowMean(a), 2, 1, []float64{2, 5}},
		{"ColSum", tp.ColSum(a), 1, 3, []float64{5, 7, 9}},
		{"ColMean", tp.ColMean(a), 1, 3, []float64{2.5, 3.5, 4.5}},
		{"RowLogSumExp", tp.RowLogSumExp(a), 2, 1, []float64{lse(1, 2, 3), lse(4, 5, 6)}},
		{"SliceCols", tp.SliceCols(a, 1, 3), 2, 2, []float64{2, 3, 5, 6}},
		{"SliceCols/empty", tp.SliceCols(a, 2, 2), 2, 0, []float64{}},
		{"ConcatCols", tp.ConcatCols(b, a, b), 2, 5, []float64{7, 1, 2, 3, 7, 8, 4, 5, 6, 8}},
		{"GatherRows", tp.GatherRows(a, []int{1, 1, 0}), 3, 3, []float64{4, 5, 6, 4, 5, 6, 1, 2, 3}},
		{"GatherCols", tp.GatherCols(a, []int{2, 0}), 2, 2, []float64{3, 1, 6, 4}},
		{"Mask", tp.Mask(a, FromSlice(2, 3, []float64{1, 0, 1, 0, 1, 0})), 2, 3, []float64{1, 0, 3, 0, 5, 0}},
		{"Mask/row", tp.Mask(a, FromSlice(1, 3, []float64{0, 1, 1})), 2, 3, []float64{0, 2, 3, 0, 5, 6}},
		{"MSE", tp.MSE(a, FromSlice(2, 3, []float64{1, 1, 1, 1, 1, 1})), 1, 1, []float64{(0 + 1 + 4 + 9 + 16 + 25) / 6.0}},
		{"MatMul", tp.MatMul(a, FromSlice(3, 1, []float64{1, 0, -1})), 2, 1, []float64{-2, -2}},
		{"MatMulT/aᵀa", tp.MatMulT(a, a, true, false), 3, 3, []float64{17, 22, 27, 22, 29, 36, 27, 36, 45}},
		{"MatMulT/aaᵀ", tp.MatMulT(a, a, false, true), 2, 2, []float64{14, 32, 32, 77}},
		{"MatMulT/aᵀbᵀ", tp.MatMulT(FromSlice(2, 1, []float64{1, 2}), FromSlice(2, 2, []float64{1, 2, 3, 4}), true, true), 1, 2, []float64{5, 11}},
		{"Add/empty batch", tp.Add(New(0, 3), FromSlice(1, 3, []float64{1, 2, 3})), 0, 3, []float64{}},
		{"MatMul/empty inner", tp.MatMul(New(2, 0), New(0, 3)), 2, 3, []float64{0, 0, 0, 0, 0, 0}},
		{"Linear", tp.Linear(a, FromSlice(1, 3, []float64{1, 1, 1}), FromSlice(1, 1, []float64{-1})), 2, 1, []float64{5, 14}},
		{"Linear/nobias", tp.Linear(a, FromSlice(2, 3, []float64{1, 0, 0, 0, 0, 1}), nil), 2, 2, []float64{1, 3, 4, 6}},
	} {
		if tc.got.Rows != tc.r || tc.got.Cols != tc.c {
			t.Errorf("%s: shape %d×%d, want %d×%d", tc.name, tc.got.Rows, tc.got.Cols, tc.r, tc.c)
			continue
		}
		for i, w := range tc.want {
			if g := tc.got.Data[i]; math.Abs(g-w) > 1e-13 {
				t.Errorf("%s: got %v, want %v", tc.name, tc.got.Data, tc.want)
				break
			}
		}
	}
}

// TestShapePanics checks that shape errors panic with an "nn: " message.
func TestShapePanics(t *testing.T) {
	t.Parallel()
	a, b := New(3, 4), New(4, 3)
	var tp *Tape
	for _, tc := range []struct {
		name string
		f    func()
	}{
		{"Add", func() { tp.Add(a, b) }},
		{"Mul/row mismatch", func() { tp.Mul(a, New(1, 3)) }},
		{"MatMul", func() { tp.MatMul(a, a) }},
		{"MatMulT", func() { tp.MatMulT(a, a, true, true) }},
		{"Linear/weight", func() { tp.Linear(a, New(2, 3), nil) }},
		{"Linear/bias", func() { tp.Linear(a, New(2, 4), New(1, 3)) }},
		{"SliceCols", func() { tp.SliceCols(a, 2, 5) }},
		{"ConcatCols", func() { tp.ConcatCols(a, b) }},
		{"ConcatCols/none", func() { tp.ConcatCols() }},
		{"GatherRows", func() { tp.GatherRows(a, []int{3}) }},
		{"GatherCols", func() { tp.GatherCols(a, []int{-1}) }},
		{"Mask", func() { tp.Mask(a, b) }},
		{"MSE", func() { tp.MSE(a, b) }},
		{"Clamp", func() { tp.Clamp(a, 1, 0) }},
		{"Backward/not 1×1", func() { NewTape().Backward(a) }},
		{"Backward/untracked", func() { NewTape().Backward(New(1, 1)) }},
		{"Backward/nil tape", func() { tp.Backward(New(1, 1)) }},
		{"Fused/no outputs", func() { NewTape().Fused(fusedScaleLogDet{}, []*Tensor{a}) }},
		{"Item", func() { a.Item() }},
		{"At", func() { a.At(3, 0) }},
		{"FromSlice", func() { FromSlice(2, 2, make([]float64, 3)) }},
		{"New", func() { New(-1, 2) }},
		{"NewLinear", func() { NewLinear("l", 0, 2, true, rand.New(rand.NewPCG(1, 1))) }},
		{"NewMLP", func() { NewMLP("m", []int{3}, Tanh, rand.New(rand.NewPCG(1, 1))) }},
		{"NewMaskedLinear", func() {
			NewMaskedLinear("m", FromSlice(1, 2, []float64{1, 0.5}).Dense(), true, rand.New(rand.NewPCG(1, 1)))
		}},
		{"Activation", func() { Activation(200).Apply(tp, a) }},
	} {
		func() {
			defer func() {
				r := recover()
				msg, ok := r.(string)
				if !ok || !strings.HasPrefix(msg, "nn: ") {
					t.Errorf("%s: recovered %v, want a panic with an \"nn: \" message", tc.name, r)
				}
			}()
			tc.f()
		}()
	}
}

func TestTapeSemantics(t *testing.T) {
	t.Parallel()
	w := NewParam("w", 1, 2)
	w.Data[0], w.Data[1] = 2, 3
	x := FromSlice(1, 2, []float64{5, 7})
	c := FromSlice(1, 2, []float64{1, 1})
	tp := NewTape()

	// Constants only: computed, not recorded.
	if k := tp.Add(x, c); tp.Len() != 0 || k.Data[1] != 8 {
		t.Fatalf("op on constants: %d ops recorded, value %v", tp.Len(), k.Data)
	}
	// loss = sum(w ∘ x): ∂/∂w = x; x is a constant and gets no gradient.
	tp.Backward(tp.Sum(tp.Mul(w, x)))
	if w.Grad[0] != 5 || w.Grad[1] != 7 {
		t.Errorf("w.Grad: got %v, want [5 7]", w.Grad)
	}
	if x.Grad != nil {
		t.Errorf("constant x got a gradient %v", x.Grad)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Errorf("second Backward without Reset did not panic")
			}
		}()
		tp.Backward(tp.Sum(tp.Mul(w, x)))
	}()

	// Gradients accumulate until zeroed; Watch zeroes the watched tensor.
	x.Grad = []float64{100, 100}
	tp.Reset()
	tp.Watch(x)
	tp.Backward(tp.Sum(tp.Mul(w, x)))
	if w.Grad[0] != 10 || w.Grad[1] != 14 {
		t.Errorf("accumulated w.Grad: got %v, want [10 14]", w.Grad)
	}
	if x.Grad[0] != 2 || x.Grad[1] != 3 {
		t.Errorf("watched x.Grad: got %v, want [2 3]", x.Grad)
	}

	// Watching lasts until Reset: afterwards x is a constant again.
	tp.Reset()
	y := tp.Mul(x, c)
	if tp.Tracked(y) || tp.Len() != 0 {
		t.Errorf("x still tracked after Reset")
	}

	// A frozen parameter is a constant.
	w.RequiresGrad = false
	w.ZeroGrad()
	tp.Reset()
	tp.Watch(x)
	tp.Backward(tp.Sum(tp.Mul(w, x)))
	if w.Grad[0] != 0 || w.Grad[1] != 0 {
		t.Errorf("frozen w.Grad: got %v, want [0 0]", w.Grad)
	}

	// FreezeParams: gradients with respect to watched inputs only.
	w.RequiresGrad = true
	w.ZeroGrad()
	tp.Reset()
	tp.FreezeParams = true
	tp.Watch(x)
	tp.Backward(tp.Sum(tp.Mul(w, x)))
	if w.Grad[0] != 0 || w.Grad[1] != 0 || x.Grad[0] != 2 || x.Grad[1] != 3 {
		t.Errorf("FreezeParams: w.Grad %v (want [0 0]), x.Grad %v (want [2 3])", w.Grad, x.Grad)
	}
	tp.FreezeParams = false

	// A detached parameter is a constant sharing its values.
	tp.Reset()
	d := w.Detach()
	if k := tp.Mul(d, x); tp.Len() != 0 || k.Data[0] != 10 {
		t.Errorf("detached parameter was recorded (%d ops) or has wrong values %v", tp.Len(), k.Data)
	}

	// NoGrad tapes record nothing, so Backward panics.
	ng := NewNoGradTape()
	l := ng.Sum(ng.Mul(w, x))
	if ng.Len() != 0 || ng.Tracked(l) {
		t.Errorf("NoGrad tape recorded %d ops", ng.Len())
	}
}

// TestArenaReuse checks that a tape reuses its tensors after Reset, also
// when shapes change, and that values stay correct.
func TestArenaReuse(t *testing.T) {
	t.Parallel()
	tp := NewNoGradTape()
	rng := rand.New(rand.NewPCG(4, 4))
	net := NewMLP("m", []int{3, 8, 2}, Tanh, rng)
	var first *Tensor
	for _, n := range []int{10, 4, 10, 7} {
		tp.Reset()
		x := randTensor(rng, n, 3, normal)
		got := net.Forward(tp, x)
		want := net.Forward(nil, x)
		if got.Rows != n || !bitsEqual(got.Data, want.Data) {
			t.Fatalf("batch %d: arena result differs from nil-tape result", n)
		}
		if first == nil {
			first = got
		} else if got != first {
			t.Errorf("batch %d: output tensor not reused from the arena", n)
		}
	}
}
