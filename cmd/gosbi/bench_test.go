package main

import (
	"encoding/json"
	"math"
	"runtime"
	"strings"
	"testing"
)

// decodeStrict decodes one JSON object into v, failing on unknown fields
// and on anything after it.
func decodeStrict(t *testing.T, out string, v any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("stdout is not the expected JSON object: %v\n%s", err, out)
	}
	if dec.More() {
		t.Fatalf("stdout has more than one JSON value:\n%s", out)
	}
}

// mafSize returns the parameter count of a MAF with T transforms of a MADE
// (input layer D→H and context layer C→H with biases, 2 hidden layers H→H,
// output layer H→2D) and the weight-matrix entries of one transform.
func mafSize(d, c, h, nt int) (params, weights int) {
	w := d*h + c*h + 2*h*h + h*2*d
	b := h + h + 2*h + 2*d
	return nt * (w + b), nt * w
}

func TestBenchFlows(t *testing.T) {
	const d, c, h, nt, batch, steps, points = 3, 2, 8, 2, 16, 40, 500
	prev := runtime.GOMAXPROCS(0)
	code, stdout, stderr := runCmd(t, "bench", "flows", "-dim", "3", "-context", "2", "-hidden", "8",
		"-transforms", "2", "-batch", "16", "-steps", "40", "-threads", "1", "-points", "500", "-seed", "4")
	if code != 0 {
		t.Fatalf("exit status %d, stderr:\n%s", code, stderr)
	}
	if got := runtime.GOMAXPROCS(0); got != prev {
		t.Errorf("GOMAXPROCS after the run: got %d, want %d (restored)", got, prev)
	}
	var r benchFlowsResult
	decodeStrict(t, stdout, &r)
	wantParams, weights := mafSize(d, c, h, nt)
	if r.Bench != "flows" || r.Estimator != "maf" || r.Dim != d || r.Context != c || r.Hidden != h ||
		r.Transforms != nt || r.Batch != batch || r.Steps != steps || r.Threads != 1 || r.Seed != 4 || r.Parts != 1 ||
		r.StepsPerEpoch != 10 {
		t.Errorf("echoed settings: got %+v", r)
	}
	if r.Parameters != wantParams {
		t.Errorf("parameters: got %d, want %d", r.Parameters, wantParams)
	}
	if want := 6.0 * batch * float64(weights); r.TrainFlopsStep != want {
		t.Errorf("train_flops_per_step: got %v, want %v", r.TrainFlopsStep, want)
	}
	for name, v := range map[string]float64{"train_seconds": r.TrainSeconds, "train_ms_per_step": r.TrainMsStep,
		"train_gflops": r.TrainGFLOPs, "log_prob_seconds": r.LogProbSeconds, "sample_seconds": r.SampleSeconds} {
		if !(v > 0) || math.IsInf(v, 0) {
			t.Errorf("%s: got %v, want a positive number", name, v)
		}
	}
	if got, want := r.TrainMsStep, 1e3*r.TrainSeconds/steps; math.Abs(got-want) > 1e-9*want {
		t.Errorf("train_ms_per_step: got %v, want %v", got, want)
	}
	if got, want := r.TrainGFLOPs, r.TrainFlopsStep*steps/r.TrainSeconds/1e9; math.Abs(got-want) > 1e-9*want {
		t.Errorf("train_gflops: got %v, want %v", got, want)
	}
	if r.LogProbPoints != points || r.SamplePoints != points {
		t.Errorf("points: got %d and %d, want %d", r.LogProbPoints, r.SamplePoints, points)
	}
	// 40 Adam steps at learning rate 5e-4 in 4 epochs of 10 batches lower
	// the mean loss of an epoch of a freshly initialised flow: it starts
	// well above the data's entropy (the initial MADE outputs are random).
	if !(r.LastLoss < r.FirstLoss) {
		t.Errorf("loss did not decrease: first %v, last %v", r.FirstLoss, r.LastLoss)
	}
	if r.Kernels.GEMM == "" || r.Kernels.VMath == "" || r.Kernels.GOARCH != runtime.GOARCH {
		t.Errorf("kernels: got %+v", r.Kernels)
	}
}

// TestBenchFlowsParts runs the data-parallel step: the mean loss of the
// first epoch (10 steps) is the serial run's up to the rounding of a
// different order of summation (relative differences of about 1e-16 per
// step, see flows' TestFitPartsTrajectory; 1e-12 leaves room), training
// makes progress, -workers is an alias of -parts, and batches of 128 rows
// are cut in two by default (flows.DefaultParts).
func TestBenchFlowsParts(t *testing.T) {
	args := []string{"bench", "flows", "-dim", "2", "-context", "2", "-hidden", "8", "-transforms", "2",
		"-steps", "40", "-points", "50", "-seed", "5"}
	var rs [4]benchFlowsResult
	for i, extra := range [][]string{{"-batch", "32", "-parts", "1"}, {"-batch", "32", "-parts", "3"},
		{"-batch", "32", "-workers", "3"}, {"-batch", "128", "-steps", "10"}} {
		code, stdout, stderr := runCmd(t, append(args, extra...)...)
		if code != 0 {
			t.Fatalf("%q: exit status %d, stderr:\n%s", extra, code, stderr)
		}
		decodeStrict(t, stdout, &rs[i])
	}
	for i, want := range []int{1, 3, 3, 2} {
		if rs[i].Parts != want || rs[i].Workers != want {
			t.Errorf("run %d: parts %d, workers %d, want %d", i, rs[i].Parts, rs[i].Workers, want)
		}
	}
	if d := math.Abs(rs[1].FirstLoss - rs[0].FirstLoss); d > 1e-12*math.Abs(rs[0].FirstLoss) {
		t.Errorf("first loss with 3 parts %v, serial %v", rs[1].FirstLoss, rs[0].FirstLoss)
	}
	if rs[2].FirstLoss != rs[1].FirstLoss || rs[2].LastLoss != rs[1].LastLoss {
		t.Errorf("-workers 3: losses %v, %v; -parts 3: %v, %v", rs[2].FirstLoss, rs[2].LastLoss, rs[1].FirstLoss, rs[1].LastLoss)
	}
	if !(rs[1].LastLoss < rs[1].FirstLoss) {
		t.Errorf("3 parts: loss did not decrease: first %v, last %v", rs[1].FirstLoss, rs[1].LastLoss)
	}
	// 10 steps: one epoch of 10 batches, validated on 2 rows.
	if r := rs[3]; r.StepsPerEpoch != 10 || r.ValRows != 2 {
		t.Errorf("batch 128, 10 steps: %d steps per epoch, %d validation rows; want 10 and 2", r.StepsPerEpoch, r.ValRows)
	}
}

