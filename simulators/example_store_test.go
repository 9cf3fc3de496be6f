package simulators_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/gosbi/gosbi/dist"
	"github.com/gosbi/gosbi/simulators"
	"gonum.org/v1/gonum/mat"
)

// storeModel is x = θ + N(0, 0.1²) with θ ~ U(-1, 1)²: a toy simulator for
// the examples of simulation files.
func storeModel() (simulators.Simulator, *dist.BoxUniform) {
	sim := simulators.SimulatorFunc{ThetaDim: 2, XDim: 2,
		F: func(_ context.Context, dst, theta []float64, rng *rand.Rand) ([]float64, error) {
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
		panic(err)
	}
	return sim, prior
}

// ExampleOpenStoreWriter writes a run of 250 simulations (3 chunks) to a
// simulation file chunk by chunk, stops after the first chunk as a killed
// process would, resumes, and reads the complete file back: it holds exactly
// the rows of Simulate with RunRNG(seed).
func ExampleOpenStoreWriter() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "simulators-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "run.gsim")
	sim, prior := storeModel()
	h := simulators.StoreHeader{Task: "toy", Seed: 3, N: 250, ThetaDim: 2, XDim: 2}
	seed := simulators.ChunkSeed(h.Seed)

	// First session: only chunk 0 gets written.
	w, err := simulators.OpenStoreWriter(path, h)
	if err != nil {
		panic(err)
	}
	if _, err := simulators.SimulateChunks(ctx, sim, prior, h.N, seed, []int{0}, nil, w.Append); err != nil {
		panic(err)
	}
	if err := w.Close(); err != nil {
		panic(err)
	}

	// Second session: the same header resumes the file; write what is missing.
	w, err = simulators.OpenStoreWriter(path, h)
	if err != nil {
		panic(err)
	}
	missing, hw := w.Missing(), w.Header() // hw: h with the defaults filled in
	fmt.Printf("resumed with %d of %d chunks, missing %v\n", w.Len(), hw.NumChunks(), missing)
	if _, err := simulators.SimulateChunks(ctx, sim, prior, h.N, seed, missing, nil, w.Append); err != nil {
		panic(err)
	}
	if err := w.Close(); err != nil { // complete: rewritten canonically
		panic(err)
	}

	r, err := simulators.OpenStore(path)
	if err != nil {
		panic(err)
	}
	defer r.Close()
	res, err := r.ReadAll()
	if err != nil {
		panic(err)
	}
	fmt.Printf("complete: %v, chunks %v, %d rows, %d ok\n", r.Header().Complete, r.Chunks(), res.Data.Len(), res.Report.OK)
	want, err := simulators.Simulate(ctx, sim, prior, h.N, simulators.RunRNG(h.Seed), nil)
	if err != nil {
		panic(err)
	}
	fmt.Println("same as Simulate:", mat.Equal(res.Data.Theta, want.Data.Theta) && mat.Equal(res.Data.X, want.Data.X))
	fmt.Printf("last row: θ %.3f, x %.3f\n", res.Data.Theta.RawRowView(249), res.Data.X.RawRowView(249))
	// Output:
	// resumed with 1 of 3 chunks, missing [1 2]
	// complete: true, chunks [0 1 2], 250 rows, 250 ok
	// same as Simulate: true
	// last row: θ [0.345 -0.953], x [0.646 -0.933]
}

