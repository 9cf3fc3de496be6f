package sbi

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
	"time"

	"github.com/gosbi/gosbi/dist"
	"github.com/gosbi/gosbi/mcmc"
	"gonum.org/v1/gonum/mat"
)

// MCMCInit selects how an MCMCPosterior starts its chains (without a
// Proposal; with one, see ProposalUse).
type MCMCInit uint8

const (
	// InitResample draws InitCandidates prior samples and resamples them
	// with weights proportional to exp(U(θ)) - U the potential - (sbi's
	// default "resample" strategy, mcmc.Resample).
	InitResample MCMCInit = iota
	// InitSIR draws InitCandidates prior samples and resamples them with
	// the importance weights exp(U(θ))/p(θ) (mcmc.SIR).
	InitSIR
	// InitPrior starts each chain at a prior draw of finite potential
	// (sbi's "proposal" strategy, mcmc.FromProposal).
	InitPrior
)

// ProposalUse selects what MCMCSettings.Proposal is used for.
type ProposalUse uint8

const (
	// ProposalInit starts the chains by sampling-importance-resampling
	// from the proposal (mcmc.SIR with InitCandidates draws); the kernel is
	// unchanged.
	ProposalInit ProposalUse = iota
	// ProposalIndependence replaces the kernel by independence
	// Metropolis–Hastings with the proposal (mcmc.Independence), started as
	// ProposalInit. A proposal close to the posterior, such as an NPE
	// posterior, makes global moves; the acceptance rate measures how close
	// it is.
	ProposalIndependence
	// ProposalMixture alternates, at random with equal weights, per-chain
	// slice-sampling moves (mcmc.Slice) and independence moves from the
	// proposal (mcmc.Mixture), started as ProposalInit.
	ProposalMixture
)

// MCMCSettings tunes an MCMCPosterior. The zero value of each field means
// its documented default, sbi's where one exists; a nil *MCMCSettings means
// all defaults: vectorised slice sampling with 20 chains, 200 warmup steps
// per chain, no thinning, chains started by resampling 10,000 prior draws by
// their potential, and moves in unconstrained space for bounded priors.
type MCMCSettings struct {
	// Kernel is the transition kernel; nil means mcmc.SliceVectorized{}
	// (sbi's default "slice_np_vectorized"). mcmc.HMC and mcmc.NUTS use the
	// potential's gradient through the network.
	Kernel mcmc.Kernel
	// Chains is the number of chains; zero means 20 (sbi's num_chains for
	// the vectorised slice sampler).
	Chains int
	// Warmup is the number of adaptation steps per chain, discarded; zero
	// means 200 (sbi's warmup_steps), a negative value none.
	Warmup int
	// Thin keeps every Thin-th step after warmup; zero means 1. sbi's
	// default thinning has changed across versions (10, then 1 since sbi
	// 0.23 with the diagnostics-based advice to thin only when memory is
	// short); gosbi uses 1 and reports the effective sample size instead.
	Thin int
	// Init chooses the starting points when Proposal is nil; the zero value
	// is InitResample.
	Init MCMCInit
	// InitCandidates is the number of candidate draws of InitResample,
	// InitSIR and ProposalInit; zero means 10,000 (sbi's
	// num_candidate_samples).
	InitCandidates int
	// Proposal, if non-nil, gives at each observation a distribution close
	// to the posterior, used as ProposalUse says: Condition receives the
	// observation's trials concatenated row after row (the observation
	// itself for one trial). A DirectPosterior (NPE) qualifies; wrap a
	// fixed distribution, such as a flow trained elsewhere, with
	// FixedProposal. It must be a density over θ of the prior's dimension.
	Proposal dist.Conditional
	// ProposalUse says how Proposal is used; the zero value is
	// ProposalInit.
	ProposalUse ProposalUse
	// Workers bounds the goroutines: those running per-chain kernels within
	// one observation, and the observations sampled at once by
	// SampleBatched; zero means runtime.GOMAXPROCS(0). Results do not depend
	// on it.
	Workers int
	// Space chooses where the chains move; the zero value, mcmc.Auto,
	// samples in unconstrained space when the prior is bounded.
	Space mcmc.Space
	// OnProgress, if non-nil, is called from time to time with the number
	// of transitions done (summed over chains, and over observations in
	// SampleBatched, never concurrently); a non-nil error stops sampling.
	OnProgress func(mcmc.Progress) error
	// MaxRHat is the largest rank-normalised split-R̂ of any parameter that
	// passes without a warning; zero means 1.01 (Vehtari et al. 2021).
	MaxRHat float64
	// MinESSPerChain is the smallest bulk and tail ESS per chain of any
	// parameter that passes without a warning; zero means 100 (Vehtari et
	// al. 2021, section 4.3: at least 100 per chain for reliable R̂ and
	// quantiles).
	MinESSPerChain float64
	// PairBatch is the largest number of (θ, trial) pairs per network call
	// of the potential; zero means 4,096.
	PairBatch int
}

