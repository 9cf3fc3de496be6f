package vi

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gosbi/gosbi/dist"
	"github.com/gosbi/gosbi/nn"
	"gonum.org/v1/gonum/mat"
)

// newRand returns a PCG generator with a fixed seed.
func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15)) }

// fill returns a slice of n copies of v.
func fill(n int, v float64) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = v
	}
	return s
}

// correlatedNormal returns N(μ, Σ) in d dimensions with μ_i = i/2 - 1,
// Σ_ii = 1 + i/5 and Σ_ij = ρ·√(Σ_ii Σ_jj): equicorrelated with
// correlation ρ and unequal scales.
func correlatedNormal(t *testing.T, d int, rho float64) (*dist.Normal, []float64, *mat.SymDense) {
	t.Helper()
	mu := make([]float64, d)
	cov := mat.NewSymDense(d, nil)
	for i := range d {
		mu[i] = float64(i)/2 - 1
		for j := i; j < d; j++ {
			si, sj := math.Sqrt(1+float64(i)/5), math.Sqrt(1+float64(j)/5)
			v := rho * si * sj
			if i == j {
				v = si * si
			}
			cov.SetSym(i, j, v)
		}
	}
	p, err := dist.NewNormal(mu, cov)
	if err != nil {
		t.Fatal(err)
	}
	return p, mu, cov
}

// klNormal returns KL(N(m0, c0) ‖ N(m1, c1)) =
// ½[tr(Σ1⁻¹Σ0) + (μ1-μ0)ᵀΣ1⁻¹(μ1-μ0) - d + log det Σ1 - log det Σ0].
func klNormal(t *testing.T, m0 []float64, c0 *mat.SymDense, m1 []float64, c1 *mat.SymDense) float64 {
	t.Helper()
	d := len(m0)
	var ch0, ch1 mat.Cholesky
	if !ch0.Factorize(c0) || !ch1.Factorize(c1) {
		t.Fatal("covariance not positive definite")
	}
	var inv mat.SymDense
	if err := ch1.InverseTo(&inv); err != nil {
		t.Fatal(err)
	}
	var prod mat.Dense
	prod.Mul(&inv, c0)
	diff := mat.NewVecDense(d, nil)
	for i := range d {
		diff.SetVec(i, m1[i]-m0[i])
	}
	return 0.5 * (mat.Trace(&prod) + mat.Inner(diff, &inv, diff) - float64(d) + ch1.LogDet() - ch0.LogDet())
}

// bananaPotential is the banana (twisted Gaussian) density of Haario et al.
// (1999) in the form θ1 ~ N(0, 1), θ2 | θ1 ~ N(b(θ1² - 1), s²),
// unnormalised (its normalising constant is 2πs), written with nn ops.
func bananaPotential(t *testing.T, b, s float64) *Potential {
	t.Helper()
	p, err := NewPotential(2, func(tp *nn.Tape, th *nn.Tensor) *nn.Tensor {
		x1 := tp.SliceCols(th, 0, 1)
		x2 := tp.SliceCols(th, 1, 2)
		m := tp.Scale(tp.Shift(tp.Square(x1), -1), b)
		r := tp.Scale(tp.Sub(x2, m), 1/s)
		return tp.Scale(tp.Add(tp.Square(x1), tp.Square(r)), -0.5)
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// bimodalPotential is the normalised mixture ½N((-μ, 0), σ²I) + ½N((μ, 0), σ²I).
func bimodalPotential(t *testing.T, mu, sd float64) *Potential {
	t.Helper()
	p, err := NewPotential(2, func(tp *nn.Tape, th *nn.Tensor) *nn.Tensor {
		x1 := tp.SliceCols(th, 0, 1)
		r2 := tp.Square(tp.Scale(tp.SliceCols(th, 1, 2), 1/sd))
		a := tp.Add(tp.Square(tp.Scale(tp.Shift(x1, -mu), 1/sd)), r2)
		b := tp.Add(tp.Square(tp.Scale(tp.Shift(x1, mu), 1/sd)), r2)
		lse := tp.RowLogSumExp(tp.ConcatCols(tp.Scale(a, -0.5), tp.Scale(b, -0.5)))
		return tp.Shift(lse, -math.Log(2*2*math.Pi*sd*sd))
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// colStats returns the mean and standard deviation (1/n) of column j of x.
func colStats(x *mat.Dense, j int) (mean, std float64) {
	n, _ := x.Dims()
	for i := range n {
		mean += x.At(i, j)
	}
	mean /= float64(n)
	for i := range n {
		std += (x.At(i, j) - mean) * (x.At(i, j) - mean)
	}
	return mean, math.Sqrt(std / float64(n))
}
