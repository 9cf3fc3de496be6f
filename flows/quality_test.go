package flows

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// integrate1D returns the trapezoid-rule integral of exp(log p) over [lo, hi]
// with n intervals.
func integrate1D(f *Flow, c *mat.Dense, lo, hi float64, n int) float64 {
	x := mat.NewDense(n+1, 1, nil)
	h := (hi - lo) / float64(n)
	for i := 0; i <= n; i++ {
		x.Set(i, 0, lo+h*float64(i))
	}
	lp := f.LogProbBatch(nil, x, c)
	var s float64
	for i, v := range lp {
		w := 1.0
		if i == 0 || i == n {
			w = 0.5
		}
		s += w * math.Exp(v)
	}
	return s * h
}

// integrate2D returns the tensor-product trapezoid integral of exp(log p)
// over [lo, hi]² with n intervals per axis.
func integrate2D(f *Flow, c *mat.Dense, lo, hi float64, n int) float64 {
	h := (hi - lo) / float64(n)
	x := mat.NewDense((n+1)*(n+1), 2, nil)
	for i := 0; i <= n; i++ {
		for j := 0; j <= n; j++ {
			x.Set(i*(n+1)+j, 0, lo+h*float64(i))
			x.Set(i*(n+1)+j, 1, lo+h*float64(j))
		}
	}
	var cc *mat.Dense
	if c != nil {
		cc = c
	}
	lp := f.LogProbBatch(nil, x, cc)
	var s float64
	for i := 0; i <= n; i++ {
		wi := 1.0
		if i == 0 || i == n {
			wi = 0.5
		}
		for j := 0; j <= n; j++ {
			wj := 1.0
			if j == 0 || j == n {
				wj = 0.5
			}
			s += wi * wj * math.Exp(lp[i*(n+1)+j])
		}
	}
	return s * h * h
}

// bimodal1D returns n draws of a two-component Gaussian mixture with
// context-dependent location: x | c ~ ½N(c - 1, 0.3²) + ½N(c + 1.5, 0.6²).
func bimodal1D(n int, rng *rand.Rand) (x, c *mat.Dense) {
	x, c = mat.NewDense(n, 1, nil), mat.NewDense(n, 1, nil)
	for i := 0; i < n; i++ {
		ci := rng.NormFloat64()
		c.Set(i, 0, ci)
		if rng.IntN(2) == 0 {
			x.Set(i, 0, ci-1+0.3*rng.NormFloat64())
		} else {
			x.Set(i, 0, ci+1.5+0.6*rng.NormFloat64())
		}
	}
	return x, c
}

// TestDensitiesIntegrateToOne trains small flows briefly and integrates their
// densities by quadrature. The change-of-variables formula makes the density
// normalised whatever the training state, so a brief training (enough to
// make the density non-Gaussian) suffices: the point is exactness.
// Tolerance 0.01 (the issue's): the trapezoid rule with the steps used here
// errs by less than 1e-3 on these smooth densities (the spline's log-density
// is only C⁰ at knots, which still gives O(h²)), and the mass outside the
// boxes (more than 7 standard deviations of the data away) is below 1e-6.
func TestDensitiesIntegrateToOne(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	settings := &Settings{MaxEpochs: 15, BatchSize: 100, LearningRate: 3e-3}

	// 1-D conditional flows (MAF and NSF), integrated at two contexts.
	rng := rand.New(rand.NewPCG(21, 1))
	x1, c1 := bimodal1D(1000, rng)
	for _, cfg := range []interface {
		Build(x, c *mat.Dense, rng *rand.Rand) (*Flow, error)
	}{
		MAF{Transforms: 3, Hidden: 16},
		NSF{Transforms: 2, Hidden: 16, Bins: 8},
	} {
		f, err := cfg.Build(x1, c1, rng)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Train(ctx, f, x1, c1, rng, settings); err != nil {
			t.Fatal(err)
		}
		for _, cv := range []float64{-0.5, 1} {
			got := integrate1D(f, mat.NewDense(1, 1, []float64{cv}), cv-12, cv+12, 6000)
			if math.Abs(got-1) > 0.01 {
				t.Errorf("%T at c=%v: ∫p = %v, want 1 ± 0.01", cfg, cv, got)
			}
		}
	}

	// 2-D unconditional flows on two moons (MAF and NSF coupling).
	x2 := twoMoons(1000, rng)
	for _, cfg := range []interface {
		Build(x, c *mat.Dense, rng *rand.Rand) (*Flow, error)
	}{
		MAF{Transforms: 3, Hidden: 16},
		NSF{Transforms: 2, Hidden: 16, Bins: 8},
	} {
		f, err := cfg.Build(x2, nil, rng)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Train(ctx, f, x2, nil, rng, settings); err != nil {
			t.Fatal(err)
		}
		// The data live in about [-1.2, 2.2]×[-0.7, 1.2]; ±5 is more than
		// 7 data standard deviations from the centre in both axes.
		got := integrate2D(f, nil, -5, 5, 300)
		if math.Abs(got-1) > 0.01 {
			t.Errorf("%T two moons: ∫p = %v, want 1 ± 0.01", cfg, got)
		}
	}
}

