package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/gosbi/gosbi/diagnostics"
	"github.com/gosbi/gosbi/dist"
	"github.com/gosbi/gosbi/mcmc"
	"github.com/gosbi/gosbi/plots"
	"github.com/gosbi/gosbi/sbi"
	"github.com/gosbi/gosbi/simulators"
	"github.com/gosbi/gosbi/vi"
	"gonum.org/v1/plot/vg"
)

// sbcSummary is what sbc.json holds. Rank statistics list the parameters in
// order, then "hpd": the rank of −log q(θ | x), whose uniformity is the
// calibration of highest-density regions.
type sbcSummary struct {
	Task        string       `json:"task"`
	Method      string       `json:"method"`
	Estimator   string       `json:"estimator"`
	Seed        uint64       `json:"seed"`
	Simulations int          `json:"simulations"`
	Training    *trainReport `json:"training"`
	// TestData is the simulation file the test pairs came from, when given
	// with -test-data.
	TestData string `json:"test_data,omitempty"`
	// Tests is the number of test pairs used, DroppedTests those whose
	// simulation gave NaN or ±Inf (or failed) and were left out.
	Tests        int `json:"tests"`
	DroppedTests int `json:"dropped_tests"`
	NumSamples   int `json:"num_samples"`
	// Sampler summarises the per-test sampling of nle and nre (nil for
	// npe, sampled directly); its failed tests are not counted in Tests.
	Sampler *sbcSamplerSummary `json:"sampler,omitempty"`

	Statistics      []string  `json:"statistics"`
	KS              []float64 `json:"ks"`
	KSPValue        []float64 `json:"ks_p_values"`
	ChiSquare       []float64 `json:"chi2"`
	ChiSquarePValue []float64 `json:"chi2_p_values"`
	ChiSquareBins   int       `json:"chi2_bins"`
	// DAPKSPValue compares, per parameter, the data-averaged posterior with
	// the prior.
	DAPKSPValue []float64 `json:"dap_ks_p_values"`
	// Calibrated: no KS, χ² or DAP test rejects at family-wise level 0.05
	// (Bonferroni).
	Calibrated bool `json:"sbc_calibrated_at_0.05"`

	Coverage calibrationSummary `json:"coverage"`
	TARP     calibrationSummary `json:"tarp"`

	SBCSeconds   float64 `json:"sbc_seconds"`
	TARPSeconds  float64 `json:"tarp_seconds"`
	TotalSeconds float64 `json:"total_seconds"`
}

// calibrationSummary summarises an expected-coverage curve.
type calibrationSummary struct {
	// MeanError is ∫(C(α) − α)dα: negative for an overconfident posterior.
	MeanError float64 `json:"mean_error"`
	// ATC is TARP's area to curve, ∫_{1/2}^1 (C(α) − α)dα.
	ATC      float64   `json:"atc"`
	KS       float64   `json:"ks"`
	KSPValue float64   `json:"ks_p_value"`
	Levels   []float64 `json:"levels"`
	Coverage []float64 `json:"coverage"`
}

func summariseCoverage(r *diagnostics.CoverageResult) calibrationSummary {
	return calibrationSummary{MeanError: r.MeanError, ATC: r.ATC, KS: r.KS, KSPValue: r.KSPValue,
		Levels: r.Levels, Coverage: r.Coverage}
}

