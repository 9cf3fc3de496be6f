package flows

import (
	"fmt"
	"math/rand/v2"

	"github.com/gosbi/gosbi/nn"
	"gonum.org/v1/gonum/mat"
)

// MADE degrees and masks (Germain, Gregor, Murray & Larochelle, "MADE: Masked
// Autoencoder for Distribution Estimation", ICML 2015, section 4).
//
// Inputs have degrees 1…D in autoregressive order. A hidden unit of degree m
// may see inputs of degree <= m; an output of degree d may see hidden units of
// degree < d. Output d therefore depends only on inputs of degree < d, which
// makes the Jacobian of the transform triangular.
//
// Unlike nflows, when a context is present the hidden degrees cycle through
// 0…D-1 instead of 1…D-1: units of degree 0 see no input at all but do see the
// context (which enters the first hidden layer unmasked), so the first feature's
// parameters depend on the context too. (In nflows' MADE the first feature gets
// its scale and shift from biases only.) Without a context, degree-0 units
// would be constants and hidden degrees are 1…D-1 as in nflows (all 0 if D = 1).

// madeInputDegrees returns the degrees 1…d of the inputs.
func madeInputDegrees(d int) []int {
	deg := make([]int, d)
	for i := range deg {
		deg[i] = i + 1
	}
	return deg
}

// madeHiddenDegrees returns the degrees of h hidden units for d inputs,
// cycling deterministically through the allowed range.
func madeHiddenDegrees(h, d int, context bool) []int {
	lo, n := 1, d-1 // degrees lo … lo+n-1
	if context || d == 1 {
		lo, n = 0, d
		if !context {
			n = 1 // d == 1 without context: a single degree 0
		}
	}
	deg := make([]int, h)
	for i := range deg {
		deg[i] = lo + i%n
	}
	return deg
}

// madeOutputDegrees returns the degrees of d·mult outputs where output
// column j belongs to feature j/mult (feature-major layout).
func madeOutputDegrees(d, mult int) []int {
	deg := make([]int, d*mult)
	for j := range deg {
		deg[j] = j/mult + 1
	}
	return deg
}

// madeMask returns the in×out mask (row-major, 1 = connected) between units of
// degrees in and out: connected when out >= in for hidden layers, out > in for
// the output layer (strict).
func madeMask(in, out []int, strict bool) []float64 {
	m := make([]float64, len(in)*len(out))
	for i, di := range in {
		row := m[i*len(out) : (i+1)*len(out)]
		for j, do := range out {
			if do > di || (!strict && do == di) {
				row[j] = 1
			}
		}
	}
	return m
}

// made is a MADE conditioner: a masked input layer (plus an unmasked context
// layer added to it), blocks masked hidden layers each followed by the
// activation, and a masked output layer giving mult outputs per feature,
// feature-major. As nflows' MADE, there is no activation between the input
// layer and the first block.
type made struct {
	in     *nn.MaskedLinear   // D → H; nil for D = 1, where no hidden unit may see x
	bias   *nn.Tensor         // 1×H first-layer bias when D = 1 without context
	ctx    *nn.Linear         // C → H, nil without context
	hidden []*nn.MaskedLinear // H → H
	out    *nn.MaskedLinear   // H → D·mult
	act    nn.Activation
}

// maskMatrix returns the Out×In mask (nn's weight layout) between degrees.
func maskMatrix(in, out []int, strict bool) mat.Matrix {
	return mat.NewDense(len(in), len(out), madeMask(in, out, strict)).T()
}

func newMADE(name string, d, c, h, blocks, mult int, act nn.Activation, rng *rand.Rand) *made {
	in := madeInputDegrees(d)
	hid := madeHiddenDegrees(h, d, c > 0)
	outDeg := madeOutputDegrees(d, mult)
	m := &made{act: act}
	if d > 1 {
		m.in = nn.NewMaskedLinear(name+".in", maskMatrix(in, hid, false), true, rng)
	}
	if c > 0 {
		// With D = 1 the context layer's bias is the first layer's bias.
		m.ctx = nn.NewLinear(name+".ctx", c, h, true, rng)
	} else if d == 1 {
		m.bias = nn.NewParam(name+".in.bias", 1, h)
		nn.InitUniform(m.bias, 1, rng) // PyTorch's bound 1/√fan_in with fan_in 1
	}
	for b := 0; b < blocks; b++ {
		m.hidden = append(m.hidden, nn.NewMaskedLinear(fmt.Sprintf("%s.h%d", name, b), maskMatrix(hid, hid, false), true, rng))
	}
	m.out = nn.NewMaskedLinear(name+".out", maskMatrix(hid, outDeg, true), true, rng)
	return m
}

// contextHidden returns the context layer's contribution (N×H or 1×H for a
// single broadcast context row), or nil without context.
func (m *made) contextHidden(tp *nn.Tape, c *nn.Tensor) *nn.Tensor {
	if m.ctx == nil {
		return nil
	}
	return m.ctx.Forward(tp, c)
}

// forward returns the N×(D·mult) outputs for inputs x and the context
// layer's contribution ch (from contextHidden). With D = 1 the outputs do not
// depend on x and have as many rows as ch (1 row without context).
func (m *made) forward(tp *nn.Tape, x, ch *nn.Tensor) *nn.Tensor {
	var h *nn.Tensor
	switch {
	case m.in == nil && ch != nil:
		h = ch
	case m.in == nil:
		h = m.bias
	case ch != nil:
		h = tp.Add(m.in.Forward(tp, x), ch)
	default:
		h = m.in.Forward(tp, x)
	}
	for _, l := range m.hidden {
		h = m.act.Apply(tp, l.Forward(tp, h))
	}
	return m.out.Forward(tp, h)
}

func (m *made) params() []*nn.Tensor {
	var ps []*nn.Tensor
	if m.in != nil {
		ps = append(ps, m.in.Params()...)
	}
	if m.bias != nil {
		ps = append(ps, m.bias)
	}
	if m.ctx != nil {
		ps = append(ps, m.ctx.Params()...)
	}
	for _, l := range m.hidden {
		ps = append(ps, l.Params()...)
	}
	return append(ps, m.out.Params()...)
}

// frozen returns a copy sharing parameter values whose tensors are constants.
func (m *made) frozen() *made {
	f := &made{act: m.act, bias: constOf(m.bias), out: frozenMasked(m.out)}
	if m.in != nil {
		f.in = frozenMasked(m.in)
	}
	if m.ctx != nil {
		f.ctx = frozenLinear(m.ctx)
	}
	for _, l := range m.hidden {
		f.hidden = append(f.hidden, frozenMasked(l))
	}
	return f
}
