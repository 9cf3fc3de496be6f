package dist

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat/distuv"
)

// wrapped hides the concrete distuv type so that NewIndependent takes its
// generic path (bounds from Quantile, inverse-CDF sampling, finite-difference
// gradient) while Mean and StdDev are still promoted.
type wrapped struct{ distuv.Gamma }

// bare has only the two methods of Univariate.
type bare struct{ g distuv.Gamma }

func (b bare) LogProb(x float64) float64  { return b.g.LogProb(x) }
func (b bare) Quantile(p float64) float64 { return b.g.Quantile(p) }

// fullCov is a positive definite 3×3 covariance (leading minors 2, 1.36, 0.414).
var fullCov = mat.NewSymDense(3, []float64{
	2, 0.8, -0.3,
	0.8, 1, 0.2,
	-0.3, 0.2, 0.5,
})

// mixComponents has one of every known distuv type plus the generic paths.
// Heavy-tailed parameters are chosen so that fourth moments exist (needed by
// the variance standard error in checkMoments): StudentsT Nu > 4,
// InverseGamma Alpha > 4, Pareto Alpha > 4, F D2 > 8.
func mixComponents() []Univariate {
	return []Univariate{
		distuv.Gamma{Alpha: 2.5, Beta: 1.5},
		distuv.Beta{Alpha: 2, Beta: 5},
		distuv.Uniform{Min: -1, Max: 3},
		&distuv.Normal{Mu: 1, Sigma: 2},
		distuv.LogNormal{Mu: 0.2, Sigma: 0.4},
		distuv.Exponential{Rate: 2},
		distuv.Weibull{K: 1.5, Lambda: 2},
		distuv.Laplace{Mu: 0.5, Scale: 1.2},
		distuv.Logistic{Mu: -1, S: 0.7},
		distuv.StudentsT{Mu: 0, Sigma: 1.5, Nu: 10},
		distuv.GumbelRight{Mu: 0.3, Beta: 1.1},
		distuv.InverseGamma{Alpha: 9, Beta: 3},
		distuv.ChiSquared{K: 4},
		distuv.Chi{K: 3},
		distuv.Pareto{Xm: 1.5, Alpha: 9},
		distuv.F{D1: 5, D2: 40},
		distuv.NewTriangle(0, 3, 1, nil),
		wrapped{distuv.Gamma{Alpha: 3, Beta: 2}},
	}
}

type priorCase struct {
	name string
	d    Distribution
}

