package flows

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gosbi/gosbi/nn"
	"gonum.org/v1/gonum/mat"
)

// linearGaussianData returns n pairs θ ~ N(0, I₂), x | θ ~ N(Aθ + b, Σ).
func linearGaussianData(n int, rng *rand.Rand) (theta, x *mat.Dense) {
	theta = randDense(n, 2, 0, 1, rng)
	x = mat.NewDense(n, 2, nil)
	for i := 0; i < n; i++ {
		m := linGaussMean(theta.RawRowView(i))
		z0, z1 := rng.NormFloat64(), rng.NormFloat64()
		x.Set(i, 0, m[0]+linGaussL[0][0]*z0)
		x.Set(i, 1, m[1]+linGaussL[1][0]*z0+linGaussL[1][1]*z1)
	}
	return theta, x
}

// The linear Gaussian model: A = [[1, 0.5], [-0.3, 0.8]], b = (0.5, -1),
// Σ = L·Lᵀ with L = [[0.5, 0], [0.3, 0.4]] (correlated noise).
var linGaussL = [2][2]float64{{0.5, 0}, {0.3, 0.4}}

func linGaussMean(th []float64) [2]float64 {
	return [2]float64{0.5 + th[0] + 0.5*th[1], -1 - 0.3*th[0] + 0.8*th[1]}
}

// linGaussLogProb returns log N(x; Aθ + b, Σ).
func linGaussLogProb(x, th []float64) float64 {
	m := linGaussMean(th)
	// Solve L·u = x - m.
	u0 := (x[0] - m[0]) / linGaussL[0][0]
	u1 := (x[1] - m[1] - linGaussL[1][0]*u0) / linGaussL[1][1]
	return -0.5*(u0*u0+u1*u1) - math.Log(2*math.Pi) - math.Log(linGaussL[0][0]*linGaussL[1][1])
}

func TestTrainDeterministic(t *testing.T) {
	t.Parallel()
	run := func() (*TrainResult, []float64) {
		rng := rand.New(rand.NewPCG(11, 1))
		th, x := linearGaussianData(300, rng)
		f, err := MAF{Transforms: 1, Hidden: 8}.Build(x, th, rng)
		if err != nil {
			t.Fatal(err)
		}
		res, err := Train(context.Background(), f, x, th, rng, &Settings{BatchSize: 50, MaxEpochs: 3})
		if err != nil {
			t.Fatal(err)
		}
		var ps []float64
		for _, p := range f.Params() {
			ps = append(ps, p.Data...)
		}
		return res, ps
	}
	r1, p1 := run()
	r2, p2 := run()
	if r1.Epochs != 3 || len(r1.History) != 3 {
		t.Fatalf("got %d epochs and %d history entries, want 3", r1.Epochs, len(r1.History))
	}
	for i := range r1.History {
		if r1.History[i].TrainLoss != r2.History[i].TrainLoss || r1.History[i].ValLoss != r2.History[i].ValLoss {
			t.Errorf("epoch %d: losses %v/%v and %v/%v differ between identical runs", i+1,
				r1.History[i].TrainLoss, r1.History[i].ValLoss, r2.History[i].TrainLoss, r2.History[i].ValLoss)
		}
	}
	for i := range p1 {
		if p1[i] != p2[i] {
			t.Fatalf("parameter %d: %v and %v differ between identical runs", i, p1[i], p2[i])
		}
	}
	// 300 rows, validation 10%: 270 train, 30 validation; 270/50 = 5 full batches.
	if r1.NumTrain != 270 || r1.NumVal != 30 || r1.History[0].Steps != 5 {
		t.Errorf("split %d/%d with %d steps per epoch, want 270/30 with 5", r1.NumTrain, r1.NumVal, r1.History[0].Steps)
	}
}

