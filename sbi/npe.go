package sbi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/gosbi/gosbi/dist"
	"github.com/gosbi/gosbi/flows"
	"github.com/gosbi/gosbi/nn"
	"gonum.org/v1/gonum/mat"
)

// Estimator builds a conditional density estimator q(θ | x) from training
// data: θ one sample per row, x the matching simulations, weights from rng.
// flows.MAF and flows.NSF (values or pointers) implement it.
type Estimator interface {
	Build(theta, x *mat.Dense, rng *rand.Rand) (*flows.Flow, error)
}

// NPEConfig fixes the architecture of a neural posterior estimator. The zero
// value (and a nil *NPEConfig) is sbi's default: a MAF with 5 transforms of
// 50 hidden units, z-scoring of θ and x, no embedding net.
type NPEConfig struct {
	// Estimator is the density estimator; nil means flows.MAF{}. Use
	// flows.NSF{} for a neural spline flow. The preset's z-scoring options
	// apply; its statistics come from the training split (see NPE.Train).
	Estimator Estimator
	// Embedding, if non-nil, is an embedding net for x trained with the
	// flow: MLPEmbedding or DeepSetsEmbedding. It needs Estimator to be a
	// flows.MAF or flows.NSF whose own Embedding field is nil.
	Embedding Embedding
}

// proposalKind says how a round's θ were drawn, which decides the loss.
type proposalKind uint8

const (
	fromPrior     proposalKind = iota // the prior: maximum likelihood
	fromTruncated                     // a RestrictedPrior (TSNPE): maximum likelihood
	fromPosterior                     // any other proposal: atomic loss (SNPE-C)
)

func (k proposalKind) String() string {
	return [...]string{"prior", "truncated prior", "proposal"}[k]
}

// RoundInfo describes one call of AppendSimulations.
type RoundInfo struct {
	// Proposal is "prior", "truncated prior" or "proposal".
	Proposal string
	// Simulations is the number of rows appended; Dropped the number of
	// rows with NaN or ±Inf values left out (included in Simulations).
	Simulations, Dropped int
}

// NPE is a neural posterior estimator (Papamakarios & Murray 2016;
// Greenberg, Nonnenmacher & Macke 2019 for the sequential SNPE-C/APT; Deistler
// et al. 2022 for truncated proposals, TSNPE): a conditional normalizing flow
// q(θ | x) trained on simulations (θ_i, x_i).
//
// Use it in rounds, as sbi's SNPE: AppendSimulations, Train, Posterior, and
// for a sequential run draw the next round's θ from the posterior at the
// observation (or from a RestrictedPrior) and append them with that
// proposal. Data of all rounds accumulate. The loss of a Train call is
// maximum likelihood, -mean log q(θ_i | x_i), when every round came from the
// prior or a RestrictedPrior, and otherwise the atomic loss of SNPE-C over
// all rounds (see TrainSettings.NumAtoms).
//
// An NPE is not safe for concurrent use; the posteriors it returns are
// independent copies.
type NPE struct {
	prior  dist.Distribution
	est    Estimator
	emb    Embedding
	spec   *embeddingSpec
	xDim   int
	theta  []float64 // all rounds, row-major n×thetaDim
	x      []float64 // all rounds, row-major n×xDim
	n      int
	rounds []RoundInfo
	atomic bool // some round came from a general proposal
	flow   *flows.Flow
	trains int

	src       Source // training data on disk (AppendSource), or nil
	srcBlocks []int  // block lengths of src
}

