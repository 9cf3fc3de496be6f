package nn

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/gosbi/gosbi/internal/fdcheck"
)

// gradTol is the largest accepted relative error between the tape's
// gradient and central finite differences. With step h = 6e-6 the central
// formula's truncation error is O(h²) ≈ 4e-11 and its rounding error
// O(ε·|loss|/h) ≈ 4e-11·|loss|, so 1e-6 leaves ample margin for losses of
// size O(100) while still catching any wrong derivative.
const gradTol = 1e-6

// gradFloor is the magnitude below which gradient components are compared
// absolutely rather than relatively (see fdcheck.RelErr): rounding in the
// finite differences is about 1e-10 in absolute terms.
const gradFloor = 1e-3

type gen func(rng *rand.Rand) float64

func normal(rng *rand.Rand) float64 { return rng.NormFloat64() }

// awayFromZero draws ±U(0.1, 2), away from the kinks of ReLU, Abs, etc.
func awayFromZero(rng *rand.Rand) float64 {
	v := 0.1 + 1.9*rng.Float64()
	if rng.IntN(2) == 0 {
		return -v
	}
	return v
}

func positive(rng *rand.Rand) float64 { return 0.2 + 2*rng.Float64() }

type input struct {
	r, c  int
	gen   gen  // nil means normal
	param bool // tracked by RequiresGrad rather than Watch
}

type gradCase struct {
	name string
	in   []input
	f    func(tp *Tape, x []*Tensor) *Tensor
}

// fusedScaleLogDet is a two-output fused op used to test Tape.Fused:
// y = x ∘ exp(s) and ld = row sums of s, for x, s of the same shape.
type fusedScaleLogDet struct{}

func (fusedScaleLogDet) Backward(ins, outs []*Tensor, need []bool) {
	x, s, y, ld := ins[0], ins[1], outs[0], outs[1]
	c := x.Cols
	for i := 0; i < x.Rows; i++ {
		for j := 0; j < c; j++ {
			k := i*c + j
			g := y.Grad[k]
			if need[0] {
				x.Grad[k] += g * math.Exp(s.Data[k])
			}
			if need[1] {
				s.Grad[k] += g*y.Data[k] + ld.Grad[i]
			}
		}
	}
}

func fusedScale(tp *Tape, x, s *Tensor) (y, ld *Tensor) {
	y, ld = tp.New(x.Rows, x.Cols), tp.New(x.Rows, 1)
	for i := 0; i < x.Rows; i++ {
		for j := 0; j < x.Cols; j++ {
			k := i*x.Cols + j
			y.Data[k] = x.Data[k] * math.Exp(s.Data[k])
			ld.Data[i] += s.Data[k]
		}
	}
	tp.Fused(fusedScaleLogDet{}, []*Tensor{x, s}, y, ld)
	return y, ld
}

func unaryCase(name string, g gen, f func(tp *Tape, a *Tensor) *Tensor) gradCase {
	return gradCase{name: name, in: []input{{r: 4, c: 3, gen: g}}, f: func(tp *Tape, x []*Tensor) *Tensor { return f(tp, x[0]) }}
}

func binaryCase(name string, ar, ac, br, bc int, g gen, f func(tp *Tape, a, b *Tensor) *Tensor) gradCase {
	return gradCase{name: name, in: []input{{r: ar, c: ac}, {r: br, c: bc, gen: g}}, f: func(tp *Tape, x []*Tensor) *Tensor { return f(tp, x[0], x[1]) }}
}

func layerCase(name string, m Module, r, c int) gradCase {
	in := []input{{r: r, c: c}}
	return gradCase{name: name, in: in, f: func(tp *Tape, x []*Tensor) *Tensor { return m.Forward(tp, x[0]) }}
}

