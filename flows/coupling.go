package flows

import (
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/gosbi/gosbi/nn"
)

// CouplingConfig fixes the architecture of a Coupling transform.
type CouplingConfig struct {
	// Features is the dimension D of the transformed variable (required).
	Features int
	// Context is the dimension of the context; 0 for an unconditional transform.
	Context int
	// Hidden is the width of the residual conditioner; zero means 50.
	Hidden int
	// Blocks is the number of residual blocks; zero means 2 (sbi's NSF). Use a
	// negative value for none.
	Blocks int
	// Activation is used inside the residual blocks; the zero value is nn's
	// default, ReLU (as nflows' ResidualNet).
	Activation nn.Activation
	// Univariate is the per-feature map; nil means Affine (RealNVP, Dinh et
	// al. 2017, with the softplus scale of Affine).
	Univariate Univariate
	// Transformed lists the features that are transformed; the others pass
	// through unchanged and, with the context, condition them. nil means the
	// even-indexed features 0, 2, 4, … (nflows' alternating mask); with one
	// feature it is transformed conditioned on the context alone.
	Transformed []int
}

func (c CouplingConfig) withDefaults() CouplingConfig {
	if c.Hidden == 0 {
		c.Hidden = 50
	}
	if c.Blocks == 0 {
		c.Blocks = 2
	} else if c.Blocks < 0 {
		c.Blocks = 0
	}
	if c.Univariate == nil {
		c.Univariate = Affine{}
	}
	if c.Transformed == nil {
		for i := 0; i < c.Features; i += 2 {
			c.Transformed = append(c.Transformed, i)
		}
	} else {
		c.Transformed = slices.Clone(c.Transformed)
	}
	return c
}

func (c CouplingConfig) validate() error {
	if c.Features < 1 || c.Features > maxDim {
		return fmt.Errorf("flows: coupling transform with %d features: %w", c.Features, ErrConfig)
	}
	if c.Context < 0 || c.Context > maxDim {
		return fmt.Errorf("flows: coupling transform with context dimension %d: %w", c.Context, ErrConfig)
	}
	if c.Hidden < 1 || c.Hidden > maxDim {
		return fmt.Errorf("flows: coupling transform with %d hidden units: %w", c.Hidden, ErrConfig)
	}
	if c.Blocks > maxBlocks {
		return fmt.Errorf("flows: coupling transform with %d blocks: %w", c.Blocks, ErrConfig)
	}
	if len(c.Transformed) == 0 {
		return fmt.Errorf("flows: coupling transform with no transformed feature: %w", ErrConfig)
	}
	seen := make([]bool, c.Features)
	for _, f := range c.Transformed {
		if f < 0 || f >= c.Features || seen[f] {
			return fmt.Errorf("flows: coupling transformed features %v invalid for %d features: %w", c.Transformed, c.Features, ErrConfig)
		}
		seen[f] = true
	}
	if s, ok := c.Univariate.(Spline); ok {
		if err := s.validate(); err != nil {
			return err
		}
	}
	return checkActivation(c.Activation)
}

// Coupling is a coupling transform (Dinh et al. 2017, "Density estimation
// using Real NVP"; with a spline, Durkan et al. 2019's NSF coupling layer):
// the transformed features are mapped by a univariate transform whose
// parameters a residual network computes from the identity features and the
// context; the identity features pass through. Forward and Inverse are one
// pass each.
//
// The conditioner is nflows' ResidualNet: a linear layer from the identity
// features and the context to Hidden units, Blocks pre-activation residual
// blocks h + GLU-gated L2(act(L1(act(h)))) whose gate is sigmoid(linear(c)),
// and a linear output layer. With no identity feature and no context the
// parameters are a learned constant.
type Coupling struct {
	cfg      CouplingConfig
	name     string
	identity []int
	cond     *resNet
	ops      univariateOps
}

// NewCoupling returns a coupling transform with parameters named after name,
// initialised from rng. The error wraps ErrConfig for an invalid config.
func NewCoupling(name string, cfg CouplingConfig, rng *rand.Rand) (*Coupling, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	t := &Coupling{cfg: cfg, name: name}
	isT := make([]bool, cfg.Features)
	for _, f := range cfg.Transformed {
		isT[f] = true
	}
	for i, tr := range isT {
		if !tr {
			t.identity = append(t.identity, i)
		}
	}
	out := len(cfg.Transformed) * cfg.Univariate.ParamsPerFeature()
	t.cond = newResNet(name+".net", len(t.identity), cfg.Context, cfg.Hidden, cfg.Blocks, out, cfg.Activation, rng)
	t.ops = cfg.Univariate.bind(cfg.Transformed, cfg.Hidden)
	return t, nil
}

// Config returns the transform's configuration with defaults filled in.
func (t *Coupling) Config() CouplingConfig {
	c := t.cfg
	c.Transformed = slices.Clone(c.Transformed)
	return c
}

func (t *Coupling) params(tp *nn.Tape, x, c *nn.Tensor) *nn.Tensor {
	var xid *nn.Tensor
	if len(t.identity) > 0 {
		xid = tp.GatherCols(x, t.identity)
	}
	return t.cond.forward(tp, xid, c)
}