func (s *MCMCSettings) withDefaults() (MCMCSettings, error) {
	var r MCMCSettings
	if s != nil {
		r = *s
	}
	if r.Kernel == nil {
		r.Kernel = mcmc.SliceVectorized{}
	}
	if r.Chains == 0 {
		r.Chains = 20
	}
	if r.Warmup == 0 {
		r.Warmup = 200
	}
	if r.Thin == 0 {
		r.Thin = 1
	}
	if r.InitCandidates == 0 {
		r.InitCandidates = 10_000
	}
	if r.Workers == 0 {
		r.Workers = runtime.GOMAXPROCS(0)
	}
	if r.MaxRHat == 0 {
		r.MaxRHat = 1.01
	}
	if r.MinESSPerChain == 0 {
		r.MinESSPerChain = 100
	}
	if r.PairBatch == 0 {
		r.PairBatch = defaultPairBatch
	}
	switch {
	case r.Chains < 1:
		return r, fmt.Errorf("sbi: MCMC settings: %d chains: %w", r.Chains, ErrInput)
	case r.Thin < 1:
		return r, fmt.Errorf("sbi: MCMC settings: Thin %d: %w", r.Thin, ErrInput)
	case r.InitCandidates < 1:
		return r, fmt.Errorf("sbi: MCMC settings: InitCandidates %d: %w", r.InitCandidates, ErrInput)
	case r.Workers < 1:
		return r, fmt.Errorf("sbi: MCMC settings: Workers %d: %w", r.Workers, ErrInput)
	case r.Init > InitPrior:
		return r, fmt.Errorf("sbi: MCMC settings: unknown Init %d: %w", r.Init, ErrInput)
	case r.ProposalUse > ProposalMixture:
		return r, fmt.Errorf("sbi: MCMC settings: unknown ProposalUse %d: %w", r.ProposalUse, ErrInput)
	case r.Space < mcmc.Auto || r.Space > mcmc.Unconstrained:
		return r, fmt.Errorf("sbi: MCMC settings: unknown Space %d: %w", r.Space, ErrInput)
	case !(r.MaxRHat >= 1):
		return r, fmt.Errorf("sbi: MCMC settings: MaxRHat %v: %w", r.MaxRHat, ErrInput)
	case !(r.MinESSPerChain > 0):
		return r, fmt.Errorf("sbi: MCMC settings: MinESSPerChain %v: %w", r.MinESSPerChain, ErrInput)
	case r.PairBatch < 1:
		return r, fmt.Errorf("sbi: MCMC settings: PairBatch %d: %w", r.PairBatch, ErrInput)
	}
	return r, nil
}

// FixedProposal returns d as a dist.Conditional whose Condition ignores the
// observation: a proposal for MCMCSettings.Proposal that is the same at
// every observation, such as a flow fitted to the posterior at x_o.
func FixedProposal(d dist.Distribution) dist.Conditional { return fixedProposal{d} }

type fixedProposal struct{ d dist.Distribution }

func (f fixedProposal) Condition([]float64) dist.Distribution { return f.d }

