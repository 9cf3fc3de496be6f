package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gosbi/gosbi/nn"
	"github.com/gosbi/gosbi/simulators"
)

// TestInferCheckpointResume interrupts `infer -checkpoint DIR` of a
// single-round npe with SIGINT and, in another folder, kills it with
// SIGKILL, once the training checkpoint exists; reruns the same command to
// completion; and compares posterior_samples.csv and posterior.gosbi with
// those of an uninterrupted run without -checkpoint: identical bytes.
func TestInferCheckpointResume(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary and trains three times")
	}
	t.Parallel()
	tmp := t.TempDir()
	obs := writeFile(t, tmp, "obs.csv", "data_1,data_2\n0.1,0.05\n")
	// 1,000 simulations and at most 60 epochs of the default MAF: about
	// 1-2 s of training, so that the signal arrives mid-training.
	args := func(out string, extra ...string) []string {
		return append([]string{"infer", "-task", "two_moons", "-simulations", "1000", "-max-epochs", "60",
			"-num-samples", "500", "-seed", "4", "-observation", obs, "-out", out}, extra...)
	}
	want := filepath.Join(tmp, "want")
	if code, _, stderr := runGosbi(t, nil, args(want)...); code != 0 {
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
			cmd := gosbiCmd(t, nil, a...)
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
			code, _, errText := runGosbi(t, nil, a...)
			if code != 0 {
				t.Fatalf("resumed run: exit %d\n%s", code, errText)
			}
			if !strings.Contains(errText, "resuming from the checkpoint") {
				t.Errorf("resumed run did not say it resumed:\n%s", errText)
			}
			sameOutputs(t, out, want)
		})
	}
}

// sameOutputs checks that the posterior samples and the posterior file in
// the folder got are byte-identical to those in want.
func sameOutputs(t *testing.T, got, want string) {
	t.Helper()
	for _, f := range []string{"posterior_samples.csv", "posterior.gosbi"} {
		if !bytes.Equal(mustRead(t, filepath.Join(got, f)), mustRead(t, filepath.Join(want, f))) {
			t.Errorf("%s differs from the uninterrupted run's", f)
		}
	}
}

// trigger says when interruptAt sends its signal: as soon as a line of
// the run's standard error contains every string of line, or file exists.
type trigger struct {
	line []string
	file string
}

// interruptAt runs the CLI with args, sends sig at the trigger and waits
// for the run to end. It fails the test if the trigger never fires or the
// run ends with status 0 (it finished before the signal took effect), and
// returns the exit status (-1 when killed) and the standard error.
func interruptAt(t *testing.T, args []string, sig syscall.Signal, at trigger) (int, string) {
	t.Helper()
	cmd := gosbiCmd(t, nil, args...)
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var all strings.Builder
	sent := false
	fire := func() {
		if !sent {
			if err := cmd.Process.Signal(sig); err != nil {
				t.Errorf("signal: %v", err)
			}
			sent = true
		}
	}
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for open := true; open; {
		select {
		case line, ok := <-lines:
			if !ok {
				open = false
				break
			}
			all.WriteString(line + "\n")
			match := len(at.line) > 0
			for _, m := range at.line {
				match = match && strings.Contains(line, m)
			}
			if match {
				fire()
			}
		case <-tick.C:
			if at.file != "" && exists(at.file) {
				fire()
			}
		}
	}
	err = cmd.Wait()
	if !sent {
		t.Fatalf("the trigger %+v never fired; stderr:\n%s", at, all.String())
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("interrupted run: got %v, want a non-zero exit (the run finished before the signal?)\n%s", err, all.String())
	}
	return ee.ExitCode(), all.String()
}