// Forward transforms the transformed features given the identity features.
func (t *Coupling) Forward(tp *nn.Tape, x, c *nn.Tensor) (*nn.Tensor, *nn.Tensor) {
	checkInput("Coupling", x, t.cfg.Features)
	checkContext("Coupling", c, t.cfg.Context, x.Rows)
	return t.ops.forward(tp, x, t.params(tp, x, c))
}

// Inverse undoes Forward (the identity features of y equal those of x).
func (t *Coupling) Inverse(tp *nn.Tape, y, c *nn.Tensor) (*nn.Tensor, *nn.Tensor) {
	checkInput("Coupling", y, t.cfg.Features)
	checkContext("Coupling", c, t.cfg.Context, y.Rows)
	return t.ops.inverse(tp, y, t.params(tp, y, c))
}

// Params returns the conditioner's parameters.
func (t *Coupling) Params() []*nn.Tensor { return t.cond.params() }

func (t *Coupling) spec() transformSpec {
	u := t.cfg.Univariate.spec()
	return transformSpec{
		Kind: "coupling", Name: t.name, Features: t.cfg.Features, Context: t.cfg.Context,
		Hidden: t.cfg.Hidden, Blocks: blocksSpec(t.cfg.Blocks), Activation: t.cfg.Activation.String(),
		Univariate: &u, Transformed: slices.Clone(t.cfg.Transformed),
	}
}

func (t *Coupling) frozen() Transform {
	f := *t
	f.cond = t.cond.frozen()
	return &f
}

// resNet is nflows' ResidualNet conditioner with context.
type resNet struct {
	inX    *nn.Linear // identity features → H (with bias), nil without them
	inC    *nn.Linear // context → H (bias only if inX is nil), nil without context
	blocks []resBlock
	out    *nn.Linear // H → out
	cnst   *nn.Tensor // 1×out constant parameters when there is no input at all
	act    nn.Activation
}

type resBlock struct {
	l1, l2 *nn.Linear
	gate   *nn.Linear // context → H, nil without context
}

func newResNet(name string, nin, nc, h, blocks, out int, act nn.Activation, rng *rand.Rand) *resNet {
	r := &resNet{act: act}
	if nin == 0 && nc == 0 {
		r.cnst = nn.NewParam(name+".const", 1, out)
		return r
	}
	if nin > 0 {
		r.inX = nn.NewLinear(name+".in", nin, h, true, rng)
	}
	if nc > 0 {
		r.inC = nn.NewLinear(name+".ctx", nc, h, nin == 0, rng)
	}
	for b := 0; b < blocks; b++ {
		p := fmt.Sprintf("%s.b%d", name, b)
		blk := resBlock{l1: nn.NewLinear(p+".0", h, h, true, rng), l2: nn.NewLinear(p+".1", h, h, true, rng)}
		// nflows zero-initialises the last layer of each block: U(-1e-3, 1e-3).
		nn.InitUniform(blk.l2.W, 1e-3, rng)
		nn.InitUniform(blk.l2.B, 1e-3, rng)
		if nc > 0 {
			blk.gate = nn.NewLinear(p+".gate", nc, h, true, rng)
		}
		r.blocks = append(r.blocks, blk)
	}
	r.out = nn.NewLinear(name+".out", h, out, true, rng)
	return r
}

// forward returns the conditioner's output for identity features xid (N×nin
// or nil) and context c (N×C, 1×C or nil).
func (r *resNet) forward(tp *nn.Tape, xid, c *nn.Tensor) *nn.Tensor {
	if r.cnst != nil {
		return r.cnst
	}
	var h *nn.Tensor
	if r.inX != nil {
		h = r.inX.Forward(tp, xid)
	}
	if r.inC != nil {
		hc := r.inC.Forward(tp, c)
		if h == nil {
			h = hc
		} else {
			h = tp.Add(h, hc)
		}
	}
	for _, b := range r.blocks {
		t := r.act.Apply(tp, h)
		t = b.l1.Forward(tp, t)
		t = r.act.Apply(tp, t)
		t = b.l2.Forward(tp, t)
		if b.gate != nil {
			t = tp.Mul(t, tp.Sigmoid(b.gate.Forward(tp, c)))
		}
		h = tp.Add(h, t)
	}
	return r.out.Forward(tp, h)
}

func (r *resNet) params() []*nn.Tensor {
	if r.cnst != nil {
		return []*nn.Tensor{r.cnst}
	}
	var ps []*nn.Tensor
	if r.inX != nil {
		ps = append(ps, r.inX.Params()...)
	}
	if r.inC != nil {
		ps = append(ps, r.inC.Params()...)
	}
	for _, b := range r.blocks {
		ps = append(ps, b.l1.Params()...)
		ps = append(ps, b.l2.Params()...)
		if b.gate != nil {
			ps = append(ps, b.gate.Params()...)
		}
	}
	return append(ps, r.out.Params()...)
}

func (r *resNet) frozen() *resNet {
	f := &resNet{act: r.act, cnst: constOf(r.cnst)}
	if r.cnst != nil {
		return f
	}
	if r.inX != nil {
		f.inX = frozenLinear(r.inX)
	}
	if r.inC != nil {
		f.inC = frozenLinear(r.inC)
	}
	for _, b := range r.blocks {
		fb := resBlock{l1: frozenLinear(b.l1), l2: frozenLinear(b.l2)}
		if b.gate != nil {
			fb.gate = frozenLinear(b.gate)
		}
		f.blocks = append(f.blocks, fb)
	}
	f.out = frozenLinear(r.out)
	return f
}
