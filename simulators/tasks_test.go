package simulators

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/gosbi/gosbi/dist"
	"github.com/gosbi/gosbi/simulators/ode"
	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat/distuv"
)

// taskDims are the dimensions TASKS.md gives for each task.
var taskDims = map[string][2]int{
	"gaussian_linear": {10, 10}, "gaussian_linear_uniform": {10, 10}, "slcp": {5, 8},
	"slcp_distractors": {5, 100}, "bernoulli_glm": {10, 10}, "bernoulli_glm_raw": {10, 100},
	"gaussian_mixture": {2, 2}, "two_moons": {2, 2}, "sir": {2, 10}, "lotka_volterra": {4, 20},
}

var (
	taskCacheMu sync.Mutex
	taskCache   = map[string]*Task{}
)

// mustTask returns the task called name, built once per test binary (tasks
// are immutable and safe for concurrent use; slcp_distractors takes a while
// to read its constants).
func mustTask(t testing.TB, name string) *Task {
	t.Helper()
	dir := ""
	if name == "slcp_distractors" {
		dir = sharedData(t)
	}
	taskCacheMu.Lock()
	defer taskCacheMu.Unlock()
	if task, ok := taskCache[name]; ok {
		return task
	}
	task, err := NewTask(name, dir)
	if err != nil {
		t.Fatalf("NewTask(%q): %v", name, err)
	}
	taskCache[name] = task
	return task
}

// testDistractors returns the constants of slcp_distractors, read once.
var testDistractors = sync.OnceValues(func() (*distractors, error) {
	return loadDistractors(filepath.Join("..", "..", "shared", "sbibm"))
})

func TestTaskRegistry(t *testing.T) {
	names := TaskNames()
	if len(names) != 10 {
		t.Fatalf("got %d tasks, want 10", len(names))
	}
	for _, name := range names {
		want, ok := taskDims[name]
		if !ok {
			t.Errorf("unexpected task %q", name)
			continue
		}
		task := mustTask(t, name)
		td, xd := task.Dims()
		if td != want[0] || xd != want[1] || task.Prior.Dim() != td || task.Name != name {
			t.Errorf("%s: got dims (%d, %d), prior %d, name %q; want %v", name, td, xd, task.Prior.Dim(), task.Name, want)
		}
		if len(task.ThetaNames) != td || len(task.XNames) != xd {
			t.Errorf("%s: got %d θ names and %d x names, want %d and %d", name, len(task.ThetaNames), len(task.XNames), td, xd)
		}
		if (task.Likelihood == nil) != (name == "bernoulli_glm" || name == "slcp_distractors") {
			t.Errorf("%s: likelihood present = %v", name, task.Likelihood != nil)
		}
		if (task.Posterior == nil) != (name != "gaussian_linear") {
			t.Errorf("%s: posterior present = %v", name, task.Posterior != nil)
		}
		// The simulator validates its input.
		if _, err := task.Simulator.Run(context.Background(), nil, make([]float64, td+1), rand.New(rand.NewPCG(1, 1))); !errors.Is(err, ErrShape) {
			t.Errorf("%s: θ of length %d: got %v, want ErrShape", name, td+1, err)
		}
		if _, err := task.Simulator.Run(context.Background(), make([]float64, xd+1), make([]float64, td), rand.New(rand.NewPCG(1, 1))); !errors.Is(err, ErrShape) {
			t.Errorf("%s: dst of length %d: got %v, want ErrShape", name, xd+1, err)
		}
	}
	if _, err := NewTask("three_moons", ""); !errors.Is(err, ErrUnknownTask) {
		t.Errorf("unknown task: got %v, want ErrUnknownTask", err)
	}
	if _, err := NewTask("slcp_distractors", ""); !errors.Is(err, ErrNoData) {
		t.Errorf("slcp_distractors without data: got %v, want ErrNoData", err)
	}
	if _, err := NewTask("slcp_distractors", t.TempDir()); !errors.Is(err, ErrNoData) {
		t.Errorf("slcp_distractors with an empty folder: got %v, want ErrNoData", err)
	}
}

// kurtosis values (non-excess) used for the standard error of the sample
// standard deviation, SE ≈ σ·√((κ-1)/(4N)).
const (
	kurtUniform = 1.8
	kurtNormal  = 3
)

func kurtLogNormal(s float64) float64 {
	s2 := s * s
	return math.Exp(4*s2) + 2*math.Exp(3*s2) + 3*math.Exp(2*s2) - 3
}