// ExampleMerge simulates a run of 450 simulations as two shards, one file
// each (as two machines would), and merges them: the merged file is
// byte-identical to the file of an unsharded run and holds the rows of
// Simulate with RunRNG(seed).
func ExampleMerge() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "simulators-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	sim, prior := storeModel()
	h := simulators.StoreHeader{Task: "toy", Seed: 4, N: 450, ThetaDim: 2, XDim: 2}
	write := func(path string, shard, shards int) {
		hs := h
		hs.Shard, hs.Shards = shard, shards
		w, err := simulators.OpenStoreWriter(path, hs)
		if err != nil {
			panic(err)
		}
		if _, err := simulators.Shard(ctx, sim, prior, w, nil); err != nil {
			panic(err)
		}
		if err := w.Close(); err != nil {
			panic(err)
		}
	}
	a, b := filepath.Join(dir, "shard0.gsim"), filepath.Join(dir, "shard1.gsim")
	write(a, 0, 2)
	write(b, 1, 2)
	out := filepath.Join(dir, "run.gsim")
	info, err := simulators.Merge(out, a, b)
	if err != nil {
		panic(err)
	}
	fmt.Printf("merged %d chunks, complete: %v\n", info.Chunks, info.Header.Complete)

	single := filepath.Join(dir, "single.gsim")
	write(single, 0, 1)
	merged, err := os.ReadFile(out)
	if err != nil {
		panic(err)
	}
	whole, err := os.ReadFile(single)
	if err != nil {
		panic(err)
	}
	fmt.Println("byte-identical to the unsharded file:", bytes.Equal(merged, whole))

	r, err := simulators.OpenStore(out)
	if err != nil {
		panic(err)
	}
	defer r.Close()
	res, err := r.ReadAll()
	if err != nil {
		panic(err)
	}
	want, err := simulators.Simulate(ctx, sim, prior, h.N, simulators.RunRNG(h.Seed), nil)
	if err != nil {
		panic(err)
	}
	fmt.Printf("%d rows, same as Simulate: %v\n", res.Data.Len(),
		mat.Equal(res.Data.Theta, want.Data.Theta) && mat.Equal(res.Data.X, want.Data.X))
	// Output:
	// merged 5 chunks, complete: true
	// byte-identical to the unsharded file: true
	// 450 rows, same as Simulate: true
}

// ExampleNewStoreSource reads a simulation file as blocks of valid
// simulations, one per chunk, for training without loading the file: the
// failed simulations (θ₁ < -0.8) and the invalid ones (NaN output, θ₂ > 0.9)
// are left out and counted.
func ExampleNewStoreSource() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "simulators-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	_, prior := storeModel()
	sim := simulators.SimulatorFunc{ThetaDim: 2, XDim: 1,
		F: func(_ context.Context, dst, theta []float64, rng *rand.Rand) ([]float64, error) {
			if theta[0] < -0.8 {
				return nil, errors.New("diverged")
			}
			if dst == nil {
				dst = make([]float64, 1)
			}
			dst[0] = theta[0] + theta[1] + 0.1*rng.NormFloat64()
			if theta[1] > 0.9 {
				dst[0] = math.NaN()
			}
			return dst, nil
		}}
	path := filepath.Join(dir, "run.gsim")
	w, err := simulators.OpenStoreWriter(path, simulators.StoreHeader{Task: "toy", Seed: 5, N: 300, ThetaDim: 2, XDim: 1})
	if err != nil {
		panic(err)
	}
	if _, err := simulators.Shard(ctx, sim, prior, w, &simulators.Settings{MaxErrors: -1}); err != nil {
		panic(err)
	}
	if err := w.Close(); err != nil {
		panic(err)
	}

	r, err := simulators.OpenStore(path)
	if err != nil {
		panic(err)
	}
	defer r.Close()
	src, err := simulators.NewStoreSource(r)
	if err != nil {
		panic(err)
	}
	rep := src.Report()
	fmt.Printf("%d simulations: %d ok, %d failed, %d invalid, %d dropped\n", rep.Done, rep.OK, rep.Failed, rep.Invalid, src.Dropped())
	thetaDim, xDim := src.Dims()
	total := 0
	for b := range src.NumBlocks() {
		n := src.BlockLen(b)
		theta, x := make([]float64, n*thetaDim), make([]float64, n*xDim)
		if err := src.ReadBlock(b, theta, x); err != nil {
			panic(err)
		}
		total += n
		fmt.Printf("block %d (chunk %d): %d rows, first θ %.3f, x %.3f\n", b, src.Chunk(b), n, theta[:thetaDim], x[:xDim])
	}
	fmt.Println("rows in all blocks:", total)
	// Output:
	// 300 simulations: 252 ok, 36 failed, 12 invalid, 48 dropped
	// block 0 (chunk 0): 81 rows, first θ [0.773 0.276], x [0.949]
	// block 1 (chunk 1): 84 rows, first θ [0.930 -0.577], x [0.372]
	// block 2 (chunk 2): 87 rows, first θ [0.730 0.459], x [1.188]
	// rows in all blocks: 252
}
