package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gosbi/gosbi/dist"
	"github.com/gosbi/gosbi/flows"
	"github.com/gosbi/gosbi/mcmc"
	"github.com/gosbi/gosbi/sbi"
	"github.com/gosbi/gosbi/simulators"
	"github.com/gosbi/gosbi/vi"
	"gonum.org/v1/gonum/mat"
)

// SBC of the likelihood and ratio methods (nle, nre). The estimator is
// trained once on prior simulations, as 'gosbi infer' trains it with the
// same seed; its posterior at every test observation x_i is then sampled
// with -sampler (MCMC on the potential, rejection, importance sampling, or
// a VI fit per test), which reuses the trained network. The L draws of test
// i come from rand.NewPCG(seed, streamSBCPotential|i), so they do not
// depend on the number of workers nor on the other tests. The same draws
// serve SBC and TARP (the npe path draws twice, which is cheap there); the
// HPD statistic is the potential, log p(x_i | θ) + log p(θ) up to a
// constant in θ, whose order within one x_i is that of the posterior
// density.

// streamSBCPotential | i draws the posterior samples of test i.
const streamSBCPotential = 0x53424350 << 32 // "SBCP"

// defaultPotentialTests is the default -tests of nle and nre: each test
// runs the sampler (20 chains, 200 warm-up steps for slice sampling), which
// costs far more than NPE's direct draws, so half of npe's 200.
const defaultPotentialTests = 100

// maxSBCChains is the number of chains of the MCMC samplers (MCMCSettings'
// default); fewer are used when -num-samples leaves less than
// mcmc.MinDraws draws per chain, so that R-hat and ESS are defined.
const maxSBCChains = 20

// sbcSamplerSummary summarises the per-test sampler diagnostics of nle and
// nre in sbc.json.
type sbcSamplerSummary struct {
	Sampler string `json:"sampler"`
	// Chains is the number of MCMC chains per test (MCMC samplers only).
	Chains int `json:"chains,omitempty"`
	// Failures counts the tests whose sampler failed; they are left out of
	// the statistics and listed in FailedTests.
	Failures    int          `json:"failures"`
	FailedTests []sbcFailure `json:"failed_tests,omitempty"`
	// TestsWithWarnings counts the tests whose sampler issued a warning
	// (R-hat, ESS, divergences, rejection bound, VI k-hat).
	TestsWithWarnings int `json:"tests_with_warnings"`
	// RHatMax is the largest R-hat over tests and parameters,
	// RHatMedian the median over tests of each test's largest R-hat,
	// TestsRHatAbove the number of tests whose largest R-hat exceeds
	// RHatThreshold (MCMC samplers only; null when undefined).
	RHatMax        *float64 `json:"rhat_max"`
	RHatMedian     *float64 `json:"rhat_median"`
	RHatThreshold  float64  `json:"rhat_threshold,omitempty"`
	TestsRHatAbove int      `json:"tests_rhat_above_threshold"`
	// ESSBulkMin and ESSTailMin are the smallest bulk and tail ESS over
	// tests and parameters (MCMC samplers only).
	ESSBulkMin *float64 `json:"ess_bulk_min"`
	ESSTailMin *float64 `json:"ess_tail_min"`
	// AcceptanceMean is the mean acceptance rate over the tests.
	AcceptanceMean float64 `json:"acceptance_mean"`
	// ImportanceESSMin is the smallest importance-sampling ESS over the
	// tests (importance only).
	ImportanceESSMin *float64 `json:"importance_ess_min,omitempty"`
	// KhatMax is the largest PSIS k-hat of the VI fits and TestsKhatAbove
	// the number above vi.KhatThreshold (vi only).
	KhatMax        *float64 `json:"khat_max,omitempty"`
	TestsKhatAbove int      `json:"tests_khat_above_threshold,omitempty"`
	// SamplingSeconds is the wall time of sampling every test.
	SamplingSeconds float64 `json:"sampling_seconds"`
}

// sbcFailure is a test whose sampler failed.
type sbcFailure struct {
	Test  int    `json:"test"`
	Error string `json:"error"`
}

