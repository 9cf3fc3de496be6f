package sbi

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gosbi/gosbi/dist"
	"github.com/gosbi/gosbi/flows"
	"gonum.org/v1/gonum/mat"
)

// PosteriorSettings tunes sampling and evaluation of a DirectPosterior. The
// zero value of each field means its documented default; a nil
// *PosteriorSettings means all defaults.
type PosteriorSettings struct {
	// MaxDraws is the rejection-sampling budget: the largest number of flow
	// draws spent on one observation in one sampling call. Zero means
	// max(100·n, 100,000) for n requested samples, enough for an acceptance
	// rate of 1%.
	MaxDraws int
	// MaxTime bounds the wall time of one sampling call; zero means no
	// limit.
	MaxTime time.Duration
	// AllowPartial makes SampleN and SampleBatched return the samples
	// accepted so far, with Complete false, when the budget runs out,
	// instead of an error wrapping ErrBudget.
	AllowPartial bool
	// BatchSize is the largest number of draws per flow call; zero means
	// 10,000 (sbi's max_sampling_batch_size).
	BatchSize int
	// AcceptanceDraws is the number of flow draws used to estimate the
	// acceptance rate of an observation for the leakage correction of
	// LogProb; zero means 10,000 (sbi's num_rejection_samples).
	AcceptanceDraws int
	// Seed makes the leakage correction deterministic: the acceptance rate
	// at x is estimated from the stream rand.NewPCG(Seed, h(x)), h a hash
	// of x's bits, so it depends on x and Seed only, never on the order of
	// calls.
	Seed uint64
	// NoLeakageCorrection makes LogProb return the flow's density inside
	// the support, without dividing by the acceptance rate.
	NoLeakageCorrection bool
}

func (s *PosteriorSettings) withDefaults() (PosteriorSettings, error) {
	var r PosteriorSettings
	if s != nil {
		r = *s
	}
	if r.BatchSize == 0 {
		r.BatchSize = 10_000
	}
	if r.AcceptanceDraws == 0 {
		r.AcceptanceDraws = 10_000
	}
	switch {
	case r.MaxDraws < 0:
		return r, fmt.Errorf("sbi: posterior settings: MaxDraws %d: %w", r.MaxDraws, ErrInput)
	case r.MaxTime < 0:
		return r, fmt.Errorf("sbi: posterior settings: MaxTime %v: %w", r.MaxTime, ErrInput)
	case r.BatchSize < 1:
		return r, fmt.Errorf("sbi: posterior settings: BatchSize %d: %w", r.BatchSize, ErrInput)
	case r.AcceptanceDraws < 1:
		return r, fmt.Errorf("sbi: posterior settings: AcceptanceDraws %d: %w", r.AcceptanceDraws, ErrInput)
	}
	return r, nil
}

func (s *PosteriorSettings) budget(n int) int {
	if s.MaxDraws > 0 {
		return s.MaxDraws
	}
	return max(100*n, 100_000)
}

// DirectPosterior is the posterior of neural posterior estimation: the
// density estimator q(θ | x) restricted to the prior's support, as sbi's
// DirectPosterior. A flow can put mass outside the support ("leakage"), so
//
//	p̂(θ | x) = q(θ | x) / A(x)  for θ in the support, 0 outside,
//
// with A(x) = ∫_support q(θ | x) dθ the acceptance rate. Sampling draws from
// q and rejects draws outside the support; LogProb subtracts log A(x),
// estimated once per x by Monte Carlo (see PosteriorSettings) and cached.
// The support is where the prior's LogProb is finite.
//
// A DirectPosterior is safe for concurrent use.
type DirectPosterior struct {
	flow  *flows.Flow
	prior dist.Distribution
	// fullSupport: the prior is Bounded with every bound infinite, so A(x) = 1.
	fullSupport bool
	s           PosteriorSettings
	spec        *embeddingSpec

	mu     sync.Mutex
	logAcc map[string]float64
}

var (
	_ dist.Conditional    = (*DirectPosterior)(nil)
	_ dist.Distribution   = (*Conditioned)(nil)
	_ dist.BatchSampler   = (*Conditioned)(nil)
	_ dist.BatchLogProber = (*Conditioned)(nil)
	_ dist.Bounded        = (*Conditioned)(nil)
	_ dist.SizedSampler   = (*Conditioned)(nil)
	_ dist.BatchLogProber = (*RestrictedPrior)(nil)
	_ dist.Distribution   = (*RestrictedPrior)(nil)
	_ dist.BatchSampler   = (*RestrictedPrior)(nil)
	_ dist.Bounded        = (*RestrictedPrior)(nil)
	_ Estimator           = flows.MAF{}
	_ Estimator           = flows.NSF{}
	_ Estimator           = (*flows.MAF)(nil)
	_ Estimator           = (*flows.NSF)(nil)
)

