package diagnostics

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// noiseSim is the simulator of gaussModel: x = θ + N(0, σ²I).
func noiseSim(sigma float64) SimulatorFunc {
	return func(_ context.Context, dst, theta []float64, rng *rand.Rand) ([]float64, error) {
		if dst == nil {
			dst = make([]float64, len(theta))
		}
		for i, v := range theta {
			dst[i] = v + sigma*rng.NormFloat64()
		}
		return dst, nil
	}
}

// TestPredictiveDeterministic checks every field against a direct
// computation with the identity simulator x = θ.
func TestPredictiveDeterministic(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	samples := normalSample(250, 2, 0, rng)
	xo := []float64{0.3, -1.2}
	id := SimulatorFunc(func(_ context.Context, dst, theta []float64, _ *rand.Rand) ([]float64, error) {
		return append(dst[:0], theta...), nil
	})
	res, err := PredictiveCheck(context.Background(), id, samples, xo, rng, &PredictiveSettings{Level: 0.9})
	if err != nil {
		t.Fatal(err)
	}
	if !mat.Equal(res.X, samples) || res.Invalid != 0 {
		t.Fatalf("identity simulator: X differs from the samples or %d invalid", res.Invalid)
	}
	d := make([]float64, 250)
	for i := range d {
		d[i] = euclidean(samples.RawRowView(i), xo)
		if d[i] != res.Distances[i] {
			t.Fatalf("distance %d = %v, want %v", i, res.Distances[i], d[i])
		}
	}
	slices.Sort(d)
	if res.MedianDistance != d[124] { // lower median of 250 values
		t.Errorf("MedianDistance = %v, want %v", res.MedianDistance, d[124])
	}
	for j := 0; j < 2; j++ {
		col := mat.Col(nil, j, samples)
		slices.Sort(col)
		below := 0
		for _, v := range col {
			if v <= xo[j] {
				below++
			}
		}
		lo, hi := quantileSorted(col, 0.05), quantileSorted(col, 0.95)
		if math.Abs(res.Lower[j]-lo) > 1e-12 || math.Abs(res.Upper[j]-hi) > 1e-12 || res.PIT[j] != float64(below)/250 {
			t.Errorf("dim %d: [%v, %v] PIT %v, want [%v, %v] PIT %v", j, res.Lower[j], res.Upper[j], res.PIT[j], lo, hi, float64(below)/250)
		}
		if res.Inside[j] != (xo[j] >= lo && xo[j] <= hi) {
			t.Errorf("dim %d: Inside = %v", j, res.Inside[j])
		}
	}
	// x_o[1] = −1.2 is near the 11.5% quantile of N(0, 1): inside the 90%
	// interval; a point at 4 standard deviations is outside.
	res, err = PredictiveCheck(context.Background(), id, samples, []float64{4, 0}, rng, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Inside[0] || !res.Inside[1] || res.PIT[0] != 1 {
		t.Errorf("x_o = (4, 0): Inside %v, PIT %v; want [false true] and PIT₀ = 1", res.Inside, res.PIT)
	}
}

// TestPredictiveGaussian checks the mean squared distance of posterior
// predictive simulations in the conjugate model: x_new | x_o ~ N(w·x_o,
// (v+σ²)I), so E‖x_new − x_o‖² = D(v+σ²) + (1−w)²‖x_o‖². With S = 4000
// draws, the sample mean is within 4 standard errors (estimated from the
// draws) of it.
func TestPredictiveGaussian(t *testing.T) {
	t.Parallel()
	m := gaussModel{dim: 3, tau2: 1, sigma2: 0.5}
	xo := []float64{0.8, -0.4, 1.5}
	q := gaussPosterior{m: m, scale: 1}.Condition(xo)
	rng := rand.New(rand.NewPCG(7, 7))
	const S = 4000
	samples := mat.NewDense(S, 3, nil)
	for i := 0; i < S; i++ {
		q.Sample(samples.RawRowView(i), rng)
	}
	var prev *PredictiveResult
	for _, w := range []int{1, 4} {
		res, err := PredictiveCheck(context.Background(), noiseSim(math.Sqrt(m.sigma2)), samples, xo,
			rand.New(rand.NewPCG(8, 8)), &PredictiveSettings{Workers: w})
		if err != nil {
			t.Fatal(err)
		}
		if prev != nil && !mat.Equal(prev.X, res.X) {
			t.Fatalf("simulations depend on Workers")
		}
		prev = res
	}
	w := m.tau2 / (m.tau2 + m.sigma2)
	v := m.tau2 * m.sigma2 / (m.tau2 + m.sigma2)
	want := 3 * (v + m.sigma2)
	for _, x := range xo {
		want += (1 - w) * (1 - w) * x * x
	}
	mean, sd := 0.0, 0.0
	for _, d := range prev.Distances {
		mean += d * d
	}
	mean /= S
	for _, d := range prev.Distances {
		sd += (d*d - mean) * (d*d - mean)
	}
	se := math.Sqrt(sd/(S-1)) / math.Sqrt(S)
	if math.Abs(mean-want) > 4*se {
		t.Errorf("mean squared distance %.4f, want %.4f ± %.4f", mean, want, 4*se)
	}
	for j := range xo {
		if !prev.Inside[j] {
			t.Errorf("x_o[%d] = %v outside its 95%% predictive interval [%v, %v]", j, xo[j], prev.Lower[j], prev.Upper[j])
		}
	}
}

func TestPredictiveFailures(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 1))
	samples := normalSample(300, 2, 0, rng)
	boom := errors.New("boom")
	failing := SimulatorFunc(func(_ context.Context, dst, theta []float64, _ *rand.Rand) ([]float64, error) {
		if theta[0] > 2 {
			return nil, boom
		}
		return append(dst[:0], theta...), nil
	})
	if _, err := PredictiveCheck(context.Background(), failing, samples, []float64{0, 0}, rng, nil); !errors.Is(err, boom) {
		t.Errorf("failing simulator: error %v, want it to wrap %v", err, boom)
	}
	nanSim := SimulatorFunc(func(_ context.Context, dst, theta []float64, _ *rand.Rand) ([]float64, error) {
		dst = append(dst[:0], theta...)
		if theta[0] > 1 {
			dst[1] = math.NaN()
		}
		return dst, nil
	})
	res, err := PredictiveCheck(context.Background(), nanSim, samples, []float64{0, 0}, rng, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := 0
	for i := 0; i < 300; i++ {
		if samples.At(i, 0) > 1 {
			want++
		}
	}
	if res.Invalid != want || len(res.Distances) != 300-want {
		t.Errorf("Invalid = %d with %d distances, want %d and %d", res.Invalid, len(res.Distances), want, 300-want)
	}
	wrongLen := SimulatorFunc(func(_ context.Context, dst, theta []float64, _ *rand.Rand) ([]float64, error) {
		return []float64{1, 2, 3}, nil
	})
	for _, tt := range []struct {
		name string
		sim  Simulator
		xo   []float64
		s    *PredictiveSettings
		want error
	}{
		{"output length", wrongLen, []float64{0, 0}, nil, ErrDim},
		{"NaN observation", nanSim, []float64{0, math.NaN()}, nil, ErrNonFinite},
		{"empty observation", nanSim, nil, nil, ErrEmpty},
		{"level", nanSim, []float64{0, 0}, &PredictiveSettings{Level: 1.5}, ErrSettings},
		{"nil simulator", nil, []float64{0, 0}, nil, ErrSettings},
	} {
		if _, err := PredictiveCheck(context.Background(), tt.sim, samples, tt.xo, rng, tt.s); !errors.Is(err, tt.want) {
			t.Errorf("%s: error %v, want %v", tt.name, err, tt.want)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := PredictiveCheck(ctx, nanSim, samples, []float64{0, 0}, rng, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: error %v, want context.Canceled", err)
	}
}

func TestZScoreShrinkage(t *testing.T) {
	t.Parallel()
	// Draws with known mean and sd: {−1, 1} repeated has mean 0, sd
	// √(n/(n−1)).
	samples := mat.NewDense(4, 2, []float64{-1, 2, 1, 4, -1, 2, 1, 4})
	z, s, err := ZScoreShrinkage(samples, []float64{0.5, 1}, []float64{2, 1})
	if err != nil {
		t.Fatal(err)
	}
	sd0 := math.Sqrt(4.0 / 3)
	sd1 := math.Sqrt(4.0 / 3)
	wantZ := []float64{(0 - 0.5) / sd0, (3 - 1) / sd1}
	wantS := []float64{1 - sd0*sd0/4, 1 - sd1*sd1/1}
	for d := range z {
		if math.Abs(z[d]-wantZ[d]) > 1e-12 || math.Abs(s[d]-wantS[d]) > 1e-12 {
			t.Errorf("dim %d: z %v shrinkage %v, want %v and %v", d, z[d], s[d], wantZ[d], wantS[d])
		}
	}
	for _, tt := range []struct {
		name         string
		samples      *mat.Dense
		theta, prior []float64
		want         error
	}{
		{"one draw", mat.NewDense(1, 2, nil), []float64{0, 0}, []float64{1, 1}, ErrEmpty},
		{"theta length", samples, []float64{0}, []float64{1, 1}, ErrDim},
		{"prior length", samples, []float64{0, 0}, []float64{1}, ErrDim},
		{"zero prior sd", samples, []float64{0, 0}, []float64{1, 0}, ErrSettings},
		{"NaN theta", samples, []float64{0, math.NaN()}, []float64{1, 1}, ErrNonFinite},
	} {
		if _, _, err := ZScoreShrinkage(tt.samples, tt.theta, tt.prior); !errors.Is(err, tt.want) {
			t.Errorf("%s: error %v, want %v", tt.name, err, tt.want)
		}
	}
}

// TestSBCZScoresShrinkage: for the exact gaussian_linear posterior the
// z-scores over T·D = 2000 (test, parameter) pairs have mean 0 and variance
// about 1 (a t distribution with L−1 = 99 degrees of freedom: variance
// 99/97 ≈ 1.02), and the shrinkage is 1 − v/τ² = ½ up to the sampling error
// of the L-draw variance (sd √(2/(L−1))·v/τ² ≈ 0.07 per pair).
func TestSBCZScoresShrinkage(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(5, 1))
	theta, x := gaussianLinear.testSet(calT, rng)
	res, err := SBC(context.Background(), gaussPosterior{m: gaussianLinear, scale: 1, batch: true}, theta, x, calL, rng, nil)
	if err != nil {
		t.Fatal(err)
	}
	z, err := res.ZScores(theta)
	if err != nil {
		t.Fatal(err)
	}
	n := float64(calT * 10)
	mean := mat.Sum(z) / n
	var ss float64
	for i := 0; i < calT; i++ {
		for _, v := range z.RawRowView(i) {
			ss += (v - mean) * (v - mean)
		}
	}
	variance := ss / (n - 1)
	// Standard errors: 1/√n for the mean, √(2/n) for the variance of a
	// (near-)normal sample; 4 of them.
	if math.Abs(mean) > 4/math.Sqrt(n) || math.Abs(variance-99.0/97) > 4*math.Sqrt(2/n) {
		t.Errorf("z-scores: mean %.4f, variance %.4f; want 0 and %.4f", mean, variance, 99.0/97)
	}
	priorStd := make([]float64, 10)
	for d := range priorStd {
		priorStd[d] = math.Sqrt(gaussianLinear.tau2)
	}
	sh, err := res.Shrinkage(priorStd, nil)
	if err != nil {
		t.Fatal(err)
	}
	// E[s²] = v, so the mean shrinkage is exactly ½ in expectation; its
	// standard error over 2000 independent pairs is 0.07/√2000 ≈ 0.0016, and
	// 0.01 is six of them.
	if got := mat.Sum(sh) / n; math.Abs(got-0.5) > 0.01 {
		t.Errorf("mean shrinkage %.4f, want 0.5", got)
	}
	// With the prior sd estimated from theta the mean shrinkage agrees
	// within the sampling error of that estimate (sd of a variance from 200
	// draws: √(2/199) ≈ 10%, so within 0.1 of ½).
	sh2, err := res.Shrinkage(nil, theta)
	if err != nil {
		t.Fatal(err)
	}
	if got := mat.Sum(sh2) / n; math.Abs(got-0.5) > 0.1 {
		t.Errorf("mean shrinkage with estimated prior sd %.4f, want 0.5 ± 0.1", got)
	}
	if _, err := res.Shrinkage(nil, nil); !errors.Is(err, ErrEmpty) {
		t.Errorf("Shrinkage(nil, nil): error %v, want ErrEmpty", err)
	}
	if _, err := res.ZScores(theta.Slice(0, 10, 0, 10).(*mat.Dense)); !errors.Is(err, ErrDim) {
		t.Errorf("ZScores with wrong theta: error %v, want ErrDim", err)
	}
}
