package main

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gosbi/gosbi/sbi"
	"github.com/gosbi/gosbi/simulators"
	"gonum.org/v1/gonum/mat"
)

// The likelihood and ratio methods of the benchmark command: NLE, NRE and
// their sequential versions. Each observation is one run of infer's
// pipeline (runPipeline), as sbibm runs each (task, algorithm, budget,
// observation) separately: simulate, train, then sample the potential
// with -sampler. They are kept out of benchMethods, which the sbc command
// shares and which lists the methods trainPosterior can train.

// potentialMethods are the methods whose posterior is a potential,
// sampled by MCMC, rejection, importance sampling or VI.
var potentialMethods = map[string]benchMethod{
	"nle": {published: "NLE", amortised: true, defaultRounds: 1, potential: true,
		publishedHow: "the paper's NLE used a MAF likelihood (-estimator maf) and vectorised slice sampling with 100 chains, " +
			"25 warm-up steps, thinning 10 and SIR initialisation (gosbi's -sampler slice: 20 chains, 200 warm-up steps, no thinning)"},
	"snle": {published: "SNLE", amortised: false, defaultRounds: 2, potential: true,
		publishedHow: "the paper's SNLE used a MAF likelihood (-estimator maf), 10 rounds (-rounds 10) and vectorised slice sampling " +
			"with 100 chains, 25 warm-up steps, thinning 10 (gosbi's -sampler slice: 20 chains, 200 warm-up steps, no thinning)"},
	"nre": {published: "NRE", amortised: true, defaultRounds: 1, potential: true,
		publishedHow: "the paper's NRE trained a residual-net classifier (50 units, as gosbi's) with SNRE-B's contrastive loss " +
			"(10 atoms), whereas gosbi's benchmark trains NRE-A (binary loss), and sampled it by vectorised slice sampling with 100 chains"},
	"snre": {published: "SNRE", amortised: false, defaultRounds: 2, potential: true,
		publishedHow: "the paper's SNRE trained a residual-net classifier (50 units, as gosbi's) with SNRE-B's contrastive loss " +
			"(10 atoms) over 10 rounds (-rounds 10), whereas gosbi's benchmark trains NRE-A (binary loss)"},
}

// streamPipeline | K draws the seed of observation K's pipeline run.
const streamPipeline = 0x50495045 << 32 // "PIPE"

// lookupBenchmarkMethod returns the benchmark method called name: one of
// benchMethods or potentialMethods.
func lookupBenchmarkMethod(name string) (benchMethod, bool) {
	if m, ok := benchMethods[name]; ok {
		return m, true
	}
	m, ok := potentialMethods[name]
	return m, ok
}