func TestBenchFlowsNSF(t *testing.T) {
	code, stdout, stderr := runCmd(t, "bench", "flows", "-estimator", "nsf", "-dim", "2", "-context", "1",
		"-hidden", "8", "-transforms", "1", "-batch", "8", "-steps", "2", "-points", "100")
	if code != 0 {
		t.Fatalf("exit status %d, stderr:\n%s", code, stderr)
	}
	var r benchFlowsResult
	decodeStrict(t, stdout, &r)
	if r.Estimator != "nsf" || r.Parameters <= 0 || !(r.SampleSeconds > 0) {
		t.Errorf("got estimator %q, %d parameters, sample seconds %v", r.Estimator, r.Parameters, r.SampleSeconds)
	}
}

func TestBenchNPE(t *testing.T) {
	code, stdout, stderr := runCmd(t, "bench", "npe", "-task", "two_moons", "-simulations", "300",
		"-max-epochs", "2", "-num-samples", "100", "-seed", "2")
	if code != 0 {
		t.Fatalf("exit status %d, stderr:\n%s", code, stderr)
	}
	if stderr != "" {
		t.Errorf("bench npe wrote to stderr (it must be silent):\n%s", stderr)
	}
	var r benchNPEResult
	decodeStrict(t, stdout, &r)
	if r.Bench != "npe" || r.Task != "two_moons" || r.Estimator != "maf" || r.Simulations != 300 || r.Seed != 2 ||
		r.NumSamples != 100 || r.Threads != runtime.GOMAXPROCS(0) {
		t.Errorf("echoed settings: got %+v", r)
	}
	// 300 simulations: 270 training rows, one batch of 200 per epoch (the
	// partial batch is dropped, as sbi does).
	if r.Epochs != 2 || r.StepsPerEpoch != 1 {
		t.Errorf("epochs %d with %d steps each, want 2 with 1", r.Epochs, r.StepsPerEpoch)
	}
	if got, want := r.SecondsPerEpoch, r.TrainingSeconds/2; math.Abs(got-want) > 1e-9*want || !(got > 0) {
		t.Errorf("seconds_per_epoch: got %v, want %v", got, want)
	}
	if !(r.SimulationSeconds > 0) || !(r.SamplingSeconds > 0) || !(r.TotalSeconds >= r.TrainingSeconds) {
		t.Errorf("times: simulation %v, sampling %v, total %v, training %v", r.SimulationSeconds, r.SamplingSeconds, r.TotalSeconds, r.TrainingSeconds)
	}
	if math.IsNaN(r.BestValLogProb) || math.IsInf(r.BestValLogProb, 0) || r.BestEpoch < 1 {
		t.Errorf("best validation log-prob %v at epoch %d, want a finite value at epoch >= 1", r.BestValLogProb, r.BestEpoch)
	}
	if !(r.AcceptanceRate > 0 && r.AcceptanceRate <= 1) || len(r.Observation) != 2 {
		t.Errorf("acceptance %v, observation %v", r.AcceptanceRate, r.Observation)
	}
}

func TestBenchUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"bench"}, "flows or npe"},
		{[]string{"bench", "gemm"}, "unknown benchmark"},
		{[]string{"bench", "flows", "-dim", "0"}, "-dim 0"},
		{[]string{"bench", "flows", "-steps", "0"}, "-steps 0"},
		{[]string{"bench", "flows", "-estimator", "realnvp"}, "unknown estimator"},
		{[]string{"bench", "flows", "-threads", "-1"}, "-threads -1"},
		{[]string{"bench", "flows", "-parts", "-1"}, "-parts -1"},
		{[]string{"bench", "flows", "-batch", "8", "-parts", "9"}, "-parts 9"},
		{[]string{"bench", "npe", "-parts", "-1"}, "-parts -1"},
		{[]string{"bench", "flows", "-bogus"}, "bogus"},
		{[]string{"bench", "npe", "-task", "nope"}, "unknown task"},
		{[]string{"bench", "npe", "-simulations", "1"}, "-simulations 1"},
	} {
		code, _, stderr := runCmd(t, tc.args...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%q: got status %d and stderr %q, want 2 and a message containing %q", tc.args, code, stderr, tc.want)
		}
	}
	if code, _, _ := runCmd(t, "bench", "flows", "-h"); code != 0 {
		t.Errorf("bench flows -h: got status %d, want 0", code)
	}
}
