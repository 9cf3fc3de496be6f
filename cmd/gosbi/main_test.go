package main

import (
	"bytes"
	"context"
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runCmd runs the CLI in-process and returns its exit status and output.
func runCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), env{stdout: &stdout, stderr: &stderr}, args)
	return code, stdout.String(), stderr.String()
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// checkPNG checks that path holds a decodable, non-trivial PNG image.
func checkPNG(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if b := img.Bounds(); b.Dx() < 100 || b.Dy() < 100 {
		t.Errorf("%s: image is %dx%d, want at least 100x100", path, b.Dx(), b.Dy())
	}
}

func TestInferWritesEveryFile(t *testing.T) {
	dir := t.TempDir()
	obs := writeFile(t, dir, "obs.csv", "data_1,data_2\n0.1,-0.05\n")
	out := filepath.Join(dir, "out")
	code, stdout, stderr := runCmd(t, "infer", "-task", "two_moons", "-method", "npe", "-simulations", "300",
		"-observation", obs, "-num-samples", "200", "-seed", "3", "-out", out, "-max-epochs", "3")
	if code != 0 {
		t.Fatalf("exit status %d, stderr:\n%s", code, stderr)
	}
	if !strings.Contains(stdout, "wrote") {
		t.Errorf("stdout does not report the written files:\n%s", stdout)
	}
	for _, name := range []string{"posterior_samples.csv", "pairplot.png", "posterior.gosbi", "summary.json"} {
		if st, err := os.Stat(filepath.Join(out, name)); err != nil || st.Size() == 0 {
			t.Errorf("%s missing or empty (%v)", name, err)
		}
	}
	checkPNG(t, filepath.Join(out, "pairplot.png"))

	b, err := os.ReadFile(filepath.Join(out, "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s summary
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	if s.Simulations != 300 || len(s.Epochs) != 1 || s.Epochs[0] != 3 || s.NumSamples != 200 {
		t.Errorf("summary: simulations %d, epochs %v, samples %d; want 300, [3], 200", s.Simulations, s.Epochs, s.NumSamples)
	}
	if !(s.AcceptanceRate > 0 && s.AcceptanceRate <= 1) {
		t.Errorf("summary: acceptance rate %v, want in (0, 1]", s.AcceptanceRate)
	}
	samples, err := os.ReadFile(filepath.Join(out, "posterior_samples.csv"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(samples)), "\n")
	if len(lines) != 201 {
		t.Errorf("posterior_samples.csv has %d lines, want a header and 200 rows", len(lines))
	}

	// The saved posterior samples again through the sample command.
	resampled := filepath.Join(dir, "again.csv")
	code, _, stderr = runCmd(t, "sample", "-posterior", filepath.Join(out, "posterior.gosbi"), "-observation", obs,
		"-num-samples", "50", "-out", resampled)
	if code != 0 {
		t.Fatalf("sample: exit status %d, stderr:\n%s", code, stderr)
	}
	b, err = os.ReadFile(resampled)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(strings.Split(strings.TrimSpace(string(b)), "\n")); n != 51 {
		t.Errorf("sample wrote %d lines, want 51", n)
	}
}

// TestInferPotentialMethods runs likelihood and ratio estimation with a
// tiny budget through each kind of sampler and checks the summary reports
// the sampler's diagnostics.
func TestInferPotentialMethods(t *testing.T) {
	dir := t.TempDir()
	obs := writeFile(t, dir, "obs.csv", "data_1,data_2\n0.1,-0.05\n")
	tests := []struct {
		method, sampler string
		wantRHat        bool
	}{
		{"nle", "slice", true},
		{"nre", "importance", false},
		{"nre", "rejection", false},
		{"nle", "vi", false},
	}
	for _, tt := range tests {
		t.Run(tt.method+"_"+tt.sampler, func(t *testing.T) {
			out := filepath.Join(dir, tt.method+"_"+tt.sampler)
			code, _, stderr := runCmd(t, "infer", "-task", "two_moons", "-method", tt.method, "-sampler", tt.sampler,
				"-simulations", "300", "-observation", obs, "-num-samples", "100", "-out", out, "-max-epochs", "2")
			if code != 0 {
				t.Fatalf("exit status %d, stderr:\n%s", code, stderr)
			}
			b, err := os.ReadFile(filepath.Join(out, "summary.json"))
			if err != nil {
				t.Fatal(err)
			}
			var s summary
			if err := json.Unmarshal(b, &s); err != nil {
				t.Fatal(err)
			}
			if s.Sampler != tt.sampler || s.Method != tt.method {
				t.Errorf("summary method %q sampler %q, want %q %q", s.Method, s.Sampler, tt.method, tt.sampler)
			}
			if got := len(s.RHat) == 2; got != tt.wantRHat {
				t.Errorf("summary has R-hat for 2 parameters: %v, want %v", got, tt.wantRHat)
			}
			if tt.sampler == "importance" && s.ImportanceESS == nil {
				t.Errorf("summary lacks the importance-sampling ESS")
			}
			if tt.sampler == "vi" && s.Khat == nil {
				t.Errorf("summary lacks the VI k-hat")
			}
			samples, err := os.ReadFile(filepath.Join(out, "posterior_samples.csv"))
			if err != nil {
				t.Fatal(err)
			}
			if n := len(strings.Split(strings.TrimSpace(string(samples)), "\n")); n != 101 {
				t.Errorf("posterior_samples.csv has %d lines, want 101", n)
			}
			checkPNG(t, filepath.Join(out, "pairplot.png"))

			// The saved likelihood/ratio posterior samples again by MCMC.
			again := filepath.Join(out, "again.csv")
			code, _, stderr = runCmd(t, "sample", "-posterior", filepath.Join(out, "posterior.gosbi"),
				"-observation", obs, "-num-samples", "40", "-out", again)
			if code != 0 {
				t.Fatalf("sample: exit status %d, stderr:\n%s", code, stderr)
			}
			b, err = os.ReadFile(again)
			if err != nil {
				t.Fatal(err)
			}
			if n := len(strings.Split(strings.TrimSpace(string(b)), "\n")); n != 41 {
				t.Errorf("sample wrote %d lines, want 41", n)
			}
		})
	}
}

func TestBadInputExitsTwo(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "good.csv", "data_1,data_2\n0,0\n")
	wrongDim := writeFile(t, dir, "dim.csv", "data_1,data_2,data_3\n0,0,0\n")
	garbage := writeFile(t, dir, "garbage.csv", "data_1,data_2\n0,abc\n")
	twoRows := writeFile(t, dir, "rows.csv", "data_1,data_2\n0,0\n1,1\n")
	nan := writeFile(t, dir, "nan.csv", "data_1,data_2\n0,NaN\n")
	corrupt := writeFile(t, dir, "corrupt.gosbi", "not a posterior")
	out := filepath.Join(dir, "out")
	tests := []struct {
		name string
		args []string
		want string // part of the error message
	}{
		{"no command", nil, "usage"},
		{"unknown command", []string{"fly"}, "unknown command"},
		{"unknown task", []string{"infer", "-task", "three_moons", "-observation", good}, "unknown task"},
		{"missing task", []string{"infer", "-observation", good}, "-task is required"},
		{"unknown method", []string{"infer", "-task", "two_moons", "-method", "abc", "-observation", good}, "unknown method"},
		{"unknown estimator", []string{"infer", "-task", "two_moons", "-estimator", "gp", "-observation", good}, "unknown estimator"},
		{"missing observation", []string{"infer", "-task", "two_moons", "-out", out}, "-observation is required"},
		{"absent observation file", []string{"infer", "-task", "two_moons", "-observation", filepath.Join(dir, "nope.csv")}, "observation"},
		{"wrong dimension", []string{"infer", "-task", "two_moons", "-observation", wrongDim}, "3 values"},
		{"malformed", []string{"infer", "-task", "two_moons", "-observation", garbage}, "observation"},
		{"two rows", []string{"infer", "-task", "two_moons", "-observation", twoRows}, "2 data rows"},
		{"nan", []string{"infer", "-task", "two_moons", "-observation", nan}, "NaN"},
		{"bad flag", []string{"infer", "-bogus"}, "bogus"},
		{"negative budget", []string{"infer", "-task", "two_moons", "-simulations", "-5", "-observation", good}, "-simulations"},
		{"unknown sampler", []string{"infer", "-task", "two_moons", "-method", "nle", "-sampler", "gibbs", "-observation", good}, "unknown sampler"},
		{"npe with sampler", []string{"infer", "-task", "two_moons", "-method", "npe", "-sampler", "nuts", "-observation", good}, "directly"},
		{"nle rounds", []string{"infer", "-task", "two_moons", "-method", "nle", "-rounds", "2", "-observation", good}, "single round"},
		{"npe rounds", []string{"infer", "-task", "two_moons", "-rounds", "3", "-observation", good}, "single round"},
		{"corrupt posterior", []string{"sample", "-posterior", corrupt, "-observation", good, "-out", filepath.Join(dir, "s.csv")}, "sample"},
		{"sample without out", []string{"sample", "-posterior", corrupt, "-observation", good}, "-out is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runCmd(t, tt.args...)
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

func TestDemoQuick(t *testing.T) {
	out := t.TempDir()
	code, stdout, stderr := runCmd(t, "demo", "-out", out, "-simulations", "300", "-num-samples", "300", "-max-epochs", "2")
	if code != 0 {
		t.Fatalf("exit status %d, stderr:\n%s", code, stderr)
	}
	checkPNG(t, filepath.Join(out, "posterior.png"))
	if !strings.Contains(stdout, "posterior at x_o = (0, 0)") {
		t.Errorf("demo output lacks the summary:\n%s", stdout)
	}
}

func TestTasks(t *testing.T) {
	code, stdout, _ := runCmd(t, "tasks")
	if code != 0 {
		t.Fatalf("exit status %d", code)
	}
	for _, name := range []string{"two_moons", "gaussian_linear", "sir", "lotka_volterra", "slcp"} {
		if !strings.Contains(stdout, name) {
			t.Errorf("tasks output lacks %s", name)
		}
	}
}
