package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gosbi/gosbi/simulators"
	"gonum.org/v1/gonum/mat"
)

// slowSimEnv, when set to a number of milliseconds, turns the test binary
// into an external simulator speaking the line protocol (see TestMain),
// which sleeps that long per simulation: a slow simulator for the
// interrupt tests that needs neither Python nor a shell.
const slowSimEnv = "GOSBI_TEST_SLOWSIM_MS"

func TestMain(m *testing.M) {
	if ms, ok := os.LookupEnv(slowSimEnv); ok {
		slowSim(ms)
		return
	}
	code := m.Run()
	if gosbiBin != "" {
		os.RemoveAll(filepath.Dir(gosbiBin))
	}
	os.Exit(code)
}

// slowSim answers {"theta": [a, b], "seed": s} with x = (a + b, u, a·b),
// u uniform from PCG(s, 0), after sleeping ms milliseconds.
func slowSim(ms string) {
	d, _ := strconv.Atoi(ms)
	in := bufio.NewScanner(os.Stdin)
	out := bufio.NewWriter(os.Stdout)
	for in.Scan() {
		var req struct {
			Theta []float64 `json:"theta"`
			Seed  uint64    `json:"seed"`
		}
		if err := json.Unmarshal(in.Bytes(), &req); err != nil || len(req.Theta) != 2 {
			fmt.Fprintf(out, "{\"error\": %q}\n", fmt.Sprint("bad request: ", err))
			out.Flush()
			continue
		}
		time.Sleep(time.Duration(d) * time.Millisecond)
		u := rand.New(rand.NewPCG(req.Seed, 0)).Float64()
		a, b := req.Theta[0], req.Theta[1]
		x, _ := json.Marshal(map[string][]float64{"x": {a + b, u, a * b}})
		out.Write(x)
		out.WriteByte('\n')
		out.Flush()
	}
	os.Exit(0)
}

var (
	gosbiOnce sync.Once
	gosbiBin  string
	gosbiErr  error
)

// gosbiBinary builds the CLI once per test run into a temporary folder.
func gosbiBinary(t *testing.T) string {
	t.Helper()
	gosbiOnce.Do(func() {
		goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
		if _, err := os.Stat(goBin); err != nil {
			if goBin, err = exec.LookPath("go"); err != nil {
				gosbiErr = err
				return
			}
		}
		dir, err := os.MkdirTemp("", "gosbi-cli-test")
		if err != nil {
			gosbiErr = err
			return
		}
		bin := filepath.Join(dir, "gosbi")
		if out, err := exec.Command(goBin, "build", "-o", bin, ".").CombinedOutput(); err != nil {
			gosbiErr = fmt.Errorf("%v: %s", err, out)
			return
		}
		gosbiBin = bin
	})
	if gosbiErr != nil {
		t.Fatalf("building gosbi: %v", gosbiErr)
	}
	return gosbiBin
}