// testPriors returns one value of every prior type, including both Normal
// constructors.
func testPriors(t *testing.T) []priorCase {
	t.Helper()
	must := func(d Distribution, err error) Distribution {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	return []priorCase{
		{"BoxUniform", must(NewBoxUniform([]float64{-1, 0, 2}, []float64{1, 0.5, 10}))},
		{"DiagNormal", must(NewDiagNormal([]float64{0, 1, -2}, []float64{1, 0.5, 3}))},
		{"FullNormal", must(NewNormal([]float64{1, -1, 0.5}, fullCov))},
		{"FullNormalDiagCov", must(NewNormal([]float64{1, -1}, mat.NewSymDense(2, []float64{4, 0, 0, 0.25})))},
		{"LogNormal", must(NewLogNormal([]float64{0.2, -1, 1}, []float64{0.5, 0.3, 1}))},
		{"Independent", must(NewIndependent(mixComponents()...))},
	}
}

func TestConstructorErrors(t *testing.T) {
	t.Parallel()
	nan, inf := math.NaN(), math.Inf(1)
	notPD := mat.NewSymDense(2, []float64{1, 2, 2, 1})
	semiPD := mat.NewSymDense(2, []float64{1, 1, 1, 1})
	ok2 := mat.NewSymDense(2, []float64{1, 0, 0, 1})
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"BoxUniform/ok", second(NewBoxUniform([]float64{0}, []float64{1})), nil},
		{"BoxUniform/empty", second(NewBoxUniform(nil, nil)), ErrDim},
		{"BoxUniform/lengths", second(NewBoxUniform([]float64{0, 0}, []float64{1})), ErrDim},
		{"BoxUniform/lo=hi", second(NewBoxUniform([]float64{1}, []float64{1})), ErrParam},
		{"BoxUniform/lo>hi", second(NewBoxUniform([]float64{0, 2}, []float64{1, 1})), ErrParam},
		{"BoxUniform/NaN", second(NewBoxUniform([]float64{nan}, []float64{1})), ErrParam},
		{"BoxUniform/Inf", second(NewBoxUniform([]float64{0}, []float64{inf})), ErrParam},
		{"BoxUniform/width overflow", second(NewBoxUniform([]float64{-math.MaxFloat64}, []float64{math.MaxFloat64})), ErrParam},

		{"Normal/ok", second(NewNormal([]float64{0, 0}, ok2)), nil},
		{"Normal/empty", second(NewNormal(nil, ok2)), ErrDim},
		{"Normal/nil cov", second(NewNormal([]float64{0}, nil)), ErrParam},
		{"Normal/dim", second(NewNormal([]float64{0, 0, 0}, ok2)), ErrDim},
		{"Normal/not PD", second(NewNormal([]float64{0, 0}, notPD)), ErrParam},
		{"Normal/singular", second(NewNormal([]float64{0, 0}, semiPD)), ErrParam},
		{"Normal/negative var", second(NewNormal([]float64{0}, mat.NewSymDense(1, []float64{-1}))), ErrParam},
		{"Normal/NaN mu", second(NewNormal([]float64{nan, 0}, ok2)), ErrParam},
		{"Normal/Inf cov", second(NewNormal([]float64{0, 0}, mat.NewSymDense(2, []float64{inf, 0, 0, 1}))), ErrParam},
		{"Normal/NaN cov", second(NewNormal([]float64{0, 0}, mat.NewSymDense(2, []float64{1, nan, nan, 1}))), ErrParam},

		{"DiagNormal/ok", second(NewDiagNormal([]float64{0}, []float64{1})), nil},
		{"DiagNormal/empty", second(NewDiagNormal(nil, nil)), ErrDim},
		{"DiagNormal/lengths", second(NewDiagNormal([]float64{0}, []float64{1, 1})), ErrDim},
		{"DiagNormal/zero std", second(NewDiagNormal([]float64{0}, []float64{0})), ErrParam},
		{"DiagNormal/negative std", second(NewDiagNormal([]float64{0}, []float64{-1})), ErrParam},
		{"DiagNormal/Inf std", second(NewDiagNormal([]float64{0}, []float64{inf})), ErrParam},
		{"DiagNormal/NaN mu", second(NewDiagNormal([]float64{nan}, []float64{1})), ErrParam},
		{"DiagNormal/variance underflow", second(NewDiagNormal([]float64{0}, []float64{1e-200})), ErrParam},

		{"LogNormal/ok", second(NewLogNormal([]float64{0}, []float64{1})), nil},
		{"LogNormal/empty", second(NewLogNormal(nil, nil)), ErrDim},
		{"LogNormal/lengths", second(NewLogNormal([]float64{0, 1}, []float64{1})), ErrDim},
		{"LogNormal/zero sigma", second(NewLogNormal([]float64{0}, []float64{0})), ErrParam},
		{"LogNormal/NaN sigma", second(NewLogNormal([]float64{0}, []float64{nan})), ErrParam},
		{"LogNormal/Inf mu", second(NewLogNormal([]float64{-inf}, []float64{1})), ErrParam},

		{"Independent/ok", second(NewIndependent(mixComponents()...)), nil},
		{"Independent/empty", second(NewIndependent()), ErrDim},
		{"Independent/nil", second(NewIndependent(distuv.UnitNormal, nil)), ErrParam},
		{"Independent/nil pointer", second(NewIndependent((*distuv.Gamma)(nil))), ErrParam},
		{"Independent/Bernoulli", second(NewIndependent(distuv.Bernoulli{P: 0.5})), ErrParam},
		{"Independent/Uniform lo=hi", second(NewIndependent(distuv.Uniform{Min: 1, Max: 1})), ErrParam},
		{"Independent/Uniform Inf", second(NewIndependent(distuv.Uniform{Min: 0, Max: inf})), ErrParam},
		{"Independent/Normal sigma 0", second(NewIndependent(distuv.Normal{Mu: 0, Sigma: 0})), ErrParam},
		{"Independent/Normal mu NaN", second(NewIndependent(distuv.Normal{Mu: nan, Sigma: 1})), ErrParam},
		{"Independent/LogNormal sigma<0", second(NewIndependent(distuv.LogNormal{Mu: 0, Sigma: -1})), ErrParam},
		{"Independent/Exponential rate 0", second(NewIndependent(distuv.Exponential{Rate: 0})), ErrParam},
		{"Independent/Gamma alpha<0", second(NewIndependent(distuv.Gamma{Alpha: -1, Beta: 1})), ErrParam},
		{"Independent/Gamma beta Inf", second(NewIndependent(distuv.Gamma{Alpha: 1, Beta: inf})), ErrParam},
		{"Independent/Beta alpha NaN", second(NewIndependent(distuv.Beta{Alpha: nan, Beta: 1})), ErrParam},
		{"Independent/Weibull K 0", second(NewIndependent(distuv.Weibull{K: 0, Lambda: 1})), ErrParam},
		{"Independent/Laplace scale 0", second(NewIndependent(distuv.Laplace{Mu: 0, Scale: 0})), ErrParam},
		{"Independent/Logistic S<0", second(NewIndependent(distuv.Logistic{Mu: 0, S: -1})), ErrParam},
		{"Independent/StudentsT nu 0", second(NewIndependent(distuv.StudentsT{Mu: 0, Sigma: 1, Nu: 0})), ErrParam},
		{"Independent/Gumbel beta 0", second(NewIndependent(distuv.GumbelRight{Mu: 0, Beta: 0})), ErrParam},
		{"Independent/InverseGamma 0", second(NewIndependent(distuv.InverseGamma{Alpha: 0, Beta: 1})), ErrParam},
		{"Independent/ChiSquared 0", second(NewIndependent(distuv.ChiSquared{K: 0})), ErrParam},
		{"Independent/Chi NaN", second(NewIndependent(distuv.Chi{K: nan})), ErrParam},
		{"Independent/Pareto xm 0", second(NewIndependent(distuv.Pareto{Xm: 0, Alpha: 1})), ErrParam},
		{"Independent/F d1 0", second(NewIndependent(distuv.F{D1: 0, D2: 1})), ErrParam},
		{"Independent/generic empty support", second(NewIndependent(pointMass{})), ErrParam},
	}
	for _, tt := range tests {
		if tt.want == nil {
			if tt.err != nil {
				t.Errorf("%s: got error %v, want nil", tt.name, tt.err)
			}
			continue
		}
		if !errors.Is(tt.err, tt.want) {
			t.Errorf("%s: got error %v, want %v", tt.name, tt.err, tt.want)
		}
	}
}

