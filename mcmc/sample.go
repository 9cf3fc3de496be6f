package mcmc

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"gonum.org/v1/gonum/mat"

	"github.com/gosbi/gosbi/dist"
)

// Settings tunes one run of Sample. The zero value, and a nil *Settings,
// mean all defaults.
type Settings struct {
	// Chains is the number of chains; 0 means 4 (sbi uses 20 for its
	// vectorised slice sampler). It must not be negative.
	Chains int
	// Warmup is the number of adaptation transitions per chain, discarded;
	// 0 means 200 (sbi's warmup_steps) and a negative value means none.
	Warmup int
	// Thin keeps every Thin-th transition after warmup; 0 means 1.
	Thin int
	// Workers is the number of goroutines running per-chain kernels; 0 means
	// runtime.GOMAXPROCS(0). Results do not depend on it. Vectorised kernels
	// run in the calling goroutine. Per-chain kernels with more than one
	// worker call the target (and an Independence proposal) concurrently, so
	// those must be safe for concurrent use, or Workers must be 1.
	Workers int
	// OnProgress, if not nil, is called from time to time (about every 1% of
	// the run, never concurrently) with the progress so far. A non-nil error
	// stops sampling and is returned, wrapped.
	OnProgress func(Progress) error
	// Space chooses where the chains move; the zero value is Auto.
	Space Space
}

// Space selects the space the chains move in.
type Space int

const (
	// Auto samples in unconstrained space when the target implements
	// dist.Bounded with at least one finite bound, and in the original space
	// otherwise.
	Auto Space = iota
	// Original always samples in the original space; a bounded target must
	// then return -Inf outside its support.
	Original
	// Unconstrained samples in unconstrained space through dist's bijection
	// for the target's bounds; the target must implement dist.Bounded.
	Unconstrained
)

// Progress reports how far a run of Sample has come.
type Progress struct {
	// Done and Total count transitions summed over chains, warmup included.
	Done, Total int
	// Elapsed is the wall time since sampling started (after initialisation).
	Elapsed time.Duration
}

const defaultWarmup = 200

func (s *Settings) withDefaults() (Settings, error) {
	var out Settings
	if s != nil {
		out = *s
	}
	if out.Chains < 0 {
		return out, fmt.Errorf("%w: Settings.Chains = %d, must not be negative", ErrInvalid, out.Chains)
	}
	if out.Thin < 0 {
		return out, fmt.Errorf("%w: Settings.Thin = %d, must not be negative", ErrInvalid, out.Thin)
	}
	if out.Workers < 0 {
		return out, fmt.Errorf("%w: Settings.Workers = %d, must not be negative", ErrInvalid, out.Workers)
	}
	if out.Space < Auto || out.Space > Unconstrained {
		return out, fmt.Errorf("%w: unknown Settings.Space %d", ErrInvalid, out.Space)
	}
	if out.Chains == 0 {
		out.Chains = 4
	}
	switch {
	case out.Warmup == 0:
		out.Warmup = defaultWarmup
	case out.Warmup < 0:
		out.Warmup = 0
	}
	if out.Thin == 0 {
		out.Thin = 1
	}
	if out.Workers == 0 {
		out.Workers = runtime.GOMAXPROCS(0)
	}
	return out, nil
}

