package sbi_test

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gosbi/gosbi/flows"
	"github.com/gosbi/gosbi/sbi"
	"github.com/gosbi/gosbi/simulators"
	"gonum.org/v1/gonum/mat"
)

// potentialTrainer is what NLE and NRE share for these tests.
type potentialTrainer interface {
	AppendSource(ctx context.Context, src sbi.Source) (int, error)
	AppendSimulations(theta, x *mat.Dense, opts *sbi.AppendOptions) (int, error)
	Train(ctx context.Context, rng *rand.Rand, settings *sbi.TrainSettings) (*sbi.TrainResult, error)
	Rounds() []sbi.RoundInfo
	NumSimulations() int
}

// streamEstimators are small NLE and NRE (each NRE loss, whose negatives
// come from the batch) for the streaming tests.
var streamEstimators = []struct {
	name string
	make func(t *testing.T) potentialTrainer
}{
	{"nle", func(t *testing.T) potentialTrainer {
		e, err := sbi.NewNLE(boxPrior(t), &sbi.NLEConfig{Estimator: flows.MAF{Transforms: 2, Hidden: 16}})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}},
	{"nle-nsf", func(t *testing.T) potentialTrainer {
		e, err := sbi.NewNLE(boxPrior(t), &sbi.NLEConfig{Estimator: &flows.NSF{Transforms: 1, Hidden: 8}})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}},
	{"nre-a", nreMaker(sbi.LossNREA, nil)},
	{"nre-b", nreMaker(sbi.LossNREB, nil)},
	{"nre-c", nreMaker(sbi.LossNREC, nil)},
	{"bnre-mlp", nreMaker(sbi.LossBNRE, sbi.MLPEmbedding{Out: 4})},
}

