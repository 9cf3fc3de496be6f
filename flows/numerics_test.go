package flows

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gosbi/gosbi/nn"
	"gonum.org/v1/gonum/mat"
)

// extremeFlow is a flow under test for extreme inputs, with the
// standardisation its inputs are expressed in.
type extremeFlow struct {
	name      string
	f         *Flow
	mean, std float64 // of the data the presets were built from
}

// extremeFlows returns every preset (built from N(5, 3²) data, so that the
// z-scoring matters) and every transform of the invariant table wrapped in
// a flow, each at its initialisation and with its weights perturbed by
// N(0, s²) noise for s = 1 and 3: far from initialisation, with conditioner
// outputs (log-scales, spline logits) in the tens to hundreds, as after
// long training on badly scaled data.
func extremeFlows(t *testing.T) []extremeFlow {
	t.Helper()
	var out []extremeFlow
	for k, tc := range presetCases() {
		for _, s := range []float64{0, 1, 3} {
			rng := rand.New(rand.NewPCG(31, uint64(k)))
			x := randDense(64, tc.d, 5, 3, rng)
			var c *mat.Dense
			if tc.c > 0 {
				c = randDense(64, tc.c, 5, 3, rng)
			}
			f, err := tc.build(x, c, rng)
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			perturb(f.Params(), s, rng)
			out = append(out, extremeFlow{fmt.Sprintf("%s, weights +N(0,%g²)", tc.name, s), f, 5, 3})
		}
	}
	for k, tc := range transformCases() {
		for _, s := range []float64{0, 1, 3} {
			rng := rand.New(rand.NewPCG(32, uint64(k)))
			tr := tc.make(rng)
			perturb(tr.Params(), s, rng)
			f, err := NewFlow(tr, tc.d, FlowOptions{ContextDim: tc.c})
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			out = append(out, extremeFlow{fmt.Sprintf("transform %s, weights +N(0,%g²)", tc.name, s), f, 0, 1})
		}
	}
	return out
}

// extremeRows returns points with standardised coordinates v: all
// features at v, alternating signs, only the first feature at v, and only
// the last.
// Values beyond float64 (v = MaxFloat64 with std > 1) are clamped to
// ±MaxFloat64, so that every point is finite.
func extremeRows(d int, v, mean, std float64) *mat.Dense {
	at := func(v float64) float64 {
		x := mean + v*std
		if math.IsInf(x, 0) {
			return math.Copysign(math.MaxFloat64, v)
		}
		return x
	}
	m := mat.NewDense(4, d, nil)
	for j := 0; j < d; j++ {
		sign := float64(1 - 2*(j%2))
		m.Set(0, j, at(v))
		m.Set(1, j, at(sign*v))
		m.Set(2, j, mean)
		m.Set(3, j, mean)
	}
	m.Set(2, 0, at(v))
	m.Set(3, d-1, at(v))
	return m
}

// TestLogProbExtremeInputs checks that log-densities of finite points far
// in the tails are never NaN (nor +Inf), for every flow kind, through
// LogProbBatch, Conditioned.LogProb and Conditioned.LogProbGradBatch. Up to
// 1e8 standard deviations out they must be finite numbers with finite
// gradients; beyond, where intermediate values can overflow float64, -Inf
// (with a zero gradient) is allowed. Extreme contexts are checked with
// moderate data.
func TestLogProbExtremeInputs(t *testing.T) {
	t.Parallel()
	const finiteUpTo = 1e8 // the brief's bound: ±1e3 and ±1e8 after standardisation
	vals := []float64{1e3, -1e3, 1e8, -1e8, 1e15, -1e15, 1e100, 1e300, -1e300, math.MaxFloat64, -math.MaxFloat64}
	for _, ef := range extremeFlows(t) {
		f, d, cd := ef.f, ef.f.Dim(), ef.f.ContextDim()
		check := func(what string, v float64, lp []float64, grad *mat.Dense) {
			t.Helper()
			for i, l := range lp {
				if math.IsNaN(l) || math.IsInf(l, 1) {
					t.Errorf("%s: %s at %g: log-prob[%d] = %v, want a number or -Inf", ef.name, what, v, i, l)
					continue
				}
				if math.Abs(v) <= finiteUpTo && math.IsInf(l, -1) {
					t.Errorf("%s: %s at %g: log-prob[%d] = -Inf, want finite", ef.name, what, v, i)
				}
				if grad == nil {
					continue
				}
				for j, g := range grad.RawRowView(i) {
					if math.IsNaN(g) || (math.Abs(v) <= finiteUpTo && math.IsInf(g, 0)) {
						t.Errorf("%s: %s at %g: gradient[%d][%d] = %v, want finite", ef.name, what, v, i, j, g)
					}
				}
			}
		}
		ctx0 := make([]float64, cd)
		for j := range ctx0 {
			ctx0[j] = ef.mean
		}
		var c0 *mat.Dense
		if cd > 0 {
			c0 = mat.NewDense(1, cd, ctx0)
		}
		cond := f.condition(ctx0)
		for _, v := range vals {
			x := extremeRows(d, v, ef.mean, ef.std)
			check("LogProbBatch", v, f.LogProbBatch(nil, x, c0), nil)
			grad := mat.NewDense(4, d, nil)
			check("LogProbGradBatch", v, cond.LogProbGradBatch(nil, grad, x), grad)
			check("Conditioned.LogProb", v, []float64{cond.LogProb(x.RawRowView(0))}, nil)
			if cd == 0 {
				continue
			}
			// Moderate data, extreme contexts (one per data row).
			xm := extremeRows(d, 0.5, ef.mean, ef.std)
			cx := extremeRows(cd, v, ef.mean, ef.std)
			check("LogProbBatch with extreme context", v, f.LogProbBatch(nil, xm, cx), nil)
		}
	}
}

