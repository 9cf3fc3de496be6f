package simulators

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gosbi/gosbi/dist"
	"gonum.org/v1/gonum/mat"
)

var (
	protosimOnce sync.Once
	protosimPath string
	protosimErr  error
)

// protosim builds testdata/protosim (once per test binary) into a temporary
// directory and returns the path of the executable.
func protosim(t testing.TB) string {
	t.Helper()
	protosimOnce.Do(func() {
		goBin, err := exec.LookPath("go")
		if err != nil {
			protosimErr = err
			return
		}
		dir, err := os.MkdirTemp("", "protosim")
		if err != nil {
			protosimErr = err
			return
		}
		protosimPath = filepath.Join(dir, "protosim")
		out, err := exec.Command(goBin, "build", "-o", protosimPath, "./testdata/protosim").CombinedOutput()
		if err != nil {
			protosimErr = errors.New(string(out))
		}
	})
	if protosimErr != nil {
		if errors.Is(protosimErr, exec.ErrNotFound) {
			t.Skip("go command not found; cannot build testdata/protosim")
		}
		t.Fatalf("building testdata/protosim: %v", protosimErr)
	}
	return protosimPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if protosimPath != "" {
		os.RemoveAll(filepath.Dir(protosimPath))
	}
	os.Exit(code)
}

