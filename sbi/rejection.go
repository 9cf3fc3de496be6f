package sbi

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/gosbi/gosbi/dist"
	"gonum.org/v1/gonum/mat"
)

// RejectionSettings tunes a RejectionPosterior. The zero value of each
// field means its documented default (sbi's where one exists); a nil
// *RejectionSettings means all defaults.
type RejectionSettings struct {
	// Candidates is the number of proposal draws whose log ratio
	// log p̃(θ) - log q(θ) starts the search for its maximum; zero means
	// 10,000 (sbi's num_samples_to_find_max).
	Candidates int
	// NumOptimize is the number of best candidates refined by Nelder–Mead;
	// zero means 10.
	NumOptimize int
	// Iterations bounds the function evaluations of each refinement; zero
	// means 200·d for θ of dimension d.
	Iterations int
	// SafetyFactor multiplies the largest ratio found to give the bound M;
	// zero means 1.2 (sbi's m). It must be at least 1.
	SafetyFactor float64
	// LogBound, if KnownBound is set, is log M itself and no search is run.
	LogBound   float64
	KnownBound bool
	// MaxDraws is the budget of proposal draws of one SampleN call; zero
	// means max(100·n, 100,000).
	MaxDraws int
	// MaxTime bounds the wall time of one SampleN call; zero means none.
	MaxTime time.Duration
	// AllowPartial returns the samples accepted so far, Complete false,
	// when the budget runs out, instead of an error wrapping ErrBudget.
	AllowPartial bool
	// BatchSize is the number of proposal draws per batch; zero means
	// 10,000.
	BatchSize int
}

func (s *RejectionSettings) withDefaults(d int) (RejectionSettings, error) {
	var r RejectionSettings
	if s != nil {
		r = *s
	}
	if r.Candidates == 0 {
		r.Candidates = 10_000
	}
	if r.NumOptimize == 0 {
		r.NumOptimize = 10
	}
	if r.Iterations == 0 {
		r.Iterations = 200 * d
	}
	if r.SafetyFactor == 0 {
		r.SafetyFactor = 1.2
	}
	if r.BatchSize == 0 {
		r.BatchSize = 10_000
	}
	switch {
	case r.Candidates < 1 || r.NumOptimize < 0 || r.Iterations < 1 || r.BatchSize < 1 || r.MaxDraws < 0 || r.MaxTime < 0:
		return r, fmt.Errorf("sbi: rejection settings: negative or zero count or duration in %+v: %w", r, ErrInput)
	case !(r.SafetyFactor >= 1) || math.IsInf(r.SafetyFactor, 0):
		return r, fmt.Errorf("sbi: rejection settings: SafetyFactor %v, want ≥ 1: %w", r.SafetyFactor, ErrInput)
	case r.KnownBound && (math.IsNaN(r.LogBound) || math.IsInf(r.LogBound, 0)):
		return r, fmt.Errorf("sbi: rejection settings: LogBound %v: %w", r.LogBound, ErrInput)
	}
	return r, nil
}

// RejectionPosterior samples an unnormalised density p̃ (such as a
// Potential) by rejection from a proposal q (such as the prior or an NPE
// posterior), as sbi's RejectionPosterior: a draw θ ~ q is accepted with
// probability p̃(θ) / (M q(θ)), which gives exact samples of p̃/Z when
// M ≥ sup p̃/q. M is found by maximising log p̃ - log q: the best of
// Candidates proposal draws are refined by Nelder–Mead (in the unconstrained
// coordinates of the target's support when it implements dist.Bounded),
// and the maximum found is multiplied by SafetyFactor.
//
// A search that does not converge (typically because the ratio is unbounded)
// is reported in Warnings. A draw whose ratio exceeds M during sampling proves the bound too small:
// the bound is raised to that ratio times SafetyFactor for the rest of the
// call, the event is counted (BoundViolations) and reported as a warning,
// since the samples accepted before were drawn with a bound that was too
// small and are slightly biased towards low-ratio regions.
//
// The acceptance rate estimates Z/M, so the result also reports an estimate
// of log Z. A RejectionPosterior is safe for concurrent use when its
// target and proposal are.
type RejectionPosterior struct {
	target   dist.LogProber
	proposal dist.Distribution
	s        RejectionSettings
	logM     float64
	lo, hi   []float64
	warnings []string
}

