package main

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gosbi/gosbi/sbi"
	"github.com/gosbi/gosbi/simulators"
	"github.com/gosbi/gosbi/vi"
	"gonum.org/v1/gonum/mat"
)

// TestInferVIThenSample runs 'infer -sampler vi', which writes the VI
// posterior next to the MCMC one, then 'sample' on it: the draws are q's
// (bit-identical to sbi.LoadVIFile's SampleN with sample's seed), inside
// two_moons' prior box, and the output says they come from q without MCMC.
// Another observation, a corrupt file and an MCMC file read as before are
// checked too.
func TestInferVIThenSample(t *testing.T) {
	dir := t.TempDir()
	obs := writeFile(t, dir, "obs.csv", "data_1,data_2\n0.1,-0.05\n")
	other := writeFile(t, dir, "other.csv", "data_1,data_2\n0.2,0.3\n")
	out := filepath.Join(dir, "out")
	code, stdout, stderr := runCmd(t, "infer", "-task", "two_moons", "-method", "nle", "-sampler", "vi",
		"-simulations", "300", "-observation", obs, "-num-samples", "50", "-out", out, "-max-epochs", "2",
		"-vi-prior-start", "-vi-max-iterations", "15", "-vi-family", "maf")
	if code != 0 {
		t.Fatalf("infer: exit status %d, stderr:\n%s", code, stderr)
	}
	s, _ := readSummary(t, out)
	if s.VIPosteriorFile != viPosteriorFile || s.PosteriorFile != "posterior.gosbi" {
		t.Errorf("summary files %q, %q; want %q, posterior.gosbi", s.PosteriorFile, s.VIPosteriorFile, viPosteriorFile)
	}
	if !strings.Contains(stdout, viPosteriorFile) {
		t.Errorf("infer's stdout does not list %s:\n%s", viPosteriorFile, stdout)
	}
	viFile := filepath.Join(out, viPosteriorFile)
	// Both files are what they claim: q with its potential, and the MCMC
	// posterior of the same estimate.
	vp, post, err := sbi.LoadVIFile(viFile)
	if err != nil {
		t.Fatal(err)
	}
	if post == nil {
		t.Error("the VI posterior file holds no potential")
	}
	if _, err := sbi.LoadMCMCFile(filepath.Join(out, "posterior.gosbi")); err != nil {
		t.Errorf("posterior.gosbi: %v", err)
	}
	if r := vp.Result(); r.Iterations != 15 || s.Khat == nil || r.Khat != *s.Khat {
		t.Fatalf("file's fit: %d iterations, k-hat %v; summary k-hat %v; want 15 and the summary's", r.Iterations, r.Khat, s.Khat)
	}

	const n, seed = 300, 4
	for _, args := range [][]string{nil, {"-observation", obs}} {
		csv := filepath.Join(dir, "s.csv")
		os.Remove(csv)
		code, stdout, stderr = runCmd(t, append([]string{"sample", "-posterior", viFile, "-num-samples", "300", "-seed", "4", "-out", csv}, args...)...)
		if code != 0 {
			t.Fatalf("sample %v: exit status %d, stderr:\n%s", args, code, stderr)
		}
		if !strings.Contains(stdout, "drawn directly from the VI posterior q, no MCMC") || !strings.Contains(stdout, "k-hat") {
			t.Errorf("sample's stdout does not say the draws come from q:\n%s", stdout)
		}
		if warned, poor := strings.Contains(stderr, "poor fit"), *s.Khat > vi.KhatThreshold; warned != poor {
			t.Errorf("k-hat %.2f: stderr warns %v, want %v:\n%s", *s.Khat, warned, poor, stderr)
		}
		got, names, err := simulators.ReadCSV(csv)
		if err != nil {
			t.Fatal(err)
		}
		want, err := vp.SampleN(n, rand.New(rand.NewPCG(seed, 0x5eed)))
		if err != nil {
			t.Fatal(err)
		}
		if !mat.Equal(got, want) || len(names) != 2 {
			t.Errorf("sample %v: %d columns %v, draws differ from q's with seed %d", args, len(names), names, seed)
		}
		for i := range n {
			for _, v := range got.RawRowView(i) {
				if !(v >= -1 && v <= 1) {
					t.Fatalf("draw %d is %v, outside two_moons' prior box [-1, 1]²", i, got.RawRowView(i))
				}
			}
		}
	}

	bad := func(name string, args []string, want string) {
		t.Helper()
		code, _, stderr := runCmd(t, append([]string{"sample", "-num-samples", "10", "-out", filepath.Join(dir, "bad.csv")}, args...)...)
		if code != 2 || !strings.Contains(stderr, want) {
			t.Errorf("%s: exit status %d, stderr %q; want 2 and %q", name, code, stderr, want)
		}
	}
	bad("another observation", []string{"-posterior", viFile, "-observation", other}, "fitted at another observation")
	wrongDim := writeFile(t, dir, "dim.csv", "data_1,data_2,data_3\n0,0,0\n")
	bad("observation of another dimension", []string{"-posterior", viFile, "-observation", wrongDim}, "3 values")
	b, err := os.ReadFile(viFile)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x01
	corrupt := writeFile(t, dir, "corrupt_vi.gosbi", string(b))
	// The error is LoadVI's (the file is a VI posterior by its magic), not
	// Load's "not a gosbi posterior file".
	bad("corrupt VI file", []string{"-posterior", corrupt}, "LoadVI: checksum mismatch")
}