func gradCases() []gradCase {
	rng := rand.New(rand.NewPCG(7, 7))
	mask := mat.NewDense(3, 4, []float64{1, 0, 1, 0, 1, 1, 0, 0, 0, 1, 1, 1})
	cases := []gradCase{
		binaryCase("MatMul", 5, 3, 3, 4, nil, (*Tape).MatMul),
		binaryCase("MatMulT/aᵀb", 3, 5, 3, 4, nil, func(tp *Tape, a, b *Tensor) *Tensor { return tp.MatMulT(a, b, true, false) }),
		binaryCase("MatMulT/abᵀ", 5, 3, 4, 3, nil, func(tp *Tape, a, b *Tensor) *Tensor { return tp.MatMulT(a, b, false, true) }),
		binaryCase("MatMulT/aᵀbᵀ", 3, 5, 4, 3, nil, func(tp *Tape, a, b *Tensor) *Tensor { return tp.MatMulT(a, b, true, true) }),
		{name: "Linear", in: []input{{r: 5, c: 3}, {r: 4, c: 3}, {r: 1, c: 4}}, f: func(tp *Tape, x []*Tensor) *Tensor { return tp.Linear(x[0], x[1], x[2]) }},
		{name: "Linear/nobias", in: []input{{r: 5, c: 3}, {r: 4, c: 3}}, f: func(tp *Tape, x []*Tensor) *Tensor { return tp.Linear(x[0], x[1], nil) }},
		{name: "Linear/params", in: []input{{r: 5, c: 3}, {r: 4, c: 3, param: true}, {r: 1, c: 4, param: true}}, f: func(tp *Tape, x []*Tensor) *Tensor { return tp.Linear(x[0], x[1], x[2]) }},
		binaryCase("Add", 4, 3, 4, 3, nil, (*Tape).Add),
		binaryCase("Add/row", 4, 3, 1, 3, nil, (*Tape).Add),
		binaryCase("Add/col", 4, 3, 4, 1, nil, (*Tape).Add),
		binaryCase("Add/scalar", 4, 3, 1, 1, nil, (*Tape).Add),
		binaryCase("Add/row+full", 1, 3, 4, 3, nil, (*Tape).Add),
		binaryCase("Add/outer", 4, 1, 1, 3, nil, (*Tape).Add),
		binaryCase("Sub", 4, 3, 4, 3, nil, (*Tape).Sub),
		binaryCase("Sub/row", 4, 3, 1, 3, nil, (*Tape).Sub),
		binaryCase("Sub/col+full", 4, 1, 4, 3, nil, (*Tape).Sub),
		binaryCase("Mul", 4, 3, 4, 3, nil, (*Tape).Mul),
		binaryCase("Mul/row", 4, 3, 1, 3, nil, (*Tape).Mul),
		binaryCase("Mul/col", 4, 3, 4, 1, nil, (*Tape).Mul),
		binaryCase("Mul/scalar+full", 1, 1, 4, 3, nil, (*Tape).Mul),
		binaryCase("Div", 4, 3, 4, 3, positive, (*Tape).Div),
		binaryCase("Div/row", 4, 3, 1, 3, positive, (*Tape).Div),
		binaryCase("Div/col", 4, 3, 4, 1, positive, (*Tape).Div),
		{name: "Div/row numerator", in: []input{{r: 1, c: 3}, {r: 4, c: 3, gen: positive}}, f: func(tp *Tape, x []*Tensor) *Tensor { return tp.Div(x[0], x[1]) }},
		unaryCase("Mul/self", nil, func(tp *Tape, a *Tensor) *Tensor { return tp.Mul(a, a) }),
		unaryCase("Scale", nil, func(tp *Tape, a *Tensor) *Tensor { return tp.Scale(a, -2.5) }),
		unaryCase("Shift", nil, func(tp *Tape, a *Tensor) *Tensor { return tp.Shift(a, 1.5) }),
		unaryCase("Neg", nil, (*Tape).Neg),
		unaryCase("Exp", nil, (*Tape).Exp),
		unaryCase("Log", positive, (*Tape).Log),
		unaryCase("Log1p", positive, (*Tape).Log1p),
		unaryCase("Sqrt", positive, (*Tape).Sqrt),
		unaryCase("Square", nil, (*Tape).Square),
		unaryCase("Abs", awayFromZero, (*Tape).Abs),
		unaryCase("Tanh", nil, (*Tape).Tanh),
		unaryCase("ReLU", awayFromZero, (*Tape).ReLU),
		unaryCase("LeakyReLU", awayFromZero, func(tp *Tape, a *Tensor) *Tensor { return tp.LeakyReLU(a, 0.1) }),
		unaryCase("ELU", awayFromZero, func(tp *Tape, a *Tensor) *Tensor { return tp.ELU(a, 1.3) }),
		unaryCase("GELU", nil, (*Tape).GELU),
		unaryCase("Sigmoid", nil, (*Tape).Sigmoid),
		unaryCase("Softplus", nil, (*Tape).Softplus),
		unaryCase("LogSigmoid", nil, (*Tape).LogSigmoid),
		unaryCase("Clamp", awayFromZero, func(tp *Tape, a *Tensor) *Tensor { return tp.Clamp(a, -1.05, 0.95) }),
		unaryCase("Sum", nil, (*Tape).Sum),
		unaryCase("Mean", nil, (*Tape).Mean),
		unaryCase("RowSum", nil, (*Tape).RowSum),
		unaryCase("RowMean", nil, (*Tape).RowMean),
		unaryCase("ColSum", nil, (*Tape).ColSum),
		unaryCase("ColMean", nil, (*Tape).ColMean),
		unaryCase("RowLogSumExp", nil, (*Tape).RowLogSumExp),
		unaryCase("SliceCols", nil, func(tp *Tape, a *Tensor) *Tensor { return tp.SliceCols(a, 1, 3) }),
		{name: "ConcatCols", in: []input{{r: 4, c: 2}, {r: 4, c: 1}, {r: 4, c: 3}}, f: func(tp *Tape, x []*Tensor) *Tensor { return tp.ConcatCols(x[0], x[1], x[2]) }},
		unaryCase("GatherRows", nil, func(tp *Tape, a *Tensor) *Tensor { return tp.GatherRows(a, []int{3, 0, 3, 1, 1, 2}) }),
		unaryCase("GatherCols", nil, func(tp *Tape, a *Tensor) *Tensor { return tp.GatherCols(a, []int{2, 0, 2, 1}) }),
		unaryCase("Mask", nil, func(tp *Tape, a *Tensor) *Tensor {
			return tp.Mask(a, FromSlice(4, 3, []float64{1, 0, 1, 0, 0, 1, 1, 1, 0, 0, 1, 1}))
		}),
		unaryCase("Mask/row", nil, func(tp *Tape, a *Tensor) *Tensor { return tp.Mask(a, FromSlice(1, 3, []float64{1, 0, 1})) }),
		binaryCase("MSE", 4, 3, 4, 3, nil, (*Tape).MSE),
		binaryCase("Fused/two outputs", 4, 3, 4, 3, nil, func(tp *Tape, x, s *Tensor) *Tensor {
			y, ld := fusedScale(tp, x, s)
			return tp.Add(tp.Square(y), ld) // both outputs feed the loss
		}),
		unaryCase("Chain/log-softmax", nil, func(tp *Tape, a *Tensor) *Tensor {
			return tp.Sub(a, tp.RowLogSumExp(a))
		}),
		layerCase("Layer/Linear", NewLinear("lin", 3, 4, true, rng), 5, 3),
		layerCase("Layer/MaskedLinear", NewMaskedLinear("ml", mask, true, rng), 5, 4),
		layerCase("Layer/MLP tanh", NewMLP("mlp", []int{3, 6, 5, 2}, Tanh, rng), 5, 3),
		layerCase("Layer/MLP relu", NewMLP("mlp", []int{3, 6, 2}, ReLU, rng), 5, 3),
		layerCase("Layer/MLP gelu", NewMLP("mlp", []int{3, 6, 2}, GELU, rng), 5, 3),
		layerCase("Layer/Residual", NewResidual("res", 4, Tanh, rng), 5, 4),
		layerCase("Layer/Sequential", Sequential{NewMaskedLinear("a", mask, true, rng), NewLinear("b", 3, 2, false, rng)}, 5, 4),
	}
	return cases
}

