package simulators

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// storeRun is a small run used by the store tests: two_moons, n
// simulations (11 chunks for n = 1050, the last one partial).
type storeRun struct {
	task *Task
	h    StoreHeader
}

func newStoreRun(t testing.TB, name string, n int, seed uint64) storeRun {
	t.Helper()
	task, err := NewTask(name, "")
	if err != nil {
		t.Fatal(err)
	}
	td, xd := task.Dims()
	return storeRun{task: task, h: StoreHeader{Task: name, Seed: seed, N: n, ThetaDim: td, XDim: xd,
		ThetaNames: task.ThetaNames, XNames: task.XNames}}
}

// shard runs shard i of k into path (resuming it) and closes the writer.
func (r storeRun) shard(t testing.TB, path string, i, k int) Report {
	t.Helper()
	h := r.h
	h.Shard, h.Shards = i, k
	w, err := OpenStoreWriter(path, h)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Shard(context.Background(), r.task.Simulator, r.task.Prior, w, &Settings{Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return rep
}

// full returns the bytes of the complete file of the run.
func (r storeRun) full(t testing.TB) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "full.gsim")
	r.shard(t, path, 0, 1)
	return readBytes(t, path)
}

func readBytes(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkEqualsSimulate checks that the complete file at path holds exactly
// what Simulate returns for the run.
func checkEqualsSimulate(t *testing.T, path string, task *Task, n int, seed uint64) {
	t.Helper()
	want, err := Simulate(context.Background(), task.Simulator, task.Prior, n, RunRNG(seed), nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := OpenStore(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if !sameBits(got.Data.Theta, want.Data.Theta) || !sameBits(got.Data.X, want.Data.X) {
		t.Errorf("%s: data differ from Simulate's", path)
	}
	if !slices.Equal(got.Index, want.Index) || !slices.Equal(got.Status, want.Status) {
		t.Errorf("%s: index or status differ from Simulate's", path)
	}
	if got.Report.Done != n || got.Report.OK != want.Report.OK || got.Report.Failed != want.Report.Failed {
		t.Errorf("%s: report %v, want counts of %v", path, got.Report, want.Report)
	}
	if !slices.Equal(got.Data.ThetaNames, task.ThetaNames) {
		t.Errorf("θ names %v, want %v", got.Data.ThetaNames, task.ThetaNames)
	}
}

func TestShardMergeEqualsSimulate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		task string
		n    int
	}{{"two_moons", 1050}, {"gaussian_linear", 1000}, {"two_moons", 1}} {
		r := newStoreRun(t, tc.task, tc.n, 42)
		full := r.full(t)
		for _, k := range []int{1, 3, 7} {
			t.Run(fmt.Sprintf("%s/n=%d/k=%d", tc.task, tc.n, k), func(t *testing.T) {
				dir := t.TempDir()
				var files []string
				for i := range k {
					p := filepath.Join(dir, fmt.Sprintf("s%d.gsim", i))
					r.shard(t, p, i, k)
					files = append(files, p)
				}
				out := filepath.Join(dir, "merged.gsim")
				info, err := Merge(out, files...)
				if err != nil {
					t.Fatal(err)
				}
				if got := readBytes(t, out); !bytes.Equal(got, full) {
					t.Fatalf("merged file (%d bytes) differs from the unsharded one (%d bytes)", len(got), len(full))
				}
				if info.Chunks != NumChunks(tc.n) || !info.Header.Complete || info.Bytes != int64(len(full)) {
					t.Errorf("info %+v, want %d chunks, complete, %d bytes", info, NumChunks(tc.n), len(full))
				}
				checkEqualsSimulate(t, out, r.task, tc.n, 42)
			})
		}
	}
}

func TestSimulateChunksMatchesSimulate(t *testing.T) {
	t.Parallel()
	task, _ := NewTask("slcp", "")
	const n, seed = 730, 9
	want, err := Simulate(context.Background(), task.Simulator, task.Prior, n, rand.New(rand.NewPCG(seed, 1)), nil)
	if err != nil {
		t.Fatal(err)
	}
	cs := rand.New(rand.NewPCG(seed, 1)).Uint64()
	for _, workers := range []int{1, 3} {
		chunks := []int{6, 2, 7, 0}
		var got []int
		rep, err := SimulateChunks(context.Background(), task.Simulator, task.Prior, n, cs, chunks, &Settings{Workers: workers},
			func(c *Chunk) error {
				got = append(got, c.Index)
				rows := len(c.Status)
				if !sameBits(c.Theta, want.Data.Theta.Slice(c.Start, c.Start+rows, 0, 5).(*mat.Dense)) ||
					!sameBits(c.X, want.Data.X.Slice(c.Start, c.Start+rows, 0, 8).(*mat.Dense)) ||
					!slices.Equal(c.Status, want.Status[c.Start:c.Start+rows]) {
					t.Errorf("workers %d: chunk %d differs from Simulate's rows", workers, c.Index)
				}
				return nil
			})
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(got)
		if !slices.Equal(got, []int{0, 2, 6, 7}) {
			t.Errorf("workers %d: chunks handed over %v, want [0 2 6 7]", workers, got)
		}
		if want := 3*ChunkSize + 30; rep.Done != want || rep.Requested != want {
			t.Errorf("workers %d: report %v, want %d done of %d", workers, rep, want, want)
		}
	}
}

func TestSimulateChunksCallbackErrorStops(t *testing.T) {
	t.Parallel()
	task, _ := NewTask("two_moons", "")
	boom := errors.New("disk full")
	calls := 0
	rep, err := SimulateChunks(context.Background(), task.Simulator, task.Prior, 5000, 1, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9},
		&Settings{Workers: 1}, func(c *Chunk) error {
			calls++
			if calls == 3 {
				return boom
			}
			return nil
		})
	if !errors.Is(err, boom) {
		t.Fatalf("got error %v, want one wrapping %v", err, boom)
	}
	if rep.Done != 2*ChunkSize {
		t.Errorf("got %d done, want %d (the failed chunk does not count)", rep.Done, 2*ChunkSize)
	}
}

