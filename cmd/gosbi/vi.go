package main

import (
	"context"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/gosbi/gosbi/dist"
	"github.com/gosbi/gosbi/flows"
	"github.com/gosbi/gosbi/sbi"
	"github.com/gosbi/gosbi/vi"
	"gonum.org/v1/gonum/mat"
)

// viObjectiveNames are sbi's names of the vi objectives, used by the
// -vi-objective flag and in summary.json.
var viObjectiveNames = map[vi.Objective]string{
	vi.ReverseKL: "rKL",
	vi.ForwardKL: "fKL",
	vi.IWELBO:    "IW",
	vi.Renyi:     "alpha",
}

// defaultVIFamily is the family of sbi.VISettings with a nil Family.
const defaultVIFamily = "nsf"

// viFlags are the -vi-* flags of infer.
type viFlags struct {
	objective, family, warmStart *string
	resample, maxIterations      *int
	priorStart                   *bool
}

// addVIFlags registers the -vi-* flags on fs.
func addVIFlags(fs *flag.FlagSet) *viFlags {
	return &viFlags{
		objective: fs.String("vi-objective", viObjectiveNames[sbi.DefaultVISettings().Objective],
			"with -sampler vi: the divergence minimised: rKL (reverse KL, mode seeking), fKL (forward KL, mass covering),\nIW (importance-weighted ELBO) or alpha (Rényi α = 0.5)"),
		family:        fs.String("vi-family", defaultVIFamily, "with -sampler vi: the variational family: nsf, maf or gaussian"),
		resample:      fs.Int("vi-resample", 0, "with -sampler vi: K > 0 draws the samples by importance resampling of K·num-samples draws of q\nwith Pareto-smoothed weights (corrects a slightly-off fit); 0 draws them from q"),
		priorStart:    fs.Bool("vi-prior-start", false, "with -sampler vi: start q from prior draws (sbi's start) instead of potential-weighted,\ntempered draws (mode-seeking objectives may then keep one mode)"),
		warmStart:     fs.String("vi-warm-start", "", "with -sampler vi: npe trains an NPE on the same (first-round) simulations and starts q from its\nposterior at the observation"),
		maxIterations: fs.Int("vi-max-iterations", 0, "with -sampler vi: cap on the iterations of the fit (0: 2,000, sbi's)"),
	}
}

// viOptions are the validated VI options of a pipeline.
type viOptions struct {
	objective     vi.Objective
	family        vi.Family
	familyName    string
	resample      int // K of importance resampling, 0 for plain draws of q
	priorStart    bool
	warmStart     string // "" or "npe"
	maxIterations int    // 0: vi's default
}

// options validates the flags against the sampler and the other flags and
// returns the options, nil when the sampler is not vi.
func (f *viFlags) options(fs *flag.FlagSet, sampler string, numSamples int) (*viOptions, error) {
	set := visited(fs)
	if sampler != "vi" {
		for _, name := range []string{"vi-objective", "vi-family", "vi-resample", "vi-prior-start", "vi-warm-start", "vi-max-iterations"} {
			if set[name] {
				return nil, usagef("-%s needs -sampler vi (have %s)", name, sampler)
			}
		}
		return nil, nil
	}
	o := &viOptions{resample: *f.resample, priorStart: *f.priorStart, warmStart: *f.warmStart,
		maxIterations: *f.maxIterations, familyName: *f.family}
	obj, err := vi.ParseObjective(*f.objective)
	if err != nil {
		return nil, usagef("unknown -vi-objective %q (want rKL, fKL, IW or alpha)", *f.objective)
	}
	o.objective = obj
	if o.family, err = vi.FamilyByName(*f.family); err != nil || *f.family == "" {
		return nil, usagef("unknown -vi-family %q (want nsf, maf or gaussian)", *f.family)
	}
	switch {
	case o.resample < 0:
		return nil, usagef("-vi-resample %d: want 0 (draws of q) or K ≥ 1", o.resample)
	case o.resample > 0 && o.resample*numSamples < 25:
		// vi.Posterior.SampleResampled needs 25 candidates for PSIS.
		return nil, usagef("-vi-resample %d with -num-samples %d: importance resampling needs at least 25 candidates (K·num-samples)", o.resample, numSamples)
	case o.maxIterations < 0:
		return nil, usagef("-vi-max-iterations %d: want 0 (the default) or more", o.maxIterations)
	case o.warmStart != "" && o.warmStart != "npe":
		return nil, usagef("unknown -vi-warm-start %q (want npe)", o.warmStart)
	case o.warmStart != "" && o.priorStart:
		return nil, usagef("-vi-warm-start and -vi-prior-start: a prior start ignores the warm start")
	}
	return o, nil
}

