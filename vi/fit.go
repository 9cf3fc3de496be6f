package vi

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/gosbi/gosbi/dist"
	"github.com/gosbi/gosbi/flows"
	"github.com/gosbi/gosbi/nn"
	"gonum.org/v1/gonum/mat"
)

// Settings tunes one run of Fit or FitAmortized. The zero value (and a nil
// *Settings) means the defaults, which are sbi's where sbi has one.
type Settings struct {
	// Objective is the divergence to minimise; the zero value is ReverseKL.
	Objective Objective
	// Particles is the number of draws from q per iteration (for
	// FitAmortized, in total over the contexts of the iteration); zero
	// means 256 (sbi's n_particles). IWELBO splits them into groups of K;
	// sbi instead draws n_particles groups of K.
	Particles int
	// K is the IWELBO group size; zero means 16 (sbi's default). Particles
	// (per context) must be a multiple of K.
	K int
	// Alpha is the Rényi order α (finite, not 1); zero means 0.5, the value
	// sbi's documentation suggests. (α = 0 itself is the IWELBO with K =
	// Particles: use IWELBO.)
	Alpha float64
	// STL selects the sticking-the-landing gradient for ReverseKL: the
	// score term ∇_φ log q_φ(θ) at fixed θ, whose expectation is zero, is
	// dropped, which removes all gradient noise when q equals the target
	// (Roeder, Wu & Duvenaud 2017).
	STL bool
	// DReG selects the doubly reparameterised gradient for IWELBO (Tucker,
	// Lawson, Gu & Maddison 2019), whose signal-to-noise ratio does not
	// vanish as K grows.
	DReG bool
	// LearningRate is Adam's initial step size; zero means 1e-3.
	LearningRate float64
	// Decay is the factor applied to the learning rate after every
	// iteration (PyTorch's ExponentialLR): the rate at iteration t is
	// LearningRate·Decay^(t-1). Zero means 0.999; 1 keeps it constant. It
	// must be in (0, 1].
	Decay float64
	// MaxIterations caps the number of iterations; zero means 2,000.
	MaxIterations int
	// MinIterations is the number of iterations before convergence is
	// first tested; zero means 10 (sbi's min_num_iters). The test also
	// needs four full windows.
	MinIterations int
	// Window is the length W of the windows of the convergence test; zero
	// means 100, a negative value disables the test (Fit then runs
	// MaxIterations). The test is a running-median test, robust to the
	// occasional huge loss of a particle in the tails: every W iterations,
	// once 4W iterations with a finite loss have run (and at least
	// MinIterations), it compares the median loss of the last W iterations
	// with the median of the window 2W earlier, and declares convergence
	// when the decrease is below max(Tol, se), se being the standard error
	// of the difference of the two medians (1.2533·σ/√W per median, σ from
	// each window's median absolute deviation), at two consecutive checks:
	// the loss no longer improves by more than its own noise.
	Window int
	// Tol is the absolute floor of the convergence test, in units of the
	// loss (nats); zero means 1e-4.
	Tol float64
	// ClipNorm is the maximal total gradient norm (PyTorch's
	// clip_grad_norm_); zero means 10, a negative value disables clipping.
	ClipNorm float64
	// Bijection maps R^Dim onto the target's support: q is fitted to the
	// density of z, log p̃(T(z)) + log|det dT/dz|, and the posterior maps
	// draws back with T. Nil means dist.BijectionFor(target) when the target
	// implements dist.Bounded, else the identity.
	Bijection *dist.Bijection
	// QualitySamples is the number of draws from the fitted q used for
	// PSIS quality control (Result.Khat); zero means 10,000, a negative
	// value disables quality control. At least 25 are needed.
	QualitySamples int
	// ContextsPerStep is the number of contexts drawn (with replacement)
	// from the training set at each iteration of FitAmortized; zero means
	// 16. Particles must be a multiple of it. Fit ignores it.
	ContextsPerStep int
	// QualityContexts is the number of training contexts on which
	// FitAmortized runs PSIS quality control (the first ones); zero means
	// 5. Fit ignores it.
	QualityContexts int
	// OnIteration, if non-nil, is called after every iteration; a non-nil
	// error stops the fit, which returns the posterior so far with an error
	// wrapping it.
	OnIteration func(IterStats) error
}

