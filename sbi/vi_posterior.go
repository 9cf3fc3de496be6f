package sbi

import (
	"context"
	"fmt"
	"math/rand/v2"

	"github.com/gosbi/gosbi/dist"
	"github.com/gosbi/gosbi/flows"
	"github.com/gosbi/gosbi/vi"
	"gonum.org/v1/gonum/mat"
)

// VISettings tunes NewVIPosterior. The zero value (and a nil *VISettings)
// means the defaults.
type VISettings struct {
	// VI tunes the fit (objective, particles, iterations, quality control);
	// nil means vi's defaults, which are sbi's.
	VI *vi.Settings
	// Family is the variational family; nil means flows.MAF{} (sbi's
	// default q).
	Family vi.Family
	// InitSamples is the number of prior draws that initialise q (see
	// vi.NewQ); zero means 1,000.
	InitSamples int
}

// VIPosterior is the posterior of a likelihood- or ratio-based estimator at
// one observation x_o, approximated by a normalizing flow q fitted by
// variational inference to the Potential U(θ) = Σ_k t(θ, x_k) + log p(θ), as
// sbi's VIPosterior. Drawing samples and evaluating LogProb are exact for q
// and need no MCMC; Result reports the fit, including the PSIS k̂ (above
// vi.KhatThreshold q is unreliable). It implements dist.Distribution,
// dist.BatchSampler, dist.BatchLogProber and dist.Bounded, and is safe for
// concurrent use.
type VIPosterior struct {
	q   *vi.Posterior
	res *vi.Result
	xo  *mat.Dense
}

var (
	_ dist.Distribution   = (*VIPosterior)(nil)
	_ dist.BatchSampler   = (*VIPosterior)(nil)
	_ dist.BatchLogProber = (*VIPosterior)(nil)
	_ dist.Bounded        = (*VIPosterior)(nil)
)

// NewVIPosterior fits a variational posterior to the potential of post at the
// observation xo (one trial per row). q is built by vi.NewQ from prior draws
// in the unconstrained space of the prior's support and fitted by vi.Fit.
// Errors wrap ErrInput for a nil posterior or rng or an invalid observation;
// those of vi are passed on (a cancelled ctx returns the error and no
// posterior).
func NewVIPosterior(ctx context.Context, post *MCMCPosterior, xo *mat.Dense, rng *rand.Rand, s *VISettings) (*VIPosterior, error) {
	if post == nil {
		return nil, fmt.Errorf("sbi: VI posterior: nil posterior: %w", ErrInput)
	}
	if rng == nil {
		return nil, fmt.Errorf("sbi: VI posterior: nil rng: %w", ErrInput)
	}
	if s == nil {
		s = &VISettings{}
	}
	if s.InitSamples < 0 {
		return nil, fmt.Errorf("sbi: VI posterior: negative InitSamples %d: %w", s.InitSamples, ErrInput)
	}
	pot, err := post.Potential(xo)
	if err != nil {
		return nil, err
	}
	family := s.Family
	if family == nil {
		family = flows.MAF{}
	}
	var settings vi.Settings
	if s.VI != nil {
		settings = *s.VI
	}
	// q lives in the same unconstrained space as the one vi.Fit uses for
	// the (Bounded) potential.
	if settings.Bijection == nil {
		settings.Bijection = dist.BijectionFor(pot)
	}
	q, err := vi.NewQ(family, pot.Prior(), settings.Bijection, s.InitSamples, rng)
	if err != nil {
		return nil, fmt.Errorf("sbi: VI posterior: %w", err)
	}
	vp, res, err := vi.Fit(ctx, pot, q, rng, &settings)
	if err != nil {
		return nil, fmt.Errorf("sbi: VI posterior: %w", err)
	}
	return &VIPosterior{q: vp, res: res, xo: mat.DenseCopyOf(xo)}, nil
}

// Dim returns the dimension of θ.
func (p *VIPosterior) Dim() int { return p.q.Dim() }

// Bounds returns the prior's support.
func (p *VIPosterior) Bounds() (lo, hi []float64) { return p.q.Bounds() }

// Observation returns a copy of x_o.
func (p *VIPosterior) Observation() *mat.Dense { return mat.DenseCopyOf(p.xo) }

// Sample draws one θ from q into dst (allocated when nil) and returns it.
func (p *VIPosterior) Sample(dst []float64, rng *rand.Rand) []float64 { return p.q.Sample(dst, rng) }

// SampleBatch fills every row of dst with a draw from q.
func (p *VIPosterior) SampleBatch(dst *mat.Dense, rng *rand.Rand) { p.q.SampleBatch(dst, rng) }

// SampleN returns n draws from q, one per row.
func (p *VIPosterior) SampleN(n int, rng *rand.Rand) *mat.Dense {
	dst := mat.NewDense(n, p.Dim(), nil)
	p.q.SampleBatch(dst, rng)
	return dst
}

// LogProb returns the normalised log density of q at θ.
func (p *VIPosterior) LogProb(theta []float64) float64 { return p.q.LogProb(theta) }

// LogProbBatch returns the log density of q at every row of theta.
func (p *VIPosterior) LogProbBatch(dst []float64, theta *mat.Dense) []float64 {
	return p.q.LogProbBatch(dst, theta)
}

// Result returns the summary of the fit: iterations, convergence, k̂,
// warnings and runtime. It must not be modified.
func (p *VIPosterior) Result() *vi.Result { return p.res }

// VI returns the underlying variational posterior (for importance
// resampling or PSIS).
func (p *VIPosterior) VI() *vi.Posterior { return p.q }