// pointMass has Quantile(p) = 0 for all p: an empty support.
type pointMass struct{}

func (pointMass) LogProb(x float64) float64 { return 0 }
func (pointMass) Quantile(float64) float64  { return 0 }

func second[T any](_ T, err error) error { return err }

// checkMoments compares column means and variances of x with mean and std.
// The tolerance is 5 standard errors: SE(mean) = σ/√n and SE(variance) =
// √((μ4 - σ⁴)/n) with μ4 the sample fourth central moment, so a correct
// sampler fails one check with probability ≈ 6e-7 (two-sided normal tail).
// NaN entries of mean or std are skipped.
func checkMoments(t *testing.T, name string, x *mat.Dense, mean, std []float64) {
	t.Helper()
	n, d := x.Dims()
	fn := float64(n)
	for j := range d {
		m := 0.0
		for i := range n {
			m += x.At(i, j)
		}
		m /= fn
		v, m4 := 0.0, 0.0
		for i := range n {
			r := x.At(i, j) - m
			v += r * r
			m4 += r * r * r * r
		}
		v /= fn - 1
		m4 /= fn
		if !math.IsNaN(mean[j]) && !math.IsNaN(std[j]) {
			if se := std[j] / math.Sqrt(fn); math.Abs(m-mean[j]) > 5*se {
				t.Errorf("%s: dim %d: got sample mean %.5g, want %.5g ± %.3g (5 SE)", name, j, m, mean[j], 5*se)
			}
		}
		if !math.IsNaN(std[j]) {
			want := std[j] * std[j]
			if se := math.Sqrt((m4 - v*v) / fn); math.Abs(v-want) > 5*se {
				t.Errorf("%s: dim %d: got sample variance %.5g, want %.5g ± %.3g (5 SE)", name, j, v, want, 5*se)
			}
		}
	}
}

func TestMoments(t *testing.T) {
	t.Parallel()
	const n = 20000
	for i, pc := range testPriors(t) {
		x := SampleN(pc.d, n, newRNG(uint64(100+i)))
		mean := pc.d.(Meaner).Mean(nil)
		std := pc.d.(Stder).Std(nil)
		checkMoments(t, pc.name, x, mean, std)
		// Every sample lies in the support.
		lo, hi := pc.d.(Bounded).Bounds()
		for r := range n {
			for j, v := range x.RawRowView(r) {
				if !(v >= lo[j] && v <= hi[j]) {
					t.Fatalf("%s: sample %d dim %d = %v outside [%v, %v]", pc.name, r, j, v, lo[j], hi[j])
				}
			}
		}
	}
}

