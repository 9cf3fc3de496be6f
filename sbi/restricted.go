package sbi

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/gosbi/gosbi/dist"
	"gonum.org/v1/gonum/mat"
)

// RestrictedSettings tunes NewRestrictedPrior. The zero value of each field
// means its default; a nil *RestrictedSettings means all defaults.
type RestrictedSettings struct {
	// Quantile is the mass of the posterior estimate left outside the
	// region; zero means 1e-4 (sbi's TSNPE default).
	Quantile float64
	// NumSamples is the number of posterior samples whose log densities
	// give the threshold; zero means 10,000.
	NumSamples int
	// MassDraws is the number of prior draws estimating the prior mass of
	// the region (for LogProb); zero means 10,000.
	MassDraws int
	// MaxDraws is the rejection-sampling budget of one sampling call, in
	// prior draws; zero means max(100·n, 100,000) for n samples.
	MaxDraws int
	// BatchSize is the largest number of prior draws per batch; zero means
	// 10,000.
	BatchSize int
}

// RestrictedPrior is the prior truncated to the highest-density region of
// a posterior estimate q(θ | x_o) (Deistler, Goncalves & Macke 2022,
// "Truncated proposals for scalable and hassle-free simulation-based
// inference", TSNPE; sbi's RestrictedPrior with get_density_thresholder):
//
//	p̃(θ) ∝ p(θ) · 1[log q(θ | x_o) ≥ τ],
//
// τ the Quantile-quantile of log q over samples of q. Simulations drawn from
// it are trained with maximum likelihood, as from the prior, since within
// the region the proposal is proportional to the prior; this avoids the
// leakage of the atomic loss. Samples come from the prior by rejection.
// It is safe for concurrent use.
type RestrictedPrior struct {
	prior     dist.Distribution
	post      *Conditioned
	threshold float64
	logMass   float64
	s         RestrictedSettings
}

// NewRestrictedPrior returns the prior of post's DirectPosterior truncated
// to the highest-density region of post (the posterior at an observation),
// with the threshold and the region's prior mass estimated from rng.
// Errors wrap ErrInput for invalid arguments, ErrBudget when posterior
// sampling runs out of budget or no prior draw falls in the region, or the
// context's error.
func NewRestrictedPrior(ctx context.Context, post *Conditioned, rng *rand.Rand, settings *RestrictedSettings) (*RestrictedPrior, error) {
	if post == nil || rng == nil {
		return nil, fmt.Errorf("sbi: NewRestrictedPrior: nil posterior or rng: %w", ErrInput)
	}
	var s RestrictedSettings
	if settings != nil {
		s = *settings
	}
	if s.Quantile == 0 {
		s.Quantile = 1e-4
	}
	if s.NumSamples == 0 {
		s.NumSamples = 10_000
	}
	if s.MassDraws == 0 {
		s.MassDraws = 10_000
	}
	if s.BatchSize == 0 {
		s.BatchSize = 10_000
	}
	if !(s.Quantile > 0 && s.Quantile < 1) || s.NumSamples < 1 || s.MassDraws < 1 || s.MaxDraws < 0 || s.BatchSize < 1 {
		return nil, fmt.Errorf("sbi: NewRestrictedPrior: invalid settings %+v: %w", s, ErrInput)
	}
	r, err := post.SampleN(ctx, s.NumSamples, rng)
	if err != nil {
		return nil, err
	}
	lq := post.q.LogProbBatch(nil, r.Samples)
	slices.Sort(lq)
	rp := &RestrictedPrior{prior: post.p.prior, post: post, threshold: lq[int(s.Quantile*float64(len(lq)))], s: s}
	// Prior mass of the region.
	theta := mat.NewDense(s.MassDraws, rp.Dim(), nil)
	sampleInto(rp.prior, theta, rng)
	ok := make([]bool, s.MassDraws)
	k := 0
	for _, a := range rp.inRegion(ok, theta) {
		if a {
			k++
		}
	}
	if k == 0 {
		return nil, fmt.Errorf("sbi: NewRestrictedPrior: none of %d prior draws fell in the region: %w", s.MassDraws, ErrBudget)
	}
	rp.logMass = math.Log(float64(k) / float64(s.MassDraws))
	return rp, nil
}

// Threshold returns τ, the log-density threshold of the region.
func (r *RestrictedPrior) Threshold() float64 { return r.threshold }

// LogMass returns the log of the estimated prior mass of the region.
func (r *RestrictedPrior) LogMass() float64 { return r.logMass }

// Dim returns the dimension of θ.
func (r *RestrictedPrior) Dim() int { return r.prior.Dim() }

// Bounds returns the prior's support box (see Conditioned.Bounds).
func (r *RestrictedPrior) Bounds() (lo, hi []float64) { return r.post.Bounds() }

