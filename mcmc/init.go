package mcmc

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"

	"gonum.org/v1/gonum/mat"

	"github.com/gosbi/gosbi/dist"
)

// Init chooses the starting points of the chains. Init returns one point
// per row, in the original space of the target: either `chains` rows or a
// single row that every chain starts from. Sample rejects a starting point of
// log density -Inf.
type Init interface {
	Init(ctx context.Context, target dist.LogProber, chains int, rng *rand.Rand) (*mat.Dense, error)
}

// InitFunc adapts a function to the Init interface.
type InitFunc func(ctx context.Context, target dist.LogProber, chains int, rng *rand.Rand) (*mat.Dense, error)

// Init calls f.
func (f InitFunc) Init(ctx context.Context, target dist.LogProber, chains int, rng *rand.Rand) (*mat.Dense, error) {
	return f(ctx, target, chains, rng)
}

var (
	_ Init = FromPoints{}
	_ Init = FromProposal{}
	_ Init = SIR{}
	_ Init = Resample{}
	_ Init = InitFunc(nil)
)

// FromPoints starts the chains at given points: X has one row per chain, or
// a single row shared by every chain.
type FromPoints struct {
	X *mat.Dense
}

// Init returns a copy of X. It returns ErrNoChains when X is nil or empty.
func (f FromPoints) Init(_ context.Context, _ dist.LogProber, _ int, _ *rand.Rand) (*mat.Dense, error) {
	if f.X == nil || f.X.IsEmpty() {
		return nil, fmt.Errorf("%w: FromPoints has no points", ErrNoChains)
	}
	return mat.DenseCopyOf(f.X), nil
}

// FromProposal starts each chain at an independent draw from a proposal
// (typically the prior), redrawing while the target's log density is -Inf
// (sbi's "proposal" strategy).
type FromProposal struct {
	Proposal dist.Sampler
	// MaxTries bounds the draws per chain; 0 means 1000.
	MaxTries int
}

// Init draws the points. It returns an error wrapping ErrInitInf when no
// draw of positive density is found within MaxTries for some chain, and one
// wrapping ErrNaN when the target is NaN at a draw.
func (f FromProposal) Init(ctx context.Context, target dist.LogProber, chains int, rng *rand.Rand) (*mat.Dense, error) {
	if f.Proposal == nil {
		return nil, fmt.Errorf("%w: FromProposal has a nil Proposal", ErrInvalid)
	}
	tries := f.MaxTries
	if tries == 0 {
		tries = 1000
	}
	if tries < 0 {
		return nil, fmt.Errorf("%w: FromProposal.MaxTries = %d", ErrInvalid, tries)
	}
	var out *mat.Dense
	for k := range chains {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		found := false
		for range tries {
			x := f.Proposal.Sample(nil, rng)
			if out == nil {
				out = mat.NewDense(chains, len(x), nil)
			}
			lp := target.LogProb(x)
			if math.IsNaN(lp) || math.IsInf(lp, 1) {
				return nil, nanError(lp, x)
			}
			if !math.IsInf(lp, -1) {
				out.SetRow(k, x)
				found = true
				break
			}
		}
		if !found {
			return nil, fmt.Errorf("%w: %d proposal draws for chain %d all have log density -Inf", ErrInitInf, tries, k)
		}
	}
	if out == nil {
		return nil, ErrNoChains
	}
	return out, nil
}

// SIR starts the chains by sampling-importance-resampling: it draws
// Candidates points from the proposal, weights each by
// target(x)/proposal(x), and picks the starting points with probability
// proportional to the weights, without replacement (while enough candidates
// of positive weight exist), so that chains start at distinct points that
// are approximately target-distributed.
type SIR struct {
	Proposal dist.Distribution
	// Candidates is the number of proposal draws; 0 means 10000 (sbi's
	// 10 batches of 1000).
	Candidates int
}

// Init draws and resamples the candidates. It returns an error wrapping
// ErrInitInf when every candidate has zero weight.
func (s SIR) Init(ctx context.Context, target dist.LogProber, chains int, rng *rand.Rand) (*mat.Dense, error) {
	if s.Proposal == nil {
		return nil, fmt.Errorf("%w: SIR has a nil Proposal", ErrInvalid)
	}
	return resample(ctx, target, s.Proposal, s.Proposal, s.Candidates, chains, rng)
}

