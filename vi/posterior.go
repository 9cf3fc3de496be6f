package vi

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"

	"github.com/gosbi/gosbi/dist"
	"github.com/gosbi/gosbi/flows"
	"github.com/gosbi/gosbi/nn"
	"gonum.org/v1/gonum/mat"
)

// Posterior is a fitted variational distribution: the flow q over
// unconstrained coordinates z pushed through the bijection T onto the
// target's support, x = T(z), with density
//
//	log p(x) = log q(T⁻¹(x)) + log|det dT⁻¹/dx|.
//
// It implements dist.Distribution, dist.BatchSampler, dist.BatchLogProber
// and dist.Bounded, and keeps the target for importance resampling and
// quality control. Sampling and log densities are exact for q (no MCMC): a
// flow draws thousands of points in milliseconds. It is safe for concurrent
// use once the fit is over (the target must then be too).
type Posterior struct {
	q      *flows.Flow
	qd     dist.Distribution // q at its context
	c      *mat.Dense        // 1×C context of q, nil if unconditional
	b      *dist.Bijection   // nil for the identity
	target density           // log p̃ in z coordinates, nil if unknown
	pool   sync.Pool         // *nn.Tape (NoGrad)
}

var (
	_ dist.Distribution   = (*Posterior)(nil)
	_ dist.BatchSampler   = (*Posterior)(nil)
	_ dist.BatchLogProber = (*Posterior)(nil)
	_ dist.Bounded        = (*Posterior)(nil)
)

// NewPosterior returns the posterior of the unconditional flow q (over
// unconstrained coordinates) pushed through the bijection b (nil for the
// identity), without fitting: for a flow fitted earlier and loaded with
// flows.Load, or for a warm start. target is needed only by PSIS and
// SampleImportance and may be nil; otherwise it must be a target as for Fit
// (with a gradient or not: only values are used here). Errors wrap
// ErrConfig (nil or conditional q, bijection of another dimension) and
// ErrTarget (dimension mismatch).
func NewPosterior(target dist.LogProber, q *flows.Flow, b *dist.Bijection) (*Posterior, error) {
	if q == nil || q.ContextDim() != 0 {
		return nil, fmt.Errorf("vi: NewPosterior needs an unconditional flow: %w", ErrConfig)
	}
	if b != nil && b.Dim() != q.Dim() {
		return nil, fmt.Errorf("vi: bijection of dimension %d for q of dimension %d: %w", b.Dim(), q.Dim(), ErrConfig)
	}
	if b != nil && b.IsIdentity() {
		b = nil
	}
	p := &Posterior{q: q, qd: q.Condition(nil), b: b}
	if target != nil {
		if dd, ok := target.(interface{ Dim() int }); ok && dd.Dim() != q.Dim() {
			return nil, fmt.Errorf("vi: target of dimension %d for q of dimension %d: %w", dd.Dim(), q.Dim(), ErrTarget)
		}
		var d density
		if df, ok := target.(Differentiable); ok {
			d = diffDensity{df}
		} else {
			dd := &distDensity{lp: target, dim: q.Dim()}
			dd.bl, _ = target.(dist.BatchLogProber)
			d = dd
		}
		zd := zDensity{d: d}
		if b != nil {
			zd.bj = &bijector{b}
		}
		p.target = zd
	}
	return p, nil
}

// Dim returns the dimension of θ.
func (p *Posterior) Dim() int { return p.q.Dim() }

// Flow returns the fitted flow q (over unconstrained coordinates).
func (p *Posterior) Flow() *flows.Flow { return p.q }

// Bijection returns the map from q's space onto the support, or nil for
// the identity.
func (p *Posterior) Bijection() *dist.Bijection { return p.b }

// Context returns a copy of the context at which an amortised posterior was
// conditioned (nil for Fit's posterior).
func (p *Posterior) Context() []float64 {
	if p.c == nil {
		return nil
	}
	return append([]float64(nil), p.c.RawRowView(0)...)
}

// Bounds returns the support: the bijection's box, or the whole space.
func (p *Posterior) Bounds() (lo, hi []float64) {
	if p.b != nil {
		return p.b.Bounds()
	}
	d := p.Dim()
	lo, hi = make([]float64, d), make([]float64, d)
	for i := range d {
		lo[i], hi[i] = math.Inf(-1), math.Inf(1)
	}
	return lo, hi
}