// TestLogProbNonFiniteInputsStayNaN checks that the overflow guard of
// LogProbBatch does not hide NaN inputs, nor a NaN produced by NaN weights.
func TestLogProbNonFiniteInputsStayNaN(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(33, 1))
	f, err := MAF{Transforms: 2, Hidden: 6}.Build(randDense(32, 2, 0, 1, rng), randDense(32, 1, 0, 1, rng), rng)
	if err != nil {
		t.Fatal(err)
	}
	c := mat.NewDense(1, 1, []float64{0})
	x := mat.NewDense(3, 2, []float64{math.NaN(), 0, math.Inf(1), 0, 0, 0})
	got := f.LogProbBatch(nil, x, c)
	if !math.IsNaN(got[0]) || !math.IsNaN(got[1]) {
		t.Errorf("log-probs of NaN and Inf inputs: got %v, want NaN", got[:2])
	}
	if math.IsNaN(got[2]) || math.IsInf(got[2], 0) {
		t.Errorf("log-prob at 0: got %v, want finite", got[2])
	}
	got = f.LogProbBatch(nil, x.Slice(2, 3, 0, 2).(*mat.Dense), mat.NewDense(1, 1, []float64{math.NaN()}))
	if !math.IsNaN(got[0]) {
		t.Errorf("log-prob at a NaN context: got %v, want NaN", got[0])
	}
	f.Params()[0].Data[0] = math.NaN()
	got = f.LogProbBatch(nil, x.Slice(2, 3, 0, 2).(*mat.Dense), c)
	if !math.IsNaN(got[0]) {
		t.Errorf("log-prob with a NaN weight: got %v, want NaN (a broken model must not look like a vanishing density)", got[0])
	}
}

// TestFitDivergenceRestoresLastGoodWeights drives Fit on a loss that turns
// NaN past a cliff, -p + 10⁻³·log(0.55 - p), pulling p from 0 towards 0.55
// and beyond (log of a negative number, as a diverging model produces).
// Steps beyond the cliff are skipped; once every step of an epoch is, Fit
// must stop with ErrNonFinite and restore p of the best epoch, the last one
// that ended before the cliff.
func TestFitDivergenceRestoresLastGoodWeights(t *testing.T) {
	t.Parallel()
	p := nn.NewParam("p", 1, 1)
	loss := func(tp *nn.Tape, idx []int) *nn.Tensor {
		return tp.Add(tp.Neg(p), tp.Scale(tp.Log(tp.Shift(tp.Neg(p), 0.55)), 1e-3))
	}
	var after []float64 // p after each epoch
	res, err := Fit(context.Background(), []*nn.Tensor{p}, 100, loss, rand.New(rand.NewPCG(1, 1)), &Settings{
		BatchSize: 10, LearningRate: 0.01, StopAfterEpochs: 50,
		OnEpoch: func(s EpochStats) error { after = append(after, p.Data[0]); return nil },
	})
	if !errors.Is(err, ErrNonFinite) {
		t.Fatalf("Fit past the cliff: error %v, want ErrNonFinite", err)
	}
	if res == nil || res.BestEpoch < 1 || res.Epochs != len(after) {
		t.Fatalf("result %+v with %d epochs seen, want a best epoch and every epoch reported", res, len(after))
	}
	if got, want := p.Data[0], after[res.BestEpoch-1]; got != want || !(got < 0.55) {
		t.Errorf("restored p = %v, want %v (after best epoch %d) and below the cliff 0.55", got, want, res.BestEpoch)
	}
	last := res.History[len(res.History)-1]
	if last.Steps != 0 || last.Skipped != 9 || !math.IsNaN(last.TrainLoss) || !math.IsInf(last.ValLoss, 1) {
		t.Errorf("last epoch: %d steps, %d skipped, train loss %v, val loss %v; want 0, 9 (90 training rows / 10), NaN, +Inf",
			last.Steps, last.Skipped, last.TrainLoss, last.ValLoss)
	}
	total := 0
	for _, h := range res.History {
		total += h.Skipped
		if h.Epoch <= res.BestEpoch && h.Skipped != 0 {
			t.Errorf("epoch %d before the cliff skipped %d steps, want 0", h.Epoch, h.Skipped)
		}
	}
	if res.Skipped != total || total < 9 {
		t.Errorf("TrainResult.Skipped = %d, want the sum over epochs %d (at least one epoch of 9)", res.Skipped, total)
	}
	// p moves by about the learning rate per step (Adam), so the cliff is
	// reached after about 55 steps: in epoch 7 of 9 steps each.
	if res.BestEpoch < 5 || res.BestEpoch > 7 {
		t.Errorf("best epoch %d, want 5…7 (cliff after about 55 steps of 0.01)", res.BestEpoch)
	}
}