// NewNPE returns an untrained estimator for the prior with architecture cfg
// (nil means the defaults). The error wraps ErrInput for a nil prior or an
// embedding with an estimator other than flows.MAF or flows.NSF.
func NewNPE(prior dist.Distribution, cfg *NPEConfig) (*NPE, error) {
	if prior == nil || prior.Dim() < 1 {
		return nil, fmt.Errorf("sbi: NewNPE: nil prior or prior of no dimension: %w", ErrInput)
	}
	var c NPEConfig
	if cfg != nil {
		c = *cfg
	}
	if c.Estimator == nil {
		c.Estimator = flows.MAF{}
	}
	if c.Embedding != nil {
		switch e := c.Estimator.(type) {
		case flows.MAF:
			if e.Embedding != nil {
				return nil, fmt.Errorf("sbi: NewNPE: both NPEConfig.Embedding and MAF.Embedding set: %w", ErrInput)
			}
		case *flows.MAF:
			if e == nil || e.Embedding != nil {
				return nil, fmt.Errorf("sbi: NewNPE: nil MAF or both NPEConfig.Embedding and MAF.Embedding set: %w", ErrInput)
			}
		case flows.NSF:
			if e.Embedding != nil {
				return nil, fmt.Errorf("sbi: NewNPE: both NPEConfig.Embedding and NSF.Embedding set: %w", ErrInput)
			}
		case *flows.NSF:
			if e == nil || e.Embedding != nil {
				return nil, fmt.Errorf("sbi: NewNPE: nil NSF or both NPEConfig.Embedding and NSF.Embedding set: %w", ErrInput)
			}
		default:
			return nil, fmt.Errorf("sbi: NewNPE: an embedding needs a flows.MAF or flows.NSF estimator, have %T: %w", e, ErrInput)
		}
	}
	return &NPE{prior: prior, est: c.Estimator, emb: c.Embedding}, nil
}

// Prior returns the prior the estimator was created with.
func (e *NPE) Prior() dist.Distribution { return e.prior }

// Rounds returns a description of every AppendSimulations call so far.
func (e *NPE) Rounds() []RoundInfo { return append([]RoundInfo(nil), e.rounds...) }

// NumSimulations returns the number of valid simulations appended so far,
// over all rounds.
func (e *NPE) NumSimulations() int { return e.n }

// AppendOptions describes one round of simulations. A nil *AppendOptions
// means simulations from the prior.
type AppendOptions struct {
	// Proposal is the distribution θ was drawn from; nil (or the prior
	// itself) means the prior. A *RestrictedPrior (TSNPE) keeps maximum
	// likelihood training; any other proposal, typically the posterior at
	// the observation from the previous round, switches training to the
	// atomic loss of SNPE-C for all rounds.
	Proposal dist.Distribution
	// ExcludeInvalid drops simulations with NaN or ±Inf values from a round
	// whose proposal is not the prior. Without it such simulations are an
	// error (ErrInvalidData), since dropping them biases sequential
	// estimates (as sbi's exclude_invalid_x). Rounds from the prior always
	// drop and count them.
	ExcludeInvalid bool
}

// AppendSimulations adds a round of simulations: row i of theta (n×Dim of
// the prior) was simulated into row i of x (n×xDim, the same xDim in every
// round). The matrices are copied. It returns the number of rows dropped
// because θ or x held NaN or ±Inf (see AppendOptions.ExcludeInvalid).
// Errors wrap ErrInput for mismatched shapes or θ outside the prior's
// support (where the atomic loss is undefined) and ErrInvalidData for
// invalid simulations that may not be dropped; the estimator is then
// unchanged.
func (e *NPE) AppendSimulations(theta, x *mat.Dense, opts *AppendOptions) (int, error) {
	if theta == nil || x == nil || theta.IsEmpty() || x.IsEmpty() {
		return 0, fmt.Errorf("sbi: AppendSimulations: empty θ or x: %w", ErrInput)
	}
	n, dt := theta.Dims()
	nx, dx := x.Dims()
	if dt != e.prior.Dim() {
		return 0, fmt.Errorf("sbi: AppendSimulations: θ has %d columns, prior dimension %d: %w", dt, e.prior.Dim(), ErrInput)
	}
	if nx != n {
		return 0, fmt.Errorf("sbi: AppendSimulations: %d rows of θ but %d rows of x: %w", n, nx, ErrInput)
	}
	if e.xDim != 0 && dx != e.xDim {
		return 0, fmt.Errorf("sbi: AppendSimulations: x has %d columns, earlier rounds %d: %w", dx, e.xDim, ErrInput)
	}
	if e.src != nil {
		return 0, fmt.Errorf("sbi: AppendSimulations: the estimator trains on a Source: %w", ErrInput)
	}
	var o AppendOptions
	if opts != nil {
		o = *opts
	}
	kind := kindOf(o.Proposal, e.prior)
	if kind != fromPrior && o.Proposal.Dim() != dt {
		return 0, fmt.Errorf("sbi: AppendSimulations: proposal of dimension %d, θ has %d columns: %w", o.Proposal.Dim(), dt, ErrInput)
	}
	keep := make([]int, 0, n)
	for i := range n {
		if finite(theta.RawRowView(i)) && finite(x.RawRowView(i)) {
			keep = append(keep, i)
		}
	}
	dropped := n - len(keep)
	if dropped > 0 && kind != fromPrior && !o.ExcludeInvalid {
		return 0, fmt.Errorf("sbi: AppendSimulations: %d of %d simulations from a %s have NaN or ±Inf values; set ExcludeInvalid to drop them: %w",
			dropped, n, kind, ErrInvalidData)
	}
	lp := dist.LogProbs(e.prior, theta, nil)
	for _, i := range keep {
		if math.IsInf(lp[i], -1) || math.IsNaN(lp[i]) {
			return 0, fmt.Errorf("sbi: AppendSimulations: θ row %d is outside the prior's support: %w", i, ErrInput)
		}
	}
	// One allocation of the exact size: no doubling copies of large rounds.
	e.theta = slices.Grow(e.theta, len(keep)*dt)
	e.x = slices.Grow(e.x, len(keep)*dx)
	for _, i := range keep {
		e.theta = append(e.theta, theta.RawRowView(i)...)
		e.x = append(e.x, x.RawRowView(i)...)
	}
	e.xDim = dx
	e.n += len(keep)
	e.rounds = append(e.rounds, RoundInfo{Proposal: kind.String(), Simulations: n, Dropped: dropped})
	if kind == fromPosterior {
		e.atomic = true
	}
	return dropped, nil
}

