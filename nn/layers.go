package nn

import (
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"
)

// Module is a differentiable function with parameters. Forward maps an N×in
// batch to an N×out batch on tape tp (nil for plain inference); Params
// returns the parameters in a stable order with stable, unique names.
// Forward does not modify the module, so one module may be evaluated
// concurrently from several goroutines with distinct tapes (but backward
// passes accumulate into shared Grad buffers and must not run
// concurrently).
type Module interface {
	Forward(tp *Tape, x *Tensor) *Tensor
	Params() []*Tensor
}

var (
	_ Module = (*Linear)(nil)
	_ Module = (*MaskedLinear)(nil)
	_ Module = (*MLP)(nil)
	_ Module = (*Residual)(nil)
)

// Activation selects an elementwise nonlinearity for the layers that take
// one. The zero value, DefaultActivation, means ReLU.
type Activation uint8

// Activations. Parametrised ones use PyTorch's defaults: LeakyReLU has
// slope 0.01 and ELU alpha 1.
const (
	DefaultActivation Activation = iota // the zero value: ReLU
	Identity                            // no nonlinearity
	ReLU                                // max(x, 0)
	Tanh                                // tanh(x)
	Sigmoid                             // 1/(1+exp(-x))
	ELU                                 // x or exp(x)-1 (alpha 1)
	GELU                                // x·Φ(x), exact form
	LeakyReLU                           // x or 0.01·x
	Softplus                            // log(1+exp(x))
)

var activationNames = [...]string{
	DefaultActivation: "relu",
	Identity:          "identity",
	ReLU:              "relu",
	Tanh:              "tanh",
	Sigmoid:           "sigmoid",
	ELU:               "elu",
	GELU:              "gelu",
	LeakyReLU:         "leaky_relu",
	Softplus:          "softplus",
}

// String returns the lower-case name of the activation, such as "tanh".
func (a Activation) String() string {
	if int(a) < len(activationNames) {
		return activationNames[a]
	}
	return fmt.Sprintf("Activation(%d)", uint8(a))
}

// ParseActivation returns the activation with the given name (as returned
// by String). It returns an error wrapping ErrInvalid for unknown names.
func ParseActivation(name string) (Activation, error) {
	for a := Identity; int(a) < len(activationNames); a++ {
		if activationNames[a] == name {
			return a, nil
		}
	}
	return 0, fmt.Errorf("nn: unknown activation %q: %w", name, ErrInvalid)
}

// Apply applies the activation to x on tape tp. It panics for an unknown
// activation value.
func (a Activation) Apply(tp *Tape, x *Tensor) *Tensor {
	switch a {
	case DefaultActivation, ReLU:
		return tp.ReLU(x)
	case Identity:
		return x
	case Tanh:
		return tp.Tanh(x)
	case Sigmoid:
		return tp.Sigmoid(x)
	case ELU:
		return tp.ELU(x, 1)
	case GELU:
		return tp.GELU(x)
	case LeakyReLU:
		return tp.LeakyReLU(x, 0.01)
	case Softplus:
		return tp.Softplus(x)
	}
	panic(fmt.Sprintf("nn: unknown activation %d", uint8(a)))
}

// Eval sets dst[i] to the activation of x[i] for every i < len(x), with the
// same arithmetic as Apply (bit-identical results), recording nothing: the
// tape-free form for inference kernels. dst may be x itself (but must not
// overlap it otherwise). It panics if dst is shorter than x or for an
// unknown activation value.
func (a Activation) Eval(dst, x []float64) {
	if len(dst) < len(x) {
		panic(fmt.Sprintf("nn: Activation.Eval: dst has %d elements, x has %d", len(dst), len(x)))
	}
	dst = dst[:len(x)]
	switch a {
	case DefaultActivation, ReLU:
		unaryForward(opReLU, dst, x, 0, 0)
	case Identity:
		copy(dst, x)
	case Tanh:
		unaryForward(opTanh, dst, x, 0, 0)
	case Sigmoid:
		unaryForward(opSigmoid, dst, x, 0, 0)
	case ELU:
		unaryForward(opELU, dst, x, 1, 0)
	case GELU:
		unaryForward(opGELU, dst, x, 0, 0)
	case LeakyReLU:
		unaryForward(opLeakyReLU, dst, x, 0.01, 0)
	case Softplus:
		unaryForward(opSoftplus, dst, x, 0, 0)
	default:
		panic(fmt.Sprintf("nn: unknown activation %d", uint8(a)))
	}
}

// InitUniform fills t with independent draws from U(-bound, bound) using rng.
func InitUniform(t *Tensor, bound float64, rng *rand.Rand) {
	for i := range t.Data {
		t.Data[i] = bound * (2*rng.Float64() - 1)
	}
}

// Linear is a fully connected layer y = x·Wᵀ + B.
type Linear struct {
	// W is the Out×In weight (PyTorch layout), named prefix+".weight".
	W *Tensor
	// B is the 1×Out bias, named prefix+".bias", or nil.
	B *Tensor
}

// NewLinear returns a Linear layer from in to out features whose
// parameters are named name+".weight" and name+".bias". Weights and bias
// are drawn from U(-1/√in, 1/√in) with rng, PyTorch's default
// initialisation. It panics if in or out is not positive.
func NewLinear(name string, in, out int, bias bool, rng *rand.Rand) *Linear {
	if in <= 0 || out <= 0 {
		panic(fmt.Sprintf("nn: NewLinear %q: sizes %d→%d must be positive", name, in, out))
	}
	l := &Linear{W: NewParam(name+".weight", out, in)}
	bound := 1 / math.Sqrt(float64(in))
	InitUniform(l.W, bound, rng)
	if bias {
		l.B = NewParam(name+".bias", 1, out)
		InitUniform(l.B, bound, rng)
	}
	return l
}

