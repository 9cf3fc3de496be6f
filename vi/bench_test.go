package vi_test

// Benchmarks of variational inference on the two_moons NLE potential, next
// to MCMC on the same potential. This external test package imports
// simulators (for the task, its simulator and reference posterior) and mcmc
// (for the comparison); package vi itself depends on neither.
//
// Run with, for example,
//
//	go test ./vi/ -run '^$' -bench TwoMoons -benchtime 1x -timeout 30m
//
// The likelihood estimator is trained once per process (about a minute).

import (
	"context"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gosbi/gosbi/dist"
	"github.com/gosbi/gosbi/flows"
	"github.com/gosbi/gosbi/mcmc"
	"github.com/gosbi/gosbi/nn"
	"github.com/gosbi/gosbi/simulators"
	"github.com/gosbi/gosbi/vi"
	"gonum.org/v1/gonum/mat"
)

// nlePotential is the NLE potential log q_ψ(x_o | θ) + log p(θ) of a
// trained conditional flow q_ψ(x | θ) and a box-uniform prior: a
// vi.Differentiable for VI and a dist.BatchLogProber with bounds for MCMC.
type nlePotential struct {
	flow   *flows.Flow
	xo     []float64
	prior  *dist.BoxUniform
	logPri float64 // log density of the prior inside the box
}

func (p *nlePotential) Dim() int                   { return p.flow.ContextDim() }
func (p *nlePotential) Bounds() (lo, hi []float64) { return p.prior.Bounds() }
func (p *nlePotential) LogProb(theta []float64) float64 {
	return p.LogProbBatch(nil, mat.NewDense(1, len(theta), theta))[0]
}

func (p *nlePotential) LogProbBatch(dst []float64, theta *mat.Dense) []float64 {
	n, _ := theta.Dims()
	if dst == nil {
		dst = make([]float64, n)
	}
	x := mat.NewDense(n, len(p.xo), nil)
	for i := range n {
		x.SetRow(i, p.xo)
	}
	// Outside the box the flow may be evaluated at any θ; the prior decides.
	p.flow.LogProbBatch(dst, x, theta)
	for i := range n {
		if lp := p.prior.LogProb(theta.RawRowView(i)); math.IsInf(lp, -1) {
			dst[i] = lp
		} else {
			dst[i] += lp
		}
	}
	return dst
}

// LogDensity is log q_ψ(x_o | θ) + log p(θ) on a tape, differentiable with
// respect to θ (the flow's context); θ is inside the box when Fit maps it
// through the prior's bijection.
func (p *nlePotential) LogDensity(tp *nn.Tape, theta *nn.Tensor) *nn.Tensor {
	x := tp.New(theta.Rows, len(p.xo))
	for i := range theta.Rows {
		copy(x.Data[i*len(p.xo):], p.xo)
	}
	return tp.Shift(p.flow.LogProb(tp, x, theta), p.logPri)
}

type twoMoons struct {
	pot *nlePotential
	ref *mat.Dense // reference posterior samples
	err error
}

var (
	twoMoonsOnce sync.Once
	twoMoonsData twoMoons
)

// sbibmDir returns ../../shared/sbibm relative to this package, or skips.
func sbibmDir(b *testing.B) string {
	dir := filepath.Join("..", "..", "shared", "sbibm")
	if _, err := os.Stat(filepath.Join(dir, "two_moons")); err != nil {
		b.Skipf("sbibm reference data not found at %s: %v", dir, err)
	}
	return dir
}