func newProtosim(t testing.TB, s *CommandSettings, args ...string) *Command {
	t.Helper()
	c, err := NewCommand(2, 2, protosim(t), args, s)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestCommandRun(t *testing.T) {
	c := newProtosim(t, nil)
	rng := rand.New(rand.NewPCG(11, 12))
	seed := rand.New(rand.NewPCG(11, 12)).Uint64() >> 33
	x, err := c.Run(context.Background(), nil, []float64{0.25, 1e-300}, rng)
	if err != nil {
		t.Fatal(err)
	}
	// protosim answers (a+b, u) with u the first Float64 of PCG(seed, 0);
	// matching it bit for bit shows θ, seed and x crossed the pipe exactly.
	wantU := rand.New(rand.NewPCG(seed, 0)).Float64()
	if x[0] != 0.25+1e-300 || x[1] != wantU {
		t.Errorf("got x = %v, want [%v %v]", x, 0.25+1e-300, wantU)
	}
	// The output goes into dst when given.
	dst := make([]float64, 2)
	got, err := c.Run(context.Background(), dst, []float64{1, 2}, rng)
	if err != nil || &got[0] != &dst[0] || dst[0] != 3 {
		t.Errorf("got %v, %v with dst %v, want x written into dst", got, err, dst)
	}
}

func TestCommandFaults(t *testing.T) {
	c := newProtosim(t, &CommandSettings{Timeout: 300 * time.Millisecond})
	// Rows: a = -1 crash, -2 hang, -3 error message, -4 garbage, -5 NaN,
	// anything else fine. 40 rows, 5 faults.
	faults := map[int]float64{3: -1, 11: -2, 17: -3, 25: -4, 31: -5}
	theta := mat.NewDense(40, 2, nil)
	for i := range 40 {
		a := float64(i)
		if f, ok := faults[i]; ok {
			a = f
		}
		theta.Set(i, 0, a)
		theta.Set(i, 1, 0.5)
	}
	for _, w := range []int{1, 3} {
		res, err := SimulateAt(context.Background(), c, theta, rand.New(rand.NewPCG(1, 1)), &Settings{Workers: w})
		if err != nil {
			t.Fatal(err)
		}
		r := res.Report
		if r.Done != 40 || r.OK != 35 || r.Invalid != 1 || r.Failed != 4 {
			t.Fatalf("workers %d: got %v, want 35 ok, 1 invalid, 4 failed", w, r)
		}
		want := []struct {
			idx  int
			kind error
			text []string
		}{
			{3, ErrCrashed, []string{"exit status 3", "segfault imminent"}},
			{11, ErrTimeout, []string{"no response within 300ms"}},
			{17, ErrProgram, []string{"theta out of range"}},
			{25, ErrProtocol, []string{"hello, world"}},
		}
		for k, e := range r.Errors {
			if e.Index != want[k].idx || !errors.Is(e, want[k].kind) {
				t.Errorf("workers %d: error %d = %v, want index %d wrapping %v", w, k, e, want[k].idx, want[k].kind)
			}
			for _, s := range want[k].text {
				if !strings.Contains(e.Error(), s) {
					t.Errorf("workers %d: error %q does not contain %q", w, e, s)
				}
			}
		}
		if x := res.Data.X.RawRowView(31); !math.IsNaN(x[0]) || !math.IsInf(x[1], 1) || res.Status[31] != StatusInvalid {
			t.Errorf("workers %d: row 31 = %v (%v), want [NaN +Inf] invalid", w, x, res.Status[31])
		}
		// Nothing else lost: every good row is a + 0.5.
		for i := range 40 {
			if _, bad := faults[i]; bad {
				continue
			}
			if got := res.Data.X.At(i, 0); got != float64(i)+0.5 || res.Status[i] != StatusOK {
				t.Errorf("workers %d: row %d: x0 = %v (%v), want %v ok", w, i, got, res.Status[i], float64(i)+0.5)
			}
		}
	}
}

// TestCommandCrashMidRun runs a program that dies on its 6th request: with
// one worker, simulations 5, 11, 17 fail (each hits a fresh process's 6th
// request) and all others succeed on restarted processes.
func TestCommandCrashMidRun(t *testing.T) {
	c := newProtosim(t, nil, "-crash-after", "5")
	theta := mat.NewDense(20, 2, nil)
	res, err := SimulateAt(context.Background(), c, theta, rand.New(rand.NewPCG(1, 1)), &Settings{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	var failed []int
	for i, s := range res.Status {
		if s == StatusFailed {
			failed = append(failed, i)
		}
	}
	if len(failed) != 3 || failed[0] != 5 || failed[1] != 11 || failed[2] != 17 {
		t.Fatalf("got failed simulations %v, want [5 11 17]", failed)
	}
	for _, e := range res.Report.Errors {
		if !errors.Is(e, ErrCrashed) || !strings.Contains(e.Error(), "crashing on request 6") {
			t.Errorf("got %v, want ErrCrashed with the program's stderr", e)
		}
	}
}

// TestCommandReproducible checks that an external simulator seeded by the
// protocol gives bit-identical datasets whatever the number of workers.
func TestCommandReproducible(t *testing.T) {
	c := newProtosim(t, nil)
	var ref *Result
	for _, w := range []int{1, 2, 7} {
		res, err := Simulate(context.Background(), c, box(t, 2, -1, 1), 230, rand.New(rand.NewPCG(2, 2)), &Settings{Workers: w})
		if err != nil {
			t.Fatal(err)
		}
		if res.Report.OK != 230 {
			t.Fatalf("workers %d: %v", w, res.Report)
		}
		if ref != nil && (!sameBits(ref.Data.X, res.Data.X) || !sameBits(ref.Data.Theta, res.Data.Theta)) {
			t.Errorf("workers %d: data differs from 1 worker", w)
		}
		ref = res
	}
}

func TestCommandContextAndClose(t *testing.T) {
	c := newProtosim(t, &CommandSettings{Timeout: -1})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Run(ctx, nil, []float64{-2, 0}, rand.New(rand.NewPCG(1, 1)))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("hang with cancelled context: got %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Run took %v to notice the context", d)
	}
	// A healthy call after the killed process starts a new one.
	if _, err := c.Run(context.Background(), nil, []float64{1, 1}, rand.New(rand.NewPCG(1, 1))); err != nil {
		t.Errorf("after a killed process: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Run(context.Background(), nil, []float64{1, 1}, rand.New(rand.NewPCG(1, 1))); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: got %v, want ErrClosed", err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestCommandInputErrors(t *testing.T) {
	if _, err := NewCommand(0, 1, "true", nil, nil); !errors.Is(err, ErrInput) {
		t.Errorf("zero θ dimension: got %v, want ErrInput", err)
	}
	if _, err := NewCommand(1, 1, "no-such-program-gosbi", nil, nil); !errors.Is(err, exec.ErrNotFound) {
		t.Errorf("missing program: got %v, want exec.ErrNotFound", err)
	}
	c := newProtosim(t, nil)
	rng := rand.New(rand.NewPCG(1, 1))
	if _, err := c.Run(context.Background(), nil, []float64{math.NaN(), 0}, rng); !errors.Is(err, ErrInput) {
		t.Errorf("NaN θ: got %v, want ErrInput", err)
	}
	if _, err := c.Run(context.Background(), nil, []float64{1}, rng); !errors.Is(err, ErrShape) {
		t.Errorf("short θ: got %v, want ErrShape", err)
	}
	if _, err := c.Run(context.Background(), make([]float64, 3), []float64{1, 2}, rng); !errors.Is(err, ErrShape) {
		t.Errorf("long dst: got %v, want ErrShape", err)
	}
	wrongX, err := NewCommand(2, 3, protosim(t), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer wrongX.Close()
	if _, err := wrongX.Run(context.Background(), nil, []float64{1, 2}, rng); !errors.Is(err, ErrShape) {
		t.Errorf("response of 2 values for xDim 3: got %v, want ErrShape", err)
	}
}

func TestParseResponse(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	tests := []struct {
		line    string
		x       []float64
		msg     string
		wantErr bool
	}{
		{`{"x": [1, 2.5e-3, -4]}`, []float64{1, 2.5e-3, -4}, "", false},
		{`{"x":[NaN,Infinity,-Infinity,null]}` + "\n", []float64{nan, inf, -inf, nan}, "", false},
		{`{"x": [1e999]}`, []float64{inf}, "", false},
		{`{"error": "bad NaN Infinity \"quoted\" here"}`, nil, `bad NaN Infinity "quoted" here`, false},
		{`{"x": []}`, []float64{}, "", false},
		{`{"x": [1], "error": "both"}`, nil, "", true},
		{`{}`, nil, "", true},
		{`{"y": [1]}`, nil, "", true},
		{`{"x": [1], "seconds": 0.25}`, []float64{1}, "", false},
		{`[1, 2]`, nil, "", true},
		{`{"x": ["abc"]}`, nil, "", true},
		{`{"x": [1]} {"x": [2]}`, nil, "", true},
		{`not json`, nil, "", true},
	}
	for _, tc := range tests {
		x, msg, err := parseResponse([]byte(tc.line))
		if (err != nil) != tc.wantErr {
			t.Errorf("%s: got error %v, want error %v", tc.line, err, tc.wantErr)
			continue
		}
		if tc.wantErr {
			continue
		}
		if (msg != nil) != (tc.msg != "") || (msg != nil && *msg != tc.msg) {
			t.Errorf("%s: got message %v, want %q", tc.line, msg, tc.msg)
		}
		if len(x) != len(tc.x) {
			t.Errorf("%s: got x %v, want %v", tc.line, x, tc.x)
			continue
		}
		for i := range x {
			if math.Float64bits(x[i]) != math.Float64bits(tc.x[i]) && !(math.IsNaN(x[i]) && math.IsNaN(tc.x[i])) {
				t.Errorf("%s: x[%d] = %v, want %v", tc.line, i, x[i], tc.x[i])
			}
		}
	}
}

// TestPythonExample runs the Python example of the package documentation
// through the protocol, so the documented example is known to work.
func TestPythonExample(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not found")
	}
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	// The example is the indented block after "# An external simulator in Python".
	text := string(doc)
	i := strings.Index(text, "//\timport json")
	if i < 0 {
		t.Fatal("doc.go: Python example not found")
	}
	var lines []string
	for _, l := range strings.Split(text[i:], "\n") {
		if !strings.HasPrefix(l, "//\t") && l != "//" {
			break
		}
		lines = append(lines, strings.TrimPrefix(strings.TrimPrefix(l, "//"), "\t"))
	}
	script := filepath.Join(t.TempDir(), "sim.py")
	if err := os.WriteFile(script, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := NewCommand(2, 2, py, []string{script}, &CommandSettings{Timeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	theta := mat.NewDense(200, 2, nil)
	for i := range 200 {
		theta.Set(i, 0, 1)
		theta.Set(i, 1, -2)
	}
	res, err := SimulateAt(context.Background(), c, theta, rand.New(rand.NewPCG(1, 1)), &Settings{Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	if res.Report.OK != 200 {
		t.Fatalf("got %v (errors %v), want 200 ok", res.Report, res.Report.Errors)
	}
	// The example adds N(0, 0.1²) noise: the mean of 200 draws is within
	// 5 standard errors (5·0.1/√200 ≈ 0.035) of θ.
	for j, want := range []float64{1, -2} {
		var s float64
		for i := range 200 {
			s += res.Data.X.At(i, j)
		}
		if m := s / 200; math.Abs(m-want) > 5*0.1/math.Sqrt(200) {
			t.Errorf("mean of x[%d] = %v, want %v ± 0.035", j, m, want)
		}
	}
	// Same seed, same answer: the example draws all randomness from the seed.
	again, err := SimulateAt(context.Background(), c, theta, rand.New(rand.NewPCG(1, 1)), &Settings{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	if !sameBits(again.Data.X, res.Data.X) {
		t.Error("the Python example is not reproducible from the protocol's seed")
	}
}

// BenchmarkCommandOverhead measures one simulation through the external
// process protocol (JSON over pipes, a trivial program): the overhead per
// simulation of Command compared with an in-process simulator.
func BenchmarkCommandOverhead(b *testing.B) {
	b.ReportAllocs()
	c := newProtosim(b, nil)
	rng := rand.New(rand.NewPCG(1, 1))
	theta, dst := []float64{0.5, 0.25}, make([]float64, 2)
	for b.Loop() {
		if _, err := c.Run(context.Background(), dst, theta, rng); err != nil {
			b.Fatal(err)
		}
	}
}

// This example is compiled but not run: it needs python3 and a sim.py like
// the one in the package documentation (TestPythonExample runs that one).
func ExampleNewCommand() {
	sim, err := NewCommand(2, 2, "python3", []string{"sim.py"}, &CommandSettings{Timeout: 10 * time.Second})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer sim.Close()
	prior, err := dist.NewBoxUniform([]float64{-1, -1}, []float64{1, 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := Simulate(context.Background(), sim, prior, 1000, rand.New(rand.NewPCG(1, 2)), &Settings{Workers: 4})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.Report)
	for _, e := range res.Report.Errors {
		fmt.Println(e) // which simulation failed, at which θ, and the program's stderr
	}
}