func runSBC(ctx context.Context, e env, args []string) error {
	start := time.Now()
	flags := newFlags(e, "sbc", "-task NAME -method M -simulations N -tests T -out DIR [flags]")
	task := flags.String("task", "", "sbibm task name (see 'gosbi tasks')")
	method := flags.String("method", "npe", "inference method: an amortised one (npe, nle or nre)")
	sampler := flags.String("sampler", "", "posterior sampler of nle and nre at each test: slice (default), slice_chains, nuts, hmc, mh,\nrejection, importance or vi (a fit per test: slow)")
	nsim := flags.Int("simulations", 10_000, "simulation budget of the posterior")
	tests := flags.Int("tests", 0, fmt.Sprintf("number of test pairs (θ from the prior, x simulated); 0: 200 for npe, %d for nle and nre\n(which run the sampler at every test)", defaultPotentialTests))
	nsamples := flags.Int("num-samples", 1000, "posterior draws per test")
	warmup := flags.Int("mcmc-warmup", 0, "MCMC warm-up steps per chain at every test (nle, nre; 0: sbi's 200)")
	thin := flags.Int("mcmc-thin", 0, "keep every k-th MCMC step (nle, nre; 0: 1); SBC wants nearly independent draws")
	out := flags.String("out", "out", "output folder")
	seed := flags.Uint64("seed", 1, "random seed")
	estimator := flags.String("estimator", "maf", "density estimator: maf or nsf")
	maxEpochs := flags.Int("max-epochs", 0, "cap on training epochs (0: until early stopping)")
	data := flags.String("data", "", "sbibm data folder (needed by slcp_distractors only)")
	testData := flags.String("test-data", "", "complete simulation file of the task to use as test pairs instead of simulating them\n(from 'gosbi simulate -task NAME -n T', sharded and merged or not; -tests is then its n)")
	viFlags := addVIFlags(flags)
	if err := parse(flags, args); err != nil {
		return err
	}
	t, err := newTaskFlag(*task, *data)
	if err != nil {
		return err
	}
	m, ok := lookupBenchmarkMethod(*method)
	if !ok {
		return usagef("unknown method %q (want npe, nle or nre)", *method)
	}
	if !m.amortised {
		return usagef("-method %s: a sequential posterior is trained for one observation, and SBC needs one that is valid at every x (use an amortised method: npe, nle or nre)", *method)
	}
	rounds := 0
	if err := checkRounds(m, *method, &rounds, *nsim, *maxEpochs); err != nil {
		return err
	}
	if err := checkBenchSampler(m, *method, sampler); err != nil {
		return err
	}
	viOpts, err := viFlags.options(flags, *sampler, *nsamples)
	if err != nil {
		return err
	}
	if viOpts != nil && viOpts.warmStart != "" {
		return usagef("-vi-warm-start: sbc fits q at each test from the potential alone (no warm start)")
	}
	if *method == "nre" && visited(flags)["estimator"] {
		return usagef("-estimator %s: nre trains a classifier (a residual network), not a density estimator", *estimator)
	}
	if *tests == 0 && !visited(flags)["tests"] {
		*tests = 200
		if m.potential {
			*tests = defaultPotentialTests
		}
	}
	switch {
	case *tests < 2:
		return usagef("-tests %d: want at least 2", *tests)
	case *nsamples < 1:
		return usagef("-num-samples %d: want at least 1", *nsamples)
	case *estimator != "maf" && *estimator != "nsf":
		return usagef("unknown estimator %q (want maf or nsf)", *estimator)
	}
	var fileTests *simulators.Dataset
	if *testData != "" {
		var h simulators.StoreHeader
		var err error
		if fileTests, h, err = readCompleteStore(*testData); err != nil {
			return err
		}
		td, xd := t.Dims()
		switch {
		case h.Task != t.Name:
			return usagef("-test-data %s holds simulations of %s, not of task %s", *testData, runName(&h), t.Name)
		case h.ThetaDim != td || h.XDim != xd:
			return usagef("-test-data %s has dimensions (%d, %d), task %s has (%d, %d)", *testData, h.ThetaDim, h.XDim, t.Name, td, xd)
		case visited(flags)["tests"] && *tests != h.N:
			return usagef("-tests %d but -test-data %s holds %d simulations (leave out -tests)", *tests, *testData, h.N)
		}
		*tests = h.N
	}
	switch {
	case *warmup < 0 || *thin < 0:
		return usagef("-mcmc-warmup %d, -mcmc-thin %d: want 0 or more", *warmup, *thin)
	case (*warmup != 0 || *thin != 0) && (!m.potential || *sampler == "rejection" || *sampler == "importance" || *sampler == "vi"):
		return usagef("-mcmc-warmup and -mcmc-thin apply to the MCMC samplers of nle and nre only")
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}

	estName := *estimator
	if *method == "nre" {
		estName = "classifier"
	}
	fmt.Fprintf(e.stdout, "sbc %s, %s (%s, sampler %s), %d simulations, %d tests, %d posterior draws each\n",
		t.Name, *method, estName, *sampler, *nsim, *tests, *nsamples)
	s := &sbcSummary{Task: t.Name, Method: *method, Estimator: estName, Seed: *seed, Simulations: *nsim, NumSamples: *nsamples}
	var (
		post    *sbi.DirectPosterior
		potPost *sbi.MCMCPosterior
	)
	trainRNG := rand.New(rand.NewPCG(*seed, streamTrain))
	if m.potential {
		var kernel mcmc.Kernel
		if *sampler != "rejection" && *sampler != "importance" && *sampler != "vi" {
			if kernel, err = sbi.KernelByName(*sampler); err != nil {
				return usageError{err}
			}
		}
		potPost, s.Training, err = trainPotential(ctx, e, t, *method, *estimator, *nsim, *maxEpochs, kernel, trainRNG)
	} else {
		post, s.Training, err = trainPosterior(ctx, e, trainSpec{task: t, method: *method, estimator: *estimator,
			simulations: *nsim, rounds: rounds, maxEpochs: *maxEpochs}, trainRNG)
	}
	if err != nil {
		return err
	}

	// The test set: θ from the prior, x simulated at each, or read from
	// -test-data.
	var testSet *simulators.Dataset
	var dropped int
	if fileTests != nil {
		s.TestData = *testData
		if testSet, dropped, err = fileTests.FilterInvalid(); err != nil {
			return err
		}
		fmt.Fprintf(e.stderr, "test set: %d read from %s, %d valid, %d dropped\n", *tests, *testData, testSet.Len(), dropped)
	} else {
		bar := newProgress(e.stderr, e.tty, false, "test set: simulating", *tests)
		res, err := simulators.Simulate(ctx, t.Simulator, t.Prior, *tests, rand.New(rand.NewPCG(*seed, streamTests)),
			&simulators.Settings{OnProgress: func(p simulators.Progress) error { bar.update(p.Done, ""); return nil }})
		if err != nil {
			return err
		}
		if testSet, dropped, err = res.Data.FilterInvalid(); err != nil {
			return err
		}
		bar.finish(res.Report.Done, fmt.Sprintf("%d valid, %d dropped", testSet.Len(), dropped))
	}
	if testSet.Len() < 2 {
		return fmt.Errorf("only %d of %d test simulations are valid", testSet.Len(), *tests)
	}
	s.Tests, s.DroppedTests = testSet.Len(), dropped

	// SBC with the −log q rank, which also gives the HPD coverage. Only the
	// order of log q within one x matters, so the leakage correction (a
	// constant per x that costs 10,000 flow draws per test) is skipped.
	// For nle and nre, the draws are made first at every test by the
	// sampler (sbc_potential.go) and q is the potential.
	var ranker, tarpPost dist.Conditional
	testTheta, testX := testSet.Theta, testSet.X
	if m.potential {
		ts, err := newTestSampler(potPost, *sampler, viOpts, *nsamples, *warmup, *thin)
		if err != nil {
			return err
		}
		if ranker, testTheta, testX, s.Sampler, err = runPotentialSBC(ctx, e, potPost, ts, testSet, *seed); err != nil {
			return err
		}
		tarpPost = ranker
		s.Tests, _ = testTheta.Dims()
	} else {
		dr, err := post.WithSettings(&sbi.PosteriorSettings{NoLeakageCorrection: true})
		if err != nil {
			return err
		}
		ranker, tarpPost = dr, post
	}
	bar := newProgress(e.stderr, e.tty, false, "SBC", s.Tests)
	sbcRes, err := diagnostics.SBC(ctx, ranker, testTheta, testX, *nsamples, rand.New(rand.NewPCG(*seed, streamSBC)),
		&diagnostics.SBCSettings{Reduce: []diagnostics.Reducer{diagnostics.NegLogProb},
			OnProgress: func(done, _ int) error { bar.update(done, "tests"); return nil }})
	if err != nil {
		return err
	}
	bar.finish(s.Tests, fmt.Sprintf("done in %.1fs", sbcRes.Runtime.Seconds()))
	d := len(t.ThetaNames)
	cov, err := diagnostics.CoverageFromRanks(sbcRes.RankColumn(d), *nsamples, nil)
	if err != nil {
		return err
	}
	bar = newProgress(e.stderr, e.tty, false, "TARP", s.Tests)
	tarp, err := diagnostics.TARP(ctx, tarpPost, testTheta, testX, *nsamples, rand.New(rand.NewPCG(*seed, streamTARP)),
		&diagnostics.TARPSettings{OnProgress: func(done, _ int) error { bar.update(done, "tests"); return nil }})
	if err != nil {
		return err
	}
	bar.finish(s.Tests, fmt.Sprintf("done in %.1fs", tarp.Runtime.Seconds()))

	s.Statistics = append(append([]string{}, t.ThetaNames...), "hpd")
	s.KS, s.KSPValue = sbcRes.KS, sbcRes.KSPValue
	s.ChiSquare, s.ChiSquarePValue, s.ChiSquareBins = sbcRes.ChiSquare, sbcRes.ChiSquarePValue, sbcRes.Bins
	s.DAPKSPValue = sbcRes.DAPKSPValue
	s.Calibrated = sbcRes.Calibrated(0.05)
	s.Coverage, s.TARP = summariseCoverage(cov), summariseCoverage(&tarp.CoverageResult)
	s.SBCSeconds, s.TARPSeconds = sbcRes.Runtime.Seconds(), tarp.Runtime.Seconds()

	if err := writeSBCPlots(*out, s, sbcRes, cov, tarp, *seed); err != nil {
		return err
	}
	s.TotalSeconds = time.Since(start).Seconds()
	if err := writeJSON(filepath.Join(*out, "sbc.json"), s); err != nil {
		return err
	}
	printSBCTable(e.stdout, s)
	fmt.Fprintf(e.stdout, "wrote %s/{ranks.png,ecdf.png,coverage.png,tarp.png,sbc.json} (total %.1fs)\n", *out, s.TotalSeconds)
	return nil
}

