package flows

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gosbi/gosbi/nn"
)

// partsRun is one training run of the Parts tests.
type partsRun struct {
	res     *TrainResult
	params  []float64
	maxRows int // most rows of one loss call during training
}

// trainParts trains a small MAF (1 transform, 8 hidden units) on 300
// linear-Gaussian pairs, seed 21, by fit with the given settings; auto is
// fit's autoParts (true: Train's defaults). It records the largest number
// of rows a training loss call received.
func trainParts(t *testing.T, s Settings, auto bool) partsRun {
	t.Helper()
	rng := rand.New(rand.NewPCG(21, 1))
	th, x := linearGaussianData(300, rng)
	f, err := MAF{Transforms: 1, Hidden: 8}.Build(x, th, rng)
	if err != nil {
		t.Fatal(err)
	}
	xs, cs := denseData(x), denseData(th)
	var (
		maxRows  atomic.Int64
		training atomic.Bool
	)
	s.OnEpoch = func(EpochStats) error { return nil }
	loss := func(tp *nn.Tape, idx []int) *nn.Tensor {
		if !tp.NoGrad {
			training.Store(true)
			for {
				m := maxRows.Load()
				if int64(len(idx)) <= m || maxRows.CompareAndSwap(m, int64(len(idx))) {
					break
				}
			}
		}
		return tp.Neg(tp.Mean(f.LogProb(tp, gatherRows(tp, xs, 2, idx), gatherRows(tp, cs, 2, idx))))
	}
	res, err := fit(context.Background(), f.Params(), 300, loss, rng, &s, auto)
	if err != nil {
		t.Fatal(err)
	}
	var run partsRun
	run.res, run.maxRows = res, int(maxRows.Load())
	for _, p := range f.Params() {
		run.params = append(run.params, p.Data...)
	}
	return run
}

// TestFitPartsIndependentOfGOMAXPROCS: with Parts fixed, the parameters and
// history are bit for bit the same for GOMAXPROCS 1, 2 and 3. Not
// parallel: it changes GOMAXPROCS, which is global.
func TestFitPartsIndependentOfGOMAXPROCS(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for _, parts := range []int{2, 3} {
		s := Settings{BatchSize: 64, MaxEpochs: 3, Parts: parts}
		var want partsRun
		for i, procs := range []int{1, 2, 3} {
			runtime.GOMAXPROCS(procs)
			got := trainParts(t, s, false)
			// 270 training rows in batches of 64 cut into parts of
			// ⌊64/parts⌋ or ⌈64/parts⌉ rows: the largest is ⌈64/parts⌉.
			if w := (64 + parts - 1) / parts; got.maxRows != w {
				t.Fatalf("parts %d: the largest training loss call had %d rows, want %d", parts, got.maxRows, w)
			}
			if i == 0 {
				want = got
				continue
			}
			sameRun(t, ckRun{res: got.res, params: got.params}, ckRun{res: want.res, params: want.params})
		}
	}
}

// TestFitPartsDefaults: Fit is serial unless Parts says otherwise; Train
// (autoParts) cuts batches of at least 128 rows in two.
func TestFitPartsDefaults(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		batch, parts int
		auto         bool
		wantRows     int
	}{
		{batch: 200, auto: false, wantRows: 200},
		{batch: 200, auto: true, wantRows: 100},
		{batch: 127, auto: true, wantRows: 127},
		{batch: 128, auto: true, wantRows: 64},
		{batch: 200, parts: 1, auto: true, wantRows: 200},
		{batch: 200, parts: 4, auto: false, wantRows: 50},
		// Parts above the batch size act as the batch size: one row per part.
		{batch: 5, parts: 9, auto: false, wantRows: 1},
		// A batch larger than the 270 training rows is capped first.
		{batch: 1000, auto: true, wantRows: 135},
	} {
		t.Run(fmt.Sprintf("batch %d parts %d auto %v", tc.batch, tc.parts, tc.auto), func(t *testing.T) {
			t.Parallel()
			got := trainParts(t, Settings{BatchSize: tc.batch, Parts: tc.parts, MaxEpochs: 1}, tc.auto)
			if got.maxRows != tc.wantRows {
				t.Errorf("largest training loss call: got %d rows, want %d", got.maxRows, tc.wantRows)
			}
		})
	}
	if got := DefaultParts(127); got != 1 {
		t.Errorf("DefaultParts(127): got %d, want 1", got)
	}
	if got := DefaultParts(128); got != 2 {
		t.Errorf("DefaultParts(128): got %d, want 2", got)
	}
	_, err := Fit(context.Background(), nil, 10, nil, rand.New(rand.NewPCG(1, 1)), &Settings{Parts: -1})
	if !errors.Is(err, ErrConfig) {
		t.Errorf("Parts -1: got error %v, want ErrConfig", err)
	}
}