// NewDirectPosterior returns the posterior of the trained conditional flow
// q(θ | x) (dimension the prior's, context x) for the prior. The flow is not
// copied and must not be trained while the posterior is in use. Errors wrap
// ErrInput for nil arguments, mismatched dimensions or invalid settings.
// A posterior made this way from a flow with a custom embedding cannot be
// saved; use NPE.Posterior.
func NewDirectPosterior(flow *flows.Flow, prior dist.Distribution, settings *PosteriorSettings) (*DirectPosterior, error) {
	if flow == nil || prior == nil {
		return nil, fmt.Errorf("sbi: NewDirectPosterior: nil flow or prior: %w", ErrInput)
	}
	if flow.Dim() != prior.Dim() || flow.ContextDim() < 1 {
		return nil, fmt.Errorf("sbi: NewDirectPosterior: flow of dimension %d (context %d) for a prior of dimension %d: %w",
			flow.Dim(), flow.ContextDim(), prior.Dim(), ErrInput)
	}
	s, err := settings.withDefaults()
	if err != nil {
		return nil, err
	}
	p := &DirectPosterior{flow: flow, prior: prior, s: s, logAcc: map[string]float64{}}
	if b, ok := prior.(dist.Bounded); ok {
		lo, hi := b.Bounds()
		p.fullSupport = true
		for i := range lo {
			if !math.IsInf(lo[i], -1) || !math.IsInf(hi[i], 1) {
				p.fullSupport = false
			}
		}
	}
	return p, nil
}

// Prior returns the prior.
func (p *DirectPosterior) Prior() dist.Distribution { return p.prior }

// Flow returns the density estimator. It must not be modified.
func (p *DirectPosterior) Flow() *flows.Flow { return p.flow }

// Settings returns the settings with defaults filled in.
func (p *DirectPosterior) Settings() PosteriorSettings { return p.s }

// Dims returns the dimensions of θ and x.
func (p *DirectPosterior) Dims() (theta, x int) { return p.flow.Dim(), p.flow.ContextDim() }

// WithSettings returns a posterior sharing p's flow and prior with other
// settings (nil means defaults); its leakage-correction cache starts empty.
func (p *DirectPosterior) WithSettings(settings *PosteriorSettings) (*DirectPosterior, error) {
	q, err := NewDirectPosterior(p.flow, p.prior, settings)
	if err != nil {
		return nil, err
	}
	q.spec = p.spec
	return q, nil
}

// checkX validates an observation.
func (p *DirectPosterior) checkX(x []float64) error {
	if len(x) != p.flow.ContextDim() {
		return fmt.Errorf("sbi: observation of length %d, want %d: %w", len(x), p.flow.ContextDim(), ErrInput)
	}
	if !finite(x) {
		return fmt.Errorf("sbi: observation %v has NaN or ±Inf values: %w", x, ErrInput)
	}
	return nil
}

// At returns the posterior at the observation x (copied) as a distribution
// over θ. The error wraps ErrInput when x has the wrong length or holds NaN
// or ±Inf values.
func (p *DirectPosterior) At(x []float64) (*Conditioned, error) {
	if err := p.checkX(x); err != nil {
		return nil, err
	}
	x = append([]float64(nil), x...)
	q, ok := p.flow.Condition(x).(*flows.Conditioned)
	if !ok {
		return nil, fmt.Errorf("sbi: flow conditioned to %T, want *flows.Conditioned: %w", p.flow.Condition(x), ErrInput)
	}
	return &Conditioned{p: p, x: x, q: q}, nil
}

// Condition returns the posterior at x, implementing dist.Conditional; the
// result is a *Conditioned. It panics if x has the wrong length or non-finite
// values; At returns an error instead.
func (p *DirectPosterior) Condition(x []float64) dist.Distribution {
	c, err := p.At(x)
	if err != nil {
		panic(err.Error())
	}
	return c
}

// inSupport writes whether each row of theta lies in the prior's support.
func (p *DirectPosterior) inSupport(ok []bool, theta *mat.Dense, lp []float64) []float64 {
	lp = dist.LogProbs(p.prior, theta, lp)
	for i, v := range lp {
		ok[i] = !math.IsInf(v, -1) && !math.IsNaN(v)
	}
	return lp
}