// NewRejectionPosterior returns the rejection sampler of target with
// proposal, finding the bound from rng (unless KnownBound). The proposal
// must cover the target's support and have tails at least as heavy as the
// target's. Errors wrap ErrInput for nil arguments, invalid settings, or a
// ratio that is unbounded or -Inf at every candidate (no candidate of
// positive target density).
func NewRejectionPosterior(ctx context.Context, target dist.LogProber, proposal dist.Distribution, rng *rand.Rand, settings *RejectionSettings) (*RejectionPosterior, error) {
	if target == nil || proposal == nil || rng == nil {
		return nil, fmt.Errorf("sbi: NewRejectionPosterior: nil target, proposal or rng: %w", ErrInput)
	}
	d := proposal.Dim()
	if td, ok := target.(interface{ Dim() int }); ok && td.Dim() != d {
		return nil, fmt.Errorf("sbi: NewRejectionPosterior: target of dimension %d, proposal %d: %w", td.Dim(), d, ErrInput)
	}
	s, err := settings.withDefaults(d)
	if err != nil {
		return nil, err
	}
	p := &RejectionPosterior{target: target, proposal: proposal, s: s}
	if b, ok := target.(dist.Bounded); ok {
		p.lo, p.hi = b.Bounds()
	}
	if s.KnownBound {
		p.logM = s.LogBound
		return p, nil
	}
	maxRatio, err := p.findMax(ctx, rng)
	if err != nil {
		return nil, err
	}
	p.logM = maxRatio + math.Log(s.SafetyFactor)
	return p, nil
}

// logRatios writes log p̃ - log q of every row of theta into dst.
func (p *RejectionPosterior) logRatios(dst, buf []float64, theta *mat.Dense) {
	dist.LogProbs(p.target, theta, dst)
	dist.LogProbs(p.proposal, theta, buf)
	for i := range dst {
		dst[i] = ratio(dst[i], buf[i])
	}
}

// ratio returns lt - lq, -Inf where the target vanishes, +Inf where only the
// proposal does.
func ratio(lt, lq float64) float64 {
	switch {
	case math.IsInf(lt, -1) || math.IsNaN(lt):
		return math.Inf(-1)
	case math.IsInf(lq, -1):
		return math.Inf(1)
	}
	return lt - lq
}

// findMax searches sup log p̃/q.
func (p *RejectionPosterior) findMax(ctx context.Context, rng *rand.Rand) (float64, error) {
	d := p.proposal.Dim()
	n := p.s.Candidates
	cand := mat.NewDense(n, d, nil)
	sampleInto(p.proposal, cand, rng)
	lr, buf := make([]float64, n), make([]float64, n)
	p.logRatios(lr, buf, cand)
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return lr[idx[a]] > lr[idx[b]] })
	best := lr[idx[0]]
	if math.IsInf(best, 1) {
		return 0, fmt.Errorf("sbi: NewRejectionPosterior: the proposal density vanishes at a point of positive target density %v: %w", cand.RawRowView(idx[0]), ErrInput)
	}
	if math.IsInf(best, -1) {
		return 0, fmt.Errorf("sbi: NewRejectionPosterior: no candidate of positive target density among %d proposal draws: %w", n, ErrInput)
	}
	var bij *dist.Bijection
	if p.lo != nil {
		b, err := dist.NewBijection(p.lo, p.hi)
		if err != nil {
			return 0, fmt.Errorf("sbi: NewRejectionPosterior: target bounds: %w: %w", err, ErrInput)
		}
		bij = b
	}
	theta := make([]float64, d)
	row := mat.NewDense(1, d, theta)
	one, one2 := make([]float64, 1), make([]float64, 1)
	f := func(z []float64) float64 {
		if bij != nil {
			bij.Forward(theta, z)
		} else {
			copy(theta, z)
		}
		p.logRatios(one, one2, row)
		v := one[0]
		if v > best {
			best = v
		}
		switch {
		case math.IsInf(v, 1):
			return math.Inf(-1) // the caller reports it below
		case math.IsInf(v, -1) || math.IsNaN(v):
			return math.MaxFloat64
		}
		return -v
	}
	unbounded, notConverged := false, 0
	for r := 0; r < min(p.s.NumOptimize, n); r++ {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		if math.IsInf(lr[idx[r]], -1) {
			break
		}
		z := make([]float64, d)
		if bij != nil {
			bij.Inverse(z, cand.RawRowView(idx[r]))
		} else {
			copy(z, cand.RawRowView(idx[r]))
		}
		_, _, ok := nelderMead(func(z []float64) float64 {
			v := f(z)
			if math.IsInf(v, -1) {
				unbounded = true
				return -math.MaxFloat64
			}
			return v
		}, z, p.s.Iterations)
		if !ok {
			notConverged++
		}
		if unbounded {
			return 0, fmt.Errorf("sbi: NewRejectionPosterior: the ratio of target to proposal is unbounded (proposal tails lighter than the target's): %w", ErrInput)
		}
	}
	if notConverged > 0 {
		p.warnings = append(p.warnings, fmt.Sprintf(
			"the search for the maximum of log target - log proposal did not converge from %d of %d starts within %d evaluations: "+
				"the ratio may be unbounded (proposal tails lighter than the target's) and the bound too small", notConverged, min(p.s.NumOptimize, n), p.s.Iterations))
	}
	return best, nil
}