// ckptState reports whether the training checkpoint at path exists and
// whether it is marked complete.
func ckptState(t *testing.T, path string) (exists, complete bool) {
	t.Helper()
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, false
	} else if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	_, meta, err := nn.Read(bufio.NewReader(f))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var st struct {
		Complete bool `json:"complete"`
	}
	if err := json.Unmarshal([]byte(meta["state"]), &st); err != nil {
		t.Fatalf("%s: state: %v", path, err)
	}
	return true, st.Complete
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// TestInferSequentialCheckpoint interrupts two-round runs of `infer
// -checkpoint DIR` (snpe and snle on two_moons, 600 simulations per round,
// and nle with the VI sampler's NPE warm start) at chosen stages, with
// SIGINT (a clean stop that saves the training state) or SIGKILL (no
// chance to save anything), checks from the files in DIR that the signal
// arrived in that stage, reruns the same command, and compares
// posterior_samples.csv and posterior.gosbi with those of an uninterrupted
// run without -checkpoint: identical bytes. A last rerun with the complete
// checkpoint into a new output folder, as after an interrupt in the
// sampling, gives them again.
func TestInferSequentialCheckpoint(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary a dozen times")
	}
	t.Parallel()
	tmp := t.TempDir()
	obs := writeFile(t, tmp, "obs.csv", "data_1,data_2\n0.1,0.05\n")
	type stage struct {
		name  string
		sig   syscall.Signal
		at    func(ck string) trigger       // when to send the signal
		check func(t *testing.T, ck string) // the files show the stage the signal hit
	}
	ckpt := func(ck string, round string) string { return filepath.Join(ck, "train-"+round+".ckpt") }
	sims := func(ck string, round string) string { return filepath.Join(ck, "simulations-"+round+".gosbi") }
	inTraining := func(round string) func(*testing.T, string) {
		return func(t *testing.T, ck string) {
			if ok, done := ckptState(t, ckpt(ck, round)); !ok || done {
				t.Errorf("train-%s.ckpt: exists %v, complete %v; want an incomplete checkpoint (interrupted in round %s's training)", round, ok, done, round)
			}
			if !exists(sims(ck, round)) {
				t.Errorf("no simulations-%s.gosbi", round)
			}
			if exists(sims(ck, "2")) || (round == "0" && exists(sims(ck, "1"))) {
				t.Errorf("simulations of a later round than %s", round)
			}
		}
	}
	onLine := func(match ...string) func(string) trigger {
		return func(string) trigger { return trigger{line: match} }
	}
	for _, tc := range []struct {
		name   string
		args   []string
		stages []stage
	}{
		{
			// SNPE-C: about 0.3 s of training in round 0, 1.3 s in round 1.
			name: "snpe",
			args: []string{"-method", "snpe", "-simulations", "1200", "-max-epochs", "15"},
			stages: []stage{
				{"SIGKILL in round 0's training", syscall.SIGKILL, func(ck string) trigger { return trigger{file: ckpt(ck, "0")} }, inTraining("0")},
				{"SIGINT in round 1's training", syscall.SIGINT, onLine("round 1: training: "), inTraining("1")},
			},
		},
		{
			// SNLE with the slice sampler: round 1's proposal is 600 MCMC
			// draws (about 0.2 s), each training about 0.3 s.
			name: "snle",
			args: []string{"-method", "snle", "-simulations", "1200", "-max-epochs", "60"},
			stages: []stage{
				{"SIGKILL in round 1's proposal", syscall.SIGKILL, onLine("round 0: training: ", "epochs in"), func(t *testing.T, ck string) {
					if ok, done := ckptState(t, ckpt(ck, "0")); !ok || !done {
						t.Errorf("train-0.ckpt: exists %v, complete %v; want complete", ok, done)
					}
					if exists(sims(ck, "1")) || exists(ckpt(ck, "1")) {
						t.Errorf("round 1's simulations or training checkpoint exist: the signal came after the proposal")
					}
				}},
				{"SIGINT in round 1's training", syscall.SIGINT, onLine("round 1: training: "), inTraining("1")},
			},
		},
		{
			// nle with -sampler vi -vi-warm-start npe: the warm start's NPE
			// trains on round 0's simulations (about 0.5 s) before the NLE.
			name: "nle vi warm start",
			args: []string{"-method", "nle", "-sampler", "vi", "-vi-warm-start", "npe", "-vi-family", "gaussian",
				"-vi-max-iterations", "20", "-simulations", "1000", "-max-epochs", "60"},
			stages: []stage{
				{"SIGINT in the warm start's training", syscall.SIGINT, onLine("training the NPE of the warm start: "), func(t *testing.T, ck string) {
					if ok, done := ckptState(t, filepath.Join(ck, "warm-start-npe.ckpt")); !ok || done {
						t.Errorf("warm-start-npe.ckpt: exists %v, complete %v; want an incomplete checkpoint", ok, done)
					}
					if exists(ckpt(ck, "0")) {
						t.Errorf("train-0.ckpt exists: the NLE started training before the signal")
					}
				}},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(tmp, strings.ReplaceAll(tc.name, " ", "_"))
			args := func(out string, extra ...string) []string {
				a := append([]string{"infer", "-task", "two_moons", "-num-samples", "300", "-seed", "4", "-observation", obs, "-out", out}, tc.args...)
				return append(a, extra...)
			}
			want := filepath.Join(dir, "want")
			if code, _, stderr := runGosbi(t, nil, args(want)...); code != 0 {
				t.Fatalf("uninterrupted run: exit %d\n%s", code, stderr)
			}
			var last []string
			for i, st := range tc.stages {
				ck, out := filepath.Join(dir, "ck", st.name), filepath.Join(dir, "out", st.name)
				a := args(out, "-checkpoint", ck)
				code, stderr := interruptAt(t, a, st.sig, st.at(ck))
				if st.sig == syscall.SIGINT && (code != 1 || !strings.Contains(stderr, "run the same command again to resume")) {
					t.Errorf("%s: exit %d, want 1 and a message; stderr:\n%s", st.name, code, stderr)
				}
				st.check(t, ck)
				if exists(filepath.Join(out, "posterior_samples.csv")) {
					t.Errorf("%s: the interrupted run wrote posterior_samples.csv", st.name)
				}
				code, _, stderr = runGosbi(t, nil, a...)
				if code != 0 {
					t.Fatalf("%s: resumed run: exit %d\n%s", st.name, code, stderr)
				}
				if !strings.Contains(stderr, "resuming from the checkpoint") {
					t.Errorf("%s: the resumed run did not say it resumed:\n%s", st.name, stderr)
				}
				sameOutputs(t, out, want)
				if i == len(tc.stages)-1 {
					last = args(filepath.Join(dir, "out", "complete"), "-checkpoint", ck)
				}
			}
			code, _, stderr := runGosbi(t, nil, last...)
			if code != 0 {
				t.Fatalf("rerun with the complete checkpoint: exit %d\n%s", code, stderr)
			}
			sameOutputs(t, filepath.Join(dir, "out", "complete"), want)
		})
	}
}