func xKey(x []float64) string {
	b := make([]byte, 8*len(x))
	for i, v := range x {
		binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(v))
	}
	return string(b)
}

// LogAcceptance returns log A(x), the log of the probability that a draw of
// the flow at x lies in the prior's support, estimated from AcceptanceDraws
// draws of the stream rand.NewPCG(Seed, h(x)) and cached; exactly 0 when the
// prior's support is all of R^d. When no draw is accepted it returns -Inf and
// an error wrapping ErrBudget. The error wraps ErrInput for an invalid x.
func (p *DirectPosterior) LogAcceptance(x []float64) (float64, error) {
	if err := p.checkX(x); err != nil {
		return 0, err
	}
	return p.logAcceptance(x)
}

func (p *DirectPosterior) logAcceptance(x []float64) (float64, error) {
	if p.fullSupport {
		return 0, nil
	}
	key := xKey(x)
	p.mu.Lock()
	v, ok := p.logAcc[key]
	p.mu.Unlock()
	if !ok {
		h := fnv.New64a()
		h.Write([]byte(key))
		rng := rand.New(rand.NewPCG(p.s.Seed, h.Sum64()))
		m := p.s.AcceptanceDraws
		c := mat.NewDense(1, len(x), append([]float64(nil), x...))
		accepted := 0
		bs := min(m, p.s.BatchSize)
		buf := mat.NewDense(bs, p.flow.Dim(), nil)
		okb := make([]bool, bs)
		lp := make([]float64, bs)
		for done := 0; done < m; done += bs {
			k := min(bs, m-done)
			dst := buf.Slice(0, k, 0, p.flow.Dim()).(*mat.Dense)
			p.flow.SampleBatch(dst, c, rng)
			p.inSupport(okb[:k], dst, lp[:k])
			for _, a := range okb[:k] {
				if a {
					accepted++
				}
			}
		}
		v = math.Log(float64(accepted) / float64(m))
		p.mu.Lock()
		p.logAcc[key] = v
		p.mu.Unlock()
	}
	if math.IsInf(v, -1) {
		return v, fmt.Errorf("sbi: none of %d draws of the flow at x fell in the prior's support: %w", p.s.AcceptanceDraws, ErrBudget)
	}
	return v, nil
}

// logAcceptanceBound returns the log of the one-sided 95% upper confidence
// bound of an acceptance rate of which none of m draws was accepted: the
// Clopper–Pearson bound 1 - 0.05^(1/m), about 3/m ("rule of three"; Hanley &
// Lippman-Hand 1983).
func logAcceptanceBound(m int) float64 {
	return math.Log(-math.Expm1(math.Log(0.05) / float64(m)))
}

// SampleResult is the outcome of rejection sampling at one observation.
type SampleResult struct {
	// Samples holds the accepted draws, one per row (nil if none).
	Samples *mat.Dense
	// Draws is the number of flow draws made and Accepted the number that
	// fell in the prior's support (Accepted may exceed the rows of Samples:
	// surplus draws of the last batch are discarded).
	Draws, Accepted int
	// AcceptanceRate is Accepted/Draws.
	AcceptanceRate float64
	// Complete is false when the budget ran out with AllowPartial set.
	Complete bool
	// Runtime is the wall time of the call.
	Runtime time.Duration
}