// TestPriorMoments checks mean and standard deviation of every prior,
// dimension by dimension, against the definitions in TASKS.md, and that all
// samples lie in the support. Tolerances are 5 standard errors of the
// estimates at N = 20,000 draws (a false alarm has probability < 1e-5 for
// each of the ~100 checks).
func TestPriorMoments(t *testing.T) {
	type moments struct{ mean, std, kurt float64 }
	uni := func(a, b float64) moments { return moments{(a + b) / 2, (b - a) / math.Sqrt(12), kurtUniform} }
	logn := func(mu, s float64) moments {
		m := math.Exp(mu + s*s/2)
		return moments{m, m * math.Sqrt(math.Exp(s*s)-1), kurtLogNormal(s)}
	}
	glmCov := glmCovarianceFromDefinition()
	glm := make([]moments, 10)
	for i := range glm {
		glm[i] = moments{0, math.Sqrt(glmCov.At(i, i)), kurtNormal}
	}
	rep := func(m moments, n int) []moments { return slices.Repeat([]moments{m}, n) }
	want := map[string][]moments{
		"gaussian_linear":         rep(moments{0, math.Sqrt(0.1), kurtNormal}, 10),
		"gaussian_linear_uniform": rep(uni(-1, 1), 10),
		"slcp":                    rep(uni(-3, 3), 5),
		"slcp_distractors":        rep(uni(-3, 3), 5),
		"bernoulli_glm":           glm,
		"bernoulli_glm_raw":       glm,
		"gaussian_mixture":        rep(uni(-10, 10), 2),
		"two_moons":               rep(uni(-1, 1), 2),
		"sir":                     {logn(math.Log(0.4), 0.5), logn(math.Log(0.125), 0.2)},
		"lotka_volterra":          {logn(-0.125, 0.5), logn(-3, 0.5), logn(-0.125, 0.5), logn(-3, 0.5)},
	}
	support := map[string][2]float64{
		"gaussian_linear_uniform": {-1, 1}, "slcp": {-3, 3}, "slcp_distractors": {-3, 3},
		"gaussian_mixture": {-10, 10}, "two_moons": {-1, 1}, "sir": {0, math.Inf(1)}, "lotka_volterra": {0, math.Inf(1)},
	}
	const n = 20_000
	for _, name := range TaskNames() {
		task := mustTask(t, name)
		s := dist.SampleN(task.Prior, n, rand.New(rand.NewPCG(10, 20)))
		for j, w := range want[name] {
			col := mat.Col(nil, j, s)
			var m, v float64
			for _, x := range col {
				m += x
			}
			m /= n
			for _, x := range col {
				v += (x - m) * (x - m)
			}
			sd := math.Sqrt(v / (n - 1))
			if tol := 5 * w.std / math.Sqrt(n); math.Abs(m-w.mean) > tol {
				t.Errorf("%s θ%d: got mean %.5g, want %.5g ± %.2g", name, j+1, m, w.mean, tol)
			}
			if tol := 5 * w.std * math.Sqrt((w.kurt-1)/(4*n)); math.Abs(sd-w.std) > tol {
				t.Errorf("%s θ%d: got std %.5g, want %.5g ± %.2g", name, j+1, sd, w.std, tol)
			}
			if b, ok := support[name]; ok {
				lo, hi := slices.Min(col), slices.Max(col)
				if lo < b[0] || hi > b[1] || (b[0] == 0 && lo == 0) {
					t.Errorf("%s θ%d: samples span [%g, %g], outside the support %v", name, j+1, lo, hi, b)
				}
			}
		}
		if b, ok := support[name]; ok {
			out := make([]float64, task.Prior.Dim())
			for i := range out {
				out[i] = (b[0] + math.Min(b[1], 100)) / 2
			}
			out[0] = b[0] - 0.5
			if lp := task.Prior.LogProb(out); !math.IsInf(lp, -1) {
				t.Errorf("%s: log prior outside the support = %v, want -Inf", name, lp)
			}
		}
	}
}

// glmCovarianceFromDefinition builds the Bernoulli GLM prior covariance
// B⁻¹ entry by entry from TASKS.md, independently of glmPriorCovariance.
func glmCovarianceFromDefinition() *mat.Dense {
	const m = 9
	f := mat.NewDense(m, m, nil)
	for i := range m {
		// (D·D)_ij: 1 on the diagonal, -2 on the first and 1 on the second
		// sub-diagonal; plus √(i/9) on the diagonal.
		f.Set(i, i, 1+math.Sqrt(float64(i)/m))
		if i >= 1 {
			f.Set(i, i-1, -2)
		}
		if i >= 2 {
			f.Set(i, i-2, 1)
		}
	}
	b := mat.NewDense(10, 10, nil)
	b.Set(0, 0, 0.5)
	for i := range m {
		for j := range m {
			var s float64
			for k := range m {
				s += f.At(k, i) * f.At(k, j)
			}
			b.Set(i+1, j+1, s)
		}
	}
	var inv mat.Dense
	if err := inv.Inverse(b); err != nil {
		panic(err)
	}
	return &inv
}

// TestBernoulliGLMPriorCovariance compares the full sample covariance of the
// prior with B⁻¹: 5 standard errors, SE(Ĉij) = √((Cii·Cjj + Cij²)/N) for a
// Gaussian.
func TestBernoulliGLMPriorCovariance(t *testing.T) {
	task := mustTask(t, "bernoulli_glm")
	want := glmCovarianceFromDefinition()
	const n = 20_000
	s := dist.SampleN(task.Prior, n, rand.New(rand.NewPCG(3, 4)))
	var got mat.SymDense
	statCov(&got, s)
	for i := range 10 {
		for j := range 10 {
			c := want.At(i, j)
			tol := 5 * math.Sqrt((want.At(i, i)*want.At(j, j)+c*c)/n)
			if math.Abs(got.At(i, j)-c) > tol {
				t.Errorf("cov[%d][%d]: got %.4g, want %.4g ± %.2g", i, j, got.At(i, j), c, tol)
			}
		}
	}
}

// statCov writes the sample covariance of the rows of x into dst.
func statCov(dst *mat.SymDense, x *mat.Dense) {
	n, d := x.Dims()
	mean := make([]float64, d)
	for i := range n {
		for j, v := range x.RawRowView(i) {
			mean[j] += v / float64(n)
		}
	}
	dst.ReuseAsSym(d)
	for a := range d {
		for b := a; b < d; b++ {
			var s float64
			for i := range n {
				s += (x.At(i, a) - mean[a]) * (x.At(i, b) - mean[b])
			}
			dst.SetSym(a, b, s/float64(n-1))
		}
	}
}