// objectiveName returns sbi's name of the objective.
func (o *viOptions) objectiveName() string {
	if name, ok := viObjectiveNames[o.objective]; ok {
		return name
	}
	return o.objective.String()
}

// settings returns the sbi settings of the options, with onIteration as the
// fit's progress callback; the warm start's proposal is set by sampleVI.
func (o *viOptions) settings(onIteration func(vi.IterStats) error) *sbi.VISettings {
	fit := sbi.DefaultVISettings()
	fit.Objective = o.objective
	fit.MaxIterations = o.maxIterations
	fit.OnIteration = onIteration
	return &sbi.VISettings{VI: fit, Family: o.family, PriorStart: o.priorStart}
}

// warmStart trains the NPE of -vi-warm-start npe on the first round's
// simulations of a likelihood or ratio run (sbi.PotentialInferSettings'
// OnSimulations), with the run's architecture and training settings. Its
// random stream is a copy of the run's stream as it is after the first
// round's simulations: the NPE is the one 'gosbi infer -method npe' trains
// with the same seed, budget and flags, and the likelihood or ratio
// estimator, trained from the run's stream, is the same as without a warm
// start. With -checkpoint (ck not nil), its training is checkpointed in the
// folder like the run's (warm-start-npe.ckpt), so that an interrupted run
// resumes it or, once complete, skips it.
type warmStart struct {
	prior dist.Distribution
	est   sbi.Estimator
	train *sbi.TrainSettings
	src   *rand.PCG // the run's stream, copied by onSimulations
	bar   *progress
	post  *sbi.DirectPosterior
	res   *sbi.TrainResult
}

func newWarmStart(e env, prior dist.Distribution, est sbi.Estimator, maxEpochs int, src *rand.PCG, ck *ckpt) *warmStart {
	w := &warmStart{prior: prior, est: est, src: src}
	w.train = &sbi.TrainSettings{Settings: flows.Settings{MaxEpochs: maxEpochs, OnEpoch: func(es flows.EpochStats) error {
		if w.bar == nil {
			w.bar = newProgress(e.stderr, e.tty, false, "round 0: training the NPE of the warm start", -1)
		}
		w.bar.update(es.Epoch, fmt.Sprintf("epoch %d val loss %.4f best %.4f (epoch %d)", es.Epoch, es.ValLoss, es.BestValLoss, es.BestEpoch))
		return nil
	}}}
	if ck != nil {
		w.train.Checkpoint = ck.warmStartCheckpoint()
	}
	return w
}

// onSimulations trains the NPE on the prior round; later rounds are drawn
// from the posterior and would need SNPE's correction.
func (w *warmStart) onSimulations(ctx context.Context) func(int, *mat.Dense, *mat.Dense) error {
	return func(round int, theta, x *mat.Dense) error {
		if round != 0 {
			return nil
		}
		return w.fit(ctx, w.train, func(npe *sbi.NPE) error {
			// The estimator of the run has accepted these simulations, after
			// dropping invalid ones if it was asked to: so does the NPE.
			_, err := npe.AppendSimulations(theta, x, &sbi.AppendOptions{ExcludeInvalid: true})
			return err
		})
	}
}

