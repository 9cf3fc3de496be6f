package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestInferTrainData trains on a simulation file written by simulate: the
// summary reports the file, a checkpointed run gives byte-identical
// samples, and a rerun resumes from the complete checkpoint.
func TestInferTrainData(t *testing.T) {
	dir := t.TempDir()
	sims := filepath.Join(dir, "sims.gosbi")
	if code, _, stderr := runCmd(t, "simulate", "-task", "two_moons", "-n", "1200", "-seed", "2", "-out", sims, "-workers", "1"); code != 0 {
		t.Fatalf("simulate: exit status %d, stderr:\n%s", code, stderr)
	}
	obs := writeFile(t, dir, "obs.csv", "data_1,data_2\n0.1,-0.05\n")
	infer := func(out string, extra ...string) []byte {
		t.Helper()
		args := append([]string{"infer", "-task", "two_moons", "-train-data", sims, "-observation", obs, "-num-samples", "100",
			"-seed", "3", "-max-epochs", "2", "-out", out}, extra...)
		code, _, stderr := runCmd(t, args...)
		if code != 0 {
			t.Fatalf("infer %v: exit status %d, stderr:\n%s", extra, code, stderr)
		}
		b, err := os.ReadFile(filepath.Join(out, "posterior_samples.csv"))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	plain := infer(filepath.Join(dir, "plain"))
	b, err := os.ReadFile(filepath.Join(dir, "plain", "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s summary
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	if s.TrainData != sims || s.Simulations != 1200 || len(s.Epochs) != 1 || s.Epochs[0] != 2 {
		t.Errorf("summary: train data %q, simulations %d, epochs %v; want %q, 1200, [2]", s.TrainData, s.Simulations, s.Epochs, sims)
	}
	ck := filepath.Join(dir, "ck")
	if got := infer(filepath.Join(dir, "ck1"), "-checkpoint", ck); !bytes.Equal(got, plain) {
		t.Errorf("with -checkpoint: samples differ from the run without")
	}
	if _, err := os.Stat(filepath.Join(ck, "train-0.ckpt")); err != nil {
		t.Errorf("no training checkpoint: %v", err)
	}
	if got := infer(filepath.Join(dir, "ck2"), "-checkpoint", ck); !bytes.Equal(got, plain) {
		t.Errorf("resumed from the complete checkpoint: samples differ")
	}
}

func TestInferTrainDataErrors(t *testing.T) {
	dir := t.TempDir()
	sims := filepath.Join(dir, "sims.gosbi")
	shard := filepath.Join(dir, "shard.gosbi")
	for _, args := range [][]string{
		{"-n", "300", "-out", sims},
		{"-n", "900", "-out", shard, "-shard", "1", "-shards", "3"},
	} {
		if code, _, stderr := runCmd(t, append([]string{"simulate", "-task", "two_moons", "-seed", "2", "-workers", "1"}, args...)...); code != 0 {
			t.Fatalf("simulate: exit status %d, stderr:\n%s", code, stderr)
		}
	}
	obs := writeFile(t, dir, "obs.csv", "data_1,data_2\n0.1,-0.05\n")
	obs10 := writeFile(t, dir, "obs10.csv", strings.Repeat("h,", 9)+"h\n"+strings.Repeat("0,", 9)+"0\n")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"other task", []string{"-task", "gaussian_linear", "-observation", obs10, "-train-data", sims}, `holds simulations of "two_moons", not of task "gaussian_linear"`},
		{"shard file", []string{"-task", "two_moons", "-observation", obs, "-train-data", shard}, "shard 1 of 3"},
		{"missing file", []string{"-task", "two_moons", "-observation", obs, "-train-data", filepath.Join(dir, "none")}, "no such file"},
		{"snle", []string{"-task", "two_moons", "-observation", obs, "-train-data", sims, "-method", "snle"}, "only the single-round npe, nle and nre"},
		{"snpe", []string{"-task", "two_moons", "-observation", obs, "-train-data", sims, "-method", "snpe"}, "only the single-round npe, nle and nre"},
		{"simulations", []string{"-task", "two_moons", "-observation", obs, "-train-data", sims, "-simulations", "10"}, "the budget is the file's"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runCmd(t, append([]string{"infer", "-out", filepath.Join(dir, "out")}, tc.args...)...)
			if code == 0 || !strings.Contains(stderr, tc.want) {
				t.Errorf("got exit status %d, stderr:\n%s\nwant an error mentioning %q", code, stderr, tc.want)
			}
		})
	}
}