func nreMaker(loss sbi.Loss, emb sbi.Embedding) func(t *testing.T) potentialTrainer {
	return func(t *testing.T) potentialTrainer {
		e, err := sbi.NewNRE(boxPrior(t), &sbi.NREConfig{Loss: loss, Hidden: 16, Blocks: 1, Embedding: emb})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
}

// potentialValues returns the trained estimator's log q(x | θ) (NLE) or
// log-ratio (NRE) at a few (θ, x) pairs.
func potentialValues(t *testing.T, e potentialTrainer) []float64 {
	t.Helper()
	th := mat.NewDense(4, 2, []float64{0, 0, 0.5, -0.3, -0.7, 0.2, 0.1, 0.8})
	x := mat.NewDense(4, 2, []float64{0.1, 0, 0.4, -0.2, -0.6, 0.3, 0, 0.7})
	switch e := e.(type) {
	case *sbi.NLE:
		f, err := e.Likelihood()
		if err != nil {
			t.Fatal(err)
		}
		return f.LogProbBatch(nil, x, th)
	case *sbi.NRE:
		v, err := e.LogRatio(nil, th, x)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	t.Fatalf("unknown estimator %T", e)
	return nil
}

func bitsEqual(a, b []float64) bool {
	return slices.EqualFunc(a, b, func(x, y float64) bool { return math.Float64bits(x) == math.Float64bits(y) })
}

// TestPotentialStreamMatchesMemory trains NLE and NRE from a simulation
// file (streamed through the block cache) and from the same rows in memory
// with the same blocks: losses and potentials must agree bit for bit, and
// the cache must hold at most 2 windows of blocks.
func TestPotentialStreamMatchesMemory(t *testing.T) {
	t.Parallel()
	const n = 2000 // 20 chunks of 100
	src := storeSource(t, n)
	theta, x, blocks := sourceData(t, src)
	for _, tc := range streamEstimators {
		t.Run(tc.name, func(t *testing.T) {
			stream := tc.make(t)
			dropped, err := stream.AppendSource(context.Background(), src)
			if err != nil {
				t.Fatal(err)
			}
			if dropped != src.Dropped() || dropped == 0 || stream.NumSimulations() != theta.RawMatrix().Rows {
				t.Errorf("AppendSource: got %d dropped, %d simulations; want %d > 0, %d", dropped, stream.NumSimulations(), src.Dropped(), theta.RawMatrix().Rows)
			}
			if r := stream.Rounds(); len(r) != 1 || r[0].Simulations != n || r[0].Dropped != dropped {
				t.Errorf("got rounds %+v, want one of %d simulations with %d dropped", r, n, dropped)
			}
			sres, err := stream.Train(context.Background(), rand.New(rand.NewPCG(4, 4)), streamSettings())
			if err != nil {
				t.Fatal(err)
			}
			mem := tc.make(t)
			if _, err := mem.AppendSimulations(theta, x, nil); err != nil {
				t.Fatal(err)
			}
			ms := streamSettings()
			ms.Blocks = blocks
			mres, err := mem.Train(context.Background(), rand.New(rand.NewPCG(4, 4)), ms)
			if err != nil {
				t.Fatal(err)
			}
			if mres.Stream != nil {
				t.Errorf("in-memory training reports streaming %+v", *mres.Stream)
			}
			if sres.Epochs != 3 || mres.Epochs != 3 || sres.NumInvalid != dropped {
				t.Errorf("got %d and %d epochs, %d invalid; want 3, 3, %d", sres.Epochs, mres.Epochs, sres.NumInvalid, dropped)
			}
			for i := range sres.History {
				a, b := sres.History[i], mres.History[i]
				if !bitsEqual([]float64{a.TrainLoss, a.ValLoss}, []float64{b.TrainLoss, b.ValLoss}) || math.IsNaN(a.ValLoss) {
					t.Errorf("epoch %d: streamed losses %v %v, in memory %v %v", i+1, a.TrainLoss, a.ValLoss, b.TrainLoss, b.ValLoss)
				}
			}
			if got, want := potentialValues(t, stream), potentialValues(t, mem); !bitsEqual(got, want) {
				t.Errorf("streamed potentials %v, in memory %v", got, want)
			}
			if !slices.Equal(sres.Warnings, mres.Warnings) {
				t.Errorf("streamed warnings %q, in memory %q", sres.Warnings, mres.Warnings)
			}
			checkStreamStats(t, sres.Stream, blocks)
		})
	}
}

// TestPotentialStreamResume interrupts streamed training of NLE and NRE
// after epoch 1 and resumes it from its checkpoint: bit for bit the
// uninterrupted result (for NRE, including the contrastive draws).
func TestPotentialStreamResume(t *testing.T) {
	t.Parallel()
	src := storeSource(t, 1200)
	for _, tc := range []struct {
		name string
		make func(t *testing.T) potentialTrainer
	}{streamEstimators[0], streamEstimators[2]} {
		t.Run(tc.name, func(t *testing.T) {
			run := func(ck *flows.CheckpointSettings, stopAfter int) ([]float64, error) {
				e := tc.make(t)
				if _, err := e.AppendSource(context.Background(), src); err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				s := streamSettings()
				s.Checkpoint = ck
				s.OnEpoch = func(es flows.EpochStats) error {
					if es.Epoch == stopAfter {
						cancel()
					}
					return nil
				}
				if _, err := e.Train(ctx, rand.New(rand.NewPCG(5, 5)), s); err != nil {
					return nil, err
				}
				return potentialValues(t, e), nil
			}
			want, err := run(nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			ck := &flows.CheckpointSettings{Path: filepath.Join(t.TempDir(), "ck")}
			if _, err := run(ck, 1); !errors.Is(err, context.Canceled) {
				t.Fatalf("interrupted run: got %v, want context.Canceled", err)
			}
			got, err := run(ck, 0)
			if err != nil {
				t.Fatal(err)
			}
			if !bitsEqual(got, want) {
				t.Errorf("resumed potentials %v, uninterrupted %v", got, want)
			}
		})
	}
}

// TestPotentialSourceErrors checks the input errors of AppendSource and of
// block mode, and that a read error while training stops it.
func TestPotentialSourceErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		make func(t *testing.T) potentialTrainer
	}{streamEstimators[0], streamEstimators[2]} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tc.make(t).AppendSource(ctx, nil); !errors.Is(err, sbi.ErrInput) {
				t.Errorf("nil source: got %v, want ErrInput", err)
			}
			nan := newMemSource(t, 200, 50)
			nan.theta[3] = math.NaN()
			if _, err := tc.make(t).AppendSource(ctx, nan); !errors.Is(err, sbi.ErrInvalidData) {
				t.Errorf("NaN in θ: got %v, want ErrInvalidData", err)
			}
			outside := newMemSource(t, 200, 50)
			outside.theta[2] = -3
			if _, err := tc.make(t).AppendSource(ctx, outside); !errors.Is(err, sbi.ErrInput) {
				t.Errorf("θ outside the prior: got %v, want ErrInput", err)
			}
			one := newMemSource(t, 40, 50)
			if _, err := tc.make(t).AppendSource(ctx, one); !errors.Is(err, sbi.ErrInput) {
				t.Errorf("a source of %d block: got %v, want ErrInput", one.NumBlocks(), err)
			}
			th := mat.NewDense(2, 2, []float64{0, 0, 0.1, 0.1})
			withSims := tc.make(t)
			if _, err := withSims.AppendSimulations(th, th, nil); err != nil {
				t.Fatal(err)
			}
			if _, err := withSims.AppendSource(ctx, newMemSource(t, 200, 50)); !errors.Is(err, sbi.ErrInput) {
				t.Errorf("a source after simulations: got %v, want ErrInput", err)
			}
			e := tc.make(t)
			if _, err := e.AppendSource(ctx, newMemSource(t, 200, 50)); err != nil {
				t.Fatal(err)
			}
			if _, err := e.AppendSimulations(th, th, nil); !errors.Is(err, sbi.ErrInput) {
				t.Errorf("AppendSimulations after a source: got %v, want ErrInput", err)
			}
			if _, err := e.AppendSource(ctx, newMemSource(t, 200, 50)); !errors.Is(err, sbi.ErrInput) {
				t.Errorf("a second source: got %v, want ErrInput", err)
			}
			s := streamSettings()
			s.Blocks = []int{1, 2}
			if _, err := e.Train(ctx, rand.New(rand.NewPCG(1, 1)), s); !errors.Is(err, sbi.ErrInput) {
				t.Errorf("Blocks with a source: got %v, want ErrInput", err)
			}
			s = streamSettings()
			s.Parts = 2
			if _, err := e.Train(ctx, rand.New(rand.NewPCG(1, 1)), s); !errors.Is(err, sbi.ErrInput) {
				t.Errorf("Parts 2 with a source: got %v, want ErrInput", err)
			}

			src := newMemSource(t, 1000, 50)
			e = tc.make(t)
			if _, err := e.AppendSource(ctx, src); err != nil {
				t.Fatal(err)
			}
			// AppendSource reads every block once, the statistics pass the
			// 17 training blocks of 19: fail during the first epoch.
			src.failAt = src.calls + 17 + 5
			res, err := e.Train(ctx, rand.New(rand.NewPCG(1, 1)), streamSettings())
			if !errors.Is(err, errRead) {
				t.Fatalf("got %v, want the read error", err)
			}
			if res == nil || res.Epochs > 1 || res.Stream == nil {
				t.Errorf("got result %+v, want at most 1 epoch and stream statistics", res)
			}
		})
	}
	t.Run("block mode needs a preset or no DeepSets", func(t *testing.T) {
		nle, err := sbi.NewNLE(boxPrior(t), &sbi.NLEConfig{Estimator: wrappedMAF{flows.MAF{Transforms: 1, Hidden: 8}}})
		if err != nil {
			t.Fatal(err)
		}
		nre, err := sbi.NewNRE(boxPrior(t), &sbi.NREConfig{Hidden: 8, Embedding: sbi.DeepSetsEmbedding{TrialDim: 1, Trials: 2}})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range []potentialTrainer{nle, nre} {
			if _, err := e.AppendSource(ctx, newMemSource(t, 200, 50)); err != nil {
				t.Fatal(err)
			}
			if _, err := e.Train(ctx, rand.New(rand.NewPCG(1, 1)), streamSettings()); !errors.Is(err, sbi.ErrInput) {
				t.Errorf("%T: got %v, want ErrInput", e, err)
			}
		}
	})
}

