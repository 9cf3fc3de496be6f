package flows

import (
	"context"
	"fmt"
	"io"
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
	// After a resume it is called for the new epochs only.
	OnEpoch func(EpochStats) error
	// Checkpoint, if non-nil, makes Fit save its state to a file and resume
	// from it (see CheckpointSettings); nil means no checkpoints.
	Checkpoint *CheckpointSettings
	// Blocks, if non-nil, switches Fit to block mode: the rows form
	// consecutive blocks of these lengths (summing to the number of rows,
	// at least 2 blocks, lengths 0 allowed), the validation split takes
	// whole blocks and every epoch shuffles blocks, then rows within
	// windows of WindowBlocks blocks, so that a loss reading its data from
	// disk needs only the current window in memory. See
	// DefaultWindowBlocks for the exact order and SplitBlocks for the
	// split. nil means row mode (sbi's order).
	Blocks []int
	// WindowBlocks is the number of blocks per shuffling window in block
	// mode; zero means DefaultWindowBlocks(Blocks). Ignored in row mode.
	WindowBlocks int
	// Parts is the number of contiguous parts each training batch is cut
	// into, each part's loss and gradient computed on a goroutine of its
	// own (nn.DataParallel) and weighted by its share of the batch's rows,
	// so that the step uses the batch-mean gradient up to rounding;
	// validation chunks are spread over as many goroutines. The result
	// depends on Parts (through the rounding of the sums) but not on the
	// number of CPUs or GOMAXPROCS: the same seed and Parts give the same
	// result bit for bit on every machine. Parts above the batch size act
	// as the batch size.
	//
	// With Parts > 1 the loss is called concurrently on distinct tapes, so
	// it must be safe for that (read shared data only, as a Flow's LogProb
	// does) and must be the mean of independent per-row losses. A loss
	// that draws random numbers or contrasts the rows of a batch with each
	// other (SNPE-C's atomic loss, NRE) is neither: keep Parts at 1 for it.
	//
	// Zero means DefaultParts(batch) for Train, whose loss qualifies, and 1
	// (serial) for Fit, which cannot tell whether its loss does; batch is
	// the batch size, capped at the number of training rows. Negative
	// values are invalid.
	Parts int
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
	case r.Parts < 0:
		return r, fmt.Errorf("flows: %d parts per batch: %w", r.Parts, ErrConfig)
	case r.WindowBlocks < 0:
		return r, fmt.Errorf("flows: window of %d blocks: %w", r.WindowBlocks, ErrConfig)
	case r.Checkpoint != nil && r.Checkpoint.Path == "":
		return r, fmt.Errorf("flows: checkpoint with an empty path: %w", ErrConfig)
	case r.Checkpoint != nil && r.Checkpoint.Every < 0:
		return r, fmt.Errorf("flows: checkpoint every %d epochs: %w", r.Checkpoint.Every, ErrConfig)
	}
	if r.Checkpoint != nil {
		for i, x := range r.Checkpoint.State {
			if x == nil {
				return r, fmt.Errorf("flows: checkpoint state %d is nil: %w", i, ErrConfig)
			}
		}
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
// losses). It splits the rows at random into training and validation sets
// (sbi's split: the first ⌊(1-f)·n⌋ rows of rng.Perm(n) train), then draws
// two values from rng to seed its own rand.PCG, from which it shuffles the
// training rows every epoch (so Fit always takes the same number of draws
// from rng, and its random state can be checkpointed). It takes steps on
// batches (dropping the last partial batch unless KeepLastBatch), clips the
// total gradient norm, evaluates the validation loss after every epoch, and
// stops after StopAfterEpochs epochs without improvement or after
// MaxEpochs, restoring the parameters of the best validation epoch.
//
// With Settings.Blocks, Fit runs in block mode instead: the split takes
// whole blocks (SplitBlocks) and each epoch shuffles the training blocks,
// then the rows within windows of Settings.WindowBlocks blocks, so that a
// loss streaming its data from disk needs only about two windows of blocks
// in memory; validation walks the validation blocks in increasing order.
// See DefaultWindowBlocks for the precise order.
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
// With Settings.Parts > 1, every batch is cut into that many parts whose
// losses and gradients are computed on goroutines of their own, and
// validation chunks are spread over as many; the loss must then be safe
// for concurrent calls and a mean of independent per-row losses (see
// Settings.Parts). Fit's default is 1: serial steps.
//
// When ctx is cancelled (checked before every step) or OnEpoch returns an
// error, Fit restores the best parameters so far and returns the result
// with an error wrapping the cause. With Settings.Checkpoint, Fit saves its
// state first and resumes from it when called again (see
// CheckpointSettings). Errors wrap ErrConfig for invalid settings, ErrData
// for n < 2 and ErrCheckpoint for a checkpoint that cannot be read, belongs
// to another run or cannot be written.
func Fit(ctx context.Context, params []*nn.Tensor, n int, loss LossFunc, rng *rand.Rand, settings *Settings) (*TrainResult, error) {
	return fit(ctx, params, n, loss, rng, settings, false)
}

// fit is Fit; autoParts makes Parts = 0 mean DefaultParts (Train's loss is
// safe to split), otherwise 1.
func fit(ctx context.Context, params []*nn.Tensor, n int, loss LossFunc, rng *rand.Rand, settings *Settings, autoParts bool) (*TrainResult, error) {
	s, err := settings.withDefaults()
	if err != nil {
		return nil, err
	}
	if n < 2 {
		return nil, fmt.Errorf("flows: %d rows: need at least 2 to hold out a validation row: %w", n, ErrData)
	}
	start := time.Now()
	var (
		train, val []int
		plan       *blockPlan
	)
	if s.Blocks != nil {
		if err := checkBlocks(s.Blocks, n); err != nil {
			return nil, err
		}
		if plan, train, val, err = newBlockPlan(s.Blocks, s.ValidationFraction, s.WindowBlocks, rng); err != nil {
			return nil, err
		}
	} else {
		perm := rng.Perm(n)
		nTrain := int((1 - s.ValidationFraction) * float64(n))
		nTrain = min(max(nTrain, 1), n-1)
		train, val = perm[:nTrain], perm[nTrain:]
	}
	seed := [2]uint64{rng.Uint64(), rng.Uint64()}
	nTrain := len(train)
	parts := s.Parts
	if parts == 0 {
		parts = 1
		if autoParts {
			parts = DefaultParts(min(s.BatchSize, nTrain))
		}
	}
	parts = min(parts, s.BatchSize, nTrain)
	f := &fitter{
		s: s, params: params, loss: loss, n: n, nTrain: nTrain, parts: parts,
		train: train, val: val, blocks: plan,
		src: rand.NewPCG(seed[0], seed[1]),
		res: &TrainResult{NumTrain: nTrain, NumVal: n - nTrain, BestValLoss: math.Inf(1)},
		opt: nn.NewAdam(params, s.LearningRate),
	}
	f.rng = rand.New(f.src)
	f.best = make([][]float64, len(params))
	for i, p := range params {
		f.best[i] = append([]float64(nil), p.Data...)
	}
	if ck := s.Checkpoint; ck != nil {
		f.fp = &checkpointFingerprint{
			N: n, NumTrain: nTrain, BatchSize: s.BatchSize, LearningRate: math.Float64bits(s.LearningRate),
			ValFraction: math.Float64bits(s.ValidationFraction), StopAfter: s.StopAfterEpochs, MaxEpochs: s.MaxEpochs,
			ClipNorm: math.Float64bits(s.ClipNorm), KeepLastBatch: s.KeepLastBatch, Seed: seed, Tag: ck.Tag,
			NumState: len(ck.State),
		}
		if parts > 1 {
			f.fp.Parts = parts // 0 for serial steps, as in checkpoints written before Parts existed
		}
		if plan != nil {
			f.fp.NumBlocks, f.fp.BlocksHash, f.fp.WindowBlocks = len(s.Blocks), blocksHash(s.Blocks), plan.window
		}
		for _, p := range params {
			f.fp.Params = append(f.fp.Params, paramShape{Name: p.Name, Rows: p.Rows, Cols: p.Cols})
		}
		c, err := loadCheckpoint(ck.Path)
		if err != nil {
			return nil, err
		}
		if c != nil {
			if err := c.check(f.fp, f.val); err != nil {
				return nil, fmt.Errorf("%w (file %s; delete it to start afresh)", err, ck.Path)
			}
			if err := f.resume(c); err != nil {
				return nil, err
			}
			if c.st.Complete {
				f.res.Runtime = f.elapsed0 + time.Since(start)
				return f.res, f.finalErr()
			}
		}
	}
	return f.run(ctx, start)
}

// fitter is the state of one Fit call: everything a checkpoint saves.
type fitter struct {
	s          Settings
	params     []*nn.Tensor
	loss       LossFunc
	n, nTrain  int
	parts      int // parts per batch (at least 1)
	train, val []int
	blocks     *blockPlan // nil in row mode
	src        *rand.PCG
	rng        *rand.Rand
	opt        *nn.Adam
	best       [][]float64
	res        *TrainResult
	fp         *checkpointFingerprint // nil without checkpoints

	inEpoch                 bool
	pos, steps, skipped     int
	sum                     float64
	sinceBest               int
	elapsed0, epochElapsed0 time.Duration // times before the resumed checkpoint
	start, epochStart       time.Time
}

// resume loads the checkpoint c (already checked against the run).
func (f *fitter) resume(c *checkpoint) error {
	st := &c.st
	if err := f.opt.SetState(nn.AdamState{T: st.AdamT, M: c.adamM, V: c.adamV}); err != nil {
		return fmt.Errorf("flows: checkpoint: %w: %w", err, ErrCheckpoint)
	}
	if err := f.src.UnmarshalBinary(st.RNG); err != nil {
		return fmt.Errorf("flows: checkpoint: random state: %w: %w", err, ErrCheckpoint)
	}
	for i, b := range st.Extra {
		if err := f.s.Checkpoint.State[i].UnmarshalBinary(b); err != nil {
			return fmt.Errorf("flows: checkpoint: extra state %d: %w: %w", i, err, ErrCheckpoint)
		}
	}
	for i, p := range f.params {
		copy(p.Data, c.params[i])
		copy(f.best[i], c.best[i])
	}
	copy(f.train, c.train)
	r := f.res
	r.Epochs, r.BestEpoch, r.BestValLoss = st.Epochs, st.BestEpoch, math.Float64frombits(st.BestValLoss)
	r.Converged, r.Skipped, r.History = st.Converged, st.TotalSkipped, c.history
	f.inEpoch, f.pos, f.steps, f.skipped = st.InEpoch, st.Pos, st.Steps, st.Skipped
	f.sum, f.sinceBest = math.Float64frombits(st.Sum), st.SinceBest
	f.elapsed0, f.epochElapsed0 = time.Duration(st.ElapsedNS), time.Duration(st.EpochNS)
	return nil
}

// save writes the checkpoint, if enabled. complete marks a finished run
// (whose parameters are the restored best ones).
func (f *fitter) save(complete bool) error {
	if f.fp == nil {
		return nil
	}
	st := checkpointState{
		Complete: complete, Converged: f.res.Converged, Epochs: f.res.Epochs, InEpoch: f.inEpoch, Pos: f.pos,
		Sum: math.Float64bits(f.sum), Steps: f.steps, Skipped: f.skipped, TotalSkipped: f.res.Skipped,
		BestValLoss: math.Float64bits(f.res.BestValLoss), BestEpoch: f.res.BestEpoch, SinceBest: f.sinceBest,
		ElapsedNS: int64(f.elapsed0 + time.Since(f.start)), AdamT: f.opt.T,
	}
	if f.inEpoch {
		st.EpochNS = int64(f.epochElapsed0 + time.Since(f.epochStart))
	}
	var err error
	if st.RNG, err = f.src.MarshalBinary(); err != nil {
		return fmt.Errorf("flows: writing checkpoint: %w: %w", err, ErrCheckpoint)
	}
	for i, x := range f.s.Checkpoint.State {
		b, err := x.MarshalBinary()
		if err != nil {
			return fmt.Errorf("flows: writing checkpoint: extra state %d: %w: %w", i, err, ErrCheckpoint)
		}
		st.Extra = append(st.Extra, b)
	}
	c := &checkpoint{fp: *f.fp, st: st, best: f.best, adamM: f.opt.M, adamV: f.opt.V,
		train: f.train, val: f.val, history: f.res.History}
	c.params = make([][]float64, len(f.params))
	for i, p := range f.params {
		c.params[i] = p.Data
	}
	path := f.s.Checkpoint.Path
	if err := writeFileAtomic(path, func(w io.Writer) error { return writeCheckpoint(w, c) }); err != nil {
		return fmt.Errorf("flows: writing checkpoint %s: %w: %w", path, err, ErrCheckpoint)
	}
	return nil
}

func (f *fitter) restore() {
	for i, p := range f.params {
		copy(p.Data, f.best[i])
	}
}

// stop restores the best parameters and returns the result with err,
// after saving a checkpoint if enabled.
func (f *fitter) stop(err error) (*TrainResult, error) {
	if serr := f.save(false); serr != nil {
		err = fmt.Errorf("%w; %w", err, serr)
	}
	f.restore()
	f.res.Runtime = f.elapsed0 + time.Since(f.start)
	return f.res, err
}

// finalErr is the error of a finished run: ErrNonFinite if no epoch
// reached a finite validation loss.
func (f *fitter) finalErr() error {
	if f.res.BestEpoch == 0 {
		return fmt.Errorf("flows: no epoch of %d reached a finite validation loss; restored the initial weights: %w", f.res.Epochs, ErrNonFinite)
	}
	return nil
}

// run is the training loop, from the state in f.
func (f *fitter) run(ctx context.Context, start time.Time) (*TrainResult, error) {
	s, res, params := &f.s, f.res, f.params
	f.start = start
	bs := min(s.BatchSize, f.nTrain)
	every := 1
	if s.Checkpoint != nil && s.Checkpoint.Every > 0 {
		every = s.Checkpoint.Every
	}
	nn.ZeroGrad(params)
	st := newStepper(params, f.loss, f.parts)
	defer st.close()
	val := newValidator(f.parts)
	for {
		if !f.inEpoch {
			// At an epoch boundary: stop, or start the next epoch.
			if k := len(res.History); k > 0 && res.History[k-1].Steps == 0 {
				last := res.History[k-1]
				f.restore()
				res.Runtime = f.elapsed0 + time.Since(start)
				restored := "the initial weights"
				if res.BestEpoch > 0 {
					restored = fmt.Sprintf("the weights of epoch %d", res.BestEpoch)
				}
				return res, fmt.Errorf("flows: epoch %d: all %d training steps had a non-finite loss or gradient; restored %s: %w",
					last.Epoch, last.Skipped, restored, ErrNonFinite)
			}
			if res.Epochs > 0 && f.sinceBest >= s.StopAfterEpochs {
				res.Converged = true
				break
			}
			if res.Epochs >= s.MaxEpochs {
				break
			}
			if f.blocks != nil {
				f.blocks.shuffle(f.rng, f.train)
			} else {
				f.rng.Shuffle(len(f.train), func(i, j int) { f.train[i], f.train[j] = f.train[j], f.train[i] })
			}
			f.inEpoch, f.pos, f.sum, f.steps, f.skipped = true, 0, 0, 0, 0
			f.epochStart, f.epochElapsed0 = time.Now(), 0
		} else if f.epochStart.IsZero() {
			f.epochStart = time.Now() // resumed inside an epoch
		}
		for f.pos < f.nTrain {
			to := f.pos + bs
			if to > f.nTrain {
				if !s.KeepLastBatch {
					break
				}
				to = f.nTrain
			}
			if err := ctx.Err(); err != nil {
				return f.stop(fmt.Errorf("flows: training interrupted: %w", err))
			}
			from := f.pos
			f.pos = to
			lv := st.grad(f.train[from:to])
			if math.IsNaN(lv) || math.IsInf(lv, 0) {
				nn.ZeroGrad(params)
				f.skipped++
				continue
			}
			// The norm once: nn.ClipGradNorm would compute it again.
			norm := nn.GradNorm(params)
			if math.IsNaN(norm) || math.IsInf(norm, 0) {
				nn.ZeroGrad(params)
				f.skipped++
				continue
			}
			if s.ClipNorm > 0 && norm > s.ClipNorm {
				scaleGrads(params, s.ClipNorm/(norm+1e-6))
			}
			f.opt.Step()
			f.opt.ZeroGrad()
			f.sum += lv
			f.steps++
		}
		vl := val.loss(f.val, bs, f.loss)
		trainLoss := math.NaN()
		if f.steps > 0 {
			trainLoss = f.sum / float64(f.steps)
		}
		epoch := res.Epochs + 1
		st := EpochStats{Epoch: epoch, TrainLoss: trainLoss, ValLoss: vl, Steps: f.steps, Skipped: f.skipped}
		res.Skipped += f.skipped
		if vl < res.BestValLoss {
			res.BestValLoss, res.BestEpoch = vl, epoch
			for i, p := range params {
				copy(f.best[i], p.Data)
			}
			f.sinceBest = 0
		} else {
			f.sinceBest++
		}
		st.BestValLoss, st.BestEpoch = res.BestValLoss, res.BestEpoch
		st.Duration = f.epochElapsed0 + time.Since(f.epochStart)
		st.Elapsed = f.elapsed0 + time.Since(start)
		res.History = append(res.History, st)
		res.Epochs = epoch
		f.inEpoch, f.pos, f.sum, f.steps, f.skipped = false, 0, 0, 0, 0
		f.epochStart, f.epochElapsed0 = time.Time{}, 0
		if s.OnEpoch != nil {
			if err := s.OnEpoch(st); err != nil {
				return f.stop(fmt.Errorf("flows: training stopped by OnEpoch: %w", err))
			}
		}
		if epoch%every == 0 {
			if err := f.save(false); err != nil {
				f.restore()
				res.Runtime = f.elapsed0 + time.Since(start)
				return res, err
			}
		}
	}
	f.restore()
	if res.BestEpoch > 0 {
		if err := f.save(true); err != nil {
			res.Runtime = f.elapsed0 + time.Since(start)
			return res, err
		}
	}
	res.Runtime = f.elapsed0 + time.Since(start)
	return res, f.finalErr()
}

// scaleGrads multiplies every gradient of ts by f: the clipping of
// nn.ClipGradNorm (PyTorch's clip_grad_norm_, f = max/(norm + 1e-6)) for a
// norm already computed.
func scaleGrads(ts []*nn.Tensor, f float64) {
	for _, t := range ts {
		for i := range t.Grad {
			t.Grad[i] *= f
		}
	}
}

// Train fits flow to the rows of x (and contexts c, nil for an
// unconditional flow) by maximum likelihood: Fit with the loss -mean log
// p(x_i | c_i). It does not refit the flow's standardisation (the presets fit
// it when building). Errors wrap ErrData for empty data, NaN or Inf values,
// mismatched row counts or dimensions, and ErrConfig for invalid settings;
// cancellation returns the best weights so far with an error wrapping
// ctx.Err(). Unlike Fit, Train splits batches of at least 128 rows into
// DefaultParts parts computed in parallel unless Settings.Parts says
// otherwise: its loss is a per-row mean that is safe to split.
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
	return fit(ctx, flow.Params(), n, loss, rng, settings, true)
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