// twoMoons draws n points of scikit-learn's two-moons data with noise 0.1:
// the upper arc (cos t, sin t) or the lower arc (1 - cos t, 0.5 - sin t),
// t ~ U(0, π), each with probability ½, plus N(0, 0.1²) noise per axis.
func twoMoons(n int, rng *rand.Rand) *mat.Dense {
	x := mat.NewDense(n, 2, nil)
	for i := 0; i < n; i++ {
		t := math.Pi * rng.Float64()
		a, b := math.Cos(t), math.Sin(t)
		if rng.IntN(2) == 1 {
			a, b = 1-a, 0.5-b
		}
		x.Set(i, 0, a+twoMoonsNoise*rng.NormFloat64())
		x.Set(i, 1, b+twoMoonsNoise*rng.NormFloat64())
	}
	return x
}

const twoMoonsNoise = 0.1

// twoMoonsLogProb returns the exact log density of twoMoons: the mixture of
// the two arcs' uniform laws convolved with the Gaussian noise, integrated
// over t by the trapezoid rule on 4000 intervals (the integrand varies on a
// scale of σ = 0.1 in t, so the quadrature error is far below 1e-6).
func twoMoonsLogProb(x, y float64) float64 {
	const m = 4000
	s2 := twoMoonsNoise * twoMoonsNoise
	var sum float64
	for k := 0; k <= m; k++ {
		t := math.Pi * float64(k) / m
		w := 1.0
		if k == 0 || k == m {
			w = 0.5
		}
		a, b := math.Cos(t), math.Sin(t)
		d1 := (x-a)*(x-a) + (y-b)*(y-b)
		d2 := (x-1+a)*(x-1+a) + (y-0.5+b)*(y-0.5+b)
		sum += w * (math.Exp(-d1/(2*s2)) + math.Exp(-d2/(2*s2)))
	}
	// ½ per arc, density 1/π in t, Gaussian normaliser 1/(2πσ²).
	return math.Log(sum*(math.Pi/m)*0.5/math.Pi) - math.Log(2*math.Pi*s2)
}

// twoMoonsGap returns the mean over test of log p_true - log q_flow: the
// held-out KL divergence estimate KL(p‖q) (≥ 0 up to Monte Carlo error).
func twoMoonsGap(f *Flow, test *mat.Dense) float64 {
	lq := f.LogProbBatch(nil, test, nil)
	var s float64
	for i, v := range lq {
		s += twoMoonsLogProb(test.At(i, 0), test.At(i, 1)) - v
	}
	return s / float64(len(lq))
}