// TestFitNonFiniteValidation covers validation losses that are never
// finite (initial weights restored, ErrNonFinite) and a -Inf validation
// loss, which must not count as the best epoch.
func TestFitNonFiniteValidation(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		val      func(epoch int) float64
		wantErr  bool
		wantBest int
	}{
		{"always NaN", func(int) float64 { return math.NaN() }, true, 0},
		{"always +Inf", func(int) float64 { return math.Inf(1) }, true, 0},
		{"-Inf at epoch 2", func(e int) float64 {
			if e == 2 {
				return math.Inf(-1)
			}
			return 10 - float64(min(e, 3)) // 9, -Inf, 7, 7, 7…: best is epoch 3
		}, false, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := nn.NewParam("p", 1, 1)
			p.Data[0] = 0.25
			epoch, inVal := 0, false
			loss := func(tp *nn.Tape, idx []int) *nn.Tensor {
				if tp.NoGrad {
					if !inVal {
						inVal = true
						epoch++
					}
					out := tp.New(1, 1)
					out.Data[0] = tc.val(epoch)
					return out
				}
				inVal = false
				return tp.Square(tp.Shift(p, -1))
			}
			var after []float64
			res, err := Fit(context.Background(), []*nn.Tensor{p}, 40, loss, rand.New(rand.NewPCG(2, 2)), &Settings{
				BatchSize: 6, LearningRate: 0.01, StopAfterEpochs: 3,
				OnEpoch: func(EpochStats) error { after = append(after, p.Data[0]); return nil },
			})
			if got := errors.Is(err, ErrNonFinite); got != tc.wantErr {
				t.Fatalf("error %v, want ErrNonFinite %v", err, tc.wantErr)
			}
			if res.BestEpoch != tc.wantBest {
				t.Errorf("best epoch %d, want %d", res.BestEpoch, tc.wantBest)
			}
			want := 0.25
			if tc.wantBest > 0 {
				want = after[tc.wantBest-1]
			}
			if p.Data[0] != want {
				t.Errorf("restored p = %v, want %v", p.Data[0], want)
			}
		})
	}
}

// TestTrainDivergedFlowRestored trains a real flow and breaks its weights
// after epoch 2 (as a diverged step would): every later step has a NaN
// loss, so Train must stop in epoch 3 with ErrNonFinite and leave the
// weights of the best epoch, whose log-densities are finite and equal to
// those recorded then.
func TestTrainDivergedFlowRestored(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(34, 1))
	th, x := linearGaussianData(200, rng)
	f, err := MAF{Transforms: 1, Hidden: 8}.Build(x, th, rng)
	if err != nil {
		t.Fatal(err)
	}
	var atEpoch [][]float64 // LogProbBatch on the data after each epoch
	res, err := Train(context.Background(), f, x, th, rng, &Settings{BatchSize: 20, OnEpoch: func(s EpochStats) error {
		atEpoch = append(atEpoch, f.LogProbBatch(nil, x, th))
		if s.Epoch == 2 {
			f.Params()[0].Data[0] = math.NaN()
		}
		return nil
	}})
	if !errors.Is(err, ErrNonFinite) {
		t.Fatalf("Train with broken weights: error %v, want ErrNonFinite", err)
	}
	if res.Epochs != 3 || res.BestEpoch < 1 || res.BestEpoch > 2 {
		t.Fatalf("stopped after %d epochs with best %d, want 3 and best 1 or 2", res.Epochs, res.BestEpoch)
	}
	got := f.LogProbBatch(nil, x, th)
	for i, v := range got {
		if w := atEpoch[res.BestEpoch-1][i]; v != w || math.IsNaN(v) || math.IsInf(v, 0) {
			t.Fatalf("log-prob[%d] after Train = %v, want %v of best epoch %d (finite)", i, v, w, res.BestEpoch)
		}
	}
}
