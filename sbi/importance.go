package sbi

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/gosbi/gosbi/dist"
	"gonum.org/v1/gonum/mat"
)

// ImportanceSettings tunes an ImportanceSamplingPosterior. The zero value
// of each field means its documented default (sbi's where one exists); a nil
// *ImportanceSettings means all defaults.
type ImportanceSettings struct {
	// Oversampling is the number of proposal draws per returned sample;
	// zero means 32 (sbi's oversampling_factor).
	Oversampling int
	// BatchSize is the largest number of proposal draws per batch; zero
	// means 10,000.
	BatchSize int
	// MaxDraws bounds the proposal draws of one call; zero means
	// max(100·Oversampling·n, 100,000). Groups of draws that all have zero
	// weight are redrawn within this budget.
	MaxDraws int
}

func (s *ImportanceSettings) withDefaults() (ImportanceSettings, error) {
	var r ImportanceSettings
	if s != nil {
		r = *s
	}
	if r.Oversampling == 0 {
		r.Oversampling = 32
	}
	if r.BatchSize == 0 {
		r.BatchSize = 10_000
	}
	if r.Oversampling < 1 || r.BatchSize < 1 || r.MaxDraws < 0 {
		return r, fmt.Errorf("sbi: importance settings %+v: %w", r, ErrInput)
	}
	r.BatchSize = max(r.BatchSize, r.Oversampling)
	return r, nil
}

// ImportanceSamplingPosterior samples an unnormalised density p̃ (such as a
// Potential) by sampling-importance-resampling (SIR; Rubin 1988) from a
// proposal q, as sbi's ImportanceSamplingPosterior with method "sir": for
// each returned sample it draws Oversampling candidates θ_j ~ q, weighs them
// by w_j = p̃(θ_j)/q(θ_j) and keeps one with probability w_j/Σw. With a
// finite oversampling factor the samples are approximate (exact as it grows).
//
// The weights of all draws also give the importance-sampling estimate of
// the normalising constant, Ẑ = mean_j w_j (unbiased for Z = ∫ p̃, with
// standard error sd(w)/√N, reported on the log scale by the delta method),
// and Kish's effective sample size (Σw)²/Σw², which measures how well q
// covers p̃. It is safe for concurrent use when its target and proposal
// are.
type ImportanceSamplingPosterior struct {
	target   dist.LogProber
	proposal dist.Distribution
	s        ImportanceSettings
}

// NewImportanceSamplingPosterior returns the SIR sampler of target with
// proposal. The proposal must cover the target's support. Errors wrap
// ErrInput for nil arguments, mismatched dimensions or invalid settings.
func NewImportanceSamplingPosterior(target dist.LogProber, proposal dist.Distribution, settings *ImportanceSettings) (*ImportanceSamplingPosterior, error) {
	if target == nil || proposal == nil {
		return nil, fmt.Errorf("sbi: NewImportanceSamplingPosterior: nil target or proposal: %w", ErrInput)
	}
	if td, ok := target.(interface{ Dim() int }); ok && td.Dim() != proposal.Dim() {
		return nil, fmt.Errorf("sbi: NewImportanceSamplingPosterior: target of dimension %d, proposal %d: %w", td.Dim(), proposal.Dim(), ErrInput)
	}
	s, err := settings.withDefaults()
	if err != nil {
		return nil, err
	}
	return &ImportanceSamplingPosterior{target: target, proposal: proposal, s: s}, nil
}

// Dim returns the dimension of θ.
func (p *ImportanceSamplingPosterior) Dim() int { return p.proposal.Dim() }

// ImportanceResult is the outcome of ImportanceSamplingPosterior.SampleN
// and EstimateLogZ.
type ImportanceResult struct {
	// Samples holds the resampled draws, one per row (nil for
	// EstimateLogZ).
	Samples *mat.Dense
	// Draws is the number of proposal draws.
	Draws int
	// ESS is Kish's effective sample size of the weights of all draws,
	// (Σw)²/Σw², between 1 and Draws.
	ESS float64
	// LogZ is log mean w over all draws, the log of the importance
	// estimate of ∫ p̃; LogZStdErr its standard error by the delta method,
	// sd(w)/(mean(w)·√Draws).
	LogZ, LogZStdErr float64
	// Runtime is the wall time of the call.
	Runtime time.Duration
}

// weightAcc accumulates importance weights stably on the log scale.
type weightAcc struct {
	n           int
	shift       float64 // running maximum of log w
	sum, sumSq  float64 // Σ exp(lw - shift), Σ exp(2(lw - shift))
	initialised bool
}

func (a *weightAcc) add(lw float64) {
	a.n++
	if math.IsInf(lw, -1) {
		return
	}
	if !a.initialised {
		a.shift, a.initialised = lw, true
	}
	if lw > a.shift {
		r := math.Exp(a.shift - lw)
		a.sum *= r
		a.sumSq *= r * r
		a.shift = lw
	}
	e := math.Exp(lw - a.shift)
	a.sum += e
	a.sumSq += e * e
}