func TestSimulateChunksInputErrors(t *testing.T) {
	t.Parallel()
	task, _ := NewTask("two_moons", "")
	ok := func(*Chunk) error { return nil }
	for _, tc := range []struct {
		name   string
		n      int
		chunks []int
		fn     func(*Chunk) error
	}{
		{"n zero", 0, []int{0}, ok},
		{"chunk past the end", 250, []int{3}, ok},
		{"negative chunk", 250, []int{-1}, ok},
		{"chunk twice", 250, []int{1, 1}, ok},
		{"nil callback", 250, []int{0}, nil},
	} {
		_, err := SimulateChunks(context.Background(), task.Simulator, task.Prior, tc.n, 1, tc.chunks, nil, tc.fn)
		if !errors.Is(err, ErrInput) {
			t.Errorf("%s: got %v, want ErrInput", tc.name, err)
		}
	}
}

// partialShard writes the chunks of shard i of k listed in which (in that
// order) to path, by hand, and returns the byte offsets where each record
// starts and where the file ends.
func partialShard(t *testing.T, r storeRun, path string, i, k int, which []int) []int64 {
	t.Helper()
	h := r.h
	h.Shard, h.Shards = i, k
	w, err := OpenStoreWriter(path, h)
	if err != nil {
		t.Fatal(err)
	}
	var offs []int64
	_, err = SimulateChunks(context.Background(), r.task.Simulator, r.task.Prior, h.N, ChunkSeed(h.Seed), which,
		&Settings{Workers: 1}, func(c *Chunk) error {
			offs = append(offs, w.end)
			return w.Append(c)
		})
	if err != nil {
		t.Fatal(err)
	}
	offs = append(offs, w.end)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return offs
}