// In returns the number of input features.
func (l *Linear) In() int { return l.W.Cols }

// Out returns the number of output features.
func (l *Linear) Out() int { return l.W.Rows }

// Forward returns x·Wᵀ + B for x of shape N×In.
func (l *Linear) Forward(tp *Tape, x *Tensor) *Tensor { return tp.Linear(x, l.W, l.B) }

// Params returns [W, B] (or [W] without bias).
func (l *Linear) Params() []*Tensor {
	if l.B == nil {
		return []*Tensor{l.W}
	}
	return []*Tensor{l.W, l.B}
}

// MaskedLinear is a Linear layer whose weight is multiplied elementwise by
// a fixed binary mask: y = x·(W∘M)ᵀ + B, as in MADE (Germain et al. 2015).
// Masked-out weights receive zero gradient. On a non-nil tape the masked
// weight lives in the tape's arena, so repeated calls do not allocate.
type MaskedLinear struct {
	Linear
	// M is the fixed Out×In mask of 0s and 1s (not a parameter).
	M *Tensor
}

// NewMaskedLinear returns a MaskedLinear layer with the Out×In mask m
// (copied) and parameters named as for NewLinear, initialised as NewLinear
// does (PyTorch's default, using the full fan-in In). It panics if m has a
// zero dimension or an entry other than 0 or 1.
func NewMaskedLinear(name string, m mat.Matrix, bias bool, rng *rand.Rand) *MaskedLinear {
	out, in := m.Dims()
	l := &MaskedLinear{Linear: *NewLinear(name, in, out, bias, rng), M: FromDense(m)}
	for _, v := range l.M.Data {
		if v != 0 && v != 1 {
			panic(fmt.Sprintf("nn: NewMaskedLinear %q: mask entry %v is not 0 or 1", name, v))
		}
	}
	return l
}

// Forward returns x·(W∘M)ᵀ + B for x of shape N×In.
func (l *MaskedLinear) Forward(tp *Tape, x *Tensor) *Tensor {
	return tp.Linear(x, tp.Mask(l.W, l.M), l.B)
}

// MLP is a multilayer perceptron: Linear layers with an activation between
// consecutive layers and none after the last.
type MLP struct {
	Layers []*Linear
	Act    Activation
}

// NewMLP returns an MLP with layer widths widths[0]→widths[1]→…→widths[L]
// and activation act (zero value: ReLU). Layer i is named
// fmt.Sprintf("%s.%d", name, i), so its parameters are "name.i.weight" and
// "name.i.bias". It panics if fewer than two widths are given or a width is
// not positive.
func NewMLP(name string, widths []int, act Activation, rng *rand.Rand) *MLP {
	if len(widths) < 2 {
		panic(fmt.Sprintf("nn: NewMLP %q: need at least 2 widths, got %d", name, len(widths)))
	}
	m := &MLP{Act: act}
	for i := 0; i+1 < len(widths); i++ {
		m.Layers = append(m.Layers, NewLinear(fmt.Sprintf("%s.%d", name, i), widths[i], widths[i+1], true, rng))
	}
	return m
}

// Forward applies the layers to x (N×widths[0]), returning N×widths[L].
func (m *MLP) Forward(tp *Tape, x *Tensor) *Tensor {
	for i, l := range m.Layers {
		if i > 0 {
			x = m.Act.Apply(tp, x)
		}
		x = l.Forward(tp, x)
	}
	return x
}

// Params returns the layers' parameters in layer order.
func (m *MLP) Params() []*Tensor {
	var ps []*Tensor
	for _, l := range m.Layers {
		ps = append(ps, l.Params()...)
	}
	return ps
}

// Residual is a pre-activation residual block of constant width D:
// y = x + L2(act(L1(act(x)))), as nflows' ResidualBlock (He et al. 2016).
type Residual struct {
	L1, L2 *Linear
	Act    Activation
}

// NewResidual returns a residual block of width dim with layers named
// name+".0" and name+".1". L1 has PyTorch's default initialisation; L2's
// weights and bias are drawn from U(-1e-3, 1e-3) so that the block starts
// close to the identity (nflows' zero_initialization). It panics if dim is
// not positive.
func NewResidual(name string, dim int, act Activation, rng *rand.Rand) *Residual {
	r := &Residual{
		L1:  NewLinear(name+".0", dim, dim, true, rng),
		L2:  NewLinear(name+".1", dim, dim, true, rng),
		Act: act,
	}
	InitUniform(r.L2.W, 1e-3, rng)
	InitUniform(r.L2.B, 1e-3, rng)
	return r
}

// Forward returns x + L2(act(L1(act(x)))) for x of shape N×D.
func (r *Residual) Forward(tp *Tape, x *Tensor) *Tensor {
	h := r.Act.Apply(tp, x)
	h = r.L1.Forward(tp, h)
	h = r.Act.Apply(tp, h)
	h = r.L2.Forward(tp, h)
	return tp.Add(x, h)
}

// Params returns L1's then L2's parameters.
func (r *Residual) Params() []*Tensor {
	return append(r.L1.Params(), r.L2.Params()...)
}

// Sequential applies modules in order. Its parameters are the modules'
// parameters in order; give the modules distinct name prefixes.
type Sequential []Module

var _ Module = Sequential(nil)

// Forward applies each module in turn.
func (s Sequential) Forward(tp *Tape, x *Tensor) *Tensor {
	for _, m := range s {
		x = m.Forward(tp, x)
	}
	return x
}

// Params returns the parameters of all modules in order.
func (s Sequential) Params() []*Tensor {
	var ps []*Tensor
	for _, m := range s {
		ps = append(ps, m.Params()...)
	}
	return ps
}