// TestInferCheckpointInterruptedSimulation cancels an snre run (as SIGINT
// does) during the simulations of its second round, in process, with a
// simulator that cancels the run at its 900th call (round 1 runs calls 601
// to 1,200), and resumes it: round 0 is replayed from DIR, round 1 is
// simulated again from the saved generator state, and the samples and
// posterior are byte-identical to an uninterrupted run's.
func TestInferCheckpointInterruptedSimulation(t *testing.T) {
	t.Parallel()
	task, err := simulators.NewTask("two_moons", "")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var (
		calls  atomic.Int64
		stopAt atomic.Int64 // 0: never
		cancel atomic.Pointer[context.CancelFunc]
	)
	sim := simulators.SimulatorFunc{ThetaDim: 2, XDim: 2, F: func(ctx context.Context, dst, theta []float64, rng *rand.Rand) ([]float64, error) {
		if n := calls.Add(1); stopAt.Load() > 0 && n >= stopAt.Load() {
			(*cancel.Load())()
			return nil, ctx.Err()
		}
		return task.Simulator.Run(ctx, dst, theta, rng)
	}}
	xo := []float64{0.1, 0.05}
	pipe := func(out, ck string) pipeline {
		return pipeline{name: task.Name, sim: sim, prior: task.Prior, thetaNames: task.ThetaNames, xo: xo,
			method: "snre", sampler: "slice", estimator: "maf", simulations: 1200, rounds: 2, samples: 200, seed: 9,
			maxEpochs: 10, out: filepath.Join(dir, out), plotName: "pairplot.png", checkpoint: ck}
	}
	e := env{stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}}
	infer := func(p pipeline, stop int64) error {
		ctx, c := context.WithCancel(context.Background())
		defer c()
		calls.Store(0)
		stopAt.Store(stop)
		cancel.Store(&c)
		_, err := runPipeline(ctx, e, p)
		return err
	}
	if err := infer(pipe("want", ""), 0); err != nil {
		t.Fatal(err)
	}
	ck := filepath.Join(dir, "ck")
	if err := infer(pipe("out", ck), 900); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: got %v, want context.Canceled", err)
	}
	if ok, done := ckptState(t, filepath.Join(ck, "train-0.ckpt")); !ok || !done || !exists(filepath.Join(ck, "simulations-0.gosbi")) {
		t.Fatalf("after the interrupt: round 0 saved %v, trained %v; want both", exists(filepath.Join(ck, "simulations-0.gosbi")), done)
	}
	if exists(filepath.Join(ck, "simulations-1.gosbi")) {
		t.Fatal("after the interrupt: round 1's simulations were saved")
	}
	if err := infer(pipe("out", ck), 0); err != nil {
		t.Fatal(err)
	}
	// Round 0 came from the file: only round 1's 600 simulations ran.
	if got := calls.Load(); got != 600 {
		t.Errorf("resumed run: got %d simulator calls, want 600 (round 1 only)", got)
	}
	sameOutputs(t, filepath.Join(dir, "out"), filepath.Join(dir, "want"))
}