// Warnings returns the warnings of the search for the bound (nil when it
// converged); they are repeated in every RejectionResult.
func (p *RejectionPosterior) Warnings() []string { return append([]string(nil), p.warnings...) }

// LogBound returns log M, the bound on log p̃ - log q used for sampling.
func (p *RejectionPosterior) LogBound() float64 { return p.logM }

// Dim returns the dimension of θ.
func (p *RejectionPosterior) Dim() int { return p.proposal.Dim() }

// RejectionResult is the outcome of RejectionPosterior.SampleN.
type RejectionResult struct {
	// Samples holds the accepted draws, one per row (nil if none).
	Samples *mat.Dense
	// Draws is the number of proposal draws, Accepted the number accepted
	// (which may exceed the rows of Samples: surplus draws of the last batch
	// are discarded), AcceptanceRate = Accepted/Draws.
	Draws, Accepted int
	AcceptanceRate  float64
	// LogBound is the final log M; BoundViolations counts draws whose log
	// ratio exceeded the bound in force (each raised it).
	LogBound        float64
	BoundViolations int
	// LogZ estimates log ∫ p̃ = log M + log(acceptance rate), valid when
	// there were no bound violations (NaN before any acceptance).
	LogZ float64
	// Complete is false when the budget ran out with AllowPartial set.
	Complete bool
	// Warnings describes bound violations.
	Warnings []string
	// Runtime is the wall time of the call.
	Runtime time.Duration
}

// SampleN draws n samples by rejection. Errors wrap ErrInput for n < 1 or a
// nil rng, ErrBudget when MaxDraws or MaxTime run out first (unless
// AllowPartial), or the context's error.
func (p *RejectionPosterior) SampleN(ctx context.Context, n int, rng *rand.Rand) (*RejectionResult, error) {
	start := time.Now()
	if n < 1 || rng == nil {
		return nil, fmt.Errorf("sbi: RejectionPosterior.SampleN: %d samples, rng %v: %w", n, rng != nil, ErrInput)
	}
	d := p.Dim()
	budget := p.s.MaxDraws
	if budget == 0 {
		budget = max(100*n, 100_000)
	}
	res := &RejectionResult{LogBound: p.logM, Complete: true, Warnings: p.Warnings()}
	logM := p.logM
	out := make([]float64, 0, n*d)
	batch := mat.NewDense(min(p.s.BatchSize, budget), d, nil)
	lr, buf := make([]float64, p.s.BatchSize), make([]float64, p.s.BatchSize)
	got := 0
	for got < n {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		left := budget - res.Draws
		if left <= 0 || (p.s.MaxTime > 0 && time.Since(start) > p.s.MaxTime) {
			res.Complete = false
			break
		}
		m := min(p.s.BatchSize, left)
		b := batch.Slice(0, m, 0, d).(*mat.Dense)
		sampleInto(p.proposal, b, rng)
		p.logRatios(lr[:m], buf[:m], b)
		res.Draws += m
		for i := range m {
			v := lr[i]
			if v > logM {
				res.BoundViolations++
				logM = v + math.Log(p.s.SafetyFactor)
			}
			if math.IsInf(v, -1) || math.Log(rng.Float64()) >= v-logM {
				continue
			}
			res.Accepted++
			if got < n {
				out = append(out, b.RawRowView(i)...)
				got++
			}
		}
	}
	if got > 0 {
		res.Samples = mat.NewDense(got, d, out)
	}
	res.LogBound = logM
	res.AcceptanceRate = float64(res.Accepted) / float64(max(res.Draws, 1))
	res.LogZ = math.NaN()
	if res.Accepted > 0 {
		res.LogZ = logM + math.Log(res.AcceptanceRate)
	}
	if res.BoundViolations > 0 {
		res.Warnings = append(res.Warnings, fmt.Sprintf(
			"%d draws exceeded the bound on the target/proposal ratio; it was raised to log M = %.4g, and earlier samples are slightly biased",
			res.BoundViolations, logM))
	}
	res.Runtime = time.Since(start)
	if !res.Complete && !p.s.AllowPartial {
		return res, fmt.Errorf("sbi: RejectionPosterior.SampleN: %d of %d samples after %d draws (acceptance %.3g): %w",
			got, n, res.Draws, res.AcceptanceRate, ErrBudget)
	}
	return res, nil
}

