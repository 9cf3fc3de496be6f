package flows

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/gosbi/gosbi/nn"
)

// File format. A saved flow is one nn parameter file (see nn.Save: magic
// "GOSBI-NN", version, JSON header, little-endian float64 data, CRC-32C)
// whose metadata holds
//
//	"gosbi.flow":         the JSON description below
//	"gosbi.flow.version": "1"
//
// and whose tensors are every parameter of the transform (by its stable
// name), every fixed buffer (standardisation statistics, "NAME.mean" and
// "NAME.std"; the context's are "context.mean" and "context.std") and the
// embedding's parameters. The description is
//
//	{"dim": D, "context_dim": C, "context_zscore": bool,
//	 "embedding": EMB or null, "transform": T}
//
// where T describes the transform tree: {"kind": K, …} with K one of
// "composed" (children in forward order), "inverse" (one child),
// "permutation" (perm), "standardize" (name, features), "lu" (name,
// features), "autoregressive" and "coupling" (name, features, context,
// hidden, blocks (-1 for none), activation, univariate {"kind": "affine"} or
// {"kind": "spline", bins, tail_bound, logit_scale}, and for coupling the
// transformed features). EMB describes an embedding built from nn layers:
// {"kind": "linear", "weight": name, "bias": name or "", "in", "out"},
// {"kind": "mlp", "activation", "layers": [linear…]}, {"kind":
// "residual", "activation", "layers": [linear, linear]}, {"kind":
// "sequential", "children": [EMB…]}, or {"kind": "custom"} for any other
// module (load those with LoadWithEmbedding). Values round-trip exactly, so
// a loaded flow computes bit-identical log-probabilities.

const (
	metaKey     = "gosbi.flow"
	metaVersion = "gosbi.flow.version"
	// FormatVersion is the version of the saved-flow description written by Save.
	FormatVersion = 1
)

type flowSpec struct {
	Dim           int           `json:"dim"`
	ContextDim    int           `json:"context_dim"`
	ContextZScore bool          `json:"context_zscore"`
	Embedding     *embedSpec    `json:"embedding"`
	Transform     transformSpec `json:"transform"`
}

type embedSpec struct {
	Kind       string      `json:"kind"`
	Activation string      `json:"activation,omitempty"`
	Weight     string      `json:"weight,omitempty"`
	Bias       string      `json:"bias,omitempty"`
	In         int         `json:"in,omitempty"`
	Out        int         `json:"out,omitempty"`
	Layers     []embedSpec `json:"layers,omitempty"`
	Children   []embedSpec `json:"children,omitempty"`
}

// Save writes f (architecture, standardisation and weights) to w in the
// format above. The error wraps ErrConfig if the transform contains types
// from outside this package or names are not unique, or is a write error.
func Save(w io.Writer, f *Flow) error {
	sp := flowSpec{Dim: f.dim, ContextDim: f.ctxDim, ContextZScore: f.ctxNorm != nil, Transform: specOf(f.t)}
	if err := checkSpecSaveable(sp.Transform); err != nil {
		return err
	}
	if f.embed != nil {
		e := embedSpecOf(f.embed)
		sp.Embedding = &e
	}
	js, err := json.Marshal(sp)
	if err != nil {
		return fmt.Errorf("flows: save: encoding description: %w", err)
	}
	ts := f.tensors()
	if err := nn.SaveMeta(w, ts, map[string]string{metaKey: string(js), metaVersion: fmt.Sprint(FormatVersion)}); err != nil {
		if errors.Is(err, nn.ErrName) {
			return fmt.Errorf("flows: save: %w: %w", err, ErrConfig)
		}
		return fmt.Errorf("flows: save: %w", err)
	}
	return nil
}

// tensors returns every tensor Save stores: parameters and buffers.
func (f *Flow) tensors() []*nn.Tensor {
	ts := f.t.Params()
	if b, ok := f.t.(bufferer); ok {
		ts = append(ts, b.buffers()...)
	}
	if f.ctxNorm != nil {
		ts = append(ts, f.ctxNorm.buffers()...)
	}
	if f.embed != nil {
		ts = append(ts, f.embed.Params()...)
	}
	return ts
}

func embedSpecOf(m nn.Module) embedSpec {
	linear := func(l *nn.Linear) embedSpec {
		s := embedSpec{Kind: "linear", Weight: l.W.Name, In: l.W.Cols, Out: l.W.Rows}
		if l.B != nil {
			s.Bias = l.B.Name
		}
		return s
	}
	switch m := m.(type) {
	case *nn.Linear:
		return linear(m)
	case *nn.MLP:
		s := embedSpec{Kind: "mlp", Activation: m.Act.String()}
		for _, l := range m.Layers {
			s.Layers = append(s.Layers, linear(l))
		}
		return s
	case *nn.Residual:
		return embedSpec{Kind: "residual", Activation: m.Act.String(), Layers: []embedSpec{linear(m.L1), linear(m.L2)}}
	case nn.Sequential:
		s := embedSpec{Kind: "sequential"}
		for _, c := range m {
			s.Children = append(s.Children, embedSpecOf(c))
		}
		return s
	}
	return embedSpec{Kind: "custom"}
}

