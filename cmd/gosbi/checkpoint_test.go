package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestInferCheckpointResume builds the gosbi binary, interrupts `infer
// -checkpoint DIR` with SIGINT and, in another folder, kills it with
// SIGKILL, once the training checkpoint exists; reruns the same command to
// completion; and compares posterior_samples.csv and posterior.gosbi with
// those of an uninterrupted run without -checkpoint: identical bytes.
func TestInferCheckpointResume(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and trains three times")
	}
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "gosbi")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	obs := writeFile(t, tmp, "obs.csv", "data_1,data_2\n0.1,0.05\n")
	// 1,000 simulations and at most 60 epochs of the default MAF: about
	// 1-2 s of training, so that the signal arrives mid-training.
	args := func(out string, extra ...string) []string {
		return append([]string{"infer", "-task", "two_moons", "-simulations", "1000", "-max-epochs", "60",
			"-num-samples", "500", "-seed", "4", "-observation", obs, "-out", out}, extra...)
	}
	runBin := func(a []string) (int, string) {
		t.Helper()
		cmd := exec.Command(bin, a...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode(), stderr.String()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0, stderr.String()
	}
	want := filepath.Join(tmp, "want")
	if code, stderr := runBin(args(want)); code != 0 {
		t.Fatalf("uninterrupted run: exit %d\n%s", code, stderr)
	}
	for _, tc := range []struct {
		name string
		sig  syscall.Signal
	}{{"SIGINT", syscall.SIGINT}, {"SIGKILL", syscall.SIGKILL}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(tmp, tc.name)
			ckDir, out := filepath.Join(dir, "ck"), filepath.Join(dir, "out")
			a := args(out, "-checkpoint", ckDir)
			cmd := exec.Command(bin, a...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			ckFile := filepath.Join(ckDir, "train-0.ckpt")
			deadline := time.Now().Add(60 * time.Second)
			for {
				if _, err := os.Stat(ckFile); err == nil {
					break
				}
				if time.Now().After(deadline) {
					cmd.Process.Kill()
					t.Fatalf("no training checkpoint after 60 s; stderr:\n%s", stderr.String())
				}
				time.Sleep(5 * time.Millisecond)
			}
			if err := cmd.Process.Signal(tc.sig); err != nil {
				t.Fatal(err)
			}
			err := cmd.Wait()
			var ee *exec.ExitError
			if !errors.As(err, &ee) {
				t.Fatalf("interrupted run: got %v, want a non-zero exit (did training finish before the signal?)\n%s", err, stderr.String())
			}
			if tc.sig == syscall.SIGINT {
				if ee.ExitCode() != 1 || !strings.Contains(stderr.String(), "run the same command again to resume") {
					t.Fatalf("interrupted run: exit %d, stderr:\n%s", ee.ExitCode(), stderr.String())
				}
			}
			if _, err := os.Stat(filepath.Join(out, "posterior_samples.csv")); err == nil {
				t.Fatal("the interrupted run wrote posterior_samples.csv")
			}
			code, errText := runBin(a)
			if code != 0 {
				t.Fatalf("resumed run: exit %d\n%s", code, errText)
			}
			if !strings.Contains(errText, "resuming from the checkpoint") {
				t.Errorf("resumed run did not say it resumed:\n%s", errText)
			}
			for _, f := range []string{"posterior_samples.csv", "posterior.gosbi"} {
				got, err := os.ReadFile(filepath.Join(out, f))
				if err != nil {
					t.Fatal(err)
				}
				w, err := os.ReadFile(filepath.Join(want, f))
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, w) {
					t.Errorf("%s differs from the uninterrupted run's", f)
				}
			}
		})
	}
}

func TestInferCheckpointUsage(t *testing.T) {
	dir := t.TempDir()
	obs := writeFile(t, dir, "obs.csv", "data_1,data_2\n0.1,0.05\n")
	ck := filepath.Join(dir, "ck")
	if code, _, stderr := runCmd(t, "infer", "-task", "two_moons", "-method", "snpe", "-observation", obs, "-checkpoint", ck); code != 2 ||
		!strings.Contains(stderr, "single-round") {
		t.Errorf("snpe with -checkpoint: exit %d, %s; want 2 and a usage message", code, stderr)
	}
	// A folder of another run is refused.
	if err := os.MkdirAll(ck, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, ck, "run.json", `{"format":1,"task":"gaussian_linear"}`)
	if code, _, stderr := runCmd(t, "infer", "-task", "two_moons", "-simulations", "20", "-max-epochs", "1", "-num-samples", "5",
		"-observation", obs, "-out", filepath.Join(dir, "out"), "-checkpoint", ck); code != 2 || !strings.Contains(stderr, "another run") {
		t.Errorf("foreign checkpoint folder: exit %d, %s; want 2 and a message", code, stderr)
	}
}
