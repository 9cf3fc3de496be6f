package diagnostics

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat/distuv"
)

// gaussPair draws n points from N(0, I_d) and n from N(mu, I_d).
func gaussPair(n int, mu []float64, rng *rand.Rand) (x, y *mat.Dense) {
	d := len(mu)
	x, y = mat.NewDense(n, d, nil), mat.NewDense(n, d, nil)
	for i := 0; i < n; i++ {
		for j := 0; j < d; j++ {
			x.Set(i, j, rng.NormFloat64())
			y.Set(i, j, mu[j]+rng.NormFloat64())
		}
	}
	return x, y
}

// TestC2STAccuracy checks C2ST against the Bayes-optimal accuracy Φ(δ/2) of
// two equal-covariance Gaussians at Mahalanobis distance δ with balanced
// classes (δ = 0: the same distribution, accuracy ½).
//
// Tolerance: every point is predicted once, by a classifier not trained on
// it, so the accuracy is an average of 2n Bernoulli outcomes whose standard
// deviation is at most √(p(1−p)/2n): 0.0050 for n = 5000 at p = ½, 0.0052
// for n = 4000 at p = 0.69 and 0.0041 at p = 0.84. The ±0.02 of the
// issue is then about 4 standard deviations, which also absorbs the small
// shortfall of a learned boundary (below 0.01 in trial runs).
func TestC2STAccuracy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		n    int
		mu   []float64
		s    *C2STSettings
	}{
		{"same distribution 1-D", 5000, []float64{0}, nil},
		{"δ = 1 in 2-D", 4000, []float64{1, 0}, nil},
		{"δ = 2 in 2-D, diagonal", 4000, []float64{math.Sqrt2, math.Sqrt2}, nil},
		{"fast, δ = 1 in 2-D", 4000, []float64{0, 1}, FastC2STSettings()},
		{"fast, same distribution 2-D", 4000, []float64{0, 0}, FastC2STSettings()},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(100+uint64(i), 1))
			x, y := gaussPair(tt.n, tt.mu, rng)
			res, err := C2ST(context.Background(), x, y, rng, tt.s)
			if err != nil {
				t.Fatal(err)
			}
			delta := math.Sqrt(mat.Dot(mat.NewVecDense(len(tt.mu), tt.mu), mat.NewVecDense(len(tt.mu), tt.mu)))
			want := distuv.UnitNormal.CDF(delta / 2)
			t.Logf("accuracy %.4f (folds %.3f, epochs %v), Bayes %.4f", res.Accuracy, res.FoldAccuracy, res.Epochs, want)
			if math.Abs(res.Accuracy-want) > 0.02 {
				t.Errorf("accuracy %.4f, want %.4f ± 0.02", res.Accuracy, want)
			}
		})
	}
}

// TestC2STSeparable: at δ = 10 the Bayes error is Φ(−5) ≈ 3e-7; the
// classifier must separate the samples.
func TestC2STSeparable(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(8, 8))
	x, y := gaussPair(300, []float64{10, 0, 0}, rng)
	res, err := C2ST(context.Background(), x, y, rng, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Accuracy < 0.99 {
		t.Errorf("accuracy %.4f on separable samples, want ≥ 0.99", res.Accuracy)
	}
}

// TestC2STReproducible: results depend on the rng, not on Workers.
func TestC2STReproducible(t *testing.T) {
	t.Parallel()
	x, y := gaussPair(150, []float64{0.5, 0}, rand.New(rand.NewPCG(1, 1)))
	var prev *C2STResult
	var calls int
	for _, w := range []int{1, 5} {
		res, err := C2ST(context.Background(), x, y, rand.New(rand.NewPCG(3, 3)), &C2STSettings{
			Workers:    w,
			OnProgress: func(done, total int) error { calls++; return nil },
		})
		if err != nil {
			t.Fatal(err)
		}
		if prev != nil && (!slices.Equal(prev.FoldAccuracy, res.FoldAccuracy) || !slices.Equal(prev.Epochs, res.Epochs)) {
			t.Errorf("Workers 1: %v %v; Workers 5: %v %v", prev.FoldAccuracy, prev.Epochs, res.FoldAccuracy, res.Epochs)
		}
		prev = res
	}
	if calls != 10 {
		t.Errorf("OnProgress called %d times over two runs of 5 folds, want 10", calls)
	}
}