// TestInferCheckpointUsage checks that a folder of another run is refused,
// and that damaged simulations are reported with their file and not used.
func TestInferCheckpointUsage(t *testing.T) {
	dir := t.TempDir()
	obs := writeFile(t, dir, "obs.csv", "data_1,data_2\n0.1,0.05\n")
	ck := filepath.Join(dir, "ck")
	if err := os.MkdirAll(ck, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, ck, "run.json", `{"format":1,"task":"gaussian_linear"}`)
	base := []string{"infer", "-task", "two_moons", "-simulations", "40", "-max-epochs", "1", "-num-samples", "5", "-observation", obs}
	args := func(out, ck string, extra ...string) []string {
		return append(append(append([]string(nil), base...), "-out", filepath.Join(dir, out), "-checkpoint", ck), extra...)
	}
	if code, _, stderr := runCmd(t, args("out", ck)...); code != 2 || !strings.Contains(stderr, "another run") {
		t.Errorf("foreign checkpoint folder: exit %d, %s; want 2 and a message", code, stderr)
	}

	// A two-round run, then the same folder with three rounds: refused.
	ck2 := filepath.Join(dir, "ck2")
	if code, _, stderr := runCmd(t, args("a", ck2, "-method", "snpe")...); code != 0 {
		t.Fatalf("snpe with -checkpoint: exit %d\n%s", code, stderr)
	}
	if code, _, stderr := runCmd(t, args("b", ck2, "-method", "snpe", "-rounds", "3")...); code != 2 || !strings.Contains(stderr, "another run") {
		t.Errorf("other rounds in the same folder: exit %d, %s; want 2 and a message", code, stderr)
	}
	// Damaged simulations of round 1: an error naming the file; once it is
	// deleted, round 1 is simulated again and the outputs are the same.
	sim1 := filepath.Join(ck2, "simulations-1.gosbi")
	b := mustRead(t, sim1)
	data := func() []*nn.Tensor {
		ts, _, err := nn.Read(bytes.NewReader(mustRead(t, sim1)))
		if err != nil {
			t.Fatal(err)
		}
		return ts
	}
	first := data()
	if err := os.WriteFile(sim1, b[:len(b)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runCmd(t, args("c", ck2, "-method", "snpe")...); code != 1 || !strings.Contains(stderr, "simulations-1.gosbi") ||
		!strings.Contains(stderr, "delete it") {
		t.Errorf("damaged simulations: exit %d, %s; want 1 and a message naming the file", code, stderr)
	}
	if err := os.Remove(sim1); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runCmd(t, args("d", ck2, "-method", "snpe")...); code != 0 {
		t.Fatalf("after deleting the damaged file: exit %d\n%s", code, stderr)
	}
	for i, ts := range data() {
		if ts.Rows != first[i].Rows || ts.Cols != first[i].Cols || !slices.Equal(ts.Data, first[i].Data) {
			t.Errorf("round 1 simulated again: %s differs from the first run's", ts.Name)
		}
	}
	sameOutputs(t, filepath.Join(dir, "d"), filepath.Join(dir, "a"))
}