// nelderMead minimises f from x0 by the Nelder–Mead simplex method (Nelder &
// Mead 1965, with the standard coefficients: reflection 1, expansion 2,
// contraction ½, shrinkage ½; initial simplex x0 + 0.5·e_j, or 0.5·|x0_j|
// when larger) with at most maxEval evaluations, and returns the best point
// and value, and whether it converged: the values of the simplex agree to
// 1e-10 (relative) before the evaluations run out.
func nelderMead(f func([]float64) float64, x0 []float64, maxEval int) ([]float64, float64, bool) {
	d := len(x0)
	pts := make([][]float64, d+1)
	vals := make([]float64, d+1)
	for i := range pts {
		pts[i] = append([]float64(nil), x0...)
		if i > 0 {
			pts[i][i-1] += math.Max(0.5, 0.5*math.Abs(x0[i-1]))
		}
		vals[i] = f(pts[i])
	}
	evals := d + 1
	converged := false
	order := make([]int, d+1)
	cen, xr, xe, xc := make([]float64, d), make([]float64, d), make([]float64, d), make([]float64, d)
	along := func(dst []float64, t float64, worst []float64) {
		for j := range dst {
			dst[j] = cen[j] + t*(worst[j]-cen[j])
		}
	}
	for evals < maxEval {
		for i := range order {
			order[i] = i
		}
		sort.Slice(order, func(a, b int) bool { return vals[order[a]] < vals[order[b]] })
		best, worst, second := order[0], order[d], order[d-1]
		if math.Abs(vals[worst]-vals[best]) <= 1e-10*(1+math.Abs(vals[best])) {
			converged = true
			break
		}
		clear(cen)
		for _, i := range order[:d] {
			for j := range cen {
				cen[j] += pts[i][j] / float64(d)
			}
		}
		along(xr, -1, pts[worst])
		fr := f(xr)
		evals++
		switch {
		case fr < vals[best]:
			along(xe, -2, pts[worst])
			fe := f(xe)
			evals++
			if fe < fr {
				copy(pts[worst], xe)
				vals[worst] = fe
			} else {
				copy(pts[worst], xr)
				vals[worst] = fr
			}
		case fr < vals[second]:
			copy(pts[worst], xr)
			vals[worst] = fr
		default:
			if fr >= vals[worst] {
				along(xc, 0.5, pts[worst]) // inside contraction
			} else {
				along(xc, -0.5, pts[worst]) // outside contraction
			}
			fc := f(xc)
			evals++
			if fc < math.Min(fr, vals[worst]) {
				copy(pts[worst], xc)
				vals[worst] = fc
				continue
			}
			for _, i := range order[1:] {
				for j := range pts[i] {
					pts[i][j] = pts[best][j] + 0.5*(pts[i][j]-pts[best][j])
				}
				vals[i] = f(pts[i])
				evals++
			}
		}
	}
	bi := 0
	for i := range vals {
		if vals[i] < vals[bi] {
			bi = i
		}
	}
	return pts[bi], vals[bi], converged
}