// TestStepperPartsGradient: the gradient of a batch cut into parts equals
// the serial batch-mean gradient up to rounding, including parts of
// unequal size (whose weights m_k/B are then unequal: weighting the parts
// equally would be off by O(1)).
func TestStepperPartsGradient(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(22, 1))
	th, x := linearGaussianData(64, rng)
	f, err := NSF{Transforms: 2, Hidden: 8, Bins: 4}.Build(x, th, rng)
	if err != nil {
		t.Fatal(err)
	}
	params := f.Params()
	xs, cs := denseData(x), denseData(th)
	loss := func(tp *nn.Tape, idx []int) *nn.Tensor {
		return tp.Neg(tp.Mean(f.LogProb(tp, gatherRows(tp, xs, 2, idx), gatherRows(tp, cs, 2, idx))))
	}
	grads := func(parts int, idx []int) (float64, []float64) {
		st := newStepper(params, loss, parts)
		defer st.close()
		nn.ZeroGrad(params)
		lv := st.grad(idx)
		var g []float64
		for _, p := range params {
			g = append(g, p.Grad...)
		}
		nn.ZeroGrad(params)
		return lv, g
	}
	for _, rows := range []int{7, 64} {
		idx := rng.Perm(64)[:rows]
		wantL, want := grads(1, idx)
		for _, parts := range []int{2, 3} {
			gotL, got := grads(parts, idx)
			// Rounding only: sums over at most 64 rows in another order
			// differ by a few ulps (measured: 1e-16 to 2.3e-16 relative);
			// 1e-10 leaves ample room and is far below the error of a
			// wrong weighting (1/parts per part: 6e-3 to 8e-2).
			if math.Abs(gotL-wantL) > 1e-10*math.Abs(wantL) {
				t.Errorf("%d rows, %d parts: loss %v, serial %v", rows, parts, gotL, wantL)
			}
			var diff, norm float64
			for i := range want {
				diff += (got[i] - want[i]) * (got[i] - want[i])
				norm += want[i] * want[i]
			}
			t.Logf("%d rows, %d parts: |Δgrad|/|grad| = %.2g", rows, parts, math.Sqrt(diff/norm))
			if !(norm > 0) || math.Sqrt(diff) > 1e-10*math.Sqrt(norm) {
				t.Errorf("%d rows, %d parts: |Δgrad| = %g, |grad| = %g", rows, parts, math.Sqrt(diff), math.Sqrt(norm))
			}
		}
	}
}