// IterStats reports one finished iteration.
type IterStats struct {
	// Iteration counts from 1.
	Iteration int
	// Loss is the objective's value (negative ELBO, negative IWELBO,
	// negative Rényi bound, or the self-normalised estimate of
	// KL(p ‖ q) - log Z for ForwardKL); it may be NaN or ±Inf when the
	// step was skipped.
	Loss float64
	// GradNorm is the total gradient norm before clipping.
	GradNorm float64
	// LearningRate is the step size used.
	LearningRate float64
	// Skipped reports a step skipped because the loss or gradient was not
	// finite.
	Skipped bool
	// Elapsed is the time since the fit started.
	Elapsed time.Duration
}

// Result summarises a fit.
type Result struct {
	// Iterations is the number of iterations run; Skipped counts those
	// whose loss or gradient was not finite (no update was made).
	Iterations, Skipped int
	// Converged reports that the convergence test stopped the fit before
	// MaxIterations.
	Converged bool
	// Loss is the median loss of the last Window iterations (of all, if
	// fewer), skipped ones excluded.
	Loss float64
	// Khat is the PSIS Pareto k̂ of the importance ratios p̃/q on
	// QualitySamples fresh draws from q (for FitAmortized, the largest over
	// the checked contexts); NaN without quality control or when the fit
	// stopped with an error. Above KhatThreshold the fit is unreliable (Yao
	// et al. 2018).
	Khat float64
	// KhatPerContext holds k̂ for each checked context (one for Fit; NaN
	// where quality control failed).
	KhatPerContext []float64
	// ESS is the effective sample size 1/Σ w̃² of the Pareto-smoothed,
	// normalised weights of the quality draws (Fit only; NaN otherwise).
	ESS float64
	// LogZ is the importance-sampling estimate log mean(p̃/q) of the log
	// normalising constant of the target (Fit only; NaN otherwise).
	LogZ float64
	// Warnings lists quality problems, such as k̂ above KhatThreshold.
	Warnings []string
	// History has one entry per iteration.
	History []IterStats
	// Runtime is the total wall time, quality control included.
	Runtime time.Duration
}

// maxNonFinite is the number of consecutive non-finite iterations after
// which a fit gives up with ErrNonFinite.
const maxNonFinite = 100

func (s *Settings) withDefaults(amortized bool) (Settings, error) {
	var r Settings
	if s != nil {
		r = *s
	}
	if r.Particles == 0 {
		r.Particles = 256
	}
	if r.K == 0 {
		r.K = 16
	}
	if r.Alpha == 0 {
		r.Alpha = 0.5
	}
	if r.LearningRate == 0 {
		r.LearningRate = 1e-3
	}
	if r.Decay == 0 {
		r.Decay = 0.999
	}
	if r.MaxIterations == 0 {
		r.MaxIterations = 2000
	}
	if r.MinIterations == 0 {
		r.MinIterations = 10
	}
	if r.Window == 0 {
		r.Window = 100
	}
	if r.Tol == 0 {
		r.Tol = 1e-4
	}
	if r.ClipNorm == 0 {
		r.ClipNorm = 10
	}
	if r.QualitySamples == 0 {
		r.QualitySamples = 10_000
	}
	if r.ContextsPerStep == 0 {
		r.ContextsPerStep = 16
	}
	if r.QualityContexts == 0 {
		r.QualityContexts = 5
	}
	if !amortized {
		r.ContextsPerStep = 1
	}
	bad := func(format string, args ...any) (Settings, error) {
		return r, fmt.Errorf("vi: "+format+": %w", append(args, ErrConfig)...)
	}
	switch {
	case r.Objective > Renyi:
		return bad("unknown objective %v", r.Objective)
	case r.Particles < 2:
		return bad("%d particles, need at least 2", r.Particles)
	case r.ContextsPerStep < 1 || r.Particles%r.ContextsPerStep != 0:
		return bad("%d particles are not a multiple of %d contexts per step", r.Particles, r.ContextsPerStep)
	case r.Particles/r.ContextsPerStep < 2:
		return bad("%d particles per context, need at least 2", r.Particles/r.ContextsPerStep)
	case r.Objective == IWELBO && (r.K < 1 || (r.Particles/r.ContextsPerStep)%r.K != 0):
		return bad("%d particles per context are not a multiple of K = %d", r.Particles/r.ContextsPerStep, r.K)
	case math.IsNaN(r.Alpha) || math.IsInf(r.Alpha, 0) || r.Alpha == 1:
		return bad("Rényi α = %v, want finite and not 1", r.Alpha)
	case r.STL && r.Objective != ReverseKL:
		return bad("STL applies to ReverseKL, not %v", r.Objective)
	case r.DReG && r.Objective != IWELBO:
		return bad("DReG applies to IWELBO, not %v", r.Objective)
	case !(r.LearningRate > 0) || math.IsInf(r.LearningRate, 0):
		return bad("learning rate %v", r.LearningRate)
	case !(r.Decay > 0 && r.Decay <= 1):
		return bad("decay %v, want (0, 1]", r.Decay)
	case r.MaxIterations < 1 || r.MinIterations < 0:
		return bad("iterations %d (min %d)", r.MaxIterations, r.MinIterations)
	case math.IsNaN(r.Tol) || r.Tol < 0:
		return bad("tolerance %v", r.Tol)
	case math.IsNaN(r.ClipNorm):
		return bad("clip norm %v", r.ClipNorm)
	case r.QualitySamples > 0 && r.QualitySamples < minPSIS:
		return bad("%d quality samples, need at least %d", r.QualitySamples, minPSIS)
	case r.QualityContexts < 0:
		return bad("%d quality contexts", r.QualityContexts)
	}
	return r, nil
}