func finite(v []float64) bool {
	for _, f := range v {
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return false
		}
	}
	return true
}

// TrainSettings tunes one call of NPE.Train. The zero value (and a nil
// *TrainSettings) means sbi's defaults: batch 200, learning rate 5e-4,
// validation fraction 0.1, stop after 20 epochs without improvement, gradient
// clipping at norm 5, 10 atoms.
type TrainSettings struct {
	// Settings are the settings of flows.Fit, including the OnEpoch
	// progress callback.
	flows.Settings
	// NumAtoms is the number of atoms of the atomic loss (the θ of the row
	// plus NumAtoms-1 others from its batch); zero means 10 (sbi). It must be
	// at least 2 and is capped at the batch size.
	NumAtoms int
}

// Loss names the training objective of a Train call.
type Loss string

// The losses of NPE.Train.
const (
	LossMLE    Loss = "mle"    // -mean log q(θ_i | x_i)
	LossAtomic Loss = "atomic" // SNPE-C's atomic loss
)

// TrainResult summarises one call of NPE.Train: flows' result (epochs,
// per-epoch losses and durations in History, best epoch and validation
// loss, runtime) and the data it trained on.
type TrainResult struct {
	flows.TrainResult
	// Round counts the calls of Train, from 0.
	Round int
	// Loss is the objective used.
	Loss Loss
	// NumSimulations is the number of valid simulations trained on (all
	// rounds); NumInvalid the number dropped as invalid over all rounds.
	NumSimulations, NumInvalid int
	// Stream reports the block input when training on a Source (see
	// NPE.AppendSource); nil otherwise.
	Stream *StreamStats
	// Warnings are the estimator's warnings about its training data
	// (NLE and NRE: constant or nearly single-valued columns, found when
	// the network was built; see NLE.Warnings); nil when there are none.
	Warnings []string
}

