package sbi

import (
	"fmt"
	"math/rand/v2"

	"github.com/gosbi/gosbi/dist"
	"github.com/gosbi/gosbi/flows"
	"gonum.org/v1/gonum/mat"
)

// sampleInto fills every row of dst with a draw from d, through
// dist.BatchSampler when d has it.
func sampleInto(d dist.Distribution, dst *mat.Dense, rng *rand.Rand) {
	if b, ok := d.(dist.BatchSampler); ok {
		b.SampleBatch(dst, rng)
		return
	}
	r, _ := dst.Dims()
	for i := range r {
		d.Sample(dst.RawRowView(i), rng)
	}
}

// setParts fills in s.Parts, the number of parts flows.Fit splits each
// batch into (see flows.Settings.Parts): for a loss that is a per-row mean
// reading only shared data (splittable: NPE's and NLE's maximum likelihood
// on data in memory) zero means flows.DefaultParts of the batch size; for
// the others (SNPE-C's atomic loss, NRE's contrastive losses, and losses
// reading a Source through its block cache) zero means 1, and more than 1
// is an error wrapping ErrInput, since their batch rows depend on each
// other or on state that is not safe for concurrent use.
func setParts(who string, s *TrainSettings, splittable bool) error {
	switch {
	case s.Parts > 1 && !splittable:
		return fmt.Errorf("sbi: %s.Train: %d parts per batch: this loss cannot be split (keep Parts at 0 or 1): %w", who, s.Parts, ErrInput)
	case s.Parts != 0:
		return nil
	case !splittable:
		s.Parts = 1
	default:
		bs := s.BatchSize
		if bs == 0 {
			bs = 200 // flows' default batch size
		}
		s.Parts = flows.DefaultParts(bs)
	}
	return nil
}
