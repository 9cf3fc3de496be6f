package mcmc

import (
	"math"
	"math/rand/v2"
)

// Kernel is a Markov transition kernel that leaves the target invariant:
// one of Slice, SliceVectorized, RandomWalk, HMC, NUTS, Independence or
// Mixture. The set is closed (the interface has unexported methods) so that
// the driver can run each kernel in the form it prefers: per-chain kernels in
// parallel goroutines, vectorised kernels over all chains at once.
type Kernel interface {
	kernelName() string
}

// chainKernel is a kernel that advances one chain at a time.
type chainKernel interface {
	Kernel
	// newChain returns the state of one chain. warmup is the number of
	// adaptation transitions this kernel will be asked for (planned; a
	// component of a Mixture may get a few more or fewer).
	newChain(t *target, warmup int) (chainState, error)
}

// vectorKernel is a kernel that advances all chains together.
type vectorKernel interface {
	Kernel
	run(r *runner) error
}

// chainState is the per-chain state of a chainKernel (adaptation state,
// scratch space). It must not allocate in step.
type chainState interface {
	// begin is called once with the chain's starting point before any step.
	begin(p *point, rng *rand.Rand) error
	// step performs one transition of p, adapting if adapt is true, and
	// sets p.accept and p.divergent.
	step(p *point, rng *rand.Rand, adapt bool) error
	// endWarmup freezes adaptation.
	endWarmup()
	// stepSize reports the current step size or proposal scale.
	stepSize() float64
}

// point is the current state of one chain, shared by the kernels of a
// Mixture.
type point struct {
	x  []float64
	lp float64
	// version increments whenever x changes, so kernels can cache values
	// computed at x (a gradient, a proposal density).
	version uint64
	// Statistics of the last transition.
	accept    float64
	divergent bool
	// evals counts target evaluations (a gradient evaluation counts as one).
	evals int
}

// moved records that x changed.
func (p *point) moved() { p.version++ }

// dualAvg is the dual-averaging step-size adaptation of Hoffman and Gelman
// (2014, section 3.2.1, algorithm 5) with their constants γ = 0.05, t0 = 10,
// κ = 0.75.
type dualAvg struct {
	delta     float64 // target acceptance statistic
	mu        float64
	hbar      float64
	logEpsBar float64
	m         int
}

const (
	daGamma = 0.05
	daT0    = 10
	daKappa = 0.75
)

// restart begins a new adaptation that shrinks log ε towards mu.
func (d *dualAvg) restart(mu float64) {
	d.mu = mu
	d.hbar = 0
	d.logEpsBar = 0
	d.m = 0
}

// update takes the acceptance statistic of the last transition and returns
// the step size for the next one.
func (d *dualAvg) update(accept float64) float64 {
	if accept > 1 || math.IsNaN(accept) {
		accept = math.Min(1, accept)
		if math.IsNaN(accept) {
			accept = 0
		}
	}
	d.m++
	m := float64(d.m)
	eta := 1 / (m + daT0)
	d.hbar = (1-eta)*d.hbar + eta*(d.delta-accept)
	logEps := d.mu - math.Sqrt(m)/daGamma*d.hbar
	xeta := math.Pow(m, -daKappa)
	d.logEpsBar = xeta*logEps + (1-xeta)*d.logEpsBar
	return math.Exp(logEps)
}

// final returns the averaged step size exp(log ε̄).
func (d *dualAvg) final() float64 { return math.Exp(d.logEpsBar) }

// windows is Stan's windowed warmup schedule (Stan Reference Manual,
// "HMC algorithm parameters"): an initial fast buffer (75 iterations), slow
// windows that double in size starting at 25, and a terminal fast buffer
// (50 iterations); shrunk to 15%/75%/10% when the warmup is shorter than 150.
// The metric (or proposal covariance) is estimated in the slow windows.
type windows struct {
	warmup, initBuf, termBuf int
	size, next               int
	counter                  int
}

