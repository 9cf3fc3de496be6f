package mcmc

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"

	"github.com/gosbi/gosbi/dist"
)

// space maps between the original space of the target and the space the
// chains move in.
type space struct {
	target dist.LogProber  // the density the chains see
	b      *dist.Bijection // nil: chains move in the original space
}

// newSpace chooses the sampling space for a target of dimension dim.
func newSpace(target dist.LogProber, mode Space, dim int) (*space, error) {
	if mode == Original {
		return &space{target: target}, nil
	}
	bd, ok := target.(dist.Bounded)
	if !ok {
		if mode == Unconstrained {
			return nil, fmt.Errorf("%w: Space is Unconstrained but the target (%T) does not implement dist.Bounded", ErrInvalid, target)
		}
		return &space{target: target}, nil
	}
	lo, hi := bd.Bounds()
	if len(lo) != dim || len(hi) != dim {
		return nil, fmt.Errorf("%w: target bounds have length %d and %d, starting points %d", ErrInvalid, len(lo), len(hi), dim)
	}
	b, err := dist.NewBijection(lo, hi)
	if err != nil {
		return nil, fmt.Errorf("%w: target bounds: %w", ErrInvalid, err)
	}
	if b.IsIdentity() {
		return &space{target: target}, nil
	}
	return &space{target: dist.Unconstrained(target, b), b: b}, nil
}

// toSampling maps a starting point x of the original space to z.
func (s *space) toSampling(z, x []float64) error {
	if s.b == nil {
		copy(z, x)
		return nil
	}
	s.b.Inverse(z, x)
	for i, v := range z {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("%w: coordinate %d is on or outside the bounds of the support", ErrInitInf, i)
		}
	}
	return nil
}

// fromSampling maps draws in place back to the original space and turns the
// log densities in z into log densities of the target in x by removing the
// log-Jacobian.
func (s *space) fromSampling(samples *mat.Dense, lp []float64) error {
	if s.b == nil {
		return nil
	}
	for i := range lp {
		row := samples.RawRowView(i)
		ladj := s.b.Forward(row, row)
		lp[i] -= ladj
	}
	return nil
}