// Resample starts the chains by resampling Candidates proposal draws with
// weights proportional to the target density alone, exp(log target(x)),
// without dividing by the proposal density; this is sbi's "resample" (and
// former "sir") strategy, which favours the posterior's high-density region
// more strongly than SIR when the proposal is the prior.
type Resample struct {
	Proposal dist.Sampler
	// Candidates is the number of proposal draws; 0 means 10000.
	Candidates int
}

// Init draws and resamples the candidates. It returns an error wrapping
// ErrInitInf when every candidate has zero weight.
func (s Resample) Init(ctx context.Context, target dist.LogProber, chains int, rng *rand.Rand) (*mat.Dense, error) {
	if s.Proposal == nil {
		return nil, fmt.Errorf("%w: Resample has a nil Proposal", ErrInvalid)
	}
	return resample(ctx, target, s.Proposal, nil, s.Candidates, chains, rng)
}

// resample draws candidates from prop and picks chains of them with
// probability proportional to target/q (or target alone if q is nil).
func resample(ctx context.Context, target dist.LogProber, prop dist.Sampler, q dist.LogProber, n, chains int, rng *rand.Rand) (*mat.Dense, error) {
	if n == 0 {
		n = 10000
	}
	if n < 0 {
		return nil, fmt.Errorf("%w: %d candidates", ErrInvalid, n)
	}
	if chains <= 0 {
		return nil, ErrNoChains
	}
	first := prop.Sample(nil, rng)
	dim := len(first)
	cand := mat.NewDense(n, dim, nil)
	cand.SetRow(0, first)
	if bs, ok := prop.(dist.BatchSampler); ok && n > 1 {
		bs.SampleBatch(cand.Slice(1, n, 0, dim).(*mat.Dense), rng)
	} else {
		for i := 1; i < n; i++ {
			prop.Sample(cand.RawRowView(i), rng)
		}
	}
	// Log weights, evaluated in chunks so that cancellation is noticed.
	const chunk = 1000
	logw := make([]float64, n)
	lq := make([]float64, n)
	bt, _ := target.(dist.BatchLogProber)
	var bq dist.BatchLogProber
	if q != nil {
		bq, _ = q.(dist.BatchLogProber)
	}
	for lo := 0; lo < n; lo += chunk {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		hi := min(n, lo+chunk)
		sub := cand.Slice(lo, hi, 0, dim).(*mat.Dense)
		if bt != nil {
			bt.LogProbBatch(logw[lo:hi], sub)
		} else {
			for i := lo; i < hi; i++ {
				logw[i] = target.LogProb(cand.RawRowView(i))
			}
		}
		if q != nil {
			if bq != nil {
				bq.LogProbBatch(lq[lo:hi], sub)
			} else {
				for i := lo; i < hi; i++ {
					lq[i] = q.LogProb(cand.RawRowView(i))
				}
			}
		}
	}
	// Gumbel-top-k: the k largest of log w + Gumbel noise are a weighted
	// sample without replacement (Kool et al. 2019, section 2).
	type key struct {
		k float64
		i int
	}
	var keys []key
	var finite []int
	for i := range n {
		v := logw[i]
		if math.IsNaN(v) || math.IsInf(v, 1) {
			return nil, nanError(v, cand.RawRowView(i))
		}
		if q != nil {
			v -= lq[i]
		}
		if math.IsInf(v, -1) || math.IsNaN(v) {
			continue
		}
		logw[i] = v
		finite = append(finite, i)
		keys = append(keys, key{v - math.Log(rng.ExpFloat64()), i})
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: all %d candidates have zero weight", ErrInitInf, n)
	}
	sort.Slice(keys, func(a, b int) bool { return keys[a].k > keys[b].k })
	out := mat.NewDense(chains, dim, nil)
	for k := range chains {
		var i int
		if k < len(keys) {
			i = keys[k].i
		} else {
			// Too few candidates of positive weight: draw with replacement.
			i = pickWeighted(logw, finite, rng)
		}
		out.SetRow(k, cand.RawRowView(i))
	}
	return out, nil
}

// pickWeighted draws an index from idx with probability ∝ exp(logw[i]).
func pickWeighted(logw []float64, idx []int, rng *rand.Rand) int {
	m := math.Inf(-1)
	for _, i := range idx {
		m = math.Max(m, logw[i])
	}
	var sum float64
	for _, i := range idx {
		sum += math.Exp(logw[i] - m)
	}
	u := rng.Float64() * sum
	for _, i := range idx {
		u -= math.Exp(logw[i] - m)
		if u <= 0 {
			return i
		}
	}
	return idx[len(idx)-1]
}