// writeSBCPlots writes the rank histograms, ECDF differences, coverage and
// TARP plots.
func writeSBCPlots(out string, s *sbcSummary, sbcRes *diagnostics.SBCResult, cov *diagnostics.CoverageResult,
	tarp *diagnostics.TARPResult, seed uint64) error {
	labels := append(append([]string{}, s.Statistics[:len(s.Statistics)-1]...), "−log q (HPD)")
	k := len(labels)
	cols := min(k, 3)
	rows := (k + cols - 1) / cols
	gridW, gridH := vg.Length(cols)*2.6*vg.Inch, vg.Length(rows)*2.2*vg.Inch+0.6*vg.Inch
	title := fmt.Sprintf("%s, %s, %d simulations: %d tests, %d draws", s.Task, s.Method, s.Simulations, s.Tests, s.NumSamples)

	fig, err := plots.NewRankHist(sbcRes.Ranks, s.NumSamples, &plots.RankConfig{Labels: labels, Cols: cols, Title: "SBC ranks: " + title})
	if err != nil {
		return err
	}
	if err := fig.Save(filepath.Join(out, "ranks.png"), gridW, gridH); err != nil {
		return err
	}
	fig, err = plots.NewECDFDiff(sbcRes.Ranks, s.NumSamples, &plots.ECDFConfig{Labels: labels, Cols: cols, Seed: seed, Title: "ECDF difference: " + title})
	if err != nil {
		return err
	}
	if err := fig.Save(filepath.Join(out, "ecdf.png"), gridW, gridH); err != nil {
		return err
	}
	fig, err = plots.NewCoverage(&plots.CoverageConfig{N: s.Tests, Title: "HPD coverage: " + title},
		plots.CoverageCurve{Name: s.Method, Nominal: cov.Levels, Empirical: cov.Coverage})
	if err != nil {
		return err
	}
	if err := fig.Save(filepath.Join(out, "coverage.png"), 5*vg.Inch, 5*vg.Inch); err != nil {
		return err
	}
	fig, err = plots.NewTARP(&plots.CoverageConfig{N: s.Tests, Title: fmt.Sprintf("TARP (ATC %.3f): %s", tarp.ATC, title)},
		plots.CoverageCurve{Name: s.Method, Nominal: tarp.Levels, Empirical: tarp.Coverage})
	if err != nil {
		return err
	}
	return fig.Save(filepath.Join(out, "tarp.png"), 5*vg.Inch, 5*vg.Inch)
}

