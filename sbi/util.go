package sbi

import (
	"math/rand/v2"

	"github.com/gosbi/gosbi/dist"
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
