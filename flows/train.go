package flows

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/gosbi/gosbi/nn"
	"gonum.org/v1/gonum/mat"
)

// Settings tunes one training run. The zero value (and a nil *Settings)
// means sbi's defaults.
type Settings struct {
	// BatchSize is the number of training rows per step; zero means 200.
	// When the training split has fewer rows, one step per epoch uses them all.
	BatchSize int
	// LearningRate is Adam's step size; zero means 5e-4.
	LearningRate float64
	// ValidationFraction is the fraction of rows held out for early stopping;
	// zero means 0.1. At least one row is held out.
	ValidationFraction float64
	// StopAfterEpochs stops training after this many epochs without an
	// improvement of the validation loss; zero means 20.
	StopAfterEpochs int
	// MaxEpochs caps the number of epochs; zero means 2³¹-1.
	MaxEpochs int
	// ClipNorm is the maximal total gradient norm (PyTorch's
	// clip_grad_norm_); zero means 5, a negative value disables clipping.
	ClipNorm float64
	// KeepLastBatch keeps the last, partial training batch of each epoch;
	// by default it is dropped, as sbi does.
	KeepLastBatch bool
	// OnEpoch, if non-nil, is called after every epoch; a non-nil error stops
	// training (the best weights are restored and the error is returned).
	OnEpoch func(EpochStats) error
}

func (s *Settings) withDefaults() (Settings, error) {
	var r Settings
	if s != nil {
		r = *s
	}
	if r.BatchSize == 0 {
		r.BatchSize = 200
	}
	if r.LearningRate == 0 {
		r.LearningRate = 5e-4
	}
	if r.ValidationFraction == 0 {
		r.ValidationFraction = 0.1
	}
	if r.StopAfterEpochs == 0 {
		r.StopAfterEpochs = 20
	}
	if r.MaxEpochs == 0 {
		r.MaxEpochs = math.MaxInt32
	}
	if r.ClipNorm == 0 {
		r.ClipNorm = 5
	}
	switch {
	case r.BatchSize < 1:
		return r, fmt.Errorf("flows: batch size %d: %w", r.BatchSize, ErrConfig)
	case !(r.LearningRate > 0) || math.IsInf(r.LearningRate, 0):
		return r, fmt.Errorf("flows: learning rate %v: %w", r.LearningRate, ErrConfig)
	case !(r.ValidationFraction > 0 && r.ValidationFraction < 1):
		return r, fmt.Errorf("flows: validation fraction %v: want a number in (0, 1): %w", r.ValidationFraction, ErrConfig)
	case r.StopAfterEpochs < 1:
		return r, fmt.Errorf("flows: stop after %d epochs: %w", r.StopAfterEpochs, ErrConfig)
	case r.MaxEpochs < 1:
		return r, fmt.Errorf("flows: max epochs %d: %w", r.MaxEpochs, ErrConfig)
	case math.IsNaN(r.ClipNorm):
		return r, fmt.Errorf("flows: clip norm NaN: %w", ErrConfig)
	}
	return r, nil
}

// EpochStats reports one finished epoch.
type EpochStats struct {
	// Epoch counts from 1.
	Epoch int
	// TrainLoss is the mean loss of the epoch's training steps (NaN if
	// every step was skipped).
	TrainLoss float64
	// ValLoss is the loss on the whole validation split after the epoch;
	// +Inf when it is not finite (NaN or ±Inf), which never counts as an
	// improvement.
	ValLoss float64
	// BestValLoss and BestEpoch are the best validation loss so far and its epoch.
	BestValLoss float64
	BestEpoch   int
	// Steps is the number of optimiser steps of the epoch; Skipped counts the
	// steps skipped because the loss or gradient was not finite.
	Steps, Skipped int
	// Duration is the wall time of the epoch (training and validation);
	// Elapsed the time since training started.
	Duration, Elapsed time.Duration
}

// TrainResult summarises a training run.
type TrainResult struct {
	// Epochs is the number of completed epochs.
	Epochs int
	// BestEpoch and BestValLoss identify the restored weights (BestEpoch 0
	// if no epoch completed).
	BestEpoch   int
	BestValLoss float64
	// Converged reports that training stopped because the validation loss
	// did not improve for StopAfterEpochs epochs.
	Converged bool
	// NumTrain and NumVal are the sizes of the training and validation splits.
	NumTrain, NumVal int
	// Skipped is the number of optimiser steps skipped over the whole run
	// because the loss or the gradient norm was NaN or infinite (see
	// EpochStats.Skipped for each epoch).
	Skipped int
	// History has one entry per completed epoch.
	History []EpochStats
	// Runtime is the total wall time.
	Runtime time.Duration
}