// benchmarkMethodNames returns every method name of the benchmark command,
// sorted, for messages.
func benchmarkMethodNames() string {
	var names []string
	for n := range benchMethods {
		names = append(names, n)
	}
	for n := range potentialMethods {
		names = append(names, n)
	}
	slices.Sort(names)
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// checkBenchSampler validates -sampler for method m as infer does, filling
// in its default: "direct" for the posterior estimators (which accept no
// other), "slice" for the potential methods.
func checkBenchSampler(m benchMethod, method string, sampler *string) error {
	switch {
	case !m.potential:
		if *sampler != "" && *sampler != "direct" {
			return usagef("-sampler %q: %s samples its posterior directly", *sampler, method)
		}
		*sampler = "direct"
	case *sampler == "":
		*sampler = "slice"
	case *sampler == "rejection" || *sampler == "importance" || *sampler == "vi":
	default:
		if _, err := sbi.KernelByName(*sampler); err != nil {
			return usagef("unknown sampler %q (want slice, slice_chains, nuts, hmc, mh, rejection, importance or vi)", *sampler)
		}
	}
	return nil
}

// pipelineSeed returns the seed of observation k's pipeline run: a draw of
// stream streamPipeline|k, so that every observation is an independent run
// (as in sbibm) and its result does not depend on the other observations.
// 'gosbi infer -seed' with this seed reproduces the run.
func pipelineSeed(seed uint64, k int) uint64 {
	return rand.New(rand.NewPCG(seed, streamPipeline|uint64(k))).Uint64()
}

// runPotentialObservation runs infer's pipeline p (a template: its xo, seed,
// out, truth and reference are set here) at observation o, writing its
// files to out/observation_K, records the training, timing and sampler
// diagnostics in o and returns the posterior samples.
func runPotentialObservation(ctx context.Context, e env, p pipeline, seed uint64, out string, o *benchObs) (*mat.Dense, error) {
	p.xo, p.truth, p.reference = o.ref.Observation, o.ref.TrueParameters, o.ref.PosteriorSamples
	p.seed = pipelineSeed(seed, o.K)
	p.out = filepath.Join(out, fmt.Sprintf("observation_%d", o.K))
	p.plotName = "pairplot.png"
	fmt.Fprintf(e.stderr, "observation %d: %s with -sampler %s, seed %d, in %s\n", o.K, p.method, p.sampler, p.seed, p.out)
	s, err := runPipeline(ctx, e, p)
	if err != nil {
		return nil, err
	}
	samples, _, err := simulators.ReadCSV(filepath.Join(p.out, "posterior_samples.csv"))
	if err != nil {
		return nil, err
	}
	o.Seed, o.Dir = &p.seed, p.out
	o.Sampler, o.AcceptanceRate, o.Warnings = s.Sampler, s.AcceptanceRate, s.Warnings
	o.RHatMax, o.ESSBulkMin, o.ESSTailMin = extremeOrNil(s.RHat, true), extremeOrNil(s.ESSBulk, false), extremeOrNil(s.ESSTail, false)
	o.ImportanceESS, o.SamplingSeconds = s.ImportanceESS, s.SamplingSeconds
	o.Training = &trainReport{Simulations: s.Simulations, Invalid: s.InvalidSimulations + s.FailedSimulations,
		Epochs: s.Epochs, BestValLoss: s.BestValLoss, SimSeconds: s.SimulationSeconds, TrainSecs: s.TrainingSeconds}
	fmt.Fprintf(e.stderr, "observation %d: %d simulations in %.1fs, %v epochs in %.1fs, %d samples in %.2fs (%s)\n",
		o.K, s.Simulations, s.SimulationSeconds, s.Epochs, s.TrainingSeconds, s.NumSamples, s.SamplingSeconds, samplerLine(o))
	for _, w := range s.Warnings {
		fmt.Fprintf(e.stderr, "observation %d: warning: %s\n", o.K, w)
	}
	return samples, nil
}

// samplerLine describes o's sampler diagnostics in a few words.
func samplerLine(o *benchObs) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s, acceptance %.3f", o.Sampler, o.AcceptanceRate)
	if o.RHatMax != nil {
		fmt.Fprintf(&b, ", max R-hat %.3f", *o.RHatMax)
	}
	if o.ESSBulkMin != nil {
		fmt.Fprintf(&b, ", min bulk ESS %.0f", *o.ESSBulkMin)
	}
	if o.ESSTailMin != nil {
		fmt.Fprintf(&b, ", min tail ESS %.0f", *o.ESSTailMin)
	}
	if o.ImportanceESS != nil {
		fmt.Fprintf(&b, ", importance ESS %.0f", *o.ImportanceESS)
	}
	return b.String()
}

// extremeOrNil returns the largest (or smallest) non-null value of vs, or
// nil when there is none (JSON null: no such diagnostic).
func extremeOrNil(vs []*float64, largest bool) *float64 {
	var best *float64
	for _, v := range vs {
		if v == nil || math.IsNaN(*v) {
			continue
		}
		if best == nil || (largest && *v > *best) || (!largest && *v < *best) {
			x := *v
			best = &x
		}
	}
	return best
}
