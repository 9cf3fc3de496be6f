package vi

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/gosbi/gosbi/dist"
	"github.com/gosbi/gosbi/flows"
	"gonum.org/v1/gonum/mat"
)

// Family builds a variational flow from initial draws x (one per row; c is
// nil for an unconditional flow, or one context per row): flows.MAF,
// flows.NSF and Gaussian implement it.
type Family interface {
	Build(x, c *mat.Dense, rng *rand.Rand) (*flows.Flow, error)
}

var (
	_ Family = flows.MAF{}
	_ Family = flows.NSF{}
	_ Family = Gaussian{}
)

// FamilyByName returns the family with sbi's name: "maf" (flows.MAF{}, the
// default, sbi's), "nsf" (flows.NSF{}) or "gaussian" (Gaussian{}, the
// fastest). The error wraps ErrConfig for other names.
func FamilyByName(name string) (Family, error) {
	switch name {
	case "maf", "":
		return flows.MAF{}, nil
	case "nsf":
		return flows.NSF{}, nil
	case "gaussian":
		return Gaussian{}, nil
	}
	return nil, fmt.Errorf("vi: unknown variational family %q (want maf, nsf or gaussian): %w", name, ErrConfig)
}

// NewQ builds an unconditional flow of the given family for Fit, in the
// unconstrained space of the bijection b (nil for the identity): it draws n
// points from init (typically the prior; zero n means 1,000), maps them to
// unconstrained coordinates z = T⁻¹(θ), drops those on a bound (z = ±Inf),
// and builds the family on them, which fits its standardisation so that q
// starts near init. Errors wrap ErrConfig for a nil family, init or rng or a
// negative n, and the family's errors are passed on.
func NewQ(family Family, init dist.Sampler, b *dist.Bijection, n int, rng *rand.Rand) (*flows.Flow, error) {
	if family == nil || init == nil || rng == nil {
		return nil, fmt.Errorf("vi: NewQ needs a family, an initial distribution and an rng: %w", ErrConfig)
	}
	if n == 0 {
		n = 1000
	}
	if n < 2 {
		return nil, fmt.Errorf("vi: NewQ with %d initial draws: %w", n, ErrConfig)
	}
	first := init.Sample(nil, rng)
	d := len(first)
	if b != nil && b.Dim() != d {
		return nil, fmt.Errorf("vi: bijection of dimension %d for draws of dimension %d: %w", b.Dim(), d, ErrConfig)
	}
	data := make([]float64, 0, n*d)
	row := first
	for i := range n {
		if i > 0 {
			row = init.Sample(row, rng)
		}
		z := append([]float64(nil), row...)
		if b != nil {
			b.Inverse(z, row)
		}
		ok := true
		for _, v := range z {
			ok = ok && finite(v)
		}
		if ok {
			data = append(data, z...)
		}
	}
	if len(data) < 2*d {
		return nil, fmt.Errorf("vi: fewer than 2 of %d initial draws are inside the support: %w", n, ErrConfig)
	}
	return family.Build(mat.NewDense(len(data)/d, d, data), nil, rng)
}

// Gaussian is the full-rank Gaussian variational family q = N(μ, Σ), the
// fastest choice when the target is close to Gaussian. It is a flow whose
// transform (data → noise) is a fixed z-scoring followed by flows.LULinear:
// z = W·((θ - m)/s) + b with W = L·U (Kingma & Dhariwal 2018), so that
// μ = m - s∘(W⁻¹b) and Σ = diag(s)·W⁻¹W⁻ᵀ·diag(s) range over all Gaussians
// (U's diagonal is at least 1e-3, which bounds the standard deviations by
// 1000·s). The flow is built from flows types only, so flows.Save and
// flows.Load store it. GaussianMoments recovers μ and Σ.
type Gaussian struct{}