// gosbiCmd returns the command running the built CLI with args and extra
// environment variables (shard variables of the test's own environment
// removed).
func gosbiCmd(t *testing.T, env []string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(gosbiBinary(t), args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SLURM_ARRAY_TASK_ID=") && !strings.HasPrefix(kv, "JOB_COMPLETION_INDEX=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	return cmd
}

// runGosbi runs the built CLI to completion and returns its exit status
// and output.
func runGosbi(t *testing.T, env []string, args ...string) (int, string, string) {
	t.Helper()
	cmd := gosbiCmd(t, env, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, stdout.String(), stderr.String()
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSimulateShardsAsProcesses runs gaussian_linear's 1,500 simulations
// as 1, 3 and 7 shards in separate processes (the shard index from -shard,
// $SLURM_ARRAY_TASK_ID and $JOB_COMPLETION_INDEX), merges them and checks
// that the merged file is byte-identical to the single run and decodes to
// Simulate's result for the same seed.
func TestSimulateShardsAsProcesses(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const n, seed = 1500, 17
	base := []string{"simulate", "-task", "gaussian_linear", "-n", strconv.Itoa(n), "-seed", strconv.Itoa(seed), "-workers", "1"}
	single := filepath.Join(dir, "single.gsim")
	if code, _, stderr := runGosbi(t, nil, append(base, "-out", single)...); code != 0 {
		t.Fatalf("single run: exit %d: %s", code, stderr)
	}
	want := mustRead(t, single)
	for _, tc := range []struct {
		k   int
		env string // the variable giving the shard index, or "" for -shard
	}{{1, ""}, {3, "SLURM_ARRAY_TASK_ID"}, {7, "JOB_COMPLETION_INDEX"}} {
		var files []string
		var procs []*exec.Cmd
		var outs []*bytes.Buffer
		for i := range tc.k {
			f := filepath.Join(dir, fmt.Sprintf("k%d_s%d.gsim", tc.k, i))
			files = append(files, f)
			args := append(slices.Clone(base), "-out", f, "-shards", strconv.Itoa(tc.k))
			var env []string
			if tc.env == "" {
				args = append(args, "-shard", strconv.Itoa(i))
			} else {
				env = []string{fmt.Sprintf("%s=%d", tc.env, i)}
			}
			cmd := gosbiCmd(t, env, args...)
			var buf bytes.Buffer
			cmd.Stdout, cmd.Stderr = &buf, &buf
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			procs, outs = append(procs, cmd), append(outs, &buf)
		}
		for i, p := range procs {
			if err := p.Wait(); err != nil {
				t.Fatalf("k=%d shard %d: %v: %s", tc.k, i, err, outs[i])
			}
		}
		merged := filepath.Join(dir, fmt.Sprintf("k%d.gsim", tc.k))
		if code, _, stderr := runGosbi(t, nil, append([]string{"merge", "-out", merged}, files...)...); code != 0 {
			t.Fatalf("k=%d merge: exit %d: %s", tc.k, code, stderr)
		}
		if got := mustRead(t, merged); !bytes.Equal(got, want) {
			t.Errorf("k=%d: merged file (%d bytes) differs from the single run (%d bytes)", tc.k, len(got), len(want))
		}
	}

	task, err := simulators.NewTask("gaussian_linear", "")
	if err != nil {
		t.Fatal(err)
	}
	ref, err := simulators.Simulate(context.Background(), task.Simulator, task.Prior, n, simulators.RunRNG(seed), nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := simulators.OpenStore(single)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Data.Theta.RawMatrix().Data, ref.Data.Theta.RawMatrix().Data) ||
		!slices.Equal(got.Data.X.RawMatrix().Data, ref.Data.X.RawMatrix().Data) || !slices.Equal(got.Status, ref.Status) {
		t.Error("the file's data differ from simulators.Simulate with RunRNG(seed)")
	}
}

// waitForSize waits until path holds at least size bytes.
func waitForSize(t *testing.T, path string, size int64, done <-chan struct{}) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if st, err := os.Stat(path); err == nil && st.Size() >= size {
			return
		}
		select {
		case <-done:
			t.Fatalf("the process ended before %s reached %d bytes", path, size)
		case <-time.After(5 * time.Millisecond):
		}
	}
	t.Fatalf("%s did not reach %d bytes in 30 s", path, size)
}

// TestSimulateInterruptAndResume interrupts `gosbi simulate -command` with
// a slow external simulator (SIGINT, then SIGKILL), resumes it, also from
// a copy with a torn last record, and checks every result against an
// uninterrupted run, byte for byte.
func TestSimulateInterruptAndResume(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	prior := filepath.Join(dir, "prior.json")
	if err := os.WriteFile(prior, []byte(`{"parameters": [{"name": "a", "dist": "uniform", "low": -1, "high": 1},
		{"name": "b", "dist": "normal", "mean": 0, "std": 2}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// 1,000 simulations of 1 ms in 10 chunks, 2 workers: about 0.5 s.
	env := []string{slowSimEnv + "=1"}
	args := func(out string) []string {
		return []string{"simulate", "-command", "'" + self + "'", "-prior", prior, "-x-dim", "3",
			"-n", "1000", "-seed", "5", "-workers", "2", "-out", out}
	}
	ref := filepath.Join(dir, "ref.gsim")
	if code, _, stderr := runGosbi(t, env, args(ref)...); code != 0 {
		t.Fatalf("uninterrupted run: exit %d: %s", code, stderr)
	}
	want := mustRead(t, ref)
	// The record of a full chunk: length, index, 100·(2+3) float64, 100
	// statuses, CRC.
	// A partial file's header says "complete":false, one byte longer than
	// the complete file's "complete":true.
	const rec = 4 + 8 + 100*5*8 + 100 + 4
	hdr := int64(len(want)) - 10*rec + 1

	path := filepath.Join(dir, "run.gsim")
	interrupt := func(sig os.Signal, size int64) string {
		t.Helper()
		cmd := gosbiCmd(t, env, args(path)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		waitForSize(t, path, size, done)
		cmd.Process.Signal(sig)
		<-done
		if cmd.ProcessState.Success() {
			t.Fatalf("%v: the run succeeded, want it interrupted", sig)
		}
		if sig == os.Interrupt && cmd.ProcessState.ExitCode() != 1 {
			t.Errorf("SIGINT: exit status %d, want 1", cmd.ProcessState.ExitCode())
		}
		return stderr.String()
	}
	stderr := interrupt(os.Interrupt, hdr+2*rec)
	if !strings.Contains(stderr, "rerun the same command to resume") {
		t.Errorf("SIGINT: stderr lacks the resume hint:\n%s", stderr)
	}
	if st, _ := os.Stat(path); st.Size() >= int64(len(want)) || (st.Size()-hdr)%rec != 0 {
		t.Fatalf("after SIGINT the file has %d bytes, want whole records only, fewer than %d", st.Size(), len(want))
	}
	interrupt(syscall.SIGKILL, hdr+4*rec)
	st, _ := os.Stat(path)
	if st.Size() >= int64(len(want)) {
		t.Fatalf("after SIGKILL the file has %d bytes, want fewer than %d", st.Size(), len(want))
	}
	killed := mustRead(t, path)

	// A torn copy: cut in the middle of the last whole record.
	torn := filepath.Join(dir, "torn.gsim")
	cut := hdr + (int64(len(killed))-hdr)/rec*rec - rec/3
	if err := os.WriteFile(torn, killed[:cut], 0o644); err != nil {
		t.Fatal(err)
	}

	code, stdout, stderr := runGosbi(t, env, args(path)...)
	if code != 0 {
		t.Fatalf("resume after SIGKILL: exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "already in") || strings.Contains(stdout, "(0 already in") {
		t.Errorf("resume did not reuse the chunks present:\n%s", stdout)
	}
	if !bytes.Equal(mustRead(t, path), want) {
		t.Error("resumed file differs from the uninterrupted run")
	}

	code, _, stderr = runGosbi(t, env, args(torn)...)
	if code != 0 {
		t.Fatalf("resume of the torn file: exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "cut off") || !strings.Contains(stderr, "torn record") {
		t.Errorf("resume of a torn file does not say what it cut off:\n%s", stderr)
	}
	if !bytes.Equal(mustRead(t, torn), want) {
		t.Error("file resumed from a torn tail differs from the uninterrupted run")
	}
}

// simulateInProcess runs `gosbi simulate` in-process and fails the test on
// a non-zero exit.
func simulateInProcess(t *testing.T, args ...string) {
	t.Helper()
	if code, _, stderr := runCmd(t, append([]string{"simulate"}, args...)...); code != 0 {
		t.Fatalf("simulate %v: exit %d: %s", args, code, stderr)
	}
}

func TestMergeCLIErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }
	for i := range 3 {
		simulateInProcess(t, "-task", "two_moons", "-n", "1000", "-seed", "2", "-shard", strconv.Itoa(i), "-shards", "3", "-out", p(fmt.Sprintf("s%d.gsim", i)))
	}
	simulateInProcess(t, "-task", "two_moons", "-n", "1000", "-seed", "3", "-shard", "1", "-shards", "3", "-out", p("seed3.gsim"))
	b := mustRead(t, p("s1.gsim"))
	b[len(b)-50] ^= 1
	if err := os.WriteFile(p("bad.gsim"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"missing", []string{p("s0.gsim"), p("s2.gsim")}, []string{"3 of 10 chunks missing: 1, 4, 7", "no file for shard 1 of 3"}},
		{"duplicate", []string{p("s0.gsim"), p("s1.gsim"), p("s1.gsim"), p("s2.gsim")}, []string{"chunks 1, 4, 7 are in both", "s1.gsim"}},
		{"mismatch", []string{p("s0.gsim"), p("seed3.gsim"), p("s2.gsim")}, []string{"seed is 2 and 3"}},
		{"corrupt", []string{p("s0.gsim"), p("bad.gsim"), p("s2.gsim")}, []string{"bad.gsim: offset", "checksum mismatch"}},
		{"absent file", []string{p("s0.gsim"), p("nope.gsim")}, []string{"nope.gsim"}},
		{"no inputs", nil, []string{"no shard files"}},
	} {
		code, _, stderr := runCmd(t, append([]string{"merge", "-out", p("out.gsim")}, tc.args...)...)
		if code != 2 {
			t.Errorf("%s: exit %d, want 2 (stderr %s)", tc.name, code, stderr)
		}
		for _, w := range tc.want {
			if !strings.Contains(stderr, w) {
				t.Errorf("%s: stderr %q lacks %q", tc.name, stderr, w)
			}
		}
	}
	// Flags after the files are accepted too.
	if code, stdout, stderr := runCmd(t, "merge", p("s0.gsim"), p("s1.gsim"), p("s2.gsim"), "-out", p("out.gsim")); code != 0 || !strings.Contains(stdout, "10 chunks") {
		t.Errorf("merge with -out last: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

// TestSimulateUsageErrors checks the command line checks, exit status 2,
// including the shard index from the environment.
func TestSimulateUsageErrors(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "o.gsim")
	prior := filepath.Join(dir, "prior.json")
	if err := os.WriteFile(prior, []byte(`{"parameters": [{"dist": "uniform", "low": 1, "high": 0}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	simulateInProcess(t, "-task", "two_moons", "-n", "300", "-seed", "1", "-out", out)
	base := []string{"simulate", "-task", "two_moons", "-n", "300", "-out", filepath.Join(dir, "new.gsim")}
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"no simulator", nil, []string{"simulate", "-n", "10", "-out", out}, "exactly one of -task and -command"},
		{"both", nil, append(slices.Clone(base), "-command", "true"), "exactly one of -task and -command"},
		{"n", nil, []string{"simulate", "-task", "two_moons", "-n", "0", "-out", out}, "-n 0"},
		{"no out", nil, []string{"simulate", "-task", "two_moons", "-n", "10"}, "-out FILE is required"},
		{"shard without shards", nil, append(slices.Clone(base), "-shard", "1"), "needs -shards K"},
		{"shards without shard", nil, append(slices.Clone(base), "-shards", "3"), "needs -shard I"},
		{"shard out of range", nil, append(slices.Clone(base), "-shard", "3", "-shards", "3"), "outside 0..2"},
		{"slurm without shards", map[string]string{"SLURM_ARRAY_TASK_ID": "2"}, base, "$SLURM_ARRAY_TASK_ID = 2 needs -shards K"},
		{"slurm out of range", map[string]string{"SLURM_ARRAY_TASK_ID": "4"}, append(slices.Clone(base), "-shards", "4"), "$SLURM_ARRAY_TASK_ID = 4 outside 0..3"},
		{"k8s not a number", map[string]string{"JOB_COMPLETION_INDEX": "x"}, append(slices.Clone(base), "-shards", "4"), "not a shard index"},
		{"prior with task", nil, append(slices.Clone(base), "-prior", prior), "go with -command"},
		{"command without prior", nil, []string{"simulate", "-command", "true", "-x-dim", "2", "-n", "10", "-out", out}, "needs -prior"},
		{"bad prior", nil, []string{"simulate", "-command", "true", "-prior", prior, "-x-dim", "2", "-n", "10", "-out", out}, "low = 1 >= high = 0"},
		{"unterminated quote", nil, []string{"simulate", "-command", "python3 'sim.py", "-prior", prior, "-x-dim", "2", "-n", "10", "-out", out}, "unterminated"},
		{"unknown task", nil, []string{"simulate", "-task", "nope", "-n", "10", "-out", out}, "unknown task"},
		{"other seed on existing file", nil, []string{"simulate", "-task", "two_moons", "-n", "300", "-seed", "2", "-out", out}, "seed is 1 in the file, 2 now"},
		{"other n on existing file", nil, []string{"simulate", "-task", "two_moons", "-n", "400", "-seed", "1", "-out", out}, "n is 300 in the file, 400 now"},
		{"not a simulation file", nil, []string{"simulate", "-task", "two_moons", "-n", "10", "-out", prior}, "not a gosbi simulation file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			code, _, stderr := runCmd(t, tc.args...)
			if code != 2 || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, stderr, tc.want)
			}
		})
	}
	// The environment gives the shard when -shards is set.
	t.Setenv("JOB_COMPLETION_INDEX", "1")
	t.Setenv("SLURM_ARRAY_TASK_ID", "")
	sh := filepath.Join(dir, "k8s.gsim")
	simulateInProcess(t, "-task", "two_moons", "-n", "300", "-seed", "1", "-shards", "2", "-out", sh)
	r, err := simulators.OpenStore(sh)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if h := r.Header(); h.Shard != 1 || h.Shards != 2 || !slices.Equal(r.Chunks(), []int{1}) {
		t.Errorf("shard from $JOB_COMPLETION_INDEX: header shard %d of %d, chunks %v; want 1 of 2, [1]", h.Shard, h.Shards, r.Chunks())
	}
}