func simulateAtTheta(t testing.TB, sim Simulator, theta []float64, n int, seed uint64) *mat.Dense {
	t.Helper()
	th := mat.NewDense(n, len(theta), nil)
	for i := range n {
		th.SetRow(i, theta)
	}
	res, err := SimulateAt(context.Background(), sim, th, rand.New(rand.NewPCG(seed, 99)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Report.OK != n {
		t.Fatalf("simulating at %v: %v, errors %v", theta, res.Report, res.Report.Errors)
	}
	return res.Data.X
}

// TestGaussianLinearSimulator checks x | θ ~ N(θ, 0.1·I): means, variances
// and covariances of N = 20,000 simulations, each within 5 standard errors
// (SE of a mean √(0.1/N), of a variance 0.1·√(2/N), of a covariance 0.1/√N).
func TestGaussianLinearSimulator(t *testing.T) {
	task := mustTask(t, "gaussian_linear")
	theta := make([]float64, 10)
	for i := range theta {
		theta[i] = 0.1*float64(i) - 0.45
	}
	const n = 20_000
	x := simulateAtTheta(t, task.Simulator, theta, n, 1)
	var cov mat.SymDense
	statCov(&cov, x)
	for i := range 10 {
		col := mat.Col(nil, i, x)
		var m float64
		for _, v := range col {
			m += v / n
		}
		if tol := 5 * math.Sqrt(0.1/n); math.Abs(m-theta[i]) > tol {
			t.Errorf("mean of x%d: got %.5f, want %.5f ± %.4f", i+1, m, theta[i], tol)
		}
		for j := i; j < 10; j++ {
			want, tol := 0.0, 5*0.1/math.Sqrt(n)
			if i == j {
				want, tol = 0.1, 5*0.1*math.Sqrt(2.0/n)
			}
			if got := cov.At(i, j); math.Abs(got-want) > tol {
				t.Errorf("cov(x%d, x%d): got %.5f, want %.3f ± %.4f", i+1, j+1, got, want, tol)
			}
		}
	}
}

// TestTwoMoonsRadius inverts the two moons simulator: at any θ,
// u = x1 + |z0| - 0.25 and v = x2 - z1 are r·(cos a, sin a) with
// r ~ N(0.1, 0.01²) and a ~ U(-π/2, π/2). Checks: mean and std of r within
// 5 standard errors, and a Kolmogorov–Smirnov test of a against the uniform
// at level 0.001 (critical value 1.949/√N).
func TestTwoMoonsRadius(t *testing.T) {
	task := mustTask(t, "two_moons")
	const n = 20_000
	for _, theta := range [][]float64{{0, 0}, {0.3, -0.7}, {-0.8, -0.6}} {
		x := simulateAtTheta(t, task.Simulator, theta, n, 2)
		z0 := (theta[0] + theta[1]) / math.Sqrt2
		z1 := (-theta[0] + theta[1]) / math.Sqrt2
		r, a := make([]float64, n), make([]float64, n)
		for i := range n {
			u := x.At(i, 0) + math.Abs(z0) - 0.25
			v := x.At(i, 1) - z1
			r[i], a[i] = math.Hypot(u, v), math.Atan2(v, u)
		}
		var m, s float64
		for _, v := range r {
			m += v / n
		}
		for _, v := range r {
			s += (v - m) * (v - m)
		}
		s = math.Sqrt(s / (n - 1))
		if tol := 5 * 0.01 / math.Sqrt(n); math.Abs(m-0.1) > tol {
			t.Errorf("θ %v: mean radius %.6f, want 0.1 ± %.5f", theta, m, tol)
		}
		if tol := 5 * 0.01 / math.Sqrt(2*n); math.Abs(s-0.01) > tol {
			t.Errorf("θ %v: radius std %.6f, want 0.01 ± %.5f", theta, s, tol)
		}
		sort.Float64s(a)
		var d float64
		for i, v := range a {
			f := (v + math.Pi/2) / math.Pi
			d = math.Max(d, math.Max(math.Abs(float64(i+1)/n-f), math.Abs(f-float64(i)/n)))
		}
		if crit := 1.949 / math.Sqrt(n); d > crit {
			t.Errorf("θ %v: angle KS statistic %.4f > %.4f: not uniform on (-π/2, π/2)", theta, d, crit)
		}
	}
}

// TestGaussianMixtureSimulator checks the moments of x - θ, which TASKS.md
// fixes: one component per simulation, N(0, I) or N(0, 0.01·I) with
// probability ½, so E[(x-θ)ᵢ²] = ½(1 + 0.01) = 0.505 and, because both
// coordinates share the component, E[(x₁-θ₁)²(x₂-θ₂)²] = ½(1 + 1e-4) =
// 0.50005 (independent components would give 0.505² ≈ 0.255). Tolerances
// are 5 standard errors from the sample's own spread at N = 100,000.
func TestGaussianMixtureSimulator(t *testing.T) {
	task := mustTask(t, "gaussian_mixture")
	theta := []float64{2, -3}
	const n = 100_000
	x := simulateAtTheta(t, task.Simulator, theta, n, 5)
	sq := [3][]float64{make([]float64, n), make([]float64, n), make([]float64, n)}
	for i := range n {
		a, b := x.At(i, 0)-theta[0], x.At(i, 1)-theta[1]
		sq[0][i], sq[1][i], sq[2][i] = a*a, b*b, a*a*b*b
	}
	for k, want := range []float64{0.505, 0.505, 0.50005} {
		m, se := meanSE(sq[k])
		if math.Abs(m-want) > 5*se {
			t.Errorf("moment %d: got %.5f, want %.5f ± %.4f", k, m, want, 5*se)
		}
	}
}

// meanSE returns the mean of v and its standard error.
func meanSE(v []float64) (mean, se float64) {
	n := float64(len(v))
	for _, x := range v {
		mean += x / n
	}
	var ss float64
	for _, x := range v {
		ss += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(ss / (n - 1) / n)
}

// TestLikelihoodScore checks that each task's simulator and likelihood
// describe the same distribution, through the score identity
// E_{x ~ p(x|θ)}[∂ log p(x|θ)/∂θⱼ] = 0, which holds when the support of x
// does not move with θ (so not for two_moons, which has its own test). The
// derivative is a central difference with step 1e-4·max(1, |θⱼ|); the mean
// over M = 2,000 simulations must be within 5 standard errors of 0 (each of
// the ~50 checks fails by chance with probability 6e-7). A simulator that
// permutes, scales or shifts its output differently from the likelihood
// fails it.
func TestLikelihoodScore(t *testing.T) {
	dir := sharedData(t)
	for _, name := range TaskNames() {
		task := mustTask(t, name)
		if task.Likelihood == nil || name == "two_moons" {
			continue
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, theta, err := LoadObservation(dir, name, 1)
			if err != nil {
				t.Fatal(err)
			}
			const m = 2000
			x := simulateAtTheta(t, task.Simulator, theta, m, 77)
			for j := range theta {
				h := 1e-4 * math.Max(1, math.Abs(theta[j]))
				up := append([]float64(nil), theta...)
				dn := append([]float64(nil), theta...)
				up[j] += h
				dn[j] -= h
				lu, ld := task.Likelihood.Condition(up), task.Likelihood.Condition(dn)
				score := make([]float64, m)
				for i := range m {
					row := x.RawRowView(i)
					score[i] = (lu.LogProb(row) - ld.LogProb(row)) / (2 * h)
				}
				mean, se := meanSE(score)
				if math.IsNaN(mean) || math.Abs(mean) > 5*se {
					t.Errorf("θ%d: mean score %.4g, want 0 ± %.3g", j+1, mean, 5*se)
				}
			}
		})
	}
}

// TestLikelihoodNormalised integrates the two-dimensional likelihoods over
// a grid covering all but a negligible part of their mass (beyond 5
// standard deviations): midpoint rule, whose error for these smooth
// integrands is far below the 1e-3 tolerance. For two_moons the grid starts
// exactly at the edge u = 0 of the support, x1 = 0.25 - |z0|, so that the
// jump of the density there falls on a cell boundary.
func TestLikelihoodNormalised(t *testing.T) {
	edge := 0.25 - math.Abs(0.3+-0.2)/math.Sqrt2
	tests := []struct {
		task   string
		theta  []float64
		lo, hi [2]float64
		steps  int
	}{
		{"two_moons", []float64{0.3, -0.2}, [2]float64{edge, -0.55}, [2]float64{edge + 0.15, -0.15}, 600},
		{"gaussian_mixture", []float64{1, -2}, [2]float64{-7, -8}, [2]float64{7, 4}, 700},
	}
	for _, tc := range tests {
		l := mustTask(t, tc.task).Likelihood.Condition(tc.theta)
		hx := (tc.hi[0] - tc.lo[0]) / float64(tc.steps)
		hy := (tc.hi[1] - tc.lo[1]) / float64(tc.steps)
		var total float64
		for i := range tc.steps {
			for j := range tc.steps {
				x := []float64{tc.lo[0] + (float64(i)+0.5)*hx, tc.lo[1] + (float64(j)+0.5)*hy}
				total += math.Exp(l.LogProb(x)) * hx * hy
			}
		}
		if math.Abs(total-1) > 1e-3 {
			t.Errorf("%s: likelihood integrates to %.5f, want 1", tc.task, total)
		}
	}
}

// TestLikelihoodsAgainstGonum compares each task's log-likelihood at the
// stored observations with an independent evaluation through gonum's
// distributions (and, for the ODE tasks, an independent solve at a tighter
// tolerance).
func TestLikelihoodsAgainstGonum(t *testing.T) {
	dir := sharedData(t)
	for _, name := range []string{"gaussian_linear", "gaussian_mixture", "slcp", "bernoulli_glm_raw", "sir", "lotka_volterra"} {
		task := mustTask(t, name)
		for k := 1; k <= 2; k++ {
			x, th, err := LoadObservation(dir, name, k)
			if err != nil {
				t.Fatal(err)
			}
			got := task.Likelihood.Condition(th).LogProb(x)
			want := independentLogLik(t, name, th, x)
			if tol := 1e-6 * math.Max(1, math.Abs(want)); name == "sir" || name == "lotka_volterra" {
				// The tasks solve at tolerance 1e-8, the reference at 1e-12.
				if math.Abs(got-want) > 1e-4*math.Max(1, math.Abs(want)) {
					t.Errorf("%s obs %d: log-likelihood %.8g, want %.8g", name, k, got, want)
				}
			} else if math.Abs(got-want) > tol {
				t.Errorf("%s obs %d: log-likelihood %.10g, want %.10g", name, k, got, want)
			}
		}
	}
}

func independentLogLik(t *testing.T, name string, th, x []float64) float64 {
	t.Helper()
	normal := func(mu []float64, cov *mat.SymDense) *gaussLogPDF {
		g, ok := newGaussLogPDF(mu, cov)
		if !ok {
			t.Fatalf("%s: covariance not positive definite", name)
		}
		return g
	}
	slcpPairs := func(x []float64) float64 {
		s1, s2, rho := th[2]*th[2], th[3]*th[3], math.Tanh(th[4])
		cov := mat.NewSymDense(2, []float64{s1*s1 + 1e-6, rho * s1 * s2, rho * s1 * s2, s2*s2 + 1e-6})
		n := normal(th[:2], cov)
		var lp float64
		for j := range 4 {
			lp += n.LogProb(x[2*j : 2*j+2])
		}
		return lp
	}
	switch name {
	case "gaussian_linear":
		cov := mat.NewSymDense(10, nil)
		for i := range 10 {
			cov.SetSym(i, i, 0.1)
		}
		return normal(th, cov).LogProb(x)
	case "gaussian_mixture":
		a := normal(th, mat.NewSymDense(2, []float64{1, 0, 0, 1})).LogProb(x)
		b := normal(th, mat.NewSymDense(2, []float64{0.01, 0, 0, 0.01})).LogProb(x)
		return math.Log(0.5*math.Exp(a) + 0.5*math.Exp(b))
	case "slcp":
		return slcpPairs(x)
	case "bernoulli_glm_raw":
		design := glmDesignFromFile(t)
		var lp float64
		for i := range 100 {
			var psi float64
			for j := range 10 {
				psi += design.At(i, j) * th[j]
			}
			lp += distuv.Bernoulli{P: 1 / (1 + math.Exp(-psi))}.LogProb(x[i])
		}
		return lp
	case "sir":
		out := solveTight(t, 3, func(_ float64, y, dy []float64) { sirRHS(th[0], th[1], y, dy) }, []float64{sirN - 1, 1, 0}, sirTimes)
		var lp float64
		for k := range 10 {
			lp += distuv.Binomial{N: 1000, P: math.Max(0, out[3*k+1]/sirN)}.LogProb(x[k])
		}
		return lp
	case "lotka_volterra":
		th4 := [4]float64{th[0], th[1], th[2], th[3]}
		out := solveTight(t, 2, func(_ float64, y, dy []float64) { lvRHS(&th4, y, dy) }, []float64{30, 1}, lvTimes)
		var lp float64
		for k := range 10 {
			for s := range 2 {
				u := math.Min(1e4, math.Max(1e-10, out[2*k+s]))
				lp += distuv.LogNormal{Mu: math.Log(u), Sigma: 0.1}.LogProb(x[s*10+k])
			}
		}
		return lp
	}
	t.Fatalf("no independent likelihood for %s", name)
	return 0
}

func solveTight(t *testing.T, dim int, f ode.Func, y0, times []float64) []float64 {
	t.Helper()
	dp, err := ode.NewDormandPrince(dim, &ode.Settings{RelTol: 1e-12, AbsTol: 1e-12})
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float64, dim*len(times))
	if _, err := dp.Solve(f, 0, y0, times, out); err != nil {
		t.Fatal(err)
	}
	return out
}

func glmDesignFromFile(t testing.TB) *mat.Dense {
	t.Helper()
	m, _, err := ReadCSV(filepath.Join(sharedData(t), "bernoulli_glm", "design_matrix.csv"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestBernoulliGLMConstants checks the regenerated stimulus against
// stimulus.csv and the design matrix against design_matrix.csv, value for
// value (the files hold float32 values), and that the summary statistics
// Xᵀy of each stored raw observation equal the stored observation (to the
// 1e-4 of TASKS.md: float32 rounding of sums of up to 100 terms).
func TestBernoulliGLMConstants(t *testing.T) {
	dir := sharedData(t)
	stim, _, err := ReadCSV(filepath.Join(dir, "bernoulli_glm", "stimulus.csv"))
	if err != nil {
		t.Fatal(err)
	}
	mine := glmStimulus()
	for i := range 100 {
		if got, want := float32(mine[i]), float32(stim.At(i, 1)); got != want || stim.At(i, 0) != float64(i) {
			t.Errorf("stimulus[%d] = %v, want %v", i, got, want)
		}
	}
	file := glmDesignFromFile(t)
	design := glmDesign(mine)
	for i := range 100 {
		for j := range 10 {
			if got, want := float32(design[i*10+j]), float32(file.At(i, j)); got != want {
				t.Fatalf("design[%d][%d] = %v, want %v", i, j, got, want)
			}
		}
	}
	ks, err := ObservationNumbers(dir, "bernoulli_glm_raw")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range ks {
		raw, _, err := LoadObservation(dir, "bernoulli_glm_raw", k)
		if err != nil {
			t.Fatal(err)
		}
		sum, _, err := LoadObservation(dir, "bernoulli_glm", k)
		if err != nil {
			t.Fatal(err)
		}
		for j := range 10 {
			var s float64
			for i, y := range raw {
				s += design[i*10+j] * y
			}
			if math.Abs(s-sum[j]) > 1e-4 {
				t.Errorf("obs %d: (Xᵀy)[%d] = %.7g, stored summary %.7g", k, j, s, sum[j])
			}
		}
	}
}

// TestSLCPDistractorsPermutation checks the loaded permutation against the
// positions TASKS.md lists and that the 8 informative values of every
// stored distractor observation are the stored SLCP observation.
func TestSLCPDistractorsPermutation(t *testing.T) {
	dir := sharedData(t)
	d, err := testDistractors()
	if err != nil {
		t.Fatal(err)
	}
	pos := map[int]int{22: 0, 33: 1, 23: 2, 67: 3, 42: 4, 21: 5, 16: 6, 90: 7}
	for out, in := range pos {
		if d.perm[out] != in {
			t.Errorf("perm[%d] = %d, want %d", out, d.perm[out], in)
		}
	}
	ks, err := ObservationNumbers(dir, "slcp_distractors")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range ks {
		dis, disTheta, err := LoadObservation(dir, "slcp_distractors", k)
		if err != nil {
			t.Fatal(err)
		}
		plain, plainTheta, err := LoadObservation(dir, "slcp", k)
		if err != nil {
			t.Fatal(err)
		}
		for out, in := range pos {
			if dis[out] != plain[in] {
				t.Errorf("obs %d: x[%d] = %v, want slcp x[%d] = %v", k, out, dis[out], in, plain[in])
			}
		}
		if !slices.Equal(disTheta, plainTheta) {
			t.Errorf("obs %d: true parameters differ from slcp's", k)
		}
	}
	// The simulator draws the SLCP values first, so with the same stream
	// its informative outputs are exactly slcp's simulation.
	theta := []float64{0.5, -1, 1.2, -0.7, 0.3}
	xd, err := mustTask(t, "slcp_distractors").Simulator.Run(context.Background(), nil, theta, rand.New(rand.NewPCG(6, 6)))
	if err != nil {
		t.Fatal(err)
	}
	xs, err := mustTask(t, "slcp").Simulator.Run(context.Background(), nil, theta, rand.New(rand.NewPCG(6, 6)))
	if err != nil {
		t.Fatal(err)
	}
	for out, in := range pos {
		if xd[out] != xs[in] {
			t.Errorf("simulated x[%d] = %v, want slcp's x[%d] = %v", out, xd[out], in, xs[in])
		}
	}
}

// TestObservationsConsistent simulates each task at the true parameters of
// every stored observation and checks the stored observation is a plausible
// draw.
//
// With a likelihood: the rank of ℓ(x_obs) = log p(x_obs | θ*) among the
// log-likelihoods of M = 2,000 simulations. The test fails when ℓ(x_obs) is
// below all of them, which for a correct simulator has probability
// 1/(M+1) ≈ 5e-4 (ties only make it smaller), so the 45 observations raise
// a false alarm with probability below 2.3% (Bonferroni). An observation the
// simulator cannot produce (wrong noise, permutation or ODE) has ℓ(x_obs)
// far below all simulations. slcp_distractors gets this check on its 8
// informative values, with slcp's likelihood, and an exact check of its 92
// distractors (see checkDistractorMarginals).
//
// bernoulli_glm has no likelihood: per dimension, the observation must lie
// inside the range of M = 10,000 simulations; a correct simulator fails one
// dimension with probability 2/(M+1), so 10 dimensions × 5 observations
// give a false alarm below 1% (Bonferroni).
func TestObservationsConsistent(t *testing.T) {
	dir := sharedData(t)
	for _, name := range TaskNames() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			task := mustTask(t, name)
			ks, err := ObservationNumbers(dir, name)
			if err != nil || len(ks) == 0 {
				t.Fatalf("no observations: %v", err)
			}
			for _, k := range ks {
				obs, theta, err := LoadObservation(dir, name, k)
				if err != nil {
					t.Fatal(err)
				}
				switch name {
				case "bernoulli_glm":
					const m = 10_000
					x := simulateAtTheta(t, task.Simulator, theta, m, uint64(k))
					for j, o := range obs {
						col := mat.Col(nil, j, x)
						if o < slices.Min(col) || o > slices.Max(col) {
							t.Errorf("obs %d, x%d = %v outside the range [%v, %v] of %d simulations", k, j+1, o, slices.Min(col), slices.Max(col), m)
						}
					}
				case "slcp_distractors":
					d, err := testDistractors()
					if err != nil {
						t.Fatal(err)
					}
					informative := func(x []float64) []float64 {
						s := make([]float64, slcpX)
						for i, j := range d.perm {
							if j < slcpX {
								s[j] = x[i]
							}
						}
						return s
					}
					x := simulateAtTheta(t, task.Simulator, theta, 2000, uint64(k))
					s := mat.NewDense(2000, slcpX, nil)
					for i := range 2000 {
						s.SetRow(i, informative(x.RawRowView(i)))
					}
					checkLikelihoodRank(t, k, mustTask(t, "slcp").Likelihood.Condition(theta), informative(obs), s)
					checkDistractorMarginals(t, d, k, obs, 0.01/float64(distractDim*len(ks)))
				default:
					x := simulateAtTheta(t, task.Simulator, theta, 2000, uint64(k))
					checkLikelihoodRank(t, k, task.Likelihood.Condition(theta), obs, x)
				}
			}
		})
	}
}

// checkLikelihoodRank fails when log p(obs) is below log p(x) for every
// row x of sims; see TestObservationsConsistent.
func checkLikelihoodRank(t *testing.T, k int, l dist.Distribution, obs []float64, sims *mat.Dense) {
	t.Helper()
	m, _ := sims.Dims()
	lObs := l.LogProb(obs)
	below := 0
	ls := make([]float64, m)
	for i := range m {
		ls[i] = l.LogProb(sims.RawRowView(i))
		if ls[i] <= lObs {
			below++
		}
	}
	if below == 0 || math.IsInf(lObs, -1) {
		sort.Float64s(ls)
		t.Errorf("obs %d: log-likelihood %.4g is below all %d simulations (quantiles 0.1%%: %.4g, 50%%: %.4g)",
			k, lObs, m, ls[m/1000], ls[m/2])
	}
}

// mixtureMarginalCDF is the exact CDF of coordinate i of the distractor
// mixture: coordinate i of component c is a univariate Student-t with ν_c
// degrees of freedom, location loc_c[i] and scale √(Σ_j L_c[i][j]²), a row
// norm, which (unlike the full density) is numerically benign.
func mixtureMarginalCDF(d *distractors, i int, v float64) float64 {
	scales := distractorScales()
	var f float64
	for c, w := range d.weights {
		f += w * distuv.StudentsT{Mu: d.loc[c][i], Sigma: scales[c][i], Nu: d.df[c]}.CDF(v)
	}
	return f
}

// distractorScales holds the marginal scales √(Σ_j L_c[i][j]²).
var distractorScales = sync.OnceValue(func() [][]float64 {
	d, err := testDistractors()
	if err != nil {
		panic(err)
	}
	out := make([][]float64, len(d.tril))
	for c, l := range d.tril {
		out[c] = make([]float64, distractDim)
		for i := range distractDim {
			var ss float64
			for _, v := range l[i*distractDim : (i+1)*distractDim] {
				ss += v * v
			}
			out[c][i] = math.Sqrt(ss)
		}
	}
	return out
})

// checkDistractorMarginals checks each of the 92 distractor values of an
// observation against its exact marginal distribution: the two-sided tail
// probability 2·min(F(v), 1-F(v)) must exceed alpha (the caller's
// Bonferroni share). Values at the wrong position, or constants that do not
// match the data, land far in the tails.
func checkDistractorMarginals(t *testing.T, d *distractors, k int, obs []float64, alpha float64) {
	t.Helper()
	for out, j := range d.perm {
		if j < slcpX {
			continue
		}
		f := mixtureMarginalCDF(d, j-slcpX, obs[out])
		if p := 2 * math.Min(f, 1-f); p < alpha {
			t.Errorf("obs %d: distractor x[%d] = %v has tail probability %.3g < %.3g", k, out, obs[out], p, alpha)
		}
	}
}

// TestDistractorSampler compares draws of the distractor mixture with the
// exact marginal CDFs of a few coordinates: a Kolmogorov–Smirnov test at
// level 0.001 each (critical value 1.949/√N, N = 10,000).
func TestDistractorSampler(t *testing.T) {
	d, err := testDistractors()
	if err != nil {
		if errors.Is(err, ErrNoData) {
			t.Skip(err)
		}
		t.Fatal(err)
	}
	const n = 10_000
	rng := rand.New(rand.NewPCG(8, 9))
	draws := mat.NewDense(n, distractDim, nil)
	for r := range n {
		d.sample(draws.RawRowView(r), rng)
	}
	for _, i := range []int{0, 45, 91} {
		col := mat.Col(nil, i, draws)
		sort.Float64s(col)
		var ks float64
		for r, v := range col {
			f := mixtureMarginalCDF(d, i, v)
			ks = math.Max(ks, math.Max(math.Abs(float64(r+1)/n-f), math.Abs(f-float64(r)/n)))
		}
		if crit := 1.949 / math.Sqrt(n); ks > crit {
			t.Errorf("coordinate %d: KS statistic %.4f > %.4f", i, ks, crit)
		}
	}
}

// TestGaussianLinearPosteriorMatchesReference compares the analytic
// posterior N(x/2, 0.05·I) with the 10,000 reference samples of every
// stored observation: means within 5 standard errors (√(0.05/n)),
// variances within 5·0.05·√(2/(n-1)) and covariances within 5·0.05/√n.
func TestGaussianLinearPosteriorMatchesReference(t *testing.T) {
	dir := sharedData(t)
	task := mustTask(t, "gaussian_linear")
	ks, err := ObservationNumbers(dir, "gaussian_linear")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range ks {
		ref, err := LoadReference(dir, "gaussian_linear", k)
		if err != nil {
			t.Fatal(err)
		}
		p, err := task.Posterior(ref.Observation)
		if err != nil {
			t.Fatal(err)
		}
		post := p.(*dist.Normal)
		mean := post.Mean(nil)
		var cov mat.SymDense
		post.CovarianceMatrix(&cov)
		n, _ := ref.PosteriorSamples.Dims()
		var sc mat.SymDense
		statCov(&sc, ref.PosteriorSamples)
		for i := range 10 {
			if math.Abs(mean[i]-ref.Observation[i]/2) > 1e-12 {
				t.Errorf("obs %d: posterior mean %v, want x/2 = %v", k, mean[i], ref.Observation[i]/2)
			}
			var m float64
			for r := range n {
				m += ref.PosteriorSamples.At(r, i) / float64(n)
			}
			if tol := 5 * math.Sqrt(0.05/float64(n)); math.Abs(m-mean[i]) > tol {
				t.Errorf("obs %d θ%d: reference mean %.5f, analytic %.5f ± %.4f", k, i+1, m, mean[i], tol)
			}
			for j := i; j < 10; j++ {
				tol := 5 * 0.05 / math.Sqrt(float64(n))
				if i == j {
					tol = 5 * 0.05 * math.Sqrt(2/float64(n-1))
				}
				if math.Abs(sc.At(i, j)-cov.At(i, j)) > tol {
					t.Errorf("obs %d: reference cov[%d][%d] %.5f, analytic %.5f ± %.4f", k, i, j, sc.At(i, j), cov.At(i, j), tol)
				}
			}
		}
	}
	if _, err := GaussianLinearPosterior(make([]float64, 3)); !errors.Is(err, ErrShape) {
		t.Errorf("short x: got %v, want ErrShape", err)
	}
}

// TestSIRConservesPopulation checks S + I + R = N at every observation time
// for several θ: the right-hand side sums to zero, so the solver may only
// lose it through rounding and the error control (relative 1e-8 on S ≈ N).
func TestSIRConservesPopulation(t *testing.T) {
	times := make([]float64, 161)
	for i := range times {
		times[i] = float64(i)
	}
	for _, th := range [][]float64{{0.4, 0.125}, {1.5, 0.05}, {0.1, 0.3}, {3, 0.5}} {
		dp, err := ode.NewDormandPrince(3, &ode.Settings{RelTol: odeTol, AbsTol: odeTol})
		if err != nil {
			t.Fatal(err)
		}
		out := make([]float64, 3*len(times))
		f := func(_ float64, y, dy []float64) { sirRHS(th[0], th[1], y, dy) }
		if _, err := dp.Solve(f, 0, []float64{sirN - 1, 1, 0}, times, out); err != nil {
			t.Fatal(err)
		}
		for k := range times {
			s, i, r := out[3*k], out[3*k+1], out[3*k+2]
			if d := math.Abs(s + i + r - sirN); d > 1e-6*sirN*odeTol*1e2 || s < 0 || i < -1e-6 || r < 0 {
				t.Errorf("θ %v, t = %v: S, I, R = %v, %v, %v; S+I+R-N = %g", th, times[k], s, i, r, s+i+r-sirN)
			}
		}
	}
}

// TestTasksReproducible runs Simulate over the prior of several tasks with
// 1, 2 and 7 workers and the same seed: the datasets must be bit-identical.
func TestTasksReproducible(t *testing.T) {
	for _, name := range []string{"two_moons", "sir", "slcp", "bernoulli_glm"} {
		task := mustTask(t, name)
		var ref *Result
		for _, w := range []int{1, 2, 7} {
			res, err := Simulate(context.Background(), task.Simulator, task.Prior, 350, rand.New(rand.NewPCG(4, 2)), &Settings{Workers: w})
			if err != nil {
				t.Fatal(err)
			}
			if ref != nil && (!sameBits(ref.Data.Theta, res.Data.Theta) || !sameBits(ref.Data.X, res.Data.X)) {
				t.Errorf("%s: %d workers differ from 1", name, w)
			}
			ref = res
		}
	}
}

func TestLoadReferenceErrors(t *testing.T) {
	dir := t.TempDir()
	mk := func(rel, content string) {
		t.Helper()
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// two_moons with observations 2, 7 and 13 only: any k present works.
	for _, k := range []int{2, 7, 13} {
		d := fmt.Sprintf("two_moons/num_observation_%d/", k)
		mk(d+"observation.csv", fmt.Sprintf("data_1,data_2\n%d.5,-0.25\n", k))
		mk(d+"true_parameters.csv", "parameter_1,parameter_2\n0.1,0.2\n")
	}
	bz := bzipOf(t, "parameter_1,parameter_2\n0.5,0.5\n-0.5,0.25\n0.125,0.0625\n")
	for _, k := range []int{2, 7, 13} {
		mk(fmt.Sprintf("two_moons/num_observation_%d/reference_posterior_samples.csv.bz2", k), bz)
	}
	ks, err := ObservationNumbers(dir, "two_moons")
	if err != nil || !slices.Equal(ks, []int{2, 7, 13}) {
		t.Fatalf("ObservationNumbers: got %v, %v, want [2 7 13]", ks, err)
	}
	ref, err := LoadReference(dir, "two_moons", 13)
	if err != nil {
		t.Fatal(err)
	}
	if ref.Observation[0] != 13.5 || ref.TrueParameters[1] != 0.2 || ref.PosteriorSamples.At(2, 1) != 0.0625 {
		t.Errorf("got %+v, want the files' values", ref)
	}
	// Broken files, each a different problem.
	mk("slcp/num_observation_1/observation.csv", "data_1,data_2\n1,2\n") // 2 values, want 8
	mk("sir/num_observation_1/observation.csv", "data_1,data_2\n1,2,3\n")
	mk("sir/num_observation_1/true_parameters.csv", "a,b\n1,2\n")
	mk("gaussian_mixture/num_observation_1/observation.csv", "data_1,data_2\n1,2\n")
	mk("gaussian_mixture/num_observation_1/true_parameters.csv", "a,b\n1,2\n")
	mk("gaussian_mixture/num_observation_1/reference_posterior_samples.csv.bz2", "this is not bzip2")
	tests := []struct {
		task string
		k    int
		want error
		file string
	}{
		{"two_moons", 1, ErrNoData, "available: [2 7 13]"},
		{"no_such_task", 1, ErrUnknownTask, "no_such_task"},
		{"slcp", 1, ErrShape, "observation.csv"},
		{"sir", 1, ErrFormat, "observation.csv: row 1 (line 2)"},
		{"gaussian_mixture", 1, ErrFormat, "reference_posterior_samples.csv.bz2"},
		{"lotka_volterra", 1, ErrNoData, "num_observation_1"},
	}
	for _, tc := range tests {
		_, err := LoadReference(dir, tc.task, tc.k)
		if !errors.Is(err, tc.want) || !strings.Contains(fmt.Sprint(err), tc.file) {
			t.Errorf("%s %d: got %v, want %v mentioning %q", tc.task, tc.k, err, tc.want, tc.file)
		}
	}
}

// TestSharedReferenceSamples loads the reference posterior samples of the
// first stored observation of every task (decompressing all 50 would take
// too long for a unit test): 10,000 rows inside the prior's support.
func TestSharedReferenceSamples(t *testing.T) {
	dir := sharedData(t)
	for _, name := range TaskNames() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ks, err := ObservationNumbers(dir, name)
			if err != nil || len(ks) == 0 {
				t.Fatalf("no observations (%v)", err)
			}
			ref, err := LoadReference(dir, name, ks[0])
			if err != nil {
				t.Fatal(err)
			}
			if r, _ := ref.PosteriorSamples.Dims(); r != 10_000 {
				t.Errorf("%d reference samples, want 10,000", r)
			}
			task := mustTask(t, name)
			for i := range 10_000 {
				if lp := task.Prior.LogProb(ref.PosteriorSamples.RawRowView(i)); math.IsInf(lp, -1) {
					t.Fatalf("reference sample %d outside the prior support", i)
				}
			}
		})
	}
}

