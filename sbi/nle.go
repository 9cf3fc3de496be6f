package sbi

import (
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

// simStore accumulates the rounds of simulations of a likelihood- or
// ratio-based estimator. Unlike NPE's, its invalid-simulation rule does not
// depend on the proposal: rows with NaN or ±Inf values are an error in every
// round unless the caller opts in with AppendOptions.ExcludeInvalid (sbi's
// exclude_invalid_x=False default for NLE and NRE). Dropping them even from
// prior rounds would learn p(x | θ, valid) = p(x | θ)/P(valid | θ) and bias
// the posterior wherever the chance of an invalid simulation depends on θ.
type simStore struct {
	prior  dist.Distribution
	xDim   int
	theta  []float64 // row-major n×thetaDim
	x      []float64 // row-major n×xDim
	n      int
	rounds []RoundInfo

	src       Source // training data on disk (AppendSource), or nil
	srcBlocks []int  // block lengths of src
}

// add validates and appends one round; who names the caller in errors.
func (s *simStore) add(who string, theta, x *mat.Dense, opts *AppendOptions) (int, error) {
	if theta == nil || x == nil || theta.IsEmpty() || x.IsEmpty() {
		return 0, fmt.Errorf("sbi: %s.AppendSimulations: empty θ or x: %w", who, ErrInput)
	}
	n, dt := theta.Dims()
	nx, dx := x.Dims()
	if dt != s.prior.Dim() {
		return 0, fmt.Errorf("sbi: %s.AppendSimulations: θ has %d columns, prior dimension %d: %w", who, dt, s.prior.Dim(), ErrInput)
	}
	if nx != n {
		return 0, fmt.Errorf("sbi: %s.AppendSimulations: %d rows of θ but %d rows of x: %w", who, n, nx, ErrInput)
	}
	if s.xDim != 0 && dx != s.xDim {
		return 0, fmt.Errorf("sbi: %s.AppendSimulations: x has %d columns, earlier rounds %d: %w", who, dx, s.xDim, ErrInput)
	}
	var o AppendOptions
	if opts != nil {
		o = *opts
	}
	kind := kindOf(o.Proposal, s.prior)
	if kind != fromPrior && o.Proposal.Dim() != dt {
		return 0, fmt.Errorf("sbi: %s.AppendSimulations: proposal of dimension %d, θ has %d columns: %w", who, o.Proposal.Dim(), dt, ErrInput)
	}
	return s.addKind(who, theta, x, kind, o.ExcludeInvalid)
}

// addKind appends a validated-shape round from a proposal of the given kind.
func (s *simStore) addKind(who string, theta, x *mat.Dense, kind proposalKind, exclude bool) (int, error) {
	n, _ := theta.Dims()
	_, dx := x.Dims()
	if s.xDim != 0 && dx != s.xDim {
		return 0, fmt.Errorf("sbi: %s: x has %d columns, earlier rounds %d: %w", who, dx, s.xDim, ErrInput)
	}
	if s.src != nil {
		return 0, fmt.Errorf("sbi: %s.AppendSimulations: the estimator trains on a Source: %w", who, ErrInput)
	}
	keep := make([]int, 0, n)
	for i := range n {
		if finite(theta.RawRowView(i)) && finite(x.RawRowView(i)) {
			keep = append(keep, i)
		}
	}
	dropped := n - len(keep)
	if dropped > 0 && !exclude {
		return 0, fmt.Errorf("sbi: %s.AppendSimulations: %d of %d simulations have NaN or ±Inf values; set ExcludeInvalid to drop them: %w",
			who, dropped, n, ErrInvalidData)
	}
	// Grow once to the exact size: appending row by row would reallocate
	// (and briefly hold two copies of) the whole store many times.
	_, dt := theta.Dims()
	s.theta = slices.Grow(s.theta, len(keep)*dt)
	s.x = slices.Grow(s.x, len(keep)*dx)
	for _, i := range keep {
		s.theta = append(s.theta, theta.RawRowView(i)...)
		s.x = append(s.x, x.RawRowView(i)...)
	}
	s.xDim = dx
	s.n += len(keep)
	s.rounds = append(s.rounds, RoundInfo{Proposal: kind.String(), Simulations: n, Dropped: dropped})
	return dropped, nil
}

// check validates the state and settings before training.
func (s *simStore) check(who string, rng *rand.Rand, settings *TrainSettings) (TrainSettings, error) {
	var ts TrainSettings
	if settings != nil {
		ts = *settings
	}
	if rng == nil {
		return ts, fmt.Errorf("sbi: %s.Train: nil rng: %w", who, ErrInput)
	}
	if len(s.rounds) == 0 {
		return ts, fmt.Errorf("sbi: %s.Train: no simulations appended: %w", who, ErrNotTrained)
	}
	if s.n < 2 {
		return ts, fmt.Errorf("sbi: %s.Train: %d valid simulations, need at least 2: %w", who, s.n, ErrInvalidData)
	}
	if vf := ts.ValidationFraction; vf != 0 && !(vf > 0 && vf < 1) {
		return ts, fmt.Errorf("sbi: %s.Train: validation fraction %v: %w", who, vf, ErrInput)
	}
	return ts, nil
}

func (s *simStore) invalid() int {
	var d int
	for _, r := range s.rounds {
		d += r.Dropped
	}
	return d
}

// nearConstantFrac is the share of the training rows above which a column
// in which one value fills them is reported as near-constant: z-scoring then
// puts the other values more than √(0.99/0.01) ≈ 10 standard deviations
// away (for a 0/1 column), and a flow can raise its likelihood without bound
// by concentrating on the common value, as on the first observation of the
// raw SIR counts (0 in all but about one row in 500).
const nearConstantFrac = 0.99

// zscoreWarnings describes the columns of the rows idx of the row-major data
// (cols columns, called what) that are constant or near-constant (see
// NLE.Warnings).
func zscoreWarnings(what string, data []float64, cols int, idx []int) []string {
	n := len(idx)
	col := make([]float64, n)
	var w []string
	for j := range cols {
		var mean, ss float64
		for k, i := range idx {
			col[k] = data[i*cols+j]
			mean += col[k]
		}
		mean /= float64(n)
		for _, v := range col {
			ss += (v - mean) * (v - mean)
		}
		sd := math.NaN()
		if n > 1 {
			sd = math.Sqrt(ss / float64(n-1))
		}
		if msg, constant := constantWarning(what, j, n, mean, sd); constant {
			w = append(w, msg)
			continue
		}
		slices.Sort(col)
		best, run := 0, 0
		for k := range col {
			if k > 0 && col[k] == col[k-1] {
				run++
			} else {
				run = 1
			}
			best = max(best, run)
		}
		if msg, ok := nearConstantWarning(what, j, n, sd, best); ok {
			w = append(w, msg)
		}
	}
	return w
}

// constantWarning returns the warning for column j of n training rows with
// the given mean and unbiased std, and whether the z-scoring treats it as
// constant (flows.FloorStd).
func constantWarning(what string, j, n int, mean, sd float64) (string, bool) {
	if _, constant := flows.FloorStd(mean, sd, n); !constant {
		return "", false
	}
	return fmt.Sprintf("%s column %d is constant in the %d training rows (mean %.6g, std %.3g): z-scored with std 1 (centred only)",
		what, j, n, mean, sd), true
}

// nearConstantWarning returns the warning for a column of n training rows
// whose most common value fills best of them, and whether it applies (best
// at least nearConstantFrac·n).
func nearConstantWarning(what string, j, n int, sd float64, best int) (string, bool) {
	if float64(best) < nearConstantFrac*float64(n) {
		return "", false
	}
	return fmt.Sprintf("%s column %d is near-constant: one value fills %d of the %d training rows (std %.3g); "+
		"the estimator can concentrate on it, so transform or drop the column", what, j, best, n, sd), true
}

// fitErr wraps the error of flows.Fit as NPE.Train does.
func fitErr(who string, res *TrainResult, fr *flows.TrainResult, err error) (*TrainResult, error) {
	if errors.Is(err, flows.ErrConfig) {
		return nil, fmt.Errorf("sbi: %s.Train: %w: %w", who, err, ErrInput)
	}
	if fr == nil {
		return nil, fmt.Errorf("sbi: %s.Train: %w", who, err)
	}
	return res, fmt.Errorf("sbi: %s.Train: %w", who, err)
}

// NLEConfig fixes the architecture of a neural likelihood estimator. The
// zero value (and a nil *NLEConfig) is sbi's likelihood_nn default: a MAF
// with 5 transforms of 50 hidden units on x, conditioned on θ, with
// independent z-scoring of x and θ.
type NLEConfig struct {
	// Estimator is the conditional density estimator of x given θ; nil
	// means flows.MAF{}. Use flows.NSF{} for a neural spline flow. Its
	// Build is called with x as the modelled variable and θ as the context.
	Estimator Estimator
}

// NLE is a neural likelihood estimator (Papamakarios, Sterratt & Murray
// 2019, "Sequential neural likelihood"; sbi's NLE_A): a conditional
// normalizing flow q(x | θ) trained by maximum likelihood on simulations
// (θ_i, x_i), -mean log q(x_i | θ_i). The posterior is the potential
// Σ_k log q(x_k | θ) + log p(θ) over the trials of an observation, sampled
// by MCMC (Posterior), rejection or importance sampling (Potential).
//
// Use it in rounds, as sbi: AppendSimulations, Train, Posterior; for the
// sequential SNLE draw the next round's θ from the posterior at x_o (see
// InferNLE). Since the loss does not involve the proposal, the data of all
// rounds are simply pooled. Invalid simulations are an error unless the
// caller opts in (see AppendOptions.ExcludeInvalid and simStore).
//
// An NLE is not safe for concurrent use; the posteriors it returns are
// independent copies.
type NLE struct {
	simStore
	est      Estimator
	warnings []string
	flow     *flows.Flow
	trains   int
}

// NewNLE returns an untrained likelihood estimator for the prior with
// architecture cfg (nil means the defaults). The error wraps ErrInput for a
// nil prior.
func NewNLE(prior dist.Distribution, cfg *NLEConfig) (*NLE, error) {
	if prior == nil || prior.Dim() < 1 {
		return nil, fmt.Errorf("sbi: NewNLE: nil prior or prior of no dimension: %w", ErrInput)
	}
	var c NLEConfig
	if cfg != nil {
		c = *cfg
	}
	if c.Estimator == nil {
		c.Estimator = flows.MAF{}
	}
	return &NLE{simStore: simStore{prior: prior}, est: c.Estimator}, nil
}

// Prior returns the prior the estimator was created with.
func (e *NLE) Prior() dist.Distribution { return e.prior }

// Rounds returns a description of every AppendSimulations call so far.
func (e *NLE) Rounds() []RoundInfo { return append([]RoundInfo(nil), e.rounds...) }

// NumSimulations returns the number of valid simulations appended so far.
func (e *NLE) NumSimulations() int { return e.n }

// AppendSimulations adds a round of simulations: row i of theta (n×Dim of
// the prior) was simulated into row i of x (n×xDim, one trial per row, the
// same xDim in every round). The matrices are copied. opts.Proposal only
// labels the round (the NLE loss does not depend on it). Rows with NaN or
// ±Inf values are an error wrapping ErrInvalidData, whatever the proposal,
// unless opts.ExcludeInvalid is set; it returns the number of rows dropped.
// Errors wrap ErrInput for mismatched shapes; on error the estimator is
// unchanged.
func (e *NLE) AppendSimulations(theta, x *mat.Dense, opts *AppendOptions) (int, error) {
	return e.add("NLE", theta, x, opts)
}

// AppendSource makes src the estimator's training data instead of
// simulations held in memory, as NPE.AppendSource: a single round from the
// prior, streamed by Train in flows.Fit's block mode. The estimator must
// have no simulations yet, and AppendSimulations cannot follow.
// AppendSource reads every block once to check it (finite values,
// BlockLen(b) rows, θ inside the prior's support).
//
// A Source holds only valid rows: its failed and invalid simulations were
// left out by the source (simulators.StoreSource does so), which is
// AppendOptions.ExcludeInvalid's choice made by the source. AppendSource
// returns their number (the source's Dropped method, 0 without one),
// recorded in Rounds and TrainResult.NumInvalid; check it, since where the
// chance of an invalid simulation depends on θ the estimator learns
// p(x | θ, valid) (see simStore). Errors are those of NPE.AppendSource; the
// estimator is then unchanged.
func (e *NLE) AppendSource(ctx context.Context, src Source) (int, error) {
	return e.addSource(ctx, "NLE", src)
}

// Train fits the likelihood flow q(x | θ) to all simulations appended so
// far by maximum likelihood, with sbi's training loop (flows.Fit: Adam,
// batch 200, learning rate 5e-4, 10% validation, early stopping after 20
// epochs without improvement, gradient clipping 5, best weights restored).
// At the first call the flow is built and its z-scoring of x and θ fitted to
// that call's training split, as NPE.Train does; later calls continue from
// the trained weights. settings.NumAtoms is ignored. All randomness comes
// from rng.
//
// Block mode, as NPE.Train's: when the estimator trains on a Source
// (AppendSource), or TrainSettings.Blocks is set for data in memory,
// flows.Fit runs in block mode, the z-scoring statistics of x and θ are the
// exact ones of the training blocks from one streaming pass, and the flow
// is built from the rows of the first training block and given them; this
// needs a flows.MAF or flows.NSF estimator. Warnings are found in the same
// pass (a near-constant column costs a second pass over the training
// blocks). A Source is read through a least-recently-used cache of
// 2·WindowBlocks blocks (TrainResult.Stream), and its loss runs serially
// (Parts 1: the cache is not safe for concurrent use); the same rows and
// blocks in memory give bit for bit the same result. A read error stops
// training (best weights restored) with an error wrapping it.
//
// Errors wrap ErrNotTrained when no simulations were appended,
// ErrInvalidData when fewer than 2 are left, ErrInput (and flows.ErrConfig)
// for invalid settings; when ctx is cancelled or OnEpoch fails, the best
// weights so far are kept and the result is returned with the error.
func (e *NLE) Train(ctx context.Context, rng *rand.Rand, settings *TrainSettings) (*TrainResult, error) {
	s, err := e.check("NLE", rng, settings)
	if err != nil {
		return nil, err
	}
	ctx, stream, err := e.startBlocks(ctx, "NLE", &s)
	if err != nil {
		return nil, err
	}
	defer stream.stop()
	if err := setParts("NLE", &s, e.src == nil); err != nil {
		return nil, err
	}
	dt := e.prior.Dim()
	s1, s2 := rng.Uint64(), rng.Uint64()
	res := &TrainResult{Round: e.trains, Loss: LossMLE, NumSimulations: e.n, NumInvalid: e.invalid(), Stream: stream.stats}
	if e.flow == nil {
		var (
			th, xs   *mat.Dense
			init     *blockInit
			warnings []string
		)
		if s.Blocks != nil {
			if !presetEstimator(e.est) {
				return nil, fmt.Errorf("sbi: NLE.Train: block mode needs a flows.MAF or flows.NSF estimator: %w", ErrInput)
			}
			if init, err = e.blockStats(ctx, "NLE", &s, s1, s2, stream); err != nil {
				return nil, err
			}
			th, xs, warnings = init.sampleTh, init.sample, init.warnings
		} else {
			train, _ := splitIndices(e.n, s.ValidationFraction, s1, s2)
			th = gatherDense(e.theta, dt, train)
			xs = gatherDense(e.x, e.xDim, train)
			warnings = append(zscoreWarnings("θ", e.theta, dt, train), zscoreWarnings("x", e.x, e.xDim, train)...)
		}
		f, err := e.est.Build(xs, th, rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64())))
		if err != nil {
			if errors.Is(err, flows.ErrConfig) || errors.Is(err, flows.ErrData) {
				return nil, fmt.Errorf("sbi: NLE.Train: building the likelihood estimator: %w: %w", err, ErrInput)
			}
			return nil, fmt.Errorf("sbi: NLE.Train: building the likelihood estimator: %w", err)
		}
		if f.Dim() != e.xDim || f.ContextDim() != dt {
			return nil, fmt.Errorf("sbi: NLE.Train: estimator built a flow of dimension %d with context %d for x of %d and θ of %d columns: %w",
				f.Dim(), f.ContextDim(), e.xDim, dt, ErrInput)
		}
		if init != nil {
			// x is the flow's variable, θ its context.
			if err := f.Restandardize(init.xM, init.xS, init.thM, init.thS); err != nil {
				return nil, fmt.Errorf("sbi: NLE.Train: %w: %w", err, ErrInput)
			}
		}
		e.flow, e.warnings = f, warnings
	}
	res.Warnings = e.Warnings()
	f, rows := e.flow, e.rowsFunc(stream)
	loss := func(tp *nn.Tape, idx []int) *nn.Tensor {
		th, xs := rows(tp, idx)
		return tp.Neg(tp.Mean(f.LogProb(tp, xs, th)))
	}
	fr, err := flows.Fit(ctx, e.flow.Params(), e.n, loss, rand.New(rand.NewPCG(s1, s2)), &s.Settings)
	e.trains++
	if fr != nil {
		res.TrainResult = *fr
	}
	if rerr := stream.finish("NLE", res); rerr != nil {
		if fr == nil {
			return nil, rerr
		}
		return res, rerr
	}
	if err != nil {
		return fitErr("NLE", res, fr, err)
	}
	return res, nil
}

