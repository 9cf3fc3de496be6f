package plots

import (
	"io"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/plot/vg"
)

// benchPair builds a d-dimensional pair plot of two sets of n samples and renders
// it as a 6-inch PNG.
func benchPair(b *testing.B, n, d int, lower LowerKind) {
	rng := rand.New(rand.NewPCG(1, 1))
	sets := []SampleSet{
		{Name: "a", Samples: gaussSamples(rng, n, d, 0, 0.5)},
		{Name: "b", Samples: gaussSamples(rng, n, d, 0.2, 0.5)},
	}
	b.ReportAllocs()
	for b.Loop() {
		f, err := NewPair(&PairConfig{Lower: lower}, sets...)
		if err != nil {
			b.Fatal(err)
		}
		w, err := f.WriterTo(6*vg.Inch, 6*vg.Inch, "png")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := w.WriteTo(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPair4D10kContour(b *testing.B)  { benchPair(b, 10000, 4, LowerContour) }
func BenchmarkPair4D10kHist2D(b *testing.B)   { benchPair(b, 10000, 4, LowerHist2D) }
func BenchmarkPair10D10kContour(b *testing.B) { benchPair(b, 10000, 10, LowerContour) }

// benchBand computes the ECDF band of n continuous values at k points.
func benchBand(b *testing.B, n, k, sims int) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := SimultaneousBand(n, k, 0, 0.95, sims, rand.New(rand.NewPCG(1, 1))); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSimultaneousBand1000x200(b *testing.B)  { benchBand(b, 1000, 200, 1000) }
func BenchmarkSimultaneousBand10000x200(b *testing.B) { benchBand(b, 10000, 200, 1000) }