// printSBCTable prints the test statistics.
func printSBCTable(w io.Writer, s *sbcSummary) {
	fmt.Fprintf(w, "\n%-16s %10s %10s %10s\n", "statistic", "KS p", "χ² p", "DAP KS p")
	for i, name := range s.Statistics {
		dap := "-"
		if i < len(s.DAPKSPValue) {
			dap = fmt.Sprintf("%.3g", s.DAPKSPValue[i])
		}
		fmt.Fprintf(w, "%-16s %10.3g %10.3g %10s\n", name, s.KSPValue[i], s.ChiSquarePValue[i], dap)
	}
	verdict := "no test rejects calibration"
	if !s.Calibrated {
		verdict = "calibration REJECTED"
	}
	fmt.Fprintf(w, "SBC at family-wise level 0.05 (Bonferroni): %s\n", verdict)
	fmt.Fprintf(w, "HPD coverage: mean error %+.4f (negative: overconfident), KS p %.3g\n", s.Coverage.MeanError, s.Coverage.KSPValue)
	fmt.Fprintf(w, "TARP: ATC %+.4f (negative: overconfident or biased), KS p %.3g\n", s.TARP.ATC, s.TARP.KSPValue)
	if ss := s.Sampler; ss != nil {
		fmt.Fprintf(w, "sampler %s: %d tests failed, %d with warnings, mean acceptance %.3f", ss.Sampler, ss.Failures, ss.TestsWithWarnings, ss.AcceptanceMean)
		if ss.RHatMax != nil {
			fmt.Fprintf(w, ", R-hat max %.3f (median of per-test maxima %.3f), %d tests above %.3g", *ss.RHatMax, *ss.RHatMedian, ss.TestsRHatAbove, ss.RHatThreshold)
		}
		if ss.ESSBulkMin != nil && ss.ESSTailMin != nil {
			fmt.Fprintf(w, ", min ESS bulk %.0f tail %.0f", *ss.ESSBulkMin, *ss.ESSTailMin)
		}
		if ss.ImportanceESSMin != nil {
			fmt.Fprintf(w, ", min importance ESS %.0f", *ss.ImportanceESSMin)
		}
		if ss.KhatMax != nil {
			fmt.Fprintf(w, ", k-hat max %.2f, %d tests above %.1f", *ss.KhatMax, ss.TestsKhatAbove, vi.KhatThreshold)
		}
		fmt.Fprintf(w, "; %.1fs\n", ss.SamplingSeconds)
	}
	fmt.Fprintf(w, "tests: %d valid (%d dropped); training %v epochs in %.1fs; SBC %.1fs, TARP %.1fs\n",
		s.Tests, s.DroppedTests, s.Training.Epochs, s.Training.TrainSecs, s.SBCSeconds, s.TARPSeconds)
}