// sampleMany draws counts[o] samples at every observation o (row of xs) by
// rejection, in rounds of batched flow calls mixing observations; the batch
// composition depends only on the counts and the acceptance so far, so the
// result is a deterministic function of rng's state.
func (p *DirectPosterior) sampleMany(ctx context.Context, xs *mat.Dense, counts []int, rng *rand.Rand, allowPartial bool) ([]*SampleResult, error) {
	start := time.Now()
	nObs, cd := xs.Dims()
	d := p.flow.Dim()
	res := make([]*SampleResult, nObs)
	out := make([][]float64, nObs)
	budget := make([]int, nObs)
	for o := range nObs {
		res[o] = &SampleResult{Complete: true}
		out[o] = make([]float64, 0, counts[o]*d)
		budget[o] = p.s.budget(counts[o])
	}
	need := func(o int) int { return counts[o] - len(out[o])/d }
	var (
		owner []int
		cbuf  []float64
		dbuf  []float64
		ok    []bool
		lp    []float64
	)
	for {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("sbi: sampling interrupted: %w", err)
		}
		// Plan the next batch.
		owner = owner[:0]
		exhausted := false
		for o := range nObs {
			r := need(o)
			if r <= 0 {
				continue
			}
			left := budget[o] - res[o].Draws
			if left <= 0 {
				exhausted = true
				continue
			}
			m := r
			if res[o].Draws > 0 {
				// Expected draws for r acceptances, with 10% margin; at least
				// as many as drawn so far when nothing was accepted yet.
				acc := float64(res[o].Accepted) / float64(res[o].Draws)
				if res[o].Accepted == 0 {
					m = max(r, res[o].Draws)
				} else {
					m = int(math.Ceil(1.1*float64(r)/acc)) + 1
				}
			}
			m = min(m, left, p.s.BatchSize-len(owner))
			for range m {
				owner = append(owner, o)
			}
			if len(owner) >= p.s.BatchSize {
				break
			}
		}
		if len(owner) == 0 {
			if exhausted {
				break
			}
			return res, p.finish(res, out, start)
		}
		if p.s.MaxTime > 0 && time.Since(start) > p.s.MaxTime {
			exhausted = true
			break
		}
		b := len(owner)
		if cap(dbuf) < b*d {
			dbuf = make([]float64, b*d)
			ok = make([]bool, b)
			lp = make([]float64, b)
		}
		dst := mat.NewDense(b, d, dbuf[:b*d])
		var c *mat.Dense
		if nObs == 1 {
			c = xs
		} else {
			if cap(cbuf) < b*cd {
				cbuf = make([]float64, b*cd)
			}
			for i, o := range owner {
				copy(cbuf[i*cd:(i+1)*cd], xs.RawRowView(o))
			}
			c = mat.NewDense(b, cd, cbuf[:b*cd])
		}
		p.flow.SampleBatch(dst, c, rng)
		p.inSupport(ok[:b], dst, lp[:b])
		for i, o := range owner {
			res[o].Draws++
			if ok[i] {
				res[o].Accepted++
				if need(o) > 0 {
					out[o] = append(out[o], dst.RawRowView(i)...)
				}
			}
		}
	}
	// Budget (draws or time) exhausted for some observation.
	first := -1
	for o := range nObs {
		if need(o) > 0 {
			res[o].Complete = false
			if first < 0 {
				first = o
			}
		}
	}
	if !allowPartial {
		r := res[first]
		rate := 0.0
		if r.Draws > 0 {
			rate = float64(r.Accepted) / float64(r.Draws)
		}
		why := fmt.Sprintf("%d draws", r.Draws)
		if p.s.MaxTime > 0 && time.Since(start) > p.s.MaxTime {
			why = fmt.Sprintf("%v", p.s.MaxTime)
		}
		return nil, fmt.Errorf("sbi: rejection sampling at observation %d: %d of %d samples after %s (acceptance rate %.3g); "+
			"the posterior puts little mass inside the prior's support (raise MaxDraws or MaxTime, or set AllowPartial): %w",
			first, len(out[first])/d, counts[first], why, rate, ErrBudget)
	}
	return res, p.finish(res, out, start)
}

func (p *DirectPosterior) finish(res []*SampleResult, out [][]float64, start time.Time) error {
	d := p.flow.Dim()
	rt := time.Since(start)
	for o, r := range res {
		if n := len(out[o]) / d; n > 0 {
			r.Samples = mat.NewDense(n, d, out[o])
		}
		if r.Draws > 0 {
			r.AcceptanceRate = float64(r.Accepted) / float64(r.Draws)
		}
		r.Runtime = rt
	}
	return nil
}

// SampleBatched draws n samples from the posterior at every observation
// (row of xs) at once, batching flow calls across observations, and returns
// one result per observation. The budget (MaxDraws) applies per
// observation, MaxTime to the whole call. Errors wrap ErrInput for invalid
// arguments, ErrBudget when some observation's budget ran out (unless
// AllowPartial), or the context's error.
func (p *DirectPosterior) SampleBatched(ctx context.Context, xs *mat.Dense, n int, rng *rand.Rand) ([]*SampleResult, error) {
	if xs == nil || xs.IsEmpty() || rng == nil || n < 1 {
		return nil, fmt.Errorf("sbi: SampleBatched: empty observations, nil rng or %d samples: %w", n, ErrInput)
	}
	r, _ := xs.Dims()
	for i := range r {
		if err := p.checkX(xs.RawRowView(i)); err != nil {
			return nil, fmt.Errorf("sbi: SampleBatched: row %d: %w", i, err)
		}
	}
	counts := make([]int, r)
	for i := range counts {
		counts[i] = n
	}
	return p.sampleMany(ctx, mat.DenseCopyOf(xs), counts, rng, p.s.AllowPartial)
}