// Build returns the Gaussian flow started at N(mean(x), diag(var(x))) of
// the rows of x (unbiased variances; a constant column gets variance 1).
// c must be nil: the family is unconditional. rng is not used. Errors wrap
// ErrConfig for a context and flows.ErrData for fewer than two rows or
// non-finite values.
func (Gaussian) Build(x, c *mat.Dense, _ *rand.Rand) (*flows.Flow, error) {
	if c != nil {
		return nil, fmt.Errorf("vi: the Gaussian family is unconditional: %w", ErrConfig)
	}
	if x == nil {
		return nil, fmt.Errorf("vi: Gaussian.Build: no data: %w", flows.ErrData)
	}
	n, d := x.Dims()
	if n < 2 {
		return nil, fmt.Errorf("vi: Gaussian.Build: %d rows, need 2: %w", n, flows.ErrData)
	}
	mean, std := make([]float64, d), make([]float64, d)
	for j := range d {
		var s float64
		for i := range n {
			v := x.At(i, j)
			if !finite(v) {
				return nil, fmt.Errorf("vi: Gaussian.Build: value %v at row %d, column %d: %w", v, i, j, flows.ErrData)
			}
			s += v
		}
		mean[j] = s / float64(n)
		var ss float64
		for i := range n {
			ss += (x.At(i, j) - mean[j]) * (x.At(i, j) - mean[j])
		}
		std[j] = math.Sqrt(ss / float64(n-1))
		if !(std[j] > 0) || !finite(std[j]) {
			std[j] = 1
		}
	}
	return NewGaussian(mean, std)
}

// NewGaussian returns the Gaussian flow started at N(mean, diag(std²)).
// The error wraps ErrConfig for empty or mismatched slices, a non-finite
// mean or a standard deviation that is not positive and finite.
func NewGaussian(mean, std []float64) (*flows.Flow, error) {
	d := len(mean)
	if d == 0 || len(std) != d {
		return nil, fmt.Errorf("vi: NewGaussian: %d means and %d standard deviations: %w", d, len(std), ErrConfig)
	}
	st, err := flows.NewStandardize("gauss.loc", mean, std)
	if err != nil {
		return nil, fmt.Errorf("vi: NewGaussian: %v: %w", err, ErrConfig)
	}
	f, err := flows.NewFlow(flows.Compose(st, flows.NewLULinear("gauss.lu", d)), d, flows.FlowOptions{})
	if err != nil {
		return nil, fmt.Errorf("vi: NewGaussian: %v: %w", err, ErrConfig)
	}
	return f, nil
}

// GaussianMoments returns the mean and covariance of a flow built by
// NewGaussian or Gaussian.Build (also after saving and loading it); ok is
// false for any other flow.
func GaussianMoments(q *flows.Flow) (mean []float64, cov *mat.SymDense, ok bool) {
	if q == nil || q.ContextDim() != 0 {
		return nil, nil, false
	}
	comp, isComp := q.Transform().(*flows.Composed)
	if !isComp {
		return nil, nil, false
	}
	ts := comp.Transforms()
	if len(ts) != 2 {
		return nil, nil, false
	}
	st, ok1 := ts[0].(*flows.Standardize)
	lu, ok2 := ts[1].(*flows.LULinear)
	if !ok1 || !ok2 {
		return nil, nil, false
	}
	d := q.Dim()
	m, s := st.Mean(), st.Std()
	ps := lu.Params()
	bias := ps[len(ps)-1].Data
	var w mat.Dense
	if err := w.Inverse(mat.NewDense(d, d, lu.Weight())); err != nil {
		return nil, nil, false
	}
	// u = W⁻¹(z - b) with z ~ N(0, I): E u = -W⁻¹b, Cov u = W⁻¹W⁻ᵀ.
	mean = make([]float64, d)
	for i := range d {
		var wb float64
		for j := range d {
			wb += w.At(i, j) * bias[j]
		}
		mean[i] = m[i] - s[i]*wb
	}
	cov = mat.NewSymDense(d, nil)
	for i := range d {
		for j := i; j < d; j++ {
			var c float64
			for k := range d {
				c += w.At(i, k) * w.At(j, k)
			}
			cov.SetSym(i, j, s[i]*s[j]*c)
		}
	}
	return mean, cov, true
}