// TestC2STZScore: the classifier sees the samples standardised by the first
// one's mean and standard deviation, so an affine change of units leaves
// the accuracy unchanged up to rounding (a few flipped predictions at most).
func TestC2STZScore(t *testing.T) {
	t.Parallel()
	x, y := gaussPair(400, []float64{0.8, 0}, rand.New(rand.NewPCG(4, 4)))
	base, err := C2ST(context.Background(), x, y, rand.New(rand.NewPCG(5, 5)), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []*mat.Dense{x, y} {
		r, _ := m.Dims()
		for i := 0; i < r; i++ {
			m.Set(i, 0, 1e4*m.At(i, 0)-3e3)
			m.Set(i, 1, 1e-3*m.At(i, 1)+7)
		}
	}
	scaled, err := C2ST(context.Background(), x, y, rand.New(rand.NewPCG(5, 5)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(base.Accuracy-scaled.Accuracy) > 0.01 {
		t.Errorf("accuracy %.4f before and %.4f after a change of units", base.Accuracy, scaled.Accuracy)
	}
}

func TestKFolds(t *testing.T) {
	t.Parallel()
	for _, strat := range []bool{false, true} {
		folds := kFolds(23, 17, 5, strat, rand.New(rand.NewPCG(1, 1)))
		seen := make([]bool, 40)
		for f, idx := range folds {
			// 40 rows in 5 folds: 8 each; stratified: ⌈23/5⌉ or ⌊23/5⌋ of
			// class 0 plus ⌈17/5⌉ or ⌊17/5⌋ of class 1.
			ones := 0
			for _, i := range idx {
				if seen[i] {
					t.Fatalf("row %d in two folds", i)
				}
				seen[i] = true
				if i >= 23 {
					ones++
				}
			}
			if !strat && len(idx) != 8 {
				t.Errorf("fold %d has %d rows, want 8", f, len(idx))
			}
			if strat && (len(idx)-ones < 4 || len(idx)-ones > 5 || ones < 3 || ones > 4) {
				t.Errorf("stratified fold %d: %d of class 0, %d of class 1", f, len(idx)-ones, ones)
			}
		}
		for i, s := range seen {
			if !s {
				t.Errorf("row %d in no fold", i)
			}
		}
	}
}

func TestC2STErrors(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 1))
	x, y := gaussPair(20, []float64{0, 0}, rng)
	tests := []struct {
		name string
		x, y *mat.Dense
		s    *C2STSettings
		want error
	}{
		{"columns", x, mat.NewDense(20, 3, nil), nil, ErrDim},
		{"few rows", x, y.Slice(0, 4, 0, 2).(*mat.Dense), nil, ErrEmpty},
		{"nil", nil, y, nil, ErrEmpty},
		{"one fold", x, y, &C2STSettings{Folds: 1}, ErrSettings},
		{"validation fraction", x, y, &C2STSettings{EarlyStopping: true, ValidationFraction: 1}, ErrSettings},
		{"learning rate", x, y, &C2STSettings{LearningRate: -1}, ErrSettings},
	}
	for _, tt := range tests {
		if _, err := C2ST(context.Background(), tt.x, tt.y, rng, tt.s); !errors.Is(err, tt.want) {
			t.Errorf("%s: error %v, want %v", tt.name, err, tt.want)
		}
	}
	// The smallest valid input, with early stopping that has no rows to
	// hold out: it trains on what there is and gives a valid accuracy.
	tiny, err := C2ST(context.Background(), x.Slice(0, 2, 0, 2).(*mat.Dense), y.Slice(0, 2, 0, 2).(*mat.Dense), rng,
		&C2STSettings{Folds: 2, EarlyStopping: true, MaxEpochs: 5})
	if err != nil || tiny.Accuracy < 0 || tiny.Accuracy > 1 {
		t.Errorf("two rows per sample: accuracy %v, error %v", tiny, err)
	}
	if _, err := C2ST(context.Background(), x, y, nil, nil); !errors.Is(err, ErrSettings) {
		t.Errorf("nil rng: error %v, want ErrSettings", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := C2ST(ctx, x, y, rng, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: error %v, want context.Canceled", err)
	}
}