func TestResumeCutsTornOrCorruptTail(t *testing.T) {
	t.Parallel()
	r := newStoreRun(t, "two_moons", 1050, 3)
	full := r.full(t)
	dir := t.TempDir()
	base := filepath.Join(dir, "base.gsim")
	offs := partialShard(t, r, base, 0, 1, []int{4, 0, 9})
	rec := offs[1] - offs[0]
	for _, tc := range []struct {
		name    string
		edit    func(b []byte) []byte
		dropped int64 // bytes cut off
	}{
		{"intact", func(b []byte) []byte { return b }, 0},
		{"torn length", func(b []byte) []byte { return b[:offs[2]+2] }, 2},
		{"torn data", func(b []byte) []byte { return b[:offs[2]+rec/2] }, rec / 2},
		{"torn checksum", func(b []byte) []byte { return b[:offs[3]-1] }, rec - 1},
		{"flipped bit in the last record", func(b []byte) []byte { b[offs[2]+40] ^= 1; return b }, rec},
		{"flipped bit in the middle record", func(b []byte) []byte { b[offs[1]+40] ^= 4; return b }, 2 * rec},
		{"garbage appended", func(b []byte) []byte { return append(b, "hello"...) }, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "run.gsim")
			if err := os.WriteFile(path, tc.edit(readBytes(t, base)), 0o644); err != nil {
				t.Fatal(err)
			}
			w, err := OpenStoreWriter(path, r.h)
			if err != nil {
				t.Fatal(err)
			}
			rec := w.Recovered()
			switch {
			case tc.dropped == 0 && rec != nil:
				t.Errorf("recovery %+v for an intact file", rec)
			case tc.dropped > 0 && (rec == nil || rec.Dropped != tc.dropped):
				t.Errorf("recovery %+v, want %d bytes dropped", rec, tc.dropped)
			case rec != nil && !errors.Is(rec.Reason, ErrFormat):
				t.Errorf("recovery reason %v, want ErrFormat", rec.Reason)
			}
			if _, err := Shard(context.Background(), r.task.Simulator, r.task.Prior, w, nil); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(readBytes(t, path), full) {
				t.Error("resumed file differs from the uninterrupted one")
			}
		})
	}
}

func TestResumeNeverRerunsChunks(t *testing.T) {
	t.Parallel()
	r := newStoreRun(t, "two_moons", 1050, 3)
	path := filepath.Join(t.TempDir(), "run.gsim")
	partialShard(t, r, path, 1, 2, []int{3, 7})
	h := r.h
	h.Shard, h.Shards = 1, 2
	w, err := OpenStoreWriter(path, h)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if got, want := w.Missing(), []int{1, 5, 9}; !slices.Equal(got, want) {
		t.Errorf("missing %v, want %v", got, want)
	}
	rep, err := Shard(context.Background(), r.task.Simulator, r.task.Prior, w, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Done != 3*ChunkSize {
		t.Errorf("resumed run simulated %d, want %d", rep.Done, 3*ChunkSize)
	}
	if len(w.Missing()) != 0 || w.Len() != 5 || w.Complete() {
		t.Errorf("after resuming: missing %v, %d chunks, complete %v; want none, 5, false", w.Missing(), w.Len(), w.Complete())
	}
}

func TestOpenStoreWriterMismatch(t *testing.T) {
	t.Parallel()
	r := newStoreRun(t, "two_moons", 1050, 3)
	path := filepath.Join(t.TempDir(), "run.gsim")
	partialShard(t, r, path, 1, 3, []int{1})
	for _, tc := range []struct {
		field string
		edit  func(h *StoreHeader)
	}{
		{"task", func(h *StoreHeader) { h.Task = "gaussian_mixture" }},
		{"command", func(h *StoreHeader) { h.Command = "python3 sim.py" }},
		{"seed", func(h *StoreHeader) { h.Seed = 4 }},
		{"n", func(h *StoreHeader) { h.N = 1000 }},
		{"x_names", func(h *StoreHeader) { h.XNames = []string{"a", "b"} }},
		{"shards", func(h *StoreHeader) { h.Shards = 4 }},
		{"shard", func(h *StoreHeader) { h.Shard = 2 }},
	} {
		h := r.h
		h.Shard, h.Shards = 1, 3
		tc.edit(&h)
		_, err := OpenStoreWriter(path, h)
		if !errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), " "+tc.field+" is ") {
			t.Errorf("%s changed: got %v, want ErrMismatch naming %s", tc.field, err, tc.field)
		}
	}
}