func ExampleNewTask() {
	task, err := NewTask("two_moons", "")
	if err != nil {
		fmt.Println(err)
		return
	}
	thetaDim, xDim := task.Dims()
	fmt.Println(task.Name, thetaDim, xDim, task.ThetaNames)
	// The likelihood at θ = (0, 0), where the moon is a crescent of radius
	// 0.1 centred at (0.25, 0).
	l := task.Likelihood.Condition([]float64{0, 0})
	fmt.Printf("log p(x = (0.35, 0) | θ) = %.3f\n", l.LogProb([]float64{0.35, 0}))
	fmt.Printf("log p(x = (0, 0) | θ) = %.3f\n", l.LogProb([]float64{0, 0}))
	// Output:
	// two_moons 2 2 [theta_1 theta_2]
	// log p(x = (0.35, 0) | θ) = 4.844
	// log p(x = (0, 0) | θ) = -Inf
}

func ExampleGaussianLinearPosterior() {
	x := []float64{1, 0.5, 0, 0, 0, 0, 0, 0, 0, -1}
	post, err := GaussianLinearPosterior(x)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("mean %.2f\n", post.Mean(nil))
	fmt.Printf("std %.4f\n", post.Std(nil)[0])
	// Output:
	// mean [0.50 0.25 0.00 0.00 0.00 0.00 0.00 0.00 0.00 -0.50]
	// std 0.2236
}

