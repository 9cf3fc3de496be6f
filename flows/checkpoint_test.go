package flows

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/gosbi/gosbi/nn"
	"gonum.org/v1/gonum/mat"
)

// ckRun is one Train call of the checkpoint tests: a fresh, identically
// initialised MAF on fixed data, so that a second call is a resume.
type ckRun struct {
	res    *TrainResult
	err    error
	params []float64
	calls  int // loss evaluations (training steps and validation chunks)
	epochs []int
}

// ckTrain trains a small MAF on 300 linear-Gaussian pairs with seed 11 and
// the given checkpoint; hook, if not nil, runs at every OnEpoch with the
// epoch and a cancel function for the training context; cancelAtCall > 0
// cancels the context during that loss evaluation (mid-epoch).
func ckTrain(t *testing.T, ck *CheckpointSettings, settings Settings, hook func(epoch int, cancel func()), cancelAtCall int) ckRun {
	t.Helper()
	rng := rand.New(rand.NewPCG(11, 1))
	th, x := linearGaussianData(300, rng)
	f, err := MAF{Transforms: 1, Hidden: 8}.Build(x, th, rng)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var run ckRun
	s := settings
	s.Checkpoint = ck
	s.OnEpoch = func(es EpochStats) error {
		run.epochs = append(run.epochs, es.Epoch)
		if hook != nil {
			hook(es.Epoch, cancel)
		}
		return nil
	}
	// Fit with Train's loss, counting the evaluations.
	d, cd := 2, 2
	xs, cs := denseData(x), denseData(th)
	n, _ := x.Dims()
	var calls atomic.Int64 // the loss runs concurrently with Settings.Parts > 1
	lossFn := func(tp *nn.Tape, idx []int) *nn.Tensor {
		if calls.Add(1) == int64(cancelAtCall) {
			cancel()
		}
		return tp.Neg(tp.Mean(f.LogProb(tp, gatherRows(tp, xs, d, idx), gatherRows(tp, cs, cd, idx))))
	}
	run.res, run.err = Fit(ctx, f.Params(), n, lossFn, rng, &s)
	run.calls = int(calls.Load())
	for _, p := range f.Params() {
		run.params = append(run.params, p.Data...)
	}
	return run
}

// sameRun reports how two runs differ: parameters bit for bit, epochs, best
// epoch and loss, convergence, skipped steps, and the history except
// durations.
func sameRun(t *testing.T, got, want ckRun) {
	t.Helper()
	if len(got.params) != len(want.params) {
		t.Fatalf("got %d parameters, want %d", len(got.params), len(want.params))
	}
	for i := range got.params {
		if math.Float64bits(got.params[i]) != math.Float64bits(want.params[i]) {
			t.Fatalf("parameter %d: got %v, want %v (bit for bit)", i, got.params[i], want.params[i])
		}
	}
	g, w := got.res, want.res
	if g.Epochs != w.Epochs || g.BestEpoch != w.BestEpoch || math.Float64bits(g.BestValLoss) != math.Float64bits(w.BestValLoss) ||
		g.Converged != w.Converged || g.Skipped != w.Skipped || g.NumTrain != w.NumTrain || g.NumVal != w.NumVal {
		t.Errorf("got result %+v, want %+v", *g, *w)
	}
	if len(g.History) != len(w.History) {
		t.Fatalf("got %d history entries, want %d", len(g.History), len(w.History))
	}
	for i := range g.History {
		a, b := g.History[i], w.History[i]
		a.Duration, a.Elapsed, b.Duration, b.Elapsed = 0, 0, 0, 0
		if math.Float64bits(a.TrainLoss) != math.Float64bits(b.TrainLoss) || math.Float64bits(a.ValLoss) != math.Float64bits(b.ValLoss) ||
			math.Float64bits(a.BestValLoss) != math.Float64bits(b.BestValLoss) || a.Epoch != b.Epoch || a.BestEpoch != b.BestEpoch ||
			a.Steps != b.Steps || a.Skipped != b.Skipped {
			t.Errorf("history %d: got %+v, want %+v", i, a, b)
		}
	}
}

// ckSettings: 5 steps of 50 rows per epoch (270 training rows, the last
// partial batch dropped), early stopping after 3 epochs without improvement
// or at most 12 epochs: a run of about a hundred steps.
var ckSettings = Settings{BatchSize: 50, LearningRate: 5e-3, StopAfterEpochs: 3, MaxEpochs: 12}