func TestIndependentMeanStdNaN(t *testing.T) {
	t.Parallel()
	ind, err := NewIndependent(bare{distuv.Gamma{Alpha: 2, Beta: 1}}, distuv.UnitNormal)
	if err != nil {
		t.Fatal(err)
	}
	m, s := ind.Mean(nil), ind.Std(nil)
	if !math.IsNaN(m[0]) || !math.IsNaN(s[0]) || m[1] != 0 || s[1] != 1 {
		t.Errorf("got mean %v std %v, want [NaN 0] [NaN 1]", m, s)
	}
	// The bare Gamma is still sampled correctly by inverse CDF.
	const n = 20000
	x := SampleN(ind, n, newRNG(7))
	checkMoments(t, "bare gamma", x, []float64{2, 0}, []float64{math.Sqrt2, 1})
	lo, hi := ind.Bounds()
	if lo[0] != 0 || !math.IsInf(hi[0], 1) || !math.IsInf(lo[1], -1) || !math.IsInf(hi[1], 1) {
		t.Errorf("got bounds %v %v, want [0 -Inf] [+Inf +Inf]", lo, hi)
	}
}

func TestFullNormalCovariance(t *testing.T) {
	t.Parallel()
	const n = 20000
	nd, err := NewNormal([]float64{1, -1, 0.5}, fullCov)
	if err != nil {
		t.Fatal(err)
	}
	x := SampleN(nd, n, newRNG(11))
	var got mat.SymDense
	statCov(&got, x)
	// For Gaussian data Var(Σ̂_ij) ≈ (Σ_ii Σ_jj + Σ_ij²)/n; allow 5 standard errors.
	for i := range 3 {
		for j := range 3 {
			s := fullCov.At(i, j)
			se := math.Sqrt((fullCov.At(i, i)*fullCov.At(j, j) + s*s) / n)
			if math.Abs(got.At(i, j)-s) > 5*se {
				t.Errorf("cov[%d][%d]: got %.4f, want %.4f ± %.4f (5 SE)", i, j, got.At(i, j), s, 5*se)
			}
		}
	}
	c := nd.CovarianceMatrix(nil)
	if !mat.Equal(c, fullCov) {
		t.Errorf("CovarianceMatrix: got %v, want %v", mat.Formatted(c), mat.Formatted(fullCov))
	}
	var empty mat.SymDense
	if !mat.Equal(nd.CovarianceMatrix(&empty), fullCov) {
		t.Errorf("CovarianceMatrix into empty dst differs")
	}
	mustPanic(t, "CovarianceMatrix wrong size", func() { nd.CovarianceMatrix(mat.NewSymDense(2, nil)) })
}

// statCov writes the unbiased sample covariance of the rows of x into dst.
func statCov(dst *mat.SymDense, x *mat.Dense) {
	n, d := x.Dims()
	dst.ReuseAsSym(d)
	mean := make([]float64, d)
	for i := range n {
		for j, v := range x.RawRowView(i) {
			mean[j] += v / float64(n)
		}
	}
	for a := range d {
		for b := a; b < d; b++ {
			s := 0.0
			for i := range n {
				s += (x.At(i, a) - mean[a]) * (x.At(i, b) - mean[b])
			}
			dst.SetSym(a, b, s/float64(n-1))
		}
	}
}

// distmvGolden holds gonum distmv.Normal{mu: [1 -1 0.5], Σ: fullCov}.LogProb
// values. They were generated with gonum v0.17.0 in a scratch module because
// importing stat/distmv here would pull golang.org/x/tools into go.mod.
var distmvGolden = []struct {
	x    []float64
	want float64
}{
	{[]float64{0, 0, 0}, -6.8207018649100029},
	{[]float64{1, -1, 0.5}, -2.3158709470356071},
	{[]float64{2.5, 0.3, -1.2}, -8.5865231209486534},
	{[]float64{-3, 4, 2}, -46.337610077470401},
	{[]float64{10, -7, 3}, -205.33519461853317},
	{[]float64{0.1, 0.2, 0.3}, -6.1851946185331927},
}

