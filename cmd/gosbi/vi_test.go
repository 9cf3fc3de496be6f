package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/gosbi/gosbi/flows"
	"github.com/gosbi/gosbi/sbi"
	"github.com/gosbi/gosbi/vi"
)

// readSummary reads the summary.json of an output folder, and its raw text.
func readSummary(t *testing.T, out string) (*summary, string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(out, "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s summary
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	return &s, string(b)
}

// TestVIFlagsToSettings checks that every -vi-* flag lands in the settings
// given to sbi.NewVIPosterior, and that no flag means sbi's defaults.
func TestVIFlagsToSettings(t *testing.T) {
	tests := []struct {
		args       []string
		objective  vi.Objective
		family     vi.Family
		priorStart bool
		maxIter    int
		resample   int
		warm       string
	}{
		{nil, sbi.DefaultVISettings().Objective, flows.NSF{}, false, 0, 0, ""},
		{[]string{"-vi-objective", "rKL", "-vi-family", "gaussian", "-vi-prior-start"}, vi.ReverseKL, vi.Gaussian{}, true, 0, 0, ""},
		{[]string{"-vi-objective", "IW", "-vi-family", "maf", "-vi-resample", "3"}, vi.IWELBO, flows.MAF{}, false, 0, 3, ""},
		{[]string{"-vi-objective", "alpha", "-vi-max-iterations", "7", "-vi-warm-start", "npe"}, vi.Renyi, flows.NSF{}, false, 7, 0, "npe"},
		{[]string{"-vi-objective", "fKL", "-vi-family", "nsf"}, vi.ForwardKL, flows.NSF{}, false, 0, 0, ""},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			fs := newFlags(env{stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}}, "infer", "")
			f := addVIFlags(fs)
			if err := parse(fs, tt.args); err != nil {
				t.Fatal(err)
			}
			o, err := f.options(fs, "vi", 100)
			if err != nil {
				t.Fatal(err)
			}
			called := false
			vs := o.settings(func(vi.IterStats) error { called = true; return nil })
			if vs.VI == nil {
				t.Fatal("nil vi settings")
			}
			if vs.VI.Objective != tt.objective {
				t.Errorf("got objective %v, want %v", vs.VI.Objective, tt.objective)
			}
			if vs.Family != tt.family {
				t.Errorf("got family %#v, want %#v", vs.Family, tt.family)
			}
			if vs.PriorStart != tt.priorStart || vs.VI.MaxIterations != tt.maxIter {
				t.Errorf("got prior start %v, max iterations %d; want %v, %d", vs.PriorStart, vs.VI.MaxIterations, tt.priorStart, tt.maxIter)
			}
			if o.resample != tt.resample || o.warmStart != tt.warm {
				t.Errorf("got resample %d, warm start %q; want %d, %q", o.resample, o.warmStart, tt.resample, tt.warm)
			}
			if err := vs.VI.OnIteration(vi.IterStats{}); err != nil || !called {
				t.Errorf("the progress callback is not the one given")
			}
			// The other vi settings are sbi.VIPosterior's defaults.
			def := *sbi.DefaultVISettings()
			got := *vs.VI
			got.Objective, got.MaxIterations, got.OnIteration = def.Objective, def.MaxIterations, nil
			if !reflect.DeepEqual(got, def) {
				t.Errorf("got vi settings %+v, want the defaults %+v apart from the flags", got, def)
			}
		})
	}
	// The defaults of the flags are sbi.VIPosterior's.
	if o := defaultVIOptions(); o.objective != sbi.DefaultVISettings().Objective || o.family != (flows.NSF{}) {
		t.Errorf("default options: objective %v, family %#v; want %v, flows.NSF{}", o.objective, o.family, sbi.DefaultVISettings().Objective)
	}
}

