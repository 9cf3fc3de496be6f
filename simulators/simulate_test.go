package simulators

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gosbi/gosbi/dist"
	"gonum.org/v1/gonum/mat"
)

// noisy is a 2→3 simulator using its rng: x = (θ1 + ε1, θ2·ε2, ε1·ε2).
var noisy = SimulatorFunc{ThetaDim: 2, XDim: 3, F: func(_ context.Context, dst, theta []float64, rng *rand.Rand) ([]float64, error) {
	dst = orNew(dst, 3)
	e1, e2 := rng.NormFloat64(), rng.NormFloat64()
	dst[0], dst[1], dst[2] = theta[0]+e1, theta[1]*e2, e1*e2
	return dst, nil
}}

// faulty fails according to θ1: values near 1 return an error, near 2
// panic, near 3 return NaN; otherwise x = 2θ exactly.
var faulty = SimulatorFunc{ThetaDim: 2, XDim: 2, F: func(_ context.Context, dst, theta []float64, _ *rand.Rand) ([]float64, error) {
	switch math.Round(theta[0]) {
	case 1:
		return nil, errors.New("no convergence")
	case 2:
		var m map[string]int
		m["boom"]++ // a genuine runtime panic
	case 3:
		return []float64{math.NaN(), 1}, nil
	}
	dst = orNew(dst, 2)
	dst[0], dst[1] = 2*theta[0], 2*theta[1]
	return dst, nil
}}

func box(t testing.TB, d int, lo, hi float64) *dist.BoxUniform {
	t.Helper()
	l, h := make([]float64, d), make([]float64, d)
	for i := range l {
		l[i], h[i] = lo, hi
	}
	b, err := dist.NewBoxUniform(l, h)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sameBits(a, b *mat.Dense) bool {
	ar, ac := a.Dims()
	br, bc := b.Dims()
	if ar != br || ac != bc {
		return false
	}
	for i := range ar {
		for j := range ac {
			if math.Float64bits(a.At(i, j)) != math.Float64bits(b.At(i, j)) {
				return false
			}
		}
	}
	return true
}

// TestReproducibleAcrossWorkers checks the headline property of Simulate:
// the same seed gives bit-identical θ, x and statuses with 1, 2 and 7
// workers, for an n that is not a multiple of ChunkSize, with faults in the
// mix.
func TestReproducibleAcrossWorkers(t *testing.T) {
	tests := []struct {
		name     string
		sim      Simulator
		proposal dist.SizedSampler
	}{
		{"noisy", noisy, box(t, 2, -1, 1)},
		{"faulty", faulty, box(t, 2, 0, 4)},
	}
	const n = 1234
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var ref *Result
			for _, w := range []int{1, 2, 7} {
				res, err := Simulate(context.Background(), tc.sim, tc.proposal, n, rand.New(rand.NewPCG(1, 2)), &Settings{Workers: w})
				if err != nil {
					t.Fatalf("workers %d: %v", w, err)
				}
				if res.Data.Len() != n || res.Report.Done != n {
					t.Fatalf("workers %d: got %d rows, %d done, want %d", w, res.Data.Len(), res.Report.Done, n)
				}
				if ref == nil {
					ref = res
					continue
				}
				if !sameBits(res.Data.Theta, ref.Data.Theta) || !sameBits(res.Data.X, ref.Data.X) {
					t.Errorf("workers %d: data differs from 1 worker", w)
				}
				for i := range res.Status {
					if res.Status[i] != ref.Status[i] {
						t.Fatalf("workers %d: status %d = %v, want %v", w, i, res.Status[i], ref.Status[i])
					}
				}
				if res.Report.OK != ref.Report.OK || res.Report.Failed != ref.Report.Failed || len(res.Report.Errors) != len(ref.Report.Errors) {
					t.Errorf("workers %d: report %v, want %v", w, res.Report, ref.Report)
				}
				for i, e := range res.Report.Errors {
					if e.Index != ref.Report.Errors[i].Index {
						t.Errorf("workers %d: error %d has index %d, want %d", w, i, e.Index, ref.Report.Errors[i].Index)
					}
				}
			}
			// Another seed gives other data.
			other, err := Simulate(context.Background(), tc.sim, tc.proposal, n, rand.New(rand.NewPCG(1, 3)), nil)
			if err != nil {
				t.Fatal(err)
			}
			if sameBits(other.Data.Theta, ref.Data.Theta) {
				t.Error("seeds (1, 2) and (1, 3) gave the same θ")
			}
		})
	}
}