// refNormalLogProb is an independent reference for the multivariate normal log
// density through an LU decomposition (not Cholesky):
// -d/2 log 2π - ½ log det Σ - ½ (x-μ)ᵀ Σ⁻¹ (x-μ).
func refNormalLogProb(mu []float64, cov mat.Symmetric, x []float64) float64 {
	d := len(mu)
	var lu mat.LU
	lu.Factorize(cov)
	logDet, sign := lu.LogDet()
	if sign <= 0 {
		panic("refNormalLogProb: covariance is not positive definite")
	}
	r := mat.NewVecDense(d, nil)
	for i := range d {
		r.SetVec(i, x[i]-mu[i])
	}
	var sol mat.VecDense
	if err := lu.SolveVecTo(&sol, false, r); err != nil {
		panic(err)
	}
	return -float64(d)/2*math.Log(2*math.Pi) - logDet/2 - mat.Dot(r, &sol)/2
}

func TestNormalMatchesDistmv(t *testing.T) {
	t.Parallel()
	mu := []float64{1, -1, 0.5}
	ours, err := NewNormal(mu, fullCov)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range distmvGolden {
		if got := ours.LogProb(g.x); !closeTo(got, g.want, 1e-13) {
			t.Errorf("LogProb(%v): got %.17g, want %.17g (distmv)", g.x, got, g.want)
		}
	}
	diagStd := []float64{0.5, 3}
	diag, err := NewDiagNormal([]float64{0, 2}, diagStd)
	if err != nil {
		t.Fatal(err)
	}
	diagCov := mat.NewSymDense(2, []float64{0.25, 0, 0, 9})
	rng := newRNG(3)
	for range 50 {
		x := []float64{4 * rng.NormFloat64(), 4 * rng.NormFloat64(), 4 * rng.NormFloat64()}
		if got, want := ours.LogProb(x), refNormalLogProb(mu, fullCov, x); !closeTo(got, want, 1e-12) {
			t.Errorf("LogProb(%v): got %.15g, want %.15g", x, got, want)
		}
		if got, want := diag.LogProb(x[:2]), refNormalLogProb([]float64{0, 2}, diagCov, x[:2]); !closeTo(got, want, 1e-12) {
			t.Errorf("diag LogProb(%v): got %.15g, want %.15g", x[:2], got, want)
		}
	}
}

// TestNormalLargeDim exercises the pooled scratch path (d > stackDim).
func TestNormalLargeDim(t *testing.T) {
	t.Parallel()
	const d = stackDim + 6
	rng := newRNG(5)
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
	mu := make([]float64, d)
	ours, err := NewNormal(mu, cov)
	if err != nil {
		t.Fatal(err)
	}
	x := ours.Sample(nil, rng)
	want := refNormalLogProb(mu, cov, x)
	if got := ours.LogProb(x); !closeTo(got, want, 1e-10) {
		t.Errorf("LogProb: got %.15g, want %.15g", got, want)
	}
	grad := make([]float64, d)
	if got := ours.LogProbGrad(grad, x); !closeTo(got, want, 1e-10) {
		t.Errorf("LogProbGrad value: got %.15g, want %.15g", got, want)
	}
	for _, i := range []int{0, d / 2, d - 1} {
		fd := centralDiff(ours.LogProb, x, i, 1e-5)
		if !closeTo(grad[i], fd, 1e-6) {
			t.Errorf("grad[%d]: got %.10g, want %.10g (finite difference)", i, grad[i], fd)
		}
	}
}