// Sample runs MCMC chains on the target and returns n draws per chain,
// after Settings.Warmup adaptation transitions and with Settings.Thin
// thinning. init chooses the starting point of every chain (in the original
// space); the kernel chooses the transitions.
//
// The target may be unnormalised and may return -Inf outside its support;
// a NaN (or +Inf) log density is an error (ErrNaN) that names the point. A
// starting point of log density -Inf is an error (ErrInitInf). When the
// target implements dist.BatchLogProber, vectorised kernels and the
// initialisation strategies evaluate it on a batch at once; gradient-based
// kernels need dist.Gradienter.
//
// Randomness: init draws from rng first; then one seed is drawn from rng and
// chain k uses its own stream rand.NewPCG(seed, k), so results are
// bit-identical for any number of workers. Sampling stops early, returning
// ctx's error, when ctx is cancelled.
func Sample(ctx context.Context, target dist.LogProber, n int, init Init, kernel Kernel, rng *rand.Rand, settings *Settings) (*Chains, error) {
	switch {
	case target == nil:
		return nil, fmt.Errorf("%w: nil target", ErrInvalid)
	case init == nil:
		return nil, fmt.Errorf("%w: nil init", ErrInvalid)
	case kernel == nil:
		return nil, fmt.Errorf("%w: nil kernel", ErrInvalid)
	case rng == nil:
		return nil, fmt.Errorf("%w: nil rng", ErrInvalid)
	case n <= 0:
		return nil, fmt.Errorf("%w: n = %d draws per chain, must be positive", ErrInvalid, n)
	}
	s, err := settings.withDefaults()
	if err != nil {
		return nil, err
	}
	wallStart := time.Now()

	// Starting points in the original space.
	x0, err := init.Init(ctx, target, s.Chains, rng)
	if err != nil {
		return nil, fmt.Errorf("mcmc: initialisation: %w", err)
	}
	if x0 == nil {
		return nil, fmt.Errorf("%w: init returned no points", ErrNoChains)
	}
	rows, dim := x0.Dims()
	if dd, ok := target.(interface{ Dim() int }); ok && rows > 0 && dd.Dim() != dim {
		return nil, fmt.Errorf("%w: target has dimension %d, starting points %d", ErrInvalid, dd.Dim(), dim)
	}
	switch {
	case rows == 0:
		return nil, ErrNoChains
	case rows == 1 && s.Chains > 1:
		b := mat.NewDense(s.Chains, dim, nil)
		for k := range s.Chains {
			b.SetRow(k, x0.RawRowView(0))
		}
		x0 = b
	case rows != s.Chains:
		return nil, fmt.Errorf("%w: %d chains but init gave %d points", ErrInvalid, s.Chains, rows)
	}

	// Choose the space.
	sp, err := newSpace(target, s.Space, dim)
	if err != nil {
		return nil, err
	}
	tgt := newTarget(sp.target, dim)
	tgt.b = sp.b

	r := &runner{
		ctx:    ctx,
		t:      tgt,
		warmup: s.Warmup,
		n:      n,
		thin:   s.Thin,
		chains: make([]chainRun, s.Chains),
	}
	// Starting points in the sampling space, evaluated in one batch.
	z0 := mat.NewDense(s.Chains, dim, nil)
	for k := range s.Chains {
		if err := sp.toSampling(z0.RawRowView(k), x0.RawRowView(k)); err != nil {
			return nil, fmt.Errorf("mcmc: chain %d start %v: %w", k, x0.RawRowView(k), err)
		}
	}
	lp0 := make([]float64, s.Chains)
	if err := tgt.logProbRows(lp0, z0); err != nil {
		return nil, fmt.Errorf("mcmc: starting points: %w", err)
	}
	for k := range r.chains {
		if math.IsInf(lp0[k], -1) {
			return nil, fmt.Errorf("%w: chain %d starts at %v", ErrInitInf, k, x0.RawRowView(k))
		}
		c := &r.chains[k]
		c.p.x = slices.Clone(z0.RawRowView(k)) // own memory: no false sharing between workers
		c.p.lp = lp0[k]
		c.p.evals = 1
		c.samples = mat.NewDense(n, dim, nil)
		c.logProb = make([]float64, n)
	}
	seed := rng.Uint64()
	for k := range r.chains {
		r.chains[k].rng = rand.New(rand.NewPCG(seed, uint64(k)))
	}

	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	r.ctx, r.cancel = runCtx, cancel
	r.prog = newProgress(s.OnProgress, s.Chains*(s.Warmup+n*s.Thin), cancel)

	start := time.Now()
	switch k := kernel.(type) {
	case vectorKernel:
		err = k.run(r)
	case chainKernel:
		err = r.runChains(k, s.Workers)
	default:
		err = fmt.Errorf("%w: unsupported kernel %T", ErrInvalid, kernel)
	}
	if err != nil {
		return nil, err
	}
	if cerr := context.Cause(runCtx); cerr != nil {
		return nil, cerr
	}
	if err := r.prog.finish(); err != nil {
		return nil, err
	}
	elapsed := time.Since(start)

	ch := &Chains{
		Samples:     make([]*mat.Dense, s.Chains),
		LogProb:     make([][]float64, s.Chains),
		AcceptRate:  make([]float64, s.Chains),
		StepSize:    make([]float64, s.Chains),
		Divergences: make([]int, s.Chains),
		Evals:       make([]int, s.Chains),
		Warmup:      s.Warmup,
		Thin:        s.Thin,
		Runtime:     elapsed,
		WallTime:    time.Since(wallStart),
	}
	for k := range r.chains {
		c := &r.chains[k]
		if err := sp.fromSampling(c.samples, c.logProb); err != nil {
			return nil, fmt.Errorf("mcmc: chain %d: %w", k, err)
		}
		ch.Samples[k] = c.samples
		ch.LogProb[k] = c.logProb
		ch.AcceptRate[k] = c.acceptSum / float64(n*s.Thin)
		ch.StepSize[k] = c.stepSize
		ch.Divergences[k] = c.divergences
		ch.Evals[k] = c.p.evals
	}
	return ch, nil
}