func newWindows(warmup int) windows {
	w := windows{warmup: warmup, initBuf: 75, termBuf: 50, size: 25}
	if warmup < 20 {
		// Too short to estimate anything: only step-size adaptation.
		w.initBuf, w.termBuf, w.size = warmup, 0, 0
		w.next = -1
		return w
	}
	if w.initBuf+w.termBuf+w.size > warmup {
		w.initBuf = int(0.15 * float64(warmup))
		w.termBuf = int(0.1 * float64(warmup))
		w.size = warmup - w.initBuf - w.termBuf
	}
	w.next = w.initBuf + w.size - 1
	return w
}

// inWindow reports whether the current warmup iteration feeds the estimator.
func (w *windows) inWindow() bool {
	return w.counter >= w.initBuf && w.counter < w.warmup-w.termBuf && w.counter != w.warmup
}

// endOfWindow reports whether the current iteration closes a slow window.
func (w *windows) endOfWindow() bool {
	return w.counter == w.next && w.counter != w.warmup
}

// advance computes the next window after a window closed.
func (w *windows) advance() {
	last := w.warmup - w.termBuf - 1
	if w.next == last {
		return
	}
	w.size *= 2
	w.next = w.counter + w.size
	if w.next != last && w.next+2*w.size >= w.warmup-w.termBuf {
		w.next = last
	}
}

// welford accumulates a running mean and (co)variance.
type welford struct {
	n    int
	mean []float64
	m2   []float64 // d×d (full) or d (diagonal)
	full bool
	d    []float64 // scratch
}

func newWelford(dim int, full bool) *welford {
	w := &welford{mean: make([]float64, dim), full: full, d: make([]float64, dim)}
	if full {
		w.m2 = make([]float64, dim*dim)
	} else {
		w.m2 = make([]float64, dim)
	}
	return w
}

func (w *welford) reset() {
	w.n = 0
	clear(w.mean)
	clear(w.m2)
}

func (w *welford) add(x []float64) {
	w.n++
	n := float64(w.n)
	dim := len(x)
	for i, v := range x {
		w.d[i] = v - w.mean[i]
		w.mean[i] += w.d[i] / n
	}
	if w.full {
		for i := range dim {
			di := w.d[i]
			row := w.m2[i*dim : (i+1)*dim]
			for j := range dim {
				row[j] += di * (x[j] - w.mean[j])
			}
		}
		return
	}
	for i, v := range x {
		w.m2[i] += w.d[i] * (v - w.mean[i])
	}
}

// regularized writes the sample (co)variance shrunk towards 1e-3·I, as Stan
// does: n/(n+5)·S + 1e-3·5/(n+5)·I.
func (w *welford) regularized(dst []float64) {
	n := float64(w.n)
	a := n / (n + 5)
	b := 1e-3 * 5 / (n + 5)
	dim := len(w.mean)
	for i := range w.m2 {
		dst[i] = a * w.m2[i] / (n - 1)
	}
	if w.full {
		for i := range dim {
			dst[i*dim+i] += b
		}
		return
	}
	for i := range dim {
		dst[i] += b
	}
}

// cholesky overwrites the row-major d×d symmetric positive-definite matrix a
// with its lower Cholesky factor. It returns false, leaving a partly
// overwritten, if a is not positive definite.
func cholesky(a []float64, d int) bool {
	for j := range d {
		s := a[j*d+j]
		for k := range j {
			s -= a[j*d+k] * a[j*d+k]
		}
		if !(s > 0) {
			return false
		}
		ljj := math.Sqrt(s)
		a[j*d+j] = ljj
		for i := j + 1; i < d; i++ {
			s := a[i*d+j]
			for k := range j {
				s -= a[i*d+k] * a[j*d+k]
			}
			a[i*d+j] = s / ljj
		}
		for i := range j {
			a[i*d+j] = 0
		}
	}
	return true
}