// MCMCPosterior is the posterior of a likelihood- or ratio-based estimator
// (NLE, NRE and their sequential variants): at an observation x_o it runs
// Markov chains on the Potential U(θ) = Σ_k t(θ, x_k) + log p(θ), as sbi's
// MCMCPosterior. Sample returns the draws with the chains' diagnostics
// (R̂, bulk and tail ESS, acceptance rate) and warnings when they indicate
// unreliable draws.
//
// The chains move in unconstrained coordinates for a bounded prior (see
// MCMCSettings.Space), which keeps every kernel inside the support. An
// MCMCPosterior is immutable and safe for concurrent use.
type MCMCPosterior struct {
	model potentialModel
	prior dist.Distribution
	s     MCMCSettings
}

func newMCMCPosterior(model potentialModel, prior dist.Distribution, settings *MCMCSettings) (*MCMCPosterior, error) {
	s, err := settings.withDefaults()
	if err != nil {
		return nil, err
	}
	return &MCMCPosterior{model: model, prior: prior, s: s}, nil
}

// Prior returns the prior.
func (p *MCMCPosterior) Prior() dist.Distribution { return p.prior }

// Dims returns the dimensions of θ and of one trial of x.
func (p *MCMCPosterior) Dims() (theta, x int) { return p.model.dims() }

// Settings returns the settings with defaults filled in.
func (p *MCMCPosterior) Settings() MCMCSettings { return p.s }

// WithSettings returns a posterior sharing p's network and prior with other
// settings (nil means defaults). The error wraps ErrInput for invalid
// settings.
func (p *MCMCPosterior) WithSettings(settings *MCMCSettings) (*MCMCPosterior, error) {
	return newMCMCPosterior(p.model, p.prior, settings)
}

// Potential returns the unnormalised log posterior at the observation xo,
// one trial per row (use SingleTrial for one), for samplers other than
// Sample: RejectionPosterior, ImportanceSamplingPosterior or mcmc directly.
// The error wraps ErrInput when xo is empty, has the wrong number of
// columns or non-finite values.
func (p *MCMCPosterior) Potential(xo *mat.Dense) (*Potential, error) {
	return newPotential(p.model, p.prior, xo, p.s.PairBatch)
}

// MCMCResult is the outcome of MCMCPosterior.Sample at one observation.
type MCMCResult struct {
	// Samples holds the n requested draws, one per row: ⌈n/chains⌉ draws
	// of every chain after warmup, interleaved step by step (the draws of
	// step 0 of all chains, then step 1, …) and cut to n rows.
	Samples *mat.Dense
	// Chains holds all draws of every chain with their log densities,
	// acceptance rates, step sizes, divergences and evaluation counts.
	Chains *mcmc.Chains
	// RHat, ESSBulk and ESSTail are the rank-normalised split-R̂ and the
	// bulk and tail effective sample sizes of every parameter over all
	// chains (Vehtari et al. 2021); NaN when the chains are shorter than
	// mcmc.MinDraws.
	RHat, ESSBulk, ESSTail []float64
	// AcceptanceRate is the mean acceptance statistic over chains (1 for
	// slice sampling).
	AcceptanceRate float64
	// Divergences counts divergent transitions after warmup (HMC, NUTS).
	Divergences int
	// Warnings lists the diagnostics that failed: R̂ above MaxRHat, bulk or
	// tail ESS below MinESSPerChain·chains, chains too short for the
	// diagnostics, divergences. Empty when none did.
	Warnings []string
	// Runtime is the wall time of the call, initialisation included.
	Runtime time.Duration
}

// Sample draws n samples from the posterior at the observation xo (one
// trial per row) with the settings' kernel, chains and initialisation, and
// reports the chains' diagnostics. Randomness comes from rng only (see
// mcmc.Sample); the result does not depend on Workers.
//
// Errors wrap ErrInput for n < 1, a nil rng or an invalid observation or
// proposal, mcmc's errors (mcmc.ErrInitInf when no starting point of finite
// potential is found, mcmc.ErrNaN when the potential is NaN), or the
// context's error.
func (p *MCMCPosterior) Sample(ctx context.Context, xo *mat.Dense, n int, rng *rand.Rand) (*MCMCResult, error) {
	return p.sample(ctx, xo, n, rng, p.s.Workers, p.s.OnProgress)
}