func TestStoreWriterRejects(t *testing.T) {
	t.Parallel()
	r := newStoreRun(t, "two_moons", 250, 3)
	dir := t.TempDir()
	path := filepath.Join(dir, "run.gsim")
	h := r.h
	h.Shard, h.Shards = 0, 2
	w, err := OpenStoreWriter(path, h)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := OpenStoreWriter(path, h); !errors.Is(err, ErrLocked) {
		t.Errorf("second writer: got %v, want ErrLocked", err)
	}
	chunk := func(c, rows int) *Chunk {
		st := make([]Status, rows)
		for i := range st {
			st[i] = StatusOK
		}
		return &Chunk{Index: c, Start: c * ChunkSize, Theta: mat.NewDense(rows, 2, nil), X: mat.NewDense(rows, 2, nil), Status: st}
	}
	if err := w.Append(chunk(0, 100)); err != nil {
		t.Fatal(err)
	}
	bad := chunk(2, 50)
	bad.Status[3] = 0
	for name, c := range map[string]*Chunk{
		"other shard":  chunk(1, 100),
		"past the end": chunk(4, 100),
		"present":      chunk(0, 100),
		"wrong rows":   chunk(2, 100),
		"bad status":   bad,
		"nil":          nil,
	} {
		if err := w.Append(c); !errors.Is(err, ErrInput) {
			t.Errorf("%s: got %v, want ErrInput", name, err)
		}
	}
	for name, h := range map[string]StoreHeader{
		"complete":      {N: 10, ThetaDim: 1, XDim: 1, Complete: true},
		"shard too big": {N: 10, ThetaDim: 1, XDim: 1, Shard: 2, Shards: 2},
		"no n":          {ThetaDim: 1, XDim: 1},
		"chunk size":    {N: 10, ThetaDim: 1, XDim: 1, ChunkSize: 7},
		"huge dims":     {N: 10, ThetaDim: 1 << 21, XDim: 1},
		"names":         {N: 10, ThetaDim: 2, XDim: 1, ThetaNames: []string{"a"}},
	} {
		if _, err := OpenStoreWriter(filepath.Join(dir, "x.gsim"), h); !errors.Is(err, ErrInput) {
			t.Errorf("header %s: got %v, want ErrInput", name, err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "other.txt"), []byte("not a simulation file at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenStoreWriter(filepath.Join(dir, "other.txt"), r.h); !errors.Is(err, ErrFormat) {
		t.Errorf("foreign file: got %v, want ErrFormat", err)
	}
	if got := readBytes(t, filepath.Join(dir, "other.txt")); string(got) != "not a simulation file at all" {
		t.Errorf("foreign file modified: %q", got)
	}
}

func TestMergeErrors(t *testing.T) {
	t.Parallel()
	r := newStoreRun(t, "two_moons", 1050, 3)
	dir := t.TempDir()
	shard := func(name string, i, k int, h StoreHeader) string {
		p := filepath.Join(dir, name)
		rr := r
		rr.h = h
		rr.shard(t, p, i, k)
		return p
	}
	s0 := shard("s0.gsim", 0, 3, r.h)
	s1 := shard("s1.gsim", 1, 3, r.h)
	s2 := shard("s2.gsim", 2, 3, r.h)
	other := r.h
	other.Seed = 99
	o1 := shard("o1.gsim", 1, 3, other)
	h4 := shard("h4.gsim", 1, 4, r.h)
	partial := filepath.Join(dir, "p2.gsim")
	partialShard(t, r, partial, 2, 3, []int{5})
	full := filepath.Join(dir, "full.gsim")
	r.shard(t, full, 0, 1)
	corrupt := filepath.Join(dir, "c1.gsim")
	b := readBytes(t, s1)
	b[len(b)-100] ^= 0x10
	if err := os.WriteFile(corrupt, b, 0o644); err != nil {
		t.Fatal(err)
	}
	torn := filepath.Join(dir, "t1.gsim")
	if err := os.WriteFile(torn, readBytes(t, s1)[:len(b)-7], 0o644); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name   string
		inputs []string
		target error
		want   []string
	}{
		{"missing shard", []string{s0, s2}, ErrIncomplete, []string{"4 of 11 chunks missing: 1, 4, 7, 10", "no file for shard 1 of 3"}},
		{"partial shard", []string{s0, s1, partial}, ErrIncomplete, []string{"missing: 2, 8", "p2.gsim (shard 2 of 3) has 1 of 3 chunks"}},
		{"duplicate", []string{s0, s1, s2, s1}, ErrDuplicate, []string{"chunks 1, 4, 7, 10 are in both", "(argument 2)", "(argument 4)"}},
		{"complete plus shard", []string{full, s2}, ErrDuplicate, []string{"chunks 2, 5, 8"}},
		{"other seed", []string{s0, o1, s2}, ErrMismatch, []string{"seed is 3 and 99", "o1.gsim"}},
		{"other split", []string{s0, h4, s2}, ErrMismatch, []string{"shards is 3 and 4"}},
		{"corrupt", []string{s0, corrupt, s2}, ErrFormat, []string{"c1.gsim: offset ", "checksum mismatch"}},
		{"torn", []string{s0, torn, s2}, ErrFormat, []string{"t1.gsim: offset ", "torn record"}},
		{"none", nil, ErrInput, nil},
	} {
		out := filepath.Join(dir, "out.gsim")
		_, err := Merge(out, tc.inputs...)
		if !errors.Is(err, tc.target) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.target)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q lacks %q", tc.name, err, w)
			}
		}
		if _, serr := os.Stat(out); serr == nil {
			t.Errorf("%s: output written despite the error", tc.name)
		}
	}
	// The complete file alone, and with an empty shard file, merge fine.
	if _, err := Merge(filepath.Join(dir, "again.gsim"), full); err != nil {
		t.Errorf("merging a complete file: %v", err)
	}
	if !bytes.Equal(readBytes(t, filepath.Join(dir, "again.gsim")), readBytes(t, full)) {
		t.Error("merging a complete file changed it")
	}
}

