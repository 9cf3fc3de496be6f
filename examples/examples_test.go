package examples_test

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// Each example is built once into a temporary folder and run in a quick mode
// (small budget flags); the test then checks what it printed and the files it
// wrote. The quick modes exercise every step of the examples (simulation,
// training, sampling, diagnostics, plots) but not the accuracy of the
// defaults, which takes minutes: see README.md for the full runs.

// example describes how to run one example quickly and what it must produce.
type example struct {
	name string
	// args are the quick-mode flags; -out is added by the test.
	args []string
	// pngs and others are the files the run must write into -out.
	pngs, others []string
	// stdout lists regular expressions the output must match.
	stdout []string
	// bad is a flag set the example must reject with a non-zero exit.
	bad []string
	// needs names a program that must be in PATH for the quick run; without
	// it the quick run is skipped.
	needs string
	// skipArgs, if set, are flags that make the example miss a requirement;
	// it must then print skipMessage and exit with status 0.
	skipArgs    []string
	skipMessage string
}

// sharedData is the sbibm reference folder, relative to this package.
const sharedData = "../../shared/sbibm"

func examples(t *testing.T) []example {
	twoMoonsArgs := []string{"-simulations", "500", "-epochs", "3", "-samples", "500"}
	twoMoonsOut := []string{`training: 3 epochs`, `acceptance rate`}
	var twoMoonsData []string
	if _, err := os.Stat(filepath.Join(sharedData, "two_moons")); err == nil {
		twoMoonsData = []string{"-data", sharedData, "-obs", "2"}
		twoMoonsArgs = append(twoMoonsArgs, twoMoonsData...)
		twoMoonsOut = append(twoMoonsOut, `observation 2 from`, `C2ST against the reference posterior: 0\.\d+`)
	} else {
		t.Logf("sbibm reference data not found at %s: twomoons runs without -data", sharedData)
	}
	var epidemicData, epidemicOut []string
	if _, err := os.Stat(filepath.Join(sharedData, "sir")); err == nil {
		epidemicData = []string{"-data", sharedData, "-obs", "3"}
		epidemicOut = []string{`C2ST of NLE \+ MCMC against the reference: 0\.\d+`}
	}
	return []example{
		{
			name:   "anomaly",
			args:   []string{"-n", "400", "-test", "300", "-outliers", "0.05", "-epochs", "3"},
			pngs:   []string{"anomaly_pairs.png", "anomaly_scores.png", "anomaly_loss.png"},
			others: []string{"synthetic.csv"},
			stdout: []string{`training: 3 epochs`, `ROC AUC .* \d\.\d{3}`, `precision`, `recall`},
			bad:    []string{"-quantile", "1.5"},
		},
		{
			name: "epidemic",
			args: append([]string{"-round-simulations", "200", "-rounds", "2", "-nle-simulations", "300",
				"-epochs", "3", "-samples", "200", "-warmup", "20"}, epidemicData...),
			pngs:   []string{"epidemic_posteriors.png", "epidemic_trace.png"},
			stdout: append([]string{`SNPE round 1 \(θ from the proposal\): 3 epochs, loss atomic`, `R-hat \d\.\d{3}`}, epidemicOut...),
			bad:    []string{"-rounds", "0"},
		},
		{
			name:        "external",
			args:        []string{"-simulations", "300", "-epochs", "3", "-samples", "300"},
			pngs:        []string{"external_posterior.png"},
			stdout:      []string{`simulation \(Python\): 300 of 300 simulations done \(300 ok`, `training: 3 epochs`},
			bad:         []string{"-simulations", "1"},
			needs:       "python3",
			skipArgs:    []string{"-python", "gosbi-no-such-python"},
			skipMessage: "skipping the external example: gosbi-no-such-python not found",
		},
		{
			name: "iid",
			args: []string{"-trials", "5", "-nle-simulations", "300", "-npe-simulations", "200",
				"-epochs", "3", "-samples", "100", "-warmup", "10"},
			pngs:   []string{"iid_posteriors.png"},
			stdout: []string{`observation: 5 trials`, `NLE: 300 single-trial simulations, 3 epochs`, `NPE: 200 data sets \(1000 trials\), 3 epochs`},
			bad:    []string{"-trials", "0"},
		},
		{
			name: "oscillator",
			args: []string{"-simulations", "500", "-epochs", "3", "-samples", "300",
				"-tests", "20", "-sbc-samples", "20", "-predictive", "50"},
			pngs: []string{"oscillator_posterior.png", "oscillator_predictive.png",
				"oscillator_sbc.png", "oscillator_coverage.png"},
			stdout: []string{`training: 3 epochs`, `calibration over 20 tests`, `SBC rank KS p-value \d`, `expected coverage: mean error`},
			bad:    []string{"-theta", "1,2"},
		},
		{
			name: "variational",
			args: append([]string{"-simulations", "300", "-epochs", "3", "-samples", "100", "-warmup", "20",
				"-vi-iterations", "30"}, twoMoonsData...),
			pngs:   []string{"variational_posteriors.png"},
			stdout: []string{`NLE: 300 simulations, 3 epochs`, `VI \(nsf, iwelbo\): fit in .* \(30 iterations`, `Pareto k-hat -?\d\.\d{3}`, `C2ST, VI \+ importance resampling against MCMC: 0\.\d+`},
			bad:    []string{"-objective", "nope"},
		},
		{
			name:   "twomoons",
			args:   twoMoonsArgs,
			pngs:   []string{"twomoons_posterior.png", "twomoons_loss.png"},
			stdout: twoMoonsOut,
			bad:    []string{"-estimator", "nope"},
		},
		{
			name: "largescale",
			args: []string{"-simulations", "1000", "-shards", "3", "-window", "2", "-epochs", "3", "-samples", "300"},
			pngs: []string{"largescale_posterior.png"},
			others: []string{"simulations.gsim", "npe.ckpt",
				"shards/shard-0.gsim", "shards/shard-1.gsim", "shards/shard-2.gsim"},
			stdout: []string{`shard 2 of 3: 3 chunks, 0 on disk before, simulated 300 \(`,
				`merged 10 chunks from 3 shard files .* complete: true`,
				`spot check: chunk 5 simulated again in this process equals the merged file bit for bit`,
				`training data: 1000 simulations, \d+ valid, \d+ dropped`,
				`training: 3 epochs .* at most [1-4]\d\d rows in memory`,
				`peak rows in memory [1-4]\d\d of \d+ \(cache of 4 blocks\)`,
				`SLURM_ARRAY_TASK_ID`},
			bad: []string{"-shards", "0"},
		},
	}
}

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
	buildOut  []byte
)