// Train fits the density estimator to all simulations appended so far (see
// NPE for the choice of loss), by Adam with early stopping on a validation
// split, through flows.Fit. At the first call the network is built, and its
// z-scoring statistics of θ and x are fitted to the training rows of that
// call's split only (the split flows.Fit draws: the first ⌊(1-f)·n⌋ rows of a
// random permutation of all rows, f the validation fraction), as sbi does;
// later calls keep them and continue from the trained weights, with a fresh
// optimiser and split. All randomness (split, shuffling, atoms, initial
// weights) comes from rng. The best weights by validation loss are kept.
//
// Block mode, for data larger than memory: when the estimator trains on a
// Source (AppendSource), or TrainSettings.Blocks is set for data in memory
// (lengths of consecutive blocks of the valid rows, in the order they were
// appended), flows.Fit runs in block mode (whole blocks validate; each
// epoch shuffles the training blocks, then rows within windows of
// WindowBlocks blocks; see flows.DefaultWindowBlocks). The z-scoring
// statistics are then the exact means and unbiased standard deviations of
// the rows of the training blocks, from one streaming pass over them in
// increasing block order (flows.Moments), and the network is built from
// the rows of the first of those blocks and given these statistics
// (flows.Flow.Restandardize); this needs a flows.MAF or flows.NSF
// estimator without a DeepSetsEmbedding. A Source is read through a
// least-recently-used cache of 2·WindowBlocks blocks, so at most that many
// blocks are in memory (see TrainResult.Stream); the same rows and block
// lengths in memory give bit for bit the same result as from a Source. A
// read error of the Source stops training (best weights restored) with an
// error wrapping it.
//
// Errors wrap ErrNotTrained when no simulations were appended,
// ErrInvalidData when fewer than 2 valid ones are left, ErrInput (and
// flows.ErrConfig) for invalid settings; when ctx is cancelled or OnEpoch
// returns an error, the best weights so far are kept and the result is
// returned with an error wrapping the cause.
func (e *NPE) Train(ctx context.Context, rng *rand.Rand, settings *TrainSettings) (*TrainResult, error) {
	if rng == nil {
		return nil, fmt.Errorf("sbi: Train: nil rng: %w", ErrInput)
	}
	if len(e.rounds) == 0 {
		return nil, fmt.Errorf("sbi: Train: no simulations appended: %w", ErrNotTrained)
	}
	if e.n < 2 {
		return nil, fmt.Errorf("sbi: Train: %d valid simulations, need at least 2: %w", e.n, ErrInvalidData)
	}
	var s TrainSettings
	if settings != nil {
		s = *settings
	}
	if s.NumAtoms == 0 {
		s.NumAtoms = 10
	}
	if s.NumAtoms < 2 {
		return nil, fmt.Errorf("sbi: Train: %d atoms, need at least 2: %w", s.NumAtoms, ErrInput)
	}
	if vf := s.ValidationFraction; vf != 0 && !(vf > 0 && vf < 1) {
		return nil, fmt.Errorf("sbi: Train: validation fraction %v: %w", vf, ErrInput)
	}
	dt := e.prior.Dim()
	if e.src != nil {
		if s.Blocks != nil {
			return nil, fmt.Errorf("sbi: Train: Settings.Blocks with a Source (whose blocks are used): %w", ErrInput)
		}
		s.Blocks = e.srcBlocks
	}
	if err := setParts("NPE", &s, !e.atomic && e.src == nil); err != nil {
		return nil, err
	}
	// Seeds: the split and shuffling of flows.Fit, the network's weights,
	// the atoms.
	s1, s2 := rng.Uint64(), rng.Uint64()
	res := &TrainResult{Round: e.trains, Loss: LossMLE, NumSimulations: e.n}
	var cache *blockCache
	if e.src != nil {
		w := s.WindowBlocks
		if w == 0 {
			w = flows.DefaultWindowBlocks(s.Blocks)
		}
		var cancel context.CancelCauseFunc
		ctx, cancel = context.WithCancelCause(ctx)
		defer cancel(nil)
		cache = newBlockCache(e.src, s.Blocks, 2*w, cancel)
		res.Stream = &StreamStats{Blocks: len(s.Blocks), CacheBlocks: cache.cap}
	}
	if e.flow == nil {
		wrng := func() *rand.Rand { return rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64())) }
		var err error
		switch {
		case s.Blocks != nil:
			if !e.restandardizable() {
				return nil, fmt.Errorf("sbi: Train: block mode needs a flows.MAF or flows.NSF estimator without a DeepSetsEmbedding: %w", ErrInput)
			}
			if err := checkBlockSettings(s.Blocks, e.n, s.ValidationFraction); err != nil {
				return nil, err
			}
			trainBlocks, _ := flows.SplitBlocks(len(s.Blocks), s.ValidationFraction, rand.New(rand.NewPCG(s1, s2)))
			bd := newBlockData(e.src, e.theta, e.x, dt, e.xDim, s.Blocks)
			thM, thS, xM, xS, sth, sx, reads, err := bd.blockStats(ctx, trainBlocks)
			if res.Stream != nil {
				res.Stream.BlockReads += reads
			}
			if err != nil {
				return nil, err
			}
			if sth == nil {
				return nil, fmt.Errorf("sbi: Train: the training blocks hold no rows: %w", ErrInvalidData)
			}
			err = e.buildRestandardized(sth, sx, thM, thS, xM, xS, wrng())
		case e.restandardizable():
			// Bit for bit the flow built from the gathered training rows,
			// without that copy of the data.
			train, _ := splitIndices(e.n, s.ValidationFraction, s1, s2)
			thM, thS := flows.RowsMeanStd(e.theta, dt, train)
			xM, xS := flows.RowsMeanStd(e.x, e.xDim, train)
			one := train[:1]
			err = e.buildRestandardized(gatherDense(e.theta, dt, one), gatherDense(e.x, e.xDim, one), thM, thS, xM, xS, wrng())
		default:
			train, _ := splitIndices(e.n, s.ValidationFraction, s1, s2)
			th := gatherDense(e.theta, dt, train)
			xs := gatherDense(e.x, e.xDim, train)
			e.flow, e.spec, err = e.build(th, xs, wrng())
		}
		if err != nil {
			return nil, err
		}
	}
	for _, r := range e.rounds {
		res.NumInvalid += r.Dropped
	}
	var loss flows.LossFunc
	if e.atomic {
		res.Loss = LossAtomic
		src := rand.NewPCG(rng.Uint64(), rng.Uint64())
		loss = e.atomicLoss(s.NumAtoms, rand.New(src))
		s.Checkpoint = checkpointWith(s.Checkpoint, src)
	} else if cache != nil {
		loss = e.streamLoss(cache)
	} else {
		loss = e.mleLoss()
	}
	fr, err := flows.Fit(ctx, e.flow.Params(), e.n, loss, rand.New(rand.NewPCG(s1, s2)), &s.Settings)
	e.trains++
	if fr != nil {
		res.TrainResult = *fr
	}
	if cache != nil {
		res.Stream.BlockReads += cache.reads
		res.Stream.MaxResidentRows = cache.maxResident
		if cache.err != nil {
			if fr == nil {
				return nil, fmt.Errorf("sbi: Train: %w", cache.err)
			}
			return res, fmt.Errorf("sbi: Train: %w", cache.err)
		}
	}
	if err != nil {
		if errors.Is(err, flows.ErrConfig) {
			return nil, fmt.Errorf("sbi: Train: %w: %w", err, ErrInput)
		}
		if fr == nil {
			return nil, fmt.Errorf("sbi: Train: %w", err)
		}
		return res, fmt.Errorf("sbi: Train: %w", err)
	}
	return res, nil
}