func (p *MCMCPosterior) sample(ctx context.Context, xo *mat.Dense, n int, rng *rand.Rand, workers int, progress func(mcmc.Progress) error) (*MCMCResult, error) {
	start := time.Now()
	if n < 1 || rng == nil {
		return nil, fmt.Errorf("sbi: MCMCPosterior.Sample: %d samples with rng %v: %w", n, rng != nil, ErrInput)
	}
	pot, err := p.Potential(xo)
	if err != nil {
		return nil, err
	}
	s := p.s
	kernel := s.Kernel
	var init mcmc.Init
	switch s.Init {
	case InitResample:
		init = mcmc.Resample{Proposal: p.prior, Candidates: s.InitCandidates}
	case InitSIR:
		init = mcmc.SIR{Proposal: p.prior, Candidates: s.InitCandidates}
	case InitPrior:
		init = mcmc.FromProposal{Proposal: p.prior}
	}
	if s.Proposal != nil {
		q, err := conditionProposal(s.Proposal, xo, p.prior.Dim())
		if err != nil {
			return nil, err
		}
		init = mcmc.SIR{Proposal: q, Candidates: s.InitCandidates}
		switch s.ProposalUse {
		case ProposalIndependence:
			kernel = mcmc.Independence{Proposal: q}
		case ProposalMixture:
			kernel = mcmc.Mixture{Kernels: []mcmc.Kernel{mcmc.Slice{}, mcmc.Independence{Proposal: q}}}
		}
	}
	perChain := (n + s.Chains - 1) / s.Chains
	ch, err := mcmc.Sample(ctx, pot, perChain, init, kernel, rng, &mcmc.Settings{
		Chains: s.Chains, Warmup: s.Warmup, Thin: s.Thin, Workers: workers,
		OnProgress: progress, Space: s.Space,
	})
	if err != nil {
		return nil, fmt.Errorf("sbi: MCMCPosterior.Sample: %w", err)
	}
	res := &MCMCResult{Chains: ch, Divergences: ch.TotalDivergences()}
	d := pot.Dim()
	out := mat.NewDense(n, d, nil)
	for r := range n {
		copy(out.RawRowView(r), ch.Samples[r%s.Chains].RawRowView(r/s.Chains))
	}
	res.Samples = out
	for _, a := range ch.AcceptRate {
		res.AcceptanceRate += a
	}
	res.AcceptanceRate /= float64(len(ch.AcceptRate))
	res.RHat, res.ESSBulk, res.ESSTail = ch.RHat(), ch.ESSBulk(), ch.ESSTail()
	res.Warnings = diagnose(res, ch.Len(), s)
	res.Runtime = time.Since(start)
	return res, nil
}

// diagnose returns the warnings of a finished run.
func diagnose(res *MCMCResult, length int, s MCMCSettings) []string {
	var w []string
	if length < mcmc.MinDraws {
		return append(w, fmt.Sprintf("chains of %d draws are too short for R-hat and ESS (need %d)", length, mcmc.MinDraws))
	}
	minESS := s.MinESSPerChain * float64(s.Chains)
	for j := range res.RHat {
		switch r := res.RHat[j]; {
		case math.IsNaN(r):
			w = append(w, fmt.Sprintf("parameter %d: R-hat undefined (constant draws)", j))
		case r > s.MaxRHat:
			w = append(w, fmt.Sprintf("parameter %d: R-hat %.4f > %.4g: chains have not mixed", j, r, s.MaxRHat))
		}
		if e := res.ESSBulk[j]; !(e >= minESS) {
			w = append(w, fmt.Sprintf("parameter %d: bulk ESS %.0f < %.0f (%.0f per chain)", j, e, minESS, s.MinESSPerChain))
		}
		if e := res.ESSTail[j]; !(e >= minESS) {
			w = append(w, fmt.Sprintf("parameter %d: tail ESS %.0f < %.0f (%.0f per chain)", j, e, minESS, s.MinESSPerChain))
		}
	}
	if res.Divergences > 0 {
		w = append(w, fmt.Sprintf("%d divergent transitions after warmup", res.Divergences))
	}
	return w
}