// LogProbBatched writes log p̂(θ_i | x_i) for every row of theta into dst
// (allocated if nil) and returns it; xs has one row per row of theta or a
// single row for all. Values are leakage-corrected as Conditioned.LogProb
// (log A(x) estimated once per distinct x and cached) and -Inf outside the
// support. Errors wrap ErrInput for mismatched shapes or invalid x, and
// ErrBudget when no acceptance-rate draw at some x was accepted.
func (p *DirectPosterior) LogProbBatched(dst []float64, theta, xs *mat.Dense) ([]float64, error) {
	if theta == nil || xs == nil || theta.IsEmpty() || xs.IsEmpty() {
		return nil, fmt.Errorf("sbi: LogProbBatched: empty θ or x: %w", ErrInput)
	}
	n, d := theta.Dims()
	r, _ := xs.Dims()
	if d != p.flow.Dim() || (r != n && r != 1) {
		return nil, fmt.Errorf("sbi: LogProbBatched: θ is %d×%d and x has %d rows, want θ with %d columns and x with %d or 1 rows: %w",
			n, d, r, p.flow.Dim(), n, ErrInput)
	}
	if dst == nil {
		dst = make([]float64, n)
	}
	if len(dst) != n {
		return nil, fmt.Errorf("sbi: LogProbBatched: dst of length %d for %d rows: %w", len(dst), n, ErrInput)
	}
	logA := make([]float64, r)
	for i := range r {
		x := xs.RawRowView(i)
		if err := p.checkX(x); err != nil {
			return nil, fmt.Errorf("sbi: LogProbBatched: row %d: %w", i, err)
		}
		if !p.s.NoLeakageCorrection {
			v, err := p.logAcceptance(x)
			if err != nil {
				return nil, err
			}
			logA[i] = v
		}
	}
	p.flow.LogProbBatch(dst, theta, xs)
	prior := dist.LogProbs(p.prior, theta, nil)
	for i := range dst {
		switch {
		case math.IsInf(prior[i], -1) || math.IsNaN(prior[i]):
			dst[i] = math.Inf(-1)
		case r == 1:
			dst[i] -= logA[0]
		default:
			dst[i] -= logA[i]
		}
	}
	return dst, nil
}

// Conditioned is a DirectPosterior at one observation x: a normalised
// distribution over θ that implements dist.Distribution, dist.BatchSampler,
// dist.BatchLogProber and dist.Bounded. It records the acceptance rate of
// all its rejection sampling (AcceptanceRate). It is safe for concurrent
// use.
type Conditioned struct {
	p               *DirectPosterior
	x               []float64
	q               *flows.Conditioned
	draws, accepted atomic.Int64
}

// Observation returns a copy of x.
func (c *Conditioned) Observation() []float64 { return append([]float64(nil), c.x...) }

// Posterior returns the DirectPosterior c was conditioned from.
func (c *Conditioned) Posterior() *DirectPosterior { return c.p }

// Dim returns the dimension of θ.
func (c *Conditioned) Dim() int { return c.p.flow.Dim() }

// Bounds returns the prior's support box when the prior is dist.Bounded,
// and (-Inf, +Inf) in every dimension otherwise.
func (c *Conditioned) Bounds() (lo, hi []float64) {
	if b, ok := c.p.prior.(dist.Bounded); ok {
		return b.Bounds()
	}
	d := c.Dim()
	lo, hi = make([]float64, d), make([]float64, d)
	for i := range lo {
		lo[i], hi[i] = math.Inf(-1), math.Inf(1)
	}
	return lo, hi
}

// LogAcceptance returns log A(x) (see DirectPosterior.LogAcceptance).
func (c *Conditioned) LogAcceptance() (float64, error) { return c.p.logAcceptance(c.x) }

// AcceptanceRate returns the fraction of the flow draws made by this
// value's sampling methods so far that fell inside the prior's support
// (NaN before any draw).
func (c *Conditioned) AcceptanceRate() float64 {
	d := c.draws.Load()
	if d == 0 {
		return math.NaN()
	}
	return float64(c.accepted.Load()) / float64(d)
}