// TestChunkStreams pins down the documented stream layout: chunk c draws its
// θ from the proposal with rand.NewPCG(seed, c), seed being the first
// Uint64 of the caller's rng.
func TestChunkStreams(t *testing.T) {
	prior := box(t, 2, -1, 1)
	res, err := Simulate(context.Background(), noisy, prior, 250, rand.New(rand.NewPCG(7, 8)), &Settings{Workers: 3})
	if err != nil {
		t.Fatal(err)
	}
	seed := rand.New(rand.NewPCG(7, 8)).Uint64()
	for _, c := range []int{0, 1, 2} {
		rng := rand.New(rand.NewPCG(seed, uint64(c)))
		want := mat.NewDense(min(ChunkSize, 250-c*ChunkSize), 2, nil)
		prior.SampleBatch(want, rng)
		got := res.Data.Theta.Slice(c*ChunkSize, c*ChunkSize+want.RawMatrix().Rows, 0, 2).(*mat.Dense)
		if !sameBits(mat.DenseCopyOf(got), want) {
			t.Errorf("chunk %d: θ is not the chunk stream's draw", c)
		}
	}
}

func TestFaultsCounted(t *testing.T) {
	// Row i has θ1 = i mod 10: rows with 1 fail, 2 panic, 3 give NaN.
	const n = 1000
	theta := mat.NewDense(n, 2, nil)
	for i := range n {
		theta.Set(i, 0, float64(i%10))
		theta.Set(i, 1, float64(i))
	}
	for _, w := range []int{1, 2, 7} {
		res, err := SimulateAt(context.Background(), faulty, theta, rand.New(rand.NewPCG(1, 1)), &Settings{Workers: w, MaxErrors: 5})
		if err != nil {
			t.Fatal(err)
		}
		r := res.Report
		if r.Requested != n || r.Done != n || r.OK != 700 || r.Invalid != 100 || r.Failed != 200 {
			t.Errorf("workers %d: got %v, want 700 ok, 100 invalid, 200 failed", w, r)
		}
		// Errors kept: the 5 smallest indices, 1, 2, 11, 12, 21.
		wantIdx := []int{1, 2, 11, 12, 21}
		if len(r.Errors) != len(wantIdx) {
			t.Fatalf("workers %d: got %d errors, want %d", w, len(r.Errors), len(wantIdx))
		}
		for k, e := range r.Errors {
			if e.Index != wantIdx[k] {
				t.Errorf("workers %d: error %d has index %d, want %d", w, k, e.Index, wantIdx[k])
			}
			isPanic := errors.Is(e, ErrPanic)
			if wantPanic := wantIdx[k]%10 == 2; isPanic != wantPanic {
				t.Errorf("workers %d: error %v: errors.Is(ErrPanic) = %v, want %v", w, e, isPanic, wantPanic)
			}
			if e.Theta[1] != float64(e.Index) {
				t.Errorf("workers %d: error %d carries θ %v, want row %d", w, k, e.Theta, e.Index)
			}
		}
		if !strings.Contains(r.Errors[0].Error(), "no convergence") || !strings.Contains(r.Errors[1].Error(), "assignment to entry in nil map") {
			t.Errorf("workers %d: error messages lost the cause: %q, %q", w, r.Errors[0], r.Errors[1])
		}
		// Nothing else lost: every good row is exactly 2θ, failed rows are NaN.
		for i := range n {
			x := res.Data.X.RawRowView(i)
			want := map[int]Status{1: StatusFailed, 2: StatusFailed, 3: StatusInvalid}[i%10]
			if want == 0 {
				want = StatusOK
			}
			if res.Status[i] != want || res.Index[i] != i {
				t.Fatalf("workers %d: row %d: status %v index %d, want %v, %d", w, i, res.Status[i], res.Index[i], want, i)
			}
			switch want {
			case StatusOK:
				if x[0] != 2*float64(i%10) || x[1] != 2*float64(i) {
					t.Fatalf("workers %d: row %d: x = %v, want 2θ", w, i, x)
				}
			case StatusFailed:
				if !math.IsNaN(x[0]) || !math.IsNaN(x[1]) {
					t.Fatalf("workers %d: failed row %d: x = %v, want NaN", w, i, x)
				}
			case StatusInvalid:
				if !math.IsNaN(x[0]) || x[1] != 1 {
					t.Fatalf("workers %d: invalid row %d: x = %v, want [NaN 1] as returned", w, i, x)
				}
			}
		}
		kept, dropped, err := res.Data.FilterInvalid()
		if err != nil || kept.Len() != 700 || dropped != 300 {
			t.Errorf("workers %d: FilterInvalid kept %d, dropped %d (%v), want 700, 300", w, kept.Len(), dropped, err)
		}
	}
}