func (e embedSpec) custom() bool {
	if e.Kind == "custom" {
		return true
	}
	for _, c := range e.Children {
		if c.custom() {
			return true
		}
	}
	return false
}

// buildEmbedding constructs the described nn module with zero parameters,
// checking sizes against limit (the number of values in the file).
func (e embedSpec) build(limit int64, depth int) (nn.Module, int64, error) {
	if depth > maxSpecDepth {
		return nil, 0, fmt.Errorf("flows: embedding description nested too deeply: %w", ErrFormat)
	}
	linear := func(s embedSpec) (*nn.Linear, int64, error) {
		if s.Kind != "linear" || s.In < 1 || s.Out < 1 || s.In > maxDim || s.Out > maxDim || s.Weight == "" {
			return nil, 0, fmt.Errorf("flows: invalid linear layer in embedding description: %w", ErrFormat)
		}
		size := int64(s.In) * int64(s.Out)
		if s.Bias != "" {
			size += int64(s.Out)
		}
		if size > limit {
			return nil, 0, fmt.Errorf("flows: embedding layer larger than the file: %w", ErrFormat)
		}
		l := &nn.Linear{W: nn.NewParam(s.Weight, s.Out, s.In)}
		if s.Bias != "" {
			l.B = nn.NewParam(s.Bias, 1, s.Out)
		}
		return l, size, nil
	}
	act := func() (nn.Activation, error) {
		a, err := nn.ParseActivation(e.Activation)
		if err != nil {
			return 0, fmt.Errorf("flows: embedding activation %q: %w", e.Activation, ErrFormat)
		}
		return a, nil
	}
	switch e.Kind {
	case "linear":
		return linear(e)
	case "mlp", "residual":
		a, err := act()
		if err != nil {
			return nil, 0, err
		}
		if len(e.Layers) == 0 || (e.Kind == "residual" && len(e.Layers) != 2) {
			return nil, 0, fmt.Errorf("flows: %s embedding with %d layers: %w", e.Kind, len(e.Layers), ErrFormat)
		}
		var ls []*nn.Linear
		var tot int64
		for _, s := range e.Layers {
			l, k, err := linear(s)
			if err != nil {
				return nil, 0, err
			}
			if tot += k; tot > limit {
				return nil, 0, fmt.Errorf("flows: embedding larger than the file: %w", ErrFormat)
			}
			ls = append(ls, l)
		}
		if e.Kind == "residual" {
			return &nn.Residual{L1: ls[0], L2: ls[1], Act: a}, tot, nil
		}
		return &nn.MLP{Layers: ls, Act: a}, tot, nil
	case "sequential":
		var seq nn.Sequential
		var tot int64
		for _, c := range e.Children {
			m, k, err := c.build(limit-tot, depth+1)
			if err != nil {
				return nil, 0, err
			}
			tot += k
			seq = append(seq, m)
		}
		return seq, tot, nil
	}
	return nil, 0, fmt.Errorf("flows: unknown embedding kind %q: %w", e.Kind, ErrFormat)
}

// Load reads a flow written by Save. Errors wrap ErrFormat (not a flow file,
// truncated or corrupt data, inconsistent description), ErrVersion (a newer
// format) or ErrEmbedding (a custom embedding: use LoadWithEmbedding); the
// underlying nn errors are wrapped too.
func Load(r io.Reader) (*Flow, error) { return load(r, nil) }

// LoadWithEmbedding reads a flow written by Save whose context embedding is
// a module of a custom type: embed must be a freshly constructed module of
// the same architecture (same parameter names and shapes), into which the
// saved weights are loaded. For flows without a custom embedding it behaves
// as Load and ignores embed.
func LoadWithEmbedding(r io.Reader, embed nn.Module) (*Flow, error) {
	if embed == nil {
		return nil, fmt.Errorf("flows: LoadWithEmbedding with a nil embedding: %w", ErrConfig)
	}
	return load(r, embed)
}