// TestIntegratesToOne integrates the density of each one-dimensional prior by
// composite Gauss-Legendre quadrature. Panel edges sit at the quantiles
// 10^-13, 10^-12.75, …, 10^-2.25 (and the mirrored upper ones) and at k/100,
// so every panel holds a known probability mass and the tails are resolved.
// The omitted tail mass is 2e-13 and the quadrature error far smaller, so the
// total must be 1 and each panel's integral must equal the difference of its
// edge probabilities, both within 1e-9. The per-panel check compares the
// density with the quantile function and catches a wrong location or scale.
func TestIntegratesToOne(t *testing.T) {
	t.Parallel()
	type oneD struct {
		name string
		d    LogProber
		q    func(float64) float64 // quantile function placing the panels
	}
	var cases []oneD
	must := func(d LogProber, err error) LogProber {
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	cases = append(cases,
		oneD{"BoxUniform", must(NewBoxUniform([]float64{-1}, []float64{2})), distuv.Uniform{Min: -1, Max: 2}.Quantile},
		oneD{"DiagNormal", must(NewDiagNormal([]float64{1}, []float64{0.3})), distuv.Normal{Mu: 1, Sigma: 0.3}.Quantile},
		oneD{"Normal", must(NewNormal([]float64{-2}, mat.NewSymDense(1, []float64{4}))), distuv.Normal{Mu: -2, Sigma: 2}.Quantile},
		oneD{"LogNormal", must(NewLogNormal([]float64{0.5}, []float64{0.7})), distuv.LogNormal{Mu: 0.5, Sigma: 0.7}.Quantile},
	)
	for _, u := range mixComponents() {
		ind := must(NewIndependent(u))
		cases = append(cases, oneD{"Independent/" + typeName(u), ind, u.Quantile})
	}
	var probs []float64
	for k := 52; k > 8; k-- {
		probs = append(probs, math.Pow(10, -float64(k)/4))
	}
	for k := 1; k < 100; k++ {
		probs = append(probs, float64(k)/100)
	}
	for k := 9; k <= 52; k++ {
		probs = append(probs, 1-math.Pow(10, -float64(k)/4))
	}
	for _, c := range cases {
		probs := probs
		if strings.HasSuffix(c.name, "Triangle") {
			// Add an edge at the kink of Triangle(0, 3, 1): CDF(1) = 1/3.
			probs = append(append(append([]float64(nil), probs[:len(probs)/2]...), 1.0/3), probs[len(probs)/2:]...)
			slices.Sort(probs)
		}
		f := func(x float64) float64 { return math.Exp(c.d.LogProb([]float64{x})) }
		total := 0.0
		for k := 0; k+1 < len(probs); k++ {
			a, b := c.q(probs[k]), c.q(probs[k+1])
			got := integrateEdges(f, []float64{a, b})
			total += got
			if want := probs[k+1] - probs[k]; math.Abs(got-want) > 1e-9 {
				t.Errorf("%s: ∫p over [%.6g, %.6g]: got %.12f, want %.12f", c.name, a, b, got, want)
				break
			}
		}
		if math.Abs(total-(probs[len(probs)-1]-probs[0])) > 1e-9 {
			t.Errorf("%s: got ∫p = %.12f, want 1", c.name, total)
		}
	}
}

func typeName(u Univariate) string { return fmt.Sprintf("%T", u) }

// TestGradients checks LogProbGrad against central finite differences with
// step h = 1e-6·max(1, |x|): truncation error O(h²) and rounding error
// O(ε/h) ≈ 1e-10 are both far below the 1e-5 relative tolerance. Points come
// from the prior itself, moved for Independent into the central 5%-95% of each
// marginal so that x ± h stays inside the support.
func TestGradients(t *testing.T) {
	t.Parallel()
	for i, pc := range testPriors(t) {
		g := pc.d.(Gradienter)
		rng := newRNG(uint64(200 + i))
		d := pc.d.Dim()
		for range 20 {
			x := pc.d.Sample(nil, rng)
			if ind, ok := pc.d.(*Independent); ok {
				for j := range x {
					x[j] = ind.Component(j).Quantile(0.05 + 0.9*rng.Float64())
				}
			}
			grad := make([]float64, d)
			lp := g.LogProbGrad(grad, x)
			if want := pc.d.LogProb(x); lp != want {
				t.Errorf("%s: LogProbGrad returned %v, LogProb %v", pc.name, lp, want)
			}
			for j := range d {
				h := 1e-6 * math.Max(1, math.Abs(x[j]))
				fd := centralDiff(pc.d.LogProb, x, j, h)
				if !closeTo(grad[j], fd, 1e-5) {
					t.Errorf("%s: x = %v: grad[%d] = %.10g, want %.10g (finite difference)", pc.name, x, j, grad[j], fd)
				}
			}
		}
	}
}

// TestOutsideSupport checks -Inf outside and finite values on closed bounds.
func TestOutsideSupport(t *testing.T) {
	t.Parallel()
	box, _ := NewBoxUniform([]float64{0, -1}, []float64{1, 1})
	ln, _ := NewLogNormal([]float64{0}, []float64{1})
	ind, _ := NewIndependent(distuv.Beta{Alpha: 2, Beta: 2}, distuv.Gamma{Alpha: 2, Beta: 1})
	ninf := math.Inf(-1)
	tests := []struct {
		name string
		d    LogProber
		x    []float64
		want float64
	}{
		{"box inside", box, []float64{0.5, 0}, -math.Log(2)},
		{"box on lower corner", box, []float64{0, -1}, -math.Log(2)},
		{"box on upper corner", box, []float64{1, 1}, -math.Log(2)},
		{"box outside", box, []float64{1.0000001, 0}, ninf},
		{"box NaN", box, []float64{math.NaN(), 0}, ninf},
		{"lognormal zero", ln, []float64{0}, ninf},
		{"lognormal negative", ln, []float64{-1}, ninf},
		{"independent beta outside", ind, []float64{1.5, 1}, ninf},
		{"independent gamma negative", ind, []float64{0.5, -1}, ninf},
		{"independent NaN", ind, []float64{0.5, math.NaN()}, ninf},
		{"independent on bound", ind, []float64{0, 1}, ninf}, // Beta(2,2) density is 0 at 0
	}
	for _, tt := range tests {
		if got := tt.d.LogProb(tt.x); !closeTo(got, tt.want, 1e-14) && got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
		if g, ok := tt.d.(Gradienter); ok && math.IsInf(tt.want, -1) {
			grad := make([]float64, len(tt.x))
			if got := g.LogProbGrad(grad, tt.x); !math.IsInf(got, -1) {
				t.Errorf("%s: LogProbGrad: got %v, want -Inf", tt.name, got)
			}
		}
	}
}

// TestBatchAgrees checks that every batch method equals the point-wise one
// exactly, including the order of random draws.
func TestBatchAgrees(t *testing.T) {
	t.Parallel()
	const n = 50
	for i, pc := range testPriors(t) {
		d := pc.d.Dim()
		x := SampleN(pc.d, n, newRNG(uint64(300+i)))
		// SampleBatch draws in the same order as repeated Sample calls.
		rng := newRNG(uint64(300 + i))
		for r := range n {
			want := pc.d.Sample(nil, rng)
			if got := x.RawRowView(r); !equalSlices(got, want) {
				t.Fatalf("%s: SampleBatch row %d = %v, Sample = %v", pc.name, r, got, want)
			}
		}
		lps := pc.d.(BatchLogProber).LogProbBatch(nil, x)
		grad := mat.NewDense(n, d, nil)
		lpg := pc.d.(BatchGradienter).LogProbGradBatch(nil, grad, x)
		g1 := make([]float64, d)
		for r := range n {
			want := pc.d.LogProb(x.RawRowView(r))
			if lps[r] != want || lpg[r] != want {
				t.Errorf("%s: row %d: LogProbBatch %v, LogProbGradBatch %v, LogProb %v", pc.name, r, lps[r], lpg[r], want)
			}
			pc.d.(Gradienter).LogProbGrad(g1, x.RawRowView(r))
			if !equalSlices(grad.RawRowView(r), g1) {
				t.Errorf("%s: row %d: batch grad %v, point grad %v", pc.name, r, grad.RawRowView(r), g1)
			}
		}
	}
}

func equalSlices(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] && !(math.IsNaN(a[i]) && math.IsNaN(b[i])) {
			return false
		}
	}
	return true
}

