package flows

import (
	"fmt"
	"math/rand/v2"

	"github.com/gosbi/gosbi/nn"
)

// transformSpec is the serialised description of a transform tree (see Save).
type transformSpec struct {
	Kind        string          `json:"kind"`
	Name        string          `json:"name,omitempty"`
	Features    int             `json:"features,omitempty"`
	Context     int             `json:"context,omitempty"`
	Hidden      int             `json:"hidden,omitempty"`
	Blocks      int             `json:"blocks,omitempty"`
	Activation  string          `json:"activation,omitempty"`
	Univariate  *univariateSpec `json:"univariate,omitempty"`
	Transformed []int           `json:"transformed,omitempty"`
	Perm        []int           `json:"perm,omitempty"`
	Children    []transformSpec `json:"children,omitempty"`
}

// specOf returns the description of t, of kind "custom" for transforms of
// other packages (which Save rejects).
func specOf(t Transform) transformSpec {
	if s, ok := t.(specer); ok {
		return s.spec()
	}
	return transformSpec{Kind: "custom"}
}

// checkSpecSaveable returns an error if the tree contains a custom transform.
func checkSpecSaveable(s transformSpec) error {
	if s.Kind == "custom" {
		return fmt.Errorf("flows: save: transform of a type outside package flows: %w", ErrConfig)
	}
	for _, c := range s.Children {
		if err := checkSpecSaveable(c); err != nil {
			return err
		}
	}
	return nil
}

// maxSpecDepth bounds the nesting of a loaded description.
const maxSpecDepth = 64

// specSize returns the number of parameter and buffer values the described
// transform holds, validating sizes first so that a corrupt description cannot
// make the loader allocate more than the file's data justifies.
func specSize(s transformSpec, depth int) (int64, error) {
	if depth > maxSpecDepth {
		return 0, fmt.Errorf("flows: transform description nested deeper than %d: %w", maxSpecDepth, ErrFormat)
	}
	bad := func(what string, v int, lo, hi int) error {
		if v < lo || v > hi {
			return fmt.Errorf("flows: %s transform with %s %d: %w", s.Kind, what, v, ErrFormat)
		}
		return nil
	}
	n := func(v int) int64 { return int64(v) }
	switch s.Kind {
	case "composed", "inverse":
		if s.Kind == "inverse" && len(s.Children) != 1 {
			return 0, fmt.Errorf("flows: inverse transform with %d children: %w", len(s.Children), ErrFormat)
		}
		var tot int64
		for _, c := range s.Children {
			k, err := specSize(c, depth+1)
			if err != nil {
				return 0, err
			}
			tot += k
		}
		return tot, nil
	case "permutation":
		if len(s.Perm) == 0 || checkPerm(s.Perm) != nil {
			return 0, fmt.Errorf("flows: invalid permutation %v: %w", s.Perm, ErrFormat)
		}
		return 0, nil
	case "standardize":
		if err := bad("features", s.Features, 1, maxDim); err != nil {
			return 0, err
		}
		return 2 * n(s.Features), nil
	case "lu":
		if err := bad("features", s.Features, 1, maxDim); err != nil {
			return 0, err
		}
		d := n(s.Features)
		return d*(d-1) + 2*d, nil
	case "autoregressive", "coupling":
		if err := bad("features", s.Features, 1, maxDim); err != nil {
			return 0, err
		}
		if err := bad("context", s.Context, 0, maxDim); err != nil {
			return 0, err
		}
		if err := bad("hidden", s.Hidden, 1, maxDim); err != nil {
			return 0, err
		}
		if s.Blocks == 0 || s.Blocks < -1 || s.Blocks > maxBlocks {
			return 0, fmt.Errorf("flows: %s transform with %d blocks: %w", s.Kind, s.Blocks, ErrFormat)
		}
		if s.Univariate == nil {
			return 0, fmt.Errorf("flows: %s transform without univariate map: %w", s.Kind, ErrFormat)
		}
		u, err := s.Univariate.build()
		if err != nil {
			return 0, fmt.Errorf("%w: %w", err, ErrFormat)
		}
		if _, err := nn.ParseActivation(s.Activation); err != nil {
			return 0, fmt.Errorf("flows: %s transform with activation %q: %w", s.Kind, s.Activation, ErrFormat)
		}
		blocks := n(max(s.Blocks, 0))
		d, c, h, m := n(s.Features), n(s.Context), n(s.Hidden), n(u.ParamsPerFeature())
		if s.Kind == "autoregressive" {
			tot := blocks*(h*h+h) + h*d*m + d*m
			if d > 1 {
				tot += d*h + h
			}
			if c > 0 {
				tot += c*h + h
			} else if d == 1 {
				tot += h
			}
			return tot, nil
		}
		nt := n(len(s.Transformed))
		if nt == 0 || nt > d {
			return 0, fmt.Errorf("flows: coupling with %d transformed of %d features: %w", nt, d, ErrFormat)
		}
		nid, out := d-nt, nt*m
		if nid == 0 && c == 0 {
			return out, nil
		}
		tot := h*out + out
		if nid > 0 {
			tot += nid*h + h
		}
		if c > 0 {
			tot += c * h
			if nid == 0 {
				tot += h
			}
		}
		blk := 2 * (h*h + h)
		if c > 0 {
			blk += c*h + h
		}
		return tot + blocks*blk, nil
	}
	return 0, fmt.Errorf("flows: unknown transform kind %q: %w", s.Kind, ErrFormat)
}

// buildTransform constructs the described transform with placeholder
// parameter values (the loader overwrites them). specSize must have
// accepted s.
func buildTransform(s transformSpec) (Transform, error) {
	rng := rand.New(rand.NewPCG(0, 0)) // values are overwritten on load
	switch s.Kind {
	case "composed":
		ts := make([]Transform, len(s.Children))
		for i, c := range s.Children {
			t, err := buildTransform(c)
			if err != nil {
				return nil, err
			}
			ts[i] = t
		}
		return Compose(ts...), nil
	case "inverse":
		t, err := buildTransform(s.Children[0])
		if err != nil {
			return nil, err
		}
		return Invert(t), nil
	case "permutation":
		t, err := NewPermutation(s.Perm)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", err, ErrFormat)
		}
		return t, nil
	case "standardize":
		ones := make([]float64, s.Features)
		for i := range ones {
			ones[i] = 1
		}
		return NewStandardize(s.Name, make([]float64, s.Features), ones)
	case "lu":
		return NewLULinear(s.Name, s.Features), nil
	case "autoregressive", "coupling":
		u, err := s.Univariate.build()
		if err != nil {
			return nil, err
		}
		act, err := nn.ParseActivation(s.Activation)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", err, ErrFormat)
		}
		var t Transform
		if s.Kind == "autoregressive" {
			t, err = NewAutoregressive(s.Name, AutoregressiveConfig{
				Features: s.Features, Context: s.Context, Hidden: s.Hidden, Blocks: s.Blocks,
				Activation: act, Univariate: u,
			}, rng)
		} else {
			t, err = NewCoupling(s.Name, CouplingConfig{
				Features: s.Features, Context: s.Context, Hidden: s.Hidden, Blocks: s.Blocks,
				Activation: act, Univariate: u, Transformed: s.Transformed,
			}, rng)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %w", err, ErrFormat)
		}
		return t, nil
	}
	return nil, fmt.Errorf("flows: unknown transform kind %q: %w", s.Kind, ErrFormat)
}
