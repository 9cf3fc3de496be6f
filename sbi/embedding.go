package sbi

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/gosbi/gosbi/nn"
	"gonum.org/v1/gonum/mat"
)

// Embedding configures a network that maps the data x to the features the
// density estimator conditions on. It is trained together with the flow.
// The implementations are MLPEmbedding and DeepSetsEmbedding; the set is
// closed so that trained posteriors can be saved and loaded.
type Embedding interface {
	// build returns the module for data with xDim columns whose training
	// rows are x, with parameters initialised from rng, and the description
	// stored in posterior files.
	build(x *mat.Dense, rng *rand.Rand) (nn.Module, *embeddingSpec, error)
}

// MLPEmbedding is a fully connected embedding net (sbi's FCEmbedding): an
// MLP from the (z-scored) x through Layers hidden layers of Hidden units to
// Out features, ReLU (or Activation) between layers and none after the last.
// The zero value means 2 hidden layers of 40 units and 20 outputs, ReLU, as
// sbi's FCEmbedding.
type MLPEmbedding struct {
	Hidden, Layers, Out int
	Activation          nn.Activation
}

// DeepSetsEmbedding is a permutation-invariant embedding for data made of
// Trials i.i.d. trials of TrialDim values each (x has Trials·TrialDim columns,
// trial j in columns j·TrialDim … (j+1)·TrialDim-1), after Zaheer et al.
// (2017, "Deep Sets") and sbi's PermutationInvariantEmbedding:
//
//	e(x) = ρ( pool_j φ(x_j) ),
//
// where φ is an MLP applied to every trial (TrialDim → Hidden → … → TrialOut,
// Layers hidden layers), pool is the mean over trials (the sum with Sum set)
// and ρ an MLP (TrialOut → Hidden → … → Out). Its output does not depend on
// the order of the trials.
//
// Each trial is z-scored with statistics pooled over all trials of the
// training rows (one mean and std per trial feature), so that the
// standardisation is itself permutation invariant; the flow's own
// per-column z-scoring of x is switched off when this embedding is used.
//
// The zero value of a field means its default: Hidden 40, Layers 2,
// TrialOut 20, Out 20, ReLU. TrialDim and Trials are required.
type DeepSetsEmbedding struct {
	TrialDim, Trials              int
	Hidden, Layers, TrialOut, Out int
	Sum                           bool
	Activation                    nn.Activation
}

// embeddingSpec is the description of an embedding stored in posterior
// files: the configuration with defaults filled in and fitted statistics.
type embeddingSpec struct {
	Kind       string    `json:"kind"` // "mlp" or "deepsets"
	In         int       `json:"in"`
	Hidden     int       `json:"hidden"`
	Layers     int       `json:"layers"`
	Out        int       `json:"out"`
	Activation string    `json:"activation"`
	TrialDim   int       `json:"trial_dim,omitempty"`
	Trials     int       `json:"trials,omitempty"`
	TrialOut   int       `json:"trial_out,omitempty"`
	Sum        bool      `json:"sum,omitempty"`
	Mean       []float64 `json:"mean,omitempty"`
	Std        []float64 `json:"std,omitempty"`
}

const maxEmbedSize = 1 << 16 // bound on widths read from files

func widths(in, hidden, layers, out int) []int {
	w := []int{in}
	for range layers {
		w = append(w, hidden)
	}
	return append(w, out)
}

func (e MLPEmbedding) withDefaults() MLPEmbedding {
	if e.Hidden == 0 {
		e.Hidden = 40
	}
	if e.Layers == 0 {
		e.Layers = 2
	}
	if e.Out == 0 {
		e.Out = 20
	}
	return e
}