// gaussLogPDF evaluates Gaussian log densities from a covariance matrix
// through gonum's Cholesky factorisation, a path independent of the tasks'
// own code.
type gaussLogPDF struct {
	mu   []float64
	chol mat.Cholesky
}

func newGaussLogPDF(mu []float64, cov *mat.SymDense) (*gaussLogPDF, bool) {
	g := &gaussLogPDF{mu: mu}
	return g, g.chol.Factorize(cov)
}

// mahalanobis returns (x-μ)ᵀ Σ⁻¹ (x-μ).
func (g *gaussLogPDF) mahalanobis(x []float64) float64 {
	d := mat.NewVecDense(len(x), nil)
	for i := range x {
		d.SetVec(i, x[i]-g.mu[i])
	}
	var s mat.VecDense
	if err := g.chol.SolveVecTo(&s, d); err != nil {
		panic(err)
	}
	return mat.Dot(d, &s)
}

// LogProb is log N(x; μ, Σ).
func (g *gaussLogPDF) LogProb(x []float64) float64 {
	p := float64(len(x))
	return -p/2*math.Log(2*math.Pi) - g.chol.LogDet()/2 - g.mahalanobis(x)/2
}

// TestTaskSimulatorsDoNotAllocate checks the hot path: Run with a dst does
// not allocate, for every task.
func TestTaskSimulatorsDoNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless with -race (sync.Pool drops items)")
	}
	for _, name := range TaskNames() {
		task := mustTask(t, name)
		_, xd := task.Dims()
		rng := rand.New(rand.NewPCG(1, 1))
		theta := task.Prior.Sample(nil, rng)
		dst := make([]float64, xd)
		allocs := testing.AllocsPerRun(50, func() {
			if _, err := task.Simulator.Run(context.Background(), dst, theta, rng); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per simulation, want 0", name, allocs)
		}
	}
}

// This example is compiled but not run: it needs the sbibm data folder.
func ExampleLoadReference() {
	dataDir := "../shared/sbibm" // beside the repository
	ks, err := ObservationNumbers(dataDir, "sir")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, k := range ks {
		ref, err := LoadReference(dataDir, "sir", k)
		if err != nil {
			fmt.Println(err)
			return
		}
		n, _ := ref.PosteriorSamples.Dims()
		fmt.Printf("observation %d: x = %.0f, θ* = %.3f, %d reference samples\n", k, ref.Observation, ref.TrueParameters, n)
	}
}