// TestPartialFileNotASource checks that a shard of a run and an
// interrupted run cannot be trained on: NewStoreSource refuses them with
// ErrIncomplete, before any estimator sees them.
func TestPartialFileNotASource(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	prior := boxPrior(t)
	for _, tc := range []struct {
		name   string
		header simulators.StoreHeader
		stop   bool
	}{
		{"shard", simulators.StoreHeader{Shard: 1, Shards: 3}, false},
		{"interrupted", simulators.StoreHeader{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := tc.header
			h.Task, h.Seed, h.N, h.ThetaDim, h.XDim = "noisy", 9, 900, 2, 2
			path := filepath.Join(dir, tc.name+".gosbi")
			w, err := simulators.OpenStoreWriter(path, h)
			if err != nil {
				t.Fatal(err)
			}
			// The interrupted run stops in its third chunk of 100.
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			calls := 0
			sim := simulators.SimulatorFunc{ThetaDim: 2, XDim: 2, F: func(c context.Context, dst, th []float64, rng *rand.Rand) ([]float64, error) {
				if calls++; tc.stop && calls == 250 {
					cancel()
				}
				return noisySim.F(c, dst, th, rng)
			}}
			if _, err := simulators.Shard(ctx, sim, prior, w, &simulators.Settings{Workers: 1}); tc.stop != errors.Is(err, context.Canceled) {
				t.Fatalf("Shard: got %v", err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			r, err := simulators.OpenStore(path)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if _, err := simulators.NewStoreSource(r); !errors.Is(err, simulators.ErrIncomplete) {
				t.Errorf("got %v, want ErrIncomplete", err)
			}
		})
	}
}

// TestPotentialStreamWarnings checks the data warnings of block mode on a
// Source: a constant column is found in the statistics pass, a
// near-constant one (5 of about 900 rows differ) by a second pass over the
// training blocks.
func TestPotentialStreamWarnings(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		set    func(i int) float64 // x column 1 of row i
		want   string
		passes int // statistics passes over the training blocks
	}{
		{"constant", func(int) float64 { return 0.5 }, "x column 1 is constant", 1},
		{"near-constant", func(i int) float64 { return float64(min(i, 5) % 5) }, "x column 1 is near-constant", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := newMemSource(t, 1000, 50)
			for i := range len(src.x) / 2 {
				src.x[2*i+1] = tc.set(i)
			}
			e := streamEstimators[0].make(t)
			if _, err := e.AppendSource(context.Background(), src); err != nil {
				t.Fatal(err)
			}
			s := streamSettings()
			s.MaxEpochs = 1
			res, err := e.Train(context.Background(), rand.New(rand.NewPCG(2, 2)), s)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], tc.want) {
				t.Errorf("got warnings %q, want one about %q", res.Warnings, tc.want)
			}
			nb := src.NumBlocks()
			nt := int(0.9 * float64(nb)) // training blocks (flows.SplitBlocks)
			if r := res.Stream.BlockReads; r < (tc.passes+1)*nt || r > tc.passes*nt+nb {
				t.Errorf("got %d block reads, want %d·%d for statistics and %d to %d for the epoch", r, tc.passes, nt, nt, nb)
			}
		})
	}
}