// inRegion marks the rows of theta in the prior's support with log q ≥ τ.
func (r *RestrictedPrior) inRegion(ok []bool, theta *mat.Dense) []bool {
	lq := r.post.q.LogProbBatch(nil, theta)
	lp := dist.LogProbs(r.prior, theta, nil)
	for i := range ok {
		ok[i] = lq[i] >= r.threshold && !math.IsInf(lp[i], -1) && !math.IsNaN(lp[i])
	}
	return ok
}

// LogProb returns log p(θ) - log(mass of the region) inside the region and
// -Inf outside. It panics if len(theta) != Dim.
func (r *RestrictedPrior) LogProb(theta []float64) float64 {
	if len(theta) != r.Dim() {
		panic(fmt.Sprintf("sbi: RestrictedPrior.LogProb: θ of length %d, want %d", len(theta), r.Dim()))
	}
	var out [1]float64
	r.LogProbBatch(out[:], mat.NewDense(1, len(theta), append([]float64(nil), theta...)))
	return out[0]
}

// LogProbBatch writes LogProb of every row of theta into dst (allocated if
// nil) and returns it.
func (r *RestrictedPrior) LogProbBatch(dst []float64, theta *mat.Dense) []float64 {
	n, _ := theta.Dims()
	if dst == nil {
		dst = make([]float64, n)
	}
	ok := r.inRegion(make([]bool, n), theta)
	dist.LogProbs(r.prior, theta, dst)
	for i := range dst {
		if ok[i] {
			dst[i] -= r.logMass
		} else {
			dst[i] = math.Inf(-1)
		}
	}
	return dst
}

// SampleN draws n samples by rejection from the prior. Errors wrap ErrInput
// for invalid arguments, ErrBudget when MaxDraws prior draws yield fewer than
// n samples, or the context's error.
func (r *RestrictedPrior) SampleN(ctx context.Context, n int, rng *rand.Rand) (*SampleResult, error) {
	if n < 1 || rng == nil {
		return nil, fmt.Errorf("sbi: RestrictedPrior.SampleN: %d samples or nil rng: %w", n, ErrInput)
	}
	start := time.Now()
	budget := r.s.MaxDraws
	if budget == 0 {
		budget = max(100*n, 100_000)
	}
	d := r.Dim()
	out := make([]float64, 0, n*d)
	res := &SampleResult{Complete: true}
	bs := r.s.BatchSize
	buf := mat.NewDense(bs, d, nil)
	ok := make([]bool, bs)
	for len(out) < n*d {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("sbi: sampling interrupted: %w", err)
		}
		left := budget - res.Draws
		if left <= 0 {
			return nil, fmt.Errorf("sbi: RestrictedPrior: %d of %d samples after %d prior draws (acceptance rate %.3g): %w",
				len(out)/d, n, res.Draws, float64(res.Accepted)/float64(res.Draws), ErrBudget)
		}
		need := n - len(out)/d
		m := need
		if res.Draws > 0 {
			if res.Accepted == 0 {
				m = max(need, res.Draws)
			} else {
				m = int(math.Ceil(1.1*float64(need)*float64(res.Draws)/float64(res.Accepted))) + 1
			}
		}
		m = min(m, left, bs)
		th := buf.Slice(0, m, 0, d).(*mat.Dense)
		sampleInto(r.prior, th, rng)
		r.inRegion(ok[:m], th)
		for i := range m {
			res.Draws++
			if ok[i] {
				res.Accepted++
				if len(out) < n*d {
					out = append(out, th.RawRowView(i)...)
				}
			}
		}
	}
	res.Samples = mat.NewDense(n, d, out)
	res.AcceptanceRate = float64(res.Accepted) / float64(res.Draws)
	res.Runtime = time.Since(start)
	return res, nil
}

// SampleBatch fills every row of dst with a sample; it panics with a
// message wrapping ErrBudget's text when the budget runs out (use SampleN
// for an error).
func (r *RestrictedPrior) SampleBatch(dst *mat.Dense, rng *rand.Rand) {
	n, d := dst.Dims()
	if d != r.Dim() {
		panic(fmt.Sprintf("sbi: RestrictedPrior.SampleBatch: dst has %d columns, want %d", d, r.Dim()))
	}
	res, err := r.SampleN(context.Background(), n, rng)
	if err != nil {
		panic(err.Error())
	}
	dst.Copy(res.Samples)
}

// Sample writes one sample into dst (allocated if nil) and returns it.
func (r *RestrictedPrior) Sample(dst []float64, rng *rand.Rand) []float64 {
	if dst == nil {
		dst = make([]float64, r.Dim())
	}
	r.SampleBatch(mat.NewDense(1, len(dst), dst), rng)
	return dst
}