// trainPotential simulates from the prior and trains the likelihood (nle)
// or ratio (nre) estimator of one round with all randomness from rng,
// with the settings of 'gosbi infer' (which therefore trains the same
// network from the same seed), and returns its MCMC posterior with kernel
// (nil: the default slice sampler).
func trainPotential(ctx context.Context, e env, t *simulators.Task, method, estimator string, nsim, maxEpochs int,
	kernel mcmc.Kernel, rng *rand.Rand) (*sbi.MCMCPosterior, *trainReport, error) {
	var est sbi.Estimator
	switch estimator {
	case "maf":
		est = flows.MAF{}
	case "nsf":
		est = flows.NSF{}
	default:
		return nil, nil, usagef("unknown estimator %q (want maf or nsf)", estimator)
	}
	var simBar, trainBar *progress
	settings := &sbi.PotentialInferSettings{
		NLE: &sbi.NLEConfig{Estimator: est}, Rounds: 1, MCMC: &sbi.MCMCSettings{Kernel: kernel},
		Simulate: &simulators.Settings{OnProgress: func(pr simulators.Progress) error {
			if simBar == nil {
				simBar = newProgress(e.stderr, e.tty, false, "round 0: simulating", pr.Total)
			}
			simBar.update(pr.Done, fmt.Sprintf("(%d invalid, %d failed)", pr.Invalid, pr.Failed))
			return nil
		}},
		Train: &sbi.TrainSettings{Settings: flows.Settings{MaxEpochs: maxEpochs, OnEpoch: func(es flows.EpochStats) error {
			if trainBar == nil {
				trainBar = newProgress(e.stderr, e.tty, false, "round 0: training", -1)
			}
			trainBar.update(es.Epoch, fmt.Sprintf("epoch %d val loss %.4f best %.4f (epoch %d)", es.Epoch, es.ValLoss, es.BestValLoss, es.BestEpoch))
			return nil
		}}},
		OnRound: func(rr sbi.RoundResult) error {
			if simBar != nil {
				simBar.finish(rr.Simulation.Done, fmt.Sprintf("done in %.1fs (%d ok, %d invalid, %d failed)",
					rr.Simulation.Runtime.Seconds(), rr.Simulation.OK, rr.Simulation.Invalid, rr.Simulation.Failed))
			}
			if trainBar != nil && rr.Train != nil {
				trainBar.finish(rr.Train.Epochs, fmt.Sprintf("epochs in %.1fs, best validation loss %.4f at epoch %d",
					rr.Train.Runtime.Seconds(), rr.Train.BestValLoss, rr.Train.BestEpoch))
			}
			return nil
		},
	}
	infer := sbi.InferNLE
	if method == "nre" {
		infer = sbi.InferNRE
	}
	post, res, err := infer(ctx, t.Simulator, t.Prior, nsim, rng, settings)
	if err != nil {
		return nil, nil, err
	}
	return post, roundsReport(res.Rounds), nil
}

// testSampler draws the posterior samples of one test observation with
// one of the samplers of -sampler.
type testSampler struct {
	post    *sbi.MCMCPosterior // one worker per test, chains adapted to n
	sampler string             // an MCMC kernel name, "rejection", "importance" or "vi"
	vi      *viOptions         // sampler "vi"
	n       int                // draws per test
}

// newTestSampler returns the sampler of n draws per test of post; MCMC
// runs maxSBCChains chains, or fewer so that each has mcmc.MinDraws draws,
// with the given warm-up and thinning (0: sbi's defaults).
func newTestSampler(post *sbi.MCMCPosterior, sampler string, o *viOptions, n, warmup, thin int) (*testSampler, error) {
	s := post.Settings()
	s.Workers = 1 // the tests run in parallel
	s.Chains = max(1, min(maxSBCChains, n/mcmc.MinDraws))
	if warmup > 0 {
		s.Warmup = warmup
	}
	if thin > 0 {
		s.Thin = thin
	}
	p, err := post.WithSettings(&s)
	if err != nil {
		return nil, err
	}
	if sampler == "vi" && o == nil {
		o = defaultVIOptions()
	}
	return &testSampler{post: p, sampler: sampler, vi: o, n: n}, nil
}

// isMCMC reports whether the sampler is an MCMC kernel.
func (ts *testSampler) isMCMC() bool {
	return ts.sampler != "rejection" && ts.sampler != "importance" && ts.sampler != "vi"
}