func load(r io.Reader, custom nn.Module) (f *Flow, err error) {
	ts, meta, err := nn.Read(r)
	if err != nil {
		if errors.Is(err, nn.ErrVersion) {
			return nil, fmt.Errorf("flows: load: %w: %w", err, ErrVersion)
		}
		return nil, fmt.Errorf("flows: load: %w: %w", err, ErrFormat)
	}
	js, ok := meta[metaKey]
	if !ok {
		return nil, fmt.Errorf("flows: load: parameter file without a flow description: %w", ErrFormat)
	}
	if v := meta[metaVersion]; v != fmt.Sprint(FormatVersion) {
		return nil, fmt.Errorf("flows: load: flow format version %q, want %d: %w", v, FormatVersion, ErrVersion)
	}
	var sp flowSpec
	dec := json.NewDecoder(strings.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sp); err != nil {
		return nil, fmt.Errorf("flows: load: flow description: %v: %w", err, ErrFormat)
	}
	var total int64
	for _, t := range ts {
		total += int64(len(t.Data))
	}
	size, err := specSize(sp.Transform, 0)
	if err != nil {
		return nil, fmt.Errorf("flows: load: %w", err)
	}
	if size > total {
		return nil, fmt.Errorf("flows: load: description needs %d values, file has %d: %w", size, total, ErrFormat)
	}
	if sp.Dim < 1 || sp.Dim > maxDim || sp.ContextDim < 0 || sp.ContextDim > maxDim {
		return nil, fmt.Errorf("flows: load: dimensions %d and %d: %w", sp.Dim, sp.ContextDim, ErrFormat)
	}
	// Constructors panic on inconsistent arguments that validation missed;
	// a corrupt file must give an error instead.
	defer func() {
		if p := recover(); p != nil {
			f, err = nil, fmt.Errorf("flows: load: inconsistent flow description: %v: %w", p, ErrFormat)
		}
	}()
	t, err := buildTransform(sp.Transform)
	if err != nil {
		return nil, fmt.Errorf("flows: load: %w", err)
	}
	opt := FlowOptions{ContextDim: sp.ContextDim}
	if sp.ContextZScore {
		opt.ContextMean = make([]float64, sp.ContextDim)
		opt.ContextStd = make([]float64, sp.ContextDim)
		for i := range opt.ContextStd {
			opt.ContextStd[i] = 1
		}
	}
	if sp.Embedding != nil {
		if sp.Embedding.custom() {
			if custom == nil {
				return nil, fmt.Errorf("flows: load: the flow has a custom context embedding: %w", ErrEmbedding)
			}
			opt.Embedding = custom
		} else {
			m, _, err := sp.Embedding.build(total-size, 0)
			if err != nil {
				return nil, fmt.Errorf("flows: load: %w", err)
			}
			opt.Embedding = m
		}
	}
	f, err = NewFlow(t, sp.Dim, opt)
	if err != nil {
		return nil, fmt.Errorf("flows: load: %w: %w", err, ErrFormat)
	}
	if err := f.checkTransformDims(); err != nil {
		return nil, fmt.Errorf("flows: load: %w", err)
	}
	// Copy the values by name; every destination must be filled exactly once.
	dst := f.tensors()
	byName := make(map[string]*nn.Tensor, len(dst))
	for _, t := range dst {
		if byName[t.Name] != nil {
			return nil, fmt.Errorf("flows: load: duplicate tensor name %q: %w", t.Name, ErrFormat)
		}
		byName[t.Name] = t
	}
	if len(ts) != len(dst) {
		return nil, fmt.Errorf("flows: load: file has %d tensors, flow needs %d: %w", len(ts), len(dst), ErrFormat)
	}
	for _, s := range ts {
		d := byName[s.Name]
		if d == nil {
			return nil, fmt.Errorf("flows: load: unexpected tensor %q: %w", s.Name, ErrFormat)
		}
		if d.Rows != s.Rows || d.Cols != s.Cols {
			return nil, fmt.Errorf("flows: load: tensor %q is %d×%d, want %d×%d: %w", s.Name, s.Rows, s.Cols, d.Rows, d.Cols, ErrFormat)
		}
		copy(d.Data, s.Data)
		delete(byName, s.Name)
	}
	// Derived quantities of the standardisations, then validate them.
	var fix func(t Transform) error
	fix = func(t Transform) error {
		switch t := t.(type) {
		case *Standardize:
			return t.reload()
		case *Composed:
			for _, c := range t.ts {
				if err := fix(c); err != nil {
					return err
				}
			}
		case *Inverted:
			return fix(t.t)
		}
		return nil
	}
	if err := fix(f.t); err != nil {
		return nil, fmt.Errorf("flows: load: %w", err)
	}
	if f.ctxNorm != nil {
		if err := f.ctxNorm.reload(); err != nil {
			return nil, fmt.Errorf("flows: load: %w", err)
		}
	}
	return f, nil
}

// reload validates loaded statistics and recomputes derived values.
func (t *Standardize) reload() error {
	if _, err := NewStandardize("check", t.mean.Data, t.std.Data); err != nil {
		return fmt.Errorf("%w: %w", err, ErrFormat)
	}
	t.refresh()
	return nil
}

// checkTransformDims evaluates the transform on one row of zeros to verify
// that the described pieces fit together (a corrupt description could
// otherwise panic later).
func (f *Flow) checkTransformDims() (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("flows: transform does not fit dimension %d and context %d: %v: %w", f.dim, f.embedDim, p, ErrFormat)
		}
	}()
	var ce *nn.Tensor
	if f.ctxDim > 0 {
		ce = nn.New(1, f.embedDim)
	}
	f.t.Forward(nil, nn.New(1, f.dim), ce)
	return nil
}