// TestGradients checks every op's and layer's gradient with respect to its
// inputs and parameters against central finite differences of the loss
// sum(out ∘ w) for fixed random w.
func TestGradients(t *testing.T) {
	t.Parallel()
	for ci, tc := range gradCases() {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, uint64(ci)))
			ins := make([]*Tensor, len(tc.in))
			for i, in := range tc.in {
				g := in.gen
				if g == nil {
					g = normal
				}
				ins[i] = New(in.r, in.c)
				for k := range ins[i].Data {
					ins[i].Data[k] = g(rng)
				}
				if in.param {
					ins[i].RequiresGrad = true
					ins[i].Name = "p"
				}
			}
			// Discover the parameters reached by the case (layers own
			// theirs) by recording once and collecting tracked leaves.
			params := paramsOf(tc, ins)
			leaves := append(slices.Clone(ins), params...)

			// Fixed random weights make every output element matter
			// differently in the scalar loss sum(out ∘ w). With wrap set,
			// the inputs that are not parameters enter the case through
			// tp.Scale(x, 1) (the same values): the op's backward pass
			// then writes into the fresh gradient buffer of an
			// intermediate (overwriting it) instead of accumulating into a
			// watched tensor's, and both paths are checked.
			var w *Tensor
			wrap := false
			loss := func(tp *Tape) *Tensor {
				xs := ins
				if wrap && tp != nil {
					xs = make([]*Tensor, len(ins))
					for i, x := range ins {
						xs[i] = x
						if !tc.in[i].param {
							xs[i] = tp.Scale(x, 1)
						}
					}
				}
				out := tc.f(tp, xs)
				if w == nil {
					w = New(out.Rows, out.Cols)
					for k := range w.Data {
						w.Data[k] = rng.NormFloat64()
					}
				}
				return tp.Sum(tp.Mul(out, w))
			}

			// Analytic gradient, twice on the same tape to exercise
			// arena reuse after Reset, then twice with wrapped inputs,
			// which must give the same gradient.
			tp := NewTape()
			var got []float64
			for rep := 0; rep < 4; rep++ {
				wrap = rep >= 2
				tp.Reset()
				ZeroGrad(params)
				for i, in := range tc.in {
					if !in.param {
						tp.Watch(ins[i])
					} else {
						ins[i].ZeroGrad()
					}
				}
				l := loss(tp)
				tp.Backward(l)
				var g []float64
				for _, x := range leaves {
					if len(x.Grad) != len(x.Data) {
						t.Fatalf("%v has no gradient after Backward", x)
					}
					g = append(g, x.Grad...)
				}
				if rep > 0 && !slices.Equal(g, got) {
					t.Fatalf("gradient differs after Reset (wrapped inputs: %v): got %v, want %v", wrap, g, got)
				}
				got = g
				// The values with a tape, without one, and in NoGrad
				// mode agree exactly.
				if nv, lv := loss(nil).Item(), l.Item(); nv != lv {
					t.Fatalf("loss without tape %v, with tape %v", nv, lv)
				}
				ng := NewNoGradTape()
				if nv, lv := loss(ng).Item(), l.Item(); nv != lv {
					t.Fatalf("loss on NoGrad tape %v, with tape %v", nv, lv)
				}
				if ng.Len() != 0 {
					t.Fatalf("NoGrad tape recorded %d ops", ng.Len())
				}
			}

			x0 := flatten(leaves)
			f := func(x []float64) float64 {
				unflatten(leaves, x)
				return loss(nil).Item()
			}
			want := fdcheck.Gradient(f, x0, 0)
			unflatten(leaves, x0)
			e, at := fdcheck.RelErr(got, want, gradFloor)
			if e > gradTol {
				t.Errorf("max relative error %.3g at %d: got %v, want %v", e, at, got[at], want[at])
			}
			t.Logf("max relative error %.3g", e)
		})
	}
}

// paramsOf returns the parameters (RequiresGrad tensors other than the
// case's own inputs) that the case's function reaches, found by recording
// it once.
func paramsOf(tc gradCase, ins []*Tensor) []*Tensor {
	tp := NewTape()
	tp.Watch(ins...)
	tc.f(tp, ins)
	var ps []*Tensor
	seen := map[*Tensor]bool{}
	for _, in := range ins {
		seen[in] = true
	}
	add := func(t *Tensor) {
		if t != nil && t.RequiresGrad && !seen[t] {
			seen[t] = true
			ps = append(ps, t)
		}
	}
	for _, n := range tp.nodes {
		add(n.a)
		add(n.b)
		add(n.c)
	}
	for _, p := range tp.ptrs {
		add(p)
	}
	return ps
}

func flatten(ts []*Tensor) []float64 {
	var x []float64
	for _, t := range ts {
		x = append(x, t.Data...)
	}
	return x
}

func unflatten(ts []*Tensor, x []float64) {
	for _, t := range ts {
		x = x[copy(t.Data, x):]
	}
}