func TestFitResumeEqualsUninterrupted(t *testing.T) {
	t.Parallel()
	want := ckTrain(t, nil, ckSettings, nil, 0)
	if want.err != nil || want.res.Epochs < 4 {
		t.Fatalf("uninterrupted run: %d epochs, %v; the test needs at least 4", want.res.Epochs, want.err)
	}
	for _, tc := range []struct {
		name   string
		every  int
		hook   func(dir string) func(epoch int, cancel func())
		atCall int  // cancel during this loss evaluation
		killed bool // resume from a copy of the file taken mid-run
	}{
		{name: "cancel after epoch 2", every: 1, hook: func(string) func(int, func()) {
			return func(e int, cancel func()) {
				if e == 2 {
					cancel()
				}
			}
		}},
		// Epoch 1 takes 5 steps and 1 validation chunk (30 rows): call 9
		// is the third step of epoch 2.
		{name: "cancel mid-epoch", every: 5, atCall: 9},
		{name: "cancel at the first step", every: 1, atCall: 1},
		// A killed process: the periodic checkpoint of epoch 3 (written
		// after OnEpoch of epoch 3, so present at OnEpoch of epoch 4).
		{name: "killed after epoch 3", every: 1, killed: true, hook: func(dir string) func(int, func()) {
			return func(e int, cancel func()) {
				if e == 4 {
					b, err := os.ReadFile(filepath.Join(dir, "ck"))
					if err != nil {
						panic(err)
					}
					if err := os.WriteFile(filepath.Join(dir, "copy"), b, 0o644); err != nil {
						panic(err)
					}
				}
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			ck := &CheckpointSettings{Path: filepath.Join(dir, "ck"), Every: tc.every, Tag: "test"}
			var hook func(int, func())
			if tc.hook != nil {
				hook = tc.hook(dir)
			}
			first := ckTrain(t, ck, ckSettings, hook, tc.atCall)
			if tc.killed {
				if first.err != nil {
					t.Fatal(first.err)
				}
				if err := os.Rename(filepath.Join(dir, "copy"), ck.Path); err != nil {
					t.Fatal(err)
				}
			} else if !errors.Is(first.err, context.Canceled) {
				t.Fatalf("interrupted run: got error %v, want context.Canceled", first.err)
			}
			second := ckTrain(t, ck, ckSettings, nil, 0)
			if second.err != nil {
				t.Fatal(second.err)
			}
			sameRun(t, second, want)
			if tc.killed {
				if got := second.epochs; len(got) == 0 || got[0] != 4 {
					t.Errorf("resumed run called OnEpoch for epochs %v, want from 4", got)
				}
			}
			// The checkpoint is now complete: a third call trains nothing
			// and returns the same result.
			third := ckTrain(t, ck, ckSettings, nil, 0)
			if third.err != nil {
				t.Fatal(third.err)
			}
			if third.calls != 0 || len(third.epochs) != 0 {
				t.Errorf("complete checkpoint: %d loss calls, epochs %v; want none", third.calls, third.epochs)
			}
			sameRun(t, third, want)
		})
	}
}

func TestFitCheckpointRejected(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "ck")
	ck := &CheckpointSettings{Path: path, Tag: "a"}
	first := ckTrain(t, ck, ckSettings, func(e int, cancel func()) {
		if e == 1 {
			cancel()
		}
	}, 0)
	if !errors.Is(first.err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", first.err)
	}
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	other := ckSettings
	other.BatchSize = 60
	for _, tc := range []struct {
		name     string
		data     []byte // file content; nil keeps the good file
		ck       *CheckpointSettings
		settings Settings
	}{
		{name: "other tag", ck: &CheckpointSettings{Path: path, Tag: "b"}, settings: ckSettings},
		{name: "other batch size", ck: ck, settings: other},
		{name: "flipped byte", data: flip(good, len(good)/2), ck: ck, settings: ckSettings},
		{name: "flipped checksum", data: flip(good, len(good)-1), ck: ck, settings: ckSettings},
		{name: "truncated to 10 bytes", data: good[:10], ck: ck, settings: ckSettings},
		{name: "truncated by 1 byte", data: good[:len(good)-1], ck: ck, settings: ckSettings},
		{name: "trailing byte", data: append(slices.Clone(good), 0), ck: ck, settings: ckSettings},
		{name: "empty", data: []byte{}, ck: ck, settings: ckSettings},
		{name: "not a checkpoint", data: []byte("GOSBI-NN hello"), ck: ck, settings: ckSettings},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := good
			if tc.data != nil {
				data = tc.data
			}
			p := filepath.Join(t.TempDir(), "ck")
			if err := os.WriteFile(p, data, 0o644); err != nil {
				t.Fatal(err)
			}
			c := *tc.ck
			c.Path = p
			got := ckTrain(t, &c, tc.settings, nil, 0)
			if !errors.Is(got.err, ErrCheckpoint) {
				t.Fatalf("got error %v, want ErrCheckpoint", got.err)
			}
			if got.res != nil || got.calls != 0 {
				t.Errorf("got result %v after %d loss calls, want none", got.res, got.calls)
			}
			// The file is left as it was.
			if b, _ := os.ReadFile(p); !bytes.Equal(b, data) {
				t.Errorf("the rejected checkpoint was modified")
			}
		})
	}
	// Another seed: the rng given to Fit differs.
	t.Run("other seed", func(t *testing.T) {
		rng := rand.New(rand.NewPCG(11, 1))
		th, x := linearGaussianData(300, rng)
		f, err := MAF{Transforms: 1, Hidden: 8}.Build(x, th, rng)
		if err != nil {
			t.Fatal(err)
		}
		s := ckSettings
		s.Checkpoint = ck
		_, err = Train(context.Background(), f, x, th, rand.New(rand.NewPCG(99, 1)), &s)
		if !errors.Is(err, ErrCheckpoint) {
			t.Fatalf("got error %v, want ErrCheckpoint", err)
		}
	})
}