// TestFitPartsTrajectory: Parts 1 and 2 follow the same trajectory up to
// rounding for a few epochs.
func TestFitPartsTrajectory(t *testing.T) {
	t.Parallel()
	s := Settings{BatchSize: 64, MaxEpochs: 4}
	want := trainParts(t, s, false)
	s.Parts = 2
	got := trainParts(t, s, false)
	if got.res.Epochs != 4 || want.res.Epochs != 4 {
		t.Fatalf("got %d and %d epochs, want 4", got.res.Epochs, want.res.Epochs)
	}
	// 16 Adam steps from gradients that differ by a few 1e-16 relative
	// (TestStepperPartsGradient): the losses stay within 1e-10 relative
	// (measured: 2.5e-16), a bound six orders above the rounding and far
	// below any real difference of trajectory.
	const tol = 1e-10
	var worst float64
	for i, g := range got.res.History {
		w := want.res.History[i]
		worst = max(worst, math.Abs(g.TrainLoss-w.TrainLoss)/math.Abs(w.TrainLoss), math.Abs(g.ValLoss-w.ValLoss)/math.Abs(w.ValLoss))
		if math.Abs(g.TrainLoss-w.TrainLoss) > tol*math.Abs(w.TrainLoss) || math.Abs(g.ValLoss-w.ValLoss) > tol*math.Abs(w.ValLoss) {
			t.Errorf("epoch %d: got losses %v/%v, serial %v/%v", i+1, g.TrainLoss, g.ValLoss, w.TrainLoss, w.ValLoss)
		}
	}
	t.Logf("largest relative difference of the epoch losses: %.2g", worst)
	for i := range got.params {
		if math.Abs(got.params[i]-want.params[i]) > tol*max(1, math.Abs(want.params[i])) {
			t.Fatalf("parameter %d: got %v, serial %v", i, got.params[i], want.params[i])
		}
	}
}

// TestValidatorIndependentOfParts: the validation loss is bit for bit the
// same for any number of goroutines, and is the row-weighted mean of the
// chunk means.
func TestValidatorIndependentOfParts(t *testing.T) {
	t.Parallel()
	// A loss whose value is the mean of sin(row) over the chunk.
	loss := func(tp *nn.Tape, idx []int) *nn.Tensor {
		v := tp.New(len(idx), 1)
		for i, j := range idx {
			v.Data[i] = math.Sin(float64(j))
		}
		return tp.Mean(v)
	}
	idx := rand.New(rand.NewPCG(23, 1)).Perm(1003)
	var want float64
	for _, j := range idx {
		want += math.Sin(float64(j))
	}
	want /= float64(len(idx))
	var first float64
	for i, parts := range []int{1, 2, 3, 7, 20} {
		got := newValidator(parts).loss(idx, 100, loss)
		if i == 0 {
			first = got
		}
		if math.Float64bits(got) != math.Float64bits(first) {
			t.Errorf("%d goroutines: got %v, with 1: %v (bit for bit)", parts, got, first)
		}
		// 11 chunks summed in another grouping: a few ulps.
		if math.Abs(got-want) > 1e-14 {
			t.Errorf("%d goroutines: got %v, want %v", parts, got, want)
		}
	}
	// Non-finite means count as +Inf; a panic of a part reaches the caller.
	nan := func(tp *nn.Tape, idx []int) *nn.Tensor {
		v := tp.New(1, 1)
		if idx[0] == idx[0] && len(idx) < 100 {
			v.Data[0] = math.NaN()
		}
		return v
	}
	if got := newValidator(2).loss(idx, 100, nan); !math.IsInf(got, 1) {
		t.Errorf("NaN chunk: got %v, want +Inf", got)
	}
	func() {
		defer func() {
			if r := recover(); r != "boom" {
				t.Errorf("got panic %v, want boom", r)
			}
		}()
		newValidator(3).loss(idx, 100, func(tp *nn.Tape, idx []int) *nn.Tensor {
			if len(idx) < 100 {
				panic("boom") // the last chunk, on goroutine 10 mod 3 = 1
			}
			return tp.New(1, 1)
		})
	}()
}