// LossFunc returns a 1×1 loss for the rows idx of a data set, computed on
// tape tp. It must be the mean of a per-row loss over idx (validation
// averages it over chunks weighted by their length). During validation tp is
// in NoGrad mode.
type LossFunc func(tp *nn.Tape, idx []int) *nn.Tensor

// Fit minimises loss over n data rows by Adam on params: the generic loop
// behind Train, for custom losses (e.g. SNPE-C's atomic loss or classifier
// losses). It splits the rows at random (from rng) into training and
// validation sets (sbi's split: the first ⌊(1-f)·n⌋ rows of a random
// permutation train), shuffles the training rows every epoch from rng, takes
// steps on batches (dropping the last partial batch unless KeepLastBatch),
// clips the total gradient norm, evaluates the validation loss after every
// epoch, and stops after StopAfterEpochs epochs without improvement or after
// MaxEpochs, restoring the parameters of the best validation epoch.
//
// Numerical safety: a step whose loss or gradient norm is NaN or infinite
// is skipped (the parameters are not touched) and counted in
// EpochStats.Skipped and TrainResult.Skipped; a non-finite validation loss
// counts as +Inf, never an improvement. If every step of an epoch is
// skipped, training cannot progress (the parameters no longer change), so
// Fit stops, restores the best parameters and returns the result with an
// error wrapping ErrNonFinite; it does the same when no epoch reached a
// finite validation loss, restoring the initial parameters. The parameters
// after Fit returns are thus always those of a finite validation loss or
// the initial ones, never the product of a diverged step.
//
// When ctx is cancelled or OnEpoch returns an error, Fit restores the best
// parameters so far and returns the result with an error wrapping the cause.
// Errors wrap ErrConfig for invalid settings and ErrData for n < 2.
func Fit(ctx context.Context, params []*nn.Tensor, n int, loss LossFunc, rng *rand.Rand, settings *Settings) (*TrainResult, error) {
	s, err := settings.withDefaults()
	if err != nil {
		return nil, err
	}
	if n < 2 {
		return nil, fmt.Errorf("flows: %d rows: need at least 2 to hold out a validation row: %w", n, ErrData)
	}
	start := time.Now()
	perm := rng.Perm(n)
	nTrain := int((1 - s.ValidationFraction) * float64(n))
	nTrain = min(max(nTrain, 1), n-1)
	train, val := perm[:nTrain], perm[nTrain:]
	res := &TrainResult{NumTrain: nTrain, NumVal: n - nTrain, BestValLoss: math.Inf(1)}

	bs := min(s.BatchSize, nTrain)
	opt := nn.NewAdam(params, s.LearningRate)
	best := make([][]float64, len(params))
	for i, p := range params {
		best[i] = append([]float64(nil), p.Data...)
	}
	restore := func() {
		for i, p := range params {
			copy(p.Data, best[i])
		}
	}
	nn.ZeroGrad(params)
	tp := nn.NewTape()
	vtp := nn.NewNoGradTape()
	sinceBest := 0
	for epoch := 1; epoch <= s.MaxEpochs; epoch++ {
		t0 := time.Now()
		rng.Shuffle(len(train), func(i, j int) { train[i], train[j] = train[j], train[i] })
		var sum float64
		var steps, skipped int
		for from := 0; from < nTrain; from += bs {
			to := from + bs
			if to > nTrain {
				if !s.KeepLastBatch {
					break
				}
				to = nTrain
			}
			if err := ctx.Err(); err != nil {
				restore()
				res.Runtime = time.Since(start)
				return res, fmt.Errorf("flows: training interrupted: %w", err)
			}
			tp.Reset()
			l := loss(tp, train[from:to])
			lv := l.Item()
			if math.IsNaN(lv) || math.IsInf(lv, 0) {
				skipped++
				continue
			}
			tp.Backward(l)
			norm := nn.GradNorm(params)
			if math.IsNaN(norm) || math.IsInf(norm, 0) {
				nn.ZeroGrad(params)
				skipped++
				continue
			}
			if s.ClipNorm > 0 {
				nn.ClipGradNorm(params, s.ClipNorm)
			}
			opt.Step()
			opt.ZeroGrad()
			sum += lv
			steps++
		}
		vl := validationLoss(vtp, val, bs, loss)
		trainLoss := math.NaN()
		if steps > 0 {
			trainLoss = sum / float64(steps)
		}
		st := EpochStats{Epoch: epoch, TrainLoss: trainLoss, ValLoss: vl, Steps: steps, Skipped: skipped}
		res.Skipped += skipped
		if vl < res.BestValLoss {
			res.BestValLoss, res.BestEpoch = vl, epoch
			for i, p := range params {
				copy(best[i], p.Data)
			}
			sinceBest = 0
		} else {
			sinceBest++
		}
		st.BestValLoss, st.BestEpoch = res.BestValLoss, res.BestEpoch
		st.Duration, st.Elapsed = time.Since(t0), time.Since(start)
		res.History = append(res.History, st)
		res.Epochs = epoch
		if s.OnEpoch != nil {
			if err := s.OnEpoch(st); err != nil {
				restore()
				res.Runtime = time.Since(start)
				return res, fmt.Errorf("flows: training stopped by OnEpoch: %w", err)
			}
		}
		if steps == 0 {
			restore()
			res.Runtime = time.Since(start)
			restored := "the initial weights"
			if res.BestEpoch > 0 {
				restored = fmt.Sprintf("the weights of epoch %d", res.BestEpoch)
			}
			return res, fmt.Errorf("flows: epoch %d: all %d training steps had a non-finite loss or gradient; restored %s: %w",
				epoch, skipped, restored, ErrNonFinite)
		}
		if sinceBest >= s.StopAfterEpochs {
			res.Converged = true
			break
		}
	}
	restore()
	res.Runtime = time.Since(start)
	if res.BestEpoch == 0 {
		return res, fmt.Errorf("flows: no epoch of %d reached a finite validation loss; restored the initial weights: %w", res.Epochs, ErrNonFinite)
	}
	return res, nil
}