// checkpointWith returns a copy of ck that also saves and restores src, the
// random source of a loss, so that a resumed Train draws the same atoms as
// an uninterrupted one (nil stays nil).
func checkpointWith(ck *flows.CheckpointSettings, src *rand.PCG) *flows.CheckpointSettings {
	if ck == nil {
		return nil
	}
	c := *ck
	c.State = append(append([]flows.BinaryState(nil), ck.State...), src)
	return &c
}

// splitIndices returns the training and validation rows that flows.Fit
// chooses for n rows when given rand.New(rand.NewPCG(s1, s2)): the first
// ⌊(1-f)·n⌋ (at least 1, at most n-1) entries of that generator's first
// permutation of n. A test checks this against flows.Fit.
func splitIndices(n int, f float64, s1, s2 uint64) (train, val []int) {
	if f == 0 {
		f = 0.1
	}
	perm := rand.New(rand.NewPCG(s1, s2)).Perm(n)
	nTrain := min(max(int((1-f)*float64(n)), 1), n-1)
	return perm[:nTrain], perm[nTrain:]
}

// gatherDense returns the rows idx of the row-major matrix data with d columns.
func gatherDense(data []float64, d int, idx []int) *mat.Dense {
	out := make([]float64, 0, len(idx)*d)
	for _, i := range idx {
		out = append(out, data[i*d:(i+1)*d]...)
	}
	return mat.NewDense(len(idx), d, out)
}