// setupTwoMoons trains an NLE on 10,000 two_moons simulations (sbi's MAF,
// default training) once and returns the potential at observation 1.
func setupTwoMoons(b *testing.B) twoMoons {
	dir := sbibmDir(b)
	twoMoonsOnce.Do(func() {
		d := &twoMoonsData
		task, err := simulators.NewTask("two_moons", dir)
		if err != nil {
			d.err = err
			return
		}
		ref, err := task.Reference(dir, 1)
		if err != nil {
			d.err = err
			return
		}
		rng := rand.New(rand.NewPCG(1, 1))
		res, err := simulators.Simulate(context.Background(), task.Simulator, task.Prior.(dist.SizedSampler), 10_000, rng, nil)
		if err != nil {
			d.err = err
			return
		}
		start := time.Now()
		flow, err := flows.MAF{}.Build(res.Data.X, res.Data.Theta, rng)
		if err != nil {
			d.err = err
			return
		}
		tr, err := flows.Train(context.Background(), flow, res.Data.X, res.Data.Theta, rng, nil)
		if err != nil {
			d.err = err
			return
		}
		b.Logf("NLE trained in %v (%d epochs, best validation loss %.3f)", time.Since(start).Round(time.Second), tr.Epochs, tr.BestValLoss)
		prior := task.Prior.(*dist.BoxUniform)
		d.pot = &nlePotential{flow: flow, xo: ref.Observation, prior: prior, logPri: prior.LogProb([]float64{0, 0})}
		d.ref = ref.PosteriorSamples
	})
	if twoMoonsData.err != nil {
		b.Fatal(twoMoonsData.err)
	}
	return twoMoonsData
}

// mmd2 returns the squared maximum mean discrepancy (unbiased, Gaussian
// kernel with the median-heuristic bandwidth of the reference) between the
// first 1,000 rows of x and of ref: about 0 for samples of the same
// distribution, with a standard error of about 1e-3 at this size.
func mmd2(x, ref *mat.Dense) float64 {
	const n = 1000
	sq := func(a, b []float64) float64 {
		var s float64
		for i := range a {
			s += (a[i] - b[i]) * (a[i] - b[i])
		}
		return s
	}
	var ds []float64
	for i := range 200 {
		for j := i + 1; j < 200; j++ {
			ds = append(ds, sq(ref.RawRowView(i), ref.RawRowView(j)))
		}
	}
	med := quickMedian(ds)
	k := func(a, b []float64) float64 { return math.Exp(-sq(a, b) / med) }
	var xx, yy, xy float64
	for i := range n {
		for j := range n {
			if i != j {
				xx += k(x.RawRowView(i), x.RawRowView(j))
				yy += k(ref.RawRowView(i), ref.RawRowView(j))
			}
			xy += k(x.RawRowView(i), ref.RawRowView(j))
		}
	}
	return xx/(n*(n-1)) + yy/(n*(n-1)) - 2*xy/(n*n)
}

func quickMedian(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// shuffled returns the rows of x in a random order (MCMC draws are
// ordered by chain).
func shuffled(x *mat.Dense, rng *rand.Rand) *mat.Dense {
	n, d := x.Dims()
	out := mat.NewDense(n, d, nil)
	for i, j := range rng.Perm(n) {
		out.SetRow(i, x.RawRowView(j))
	}
	return out
}

var (
	fittedOnce sync.Once
	fitted     *vi.Posterior
)

// benchTwoMoonsFit fits the default MAF to the NLE potential (sbi's
// defaults: reverse KL, 256 particles, lr 1e-3 decaying by 0.999, at most
// 2,000 iterations) from the prior.
func benchTwoMoonsFit(b *testing.B, s vi.Settings) {
	tm := setupTwoMoons(b)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		rng := rand.New(rand.NewPCG(2, uint64(i)))
		q, err := vi.NewQ(flows.MAF{}, tm.pot.prior, dist.BijectionFor(tm.pot.prior), 1000, rng)
		if err != nil {
			b.Fatal(err)
		}
		post, res, err := vi.Fit(context.Background(), tm.pot, q, rng, &s)
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		x := mat.NewDense(1000, 2, nil)
		post.SampleBatch(x, rng)
		b.ReportMetric(float64(res.Iterations), "iterations")
		b.ReportMetric(res.Khat, "khat")
		b.ReportMetric(mmd2(x, tm.ref), "mmd2")
		xr := mat.NewDense(1000, 2, nil)
		if err := post.SampleImportance(xr, 0, rng); err == nil {
			b.ReportMetric(mmd2(xr, tm.ref), "mmd2_sir")
		}
		b.Logf("%v: %d iterations (converged %v), loss %.3f, k̂ %.2f, fit %v, warnings %q",
			s.Objective, res.Iterations, res.Converged, res.Loss, res.Khat, res.Runtime.Round(time.Millisecond), res.Warnings)
		if s.Objective == vi.ReverseKL {
			fittedOnce.Do(func() { fitted = post })
		}
		b.StartTimer()
	}
}