// TestInferTrainDataPotential trains NLE and NRE on a simulation file
// written by simulate, with several samplers: the summary reports the file
// and its counts, a checkpointed run gives byte-identical samples, and the
// NPE of a VI warm start streams the same file (its validation loss is
// that of 'infer -method npe -train-data' with the same seed, which trains
// from the same generator state).
func TestInferTrainDataPotential(t *testing.T) {
	dir := t.TempDir()
	sims := filepath.Join(dir, "sims.gosbi")
	if code, _, stderr := runCmd(t, "simulate", "-task", "two_moons", "-n", "600", "-seed", "2", "-out", sims, "-workers", "1"); code != 0 {
		t.Fatalf("simulate: exit status %d, stderr:\n%s", code, stderr)
	}
	obs := writeFile(t, dir, "obs.csv", "data_1,data_2\n0.1,-0.05\n")
	infer := func(name string, extra ...string) (*summary, []byte) {
		t.Helper()
		out := filepath.Join(dir, name)
		args := append([]string{"infer", "-task", "two_moons", "-train-data", sims, "-observation", obs, "-num-samples", "50",
			"-seed", "3", "-max-epochs", "2", "-out", out}, extra...)
		if code, _, stderr := runCmd(t, args...); code != 0 {
			t.Fatalf("infer %v: exit status %d, stderr:\n%s", extra, code, stderr)
		}
		s, _ := readSummary(t, out)
		b, err := os.ReadFile(filepath.Join(out, "posterior_samples.csv"))
		if err != nil {
			t.Fatal(err)
		}
		return s, b
	}
	for _, tc := range []struct{ method, sampler string }{{"nle", "importance"}, {"nre", "slice"}} {
		t.Run(tc.method, func(t *testing.T) {
			args := []string{"-method", tc.method, "-sampler", tc.sampler}
			s, plain := infer(tc.method, args...)
			if s.TrainData != sims || s.Method != tc.method || s.Simulations != 600 || len(s.Epochs) != 1 || s.Epochs[0] != 2 {
				t.Errorf("summary: train data %q, method %q, simulations %d, epochs %v; want %q, %q, 600, [2]",
					s.TrainData, s.Method, s.Simulations, s.Epochs, sims, tc.method)
			}
			if got := bytes.Count(plain, []byte("\n")); got != 51 {
				t.Errorf("got %d lines of samples, want a header and 50", got)
			}
			ck := filepath.Join(dir, tc.method+"-ck")
			if _, got := infer(tc.method+"-ck1", append(args, "-checkpoint", ck)...); !bytes.Equal(got, plain) {
				t.Errorf("with -checkpoint: samples differ from the run without")
			}
			if _, err := os.Stat(filepath.Join(ck, "train-0.ckpt")); err != nil {
				t.Errorf("no training checkpoint: %v", err)
			}
			if _, got := infer(tc.method+"-ck2", append(args, "-checkpoint", ck)...); !bytes.Equal(got, plain) {
				t.Errorf("resumed from the complete checkpoint: samples differ")
			}
		})
	}
	t.Run("vi warm start", func(t *testing.T) {
		npe, _ := infer("npe", "-method", "npe")
		warm, _ := infer("warm", "-method", "nle", "-sampler", "vi", "-vi-family", "gaussian", "-vi-max-iterations", "20", "-vi-warm-start", "npe")
		if warm.VIWarmStartBestValLoss == nil || *warm.VIWarmStartBestValLoss != npe.BestValLoss {
			t.Errorf("got a warm-start NPE of best validation loss %v, want %v as 'infer -method npe -train-data'", warm.VIWarmStartBestValLoss, npe.BestValLoss)
		}
	})
}
