package sbi_test

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/gosbi/gosbi/dist"
	"github.com/gosbi/gosbi/flows"
	"github.com/gosbi/gosbi/sbi"
	"github.com/gosbi/gosbi/simulators"
	"gonum.org/v1/gonum/mat"
)

// noisySim: x = θ + N(0, 0.1²) for θ in [-1, 1]²; a simulation fails when
// θ_0 > 0.9 (5% of the prior) and returns NaN when θ_1 < -0.9 (5%).
var noisySim = simulators.SimulatorFunc{ThetaDim: 2, XDim: 2, F: func(_ context.Context, dst, th []float64, rng *rand.Rand) ([]float64, error) {
	switch {
	case th[0] > 0.9:
		return nil, errors.New("boom")
	case th[1] < -0.9:
		return append(dst[:0], math.NaN(), 0), nil
	}
	return append(dst[:0], th[0]+0.1*rng.NormFloat64(), th[1]+0.1*rng.NormFloat64()), nil
}}

func boxPrior(t testing.TB) *dist.BoxUniform {
	t.Helper()
	p, err := dist.NewBoxUniform([]float64{-1, -1}, []float64{1, 1})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// storeSource writes a complete simulation file of n noisySim runs and
// returns it as a source.
func storeSource(t testing.TB, n int) *simulators.StoreSource {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sims.gosbi")
	w, err := simulators.OpenStoreWriter(path, simulators.StoreHeader{Task: "noisy", Seed: 9, N: n, ThetaDim: 2, XDim: 2})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := simulators.Shard(context.Background(), noisySim, boxPrior(t), w, &simulators.Settings{Workers: 1}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := simulators.OpenStore(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	src, err := simulators.NewStoreSource(r)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// sourceData reads every block of src into memory.
func sourceData(t testing.TB, src sbi.Source) (theta, x *mat.Dense, blocks []int) {
	t.Helper()
	dt, dx := src.Dims()
	var th, xs []float64
	for b := range src.NumBlocks() {
		l := src.BlockLen(b)
		bt, bx := make([]float64, l*dt), make([]float64, l*dx)
		if err := src.ReadBlock(b, bt, bx); err != nil {
			t.Fatal(err)
		}
		th, xs = append(th, bt...), append(xs, bx...)
		blocks = append(blocks, l)
	}
	n := len(th) / dt
	return mat.NewDense(n, dt, th), mat.NewDense(n, dx, xs), blocks
}

// streamSettings: 3 epochs of batches of 50, windows of 4 chunks (about
// 360 rows), so that several windows make an epoch.
func streamSettings() *sbi.TrainSettings {
	return &sbi.TrainSettings{Settings: flows.Settings{BatchSize: 50, MaxEpochs: 3, WindowBlocks: 4}}
}

var streamMAF = &sbi.NPEConfig{Estimator: flows.MAF{Transforms: 2, Hidden: 16}}

// trainedParams returns the network weights of an NPE's posterior and its
// log-probabilities at a few (θ, x) pairs.
func posteriorLogProbs(t *testing.T, npe *sbi.NPE) []float64 {
	t.Helper()
	post, err := npe.Posterior(nil)
	if err != nil {
		t.Fatal(err)
	}
	th := mat.NewDense(4, 2, []float64{0, 0, 0.5, -0.3, -0.7, 0.2, 0.1, 0.8})
	x := mat.NewDense(4, 2, []float64{0.1, 0, 0.4, -0.2, -0.6, 0.3, 0, 0.7})
	return post.Flow().LogProbBatch(nil, th, x)
}

// TestNPEStreamMatchesMemory trains NPE from a simulation file (streamed
// through the block cache) and from the same rows in memory with the same
// blocks: the results must agree bit for bit, and the cache must hold at
// most 2 windows of blocks.
func TestNPEStreamMatchesMemory(t *testing.T) {
	t.Parallel()
	const n = 3000 // 30 chunks of 100
	src := storeSource(t, n)
	if src.Dropped() == 0 {
		t.Fatalf("no dropped simulations: the test needs some")
	}
	theta, x, blocks := sourceData(t, src)

	prior := boxPrior(t)
	stream, err := sbi.NewNPE(prior, streamMAF)
	if err != nil {
		t.Fatal(err)
	}
	dropped, err := stream.AppendSource(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	if dropped != src.Dropped() || stream.NumSimulations() != theta.RawMatrix().Rows {
		t.Errorf("AppendSource: got %d dropped, %d simulations; want %d, %d", dropped, stream.NumSimulations(), src.Dropped(), theta.RawMatrix().Rows)
	}
	if r := stream.Rounds(); len(r) != 1 || r[0].Simulations != n || r[0].Dropped != src.Dropped() {
		t.Errorf("got rounds %+v, want one of %d simulations with %d dropped", r, n, src.Dropped())
	}
	sres, err := stream.Train(context.Background(), rand.New(rand.NewPCG(4, 4)), streamSettings())
	if err != nil {
		t.Fatal(err)
	}

	mem, err := sbi.NewNPE(prior, streamMAF)
	if err != nil {
		t.Fatal(err)
	}
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
	if sres.Epochs != 3 || sres.NumInvalid != src.Dropped() {
		t.Errorf("got %d epochs, %d invalid; want 3, %d", sres.Epochs, sres.NumInvalid, src.Dropped())
	}
	for i := range sres.History {
		a, b := sres.History[i], mres.History[i]
		if math.Float64bits(a.TrainLoss) != math.Float64bits(b.TrainLoss) || math.Float64bits(a.ValLoss) != math.Float64bits(b.ValLoss) {
			t.Errorf("epoch %d: streamed losses %v %v, in memory %v %v", i+1, a.TrainLoss, a.ValLoss, b.TrainLoss, b.ValLoss)
		}
	}
	got, want := posteriorLogProbs(t, stream), posteriorLogProbs(t, mem)
	for i := range got {
		if math.Float64bits(got[i]) != math.Float64bits(want[i]) {
			t.Errorf("point %d: streamed log-prob %v, in memory %v", i, got[i], want[i])
		}
	}
	checkStreamStats(t, sres.Stream, blocks)
}

// checkStreamStats checks the block input of a Train call with
// streamSettings (3 epochs, windows of 4 blocks, validation fraction 0.1)
// over blocks. Residency: at most 2 windows of 4 blocks. Reads: no block
// is read twice in an epoch: the statistics pass reads the ⌊0.9·nb⌋
// training blocks (the validation split of flows.Settings), each of the 3
// epochs at least those and at most all nb.
func checkStreamStats(t *testing.T, st *sbi.StreamStats, blocks []int) {
	t.Helper()
	if st == nil {
		t.Fatal("no stream statistics")
	}
	maxLen := slices.Max(blocks)
	if st.CacheBlocks != 8 || st.MaxResidentRows > 8*maxLen || st.MaxResidentRows < 4*maxLen/2 {
		t.Errorf("cache of %d blocks held up to %d rows; want 8 blocks, at most %d rows", st.CacheBlocks, st.MaxResidentRows, 8*maxLen)
	}
	nb := len(blocks)
	train := nb * 9 / 10
	if st.Blocks != nb || st.BlockReads > train+3*nb || st.BlockReads < train+3*train {
		t.Errorf("got %d block reads of %d blocks, want between %d and %d", st.BlockReads, st.Blocks, train+3*train, train+3*nb)
	}
}

// TestNPERowModeBuildUnchanged checks that building the network without
// gathering the training rows (the presets' fast path) gives bit for bit
// the network built from the gathered rows (the path of any other
// Estimator).
func TestNPERowModeBuildUnchanged(t *testing.T) {
	t.Parallel()
	prior := boxPrior(t)
	res, err := simulators.Simulate(context.Background(), noisySim, prior, 600, rand.New(rand.NewPCG(1, 2)), nil)
	if err != nil {
		t.Fatal(err)
	}
	var lps [][]float64
	for _, est := range []sbi.Estimator{flows.MAF{Transforms: 2, Hidden: 16}, wrappedMAF{flows.MAF{Transforms: 2, Hidden: 16}}} {
		npe, err := sbi.NewNPE(prior, &sbi.NPEConfig{Estimator: est})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := npe.AppendSimulations(res.Data.Theta, res.Data.X, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := npe.Train(context.Background(), rand.New(rand.NewPCG(7, 7)), &sbi.TrainSettings{Settings: flows.Settings{MaxEpochs: 2}}); err != nil {
			t.Fatal(err)
		}
		lps = append(lps, posteriorLogProbs(t, npe))
	}
	for i := range lps[0] {
		if math.Float64bits(lps[0][i]) != math.Float64bits(lps[1][i]) {
			t.Errorf("point %d: log-prob %v without gathering, %v from the gathered rows", i, lps[0][i], lps[1][i])
		}
	}
}

// wrappedMAF is an Estimator that is not a preset: NPE builds it from the
// gathered training rows.
type wrappedMAF struct{ m flows.MAF }

func (w wrappedMAF) Build(theta, x *mat.Dense, rng *rand.Rand) (*flows.Flow, error) {
	return w.m.Build(theta, x, rng)
}

// TestNPEStreamResume interrupts streamed training after epoch 1 and
// resumes it from its checkpoint: bit for bit the uninterrupted result.
func TestNPEStreamResume(t *testing.T) {
	t.Parallel()
	src := storeSource(t, 2000)
	prior := boxPrior(t)
	run := func(ck *flows.CheckpointSettings, stopAfter int) ([]float64, error) {
		npe, err := sbi.NewNPE(prior, streamMAF)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := npe.AppendSource(context.Background(), src); err != nil {
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
		_, err = npe.Train(ctx, rand.New(rand.NewPCG(5, 5)), s)
		if err != nil {
			return nil, err
		}
		return posteriorLogProbs(t, npe), nil
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
	for i := range got {
		if math.Float64bits(got[i]) != math.Float64bits(want[i]) {
			t.Errorf("point %d: resumed log-prob %v, uninterrupted %v", i, got[i], want[i])
		}
	}
}

// memSource is a Source in memory whose reads can fail.
type memSource struct {
	theta, x []float64
	dt, dx   int
	blocks   []int
	failAt   int // ReadBlock call that fails (1-based), 0: never
	calls    int
}

var errRead = errors.New("injected read error")

func (m *memSource) Dims() (int, int)   { return m.dt, m.dx }
func (m *memSource) NumBlocks() int     { return len(m.blocks) }
func (m *memSource) BlockLen(b int) int { return m.blocks[b] }
func (m *memSource) ReadBlock(b int, th, x []float64) error {
	m.calls++
	if m.calls == m.failAt {
		return errRead
	}
	lo := 0
	for _, l := range m.blocks[:b] {
		lo += l
	}
	copy(th, m.theta[lo*m.dt:])
	copy(x, m.x[lo*m.dx:])
	return nil
}

func newMemSource(t testing.TB, n, blockLen int) *memSource {
	t.Helper()
	res, err := simulators.Simulate(context.Background(), noisySim, boxPrior(t), n, rand.New(rand.NewPCG(1, 1)), nil)
	if err != nil {
		t.Fatal(err)
	}
	m := &memSource{dt: 2, dx: 2}
	for i := range n {
		th, x := res.Data.Theta.RawRowView(i), res.Data.X.RawRowView(i)
		if res.Status[i] == simulators.StatusOK {
			m.theta, m.x = append(m.theta, th...), append(m.x, x...)
		}
	}
	rows := len(m.theta) / 2
	for rows > 0 {
		l := min(blockLen, rows)
		m.blocks = append(m.blocks, l)
		rows -= l
	}
	return m
}

func TestNPESourceErrors(t *testing.T) {
	t.Parallel()
	prior := boxPrior(t)
	ctx := context.Background()
	newNPE := func() *sbi.NPE {
		npe, err := sbi.NewNPE(prior, streamMAF)
		if err != nil {
			t.Fatal(err)
		}
		return npe
	}
	t.Run("append", func(t *testing.T) {
		if _, err := newNPE().AppendSource(ctx, nil); !errors.Is(err, sbi.ErrInput) {
			t.Errorf("nil source: got %v, want ErrInput", err)
		}
		wrongDim := newMemSource(t, 200, 50)
		wrongDim.dt = 3
		if _, err := newNPE().AppendSource(ctx, wrongDim); !errors.Is(err, sbi.ErrInput) {
			t.Errorf("θ of 3 values for a 2-D prior: got %v, want ErrInput", err)
		}
		nan := newMemSource(t, 200, 50)
		nan.x[7] = math.Inf(1)
		if _, err := newNPE().AppendSource(ctx, nan); !errors.Is(err, sbi.ErrInvalidData) {
			t.Errorf("Inf in x: got %v, want ErrInvalidData", err)
		}
		outside := newMemSource(t, 200, 50)
		outside.theta[0] = 5
		if _, err := newNPE().AppendSource(ctx, outside); !errors.Is(err, sbi.ErrInput) {
			t.Errorf("θ outside the prior: got %v, want ErrInput", err)
		}
		failing := newMemSource(t, 200, 50)
		failing.failAt = 2
		if _, err := newNPE().AppendSource(ctx, failing); !errors.Is(err, errRead) {
			t.Errorf("read error: got %v, want it wrapped", err)
		}
		npe := newNPE()
		if _, err := npe.AppendSource(ctx, newMemSource(t, 200, 50)); err != nil {
			t.Fatal(err)
		}
		th := mat.NewDense(2, 2, []float64{0, 0, 0.1, 0.1})
		if _, err := npe.AppendSimulations(th, th, nil); !errors.Is(err, sbi.ErrInput) {
			t.Errorf("AppendSimulations after a source: got %v, want ErrInput", err)
		}
		if _, err := npe.AppendSource(ctx, newMemSource(t, 200, 50)); !errors.Is(err, sbi.ErrInput) {
			t.Errorf("a second source: got %v, want ErrInput", err)
		}
		s := streamSettings()
		s.Blocks = []int{1, 2}
		if _, err := npe.Train(ctx, rand.New(rand.NewPCG(1, 1)), s); !errors.Is(err, sbi.ErrInput) {
			t.Errorf("Blocks with a source: got %v, want ErrInput", err)
		}
	})
	t.Run("read error while training", func(t *testing.T) {
		src := newMemSource(t, 1000, 50)
		npe := newNPE()
		if _, err := npe.AppendSource(ctx, src); err != nil {
			t.Fatal(err)
		}
		// AppendSource reads every block once, the statistics pass the
		// training ones: fail during the first epoch.
		src.failAt = src.calls + 17 + 5
		res, err := npe.Train(ctx, rand.New(rand.NewPCG(1, 1)), streamSettings())
		if !errors.Is(err, errRead) {
			t.Fatalf("got %v, want the read error", err)
		}
		if res == nil || res.Epochs > 1 {
			t.Errorf("got result %+v, want at most 1 epoch", res)
		}
	})
	t.Run("in-memory blocks", func(t *testing.T) {
		npe := newNPE()
		th := mat.NewDense(4, 2, []float64{0, 0, 0.1, 0.1, 0.2, 0.2, 0.3, 0.3})
		if _, err := npe.AppendSimulations(th, th, nil); err != nil {
			t.Fatal(err)
		}
		s := streamSettings()
		s.Blocks = []int{1, 2}
		if _, err := npe.Train(ctx, rand.New(rand.NewPCG(1, 1)), s); !errors.Is(err, sbi.ErrInput) {
			t.Errorf("blocks of 3 rows for 4 simulations: got %v, want ErrInput", err)
		}
	})
}