func TestStoreReaderChunks(t *testing.T) {
	t.Parallel()
	r := newStoreRun(t, "gaussian_linear", 1050, 8)
	path := filepath.Join(t.TempDir(), "p.gsim")
	partialShard(t, r, path, 0, 2, []int{8, 2, 10})
	sr, err := OpenStore(path)
	if err != nil {
		t.Fatal(err)
	}
	defer sr.Close()
	h := sr.Header()
	if h.Complete || h.Shard != 0 || h.Shards != 2 || h.NumChunks() != 11 {
		t.Errorf("header %+v", h)
	}
	if got := sr.Chunks(); !slices.Equal(got, []int{8, 2, 10}) {
		t.Errorf("chunks %v, want [8 2 10] (file order)", got)
	}
	if got := sr.Missing(); !slices.Equal(got, []int{0, 4, 6}) {
		t.Errorf("missing %v, want [0 4 6]", got)
	}
	want, err := Simulate(context.Background(), r.task.Simulator, r.task.Prior, 1050, RunRNG(8), nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := sr.ReadChunk(10, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rows, _ := c.Theta.Dims(); rows != 50 || c.Start != 1000 || !sameBits(c.X, want.Data.X.Slice(1000, 1050, 0, 10).(*mat.Dense)) {
		t.Errorf("chunk 10: %d rows from %d, or data differ", rows, c.Start)
	}
	if _, err := sr.ReadChunk(4, nil); !errors.Is(err, ErrInput) {
		t.Errorf("absent chunk: got %v, want ErrInput", err)
	}
	all, err := sr.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if all.Data.Len() != 250 || all.Index[0] != 200 || all.Index[100] != 800 || all.Index[249] != 1049 {
		t.Errorf("ReadAll: %d rows, index %d %d %d; want 250 rows, 200 800 1049", all.Data.Len(), all.Index[0], all.Index[100], all.Index[249])
	}
	n := 0
	for ch, err := range sr.All() {
		if err != nil {
			t.Fatal(err)
		}
		if !sameBits(ch.Theta, want.Data.Theta.Slice(ch.Start, ch.Start+len(ch.Status), 0, 10).(*mat.Dense)) {
			t.Errorf("All: chunk %d differs", ch.Index)
		}
		n++
	}
	if n != 3 {
		t.Errorf("All gave %d chunks, want 3", n)
	}
}

// TestStoreFailedRows checks that failed and invalid simulations, with
// their NaN outputs and statuses, go through the file unchanged.
func TestStoreFailedRows(t *testing.T) {
	t.Parallel()
	sim := SimulatorFunc{ThetaDim: 1, XDim: 2, F: func(_ context.Context, dst, theta []float64, rng *rand.Rand) ([]float64, error) {
		switch u := rng.Float64(); {
		case u < 0.1:
			return nil, errors.New("boom")
		case u < 0.2:
			return []float64{math.Inf(1), theta[0]}, nil
		}
		return []float64{theta[0], rng.NormFloat64()}, nil
	}}
	p1, _ := (&PriorSpec{Parameters: []PriorParam{{Dist: "uniform", Fields: map[string]float64{"low": 0, "high": 1}}}}).Prior()
	path := filepath.Join(t.TempDir(), "f.gsim")
	w, err := OpenStoreWriter(path, StoreHeader{Task: "faulty", Seed: 5, N: 321, ThetaDim: 1, XDim: 2})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Shard(context.Background(), sim, p1, w, nil); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	want, err := Simulate(context.Background(), sim, p1, 321, RunRNG(5), nil)
	if err != nil {
		t.Fatal(err)
	}
	if want.Report.Failed == 0 || want.Report.Invalid == 0 {
		t.Fatalf("test simulator gave %v, want some failed and invalid", want.Report)
	}
	sr, err := OpenStore(path)
	if err != nil {
		t.Fatal(err)
	}
	defer sr.Close()
	got, err := sr.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if !sameBits(got.Data.X, want.Data.X) || !slices.Equal(got.Status, want.Status) {
		t.Error("failed or invalid rows changed in the file")
	}
	if got.Report.Failed != want.Report.Failed || got.Report.Invalid != want.Report.Invalid {
		t.Errorf("counts %v, want %v", got.Report, want.Report)
	}
}

func TestShardChunks(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		n, i, k int
		want    []int
	}{
		{1050, 0, 3, []int{0, 3, 6, 9}},
		{1050, 2, 3, []int{2, 5, 8}},
		{100, 1, 2, nil},
		{1, 0, 1, []int{0}},
	} {
		got, err := ShardChunks(tc.n, tc.i, tc.k)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("ShardChunks(%d, %d, %d) = %v, %v; want %v", tc.n, tc.i, tc.k, got, err, tc.want)
		}
	}
	for _, bad := range [][3]int{{0, 0, 1}, {10, 1, 1}, {10, -1, 2}, {10, 0, 0}} {
		if _, err := ShardChunks(bad[0], bad[1], bad[2]); !errors.Is(err, ErrInput) {
			t.Errorf("ShardChunks%v: got %v, want ErrInput", bad, err)
		}
	}
}