// Sample writes one draw into dst (allocated if nil) and returns it. It
// panics if len(dst) != Dim.
func (p *Posterior) Sample(dst []float64, rng *rand.Rand) []float64 {
	dst = p.qd.Sample(dst, rng)
	if p.b != nil {
		p.b.Forward(dst, dst)
	}
	return dst
}

// SampleBatch fills every row of dst with an independent draw. It panics if
// dst does not have Dim columns.
func (p *Posterior) SampleBatch(dst *mat.Dense, rng *rand.Rand) {
	p.q.SampleBatch(dst, p.c, rng)
	if p.b != nil {
		r, _ := dst.Dims()
		for i := range r {
			row := dst.RawRowView(i)
			p.b.Forward(row, row)
		}
	}
}

// LogProb returns the normalised log density of x: -Inf outside the
// support. It panics if len(x) != Dim.
func (p *Posterior) LogProb(x []float64) float64 {
	if len(x) != p.Dim() {
		panic(fmt.Sprintf("vi: Posterior.LogProb: point of length %d, want %d", len(x), p.Dim()))
	}
	var out [1]float64
	p.LogProbBatch(out[:], mat.NewDense(1, len(x), x))
	return out[0]
}

// LogProbBatch writes the log density of every row of x into dst
// (allocated if nil) and returns it. It panics on a shape mismatch.
func (p *Posterior) LogProbBatch(dst []float64, x *mat.Dense) []float64 {
	n := checkBatch("Posterior.LogProbBatch", x, p.Dim())
	dst = useDst("Posterior.LogProbBatch", dst, n)
	if p.b == nil {
		return p.q.LogProbBatch(dst, x, p.c)
	}
	d := p.Dim()
	z := mat.NewDense(n, d, nil)
	ladj := make([]float64, n)
	inside := make([]bool, n)
	for i := range n {
		// Inverse gives NaN outside the support and ±Inf on a finite bound.
		zi := z.RawRowView(i)
		ladj[i] = p.b.Inverse(zi, x.RawRowView(i))
		inside[i] = finite(ladj[i])
		for _, v := range zi {
			inside[i] = inside[i] && finite(v)
		}
		if !inside[i] {
			clear(zi) // any finite point; the result is overwritten
		}
	}
	p.q.LogProbBatch(dst, z, p.c)
	for i := range n {
		if inside[i] {
			dst[i] += ladj[i]
		} else {
			dst[i] = math.Inf(-1)
		}
	}
	return dst
}

// errNoTarget is returned by the methods that need the target.
var errNoTarget = fmt.Errorf("vi: posterior without a target: %w", ErrTarget)

// logRatios draws n points z from q (written into z, n×Dim) and returns the
// log importance ratios log p̃(T(z)) + log|det dT/dz| - log q(z).
func (p *Posterior) logRatios(z *mat.Dense, rng *rand.Rand) []float64 {
	n, _ := z.Dims()
	p.q.SampleBatch(z, p.c, rng)
	lw := p.q.LogProbBatch(nil, z, p.c)
	tp, _ := p.pool.Get().(*nn.Tape)
	if tp == nil {
		tp = nn.NewNoGradTape()
	}
	var v nn.Tensor
	for from := 0; from < n; from += chunkRows {
		to := min(n, from+chunkRows)
		tp.Reset()
		lp := p.target.logDensity(tp, rowsTensor(tp, &v, z, from, to))
		for i := from; i < to; i++ {
			lw[i] = lp.Data[i-from] - lw[i]
			if math.IsNaN(lw[i]) {
				lw[i] = math.Inf(-1)
			}
		}
	}
	tp.Reset()
	p.pool.Put(tp)
	return lw
}

// PSIS draws n points from q and returns the Pareto-smoothed importance
// sampling diagnostics of the ratios p̃/q (see PSIS): Khat above
// KhatThreshold means q misses mass of the target. NaN log densities of the
// target count as -Inf. The error wraps ErrConfig if n < 25, ErrTarget if
// the posterior has no target and ErrData if too few ratios are finite.
func (p *Posterior) PSIS(n int, rng *rand.Rand) (*PSISResult, error) {
	if p.target == nil {
		return nil, errNoTarget
	}
	if n < minPSIS {
		return nil, fmt.Errorf("vi: PSIS with %d draws, need at least %d: %w", n, minPSIS, ErrConfig)
	}
	z := mat.NewDense(n, p.Dim(), nil)
	return PSIS(p.logRatios(z, rng))
}