func BenchmarkTwoMoonsVIFitReverseKL(b *testing.B) { benchTwoMoonsFit(b, vi.Settings{}) }
func BenchmarkTwoMoonsVIFitForwardKL(b *testing.B) {
	benchTwoMoonsFit(b, vi.Settings{Objective: vi.ForwardKL})
}
func BenchmarkTwoMoonsVIFitIWELBO(b *testing.B) {
	benchTwoMoonsFit(b, vi.Settings{Objective: vi.IWELBO, DReG: true})
}

// BenchmarkTwoMoonsVISample10k times 10,000 draws from the fitted
// posterior (fitting it first if needed, untimed).
func BenchmarkTwoMoonsVISample10k(b *testing.B) {
	tm := setupTwoMoons(b)
	if fitted == nil {
		rng := rand.New(rand.NewPCG(2, 0))
		q, err := vi.NewQ(flows.MAF{}, tm.pot.prior, dist.BijectionFor(tm.pot.prior), 1000, rng)
		if err != nil {
			b.Fatal(err)
		}
		post, _, err := vi.Fit(context.Background(), tm.pot, q, rng, nil)
		if err != nil {
			b.Fatal(err)
		}
		fittedOnce.Do(func() { fitted = post })
	}
	x := mat.NewDense(10_000, 2, nil)
	rng := rand.New(rand.NewPCG(3, 0))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		fitted.SampleBatch(x, rng)
	}
	b.StopTimer()
	b.ReportMetric(mmd2(shuffled(x, rng), tm.ref), "mmd2")
}

// BenchmarkTwoMoonsMCMC10k times 10,000 draws by MCMC on the same potential
// with sbi's NLE defaults: the vectorised slice sampler over 20 chains, 200
// warmup steps per chain, chains started by resampling prior draws.
func BenchmarkTwoMoonsMCMC10k(b *testing.B) {
	tm := setupTwoMoons(b)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		rng := rand.New(rand.NewPCG(4, uint64(i)))
		ch, err := mcmc.Sample(context.Background(), tm.pot, 500, mcmc.Resample{Proposal: tm.pot.prior}, mcmc.SliceVectorized{}, rng,
			&mcmc.Settings{Chains: 20, Warmup: 200})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		flat := ch.Flat()
		b.ReportMetric(mmd2(shuffled(flat, rng), tm.ref), "mmd2")
		ess := ch.ESSBulk()
		b.ReportMetric(math.Min(ess[0], ess[1]), "ess_bulk")
		b.StartTimer()
	}
}

// BenchmarkReferenceMMD2 reports the MMD² between two halves of the
// reference samples: the floor for samples of the right distribution.
func BenchmarkReferenceMMD2(b *testing.B) {
	tm := setupTwoMoons(b)
	half := tm.ref.Slice(5000, 10_000, 0, 2).(*mat.Dense)
	var v float64
	for i := 0; i < b.N; i++ {
		v = mmd2(half, tm.ref)
	}
	b.ReportMetric(v, "mmd2")
}

// benchStep times one VI iteration (256 particles) on the banana potential
// with a MAF of the given size: the cost per iteration that Fit multiplies
// by the number of iterations.
func benchStep(b *testing.B, maf flows.MAF) {
	pot, _ := vi.NewPotential(2, func(tp *nn.Tape, th *nn.Tensor) *nn.Tensor {
		x1, x2 := tp.SliceCols(th, 0, 1), tp.SliceCols(th, 1, 2)
		r := tp.Scale(tp.Sub(x2, tp.Shift(tp.Square(x1), -1)), 2)
		return tp.Scale(tp.Add(tp.Square(x1), tp.Square(r)), -0.5)
	})
	rng := rand.New(rand.NewPCG(5, 0))
	init, _ := dist.NewDiagNormal([]float64{0, 0}, []float64{1, 2})
	q, err := vi.NewQ(maf, init, nil, 500, rng)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	_, _, err = vi.Fit(context.Background(), pot, q, rng, &vi.Settings{MaxIterations: b.N, Window: -1, QualitySamples: -1})
	if err != nil {
		b.Fatal(err)
	}
}

func BenchmarkStepMAFDefault(b *testing.B) { benchStep(b, flows.MAF{}) }
func BenchmarkStepMAFSmall(b *testing.B)   { benchStep(b, flows.MAF{Transforms: 3, Hidden: 32}) }