// testDraw is the outcome of sampling one test.
type testDraw struct {
	samples    *mat.Dense
	err        error
	rhat       float64 // largest over parameters; NaN when undefined
	essBulk    float64 // smallest over parameters; NaN when undefined
	essTail    float64
	acceptance float64
	impESS     float64 // importance only, else NaN
	khat       float64 // vi only, else NaN
	warnings   []string
}

// draw samples the posterior at x with rng.
func (ts *testSampler) draw(ctx context.Context, x []float64, rng *rand.Rand) *testDraw {
	nan := math.NaN()
	d := &testDraw{rhat: nan, essBulk: nan, essTail: nan, impESS: nan, khat: nan}
	xo := sbi.SingleTrial(x)
	switch ts.sampler {
	case "rejection", "importance":
		pot, err := ts.post.Potential(xo)
		if err != nil {
			d.err = err
			return d
		}
		if ts.sampler == "rejection" {
			rp, err := sbi.NewRejectionPosterior(ctx, pot, ts.post.Prior(), rng, nil)
			if err != nil {
				d.err = err
				return d
			}
			rr, err := rp.SampleN(ctx, ts.n, rng)
			if err != nil {
				d.err = err
				return d
			}
			d.samples, d.acceptance, d.warnings = rr.Samples, rr.AcceptanceRate, rr.Warnings
		} else {
			ip, err := sbi.NewImportanceSamplingPosterior(pot, ts.post.Prior(), nil)
			if err != nil {
				d.err = err
				return d
			}
			ir, err := ip.SampleN(ctx, ts.n, rng)
			if err != nil {
				d.err = err
				return d
			}
			d.samples, d.acceptance, d.impESS = ir.Samples, 1, ir.ESS
		}
	case "vi":
		vp, err := sbi.NewVIPosterior(ctx, ts.post, xo, rng, ts.vi.settings(nil))
		if err != nil {
			d.err = err
			return d
		}
		r := vp.Result()
		d.acceptance, d.khat, d.warnings = 1, r.Khat, slices.Clone(r.Warnings)
		if ts.vi.resample == 0 {
			d.samples, d.err = vp.SampleN(ts.n, rng)
		} else {
			var pr *vi.PSISResult
			d.samples, pr, d.err = vp.SampleResampled(ts.n, ts.vi.resample, rng)
			if d.err == nil && pr.Khat > vi.KhatThreshold {
				d.warnings = append(d.warnings, fmt.Sprintf("importance resampling: PSIS k̂ = %.2f > %.1f", pr.Khat, vi.KhatThreshold))
			}
		}
		if d.err != nil {
			return d
		}
	default:
		mr, err := ts.post.Sample(ctx, xo, ts.n, rng)
		if err != nil {
			d.err = err
			return d
		}
		d.samples, d.acceptance, d.warnings = mr.Samples, mr.AcceptanceRate, mr.Warnings
		d.rhat, d.essBulk, d.essTail = maxFinite(mr.RHat), minFinite(mr.ESSBulk), minFinite(mr.ESSTail)
	}
	if r, _ := d.samples.Dims(); r != ts.n {
		d.err = fmt.Errorf("the sampler returned %d draws, want %d", r, ts.n)
		return d
	}
	for i := range ts.n {
		for j, v := range d.samples.RawRowView(i) {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				d.err = fmt.Errorf("draw %d has %v in column %d", i, v, j)
				return d
			}
		}
	}
	return d
}

// minFinite returns the smallest finite value of vs (NaN if none).
func minFinite(vs []float64) float64 {
	m := math.NaN()
	for _, v := range vs {
		if !math.IsNaN(v) && !math.IsInf(v, 0) && (math.IsNaN(m) || v < m) {
			m = v
		}
	}
	return m
}

// sampleTests draws ts.n posterior samples at every row of x, test i from
// rand.NewPCG(seed, streamSBCPotential|i), running up to workers tests at
// once (0: GOMAXPROCS); the draws do not depend on workers. A failed test
// is recorded in its testDraw; only the context's error stops the run.
func sampleTests(ctx context.Context, e env, ts *testSampler, x *mat.Dense, seed uint64, workers int) ([]*testDraw, error) {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	tests, _ := x.Dims()
	out := make([]*testDraw, tests)
	bar := newProgress(e.stderr, e.tty, false, fmt.Sprintf("sampling (%s)", ts.sampler), tests)
	var (
		next   atomic.Int64
		mu     sync.Mutex
		done   int
		failed int
		wg     sync.WaitGroup
	)
	for range min(workers, tests) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= tests {
					return
				}
				d := ts.draw(ctx, x.RawRowView(i), rand.New(rand.NewPCG(seed, streamSBCPotential|uint64(i))))
				out[i] = d
				mu.Lock()
				done++
				if d.err != nil {
					failed++
				}
				bar.update(done, fmt.Sprintf("tests (%d failed)", failed))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	bar.finish(done, fmt.Sprintf("tests, %d failed", failed))
	return out, nil
}