func (e MLPEmbedding) build(x *mat.Dense, rng *rand.Rand) (nn.Module, *embeddingSpec, error) {
	e = e.withDefaults()
	_, in := x.Dims()
	sp := &embeddingSpec{Kind: "mlp", In: in, Hidden: e.Hidden, Layers: e.Layers, Out: e.Out, Activation: e.Activation.String()}
	if err := sp.check(); err != nil {
		return nil, nil, err
	}
	m, err := sp.module(rng)
	return m, sp, err
}

func (e DeepSetsEmbedding) withDefaults() DeepSetsEmbedding {
	if e.Hidden == 0 {
		e.Hidden = 40
	}
	if e.Layers == 0 {
		e.Layers = 2
	}
	if e.TrialOut == 0 {
		e.TrialOut = 20
	}
	if e.Out == 0 {
		e.Out = 20
	}
	return e
}

func (e DeepSetsEmbedding) build(x *mat.Dense, rng *rand.Rand) (nn.Module, *embeddingSpec, error) {
	e = e.withDefaults()
	n, in := x.Dims()
	if e.TrialDim < 1 || e.Trials < 1 || e.TrialDim*e.Trials != in {
		return nil, nil, fmt.Errorf("sbi: DeepSetsEmbedding with %d trials of %d values for data with %d columns: %w",
			e.Trials, e.TrialDim, in, ErrInput)
	}
	// Pooled z-scoring statistics: every trial of every row is a sample of
	// the trial distribution; unbiased std as sbi's z-scoring, 1 for a
	// constant feature.
	d := e.TrialDim
	mean := make([]float64, d)
	sq := make([]float64, d)
	m := float64(n * e.Trials)
	for i := range n {
		row := x.RawRowView(i)
		for j := range e.Trials {
			for k := range d {
				mean[k] += row[j*d+k]
			}
		}
	}
	for k := range mean {
		mean[k] /= m
	}
	for i := range n {
		row := x.RawRowView(i)
		for j := range e.Trials {
			for k := range d {
				v := row[j*d+k] - mean[k]
				sq[k] += v * v
			}
		}
	}
	std := make([]float64, d)
	for k := range std {
		std[k] = 1
		if m > 1 {
			if s := math.Sqrt(sq[k] / (m - 1)); s > 0 && !math.IsInf(s, 0) {
				std[k] = s
			}
		}
	}
	sp := &embeddingSpec{Kind: "deepsets", In: in, Hidden: e.Hidden, Layers: e.Layers, Out: e.Out,
		Activation: e.Activation.String(), TrialDim: d, Trials: e.Trials, TrialOut: e.TrialOut, Sum: e.Sum,
		Mean: mean, Std: std}
	if err := sp.check(); err != nil {
		return nil, nil, err
	}
	mod, err := sp.module(rng)
	return mod, sp, err
}

// check validates a description, from a configuration or a file.
func (sp *embeddingSpec) check() error {
	bad := func(what string, v int) error {
		return fmt.Errorf("sbi: embedding %s %d: %w", what, v, ErrInput)
	}
	for _, c := range []struct {
		what string
		v    int
	}{{"input size", sp.In}, {"hidden width", sp.Hidden}, {"output size", sp.Out}} {
		if c.v < 1 || c.v > maxEmbedSize {
			return bad(c.what, c.v)
		}
	}
	if sp.Layers < 0 || sp.Layers > 64 {
		return bad("hidden layers", sp.Layers)
	}
	if _, err := nn.ParseActivation(sp.Activation); err != nil {
		return fmt.Errorf("sbi: embedding activation %q: %w", sp.Activation, ErrInput)
	}
	switch sp.Kind {
	case "mlp":
		return nil
	case "deepsets":
		if sp.TrialDim < 1 || sp.Trials < 1 || sp.TrialDim > maxEmbedSize || sp.Trials > maxEmbedSize ||
			sp.TrialDim*sp.Trials != sp.In {
			return fmt.Errorf("sbi: DeepSets embedding with %d trials of %d values for %d inputs: %w",
				sp.Trials, sp.TrialDim, sp.In, ErrInput)
		}
		if sp.TrialOut < 1 || sp.TrialOut > maxEmbedSize {
			return bad("trial output size", sp.TrialOut)
		}
		if len(sp.Mean) != sp.TrialDim || len(sp.Std) != sp.TrialDim {
			return fmt.Errorf("sbi: DeepSets embedding statistics of lengths %d and %d for %d trial values: %w",
				len(sp.Mean), len(sp.Std), sp.TrialDim, ErrInput)
		}
		for k := range sp.Mean {
			if math.IsNaN(sp.Mean[k]) || math.IsInf(sp.Mean[k], 0) || !(sp.Std[k] > 0) || math.IsInf(sp.Std[k], 0) {
				return fmt.Errorf("sbi: DeepSets embedding statistics not finite and positive: %w", ErrInput)
			}
		}
		return nil
	}
	return fmt.Errorf("sbi: unknown embedding kind %q: %w", sp.Kind, ErrInput)
}