// runner holds the state of one run shared by the driver and the kernels.
type runner struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	t      *target
	warmup int
	n      int
	thin   int
	chains []chainRun
	prog   *progress
}

// chainRun is the record of one chain.
type chainRun struct {
	p           point
	rng         *rand.Rand
	samples     *mat.Dense
	logProb     []float64
	acceptSum   float64
	divergences int
	stepSize    float64
}

// total is the number of transitions per chain.
func (r *runner) total() int { return r.warmup + r.n*r.thin }

// record books transition it (0-based, warmup included) of chain k, whose
// state is now in c.p.
func (r *runner) record(c *chainRun, it int) {
	if it < r.warmup {
		return
	}
	j := it - r.warmup
	c.acceptSum += c.p.accept
	if c.p.divergent {
		c.divergences++
	}
	if (j+1)%r.thin == 0 {
		i := j / r.thin
		copy(c.samples.RawRowView(i), c.p.x)
		c.logProb[i] = c.p.lp
	}
}

// cancelled reports the cause if the run was cancelled.
func (r *runner) cancelled() error {
	select {
	case <-r.ctx.Done():
		return context.Cause(r.ctx)
	default:
		return nil
	}
}

// runChains runs a per-chain kernel with the given number of workers.
func (r *runner) runChains(k chainKernel, workers int) error {
	states := make([]chainState, len(r.chains))
	for i := range r.chains {
		cs, err := k.newChain(r.t, r.warmup)
		if err != nil {
			return err
		}
		states[i] = cs
	}
	workers = min(workers, len(r.chains))
	var next atomic.Int64
	errs := make([]error, len(r.chains))
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(r.chains) {
					return
				}
				errs[i] = r.runChain(i, states[i])
				if errs[i] != nil {
					r.cancel(errs[i]) // stop the other chains
					return
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// runChain runs chain i to the end.
func (r *runner) runChain(i int, cs chainState) error {
	c := &r.chains[i]
	if err := cs.begin(&c.p, c.rng); err != nil {
		return fmt.Errorf("mcmc: chain %d: %w", i, err)
	}
	if r.warmup == 0 {
		cs.endWarmup()
	}
	total := r.total()
	for it := range total {
		if it&15 == 0 {
			if err := r.cancelled(); err != nil {
				return err
			}
		}
		if err := cs.step(&c.p, c.rng, it < r.warmup); err != nil {
			return fmt.Errorf("mcmc: chain %d transition %d: %w", i, it, err)
		}
		if it == r.warmup-1 {
			cs.endWarmup()
		}
		r.record(c, it)
		r.prog.add(1)
	}
	c.stepSize = cs.stepSize()
	return nil
}

// progress throttles and serialises OnProgress calls; reported Done values
// never decrease.
type progress struct {
	fn       func(Progress) error
	total    int
	every    int64
	done     atomic.Int64
	mu       sync.Mutex
	reported int64
	start    time.Time
	cancel   context.CancelCauseFunc
}

func newProgress(fn func(Progress) error, total int, cancel context.CancelCauseFunc) *progress {
	return &progress{fn: fn, total: total, every: int64(max(1, total/100)), start: time.Now(), cancel: cancel}
}

func (p *progress) add(n int) {
	if p.fn == nil {
		return
	}
	after := p.done.Add(int64(n))
	before := after - int64(n)
	if after/p.every != before/p.every && after < int64(p.total) {
		_ = p.report() // an error cancels the run's context
	}
}

// report calls the callback with the current count, unless it was already
// reported.
func (p *progress) report() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	done := p.done.Load()
	if done <= p.reported {
		return nil
	}
	p.reported = done
	if err := p.fn(Progress{Done: int(done), Total: p.total, Elapsed: time.Since(p.start)}); err != nil {
		err = fmt.Errorf("mcmc: stopped by OnProgress: %w", err)
		p.cancel(err)
		return err
	}
	return nil
}

// finish reports the end of the run.
func (p *progress) finish() error {
	if p.fn == nil {
		return nil
	}
	return p.report()
}