// summariseDraws summarises the sampler diagnostics of the tests.
func summariseDraws(ts *testSampler, draws []*testDraw, elapsed time.Duration) *sbcSamplerSummary {
	s := &sbcSamplerSummary{Sampler: ts.sampler, SamplingSeconds: elapsed.Seconds()}
	settings := ts.post.Settings()
	if ts.isMCMC() {
		s.Chains, s.RHatThreshold = settings.Chains, settings.MaxRHat
	}
	var rhats, bulk, tail, imp, khat []float64
	ok := 0
	for i, d := range draws {
		if d.err != nil {
			s.Failures++
			s.FailedTests = append(s.FailedTests, sbcFailure{Test: i, Error: d.err.Error()})
			continue
		}
		ok++
		s.AcceptanceMean += d.acceptance
		if len(d.warnings) > 0 {
			s.TestsWithWarnings++
		}
		if !math.IsNaN(d.rhat) {
			rhats = append(rhats, d.rhat)
			if d.rhat > settings.MaxRHat {
				s.TestsRHatAbove++
			}
		}
		bulk, tail = appendFinite(bulk, d.essBulk), appendFinite(tail, d.essTail)
		imp = appendFinite(imp, d.impESS)
		if !math.IsNaN(d.khat) {
			khat = append(khat, d.khat)
			if d.khat > vi.KhatThreshold {
				s.TestsKhatAbove++
			}
		}
	}
	if ok > 0 {
		s.AcceptanceMean /= float64(ok)
	}
	s.RHatMax = finiteOrNil(maxFinite(rhats))
	if len(rhats) > 0 {
		slices.Sort(rhats)
		med := rhats[len(rhats)/2]
		if len(rhats)%2 == 0 {
			med = (rhats[len(rhats)/2-1] + med) / 2
		}
		s.RHatMedian = finiteOrNil(med)
	}
	s.ESSBulkMin, s.ESSTailMin = finiteOrNil(minFinite(bulk)), finiteOrNil(minFinite(tail))
	if ts.sampler == "importance" {
		s.ImportanceESSMin = finiteOrNil(minFinite(imp))
	}
	if ts.sampler == "vi" {
		s.KhatMax = finiteOrNil(maxFinite(khat))
	}
	return s
}

func appendFinite(vs []float64, v float64) []float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return vs
	}
	return append(vs, v)
}

// drawnPosterior is the dist.Conditional that hands diagnostics.SBC and
// diagnostics.TARP the draws made by sampleTests: Condition(x) returns the
// draws of the test whose observation is x. It knows the rows of one x
// matrix (the one passed to the diagnostics, recognised by the address of
// the row, as diagnostics passes its rows) and falls back to the values of
// x; tests with equal x have the same posterior, so either's draws serve.
type drawnPosterior struct {
	byRow   map[*float64]int
	byValue map[string]int
	draws   []*mat.Dense
	pots    []*sbi.Potential
}

var (
	_ dist.Conditional    = (*drawnPosterior)(nil)
	_ dist.Distribution   = (*drawnAt)(nil)
	_ dist.BatchSampler   = (*drawnAt)(nil)
	_ dist.BatchLogProber = (*drawnAt)(nil)
)

// newDrawnPosterior returns the conditional of the draws, one matrix per
// row of x, whose log density is post's potential at that row.
func newDrawnPosterior(post *sbi.MCMCPosterior, x *mat.Dense, draws []*mat.Dense) (*drawnPosterior, error) {
	tests, _ := x.Dims()
	d := &drawnPosterior{byRow: make(map[*float64]int, tests), byValue: make(map[string]int, tests),
		draws: draws, pots: make([]*sbi.Potential, tests)}
	for i := range tests {
		row := x.RawRowView(i)
		d.byRow[&row[0]] = i
		d.byValue[valueKey(row)] = i
		pot, err := post.Potential(sbi.SingleTrial(row))
		if err != nil {
			return nil, err
		}
		d.pots[i] = pot
	}
	return d, nil
}