// build compiles every example into one temporary folder, once.
func build(t *testing.T, names []string) string {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go command not found; cannot build the examples")
	}
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "gosbi-examples-")
		if buildErr != nil {
			return
		}
		args := []string{"build", "-o", binDir + string(filepath.Separator)}
		for _, n := range names {
			args = append(args, "./"+n)
		}
		buildOut, buildErr = exec.Command("go", args...).CombinedOutput()
	})
	if buildErr != nil {
		t.Fatalf("building the examples: %v\n%s", buildErr, buildOut)
	}
	return binDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

func TestExamples(t *testing.T) {
	exs := examples(t)
	names := make([]string, len(exs))
	for i, ex := range exs {
		names[i] = ex.name
	}
	bin := build(t, names)
	for _, ex := range exs {
		t.Run(ex.name, func(t *testing.T) {
			exe := filepath.Join(bin, ex.name)
			if ex.skipArgs != nil {
				stdout, stderr, err := runExample(t, exe, append(ex.skipArgs, "-out", t.TempDir())...)
				if err != nil || !strings.Contains(stdout, ex.skipMessage) {
					t.Errorf("%s %s: error %v, stdout %q, stderr %q; want exit status 0 and %q",
						ex.name, strings.Join(ex.skipArgs, " "), err, stdout, stderr, ex.skipMessage)
				}
			}
			if ex.needs != "" {
				if _, err := exec.LookPath(ex.needs); err != nil {
					t.Skipf("%s not in PATH: checked the skip message only", ex.needs)
				}
			}
			out := t.TempDir()
			stdout, stderr, err := runExample(t, exe, append(ex.args, "-out", out)...)
			if err != nil {
				t.Fatalf("%s %s: %v\nstdout:\n%s\nstderr:\n%s", ex.name, strings.Join(ex.args, " "), err, stdout, stderr)
			}
			for _, re := range ex.stdout {
				if !regexp.MustCompile(re).MatchString(stdout) {
					t.Errorf("output does not match %q; got:\n%s", re, stdout)
				}
			}
			for _, f := range ex.pngs {
				checkPNG(t, filepath.Join(out, f))
			}
			for _, f := range ex.others {
				info, err := os.Stat(filepath.Join(out, f))
				if err != nil {
					t.Errorf("missing output file: %v", err)
				} else if info.Size() < 100 {
					t.Errorf("%s has %d bytes, want at least 100", f, info.Size())
				}
			}
			if ex.bad != nil {
				_, stderr, err := runExample(t, exe, append(ex.bad, "-out", t.TempDir())...)
				if err == nil {
					t.Errorf("%s %s: exit status 0, want an error", ex.name, strings.Join(ex.bad, " "))
				} else if !strings.Contains(stderr, ex.name+":") {
					t.Errorf("%s %s: stderr %q should explain the error", ex.name, strings.Join(ex.bad, " "), stderr)
				}
			}
		})
	}
}

// runExample runs exe with args in this package's folder, with a time limit.
func runExample(t *testing.T, exe string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	start := time.Now()
	err = cmd.Run()
	t.Logf("%s %s: %.1fs", filepath.Base(exe), strings.Join(args, " "), time.Since(start).Seconds())
	return o.String(), e.String(), err
}

// checkPNG checks that path is a PNG of at least 200×200 pixels, more than
// 5 kB, that is not blank: at least 1% of its pixels differ from the corner
// pixel (the background).
func checkPNG(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Errorf("missing plot: %v", err)
		return
	}
	if len(b) < 5000 {
		t.Errorf("%s has %d bytes, want at least 5000", filepath.Base(path), len(b))
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Errorf("%s: %v", filepath.Base(path), err)
		return
	}
	r := img.Bounds()
	if r.Dx() < 200 || r.Dy() < 200 {
		t.Errorf("%s is %d×%d pixels, want at least 200×200", filepath.Base(path), r.Dx(), r.Dy())
	}
	if f := inked(img); f < 0.01 {
		t.Errorf("%s: %.4f of the pixels differ from the background, want at least 0.01", filepath.Base(path), f)
	}
}

// inked returns the fraction of pixels that differ from the top-left one.
func inked(img image.Image) float64 {
	r := img.Bounds()
	bg := img.At(r.Min.X, r.Min.Y)
	br, bgc, bb, ba := bg.RGBA()
	n := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			cr, cg, cb, ca := img.At(x, y).RGBA()
			if cr != br || cg != bgc || cb != bb || ca != ba {
				n++
			}
		}
	}
	return float64(n) / float64(r.Dx()*r.Dy())
}