// LogProb returns the leakage-corrected log density log q(θ | x) - log A(x)
// inside the prior's support and -Inf outside; with NoLeakageCorrection,
// log q(θ | x) inside. When no draw of the estimate of A(x) falls in the
// support (A(x) estimated as zero, see LogAcceptance), A(x) is replaced by
// its one-sided 95% upper confidence bound (see logAcceptanceBound), so that
// the value is a lower bound of the corrected density at 95% confidence
// instead of NaN or +Inf; DirectPosterior.LogProbBatched returns an error
// wrapping ErrBudget instead. It is never NaN for a finite θ. It panics if
// len(theta) != Dim.
func (c *Conditioned) LogProb(theta []float64) float64 {
	if len(theta) != c.Dim() {
		panic(fmt.Sprintf("sbi: LogProb: θ of length %d, want %d", len(theta), c.Dim()))
	}
	var out [1]float64
	c.LogProbBatch(out[:], mat.NewDense(1, len(theta), append([]float64(nil), theta...)))
	return out[0]
}

// LogProbBatch writes LogProb of every row of theta into dst (allocated if
// nil) and returns it. It panics on a shape mismatch.
func (c *Conditioned) LogProbBatch(dst []float64, theta *mat.Dense) []float64 {
	n, d := theta.Dims()
	if d != c.Dim() {
		panic(fmt.Sprintf("sbi: LogProbBatch: θ has %d columns, want %d", d, c.Dim()))
	}
	if dst == nil {
		dst = make([]float64, n)
	}
	if len(dst) != n {
		panic(fmt.Sprintf("sbi: LogProbBatch: dst of length %d for %d rows", len(dst), n))
	}
	logA := 0.0
	if !c.p.s.NoLeakageCorrection {
		var err error
		if logA, err = c.p.logAcceptance(c.x); err != nil {
			logA = logAcceptanceBound(c.p.s.AcceptanceDraws)
		}
	}
	c.q.LogProbBatch(dst, theta)
	prior := dist.LogProbs(c.p.prior, theta, nil)
	for i := range dst {
		if math.IsInf(prior[i], -1) || math.IsNaN(prior[i]) {
			dst[i] = math.Inf(-1)
		} else {
			dst[i] -= logA
		}
	}
	return dst
}

// SampleN draws n samples by rejection: draws of the flow at x outside the
// prior's support are discarded. It reports the draws made and the
// acceptance rate. Errors wrap ErrInput for n < 1 or a nil rng, ErrBudget
// when the budget (MaxDraws, MaxTime) runs out first (with AllowPartial the
// partial samples are returned instead, Complete false), or the context's
// error.
func (c *Conditioned) SampleN(ctx context.Context, n int, rng *rand.Rand) (*SampleResult, error) {
	if n < 1 || rng == nil {
		return nil, fmt.Errorf("sbi: SampleN: %d samples or nil rng: %w", n, ErrInput)
	}
	return c.sample(ctx, n, rng, c.p.s.AllowPartial)
}

func (c *Conditioned) sample(ctx context.Context, n int, rng *rand.Rand, allowPartial bool) (*SampleResult, error) {
	rs, err := c.p.sampleMany(ctx, mat.NewDense(1, len(c.x), append([]float64(nil), c.x...)), []int{n}, rng, allowPartial)
	if err != nil {
		return nil, err
	}
	c.draws.Add(int64(rs[0].Draws))
	c.accepted.Add(int64(rs[0].Accepted))
	return rs[0], nil
}

// SampleBatch fills every row of dst with a posterior sample (rejection as
// SampleN). The dist.BatchSampler interface has no error: when the budget
// runs out it panics with a message wrapping ErrBudget's text; use SampleN
// to get an error instead.
func (c *Conditioned) SampleBatch(dst *mat.Dense, rng *rand.Rand) {
	n, d := dst.Dims()
	if d != c.Dim() {
		panic(fmt.Sprintf("sbi: SampleBatch: dst has %d columns, want %d", d, c.Dim()))
	}
	r, err := c.sample(context.Background(), n, rng, false)
	if err != nil {
		panic(err.Error())
	}
	dst.Copy(r.Samples)
}

// Sample writes one posterior sample into dst (allocated if nil) and returns
// it; see SampleBatch for the budget.
func (c *Conditioned) Sample(dst []float64, rng *rand.Rand) []float64 {
	if dst == nil {
		dst = make([]float64, c.Dim())
	}
	if len(dst) != c.Dim() {
		panic(fmt.Sprintf("sbi: Sample: dst of length %d, want %d", len(dst), c.Dim()))
	}
	c.SampleBatch(mat.NewDense(1, len(dst), dst), rng)
	return dst
}
