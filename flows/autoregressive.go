package flows

import (
	"fmt"
	"math/rand/v2"
	"sync"

	"github.com/gosbi/gosbi/nn"
)

// AutoregressiveConfig fixes the architecture of an Autoregressive transform.
type AutoregressiveConfig struct {
	// Features is the dimension D of the transformed variable (required).
	Features int
	// Context is the dimension of the context; 0 for an unconditional transform.
	Context int
	// Hidden is the width of the MADE's hidden layers; zero means 50.
	Hidden int
	// Blocks is the number of masked hidden-to-hidden layers after the input
	// layer; zero means 2 (sbi's num_blocks). Use a negative value for none.
	Blocks int
	// Activation follows every hidden-to-hidden layer; the zero value is nn's
	// default, ReLU (the MAF preset uses tanh, as sbi).
	Activation nn.Activation
	// Univariate is the per-feature map; nil means Affine (MAF).
	Univariate Univariate
}

func (c AutoregressiveConfig) withDefaults() AutoregressiveConfig {
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
	return c
}

func (c AutoregressiveConfig) validate() error {
	if c.Features < 1 || c.Features > maxDim {
		return fmt.Errorf("flows: autoregressive transform with %d features: %w", c.Features, ErrConfig)
	}
	if c.Context < 0 || c.Context > maxDim {
		return fmt.Errorf("flows: autoregressive transform with context dimension %d: %w", c.Context, ErrConfig)
	}
	if c.Hidden < 1 || c.Hidden > maxDim {
		return fmt.Errorf("flows: autoregressive transform with %d hidden units: %w", c.Hidden, ErrConfig)
	}
	if c.Blocks > maxBlocks {
		return fmt.Errorf("flows: autoregressive transform with %d blocks: %w", c.Blocks, ErrConfig)
	}
	if s, ok := c.Univariate.(Spline); ok {
		if err := s.validate(); err != nil {
			return err
		}
	}
	return checkActivation(c.Activation)
}

// checkActivation returns an error wrapping ErrConfig for an unknown activation.
func checkActivation(a nn.Activation) error {
	if _, err := nn.ParseActivation(a.String()); err != nil {
		return fmt.Errorf("flows: activation %v: %w", a, ErrConfig)
	}
	return nil
}

// blocksSpec encodes a block count for a config whose zero value means the
// default: an explicit zero is stored as -1.
func blocksSpec(n int) int {
	if n == 0 {
		return -1
	}
	return n
}

// Limits that keep configurations (and files) sane.
const (
	maxDim    = 1 << 16
	maxBlocks = 1 << 10
)

// Autoregressive is a masked autoregressive transform (Papamakarios, Pavlakou
// & Murray 2017, "Masked Autoregressive Flow", section 3; with a spline
// univariate map, Durkan et al. 2019's NSF-AR): y_i = τ(x_i; θ_i(x_<i, c)),
// where a MADE conditioner (see made.go) computes every θ_i in one pass.
// Forward (density evaluation) is one pass of the network; Inverse
// (sampling) is D passes, one per feature (the batch methods of Flow invert
// it incrementally instead, at about the cost of one pass: see
// fast_made.go). Its Jacobian ∂y/∂x is lower triangular in feature order.
type Autoregressive struct {
	cfg  AutoregressiveConfig
	name string
	made *made
	ops  univariateOps
}

// NewAutoregressive returns an autoregressive transform whose parameters are
// named name+".in.weight" etc., initialised from rng (PyTorch's default
// uniform initialisation). The error wraps ErrConfig for an invalid config.
func NewAutoregressive(name string, cfg AutoregressiveConfig, rng *rand.Rand) (*Autoregressive, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	m := cfg.Univariate.ParamsPerFeature()
	t := &Autoregressive{cfg: cfg, name: name}
	t.made = newMADE(name, cfg.Features, cfg.Context, cfg.Hidden, cfg.Blocks, m, cfg.Activation, rng)
	t.ops = cfg.Univariate.bind(allFeatures(cfg.Features), cfg.Hidden)
	return t, nil
}

func allFeatures(d int) []int {
	f := make([]int, d)
	for i := range f {
		f[i] = i
	}
	return f
}

// Config returns the transform's configuration with defaults filled in.
func (t *Autoregressive) Config() AutoregressiveConfig { return t.cfg }

// Forward computes y and log|det ∂y/∂x| in one pass of the MADE.
func (t *Autoregressive) Forward(tp *nn.Tape, x, c *nn.Tensor) (*nn.Tensor, *nn.Tensor) {
	checkInput("Autoregressive", x, t.cfg.Features)
	checkContext("Autoregressive", c, t.cfg.Context, x.Rows)
	p := t.made.forward(tp, x, t.made.contextHidden(tp, c))
	return t.ops.forward(tp, x, p)
}

// Inverse computes x from y in D passes: after pass k the first k features
// in autoregressive order are exact. The context layer is evaluated once.
func (t *Autoregressive) Inverse(tp *nn.Tape, y, c *nn.Tensor) (*nn.Tensor, *nn.Tensor) {
	checkInput("Autoregressive", y, t.cfg.Features)
	checkContext("Autoregressive", c, t.cfg.Context, y.Rows)
	ch := t.made.contextHidden(tp, c)
	if tp == nil || tp.NoGrad {
		return t.inverseNoGrad(tp, y, ch)
	}
	x := tp.New(y.Rows, y.Cols)
	var ladj *nn.Tensor
	for k := 0; k < t.cfg.Features; k++ {
		p := t.made.forward(tp, x, ch)
		x, ladj = t.ops.inverse(tp, y, p)
	}
	return x, ladj
}

// scratchTapes holds NoGrad tapes for the passes of inverseNoGrad.
var scratchTapes = sync.Pool{New: func() any { return nn.NewNoGradTape() }}

// inverseNoGrad is Inverse without recording: every pass runs on a scratch
// arena that is recycled before the next, so memory does not grow with D.
func (t *Autoregressive) inverseNoGrad(tp *nn.Tape, y, ch *nn.Tensor) (*nn.Tensor, *nn.Tensor) {
	x, ladj := tp.New(y.Rows, y.Cols), tp.New(y.Rows, 1)
	st := scratchTapes.Get().(*nn.Tape)
	defer scratchTapes.Put(st)
	for k := 0; k < t.cfg.Features; k++ {
		st.Reset()
		p := t.made.forward(st, x, ch)
		xk, lk := t.ops.inverse(st, y, p)
		copy(x.Data, xk.Data)
		if k == t.cfg.Features-1 {
			copy(ladj.Data, lk.Data)
		}
	}
	st.Reset()
	return x, ladj
}

// Params returns the MADE's parameters: input layer, context layer, hidden
// layers, output layer (weights then biases).
func (t *Autoregressive) Params() []*nn.Tensor { return t.made.params() }

func (t *Autoregressive) spec() transformSpec {
	u := t.cfg.Univariate.spec()
	return transformSpec{
		Kind: "autoregressive", Name: t.name, Features: t.cfg.Features, Context: t.cfg.Context,
		Hidden: t.cfg.Hidden, Blocks: blocksSpec(t.cfg.Blocks), Activation: t.cfg.Activation.String(), Univariate: &u,
	}
}

func (t *Autoregressive) frozen() Transform {
	f := *t
	f.made = t.made.frozen()
	return &f
}