// SampleImportance fills every row of dst with a draw corrected towards the
// target by sampling-importance-resampling (Rubin 1988; sbi's "sir"): for
// each row it draws oversample candidates from q and picks one with
// probability proportional to p̃/q. As oversample grows the draws approach
// the target wherever q covers it; they cannot recover mass that q misses
// (check Khat). oversample zero means 32 (sbi's oversampling_factor). The
// error wraps ErrConfig for a negative oversample, ErrTarget if the
// posterior has no target and ErrNonFinite if all candidates of a row have
// zero weight. It panics if dst does not have Dim columns.
func (p *Posterior) SampleImportance(dst *mat.Dense, oversample int, rng *rand.Rand) error {
	if p.target == nil {
		return errNoTarget
	}
	if oversample == 0 {
		oversample = 32
	}
	if oversample < 1 {
		return fmt.Errorf("vi: oversampling factor %d: %w", oversample, ErrConfig)
	}
	n := checkBatch("Posterior.SampleImportance", dst, p.Dim())
	d := p.Dim()
	rows := max(1, chunkRows/oversample)
	z := mat.NewDense(rows*oversample, d, nil)
	for from := 0; from < n; from += rows {
		to := min(n, from+rows)
		zc := z.Slice(0, (to-from)*oversample, 0, d).(*mat.Dense)
		lw := p.logRatios(zc, rng)
		for i := from; i < to; i++ {
			g := lw[(i-from)*oversample : (i-from+1)*oversample]
			m := math.Inf(-1)
			for _, v := range g {
				m = max(m, v)
			}
			if math.IsInf(m, -1) {
				return fmt.Errorf("vi: all %d importance candidates of draw %d have zero weight: %w", oversample, i, ErrNonFinite)
			}
			var sum float64
			for _, v := range g {
				sum += math.Exp(v - m)
			}
			u := rng.Float64() * sum
			pick := len(g) - 1
			for j, v := range g {
				u -= math.Exp(v - m)
				if u < 0 {
					pick = j
					break
				}
			}
			row := dst.RawRowView(i)
			copy(row, zc.RawRowView((i-from)*oversample+pick))
			if p.b != nil {
				p.b.Forward(row, row)
			}
		}
	}
	return nil
}

// SampleResampled fills every row of dst (n rows) by sampling-importance-
// resampling with Pareto-smoothed weights: it draws oversample·n candidates
// from q, computes their PSIS-smoothed normalised weights w̃ ∝ p̃/q (see
// PSIS), and picks n of them by systematic resampling (Kitagawa 1996) in a
// random order. Smoothing the largest weights bounds the influence of a
// single candidate, so a slightly-off fit is corrected towards the target
// without a few duplicated points dominating; the draws are exact as
// oversample grows wherever q covers the target, and cannot recover mass
// that q misses. The returned PSISResult describes the candidate pool: its
// ESS bounds the number of distinct draws (n/ESS is about the duplication
// of the output) and its Khat above KhatThreshold warns that the
// correction is unreliable. oversample zero means 4. The error wraps
// ErrConfig for a negative oversample or fewer than 25 candidates,
// ErrTarget if the posterior has no target and ErrData if too few
// candidates have a finite weight. It panics if dst does not have Dim
// columns.
func (p *Posterior) SampleResampled(dst *mat.Dense, oversample int, rng *rand.Rand) (*PSISResult, error) {
	if p.target == nil {
		return nil, errNoTarget
	}
	if oversample == 0 {
		oversample = 4
	}
	n := checkBatch("Posterior.SampleResampled", dst, p.Dim())
	if oversample < 1 || n*oversample < minPSIS {
		return nil, fmt.Errorf("vi: SampleResampled: %d draws with oversampling %d, need at least %d candidates: %w", n, oversample, minPSIS, ErrConfig)
	}
	m := n * oversample
	z := mat.NewDense(m, p.Dim(), nil)
	pr, err := PSIS(p.logRatios(z, rng))
	if err != nil {
		return nil, err
	}
	u := rng.Float64()
	var cum float64
	j := 0
	for k, i := range rng.Perm(n) {
		pos := (float64(k) + u) / float64(n)
		for j < m-1 && cum+math.Exp(pr.LogWeights[j]) <= pos {
			cum += math.Exp(pr.LogWeights[j])
			j++
		}
		row := dst.RawRowView(i)
		copy(row, z.RawRowView(j))
		if p.b != nil {
			p.b.Forward(row, row)
		}
	}
	return pr, nil
}