// TestTwoMoonsFit fits an unconditional flow to two-moons data with a small
// budget and compares its held-out mean log-likelihood with the exact
// density's (the limit of a high-budget fit).
//
// Where the margin comes from: BenchmarkTwoMoonsHighBudget (sbi's default
// NSF on 10,000 points with sbi's training defaults, 93 epochs to early
// stopping) reaches a held-out gap of 0.023 nats to the exact density. The
// small budget here (3,000 points, a 4-transform NSF of width 32, at most 60
// epochs) reached 0.038 to 0.064 nats over three seeds, while a standard
// normal after z-scoring is 1.21 nats below and a 2-transform MAF stopped
// after 3 epochs 0.91 to 1.22. The margin 0.15 nats (about 0.13 above the
// high-budget fit) therefore passes a working flow with room for seeds and
// fails one that has not learned the two arcs. The Monte Carlo error of the
// 2,000-point held-out mean is about 0.01.
func TestTwoMoonsFit(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(31, 1))
	train := twoMoons(3000, rng)
	test := twoMoons(2000, rng)
	f, err := NSF{Transforms: 4, Hidden: 32, Bins: 8}.Build(train, nil, rng)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Train(context.Background(), f, train, nil, rng, &Settings{MaxEpochs: 60, LearningRate: 3e-3, StopAfterEpochs: 10})
	if err != nil {
		t.Fatal(err)
	}
	gap := twoMoonsGap(f, test)
	t.Logf("two moons: %d epochs, held-out gap to the exact density %.4f nats", res.Epochs, gap)
	if gap > 0.15 {
		t.Errorf("held-out mean log-likelihood %.4f nats below the exact density, want at most 0.15", gap)
	}
}

// TestConditionalGaussianKL trains a conditional MAF on x | θ ~ N(Aθ + b, Σ)
// and estimates KL(p(x|θ) ‖ q(x|θ)) by Monte Carlo at held-out θ.
//
// Where the threshold comes from: the flow can represent this conditional
// exactly (an affine autoregressive map of a Gaussian), so the KL reflects
// estimation error only. With 2,000 pairs, a 3-transform MAF of width 32,
// learning rate 1e-3 and early stopping after 10 epochs, four seeds gave
// 0.019 to 0.045 nats. For comparison, analytically: a density that ignores
// θ (the best one is the marginal N(b, AAᵀ+Σ)) has KL ½ log(det(AAᵀ+Σ)/det Σ)
// = 1.78 nats (a flow trained without θ measured 1.88), and one with the
// right means but uncorrelated noise ½ log(Σ₁₁Σ₂₂/det Σ) = 0.22 nats. The
// threshold 0.1 passes the working flow with a factor two to spare and fails
// both. The Monte Carlo standard error (500 draws at each of 20 θ) is below
// 0.003.
func TestConditionalGaussianKL(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(41, 1))
	th, x := linearGaussianData(2000, rng)
	f, err := MAF{Transforms: 3, Hidden: 32}.Build(x, th, rng)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Train(context.Background(), f, x, th, rng, &Settings{MaxEpochs: 60, LearningRate: 1e-3, StopAfterEpochs: 10})
	if err != nil {
		t.Fatal(err)
	}
	const nTheta, nDraws = 20, 500
	var kl float64
	for k := 0; k < nTheta; k++ {
		thk := []float64{rng.NormFloat64(), rng.NormFloat64()}
		xs := mat.NewDense(nDraws, 2, nil)
		m := linGaussMean(thk)
		for i := 0; i < nDraws; i++ {
			z0, z1 := rng.NormFloat64(), rng.NormFloat64()
			xs.Set(i, 0, m[0]+linGaussL[0][0]*z0)
			xs.Set(i, 1, m[1]+linGaussL[1][0]*z0+linGaussL[1][1]*z1)
		}
		lq := f.LogProbBatch(nil, xs, mat.NewDense(1, 2, thk))
		for i, v := range lq {
			kl += linGaussLogProb(xs.RawRowView(i), thk) - v
		}
	}
	kl /= nTheta * nDraws
	t.Logf("linear Gaussian: %d epochs, average KL %.4f nats", res.Epochs, kl)
	if kl > 0.1 {
		t.Errorf("average KL(p‖q) = %.4f nats, want below 0.1", kl)
	}
}
