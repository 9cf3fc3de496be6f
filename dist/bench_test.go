package dist

import (
	"testing"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat/distuv"
)

// benchNormal returns a full-covariance normal of dimension d with
// Σ = A Aᵀ/d + I/2, A standard normal.
func benchNormal(b *testing.B, d int) *Normal {
	b.Helper()
	rng := newRNG(1)
	a := mat.NewDense(d, d, nil)
	for i := range d {
		for j := range d {
			a.Set(i, j, rng.NormFloat64())
		}
	}
	cov := mat.NewSymDense(d, nil)
	cov.SymOuterK(1/float64(d), a)
	for i := range d {
		cov.SetSym(i, i, cov.At(i, i)+0.5)
	}
	n, err := NewNormal(make([]float64, d), cov)
	if err != nil {
		b.Fatal(err)
	}
	return n
}

func benchLogProb(b *testing.B, d Distribution) {
	b.ReportAllocs()
	x := d.Sample(nil, newRNG(2))
	for b.Loop() {
		d.LogProb(x)
	}
}

func benchLogProbGrad(b *testing.B, d Distribution) {
	b.ReportAllocs()
	x := d.Sample(nil, newRNG(2))
	g := make([]float64, d.Dim())
	gr := d.(Gradienter)
	for b.Loop() {
		gr.LogProbGrad(g, x)
	}
}

func benchSampleBatch(b *testing.B, d Distribution, n int) {
	b.ReportAllocs()
	dst := mat.NewDense(n, d.Dim(), nil)
	rng := newRNG(3)
	bs := d.(BatchSampler)
	for b.Loop() {
		bs.SampleBatch(dst, rng)
	}
}

func benchIndependent(b *testing.B) *Independent {
	b.Helper()
	ind, err := NewIndependent(
		distuv.Gamma{Alpha: 2, Beta: 1}, distuv.Beta{Alpha: 2, Beta: 5},
		distuv.Normal{Mu: 0, Sigma: 1}, distuv.LogNormal{Mu: 0, Sigma: 0.5},
		distuv.Uniform{Min: -1, Max: 1},
	)
	if err != nil {
		b.Fatal(err)
	}
	return ind
}

func benchBox(b *testing.B, d int) *BoxUniform {
	b.Helper()
	lo, hi := make([]float64, d), make([]float64, d)
	for i := range hi {
		lo[i], hi[i] = -2, 2
	}
	u, err := NewBoxUniform(lo, hi)
	if err != nil {
		b.Fatal(err)
	}
	return u
}

func BenchmarkNormalLogProb10(b *testing.B)        { benchLogProb(b, benchNormal(b, 10)) }
func BenchmarkNormalLogProbGrad10(b *testing.B)    { benchLogProbGrad(b, benchNormal(b, 10)) }
func BenchmarkNormalLogProb100(b *testing.B)       { benchLogProb(b, benchNormal(b, 100)) }
func BenchmarkNormalSampleBatch10x1k(b *testing.B) { benchSampleBatch(b, benchNormal(b, 10), 1000) }
func BenchmarkBoxUniformLogProb10(b *testing.B)    { benchLogProb(b, benchBox(b, 10)) }
func BenchmarkBoxUniformSampleBatch10x1k(b *testing.B) {
	benchSampleBatch(b, benchBox(b, 10), 1000)
}
func BenchmarkIndependentLogProb5(b *testing.B)     { benchLogProb(b, benchIndependent(b)) }
func BenchmarkIndependentLogProbGrad5(b *testing.B) { benchLogProbGrad(b, benchIndependent(b)) }
func BenchmarkIndependentSampleBatch5x1k(b *testing.B) {
	benchSampleBatch(b, benchIndependent(b), 1000)
}

func BenchmarkUnconstrainedLogProbGrad5(b *testing.B) {
	b.ReportAllocs()
	ind := benchIndependent(b)
	u := Unconstrained(ind, nil).(Gradienter)
	z := []float64{0.1, -0.3, 0.5, 0.2, -0.7}
	g := make([]float64, 5)
	for b.Loop() {
		u.LogProbGrad(g, z)
	}
}

func BenchmarkBijectionForward5(b *testing.B) {
	b.ReportAllocs()
	bij := BijectionFor(benchIndependent(b))
	z := []float64{0.1, -0.3, 0.5, 0.2, -0.7}
	x := make([]float64, 5)
	for b.Loop() {
		bij.Forward(x, z)
	}
}
