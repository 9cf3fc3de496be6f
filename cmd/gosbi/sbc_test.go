package main

import (
	"context"
	"encoding/json"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gosbi/gosbi/diagnostics"
	"github.com/gosbi/gosbi/dist"
	"github.com/gosbi/gosbi/flows"
	"github.com/gosbi/gosbi/sbi"
	"github.com/gosbi/gosbi/simulators"
	"gonum.org/v1/gonum/mat"
)

// TestSBCWritesEveryFile runs sbc on a tiny budget and checks every promised
// file and the shape and ranges of the statistics in sbc.json.
func TestSBCWritesEveryFile(t *testing.T) {
	t.Parallel()
	out := filepath.Join(t.TempDir(), "out")
	const tests, draws = 40, 50
	code, stdout, stderr := runCmd(t, "sbc", "-task", "two_moons", "-method", "npe", "-simulations", "300",
		"-max-epochs", "2", "-tests", "40", "-num-samples", "50", "-seed", "4", "-out", out)
	if code != 0 {
		t.Fatalf("exit status %d, stderr:\n%s", code, stderr)
	}
	for _, want := range []string{"KS p", "HPD coverage", "TARP: ATC", "wrote"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	for _, name := range []string{"ranks.png", "ecdf.png", "coverage.png", "tarp.png"} {
		checkPNG(t, filepath.Join(out, name))
	}
	b, err := os.ReadFile(filepath.Join(out, "sbc.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s sbcSummary
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	if s.Tests+s.DroppedTests != tests || s.Tests < tests-2 || s.NumSamples != draws || s.Simulations != 300 {
		t.Errorf("sbc.json: %d tests (+%d dropped), %d draws, %d simulations; want %d tests, %d draws, 300 simulations",
			s.Tests, s.DroppedTests, s.NumSamples, s.Simulations, tests, draws)
	}
	if got, want := s.Statistics, []string{"theta_1", "theta_2", "hpd"}; !slices.Equal(got, want) {
		t.Errorf("statistics %v, want %v", got, want)
	}
	inUnit := func(name string, v []float64, n int) {
		t.Helper()
		if len(v) != n {
			t.Errorf("%s has %d values, want %d", name, len(v), n)
		}
		for i, p := range v {
			if !(p >= 0 && p <= 1) {
				t.Errorf("%s[%d] = %v, want a probability", name, i, p)
			}
		}
	}
	inUnit("ks_p_values", s.KSPValue, 3)
	inUnit("chi2_p_values", s.ChiSquarePValue, 3)
	inUnit("dap_ks_p_values", s.DAPKSPValue, 2)
	for _, c := range []struct {
		name string
		cs   calibrationSummary
	}{{"coverage", s.Coverage}, {"tarp", s.TARP}} {
		// 101 levels 0, 0.01, ..., 1 (the diagnostics default); a coverage
		// curve is the fraction of ranks k with k/L < α: non-decreasing, 0 at
		// α = 0 (and below 1 at α = 1 when some k = L).
		inUnit(c.name+" levels", c.cs.Levels, 101)
		inUnit(c.name+" coverage", c.cs.Coverage, 101)
		if len(c.cs.Coverage) == 101 && (c.cs.Coverage[0] != 0 || !slices.IsSorted(c.cs.Coverage)) {
			t.Errorf("%s curve is not non-decreasing from 0: %v", c.name, c.cs.Coverage)
		}
		// C and α lie in [0, 1], so |∫(C − α)dα| ≤ 1/2 over [0, 1] or [1/2, 1].
		if math.Abs(c.cs.MeanError) > 0.5 || math.Abs(c.cs.ATC) > 0.5 || math.IsNaN(c.cs.ATC) {
			t.Errorf("%s: mean error %v, ATC %v, want both in [-0.5, 0.5]", c.name, c.cs.MeanError, c.cs.ATC)
		}
	}
	// The HPD coverage is computed from the hpd rank column: its KS distance
	// to uniformity is the same statistic.
	if math.Abs(s.Coverage.KS-s.KS[2]) > 1e-12 {
		t.Errorf("coverage KS %v differs from the hpd rank KS %v", s.Coverage.KS, s.KS[2])
	}
	if s.Training == nil || !slices.Equal(s.Training.Epochs, []int{2}) {
		t.Errorf("training %+v, want 2 epochs", s.Training)
	}
}

func TestSBCBadInputExitsTwo(t *testing.T) {
	t.Parallel()
	out := filepath.Join(t.TempDir(), "out")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown task", []string{"sbc", "-task", "three_moons", "-out", out}, "unknown task"},
		{"missing task", []string{"sbc", "-out", out}, "-task is required"},
		{"unknown method", []string{"sbc", "-task", "two_moons", "-method", "abc", "-out", out}, "unknown method"},
		{"sequential method", []string{"sbc", "-task", "two_moons", "-method", "snpe", "-out", out}, "amortised"},
		{"one test", []string{"sbc", "-task", "two_moons", "-tests", "1", "-out", out}, "-tests"},
		{"no draws", []string{"sbc", "-task", "two_moons", "-num-samples", "0", "-out", out}, "-num-samples"},
		{"tiny budget", []string{"sbc", "-task", "two_moons", "-simulations", "1", "-out", out}, "-simulations"},
		{"unknown estimator", []string{"sbc", "-task", "two_moons", "-estimator", "gp", "-out", out}, "unknown estimator"},
		{"bad flag", []string{"sbc", "-bogus"}, "bogus"},
		{"sampler with npe", []string{"sbc", "-task", "two_moons", "-sampler", "slice", "-out", out}, "directly"},
		{"unknown sampler", []string{"sbc", "-task", "two_moons", "-method", "nle", "-sampler", "gibbs", "-out", out}, "unknown sampler"},
		{"sequential nle", []string{"sbc", "-task", "two_moons", "-method", "snle", "-out", out}, "amortised"},
		{"sequential nre", []string{"sbc", "-task", "two_moons", "-method", "snre", "-out", out}, "amortised"},
		{"estimator with nre", []string{"sbc", "-task", "two_moons", "-method", "nre", "-estimator", "nsf", "-out", out}, "classifier"},
		{"vi flag without vi", []string{"sbc", "-task", "two_moons", "-method", "nle", "-vi-max-iterations", "5", "-out", out}, "needs -sampler vi"},
		{"vi warm start", []string{"sbc", "-task", "two_moons", "-method", "nle", "-sampler", "vi", "-vi-warm-start", "npe", "-out", out}, "-vi-warm-start"},
		{"nle tiny budget", []string{"sbc", "-task", "two_moons", "-method", "nre", "-simulations", "1", "-out", out}, "-simulations"},
		{"thin with npe", []string{"sbc", "-task", "two_moons", "-mcmc-thin", "5", "-out", out}, "-mcmc-thin"},
		{"warmup with importance", []string{"sbc", "-task", "two_moons", "-method", "nle", "-sampler", "importance", "-mcmc-warmup", "50", "-out", out}, "-mcmc-warmup"},
		{"negative thin", []string{"sbc", "-task", "two_moons", "-method", "nle", "-mcmc-thin", "-1", "-out", out}, "-mcmc-thin"},
	}
	for _, tt := range tests {
		code, _, stderr := runCmd(t, tt.args...)
		if code != 2 {
			t.Errorf("%s: exit status %d, want 2; stderr:\n%s", tt.name, code, stderr)
		}
		if !strings.Contains(stderr, tt.want) {
			t.Errorf("%s: stderr %q does not mention %q", tt.name, stderr, tt.want)
		}
		if _, err := os.Stat(out); err == nil {
			t.Fatalf("%s: output folder created despite bad input", tt.name)
		}
	}
}

// TestSBCPotentialWritesEveryFile runs sbc with nle and nre on a tiny budget
// (500 simulations, 2 epochs, 10 tests of 50 draws) with each kind of
// sampler and checks the files, the statistics and the sampler summary.
func TestSBCPotentialWritesEveryFile(t *testing.T) {
	t.Parallel()
	tests := []struct {
		method, sampler string
		extra           []string
		tests           int
	}{
		{"nle", "slice", nil, 10},
		{"nre", "slice", nil, 10},
		{"nre", "importance", nil, 10},
		{"nle", "rejection", nil, 10},
		// A crude VI fit (a Gaussian started from the prior, 10 iterations)
		// at 4 tests: the full fit takes seconds per test.
		{"nre", "vi", []string{"-vi-family", "gaussian", "-vi-prior-start", "-vi-max-iterations", "10"}, 4},
	}
	for _, tt := range tests {
		t.Run(tt.method+"_"+tt.sampler, func(t *testing.T) {
			t.Parallel()
			const draws = 50
			out := filepath.Join(t.TempDir(), "out")
			args := append([]string{"sbc", "-task", "two_moons", "-method", tt.method, "-sampler", tt.sampler,
				"-simulations", "500", "-max-epochs", "2", "-tests", strconv.Itoa(tt.tests), "-num-samples", "50", "-seed", "3", "-out", out},
				tt.extra...)
			code, stdout, stderr := runCmd(t, args...)
			if code != 0 {
				t.Fatalf("exit status %d, stderr:\n%s", code, stderr)
			}
			for _, want := range []string{"KS p", "HPD coverage", "TARP: ATC", "sampler " + tt.sampler + ":", "wrote"} {
				if !strings.Contains(stdout, want) {
					t.Errorf("stdout lacks %q:\n%s", want, stdout)
				}
			}
			for _, name := range []string{"ranks.png", "ecdf.png", "coverage.png", "tarp.png"} {
				checkPNG(t, filepath.Join(out, name))
			}
			b, err := os.ReadFile(filepath.Join(out, "sbc.json"))
			if err != nil {
				t.Fatal(err)
			}
			var s sbcSummary
			if err := json.Unmarshal(b, &s); err != nil {
				t.Fatal(err)
			}
			ss := s.Sampler
			if ss == nil {
				t.Fatalf("sbc.json has no sampler summary:\n%s", b)
			}
			// two_moons never gives invalid simulations, and the samplers
			// should not fail: every test is used.
			if s.Method != tt.method || ss.Sampler != tt.sampler || s.Tests != tt.tests || s.DroppedTests != 0 || ss.Failures != 0 ||
				s.NumSamples != draws || s.Simulations != 500 {
				t.Errorf("sbc.json: method %s, sampler %s, %d tests (+%d dropped, %d failed), %d draws, %d simulations; want %s, %s, %d tests, none dropped or failed, %d draws, 500 simulations",
					s.Method, ss.Sampler, s.Tests, s.DroppedTests, ss.Failures, s.NumSamples, s.Simulations, tt.method, tt.sampler, tt.tests, draws)
			}
			if got, want := s.Statistics, []string{"theta_1", "theta_2", "hpd"}; !slices.Equal(got, want) {
				t.Errorf("statistics %v, want %v", got, want)
			}
			for name, v := range map[string][]float64{"ks_p_values": s.KSPValue, "chi2_p_values": s.ChiSquarePValue, "dap_ks_p_values": s.DAPKSPValue} {
				want := 3
				if name == "dap_ks_p_values" {
					want = 2
				}
				if len(v) != want {
					t.Errorf("%s has %d values, want %d", name, len(v), want)
				}
				for i, p := range v {
					if !(p >= 0 && p <= 1) {
						t.Errorf("%s[%d] = %v, want a probability", name, i, p)
					}
				}
			}
			if len(s.KS) == 3 && math.Abs(s.Coverage.KS-s.KS[2]) > 1e-12 {
				t.Errorf("coverage KS %v differs from the hpd rank KS %v", s.Coverage.KS, s.KS[2])
			}
			if len(s.TARP.Coverage) != 101 || s.TARP.Coverage[0] != 0 || !slices.IsSorted(s.TARP.Coverage) {
				t.Errorf("TARP curve %v: want 101 non-decreasing values from 0", s.TARP.Coverage)
			}
			if s.Training == nil || !slices.Equal(s.Training.Epochs, []int{2}) {
				t.Errorf("training %+v, want 2 epochs", s.Training)
			}
			if !(ss.AcceptanceMean > 0 && ss.AcceptanceMean <= 1) || !(ss.SamplingSeconds > 0) {
				t.Errorf("acceptance %v, sampling %vs: want an acceptance in (0, 1] and a positive time", ss.AcceptanceMean, ss.SamplingSeconds)
			}
			switch tt.sampler {
			case "slice":
				// 50 draws leave 12 chains of mcmc.MinDraws = 4 or more
				// draws (5), enough for R-hat and ESS.
				if ss.Chains != 12 || ss.RHatMax == nil || ss.RHatMedian == nil || ss.ESSBulkMin == nil || ss.ESSTailMin == nil {
					t.Fatalf("MCMC summary %+v: want 12 chains and R-hat and ESS", ss)
				}
				if *ss.RHatMedian > *ss.RHatMax || !(*ss.ESSBulkMin > 0) || ss.TestsRHatAbove > tt.tests {
					t.Errorf("R-hat median %v above max %v, or bulk ESS %v not positive, or %d tests above the threshold",
						*ss.RHatMedian, *ss.RHatMax, *ss.ESSBulkMin, ss.TestsRHatAbove)
				}
			case "importance":
				// Kish's ESS lies between 1 and the number of proposal draws.
				if ss.ImportanceESSMin == nil || !(*ss.ImportanceESSMin >= 1) || ss.RHatMax != nil {
					t.Errorf("importance summary %+v: want an ESS ≥ 1 and no R-hat", ss)
				}
			case "vi":
				if ss.KhatMax == nil || ss.Chains != 0 {
					t.Errorf("vi summary %+v: want a k-hat and no chains", ss)
				}
				if !strings.Contains(stderr, "slow") {
					t.Errorf("stderr does not warn that vi is slow:\n%s", stderr)
				}
			}
		})
	}
}

// trainTinyNRE trains an NRE on 200 two_moons simulations for one epoch:
// a posterior to sample, not an accurate one.
func trainTinyNRE(t *testing.T) (*sbi.MCMCPosterior, *simulators.Task) {
	t.Helper()
	task, err := simulators.NewTask("two_moons", "")
	if err != nil {
		t.Fatal(err)
	}
	post, _, err := sbi.InferNRE(context.Background(), task.Simulator, task.Prior, 200, rand.New(rand.NewPCG(1, 2)),
		&sbi.PotentialInferSettings{Train: &sbi.TrainSettings{Settings: flows.Settings{MaxEpochs: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	return post, task
}

// testObservations simulates n observations of task from prior draws.
func testObservations(t *testing.T, task *simulators.Task, n int) *simulators.Dataset {
	t.Helper()
	res, err := simulators.Simulate(context.Background(), task.Simulator, task.Prior, n, rand.New(rand.NewPCG(5, 6)), nil)
	if err != nil {
		t.Fatal(err)
	}
	return res.Data
}

// TestSampleTestsSeeds checks that the draws of test i are those of the
// posterior's Sample with the stream (seed, streamSBCPotential|i), whatever
// the number of workers.
func TestSampleTestsSeeds(t *testing.T) {
	t.Parallel()
	post, task := trainTinyNRE(t)
	data := testObservations(t, task, 5)
	const n, seed = 8, 7
	ts, err := newTestSampler(post, "slice", nil, n, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Warm-up and thinning reach the MCMC settings; zero keeps sbi's.
	tw, err := newTestSampler(post, "slice", nil, n, 37, 3)
	if err != nil {
		t.Fatal(err)
	}
	if got, def := tw.post.Settings(), ts.post.Settings(); got.Warmup != 37 || got.Thin != 3 || def.Warmup != post.Settings().Warmup || def.Thin != post.Settings().Thin {
		t.Errorf("warm-up %d, thin %d with -mcmc-warmup 37 -mcmc-thin 3; %d, %d by default, want %d, %d",
			got.Warmup, got.Thin, def.Warmup, def.Thin, post.Settings().Warmup, post.Settings().Thin)
	}
	e := env{stdout: io.Discard, stderr: io.Discard}
	one, err := sampleTests(context.Background(), e, ts, data.X, seed, 1)
	if err != nil {
		t.Fatal(err)
	}
	three, err := sampleTests(context.Background(), e, ts, data.X, seed, 3)
	if err != nil {
		t.Fatal(err)
	}
	for i := range one {
		if one[i].err != nil || three[i].err != nil {
			t.Fatalf("test %d: errors %v, %v", i, one[i].err, three[i].err)
		}
		if !mat.Equal(one[i].samples, three[i].samples) {
			t.Errorf("test %d: draws differ between 1 and 3 workers", i)
		}
		mr, err := ts.post.Sample(context.Background(), sbi.SingleTrial(data.X.RawRowView(i)), n,
			rand.New(rand.NewPCG(seed, streamSBCPotential|uint64(i))))
		if err != nil {
			t.Fatal(err)
		}
		if !mat.Equal(one[i].samples, mr.Samples) {
			t.Errorf("test %d: draws are not those of stream (seed, streamSBCPotential|%d)", i, i)
		}
		if i > 0 && mat.Equal(one[i].samples, one[i-1].samples) {
			t.Errorf("tests %d and %d have the same draws", i-1, i)
		}
	}
	// 8 draws: ⌊8/mcmc.MinDraws⌋ = 2 chains of 4 draws.
	if got := ts.post.Settings().Chains; got != 2 {
		t.Errorf("%d chains for 8 draws, want 2", got)
	}
}

// TestDrawnPosteriorRanks checks that diagnostics.SBC, given the draws
// through drawnPosterior, ranks θ among exactly those draws: marginal
// ranks count the draws below θ, the hpd rank the draws of higher
// potential.
func TestDrawnPosteriorRanks(t *testing.T) {
	t.Parallel()
	post, task := trainTinyNRE(t)
	data := testObservations(t, task, 6)
	const n = 20
	ts, err := newTestSampler(post, "importance", nil, n, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	draws, err := sampleTests(context.Background(), env{stdout: io.Discard, stderr: io.Discard}, ts, data.X, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	samples := make([]*mat.Dense, len(draws))
	for i, d := range draws {
		if d.err != nil {
			t.Fatalf("test %d: %v", i, d.err)
		}
		samples[i] = d.samples
	}
	dp, err := newDrawnPosterior(post, data.X, samples)
	if err != nil {
		t.Fatal(err)
	}
	res, err := diagnostics.SBC(context.Background(), dp, data.Theta, data.X, n, rand.New(rand.NewPCG(1, 1)),
		&diagnostics.SBCSettings{Reduce: []diagnostics.Reducer{diagnostics.NegLogProb}})
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range samples {
		th := data.Theta.RawRowView(i)
		pot, err := post.Potential(sbi.SingleTrial(data.X.RawRowView(i)))
		if err != nil {
			t.Fatal(err)
		}
		want := make([]int, 3)
		ref := pot.LogProb(th)
		for r := range n {
			row := s.RawRowView(r)
			for d, v := range row {
				if v < th[d] {
					want[d]++
				}
			}
			if pot.LogProb(row) > ref {
				want[2]++
			}
		}
		if got := res.Ranks[i]; !slices.Equal(got, want) {
			t.Errorf("test %d: ranks %v, want %v", i, got, want)
		}
	}
	// Condition by value (a copy of a row) finds the test; another x none.
	x2 := slices.Clone(data.X.RawRowView(2))
	q := dp.Condition(x2)
	if q == nil {
		t.Fatal("Condition(copy of x_2) = nil, want the draws of test 2")
	}
	got := mat.NewDense(n, 2, nil)
	q.(dist.BatchSampler).SampleBatch(got, nil)
	if !mat.Equal(got, samples[2]) {
		t.Errorf("Condition(copy of x_2) returns other draws than test 2's")
	}
	x2[0] += 1
	if q := dp.Condition(x2); q != nil {
		t.Errorf("Condition(unknown x) = %v, want nil", q)
	}
}