// Warnings returns the warnings about the training data found when the
// flow was built at the first Train (nil when there were none): columns of
// θ or x that the z-scoring treats as constant (standard deviation below
// 1e-12·max(1, |mean|), see flows.FloorStd: they get std 1 and are only
// centred), and near-constant columns, in which one value fills at least 99%
// of the training rows: the likelihood estimate then degenerates around that
// value, and the potential at an observation with another value there is
// extreme. Transform or drop such columns.
func (e *NLE) Warnings() []string { return append([]string(nil), e.warnings...) }

// Likelihood returns an independent copy of the trained likelihood flow
// q(x | θ) (dimension xDim, context θ). The error wraps ErrNotTrained before
// the first Train.
func (e *NLE) Likelihood() (*flows.Flow, error) {
	if e.flow == nil {
		return nil, fmt.Errorf("sbi: NLE.Likelihood: %w", ErrNotTrained)
	}
	return cloneFlow(e.flow, nil)
}

// Posterior returns the MCMC posterior of the trained estimator with the
// given settings (nil means sbi's defaults, see MCMCSettings): it holds an
// independent copy of the current flow, so later training does not change
// it. The error wraps ErrNotTrained before the first Train and ErrInput for
// invalid settings.
func (e *NLE) Posterior(settings *MCMCSettings) (*MCMCPosterior, error) {
	f, err := e.Likelihood()
	if err != nil {
		return nil, err
	}
	return NewLikelihoodPosterior(f, e.prior, settings)
}