// finish returns log mean w, its delta-method standard error and Kish's ESS.
func (a *weightAcc) finish() (logZ, se, ess float64) {
	if !a.initialised {
		return math.Inf(-1), math.NaN(), 0
	}
	n := float64(a.n)
	mean := a.sum / n
	logZ = a.shift + math.Log(mean)
	variance := math.Max(a.sumSq/n-mean*mean, 0) * n / math.Max(n-1, 1)
	se = math.Sqrt(variance/n) / mean
	ess = a.sum * a.sum / a.sumSq
	return logZ, se, ess
}

// logWeights draws m proposal samples into b and writes their log weights.
func (p *ImportanceSamplingPosterior) logWeights(lw, buf []float64, b *mat.Dense, rng *rand.Rand) {
	sampleInto(p.proposal, b, rng)
	dist.LogProbs(p.target, b, lw)
	dist.LogProbs(p.proposal, b, buf)
	for i := range lw {
		lw[i] = ratio(lw[i], buf[i])
		if math.IsInf(lw[i], 1) {
			panic(fmt.Sprintf("sbi: ImportanceSamplingPosterior: proposal density vanishes at its own draw %v", b.RawRowView(i)))
		}
	}
}

// SampleN draws n samples by SIR and estimates log Z and the ESS from all
// draws. Errors wrap ErrInput for n < 1 or a nil rng, ErrBudget when
// MaxDraws run out because whole groups of draws have zero weight (the
// proposal misses the target), or the context's error.
func (p *ImportanceSamplingPosterior) SampleN(ctx context.Context, n int, rng *rand.Rand) (*ImportanceResult, error) {
	return p.run(ctx, n, 0, rng)
}

// EstimateLogZ estimates log ∫ p̃ (and the ESS) from draws proposal draws
// without resampling. Errors wrap ErrInput for draws < 2 or a nil rng, or
// are the context's error.
func (p *ImportanceSamplingPosterior) EstimateLogZ(ctx context.Context, draws int, rng *rand.Rand) (*ImportanceResult, error) {
	if draws < 2 {
		return nil, fmt.Errorf("sbi: ImportanceSamplingPosterior.EstimateLogZ: %d draws: %w", draws, ErrInput)
	}
	return p.run(ctx, 0, draws, rng)
}

// run draws n SIR samples, or only estimates from draws draws when n is 0.
func (p *ImportanceSamplingPosterior) run(ctx context.Context, n, draws int, rng *rand.Rand) (*ImportanceResult, error) {
	start := time.Now()
	if rng == nil || (n < 1 && draws < 1) {
		return nil, fmt.Errorf("sbi: ImportanceSamplingPosterior: %d samples, rng %v: %w", n, rng != nil, ErrInput)
	}
	d, k := p.Dim(), p.s.Oversampling
	if n == 0 {
		k = 1
	}
	budget := p.s.MaxDraws
	if budget == 0 {
		budget = max(100*k*n, 100_000)
	}
	if draws > 0 {
		budget = draws
	}
	groups := max(p.s.BatchSize/k, 1)
	b := mat.NewDense(groups*k, d, nil)
	lw, buf := make([]float64, groups*k), make([]float64, groups*k)
	var acc weightAcc
	var out []float64
	if n > 0 {
		out = make([]float64, 0, n*d)
	}
	got := 0
	for (n > 0 && got < n) || (n == 0 && acc.n < draws) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		left := budget - acc.n
		if left < k {
			return nil, fmt.Errorf("sbi: ImportanceSamplingPosterior.SampleN: %d of %d samples after %d draws, the rest of zero weight: %w",
				got, n, acc.n, ErrBudget)
		}
		g := min(groups, left/k)
		if n > 0 {
			g = min(g, n-got)
		}
		m := g * k
		bb := b.Slice(0, m, 0, d).(*mat.Dense)
		p.logWeights(lw[:m], buf[:m], bb, rng)
		for _, v := range lw[:m] {
			acc.add(v)
		}
		if n == 0 {
			continue
		}
		for gi := range g {
			grp := lw[gi*k : (gi+1)*k]
			if j := pickLog(grp, rng); j >= 0 {
				out = append(out, bb.RawRowView(gi*k+j)...)
				got++
			}
		}
	}
	res := &ImportanceResult{Draws: acc.n}
	res.LogZ, res.LogZStdErr, res.ESS = acc.finish()
	if n > 0 {
		res.Samples = mat.NewDense(n, d, out)
	}
	res.Runtime = time.Since(start)
	return res, nil
}

// pickLog returns an index drawn with probability proportional to exp(lw),
// or -1 when every weight is zero.
func pickLog(lw []float64, rng *rand.Rand) int {
	mx := math.Inf(-1)
	for _, v := range lw {
		mx = math.Max(mx, v)
	}
	if math.IsInf(mx, -1) {
		return -1
	}
	var sum float64
	for _, v := range lw {
		sum += math.Exp(v - mx)
	}
	u := rng.Float64() * sum
	last := -1
	for i, v := range lw {
		if math.IsInf(v, -1) {
			continue
		}
		last = i
		u -= math.Exp(v - mx)
		if u < 0 {
			return i
		}
	}
	return last
}