func TestSameSeedSameSamples(t *testing.T) {
	t.Parallel()
	for _, pc := range testPriors(t) {
		a := SampleN(pc.d, 100, newRNG(42))
		b := SampleN(pc.d, 100, newRNG(42))
		c := SampleN(pc.d, 100, newRNG(43))
		if !mat.Equal(a, b) {
			t.Errorf("%s: same seed gave different samples", pc.name)
		}
		if mat.Equal(a, c) {
			t.Errorf("%s: different seeds gave the same samples", pc.name)
		}
	}
}

func TestShapePanics(t *testing.T) {
	t.Parallel()
	for _, pc := range testPriors(t) {
		d := pc.d.Dim()
		short := make([]float64, d-1)
		long := make([]float64, d+1)
		mustPanic(t, pc.name+" LogProb", func() { pc.d.LogProb(short) })
		mustPanic(t, pc.name+" Sample", func() { pc.d.Sample(long, newRNG(1)) })
		mustPanic(t, pc.name+" LogProbGrad", func() { pc.d.(Gradienter).LogProbGrad(short, make([]float64, d)) })
		mustPanic(t, pc.name+" SampleBatch", func() { pc.d.(BatchSampler).SampleBatch(mat.NewDense(2, d+1, nil), newRNG(1)) })
		mustPanic(t, pc.name+" LogProbBatch", func() { pc.d.(BatchLogProber).LogProbBatch(make([]float64, 3), mat.NewDense(2, d, nil)) })
		mustPanic(t, pc.name+" LogProbGradBatch", func() {
			pc.d.(BatchGradienter).LogProbGradBatch(nil, mat.NewDense(3, d, nil), mat.NewDense(2, d, nil))
		})
		mustPanic(t, pc.name+" Mean", func() { pc.d.(Meaner).Mean(short) })
		mustPanic(t, pc.name+" Std", func() { pc.d.(Stder).Std(long) })
	}
}