// TestInferVIFlags runs likelihood and ratio estimation with the VI sampler
// and each -vi-* flag on a tiny budget (prior starts and a capped fit keep
// each run well under a second) and checks that the summary reflects them.
func TestInferVIFlags(t *testing.T) {
	dir := t.TempDir()
	obs := writeFile(t, dir, "obs.csv", "data_1,data_2\n0.1,-0.05\n")
	const iters = 15
	tests := []struct {
		name, method string
		args         []string
		objective    string
		family       string
		resample     int
	}{
		{"rKL_gaussian", "nle", []string{"-vi-objective", "rKL", "-vi-family", "gaussian"}, "rKL", "gaussian", 0},
		{"IW_maf_resample", "nre", []string{"-vi-objective", "IW", "-vi-family", "maf", "-vi-resample", "3"}, "IW", "maf", 3},
		{"alpha_nsf_resample", "nle", []string{"-vi-objective", "alpha", "-vi-family", "nsf", "-vi-resample", "1"}, "alpha", "nsf", 1},
		{"defaults", "nre", nil, "fKL", "nsf", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(dir, tt.name)
			args := append([]string{"infer", "-task", "two_moons", "-method", tt.method, "-sampler", "vi",
				"-simulations", "300", "-observation", obs, "-num-samples", "100", "-out", out, "-max-epochs", "2",
				"-vi-prior-start", "-vi-max-iterations", strconv.Itoa(iters)}, tt.args...)
			code, stdout, stderr := runCmd(t, args...)
			if code != 0 {
				t.Fatalf("exit status %d, stderr:\n%s", code, stderr)
			}
			s, _ := readSummary(t, out)
			if s.VIObjective != tt.objective || s.VIFamily != tt.family {
				t.Errorf("got objective %q, family %q; want %q, %q", s.VIObjective, s.VIFamily, tt.objective, tt.family)
			}
			// The fit ran the capped number of iterations: the convergence
			// test needs 4 windows of 100.
			if s.VIIterations == nil || *s.VIIterations != iters || s.VIConverged == nil || *s.VIConverged {
				t.Errorf("got iterations %v, converged %v; want %d, false", s.VIIterations, s.VIConverged, iters)
			}
			// A prior start runs no vi.Init.
			if s.VIPriorStart == nil || !*s.VIPriorStart || s.VIInitRounds != nil || s.VIInitBeta != nil {
				t.Errorf("got prior start %v, init rounds %v, beta %v; want true and no init", s.VIPriorStart, s.VIInitRounds, s.VIInitBeta)
			}
			if s.Khat == nil || s.VIFitSeconds == nil || !(*s.VIFitSeconds > 0) {
				t.Errorf("got k-hat %v, fit seconds %v; want both", s.Khat, s.VIFitSeconds)
			}
			if tt.resample == 0 {
				if s.VIResample != nil || s.VIResampleKhat != nil || s.VIResampleESS != nil {
					t.Errorf("resampling fields without -vi-resample: %v %v %v", s.VIResample, s.VIResampleKhat, s.VIResampleESS)
				}
			} else {
				// The ESS of K·n weighted candidates is in [1, K·n].
				if s.VIResample == nil || *s.VIResample != tt.resample || s.VIResampleESS == nil ||
					!(*s.VIResampleESS >= 1 && *s.VIResampleESS <= float64(tt.resample*100)) || s.VIResampleKhat == nil {
					t.Errorf("got resample %v, ESS %v, k-hat %v; want %d, ESS in [1, %d], a k-hat",
						s.VIResample, s.VIResampleESS, s.VIResampleKhat, tt.resample, tt.resample*100)
				}
				if !strings.Contains(stdout, "importance resampling") {
					t.Errorf("stdout does not report the resampling:\n%s", stdout)
				}
			}
			if n := len(strings.Split(strings.TrimSpace(readText(t, filepath.Join(out, "posterior_samples.csv"))), "\n")); n != 101 {
				t.Errorf("posterior_samples.csv has %d lines, want 101", n)
			}
			// The printed summary gives k-hat, with a warning above 0.7.
			if !strings.Contains(stdout, "k-hat") {
				t.Errorf("stdout lacks k-hat:\n%s", stdout)
			}
			if got, want := strings.Contains(stdout, "WARNING: above 0.7"), *s.Khat > vi.KhatThreshold; got != want {
				t.Errorf("k-hat %.2f: stdout warns %v, want %v:\n%s", *s.Khat, got, want, stdout)
			}
		})
	}
}