// fit trains a new NPE for the warm start, after add has given it its
// data, with train, from a copy of the run's generator (which it does not
// advance), and keeps its result and posterior.
func (w *warmStart) fit(ctx context.Context, train *sbi.TrainSettings, add func(*sbi.NPE) error) error {
	state, err := w.src.MarshalBinary()
	if err != nil {
		return err
	}
	var src rand.PCG
	if err := src.UnmarshalBinary(state); err != nil {
		return err
	}
	npe, err := sbi.NewNPE(w.prior, &sbi.NPEConfig{Estimator: w.est})
	if err != nil {
		return err
	}
	if err := add(npe); err != nil {
		return fmt.Errorf("warm start: %w", err)
	}
	if w.res, err = npe.Train(ctx, rand.New(&src), train); err != nil {
		return fmt.Errorf("warm start: %w", err)
	}
	if w.bar != nil {
		w.bar.finish(w.res.Epochs, fmt.Sprintf("epochs in %.1fs, best validation loss %.4f at epoch %d",
			w.res.Runtime.Seconds(), w.res.BestValLoss, w.res.BestEpoch))
	}
	w.post, err = npe.Posterior(nil)
	return err
}

// minWarmAcceptance is the smallest fraction of the warm-start posterior's
// mass inside the prior's support that vi.Init accepts: its candidates are
// drawn by rejection within a budget made for 1% (sbi.PosteriorSettings'
// MaxDraws), and the estimate of the fraction is noisy.
const minWarmAcceptance = 0.02

// sampleVI fits the VI posterior of post at xo (started from the warm
// start's NPE posterior when w is not nil), draws the pipeline's samples
// from it, directly or by importance resampling, and fills the VI fields
// of s.
func sampleVI(ctx context.Context, e env, p pipeline, post *sbi.MCMCPosterior, xo *mat.Dense, w *warmStart, rng *rand.Rand, s *summary) (*mat.Dense, error) {
	o := p.vi
	total := o.maxIterations
	if total == 0 {
		total = 2000 // vi.Settings' default
	}
	var bar *progress
	vs := o.settings(func(it vi.IterStats) error {
		if bar == nil {
			bar = newProgress(e.stderr, e.tty, false, "vi: fitting q", total)
		}
		bar.update(it.Iteration, fmt.Sprintf("loss %.4f", it.Loss))
		return nil
	})
	s.VIObjective, s.VIFamily = o.objectiveName(), o.familyName
	s.VIPriorStart = &o.priorStart
	if w != nil {
		if w.post == nil {
			return nil, fmt.Errorf("warm start: no NPE was trained")
		}
		c, err := w.post.At(p.xo)
		if err != nil {
			return nil, fmt.Errorf("warm start: %w", err)
		}
		la, err := c.LogAcceptance()
		if err != nil {
			return nil, fmt.Errorf("warm start: %w", err)
		}
		if !(la >= math.Log(minWarmAcceptance)) {
			return nil, fmt.Errorf("warm start: the NPE posterior at the observation puts %.3g of its mass inside the prior's support, "+
				"too little to start q from (train it on more simulations, or drop -vi-warm-start)", math.Exp(la))
		}
		vs.Proposal = c
		s.VIWarmStart = o.warmStart
		s.VIWarmStartEpochs, s.VIWarmStartBestValLoss = &w.res.Epochs, finiteOrNil(w.res.BestValLoss)
		sec := w.res.Runtime.Seconds()
		s.VIWarmStartSeconds = &sec
	}
	vp, err := sbi.NewVIPosterior(ctx, post, xo, rng, vs)
	if bar != nil && vp != nil {
		r := vp.Result()
		bar.finish(r.Iterations, fmt.Sprintf("iterations in %.1fs (converged: %v), k-hat %.2f", r.Runtime.Seconds(), r.Converged, r.Khat))
	}
	if err != nil {
		return nil, err
	}
	if err := saveVIPosterior(p.out, vp, post, s); err != nil {
		return nil, err
	}
	r := vp.Result()
	s.Khat = finiteOrNil(r.Khat)
	s.Warnings = append(s.Warnings, r.Warnings...)
	iters, conv, fit := r.Iterations, r.Converged, r.Runtime.Seconds()
	s.VIIterations, s.VIConverged, s.VIFitSeconds = &iters, &conv, &fit
	if ir := vp.InitResult(); ir != nil {
		rounds, sec := ir.Rounds, ir.Runtime.Seconds()
		s.VIInitRounds, s.VIInitBeta, s.VIInitESS, s.VIInitSeconds = &rounds, finiteOrNil(ir.Beta), finiteOrNil(ir.ESSTarget), &sec
	}
	s.AcceptanceRate = 1
	if o.resample == 0 {
		return vp.SampleN(p.samples, rng)
	}
	samples, pr, err := vp.SampleResampled(p.samples, o.resample, rng)
	if err != nil {
		return nil, err
	}
	k := o.resample
	s.VIResample = &k
	s.VIResampleKhat, s.VIResampleESS = finiteOrNil(pr.Khat), finiteOrNil(pr.ESS)
	if pr.Khat > vi.KhatThreshold {
		s.Warnings = append(s.Warnings, fmt.Sprintf("importance resampling: PSIS k̂ = %.2f > %.1f on the %d candidates: the correction is unreliable",
			pr.Khat, vi.KhatThreshold, k*p.samples))
	}
	return samples, nil
}