// spec returns the loss specification of the settings.
func (s *Settings) spec() lossSpec {
	return lossSpec{obj: s.Objective, k: s.K, alpha: s.Alpha, path: s.STL || s.DReG, blocks: s.ContextsPerStep}
}

// Fit fits the unconditional flow q to the unnormalised density target by
// stochastic optimisation of the chosen objective (Settings.Objective,
// reverse KL by default) with Adam, an exponentially decaying learning rate,
// gradient clipping and a running-mean convergence test. q's parameters are
// updated in place, starting from their current values: build q with
// flows.MAF or flows.NSF (whose Build z-scores from initial draws, e.g. of
// the prior mapped to unconstrained space) or with Gaussian for a full-rank
// Gaussian.
//
// The target needs a gradient with respect to θ: it implements
// Differentiable (a neural potential written with nn ops, see Potential),
// or dist.BatchGradienter or dist.Gradienter. When Settings.Bijection is set
// or the target implements dist.Bounded, q lives in unconstrained space
// (see Settings.Bijection) and the returned Posterior maps back to the
// support.
//
// Each iteration draws Settings.Particles base-noise rows from rng; then
// quality control draws Settings.QualitySamples from q and computes the
// PSIS k̂ of the ratios p̃/q (Result.Khat, with a warning above
// KhatThreshold). All randomness comes from rng, so a seed fixes the result.
//
// Errors wrap ErrConfig (nil or conditional q, nil rng, invalid settings),
// ErrTarget (nil target, no gradient, dimension mismatch) or ErrNonFinite
// (100 consecutive iterations without a finite loss and gradient). When ctx
// is cancelled or Settings.OnIteration returns an error, Fit stops and
// returns the posterior as it is, its result, and an error wrapping the
// cause.
func Fit(ctx context.Context, target dist.LogProber, q *flows.Flow, rng *rand.Rand, settings *Settings) (*Posterior, *Result, error) {
	if q == nil {
		return nil, nil, fmt.Errorf("vi: nil flow: %w", ErrConfig)
	}
	if q.ContextDim() != 0 {
		return nil, nil, fmt.Errorf("vi: Fit needs an unconditional flow, got context dimension %d (use FitAmortized): %w", q.ContextDim(), ErrConfig)
	}
	if rng == nil {
		return nil, nil, fmt.Errorf("vi: nil rng: %w", ErrConfig)
	}
	s, err := settings.withDefaults(false)
	if err != nil {
		return nil, nil, err
	}
	d, err := newDensity(target, q.Dim())
	if err != nil {
		return nil, nil, err
	}
	b, err := bijectionFor(s.Bijection, target, q.Dim())
	if err != nil {
		return nil, nil, err
	}
	zd := zDensity{d: d}
	if b != nil {
		zd.bj = &bijector{b}
	}
	start := time.Now()
	r := &optimizer{q: q, s: s, spec: s.spec(), dens: func(tp *nn.Tape, z, _ *nn.Tensor) *nn.Tensor { return zd.logDensity(tp, z) }}
	res, runErr := r.run(ctx, rng, start)
	post := &Posterior{q: q, qd: q.Condition(nil), b: b, target: zd}
	if runErr == nil && s.QualitySamples > 0 {
		if pr, err := post.PSIS(s.QualitySamples, rng); err == nil {
			res.Khat, res.ESS, res.LogZ = pr.Khat, pr.ESS, pr.LogZ
			res.KhatPerContext = []float64{pr.Khat}
			if pr.Khat > KhatThreshold {
				res.Warnings = append(res.Warnings, fmt.Sprintf("PSIS k̂ = %.2f > %.1f: q is a poor fit of the target (importance weights are heavy-tailed)", pr.Khat, KhatThreshold))
			}
		} else {
			res.Warnings = append(res.Warnings, "quality control failed: "+err.Error())
		}
	}
	res.Runtime = time.Since(start)
	return post, res, runErr
}

