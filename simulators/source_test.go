package simulators

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gosbi/gosbi/dist"
)

// flakySim returns x = θ + noise, an error when θ_0 > 0.8 and NaN when
// θ_0 < -0.8: about 10% failed and 10% invalid rows under U(-1, 1).
var flakySim = SimulatorFunc{ThetaDim: 2, XDim: 3, F: func(_ context.Context, dst, th []float64, rng *rand.Rand) ([]float64, error) {
	switch {
	case th[0] > 0.8:
		return nil, errors.New("boom")
	case th[0] < -0.8:
		return append(dst[:0], math.NaN(), 0, 0), nil
	}
	return append(dst[:0], th[0]+rng.NormFloat64(), th[1], th[0]*th[1]), nil
}}

// writeFlaky writes the chunks of a run of n flaky simulations into path
// (all chunks when chunks is nil).
func writeFlaky(t *testing.T, path string, n int, chunks []int, shard, shards int) {
	t.Helper()
	prior, err := dist.NewBoxUniform([]float64{-1, -1}, []float64{1, 1})
	if err != nil {
		t.Fatal(err)
	}
	h := StoreHeader{Task: "flaky", Seed: 3, N: n, ThetaDim: 2, XDim: 3, Shard: shard, Shards: shards}
	w, err := OpenStoreWriter(path, h)
	if err != nil {
		t.Fatal(err)
	}
	if chunks == nil {
		chunks = w.Missing()
	}
	if _, err := SimulateChunks(context.Background(), flakySim, prior, n, ChunkSeed(3), chunks, &Settings{Workers: 1}, w.Append); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestStoreSourceDropsAndCounts(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "run.gsim")
	const n = 1050 // 11 chunks, the last of 50
	writeFlaky(t, path, n, nil, 0, 1)
	r, err := OpenStore(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	src, err := NewStoreSource(r)
	if err != nil {
		t.Fatal(err)
	}
	all, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	// The valid rows of ReadAll, in order, are the rows of the blocks.
	var wantTh, wantX []float64
	for i, st := range all.Status {
		if st == StatusOK {
			wantTh = append(wantTh, all.Data.Theta.RawRowView(i)...)
			wantX = append(wantX, all.Data.X.RawRowView(i)...)
		}
	}
	rep := src.Report()
	if rep.OK != all.Report.OK || rep.Invalid != all.Report.Invalid || rep.Failed != all.Report.Failed || rep.Done != n || rep.Requested != n {
		t.Errorf("got report %+v, want the counts of ReadAll %+v", rep, all.Report)
	}
	// Under U(-1, 1), 10% of 1050 rows fail and 10% are invalid: at least
	// a few of each (the chance of none is below 1e-40).
	if rep.Invalid == 0 || rep.Failed == 0 || src.Dropped() != rep.Invalid+rep.Failed {
		t.Errorf("got %d invalid, %d failed, Dropped %d; want some of each, Dropped their sum", rep.Invalid, rep.Failed, src.Dropped())
	}
	if got, want := src.NumBlocks(), 11; got != want {
		t.Fatalf("got %d blocks, want %d", got, want)
	}
	var gotTh, gotX []float64
	total := 0
	for b := range src.NumBlocks() {
		l := src.BlockLen(b)
		total += l
		th, x := make([]float64, 2*l), make([]float64, 3*l)
		if err := src.ReadBlock(b, th, x); err != nil {
			t.Fatal(err)
		}
		gotTh, gotX = append(gotTh, th...), append(gotX, x...)
		if src.Chunk(b) != b {
			t.Errorf("block %d reads chunk %d, want %d", b, src.Chunk(b), b)
		}
	}
	if total != rep.OK || !slices.Equal(gotTh, wantTh) || !slices.Equal(gotX, wantX) {
		t.Errorf("the blocks hold %d rows, not the %d valid rows of ReadAll in order", total, rep.OK)
	}
	if err := src.ReadBlock(0, make([]float64, 1), nil); !errors.Is(err, ErrInput) {
		t.Errorf("short buffers: got %v, want ErrInput", err)
	}
	if err := src.ReadBlock(11, nil, nil); !errors.Is(err, ErrInput) {
		t.Errorf("block out of range: got %v, want ErrInput", err)
	}
}

func TestStoreSourceIncomplete(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	partial := filepath.Join(dir, "partial.gsim")
	writeFlaky(t, partial, 1050, []int{0, 1, 2, 5, 9}, 0, 1)
	shard := filepath.Join(dir, "shard.gsim")
	writeFlaky(t, shard, 1050, nil, 1, 3)
	for _, tc := range []struct {
		path string
		want []string
	}{
		{partial, []string{"6 of 11 chunks missing: 3-4, 6-8, 10"}},
		{shard, []string{"shard 1 of 3", "merge the shards"}},
	} {
		r, err := OpenStore(tc.path)
		if err != nil {
			t.Fatal(err)
		}
		_, err = NewStoreSource(r)
		r.Close()
		if !errors.Is(err, ErrIncomplete) {
			t.Fatalf("%s: got %v, want ErrIncomplete", tc.path, err)
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not mention %q", tc.path, err, w)
			}
		}
	}
}