// likelihoodModel is the potential model of NLE: t(θ, x) = log q(x | θ).
type likelihoodModel struct{ flow *flows.Flow }

func (m likelihoodModel) dims() (int, int) { return m.flow.ContextDim(), m.flow.Dim() }
func (m likelihoodModel) kind() string     { return "likelihood" }

func (m likelihoodModel) pairLogs(dst []float64, theta, x *mat.Dense) {
	m.flow.LogProbBatch(dst, x, theta)
}

func (m likelihoodModel) pairTerms(tp *nn.Tape, theta, x *nn.Tensor) *nn.Tensor {
	return m.flow.LogProb(tp, x, theta)
}

// NewLikelihoodPosterior returns the MCMC posterior of a trained conditional
// flow q(x | θ) (dimension of x, context θ of the prior's dimension) for the
// prior: the potential Σ_k log q(x_k | θ) + log p(θ). The flow is not copied
// and must not be trained while the posterior is in use. Errors wrap
// ErrInput for nil arguments, mismatched dimensions or invalid settings.
func NewLikelihoodPosterior(flow *flows.Flow, prior dist.Distribution, settings *MCMCSettings) (*MCMCPosterior, error) {
	if flow == nil || prior == nil {
		return nil, fmt.Errorf("sbi: NewLikelihoodPosterior: nil flow or prior: %w", ErrInput)
	}
	if flow.ContextDim() != prior.Dim() {
		return nil, fmt.Errorf("sbi: NewLikelihoodPosterior: flow with context of dimension %d for a prior of dimension %d: %w",
			flow.ContextDim(), prior.Dim(), ErrInput)
	}
	return newMCMCPosterior(likelihoodModel{flow}, prior, settings)
}
