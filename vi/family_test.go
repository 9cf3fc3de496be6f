package vi

import (
	"bytes"
	"errors"
	"math"
	"testing"

	"github.com/gosbi/gosbi/dist"
	"github.com/gosbi/gosbi/flows"
	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat/distuv"
)

// TestGaussianMoments checks that GaussianMoments reads the mean and
// covariance of the Gaussian family exactly: at construction, after a
// random change of the LU parameters (against the moments of 100,000 draws,
// whose standard errors are below 0.01), and after a save/load round trip.
func TestGaussianMoments(t *testing.T) {
	t.Parallel()
	mean, std := []float64{1, -2, 0.5}, []float64{0.5, 2, 1}
	q, err := NewGaussian(mean, std)
	if err != nil {
		t.Fatal(err)
	}
	m, c, ok := GaussianMoments(q)
	if !ok {
		t.Fatal("not recognised as Gaussian")
	}
	for i := range 3 {
		if math.Abs(m[i]-mean[i]) > 1e-12 || math.Abs(c.At(i, i)-std[i]*std[i]) > 1e-9 {
			t.Errorf("component %d: mean %g var %g, want %g and %g", i, m[i], c.At(i, i), mean[i], std[i]*std[i])
		}
	}
	rng := newRand(3)
	for _, p := range q.Params() {
		for i := range p.Data {
			p.Data[i] += 0.3 * rng.NormFloat64()
		}
	}
	m, c, _ = GaussianMoments(q)
	const n = 100_000
	x := mat.NewDense(n, 3, nil)
	q.SampleBatch(x, nil, rng)
	for i := range 3 {
		mi, _ := colStats(x, i)
		if math.Abs(mi-m[i]) > 5*math.Sqrt(c.At(i, i)/n) {
			t.Errorf("mean %d: draws %.4f, GaussianMoments %.4f", i, mi, m[i])
		}
		for j := range 3 {
			mj, _ := colStats(x, j)
			var cij float64
			for r := range n {
				cij += (x.At(r, i) - mi) * (x.At(r, j) - mj)
			}
			cij /= n
			// sd of a sample covariance ≤ √((σii σjj + σij²)/n).
			se := math.Sqrt((c.At(i, i)*c.At(j, j) + c.At(i, j)*c.At(i, j)) / n)
			if math.Abs(cij-c.At(i, j)) > 5*se {
				t.Errorf("cov(%d,%d): draws %.4f, GaussianMoments %.4f", i, j, cij, c.At(i, j))
			}
		}
	}
	var buf bytes.Buffer
	if err := flows.Save(&buf, q); err != nil {
		t.Fatal(err)
	}
	loaded, err := flows.Load(&buf)
	if err != nil {
		t.Fatal(err)
	}
	m2, c2, ok := GaussianMoments(loaded)
	if !ok || !mat.EqualApprox(c, c2, 1e-12) || math.Abs(m2[1]-m[1]) > 1e-12 {
		t.Errorf("after save/load: ok %v, mean %v, want %v", ok, m2, m)
	}
	maf, _ := flows.MAF{Transforms: 1, Hidden: 4}.Build(x, nil, rng)
	if _, _, ok := GaussianMoments(maf); ok {
		t.Error("a MAF recognised as Gaussian")
	}
	if _, _, ok := GaussianMoments(nil); ok {
		t.Error("nil recognised as Gaussian")
	}
}