// validationLoss returns the mean loss over idx, evaluated in chunks of bs
// rows on the NoGrad tape tp. A non-finite mean (NaN, +Inf or -Inf) counts
// as +Inf: never an improvement.
func validationLoss(tp *nn.Tape, idx []int, bs int, loss LossFunc) float64 {
	var sum float64
	for from := 0; from < len(idx); from += bs {
		to := min(len(idx), from+bs)
		tp.Reset()
		sum += loss(tp, idx[from:to]).Item() * float64(to-from)
	}
	tp.Reset()
	v := sum / float64(len(idx))
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return math.Inf(1)
	}
	return v
}

// Train fits flow to the rows of x (and contexts c, nil for an
// unconditional flow) by maximum likelihood: Fit with the loss -mean log
// p(x_i | c_i). It does not refit the flow's standardisation (the presets fit
// it when building). Errors wrap ErrData for empty data, NaN or Inf values,
// mismatched row counts or dimensions, and ErrConfig for invalid settings;
// cancellation returns the best weights so far with an error wrapping
// ctx.Err().
func Train(ctx context.Context, flow *Flow, x, c *mat.Dense, rng *rand.Rand, settings *Settings) (*TrainResult, error) {
	if err := checkTrainingData(x, c); err != nil {
		return nil, err
	}
	n, d := x.Dims()
	if d != flow.Dim() {
		return nil, fmt.Errorf("flows: data has %d columns, flow dimension %d: %w", d, flow.Dim(), ErrData)
	}
	if (c == nil) != (flow.ContextDim() == 0) {
		return nil, fmt.Errorf("flows: context given %v, flow context dimension %d: %w", c != nil, flow.ContextDim(), ErrData)
	}
	var cd int
	if c != nil {
		if _, cd = c.Dims(); cd != flow.ContextDim() {
			return nil, fmt.Errorf("flows: context has %d columns, flow context dimension %d: %w", cd, flow.ContextDim(), ErrData)
		}
	}
	xs := denseData(x)
	var cs []float64
	if c != nil {
		cs = denseData(c)
	}
	loss := func(tp *nn.Tape, idx []int) *nn.Tensor {
		xb := gatherRows(tp, xs, d, idx)
		var cb *nn.Tensor
		if cs != nil {
			cb = gatherRows(tp, cs, cd, idx)
		}
		return tp.Neg(tp.Mean(flow.LogProb(tp, xb, cb)))
	}
	return Fit(ctx, flow.Params(), n, loss, rng, settings)
}

// denseData returns m's values as a contiguous row-major slice (a copy).
func denseData(m *mat.Dense) []float64 {
	r, c := m.Dims()
	out := make([]float64, 0, r*c)
	for i := 0; i < r; i++ {
		out = append(out, m.RawRowView(i)...)
	}
	return out
}

// gatherRows copies rows idx of the row-major r×d data into an arena tensor.
func gatherRows(tp *nn.Tape, data []float64, d int, idx []int) *nn.Tensor {
	t := tp.New(len(idx), d)
	for i, j := range idx {
		copy(t.Data[i*d:(i+1)*d], data[j*d:(j+1)*d])
	}
	return t
}