// TestFitPartsResume: checkpoint and resume are bit-identical with Parts 2,
// and a checkpoint of a Parts 2 run is rejected by a serial run.
func TestFitPartsResume(t *testing.T) {
	t.Parallel()
	settings := ckSettings
	settings.Parts = 2
	want := ckTrain(t, nil, settings, nil, 0)
	if want.err != nil || want.res.Epochs < 4 {
		t.Fatalf("uninterrupted run: %d epochs, %v; the test needs at least 4", want.res.Epochs, want.err)
	}
	serial := ckTrain(t, nil, ckSettings, nil, 0)
	if serial.res.Epochs < 3 || math.Abs(serial.res.History[2].ValLoss-want.res.History[2].ValLoss) > 1e-9*math.Abs(serial.res.History[2].ValLoss) {
		t.Errorf("epoch 3 validation loss: Parts 2 %v, serial %v", want.res.History[2].ValLoss, serial.res.History[2].ValLoss)
	}
	for _, tc := range []struct {
		name   string
		hook   func(epoch int, cancel func())
		atCall int
	}{
		{name: "cancel after epoch 2", hook: func(e int, cancel func()) {
			if e == 2 {
				cancel()
			}
		}},
		// Epoch 1: 5 steps of 2 loss calls and 1 validation chunk; call 15
		// is a part of the third step of epoch 2.
		{name: "cancel mid-epoch", atCall: 15},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			ck := &CheckpointSettings{Path: filepath.Join(dir, "ck"), Tag: "parts"}
			first := ckTrain(t, ck, settings, tc.hook, tc.atCall)
			if !errors.Is(first.err, context.Canceled) {
				t.Fatalf("interrupted run: got error %v, want context.Canceled", first.err)
			}
			// A serial run does not continue it.
			if got := ckTrain(t, ck, ckSettings, nil, 0); !errors.Is(got.err, ErrCheckpoint) {
				t.Fatalf("serial run on a Parts 2 checkpoint: got error %v, want ErrCheckpoint", got.err)
			}
			second := ckTrain(t, ck, settings, nil, 0)
			if second.err != nil {
				t.Fatal(second.err)
			}
			sameRun(t, second, want)
		})
	}
}

// TestFitPartsStepAllocs: a step cut into parts makes no allocation in
// steady state (nn.DataParallel reuses its tapes and buffers).
func TestFitPartsStepAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	rng := rand.New(rand.NewPCG(24, 1))
	th, x := linearGaussianData(128, rng)
	f, err := MAF{Transforms: 2, Hidden: 8}.Build(x, th, rng)
	if err != nil {
		t.Fatal(err)
	}
	params := f.Params()
	xs, cs := denseData(x), denseData(th)
	loss := func(tp *nn.Tape, idx []int) *nn.Tensor {
		return tp.Neg(tp.Mean(f.LogProb(tp, gatherRows(tp, xs, 2, idx), gatherRows(tp, cs, 2, idx))))
	}
	st := newStepper(params, loss, 2)
	defer st.close()
	idx := rng.Perm(128)
	step := func() {
		st.grad(idx)
		nn.ZeroGrad(params)
	}
	step()
	step()
	// Zero in practice; the bound leaves room for runtime-internal
	// allocations (goroutine hand-offs) that are not ours.
	if a := testing.AllocsPerRun(20, step); a > 2 {
		t.Errorf("%v allocations per step with 2 parts, want at most 2", a)
	}
}

// TestFitPartsConcurrentLoss checks under -race that the parts really run
// concurrently on distinct tapes: two parts meet at a barrier inside the
// loss (with GOMAXPROCS 1 too, since goroutines interleave).
func TestFitPartsConcurrentLoss(t *testing.T) {
	t.Parallel()
	p := nn.NewParam("p", 1, 1)
	var (
		mu      sync.Mutex
		waiting int
		release = make(chan struct{})
		met     atomic.Bool
	)
	loss := func(tp *nn.Tape, idx []int) *nn.Tensor {
		if !met.Load() && !tp.NoGrad {
			mu.Lock()
			waiting++
			if waiting == 2 {
				met.Store(true)
				close(release)
			}
			mu.Unlock()
			<-release
		}
		v := tp.New(len(idx), 1)
		for i, j := range idx {
			v.Data[i] = float64(j)
		}
		return tp.Mean(tp.Square(tp.Sub(p, v)))
	}
	res, err := Fit(context.Background(), []*nn.Tensor{p}, 40, loss, rand.New(rand.NewPCG(25, 1)),
		&Settings{BatchSize: 8, MaxEpochs: 2, Parts: 2})
	if err != nil || res.Epochs != 2 {
		t.Fatalf("got %v epochs, error %v", res, err)
	}
	if !met.Load() {
		t.Error("the two parts never ran at the same time")
	}
}