func readText(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestInferVIWarmStart runs NLE with the VI sampler from vi.Init's default
// start and from an NPE warm start, with the same seed. The NLE must be the
// same (the NPE trains from a copy of the random stream), the warm start's
// NPE must be the one 'gosbi infer -method npe' trains with the same seed,
// budget and epochs, and vi.Init must have started from its posterior: with
// the same random state, only the proposal differs between the runs, so the
// effective sample size of Init's weights would be equal if the proposal
// did not reach it. A Gaussian family keeps Init cheap.
func TestInferVIWarmStart(t *testing.T) {
	dir := t.TempDir()
	obs := writeFile(t, dir, "obs.csv", "data_1,data_2\n0.1,-0.05\n")
	run := func(name string, extra ...string) (*summary, string) {
		t.Helper()
		out := filepath.Join(dir, name)
		args := append([]string{"infer", "-task", "two_moons", "-simulations", "300",
			"-observation", obs, "-num-samples", "100", "-seed", "5", "-out", out, "-max-epochs", "3"}, extra...)
		code, stdout, stderr := runCmd(t, args...)
		if code != 0 {
			t.Fatalf("%s: exit status %d, stderr:\n%s", name, code, stderr)
		}
		s, _ := readSummary(t, out)
		return s, stdout + stderr
	}
	viArgs := []string{"-method", "nle", "-sampler", "vi", "-vi-family", "gaussian", "-vi-max-iterations", "20"}
	cold, _ := run("cold", viArgs...)
	warm, output := run("warm", append(viArgs, "-vi-warm-start", "npe")...)
	npe, _ := run("npe", "-method", "npe")
	if warm.VIWarmStartBestValLoss == nil || *warm.VIWarmStartBestValLoss != npe.BestValLoss {
		t.Errorf("got a warm-start NPE of best validation loss %v, want %v as 'infer -method npe'", warm.VIWarmStartBestValLoss, npe.BestValLoss)
	}
	if cold.VIWarmStart != "" || cold.VIWarmStartEpochs != nil {
		t.Errorf("cold run: got warm start %q, epochs %v; want none", cold.VIWarmStart, cold.VIWarmStartEpochs)
	}
	if warm.VIWarmStart != "npe" || warm.VIWarmStartEpochs == nil || *warm.VIWarmStartEpochs != 3 || warm.VIWarmStartSeconds == nil {
		t.Errorf("warm run: got warm start %q, epochs %v, seconds %v; want npe, 3 epochs (-max-epochs)", warm.VIWarmStart, warm.VIWarmStartEpochs, warm.VIWarmStartSeconds)
	}
	if !strings.Contains(output, "training the NPE of the warm start") || !strings.Contains(output, "warm start from NPE") {
		t.Errorf("the output does not report the warm start:\n%s", output)
	}
	if warm.BestValLoss != cold.BestValLoss || len(warm.Epochs) != 1 || warm.Epochs[0] != cold.Epochs[0] {
		t.Errorf("got NLE best validation loss %v after %v epochs with the warm start, want %v after %v as without",
			warm.BestValLoss, warm.Epochs, cold.BestValLoss, cold.Epochs)
	}
	for name, s := range map[string]*summary{"cold": cold, "warm": warm} {
		if s.VIInitRounds == nil || *s.VIInitRounds < 1 || s.VIInitBeta == nil || !(*s.VIInitBeta > 0 && *s.VIInitBeta <= 1) || s.VIInitESS == nil {
			t.Fatalf("%s run: got init rounds %v, beta %v, ESS %v; want rounds ≥ 1, β in (0, 1], an ESS", name, s.VIInitRounds, s.VIInitBeta, s.VIInitESS)
		}
	}
	if *warm.VIInitESS == *cold.VIInitESS {
		t.Errorf("got the same init ESS %v with and without the warm start: the NPE posterior did not reach vi.Init", *warm.VIInitESS)
	}
}

// TestInferVIUsageErrors checks that misused -vi-* flags exit with status
// 2 before anything runs.
func TestInferVIUsageErrors(t *testing.T) {
	dir := t.TempDir()
	obs := writeFile(t, dir, "obs.csv", "data_1,data_2\n0,0\n")
	out := filepath.Join(dir, "out")
	base := []string{"infer", "-task", "two_moons", "-observation", obs, "-out", out}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"objective without vi", []string{"-method", "nle", "-vi-objective", "rKL"}, "-vi-objective needs -sampler vi"},
		{"family with slice", []string{"-method", "nle", "-sampler", "slice", "-vi-family", "maf"}, "-vi-family needs -sampler vi"},
		{"resample with npe", []string{"-method", "npe", "-vi-resample", "2"}, "-vi-resample needs -sampler vi"},
		{"prior start with importance", []string{"-method", "nre", "-sampler", "importance", "-vi-prior-start"}, "-vi-prior-start needs -sampler vi"},
		{"warm start without sampler", []string{"-method", "nle", "-vi-warm-start", "npe"}, "-vi-warm-start needs -sampler vi"},
		{"iterations without vi", []string{"-method", "nle", "-vi-max-iterations", "5"}, "-vi-max-iterations needs -sampler vi"},
		{"unknown objective", []string{"-method", "nle", "-sampler", "vi", "-vi-objective", "KL"}, "unknown -vi-objective"},
		{"unknown family", []string{"-method", "nle", "-sampler", "vi", "-vi-family", "realnvp"}, "unknown -vi-family"},
		{"empty family", []string{"-method", "nle", "-sampler", "vi", "-vi-family", ""}, "unknown -vi-family"},
		{"negative resample", []string{"-method", "nle", "-sampler", "vi", "-vi-resample", "-1"}, "-vi-resample -1"},
		{"too few candidates", []string{"-method", "nle", "-sampler", "vi", "-vi-resample", "2", "-num-samples", "10"}, "25 candidates"},
		{"negative iterations", []string{"-method", "nle", "-sampler", "vi", "-vi-max-iterations", "-3"}, "-vi-max-iterations -3"},
		{"unknown warm start", []string{"-method", "nle", "-sampler", "vi", "-vi-warm-start", "nre"}, "unknown -vi-warm-start"},
		{"warm and prior start", []string{"-method", "nle", "-sampler", "vi", "-vi-warm-start", "npe", "-vi-prior-start"}, "-vi-prior-start"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runCmd(t, append(append([]string(nil), base...), tt.args...)...)
			if code != 2 {
				t.Errorf("exit status %d, want 2; stderr:\n%s", code, stderr)
			}
			if !strings.Contains(stderr, tt.want) {
				t.Errorf("stderr %q does not mention %q", stderr, tt.want)
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("output folder created despite bad input")
			}
		})
	}
}