func flip(b []byte, i int) []byte {
	c := slices.Clone(b)
	c[i] ^= 0x10
	return c
}

// failingWriter fails its writes after limit bytes.
type failingWriter struct {
	w     io.Writer
	limit int
}

var errInjected = errors.New("injected write failure")

func (f *failingWriter) Write(p []byte) (int, error) {
	if len(p) > f.limit {
		n, _ := f.w.Write(p[:f.limit])
		f.limit = 0
		return n, errInjected
	}
	f.limit -= len(p)
	return f.w.Write(p)
}

// TestCheckpointWriteFails checks that Fit fails with ErrCheckpoint when it
// cannot write a checkpoint, keeping the last good one (the atomic write
// itself is tested in internal/atomicfile). Not parallel: it replaces
// writeFileAtomic.
func TestCheckpointWriteFails(t *testing.T) {
	orig := writeFileAtomic
	defer func() { writeFileAtomic = orig }()
	ck := &CheckpointSettings{Path: filepath.Join(t.TempDir(), "ck")}
	fail := false
	run := ckTrain(t, ck, ckSettings, func(e int, _ func()) {
		if e == 2 {
			fail = true
			writeFileAtomic = func(path string, write func(io.Writer) error) error {
				return orig(path, func(w io.Writer) error { return write(&failingWriter{w: w, limit: 100}) })
			}
		}
	}, 0)
	if !fail || !errors.Is(run.err, ErrCheckpoint) || !errors.Is(run.err, errInjected) {
		t.Fatalf("got error %v, want ErrCheckpoint and the injected error", run.err)
	}
	f, err := os.Open(ck.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c, err := readCheckpoint(f)
	if err != nil {
		t.Fatal(err)
	}
	if c.st.Epochs != 1 {
		t.Errorf("the checkpoint left has %d epochs, want 1 (the last good write)", c.st.Epochs)
	}
	if es, _ := os.ReadDir(filepath.Dir(ck.Path)); len(es) != 1 {
		t.Errorf("%d files in the folder, want 1 (no temporary left)", len(es))
	}
}

func TestCheckpointSettingsInvalid(t *testing.T) {
	t.Parallel()
	for _, ck := range []*CheckpointSettings{{}, {Path: "x", Every: -1}, {Path: "x", State: []BinaryState{nil}}} {
		if _, err := Fit(context.Background(), nil, 10, nil, rand.New(rand.NewPCG(1, 1)), &Settings{Checkpoint: ck}); !errors.Is(err, ErrConfig) {
			t.Errorf("%+v: got %v, want ErrConfig", ck, err)
		}
	}
}

// tinyFit trains a 1-D MAF with 2 hidden units on 8 points for at most 3
// epochs with a checkpoint at path, cancelling after epoch cancelAfter
// (0: never). It is the problem of the checkpoint fuzz target: its files
// are small.
func tinyFit(path string, cancelAfter int) (*TrainResult, error) {
	rng := rand.New(rand.NewPCG(3, 3))
	x := mat.NewDense(8, 1, []float64{-1.5, -0.7, -0.2, 0.1, 0.4, 0.9, 1.3, 2})
	f, err := MAF{Transforms: 1, Hidden: 2}.Build(x, nil, rng)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := &Settings{BatchSize: 3, MaxEpochs: 3, Checkpoint: &CheckpointSettings{Path: path}, OnEpoch: func(es EpochStats) error {
		if es.Epoch == cancelAfter {
			cancel()
		}
		return nil
	}}
	return Train(ctx, f, x, nil, rng, s)
}

// FuzzReadCheckpoint feeds arbitrary bytes to Fit as a checkpoint file: it
// must return a result or an error wrapping ErrCheckpoint, never panic.
// Seeds: checkpoints of tinyFit interrupted after epoch 1 (mid-run) and
// complete, plus testdata/fuzz/FuzzReadCheckpoint.
func FuzzReadCheckpoint(f *testing.F) {
	dir := f.TempDir()
	for i, cancelAfter := range []int{1, 0} {
		p := filepath.Join(dir, fmt.Sprint("seed", i))
		if _, err := tinyFit(p, cancelAfter); err != nil && !errors.Is(err, context.Canceled) {
			f.Fatal(err)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	path := filepath.Join(dir, "ck")
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, err := readCheckpoint(bytes.NewReader(data)); err != nil && !errors.Is(err, ErrCheckpoint) {
			t.Fatalf("readCheckpoint: error %v does not wrap ErrCheckpoint", err)
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		res, err := tinyFit(path, 0)
		if err != nil && !errors.Is(err, ErrCheckpoint) && !errors.Is(err, ErrNonFinite) {
			t.Fatalf("Fit: error %v wraps neither ErrCheckpoint nor ErrNonFinite", err)
		}
		if err == nil && (res == nil || res.Epochs < 1 || res.Epochs > 3) {
			t.Fatalf("Fit: result %+v without error", res)
		}
	})
}