// build constructs the flow (and embedding) from the training rows.
func (e *NPE) build(theta, x *mat.Dense, rng *rand.Rand) (*flows.Flow, *embeddingSpec, error) {
	var embed nn.Module
	var spec *embeddingSpec
	est := e.est
	if e.emb != nil {
		var err error
		embed, spec, err = e.emb.build(x, rng)
		if err != nil {
			return nil, nil, err
		}
		_, deepSets := e.emb.(DeepSetsEmbedding)
		switch m := est.(type) {
		case flows.MAF:
			m.Embedding = embed
			if deepSets {
				m.ZScoreContext = flows.ZScoreNone
			}
			est = m
		case *flows.MAF:
			c := *m
			c.Embedding = embed
			if deepSets {
				c.ZScoreContext = flows.ZScoreNone
			}
			est = c
		case flows.NSF:
			m.Embedding = embed
			if deepSets {
				m.ZScoreContext = flows.ZScoreNone
			}
			est = m
		case *flows.NSF:
			c := *m
			c.Embedding = embed
			if deepSets {
				c.ZScoreContext = flows.ZScoreNone
			}
			est = c
		}
	}
	f, err := est.Build(theta, x, rng)
	if err != nil {
		if errors.Is(err, flows.ErrConfig) || errors.Is(err, flows.ErrData) {
			return nil, nil, fmt.Errorf("sbi: building the density estimator: %w: %w", err, ErrInput)
		}
		return nil, nil, fmt.Errorf("sbi: building the density estimator: %w", err)
	}
	if f.Dim() != theta.RawMatrix().Cols || f.ContextDim() != x.RawMatrix().Cols {
		return nil, nil, fmt.Errorf("sbi: estimator built a flow of dimension %d with context %d for θ of %d and x of %d columns: %w",
			f.Dim(), f.ContextDim(), theta.RawMatrix().Cols, x.RawMatrix().Cols, ErrInput)
	}
	return f, spec, nil
}

// copyRowsInto copies rows idx of the row-major data (d columns) into a new
// tensor from tp's arena.
func copyRowsInto(tp *nn.Tape, data []float64, d int, idx []int) *nn.Tensor {
	t := tp.New(len(idx), d)
	for r, i := range idx {
		copy(t.Data[r*d:(r+1)*d], data[i*d:(i+1)*d])
	}
	return t
}

// mleLoss is -mean log q(θ_i | x_i) over the rows idx.
func (e *NPE) mleLoss() flows.LossFunc {
	dt, dx, f := e.prior.Dim(), e.xDim, e.flow
	return func(tp *nn.Tape, idx []int) *nn.Tensor {
		th := copyRowsInto(tp, e.theta, dt, idx)
		xs := copyRowsInto(tp, e.x, dx, idx)
		return tp.Neg(tp.Mean(f.LogProb(tp, th, xs)))
	}
}