// TestInferNoVIFields checks that the VI fields are left out of the summary
// of another sampler.
func TestInferNoVIFields(t *testing.T) {
	dir := t.TempDir()
	obs := writeFile(t, dir, "obs.csv", "data_1,data_2\n0.1,-0.05\n")
	out := filepath.Join(dir, "out")
	code, stdout, stderr := runCmd(t, "infer", "-task", "two_moons", "-method", "nre", "-sampler", "importance",
		"-simulations", "300", "-observation", obs, "-num-samples", "50", "-out", out, "-max-epochs", "1")
	if code != 0 {
		t.Fatalf("exit status %d, stderr:\n%s", code, stderr)
	}
	if _, raw := readSummary(t, out); strings.Contains(raw, `"vi_`) || strings.Contains(raw, `"khat"`) {
		t.Errorf("summary of the importance sampler has VI fields:\n%s", raw)
	}
	if strings.Contains(stdout, "vi:") {
		t.Errorf("stdout reports VI for the importance sampler:\n%s", stdout)
	}
}

// TestVILine checks the printed VI summary, in particular the k-hat warning
// above vi.KhatThreshold.
func TestVILine(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	i := func(v int) *int { return &v }
	b := func(v bool) *bool { return &v }
	tests := []struct {
		s         summary
		want      []string
		notWanted []string
	}{
		{summary{}, nil, []string{"vi"}},
		{summary{VIObjective: "fKL", VIFamily: "nsf", VIPriorStart: b(false), VIIterations: i(412), VIConverged: b(true), VIFitSeconds: f(3.21), Khat: f(0.42)},
			[]string{"vi: fKL objective, nsf family", "412 iterations (converged)", "in 3.2s", "k-hat 0.42"}, []string{"WARNING", "resampling", "prior start"}},
		{summary{VIObjective: "rKL", VIFamily: "maf", VIPriorStart: b(true), VIIterations: i(2000), VIConverged: b(false), Khat: f(0.93)},
			[]string{"prior start", "2000 iterations (not converged)", "k-hat 0.93 (WARNING: above 0.7, q is a poor fit)"}, nil},
		{summary{VIObjective: "IW", VIFamily: "gaussian", VIWarmStart: "npe", Khat: f(0.5), VIResample: i(4), VIResampleKhat: f(0.81), VIResampleESS: f(1234.4)},
			[]string{"warm start from NPE", "k-hat 0.50", "importance resampling of 4·n draws: k-hat 0.81 (WARNING: above 0.7, the correction is unreliable), ESS 1234"}, nil},
		{summary{VIObjective: "fKL", VIFamily: "nsf"}, []string{"k-hat n/a"}, []string{"WARNING"}},
	}
	for _, tt := range tests {
		got := viLine(&tt.s)
		for _, w := range tt.want {
			if !strings.Contains(got, w) {
				t.Errorf("got %q, want it to contain %q", got, w)
			}
		}
		for _, w := range tt.notWanted {
			if strings.Contains(got, w) {
				t.Errorf("got %q, want it without %q", got, w)
			}
		}
	}
}

// TestWarmStartNeedsNPE checks that sampleVI refuses a warm start whose NPE
// was never trained (no first round reached OnSimulations).
func TestWarmStartNeedsNPE(t *testing.T) {
	w := newWarmStart(env{stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}}, nil, nil, 1, nil, nil)
	p := pipeline{vi: defaultVIOptions(), samples: 10}
	p.vi.warmStart = "npe"
	_, err := sampleVI(t.Context(), env{stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}}, p, nil, nil, w, nil, &summary{})
	if err == nil || !strings.Contains(err.Error(), "no NPE") {
		t.Errorf("got %v, want an error saying no NPE was trained", err)
	}
}