// TestFitEarlyStoppingRestoresBest drives Fit with a loss whose validation
// value is scripted per epoch, so the stopping epoch and restored weights
// are known exactly.
func TestFitEarlyStoppingRestoresBest(t *testing.T) {
	t.Parallel()
	p := nn.NewParam("p", 1, 1)
	// Validation losses by epoch: improve until epoch 3, then worse.
	script := []float64{5, 4, 3, 3.5, 3.2, 4, 10, 10}
	epoch := 0
	val := false
	loss := func(tp *nn.Tape, idx []int) *nn.Tensor {
		if tp.NoGrad {
			if !val {
				val = true
				epoch++
			}
			// Validation: a constant per epoch (mean over rows is the same).
			out := tp.New(1, 1)
			out.Data[0] = script[epoch-1]
			return out
		}
		val = false
		// Training: pull p towards 1 so that the weights change every epoch.
		return tp.Square(tp.Shift(p, -1))
	}
	var seen []int
	res, err := Fit(context.Background(), []*nn.Tensor{p}, 100, loss, rand.New(rand.NewPCG(1, 1)), &Settings{
		StopAfterEpochs: 3, BatchSize: 10, LearningRate: 0.01,
		OnEpoch: func(s EpochStats) error { seen = append(seen, s.Epoch); return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	// Best at epoch 3 (3 < 3.5, 3.2, 4); three epochs without improvement stop at 6.
	if res.Epochs != 6 || res.BestEpoch != 3 || !res.Converged || res.BestValLoss != 3 {
		t.Errorf("got epochs %d best %d (loss %v) converged %v, want 6, 3 (3), true", res.Epochs, res.BestEpoch, res.BestValLoss, res.Converged)
	}
	if len(seen) != 6 {
		t.Errorf("OnEpoch called for epochs %v, want 1…6", seen)
	}
	// The restored value is the one after epoch 3: 9 steps per epoch on p.
	q := nn.NewParam("q", 1, 1)
	opt := nn.NewAdam([]*nn.Tensor{q}, 0.01)
	for i := 0; i < 3*9; i++ {
		q.Grad[0] = 2 * (q.Data[0] - 1)
		opt.Step()
	}
	if p.Data[0] != q.Data[0] {
		t.Errorf("restored parameter %v, want the value after epoch 3, %v", p.Data[0], q.Data[0])
	}
}

func TestTrainCancelAndCallbackError(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(12, 1))
	th, x := linearGaussianData(200, rng)
	f, err := MAF{Transforms: 1, Hidden: 8}.Build(x, th, rng)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	res, err := Train(ctx, f, x, th, rng, &Settings{BatchSize: 20, OnEpoch: func(s EpochStats) error {
		if s.Epoch == 2 {
			cancel()
		}
		return nil
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Train after cancel: %v, want context.Canceled", err)
	}
	if res == nil || res.Epochs != 2 {
		t.Fatalf("result %+v, want 2 completed epochs", res)
	}
	// The restored weights give the best validation loss recorded.
	stop := errors.New("stop")
	res, err = Train(context.Background(), f, x, th, rng, &Settings{BatchSize: 20, OnEpoch: func(s EpochStats) error {
		if s.Epoch == 3 {
			return stop
		}
		return nil
	}})
	if !errors.Is(err, stop) || res.Epochs != 3 {
		t.Fatalf("Train with a failing OnEpoch: %v after %d epochs, want the callback's error after 3", err, res.Epochs)
	}
}

func TestTrainErrors(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(13, 1))
	th, x := linearGaussianData(50, rng)
	f, err := MAF{Transforms: 1, Hidden: 4}.Build(x, th, rng)
	if err != nil {
		t.Fatal(err)
	}
	nan := mat.DenseCopyOf(x)
	nan.Set(7, 0, math.NaN())
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		x, c *mat.Dense
		s    *Settings
		want error
	}{
		{"empty", &mat.Dense{}, th, nil, ErrData},
		{"NaN row", nan, th, nil, ErrData},
		{"row mismatch", x, th.Slice(0, 49, 0, 2).(*mat.Dense), nil, ErrData},
		{"missing context", x, nil, nil, ErrData},
		{"wrong x dimension", th.Slice(0, 50, 0, 1).(*mat.Dense), th, nil, ErrData},
		{"one row", x.Slice(0, 1, 0, 2).(*mat.Dense), th.Slice(0, 1, 0, 2).(*mat.Dense), nil, ErrData},
		{"bad batch", x, th, &Settings{BatchSize: -1}, ErrConfig},
		{"bad validation", x, th, &Settings{ValidationFraction: 1}, ErrConfig},
		{"bad lr", x, th, &Settings{LearningRate: math.Inf(1)}, ErrConfig},
	} {
		if _, err := Train(ctx, f, tc.x, tc.c, rng, tc.s); !errors.Is(err, tc.want) {
			t.Errorf("%s: Train error %v, want %v", tc.name, err, tc.want)
		}
	}
}

// TestTrainStepAllocs checks that a training step allocates a small constant
// number of times after warm-up (the tape's arena is reused). The flow is
// small so that gonum's GEMM stays serial (its parallel path allocates).
func TestTrainStepAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	rng := rand.New(rand.NewPCG(14, 1))
	th, x := linearGaussianData(64, rng)
	for _, build := range []func() (*Flow, error){
		func() (*Flow, error) { return MAF{Transforms: 2, Hidden: 8}.Build(x, th, rng) },
		func() (*Flow, error) { return NSF{Transforms: 2, Hidden: 8, Bins: 4}.Build(x, th, rng) },
	} {
		f, err := build()
		if err != nil {
			t.Fatal(err)
		}
		ps := f.Params()
		opt := nn.NewAdam(ps, 1e-3)
		xt, ct := nn.FromDense(x), nn.FromDense(th)
		tp := nn.NewTape()
		step := func() {
			tp.Reset()
			tp.Backward(tp.Neg(tp.Mean(f.LogProb(tp, xt, ct))))
			nn.ClipGradNorm(ps, 5)
			opt.Step()
			opt.ZeroGrad()
		}
		step()
		step()
		// Zero in practice; the bound leaves room for runtime-internal
		// allocations that are not ours.
		if a := testing.AllocsPerRun(20, step); a > 2 {
			t.Errorf("%d allocations per training step, want at most 2", int(a))
		}
		// The batch evaluation paths reuse pooled tapes.
		dst := make([]float64, 64)
		f.LogProbBatch(dst, x, th)
		if a := testing.AllocsPerRun(10, func() { f.LogProbBatch(dst, x, th) }); a > 2 {
			t.Errorf("%d allocations per LogProbBatch, want at most 2", int(a))
		}
		s := mat.NewDense(64, 2, nil)
		f.SampleBatch(s, th, rng)
		if a := testing.AllocsPerRun(10, func() { f.SampleBatch(s, th, rng) }); a > 2 {
			t.Errorf("%d allocations per SampleBatch, want at most 2", int(a))
		}
	}
}
