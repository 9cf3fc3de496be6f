package nn

import (
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"gonum.org/v1/gonum/mat"
)

func names(ts []*Tensor) []string {
	var s []string
	for _, t := range ts {
		s = append(s, t.Name)
	}
	return s
}

func TestParamNames(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 1))
	mlp := NewMLP("net", []int{3, 5, 2}, Tanh, rng)
	res := NewResidual("res", 4, ReLU, rng)
	seq := Sequential{NewLinear("in", 2, 4, false, rng), res}
	for _, tc := range []struct {
		name string
		got  []string
		want []string
	}{
		{"MLP", names(mlp.Params()), []string{"net.0.weight", "net.0.bias", "net.1.weight", "net.1.bias"}},
		{"Residual", names(res.Params()), []string{"res.0.weight", "res.0.bias", "res.1.weight", "res.1.bias"}},
		{"Sequential", names(seq.Params()), []string{"in.weight", "res.0.weight", "res.0.bias", "res.1.weight", "res.1.bias"}},
	} {
		if !slices.Equal(tc.got, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, tc.got, tc.want)
		}
	}
	for _, p := range mlp.Params() {
		if !p.RequiresGrad || len(p.Grad) != len(p.Data) {
			t.Errorf("%s: RequiresGrad %v, len(Grad) %d", p.Name, p.RequiresGrad, len(p.Grad))
		}
	}
}

func TestInitialisation(t *testing.T) {
	t.Parallel()
	a := NewMLP("m", []int{30, 20, 1}, Tanh, rand.New(rand.NewPCG(5, 5)))
	b := NewMLP("m", []int{30, 20, 1}, Tanh, rand.New(rand.NewPCG(5, 5)))
	for i, p := range a.Params() {
		if !bitsEqual(p.Data, b.Params()[i].Data) {
			t.Fatalf("%s differs between two networks built from the same seed", p.Name)
		}
	}
	// Layer 0 has fan-in 30: entries in (-1/√30, 1/√30), and with 620
	// uniform draws the sample variance is close to bound²/3 (relative sd
	// of the variance estimate ≈ √(0.8/620) ≈ 3.6 %; allow 5 sd).
	bound := 1 / math.Sqrt(30)
	var vals []float64
	for _, p := range a.Layers[0].Params() {
		vals = append(vals, p.Data...)
	}
	ss := 0.0
	for _, v := range vals {
		if math.Abs(v) >= bound {
			t.Fatalf("initial value %v outside (-%v, %v)", v, bound, bound)
		}
		ss += v * v
	}
	n := float64(len(vals))
	if got, want := ss/n, bound*bound/3; math.Abs(got/want-1) > 5*math.Sqrt(0.8/n) {
		t.Errorf("initial variance: got %v, want %v", got, want)
	}
	// The residual block starts close to the identity.
	r := NewResidual("r", 3, Tanh, rand.New(rand.NewPCG(1, 1)))
	x := FromSlice(1, 3, []float64{0.5, -1, 2})
	y := r.Forward(nil, x)
	for i := range x.Data {
		if math.Abs(y.Data[i]-x.Data[i]) > 0.01 {
			t.Errorf("residual block at init: got %v, want ≈ %v", y.Data, x.Data)
		}
	}
}

// TestMaskedLinear checks that masked weights neither act nor learn.
func TestMaskedLinear(t *testing.T) {
	t.Parallel()
	m := mat.NewDense(2, 3, []float64{1, 0, 1, 0, 1, 0})
	l := NewMaskedLinear("ml", m, true, rand.New(rand.NewPCG(3, 3)))
	x := FromSlice(2, 3, []float64{1, 2, 3, -1, 0.5, 4})
	tp := NewTape()
	y := l.Forward(tp, x)
	tp.Backward(tp.Sum(tp.Square(y)))
	for i := 0; i < 2; i++ {
		for o := 0; o < 2; o++ {
			want := l.B.Data[o]
			for j := 0; j < 3; j++ {
				want += m.At(o, j) * l.W.At(o, j) * x.At(i, j)
			}
			if math.Abs(y.At(i, o)-want) > 1e-14 {
				t.Errorf("y(%d,%d): got %v, want %v", i, o, y.At(i, o), want)
			}
		}
	}
	for k, v := range l.W.Grad {
		if l.M.Data[k] == 0 && v != 0 {
			t.Errorf("masked weight %d has gradient %v", k, v)
		}
		if l.M.Data[k] == 1 && v == 0 {
			t.Errorf("unmasked weight %d has zero gradient", k)
		}
	}
}

// TestActivations checks Apply, String and ParseActivation.
func TestActivations(t *testing.T) {
	t.Parallel()
	x := FromSlice(1, 3, []float64{-1, 0.5, 2})
	var tp *Tape
	for a := DefaultActivation; a <= Softplus; a++ {
		y := a.Apply(tp, x)
		if y.Rows != 1 || y.Cols != 3 {
			t.Errorf("%v: shape %d×%d", a, y.Rows, y.Cols)
		}
		if a == DefaultActivation {
			if !slices.Equal(y.Data, tp.ReLU(x).Data) {
				t.Errorf("default activation is not ReLU: %v", y.Data)
			}
			continue
		}
		got, err := ParseActivation(a.String())
		if err != nil || got != a {
			t.Errorf("ParseActivation(%q): got %v, %v, want %v", a.String(), got, err, a)
		}
	}
	if _, err := ParseActivation("swish"); err == nil {
		t.Errorf("ParseActivation(\"swish\"): no error")
	}
}

// TestConcurrentForward evaluates one module from several goroutines, each
// with its own NoGrad tape (run with -race to check for data races).
func TestConcurrentForward(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(8, 8))
	m := Sequential{
		NewMaskedLinear("a", mat.NewDense(4, 3, []float64{1, 0, 0, 1, 1, 0, 1, 1, 1, 0, 1, 1}), true, rng),
		NewMLP("b", []int{4, 8, 2}, Tanh, rng),
	}
	x := randTensor(rng, 16, 3, normal)
	want := m.Forward(nil, x).Data
	var wg sync.WaitGroup
	errs := make([]bool, 4)
	for g := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tp := NewNoGradTape()
			for range 20 {
				tp.Reset()
				if !bitsEqual(m.Forward(tp, x).Data, want) {
					errs[g] = true
				}
			}
		}()
	}
	wg.Wait()
	for g, bad := range errs {
		if bad {
			t.Errorf("goroutine %d: results differ", g)
		}
	}
}