func TestBadOutputs(t *testing.T) {
	tests := []struct {
		name string
		f    func(context.Context, []float64, []float64, *rand.Rand) ([]float64, error)
		want Status
		err  error
	}{
		{"short output", func(context.Context, []float64, []float64, *rand.Rand) ([]float64, error) { return []float64{1}, nil }, StatusFailed, ErrShape},
		{"fresh slice", func(context.Context, []float64, []float64, *rand.Rand) ([]float64, error) {
			return []float64{1, 2}, nil
		}, StatusOK, nil},
		{"infinite", func(context.Context, []float64, []float64, *rand.Rand) ([]float64, error) {
			return []float64{math.Inf(-1), 2}, nil
		}, StatusInvalid, nil},
		{"modifies theta", func(_ context.Context, dst, theta []float64, _ *rand.Rand) ([]float64, error) {
			theta[0] = 99
			return []float64{1, 2}, nil
		}, StatusOK, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sim := SimulatorFunc{ThetaDim: 1, XDim: 2, F: tc.f}
			theta := mat.NewDense(3, 1, []float64{0.5, 0.25, 0.125})
			res, err := SimulateAt(context.Background(), sim, theta, rand.New(rand.NewPCG(1, 1)), nil)
			if err != nil {
				t.Fatal(err)
			}
			for i, s := range res.Status {
				if s != tc.want {
					t.Errorf("row %d: got %v, want %v", i, s, tc.want)
				}
			}
			if tc.err != nil && (len(res.Report.Errors) == 0 || !errors.Is(res.Report.Errors[0], tc.err)) {
				t.Errorf("got errors %v, want %v", res.Report.Errors, tc.err)
			}
			if tc.want == StatusOK && (res.Data.X.At(2, 0) != 1 || res.Data.X.At(2, 1) != 2) {
				t.Errorf("got x row %v, want [1 2]", res.Data.X.RawRowView(2))
			}
			if got := res.Data.Theta.At(1, 0); got != 0.25 {
				t.Errorf("θ row 1 = %v, want 0.25 untouched", got)
			}
		})
	}
}