// conditionProposal returns the proposal at xo (trials concatenated), with
// the panics of Condition turned into errors.
func conditionProposal(c dist.Conditional, xo *mat.Dense, dim int) (q dist.Distribution, err error) {
	r, cols := xo.Dims()
	flat := make([]float64, 0, r*cols)
	for i := range r {
		flat = append(flat, xo.RawRowView(i)...)
	}
	if dp, ok := c.(*DirectPosterior); ok {
		cd, err := dp.At(flat)
		if err != nil {
			return nil, fmt.Errorf("sbi: MCMC proposal: %w", err)
		}
		q = cd
	} else {
		defer func() {
			if v := recover(); v != nil {
				q, err = nil, fmt.Errorf("sbi: MCMC proposal: Condition panicked: %v: %w", v, ErrInput)
			}
		}()
		q = c.Condition(flat)
	}
	if q == nil || q.Dim() != dim {
		return nil, fmt.Errorf("sbi: MCMC proposal: nil or of the wrong dimension (want %d): %w", dim, ErrInput)
	}
	return q, nil
}

// SampleBatched draws n samples at every observation of xos (each one trial
// per row) with Sample, running up to Workers observations in parallel
// (each observation's chains then run in one goroutine). Observation i uses
// the stream rand.NewPCG(seed, i), seed drawn once from rng, so the results
// do not depend on Workers. OnProgress receives the transitions summed over
// all observations. The first error stops the others and is returned
// wrapped with the observation's index; the results are then nil.
func (p *MCMCPosterior) SampleBatched(ctx context.Context, xos []*mat.Dense, n int, rng *rand.Rand) ([]*MCMCResult, error) {
	if len(xos) == 0 || n < 1 || rng == nil {
		return nil, fmt.Errorf("sbi: MCMCPosterior.SampleBatched: %d observations, %d samples, rng %v: %w", len(xos), n, rng != nil, ErrInput)
	}
	for i, xo := range xos {
		if _, err := p.Potential(xo); err != nil {
			return nil, fmt.Errorf("sbi: MCMCPosterior.SampleBatched: observation %d: %w", i, err)
		}
	}
	seed := rng.Uint64()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu       sync.Mutex
		done     = make([]int, len(xos))
		totals   = make([]int, len(xos))
		t0       = time.Now()
		firstErr error
		errIdx   = -1
	)
	progress := func(i int) func(mcmc.Progress) error {
		if p.s.OnProgress == nil {
			return nil
		}
		return func(pr mcmc.Progress) error {
			mu.Lock()
			defer mu.Unlock()
			done[i], totals[i] = pr.Done, pr.Total
			var d, t int
			for k := range done {
				d += done[k]
				t += totals[k]
			}
			return p.s.OnProgress(mcmc.Progress{Done: d, Total: t, Elapsed: time.Since(t0)})
		}
	}
	out := make([]*MCMCResult, len(xos))
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range min(p.s.Workers, len(xos)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				r, err := p.sample(ctx, xos[i], n, rand.New(rand.NewPCG(seed, uint64(i))), 1, progress(i))
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr, errIdx = err, i
					cancel()
				}
				out[i] = r
				mu.Unlock()
			}
		}()
	}
	for i := range xos {
		if ctx.Err() != nil {
			break
		}
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	if firstErr != nil {
		return nil, fmt.Errorf("sbi: MCMCPosterior.SampleBatched: observation %d: %w", errIdx, firstErr)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("sbi: MCMCPosterior.SampleBatched: %w", err)
	}
	return out, nil
}

// KernelByName returns the MCMC kernel called name with its default
// settings: "slice" (mcmc.SliceVectorized, sbi's default), "slice_chains"
// (mcmc.Slice, per-chain goroutines), "hmc" (mcmc.HMC), "nuts" (mcmc.NUTS)
// or "mh" (mcmc.RandomWalk, adaptive random-walk Metropolis–Hastings). The
// error wraps ErrInput for other names.
func KernelByName(name string) (mcmc.Kernel, error) {
	switch name {
	case "slice":
		return mcmc.SliceVectorized{}, nil
	case "slice_chains":
		return mcmc.Slice{}, nil
	case "hmc":
		return mcmc.HMC{}, nil
	case "nuts":
		return mcmc.NUTS{}, nil
	case "mh":
		return mcmc.RandomWalk{}, nil
	}
	return nil, fmt.Errorf("sbi: unknown MCMC kernel %q (want slice, slice_chains, hmc, nuts or mh): %w", name, ErrInput)
}