// bijectionFor returns the bijection to use, nil for the identity.
func bijectionFor(b *dist.Bijection, target any, dim int) (*dist.Bijection, error) {
	if b == nil {
		if bd, ok := target.(dist.Bounded); ok {
			lo, hi := bd.Bounds()
			nb, err := dist.NewBijection(lo, hi)
			if err != nil {
				return nil, fmt.Errorf("vi: target bounds: %v: %w", err, ErrTarget)
			}
			b = nb
		}
	}
	if b == nil {
		return nil, nil
	}
	if b.Dim() != dim {
		return nil, fmt.Errorf("vi: bijection of dimension %d for q of dimension %d: %w", b.Dim(), dim, ErrConfig)
	}
	if b.IsIdentity() {
		return nil, nil
	}
	return b, nil
}

// optimizer runs the optimisation loop shared by Fit and FitAmortized.
type optimizer struct {
	q    *flows.Flow
	s    Settings
	spec lossSpec
	// dens is the log density of z (N×D) given contexts c (N×C, nil for Fit).
	dens func(tp *nn.Tape, z, c *nn.Tensor) *nn.Tensor
	// contexts, for FitAmortized: the training contexts, one per row.
	contexts *mat.Dense
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// run performs the iterations. It returns the result (never nil) and an
// error for cancellation, a callback error or persistent non-finite steps.
func (o *optimizer) run(ctx context.Context, rng *rand.Rand, start time.Time) (*Result, error) {
	s := o.s
	res := &Result{Khat: math.NaN(), ESS: math.NaN(), LogZ: math.NaN(), History: make([]IterStats, 0, s.MaxIterations)}
	params := o.q.Params()
	if len(params) == 0 {
		return res, fmt.Errorf("vi: q has no trainable parameters: %w", ErrConfig)
	}
	opt := nn.NewAdam(params, s.LearningRate)
	lr, decay := s.LearningRate, s.Decay
	opt.Schedule = func(t int) float64 { return lr * math.Pow(decay, float64(t-1)) }
	tp := nn.NewTape()
	tp.FreezeParams = true // only q's (watched) parameters get gradients
	ng := nn.NewNoGradTape()
	n, d := s.Particles, o.q.Dim()
	var nonFinite int
	losses := make([]float64, 0, s.MaxIterations)
	conv := newConvergence(s.Window, s.Tol)
	for it := 1; it <= s.MaxIterations; it++ {
		if err := ctx.Err(); err != nil {
			return o.finish(res), fmt.Errorf("vi: fit cancelled after %d iterations: %w", it-1, err)
		}
		tp.Reset()
		tp.Watch(params...)
		c := o.sampleContexts(tp, rng)
		eps := tp.New(n, d)
		for i := range eps.Data {
			eps.Data[i] = rng.NormFloat64()
		}
		loss := o.stepLoss(tp, ng, eps, c)
		st := IterStats{Iteration: it, Loss: loss.Item(), GradNorm: math.NaN(), LearningRate: opt.LearningRate(opt.T + 1)}
		ok := finite(st.Loss) && tp.Tracked(loss)
		if ok {
			tp.Backward(loss)
			if s.ClipNorm > 0 {
				st.GradNorm = nn.ClipGradNorm(params, s.ClipNorm)
			} else {
				st.GradNorm = nn.GradNorm(params)
			}
			ok = finite(st.GradNorm)
		}
		if ok {
			opt.Step()
			nonFinite = 0
		} else {
			st.Skipped = true
			res.Skipped++
			nonFinite++
		}
		st.Elapsed = time.Since(start)
		res.Iterations = it
		res.History = append(res.History, st)
		if nonFinite >= maxNonFinite {
			return o.finish(res), fmt.Errorf("vi: %d consecutive iterations without a finite loss and gradient: %w", nonFinite, ErrNonFinite)
		}
		if s.OnIteration != nil {
			if err := s.OnIteration(st); err != nil {
				return o.finish(res), fmt.Errorf("vi: fit stopped after %d iterations: %w", it, err)
			}
		}
		if ok && finite(st.Loss) {
			losses = append(losses, st.Loss)
			if s.Window > 0 && it >= s.MinIterations && it%s.Window == 0 && conv.check(losses) {
				res.Converged = true
				return o.finish(res), nil
			}
		}
	}
	return o.finish(res), nil
}

// finish fills the summary loss.
func (o *optimizer) finish(res *Result) *Result {
	w := o.s.Window
	if w <= 0 {
		w = 100
	}
	var last []float64
	for i := len(res.History) - 1; i >= 0 && len(last) < w; i-- {
		if st := res.History[i]; !st.Skipped && finite(st.Loss) {
			last = append(last, st.Loss)
		}
	}
	res.Loss = math.NaN()
	if len(last) > 0 {
		slices.Sort(last)
		res.Loss = medianSorted(last)
	}
	return res
}

// convergence is the running-median test of Settings.Window, with scratch
// buffers so that checks do not allocate.
type convergence struct {
	w    int
	tol  float64
	a, b []float64
}

func newConvergence(w int, tol float64) *convergence {
	c := &convergence{w: max(w, 1), tol: tol}
	c.a, c.b = make([]float64, c.w), make([]float64, c.w)
	return c
}

// check reports convergence after the finite losses so far: the test
// passes both for the last window and for the window before it.
func (c *convergence) check(losses []float64) bool {
	n, w := len(losses), c.w
	return n >= 4*w && c.pass(losses[n-3*w:n-2*w], losses[n-w:]) && c.pass(losses[n-4*w:n-3*w], losses[n-2*w:n-w])
}

// pass reports that the median of newer is not below the median of older
// by more than max(tol, se).
func (c *convergence) pass(older, newer []float64) bool {
	ma, sa := medianMAD(c.a, older)
	mb, sb := medianMAD(c.b, newer)
	// The standard error of a sample median is √(π/2)·σ/√n for normal data.
	se := 1.2533 * math.Sqrt((sa*sa+sb*sb)/float64(len(older)))
	return ma-mb < max(c.tol, se)
}

// medianMAD returns the median of x and the normal-consistent median
// absolute deviation 1.4826·median|x - median|, using buf (len(x)) as
// scratch.
func medianMAD(buf, x []float64) (med, sigma float64) {
	copy(buf, x)
	slices.Sort(buf)
	med = medianSorted(buf)
	for i, v := range x {
		buf[i] = math.Abs(v - med)
	}
	slices.Sort(buf)
	return med, 1.4826 * medianSorted(buf)
}

func medianSorted(x []float64) float64 {
	n := len(x)
	if n%2 == 1 {
		return x[n/2]
	}
	return (x[n/2-1] + x[n/2]) / 2
}

// sampleContexts returns the N×C contexts of one iteration (blocks of equal
// rows, one block per context drawn with replacement from the training
// contexts), or nil for Fit.
func (o *optimizer) sampleContexts(tp *nn.Tape, rng *rand.Rand) *nn.Tensor {
	if o.contexts == nil {
		return nil
	}
	nc, cd := o.contexts.Dims()
	n, blocks := o.s.Particles, o.s.ContextsPerStep
	per := n / blocks
	c := tp.New(n, cd)
	for b := range blocks {
		row := o.contexts.RawRowView(rng.IntN(nc))
		for i := b * per; i < (b+1)*per; i++ {
			copy(c.Data[i*cd:(i+1)*cd], row)
		}
	}
	return c
}

// stepLoss records the loss of one iteration on tp for base noise eps and
// contexts c.
func (o *optimizer) stepLoss(tp, ng *nn.Tape, eps, c *nn.Tensor) *nn.Tensor {
	if o.spec.obj == ForwardKL {
		// Draws without reparameterisation, then log q on the recording
		// tape for the score, and the target's values alone.
		ng.Reset()
		x0, _ := o.q.RSample(ng, eps, c)
		theta := tp.New(x0.Rows, x0.Cols)
		copy(theta.Data, x0.Data)
		lq := o.q.LogProb(tp, theta, c)
		lp := o.dens(tp, theta, c)
		return o.spec.loss(tp, lp, lq, nil)
	}
	theta, lq := o.q.RSample(tp, eps, c)
	lp := o.dens(tp, theta, c)
	var lqs *nn.Tensor
	if o.spec.path {
		// log q at a constant copy of θ: its parameter gradient is the
		// score, which the loss subtracts (see lossSpec.compute).
		th := tp.New(theta.Rows, theta.Cols)
		copy(th.Data, theta.Data)
		lqs = o.q.LogProb(tp, th, c)
	}
	return o.spec.loss(tp, lp, lq, lqs)
}
