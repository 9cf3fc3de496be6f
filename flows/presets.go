package flows

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/gosbi/gosbi/nn"
	"gonum.org/v1/gonum/mat"
)

// ZScore selects how a preset standardises data before the flow.
type ZScore uint8

const (
	// ZScoreIndependent z-scores every feature with its own mean and
	// unbiased standard deviation fitted to the data given to Build (sbi's
	// default "independent"). Constant features get std 1.
	ZScoreIndependent ZScore = iota
	// ZScoreNone leaves the data as it is.
	ZScoreNone
)

// PermutationKind selects the permutation between autoregressive layers.
type PermutationKind uint8

const (
	// PermuteRandom draws a random permutation per layer from Build's rng (sbi).
	PermuteRandom PermutationKind = iota
	// PermuteReverse reverses the feature order after every layer.
	PermuteReverse
)

// MAF configures a masked autoregressive flow (Papamakarios et al. 2017) with
// the architecture of sbi's default density estimator: Transforms blocks of
// a masked affine autoregressive transform (MADE with Hidden units, an input
// layer, Blocks hidden layers, Activation, context entering the first hidden
// layer) followed by a permutation, after a z-scoring of x. The zero value is
// sbi's default.
type MAF struct {
	// Transforms is the number of autoregressive transforms; zero means 5.
	Transforms int
	// Hidden is the MADE width; zero means 50.
	Hidden int
	// Blocks is the number of hidden-to-hidden layers; zero means 2, negative none.
	Blocks int
	// Activation is the MADE nonlinearity; the zero value means tanh (sbi's MAF).
	Activation nn.Activation
	// Permutation is the kind of permutation after each transform (random by default).
	Permutation PermutationKind
	// ZScoreX and ZScoreContext select the standardisation of x and of the
	// context, fitted to the data given to Build (independent by default).
	ZScoreX, ZScoreContext ZScore
	// Embedding, if non-nil, maps the z-scored context to the features the
	// transforms condition on (identity by default).
	Embedding nn.Module
}

// NSF configures a neural spline flow (Durkan et al. 2019) as sbi's NSF:
// Transforms blocks of a rational-quadratic spline coupling transform
// (alternating masks, residual conditioner with Hidden units and Blocks
// blocks) followed by an LU linear layer (omitted for one feature), after a
// z-scoring of x. With Autoregressive set the blocks are masked
// autoregressive spline transforms followed by random permutations instead
// (sbi's maf_rqs). The zero value is sbi's default.
type NSF struct {
	// Transforms is the number of spline transforms; zero means 5.
	Transforms int
	// Bins is the number of spline bins; zero means 10.
	Bins int
	// TailBound is B of the spline's interval [-B, B]; zero means 3.
	TailBound float64
	// Hidden is the conditioner width; zero means 50.
	Hidden int
	// Blocks is the number of residual blocks (or MADE hidden layers); zero
	// means 2, negative none.
	Blocks int
	// Activation is the conditioner nonlinearity; the zero value means ReLU
	// for coupling (sbi's NSF) and tanh for the autoregressive variant.
	Activation nn.Activation
	// Autoregressive selects masked autoregressive spline transforms instead
	// of coupling transforms.
	Autoregressive bool
	// ZScoreX, ZScoreContext and Embedding are as for MAF.
	ZScoreX, ZScoreContext ZScore
	Embedding              nn.Module
}

// Build returns a MAF fitted to data: the z-scoring statistics of x and c
// come from the given rows (one sample per row; c nil for an unconditional
// flow), and the weights are initialised from rng. Errors wrap ErrData for
// empty or non-finite data or mismatched rows, ErrConfig for an invalid
// configuration.
func (m MAF) Build(x, c *mat.Dense, rng *rand.Rand) (*Flow, error) {
	if m.Transforms == 0 {
		m.Transforms = 5
	}
	if m.Activation == nn.DefaultActivation {
		m.Activation = nn.Tanh
	}
	if m.Transforms < 1 || m.Transforms > maxBlocks {
		return nil, fmt.Errorf("flows: MAF with %d transforms: %w", m.Transforms, ErrConfig)
	}
	if m.Permutation > PermuteReverse {
		return nil, fmt.Errorf("flows: MAF permutation kind %d: %w", m.Permutation, ErrConfig)
	}
	b, err := newBuilder(x, c, m.ZScoreX, m.ZScoreContext, m.Embedding)
	if err != nil {
		return nil, err
	}
	d := b.dim
	for i := 0; i < m.Transforms; i++ {
		t, err := NewAutoregressive(fmt.Sprintf("t%d", i), AutoregressiveConfig{
			Features: d, Context: b.embedDim, Hidden: m.Hidden, Blocks: m.Blocks, Activation: m.Activation,
		}, rng)
		if err != nil {
			return nil, err
		}
		b.add(t)
		if d > 1 {
			if m.Permutation == PermuteReverse {
				b.add(ReversePermutation(d))
			} else {
				b.add(RandomPermutation(d, rng))
			}
		}
	}
	return b.flow()
}