// atomicLoss is the atomic loss of SNPE-C (Greenberg et al. 2019, "Automatic
// Posterior Transformation", section 4; sbi's
// _log_prob_proposal_posterior_atomic). For a batch of B rows and K =
// min(numAtoms, B) atoms, the atoms of row i are θ_i and K-1 θ_j drawn
// without replacement from the other rows of the batch, and
//
//	logit_ik = log q(θ_ik | x_i) - log p(θ_ik),
//	loss     = -mean_i [ logit_i0 - logsumexp_k logit_ik ],
//
// with p the prior. All B·K pairs are evaluated in one flow call: atom k of
// every row forms the k-th block of B rows.
func (e *NPE) atomicLoss(numAtoms int, rng *rand.Rand) flows.LossFunc {
	dt, dx, f, prior := e.prior.Dim(), e.xDim, e.flow, e.prior
	var (
		thIdx, xIdx, others []int
		choice              []int
		blocks              [][]int
		lpBuf               []float64
		thBuf               []float64
		blockT              []*nn.Tensor
	)
	return func(tp *nn.Tape, idx []int) *nn.Tensor {
		b := len(idx)
		k := min(numAtoms, b)
		th := copyRowsInto(tp, e.theta, dt, idx)
		xs := copyRowsInto(tp, e.x, dx, idx)
		if k < 2 {
			// A single row has no contrasting atom: its atomic log-probability
			// is identically zero (as in sbi).
			return tp.Scale(tp.Mean(f.LogProb(tp, th, xs)), 0)
		}
		thIdx, xIdx = thIdx[:0], xIdx[:0]
		for i := range b {
			thIdx = append(thIdx, i)
			xIdx = append(xIdx, i)
		}
		if cap(others) < b {
			others = make([]int, b)
		}
		others = others[:b]
		// Atoms 1..k-1 of row i: a partial Fisher–Yates shuffle of the other
		// rows, then laid out block by block.
		if cap(choice) < b*(k-1) {
			choice = make([]int, b*(k-1))
		}
		choice = choice[:b*(k-1)]
		for i := range b {
			n := 0
			for j := range b {
				if j != i {
					others[n] = j
					n++
				}
			}
			for a := 0; a < k-1; a++ {
				r := a + rng.IntN(n-a)
				others[a], others[r] = others[r], others[a]
				choice[i*(k-1)+a] = others[a]
			}
		}
		for a := 0; a < k-1; a++ {
			for i := range b {
				thIdx = append(thIdx, choice[i*(k-1)+a])
				xIdx = append(xIdx, i)
			}
		}
		thAtoms := tp.GatherRows(th, thIdx)
		xRep := tp.GatherRows(xs, xIdx)
		lq := f.LogProb(tp, thAtoms, xRep) // (B·K)×1
		// log prior of the atoms: a constant.
		if cap(thBuf) < len(thAtoms.Data) {
			thBuf = make([]float64, len(thAtoms.Data))
		}
		thBuf = thBuf[:len(thAtoms.Data)]
		copy(thBuf, thAtoms.Data)
		if cap(lpBuf) < b*k {
			lpBuf = make([]float64, b*k)
		}
		lpBuf = lpBuf[:b*k]
		dist.LogProbs(prior, mat.NewDense(b*k, dt, thBuf), lpBuf)
		lp := tp.New(b*k, 1)
		copy(lp.Data, lpBuf)
		logits := tp.Sub(lq, lp)
		if len(blocks) < k || (len(blocks) > 0 && len(blocks[0]) != b) {
			blocks = make([][]int, k)
			for a := range k {
				blocks[a] = make([]int, b)
				for i := range b {
					blocks[a][i] = a*b + i
				}
			}
		}
		blockT = blockT[:0]
		for a := range k {
			blockT = append(blockT, tp.GatherRows(logits, blocks[a]))
		}
		m := tp.ConcatCols(blockT...) // B×K
		return tp.Neg(tp.Mean(tp.Sub(blockT[0], tp.RowLogSumExp(m))))
	}
}

// cloneFlow returns an independent copy of f (through its file format), with
// a fresh copy of the embedding described by spec.
func cloneFlow(f *flows.Flow, spec *embeddingSpec) (*flows.Flow, error) {
	var buf bytes.Buffer
	if err := flows.Save(&buf, f); err != nil {
		return nil, fmt.Errorf("sbi: copying the flow: %w", err)
	}
	if spec == nil {
		g, err := flows.Load(&buf)
		if err != nil {
			return nil, fmt.Errorf("sbi: copying the flow: %w", err)
		}
		return g, nil
	}
	m, err := spec.module(rand.New(rand.NewPCG(0, 0)))
	if err != nil {
		return nil, err
	}
	g, err := flows.LoadWithEmbedding(&buf, m)
	if err != nil {
		return nil, fmt.Errorf("sbi: copying the flow: %w", err)
	}
	return g, nil
}

// Posterior returns the posterior of the trained estimator: a
// DirectPosterior holding an independent copy of the current network (later
// training does not change it), with the given settings (nil means
// defaults). The error wraps ErrNotTrained before the first Train.
func (e *NPE) Posterior(settings *PosteriorSettings) (*DirectPosterior, error) {
	if e.flow == nil {
		return nil, fmt.Errorf("sbi: Posterior: %w", ErrNotTrained)
	}
	f, err := cloneFlow(e.flow, e.spec)
	if err != nil {
		return nil, err
	}
	p, err := NewDirectPosterior(f, e.prior, settings)
	if err != nil {
		return nil, err
	}
	p.spec = e.spec
	return p, nil
}

// EstimatorByName returns the density estimator called name with sbi's
// default architecture: "maf" (flows.MAF{}), "nsf" (flows.NSF{}) or
// "maf_rqs" (flows.NSF{Autoregressive: true}), as sbi's
// posterior_nn(model=...). The error wraps ErrInput for other names.
func EstimatorByName(name string) (Estimator, error) {
	switch name {
	case "maf":
		return flows.MAF{}, nil
	case "nsf":
		return flows.NSF{}, nil
	case "maf_rqs":
		return flows.NSF{Autoregressive: true}, nil
	}
	return nil, fmt.Errorf("sbi: unknown density estimator %q (want maf, nsf or maf_rqs): %w", name, ErrInput)
}