func TestSplitCommand(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"python3 sim.py", []string{"python3", "sim.py"}},
		{"  python3   'my sim.py' -v ", []string{"python3", "my sim.py", "-v"}},
		{`a "b \"c\" d" e\ f`, []string{"a", `b "c" d`, "e f"}},
		{`x''`, []string{"x"}},
		{`''`, []string{""}},
	} {
		got, err := splitCommand(tc.in)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("splitCommand(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "   ", "a 'b", `a "b`} {
		if _, err := splitCommand(bad); err == nil {
			t.Errorf("splitCommand(%q): no error", bad)
		}
	}
}

func TestExport(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	f := filepath.Join(dir, "run.gsim")
	simulateInProcess(t, "-task", "two_moons", "-n", "250", "-seed", "8", "-out", f)
	code, stdout, stderr := runCmd(t, "export", "-in", f, "-theta", filepath.Join(dir, "theta.npy"), "-x", filepath.Join(dir, "x.csv"))
	if code != 0 {
		t.Fatalf("export: exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "wrote 250 of 250") {
		t.Errorf("stdout %q", stdout)
	}
	d, err := simulators.LoadNPY(filepath.Join(dir, "theta.npy"), filepath.Join(dir, "theta.npy"))
	if err != nil {
		t.Fatal(err)
	}
	x, names, err := simulators.ReadCSV(filepath.Join(dir, "x.csv"))
	if err != nil {
		t.Fatal(err)
	}
	task, _ := simulators.NewTask("two_moons", "")
	ref, err := simulators.Simulate(context.Background(), task.Simulator, task.Prior, 250, simulators.RunRNG(8), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(d.Theta.RawMatrix().Data, ref.Data.Theta.RawMatrix().Data) {
		t.Error("exported θ differs from Simulate's")
	}
	// CSV keeps 17 significant digits at least: exact round trip.
	for i, v := range x.RawMatrix().Data {
		if w := ref.Data.X.RawMatrix().Data[i]; v != w && !(math.IsNaN(v) && math.IsNaN(w)) {
			t.Fatalf("exported x[%d] = %v, want %v", i, v, w)
		}
	}
	if !slices.Equal(names, task.XNames) {
		t.Errorf("CSV header %v, want %v", names, task.XNames)
	}
	// A shard file is not a dataset yet.
	sh := filepath.Join(dir, "shard.gsim")
	simulateInProcess(t, "-task", "two_moons", "-n", "250", "-seed", "8", "-shard", "0", "-shards", "2", "-out", sh)
	if code, _, stderr := runCmd(t, "export", "-in", sh, "-theta", filepath.Join(dir, "t.npy"), "-x", filepath.Join(dir, "x.npy")); code != 2 || !strings.Contains(stderr, "merge the shards first") {
		t.Errorf("export of a shard: exit %d, stderr %q; want 2 and a hint to merge", code, stderr)
	}
}

// TestSBCTestData runs sbc on test pairs from a merged simulation file and
// checks the flag's errors.
func TestSBCTestData(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }
	for i := range 2 {
		simulateInProcess(t, "-task", "two_moons", "-n", "150", "-seed", "4", "-shard", strconv.Itoa(i), "-shards", "2", "-out", p(fmt.Sprintf("t%d.gsim", i)))
	}
	if code, _, stderr := runCmd(t, "merge", "-out", p("tests.gsim"), p("t0.gsim"), p("t1.gsim")); code != 0 {
		t.Fatalf("merge: exit %d: %s", code, stderr)
	}
	out := p("sbc")
	code, stdout, stderr := runCmd(t, "sbc", "-task", "two_moons", "-simulations", "300", "-max-epochs", "2",
		"-num-samples", "30", "-seed", "4", "-out", out, "-test-data", p("tests.gsim"))
	if code != 0 {
		t.Fatalf("sbc -test-data: exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "150 read from") {
		t.Errorf("stderr does not report the test file:\n%s", stderr)
	}
	var s sbcSummary
	if err := json.Unmarshal(mustRead(t, filepath.Join(out, "sbc.json")), &s); err != nil {
		t.Fatal(err)
	}
	if s.Tests+s.DroppedTests != 150 || s.TestData != p("tests.gsim") {
		t.Errorf("summary: %d tests + %d dropped from %q; want 150 from %q (stdout %s)", s.Tests, s.DroppedTests, s.TestData, p("tests.gsim"), stdout)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-task", "gaussian_mixture", "-test-data", p("tests.gsim")}, "not of task gaussian_mixture"},
		{[]string{"-task", "two_moons", "-tests", "20", "-test-data", p("tests.gsim")}, "holds 150 simulations"},
		{[]string{"-task", "two_moons", "-test-data", p("t0.gsim")}, "merge the shards first"},
	} {
		code, _, stderr := runCmd(t, append(append([]string{"sbc"}, tc.args...), "-out", p("x"))...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("sbc %v: exit %d, stderr %q; want 2 and %q", tc.args, code, stderr, tc.want)
		}
	}
}

// TestSimulateBrokenCommandWritesNothing checks that a command whose every
// simulation fails (here: it returns 3 values, -x-dim says 2) stops the run
// before anything is written, unless -allow-failed.
func TestSimulateBrokenCommandWritesNothing(t *testing.T) {
	t.Setenv(slowSimEnv, "0") // the children of the in-process CLI serve as simulators
	dir := t.TempDir()
	prior := filepath.Join(dir, "prior.json")
	if err := os.WriteFile(prior, []byte(`{"parameters": [{"dist": "uniform", "low": 0, "high": 1}, {"dist": "uniform", "low": 0, "high": 1}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "broken.gsim")
	args := []string{"simulate", "-command", "'" + self + "'", "-prior", prior, "-x-dim", "2", "-n", "300", "-workers", "1", "-out", out}
	code, _, stderr := runCmd(t, args...)
	if code != 1 || !strings.Contains(stderr, "failed a test simulation") || !strings.Contains(stderr, "response has 3 values, want 2") {
		t.Errorf("exit %d, stderr %q; want 1, the reason and the error", code, stderr)
	}
	r, err := simulators.OpenStore(out)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(r.Chunks()); n != 0 {
		t.Errorf("%d chunks written, want none", n)
	}
	r.Close()
	code, stdout, stderr := runCmd(t, append(args, "-allow-failed")...)
	if code != 0 || !strings.Contains(stdout, "complete run of 300") {
		t.Errorf("-allow-failed: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

func TestGuardFailures(t *testing.T) {
	t.Parallel()
	w, err := simulators.OpenStoreWriter(filepath.Join(t.TempDir(), "g.gsim"), simulators.StoreHeader{Task: "t", N: 300, ThetaDim: 1, XDim: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	chunk := func(c int, failed bool) *simulators.Chunk {
		st := make([]simulators.Status, 100)
		for i := range st {
			st[i] = simulators.StatusFailed
		}
		if !failed {
			st[7] = simulators.StatusOK
		}
		return &simulators.Chunk{Index: c, Start: 100 * c, Theta: mat.NewDense(100, 1, nil), X: mat.NewDense(100, 1, nil), Status: st}
	}
	guard := guardFailures(context.Background(), w, false)
	if err := guard(chunk(0, true)); !errors.Is(err, errAllFailed) {
		t.Errorf("all failed first: got %v, want errAllFailed", err)
	}
	if err := guard(chunk(1, false)); err != nil {
		t.Fatal(err)
	}
	if err := guard(chunk(0, true)); err != nil {
		t.Errorf("all failed after a success: %v", err)
	}
	if w.Len() != 2 {
		t.Errorf("%d chunks written, want 2", w.Len())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := guardFailures(ctx, w, true)(chunk(2, false)); err == nil || w.Len() != 2 {
		t.Errorf("after cancel: got %v and %d chunks, want an error and 2", err, w.Len())
	}
}