func TestGaussianBuild(t *testing.T) {
	t.Parallel()
	x := mat.NewDense(4, 2, []float64{1, 5, 3, 5, 5, 5, 7, 5})
	q, err := Gaussian{}.Build(x, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	m, c, _ := GaussianMoments(q)
	// Column 0: mean 4, unbiased variance 20/3; column 1 is constant: variance 1.
	if math.Abs(m[0]-4) > 1e-12 || math.Abs(m[1]-5) > 1e-12 || math.Abs(c.At(0, 0)-20.0/3) > 1e-9 || math.Abs(c.At(1, 1)-1) > 1e-9 {
		t.Errorf("mean %v, variances %g %g; want [4 5], 20/3 and 1", m, c.At(0, 0), c.At(1, 1))
	}
	for _, tc := range []struct {
		name string
		x, c *mat.Dense
		want error
	}{
		{"context", x, x, ErrConfig},
		{"nil", nil, nil, flows.ErrData},
		{"one row", mat.NewDense(1, 2, nil), nil, flows.ErrData},
		{"NaN", mat.NewDense(2, 1, []float64{1, math.NaN()}), nil, flows.ErrData},
	} {
		if _, err := (Gaussian{}).Build(tc.x, tc.c, nil); !errors.Is(err, tc.want) {
			t.Errorf("%s: error %v, want %v", tc.name, err, tc.want)
		}
	}
	for _, tc := range []struct{ mean, std []float64 }{
		{nil, nil}, {[]float64{0}, []float64{1, 1}}, {[]float64{0}, []float64{0}}, {[]float64{math.Inf(1)}, []float64{1}},
	} {
		if _, err := NewGaussian(tc.mean, tc.std); !errors.Is(err, ErrConfig) {
			t.Errorf("NewGaussian(%v, %v): error %v, want ErrConfig", tc.mean, tc.std, err)
		}
	}
}

// TestNewQ checks that NewQ builds q in unconstrained coordinates from
// draws of the initial distribution: for Beta(2, 5) × LogNormal(0, 1), the
// Gaussian family's starting mean is the mean of the draws' logit and log,
// E logit(X) = ψ(2) - ψ(5) = -13/12 and E log Y = 0, within 4 standard
// errors (sd of logit X is √(ψ′(2) + ψ′(5)) = 0.93, so 0.03 with 1,000
// draws; sd 1 for log Y).
func TestNewQ(t *testing.T) {
	t.Parallel()
	init, err := dist.NewIndependent(distuv.Beta{Alpha: 2, Beta: 5}, distuv.LogNormal{Mu: 0, Sigma: 1})
	if err != nil {
		t.Fatal(err)
	}
	q, err := NewQ(Gaussian{}, init, dist.BijectionFor(init), 1000, newRand(4))
	if err != nil {
		t.Fatal(err)
	}
	m, _, _ := GaussianMoments(q)
	if math.Abs(m[0]+13.0/12) > 4*0.93/math.Sqrt(1000) || math.Abs(m[1]) > 4/math.Sqrt(1000) {
		t.Errorf("starting mean %v, want [-1.083 0]", m)
	}
	for _, name := range []string{"maf", "nsf", "gaussian", ""} {
		fam, err := FamilyByName(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := NewQ(fam, init, dist.BijectionFor(init), 200, newRand(5)); err != nil {
			t.Errorf("NewQ(%q): %v", name, err)
		}
	}
	if _, err := FamilyByName("realnvp"); !errors.Is(err, ErrConfig) {
		t.Errorf("FamilyByName(realnvp): %v, want ErrConfig", err)
	}
	b3, _ := dist.NewBijection([]float64{0, 0, 0}, []float64{1, 1, 1})
	for _, tc := range []struct {
		name string
		fam  Family
		init dist.Sampler
		b    *dist.Bijection
		n    int
	}{
		{"nil family", nil, init, nil, 10}, {"nil init", Gaussian{}, nil, nil, 10},
		{"one draw", Gaussian{}, init, nil, 1}, {"bijection", Gaussian{}, init, b3, 10},
	} {
		if _, err := NewQ(tc.fam, tc.init, tc.b, tc.n, newRand(1)); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: error %v, want ErrConfig", tc.name, err)
		}
	}
}

func TestParseObjective(t *testing.T) {
	t.Parallel()
	for o := ReverseKL; o <= Renyi; o++ {
		got, err := ParseObjective(o.String())
		if err != nil || got != o {
			t.Errorf("ParseObjective(%q) = %v, %v; want %v", o.String(), got, err, o)
		}
	}
	for name, want := range map[string]Objective{"rKL": ReverseKL, "IW": IWELBO, "fKL": ForwardKL, "alpha": Renyi} {
		if got, err := ParseObjective(name); err != nil || got != want {
			t.Errorf("ParseObjective(%q) = %v, %v; want %v", name, got, err, want)
		}
	}
	if _, err := ParseObjective("elbo"); !errors.Is(err, ErrConfig) {
		t.Errorf("ParseObjective(elbo): %v, want ErrConfig", err)
	}
	if s := Objective(9).String(); s != "Objective(9)" {
		t.Errorf("String of an unknown objective: %q", s)
	}
}