// TestNoAllocs checks that the point-wise hot paths do not allocate.
func TestNoAllocs(t *testing.T) {
	for _, pc := range testPriors(t) {
		d := pc.d.Dim()
		rng := newRNG(9)
		x := pc.d.Sample(nil, rng)
		grad := make([]float64, d)
		g := pc.d.(Gradienter)
		if a := testing.AllocsPerRun(100, func() { pc.d.LogProb(x) }); a != 0 {
			t.Errorf("%s: LogProb allocates %v times", pc.name, a)
		}
		if a := testing.AllocsPerRun(100, func() { g.LogProbGrad(grad, x) }); a != 0 {
			t.Errorf("%s: LogProbGrad allocates %v times", pc.name, a)
		}
		dst := make([]float64, d)
		if a := testing.AllocsPerRun(100, func() { pc.d.Sample(dst, rng) }); a != 0 {
			t.Errorf("%s: Sample allocates %v times", pc.name, a)
		}
	}
}

// pointOnly hides every optional capability of a Distribution.
type pointOnly struct{ d Distribution }

func (p pointOnly) Dim() int                                       { return p.d.Dim() }
func (p pointOnly) LogProb(x []float64) float64                    { return p.d.LogProb(x) }
func (p pointOnly) Sample(dst []float64, rng *rand.Rand) []float64 { return p.d.Sample(dst, rng) }

func TestSampleNLogProbs(t *testing.T) {
	t.Parallel()
	for _, pc := range testPriors(t) {
		a := SampleN(pc.d, 30, newRNG(8))
		b := SampleN(pointOnly{pc.d}, 30, newRNG(8))
		if !mat.Equal(a, b) {
			t.Errorf("%s: SampleN differs with and without BatchSampler", pc.name)
		}
		la := LogProbs(pc.d, a, nil)
		lb := LogProbs(pointOnly{pc.d}, a, make([]float64, 30))
		if !equalSlices(la, lb) {
			t.Errorf("%s: LogProbs differs with and without BatchLogProber", pc.name)
		}
	}
	box, _ := NewBoxUniform([]float64{0}, []float64{1})
	mustPanic(t, "SampleN n=0", func() { SampleN(box, 0, newRNG(1)) })
	mustPanic(t, "LogProbs dst", func() { LogProbs(pointOnly{box}, mat.NewDense(2, 1, nil), make([]float64, 1)) })
}

// TestIndependentSmallShapes covers gonum's other Gamma sampling branches
// (shape < 1 and shape < 0.2) and a U-shaped Beta, with the 5-SE moment
// check of checkMoments.
func TestIndependentSmallShapes(t *testing.T) {
	t.Parallel()
	ind, err := NewIndependent(
		distuv.Gamma{Alpha: 0.5, Beta: 1},
		distuv.Gamma{Alpha: 0.1, Beta: 2},
		distuv.Beta{Alpha: 0.5, Beta: 0.5},
	)
	if err != nil {
		t.Fatal(err)
	}
	const n = 20000
	x := SampleN(ind, n, newRNG(77))
	checkMoments(t, "small shapes", x, ind.Mean(nil), ind.Std(nil))
	if y := SampleN(ind, n, newRNG(77)); !mat.Equal(x, y) {
		t.Errorf("same seed gave different samples")
	}
}

func TestNormalInfinite(t *testing.T) {
	t.Parallel()
	nd, _ := NewNormal([]float64{0, 0, 0}, fullCov)
	inf := math.Inf(1)
	g := make([]float64, 3)
	for _, x := range [][]float64{{inf, inf, 0}, {-inf, inf, inf}, {0, 0, -inf}} {
		if got := nd.LogProb(x); !math.IsInf(got, -1) {
			t.Errorf("LogProb(%v): got %v, want -Inf", x, got)
		}
		if got := nd.LogProbGrad(g, x); !math.IsInf(got, -1) {
			t.Errorf("LogProbGrad(%v): got %v, want -Inf", x, got)
		}
	}
	if got := nd.LogProb([]float64{math.NaN(), 0, 0}); !math.IsNaN(got) {
		t.Errorf("LogProb(NaN): got %v, want NaN", got)
	}
}
