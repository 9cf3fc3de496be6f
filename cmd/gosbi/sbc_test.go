package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
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