// module constructs the described network (parameters from rng).
func (sp *embeddingSpec) module(rng *rand.Rand) (nn.Module, error) {
	act, err := nn.ParseActivation(sp.Activation)
	if err != nil {
		return nil, fmt.Errorf("sbi: embedding activation %q: %w", sp.Activation, ErrInput)
	}
	switch sp.Kind {
	case "mlp":
		return nn.NewMLP("embed", widths(sp.In, sp.Hidden, sp.Layers, sp.Out), act, rng), nil
	case "deepsets":
		ds := &deepSets{
			trialDim: sp.TrialDim, trials: sp.Trials, sum: sp.Sum,
			phi:  nn.NewMLP("embed.phi", widths(sp.TrialDim, sp.Hidden, sp.Layers, sp.TrialOut), act, rng),
			rho:  nn.NewMLP("embed.rho", widths(sp.TrialOut, sp.Hidden, sp.Layers, sp.Out), act, rng),
			mean: nn.New(1, sp.In),
			std:  nn.New(1, sp.In),
		}
		for j := range sp.Trials {
			copy(ds.mean.Data[j*sp.TrialDim:], sp.Mean)
			copy(ds.std.Data[j*sp.TrialDim:], sp.Std)
		}
		return ds, nil
	}
	return nil, fmt.Errorf("sbi: unknown embedding kind %q: %w", sp.Kind, ErrInput)
}

func (sp *embeddingSpec) marshal() (json.RawMessage, error) { return json.Marshal(sp) }

// deepSets is the module of DeepSetsEmbedding.
type deepSets struct {
	trialDim, trials int
	sum              bool
	phi, rho         *nn.MLP
	mean, std        *nn.Tensor // 1×(trials·trialDim) constants: the pooled statistics tiled
}

// Forward maps x (N×trials·trialDim) to N×Out: z-score, φ on every trial,
// pool, ρ. There is no activation after φ's last layer: ρ's first layer
// follows the pooling, and a ReLU there lets units die for all trials.
func (m *deepSets) Forward(tp *nn.Tape, x *nn.Tensor) *nn.Tensor {
	if x.Cols != m.trials*m.trialDim {
		panic(fmt.Sprintf("sbi: DeepSets embedding: input has %d columns, want %d", x.Cols, m.trials*m.trialDim))
	}
	z := tp.Div(tp.Sub(x, m.mean), m.std)
	var acc *nn.Tensor
	for j := range m.trials {
		h := m.phi.Forward(tp, tp.SliceCols(z, j*m.trialDim, (j+1)*m.trialDim))
		if acc == nil {
			acc = h
		} else {
			acc = tp.Add(acc, h)
		}
	}
	if !m.sum {
		acc = tp.Scale(acc, 1/float64(m.trials))
	}
	return m.rho.Forward(tp, acc)
}

// Params returns φ's then ρ's parameters.
func (m *deepSets) Params() []*nn.Tensor {
	return append(m.phi.Params(), m.rho.Params()...)
}