func TestCancelKeepsFinished(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var calls atomic.Int64
	sim := SimulatorFunc{ThetaDim: 2, XDim: 3, F: func(ctx context.Context, dst, theta []float64, rng *rand.Rand) ([]float64, error) {
		if calls.Add(1) == 251 {
			cancel() // this simulation still finishes; the next ones do not start
		}
		return noisy.F(ctx, dst, theta, rng)
	}}
	res, err := Simulate(ctx, sim, box(t, 2, -1, 1), 1000, rand.New(rand.NewPCG(3, 3)), &Settings{Workers: 1})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got error %v, want context.Canceled", err)
	}
	if !strings.Contains(err.Error(), "251 of 1000") {
		t.Errorf("error %q does not say how much finished (251 of 1000)", err)
	}
	if res.Report.Done != 251 || res.Data.Len() != 251 || len(res.Index) != 251 || res.Report.OK != 251 {
		t.Fatalf("got report %v with %d rows, want 251 finished", res.Report, res.Data.Len())
	}
	// The finished rows are exactly those of an uncancelled run.
	full, err := Simulate(context.Background(), noisy, box(t, 2, -1, 1), 1000, rand.New(rand.NewPCG(3, 3)), &Settings{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	for r, i := range res.Index {
		if i != r {
			t.Fatalf("row %d has index %d, want %d with one worker", r, i, r)
		}
		for j := range 3 {
			if res.Data.X.At(r, j) != full.Data.X.At(i, j) {
				t.Fatalf("row %d differs from the uncancelled run", r)
			}
		}
	}
}

// TestCancelAbandonsInFlight checks that simulations interrupted by the
// cancellation (returning ctx.Err()) count as unfinished, not failed.
func TestCancelAbandonsInFlight(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	sim := SimulatorFunc{ThetaDim: 1, XDim: 1, F: func(ctx context.Context, dst, theta []float64, _ *rand.Rand) ([]float64, error) {
		if theta[0] > 0.5 {
			<-ctx.Done()
			return nil, ctx.Err()
		}
		return []float64{theta[0]}, nil
	}}
	theta := mat.NewDense(300, 1, nil)
	for i := range 300 {
		if i >= 150 {
			theta.Set(i, 0, 1)
		}
	}
	res, err := SimulateAt(ctx, sim, theta, rand.New(rand.NewPCG(1, 1)), &Settings{Workers: 2})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want DeadlineExceeded", err)
	}
	if res.Report.Failed != 0 || res.Report.Done != 150 || res.Report.OK != 150 {
		t.Errorf("got %v, want exactly the 150 quick simulations done, none failed", res.Report)
	}
}

func TestOnProgress(t *testing.T) {
	slow := SimulatorFunc{ThetaDim: 2, XDim: 3, F: func(ctx context.Context, dst, theta []float64, rng *rand.Rand) ([]float64, error) {
		time.Sleep(20 * time.Microsecond)
		return noisy.F(ctx, dst, theta, rng)
	}}
	t.Run("final call", func(t *testing.T) {
		var calls []Progress
		s := &Settings{Workers: 2, ProgressInterval: time.Millisecond, OnProgress: func(p Progress) error {
			calls = append(calls, p) // never concurrent: no lock needed
			return nil
		}}
		res, err := Simulate(context.Background(), slow, box(t, 2, -1, 1), 500, rand.New(rand.NewPCG(1, 1)), s)
		if err != nil {
			t.Fatal(err)
		}
		last := calls[len(calls)-1]
		if last.Done != 500 || last.OK != 500 || last.Total != 500 || res.Report.Done != 500 {
			t.Errorf("last progress %+v, want 500 of 500 done", last)
		}
		for i := 1; i < len(calls); i++ {
			if calls[i].Done < calls[i-1].Done {
				t.Errorf("progress went backwards: %d then %d", calls[i-1].Done, calls[i].Done)
			}
		}
	})
	t.Run("stop", func(t *testing.T) {
		errStop := errors.New("enough")
		s := &Settings{Workers: 2, ProgressInterval: time.Millisecond, OnProgress: func(p Progress) error {
			if p.Done >= 100 {
				return errStop
			}
			return nil
		}}
		res, err := Simulate(context.Background(), slow, box(t, 2, -1, 1), 100_000, rand.New(rand.NewPCG(1, 1)), s)
		if !errors.Is(err, errStop) {
			t.Fatalf("got %v, want errStop", err)
		}
		if res.Report.Done >= 100_000 || res.Report.Done < 100 || res.Data.Len() != res.Report.Done {
			t.Errorf("got %v, want a run stopped early after at least 100", res.Report)
		}
	})
}

// batchSim vectorises noisy's first coordinate and fails rows with θ2 < -0.9.
type batchSim struct{ calls atomic.Int64 }

func (b *batchSim) Dims() (int, int) { return 2, 3 }
func (b *batchSim) Run(ctx context.Context, dst, theta []float64, rng *rand.Rand) ([]float64, error) {
	return nil, errors.New("Run must not be called when RunBatch exists")
}
func (b *batchSim) RunBatch(_ context.Context, dst, theta *mat.Dense, errs []error, rng *rand.Rand) error {
	b.calls.Add(1)
	r, _ := theta.Dims()
	for i := range r {
		if theta.At(i, 1) < -0.9 {
			errs[i] = fmt.Errorf("row %d rejected", i)
			continue
		}
		dst.Set(i, 0, theta.At(i, 0)+rng.NormFloat64())
		dst.Set(i, 1, 0)
		dst.Set(i, 2, 1)
	}
	return nil
}