// viLine summarises the VI fit of s on one line for the terminal, with a
// warning when k-hat is above vi.KhatThreshold; "" when s is not VI.
func viLine(s *summary) string {
	if s.VIObjective == "" {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "vi: %s objective, %s family", s.VIObjective, s.VIFamily)
	switch {
	case s.VIWarmStart != "":
		fmt.Fprintf(&b, ", warm start from %s", strings.ToUpper(s.VIWarmStart))
	case s.VIPriorStart != nil && *s.VIPriorStart:
		b.WriteString(", prior start")
	}
	if s.VIIterations != nil && s.VIConverged != nil {
		conv := "converged"
		if !*s.VIConverged {
			conv = "not converged"
		}
		fmt.Fprintf(&b, ", %d iterations (%s)", *s.VIIterations, conv)
	}
	if s.VIFitSeconds != nil {
		fmt.Fprintf(&b, " in %.1fs", *s.VIFitSeconds)
	}
	b.WriteString(khatText(", k-hat", s.Khat, "q is a poor fit"))
	if s.VIResample != nil {
		fmt.Fprintf(&b, "; importance resampling of %d·n draws", *s.VIResample)
		b.WriteString(khatText(": k-hat", s.VIResampleKhat, "the correction is unreliable"))
		if s.VIResampleESS != nil {
			fmt.Fprintf(&b, ", ESS %.0f", *s.VIResampleESS)
		}
	}
	return b.String()
}

// khatText formats a k-hat, flagged with a warning above vi.KhatThreshold.
func khatText(prefix string, khat *float64, poor string) string {
	if khat == nil {
		return prefix + " n/a"
	}
	t := fmt.Sprintf("%s %.2f", prefix, *khat)
	if *khat > vi.KhatThreshold {
		t += fmt.Sprintf(" (WARNING: above %.1f, %s)", vi.KhatThreshold, poor)
	}
	return t
}

// defaultVIOptions returns the options of -sampler vi without -vi-* flags:
// sbi.VIPosterior's defaults.
func defaultVIOptions() *viOptions {
	return &viOptions{objective: sbi.DefaultVISettings().Objective, family: flows.NSF{}, familyName: defaultVIFamily}
}