// BenchmarkStoreAppend measures appending (with fsync) chunks of
// gaussian_linear, 100 × (10 + 10) values each.
func BenchmarkStoreAppend(b *testing.B) {
	b.ReportAllocs()
	path := filepath.Join(b.TempDir(), "b.gsim")
	n := b.N * ChunkSize
	w, err := OpenStoreWriter(path, StoreHeader{Task: "bench", N: n, ThetaDim: 10, XDim: 10})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	st := make([]Status, ChunkSize)
	for i := range st {
		st[i] = StatusOK
	}
	c := &Chunk{Theta: mat.NewDense(ChunkSize, 10, nil), X: mat.NewDense(ChunkSize, 10, nil), Status: st}
	b.ResetTimer()
	for i := range b.N {
		c.Index, c.Start = i, i*ChunkSize
		if err := w.Append(c); err != nil {
			b.Fatal(err)
		}
	}
}

// ExampleShard splits a run of 1,000 two_moons simulations into three
// shards, as three machines would, merges them and reads the result back.
func ExampleShard() {
	dir, err := os.MkdirTemp("", "shard-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	task, err := NewTask("two_moons", "")
	if err != nil {
		panic(err)
	}
	var files []string
	for i := range 3 {
		path := filepath.Join(dir, fmt.Sprintf("shard%d.gsim", i))
		w, err := OpenStoreWriter(path, StoreHeader{Task: task.Name, Seed: 7, N: 1000, ThetaDim: 2, XDim: 2,
			Shard: i, Shards: 3})
		if err != nil {
			panic(err)
		}
		rep, err := Shard(context.Background(), task.Simulator, task.Prior, w, nil)
		if err != nil {
			panic(err)
		}
		if err := w.Close(); err != nil {
			panic(err)
		}
		fmt.Printf("shard %d: %d simulations\n", i, rep.Done)
		files = append(files, path)
	}
	out := filepath.Join(dir, "run.gsim")
	if _, err := Merge(out, files...); err != nil {
		panic(err)
	}
	r, err := OpenStore(out)
	if err != nil {
		panic(err)
	}
	defer r.Close()
	res, err := r.ReadAll()
	if err != nil {
		panic(err)
	}
	want, err := Simulate(context.Background(), task.Simulator, task.Prior, 1000, RunRNG(7), nil)
	if err != nil {
		panic(err)
	}
	fmt.Printf("merged: %d simulations, %d ok\n", res.Data.Len(), res.Report.OK)
	fmt.Printf("same as Simulate: %v\n", mat.Equal(res.Data.X, want.Data.X))
	fmt.Printf("first θ: %.3f\n", res.Data.Theta.RawRowView(0))
	// Output:
	// shard 0: 400 simulations
	// shard 1: 300 simulations
	// shard 2: 300 simulations
	// merged: 1000 simulations, 1000 ok
	// same as Simulate: true
	// first θ: [0.794 -0.512]
}