// valueKey returns a map key made of the bits of x.
func valueKey(x []float64) string {
	b := make([]byte, 0, 8*len(x))
	for _, v := range x {
		u := math.Float64bits(v)
		for k := range 8 {
			b = append(b, byte(u>>(8*k)))
		}
	}
	return string(b)
}

// Condition returns the draws at x, or nil when x is no test's observation.
func (d *drawnPosterior) Condition(x []float64) dist.Distribution {
	if len(x) == 0 {
		return nil
	}
	i, ok := d.byRow[&x[0]]
	if !ok {
		if i, ok = d.byValue[valueKey(x)]; !ok {
			return nil
		}
	}
	return &drawnAt{draws: d.draws[i], pot: d.pots[i]}
}

// drawnAt is the draws of one test with the potential at its x. LogProb is
// the potential, the posterior's log density up to a constant: the HPD
// statistic. It is not normalised, which only the order of log densities
// within one x, as SBC and coverage use them, allows.
type drawnAt struct {
	draws *mat.Dense
	pot   *sbi.Potential
}

// Dim returns the dimension of θ.
func (d *drawnAt) Dim() int { return d.pot.Dim() }

// LogProb returns the potential at θ.
func (d *drawnAt) LogProb(theta []float64) float64 { return d.pot.LogProb(theta) }

// LogProbBatch returns the potential at every row of theta.
func (d *drawnAt) LogProbBatch(dst []float64, theta *mat.Dense) []float64 {
	return d.pot.LogProbBatch(dst, theta)
}

// Sample writes one of the draws, chosen uniformly with rng, into dst.
func (d *drawnAt) Sample(dst []float64, rng *rand.Rand) []float64 {
	r, c := d.draws.Dims()
	if dst == nil {
		dst = make([]float64, c)
	}
	copy(dst, d.draws.RawRowView(rng.IntN(r)))
	return dst
}

// SampleBatch copies the draws, in order, into dst. It panics unless dst
// has as many rows as there are draws: the diagnostics ask for exactly the
// L draws of each test.
func (d *drawnAt) SampleBatch(dst *mat.Dense, _ *rand.Rand) {
	if r, _ := dst.Dims(); r != d.draws.RawMatrix().Rows {
		panic(fmt.Sprintf("main: %d draws requested from a test with %d", r, d.draws.RawMatrix().Rows))
	}
	dst.Copy(d.draws)
}

// runPotentialSBC samples the posterior of post at every test of testSet
// with ts and returns the conditional of the draws on the tests that did
// not fail (the kept θ and x) and the sampler summary.
func runPotentialSBC(ctx context.Context, e env, post *sbi.MCMCPosterior, ts *testSampler, testSet *simulators.Dataset,
	seed uint64) (cond dist.Conditional, theta, x *mat.Dense, sum *sbcSamplerSummary, err error) {
	if ts.sampler == "vi" {
		fmt.Fprintf(e.stderr, "warning: -sampler vi fits a variational posterior at each of the %d tests: this is slow\n", testSet.Len())
	}
	start := time.Now()
	draws, err := sampleTests(ctx, e, ts, testSet.X, seed, 0)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	sum = summariseDraws(ts, draws, time.Since(start))
	var keep []int
	for i, d := range draws {
		if d.err == nil {
			keep = append(keep, i)
		}
	}
	if len(keep) < 2 {
		var first error = errors.New("no test left")
		for _, d := range draws {
			if d.err != nil {
				first = d.err
				break
			}
		}
		return nil, nil, nil, nil, fmt.Errorf("the sampler failed at %d of %d tests (first error: %w)", len(draws)-len(keep), len(draws), first)
	}
	_, td := testSet.Theta.Dims()
	_, xd := testSet.X.Dims()
	theta, x = mat.NewDense(len(keep), td, nil), mat.NewDense(len(keep), xd, nil)
	kept := make([]*mat.Dense, len(keep))
	for k, i := range keep {
		theta.SetRow(k, testSet.Theta.RawRowView(i))
		x.SetRow(k, testSet.X.RawRowView(i))
		kept[k] = draws[i].samples
	}
	dp, err := newDrawnPosterior(post, x, kept)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	return dp, theta, x, sum, nil
}