// Build returns an NSF fitted to data, as MAF.Build.
func (m NSF) Build(x, c *mat.Dense, rng *rand.Rand) (*Flow, error) {
	if m.Transforms == 0 {
		m.Transforms = 5
	}
	if m.Transforms < 1 || m.Transforms > maxBlocks {
		return nil, fmt.Errorf("flows: NSF with %d transforms: %w", m.Transforms, ErrConfig)
	}
	if m.Autoregressive && m.Activation == nn.DefaultActivation {
		m.Activation = nn.Tanh
	}
	spline := Spline{Bins: m.Bins, TailBound: m.TailBound}
	if err := spline.validate(); err != nil {
		return nil, err
	}
	b, err := newBuilder(x, c, m.ZScoreX, m.ZScoreContext, m.Embedding)
	if err != nil {
		return nil, err
	}
	d := b.dim
	for i := 0; i < m.Transforms; i++ {
		name := fmt.Sprintf("t%d", i)
		if m.Autoregressive {
			t, err := NewAutoregressive(name, AutoregressiveConfig{
				Features: d, Context: b.embedDim, Hidden: m.Hidden, Blocks: m.Blocks,
				Activation: m.Activation, Univariate: spline,
			}, rng)
			if err != nil {
				return nil, err
			}
			b.add(t)
			if d > 1 {
				b.add(RandomPermutation(d, rng))
			}
			continue
		}
		var tr []int // alternating masks: even features on even layers, odd on odd
		for j := i % 2; j < d; j += 2 {
			tr = append(tr, j)
		}
		if d == 1 {
			tr = []int{0}
		}
		t, err := NewCoupling(name, CouplingConfig{
			Features: d, Context: b.embedDim, Hidden: m.Hidden, Blocks: m.Blocks,
			Activation: m.Activation, Univariate: spline, Transformed: tr,
		}, rng)
		if err != nil {
			return nil, err
		}
		b.add(t)
		if d > 1 {
			b.add(NewLULinear(fmt.Sprintf("lu%d", i), d))
		}
	}
	return b.flow()
}

// builder collects the pieces shared by the presets.
type builder struct {
	dim, ctxDim, embedDim int
	ts                    []Transform
	opt                   FlowOptions
}

func newBuilder(x, c *mat.Dense, zx, zc ZScore, embed nn.Module) (*builder, error) {
	if err := checkTrainingData(x, c); err != nil {
		return nil, err
	}
	if zx > ZScoreNone || zc > ZScoreNone {
		return nil, fmt.Errorf("flows: unknown z-score kind: %w", ErrConfig)
	}
	_, d := x.Dims()
	b := &builder{dim: d}
	if zx == ZScoreIndependent {
		mean, std := meanStd(x)
		s, err := NewStandardize("zx", mean, std)
		if err != nil {
			return nil, err
		}
		b.ts = append(b.ts, s)
	}
	if c != nil {
		_, b.ctxDim = c.Dims()
		b.opt.ContextDim = b.ctxDim
		if zc == ZScoreIndependent {
			b.opt.ContextMean, b.opt.ContextStd = meanStd(c)
		}
		b.opt.Embedding = embed
		b.embedDim = b.ctxDim
		if embed != nil {
			e, err := outputDim(embed, b.ctxDim)
			if err != nil {
				return nil, err
			}
			b.embedDim = e
		}
	} else if embed != nil {
		return nil, fmt.Errorf("flows: embedding without a context: %w", ErrConfig)
	}
	return b, nil
}

func (b *builder) add(t Transform) { b.ts = append(b.ts, t) }

func (b *builder) flow() (*Flow, error) {
	return NewFlow(Compose(b.ts...), b.dim, b.opt)
}

// checkTrainingData validates x (and c, if non-nil): at least one row, the
// same number of rows, finite values, at least one column.
func checkTrainingData(x, c *mat.Dense) error {
	if x == nil || x.IsEmpty() {
		return fmt.Errorf("flows: no data: %w", ErrData)
	}
	n, d := x.Dims()
	if d < 1 || d > maxDim {
		return fmt.Errorf("flows: data with %d columns: %w", d, ErrData)
	}
	if err := checkFinite("x", x); err != nil {
		return err
	}
	if c != nil {
		if c.IsEmpty() {
			return fmt.Errorf("flows: empty context matrix: %w", ErrData)
		}
		nc, dc := c.Dims()
		if nc != n {
			return fmt.Errorf("flows: %d rows of x but %d rows of context: %w", n, nc, ErrData)
		}
		if dc > maxDim {
			return fmt.Errorf("flows: context with %d columns: %w", dc, ErrData)
		}
		if err := checkFinite("context", c); err != nil {
			return err
		}
	}
	return nil
}

func checkFinite(what string, m *mat.Dense) error {
	r, _ := m.Dims()
	for i := 0; i < r; i++ {
		for j, v := range m.RawRowView(i) {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("flows: %s row %d column %d is %v: %w", what, i, j, v, ErrData)
			}
		}
	}
	return nil
}