func TestBatchSimulator(t *testing.T) {
	var ref *Result
	for _, w := range []int{1, 2, 7} {
		bs := &batchSim{}
		res, err := Simulate(context.Background(), bs, box(t, 2, -1, 1), 1050, rand.New(rand.NewPCG(5, 5)), &Settings{Workers: w})
		if err != nil {
			t.Fatal(err)
		}
		if got := bs.calls.Load(); got != 11 {
			t.Errorf("workers %d: RunBatch called %d times, want 11 (one per chunk)", w, got)
		}
		wantFailed := 0
		for i := range 1050 {
			if res.Data.Theta.At(i, 1) < -0.9 {
				wantFailed++
			}
		}
		if res.Report.Failed != wantFailed || res.Report.OK != 1050-wantFailed || wantFailed == 0 {
			t.Errorf("workers %d: got %v, want %d failed", w, res.Report, wantFailed)
		}
		if ref != nil && (!sameBits(ref.Data.X, res.Data.X) || !sameBits(ref.Data.Theta, res.Data.Theta)) {
			t.Errorf("workers %d: batch output differs from 1 worker", w)
		}
		ref = res
	}
}

func TestSimulateInputErrors(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	prior := box(t, 2, -1, 1)
	tests := []struct {
		name string
		run  func() (*Result, error)
	}{
		{"nil simulator", func() (*Result, error) { return Simulate(context.Background(), nil, prior, 10, rng, nil) }},
		{"nil proposal", func() (*Result, error) { return Simulate(context.Background(), noisy, nil, 10, rng, nil) }},
		{"nil rng", func() (*Result, error) { return Simulate(context.Background(), noisy, prior, 10, nil, nil) }},
		{"zero n", func() (*Result, error) { return Simulate(context.Background(), noisy, prior, 0, rng, nil) }},
		{"dimension", func() (*Result, error) { return Simulate(context.Background(), noisy, box(t, 3, 0, 1), 10, rng, nil) }},
		{"workers", func() (*Result, error) {
			return Simulate(context.Background(), noisy, prior, 10, rng, &Settings{Workers: -1})
		}},
		{"theta columns", func() (*Result, error) {
			return SimulateAt(context.Background(), noisy, mat.NewDense(2, 3, nil), rng, nil)
		}},
		{"empty theta", func() (*Result, error) { return SimulateAt(context.Background(), noisy, &mat.Dense{}, rng, nil) }},
		{"zero dims", func() (*Result, error) {
			return SimulateAt(context.Background(), SimulatorFunc{ThetaDim: 1}, mat.NewDense(2, 1, nil), rng, nil)
		}},
	}
	for _, tc := range tests {
		res, err := tc.run()
		if !errors.Is(err, ErrInput) || res != nil {
			t.Errorf("%s: got (%v, %v), want (nil, ErrInput)", tc.name, res, err)
		}
	}
}

func ExampleSimulate() {
	// A toy simulator: x = θ + N(0, 0.1²) noise.
	sim := SimulatorFunc{ThetaDim: 2, XDim: 2, F: func(_ context.Context, dst, theta []float64, rng *rand.Rand) ([]float64, error) {
		if dst == nil {
			dst = make([]float64, 2)
		}
		for i, th := range theta {
			dst[i] = th + 0.1*rng.NormFloat64()
		}
		return dst, nil
	}}
	prior, err := dist.NewBoxUniform([]float64{-1, -1}, []float64{1, 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := Simulate(context.Background(), sim, prior, 1000, rand.New(rand.NewPCG(1, 2)), nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.Report.Done, "done,", res.Report.OK, "ok")
	fmt.Println(res.Data.Theta.RawMatrix().Rows, "rows of θ,", res.Data.X.RawMatrix().Cols, "columns of x")
	// Output:
	// 1000 done, 1000 ok
	// 1000 rows of θ, 2 columns of x
}

func orNew(dst []float64, n int) []float64 {
	if dst == nil {
		return make([]float64, n)
	}
	return dst
}
