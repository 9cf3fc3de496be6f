package flows

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/gosbi/gosbi/nn"
	"gonum.org/v1/gonum/mat"
)

// ragged returns block lengths summing to n: lengths 0..maxLen drawn from
// rng, the last block taking the rest.
func ragged(n, maxLen int, rng *rand.Rand) []int {
	var bl []int
	left := n
	for left > maxLen {
		l := rng.IntN(maxLen + 1)
		bl = append(bl, l)
		left -= l
	}
	return append(bl, left)
}

// TestBlockOrder records the rows Fit asks for in block mode and checks
// the documented order: validation = the validation blocks in increasing
// order, read sequentially; every epoch a permutation of the training rows
// made of windows of W whole blocks; the split as SplitBlocks.
func TestBlockOrder(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		blocks []int
		window int
		batch  int
		keep   bool
	}{
		{"equal blocks, window 3", slices.Repeat([]int{10}, 20), 3, 7, false},
		{"equal blocks, default window", slices.Repeat([]int{10}, 20), 0, 16, true},
		{"ragged blocks with empty ones", ragged(300, 12, rand.New(rand.NewPCG(3, 4))), 4, 9, true},
		{"window larger than the blocks", slices.Repeat([]int{5}, 7), 50, 4, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := 0
			starts := []int{0}
			for _, l := range tc.blocks {
				n += l
				starts = append(starts, n)
			}
			blockOf := func(r int) int {
				b, _ := slices.BinarySearch(starts, r+1)
				return b - 1
			}
			// Fit calls the loss with training batches (recorded by the
			// parameter gradient they need) and, with a NoGrad tape, with
			// validation batches.
			p := nn.NewParam("p", 1, 1)
			var trainRows [][]int // per epoch
			var valRows []int
			loss := func(tp *nn.Tape, idx []int) *nn.Tensor {
				if tp.NoGrad {
					valRows = append(valRows, idx...)
				} else {
					trainRows[len(trainRows)-1] = append(trainRows[len(trainRows)-1], idx...)
				}
				return tp.Mean(tp.Mul(p, p))
			}
			const epochs = 3
			s := &Settings{BatchSize: tc.batch, MaxEpochs: epochs, Blocks: tc.blocks, WindowBlocks: tc.window, KeepLastBatch: tc.keep,
				OnEpoch: func(EpochStats) error { trainRows = append(trainRows, nil); return nil }}
			trainRows = [][]int{nil}
			seed := uint64(17)
			res, err := Fit(context.Background(), []*nn.Tensor{p}, n, loss, rand.New(rand.NewPCG(seed, 1)), s)
			if err != nil {
				t.Fatal(err)
			}
			trainRows = trainRows[:epochs]
			trB, vaB := SplitBlocks(len(tc.blocks), 0, rand.New(rand.NewPCG(seed, 1)))
			var wantVal, trainSet []int
			for _, b := range vaB {
				for r := starts[b]; r < starts[b+1]; r++ {
					wantVal = append(wantVal, r)
				}
			}
			for _, b := range trB {
				for r := starts[b]; r < starts[b+1]; r++ {
					trainSet = append(trainSet, r)
				}
			}
			slices.Sort(trainSet)
			if res.NumTrain != len(trainSet) || res.NumVal != len(wantVal) {
				t.Errorf("got %d training and %d validation rows, want %d and %d", res.NumTrain, res.NumVal, len(trainSet), len(wantVal))
			}
			for e := range epochs {
				if got, want := valRows[e*len(wantVal):(e+1)*len(wantVal)], wantVal; !slices.Equal(got, want) {
					t.Fatalf("epoch %d: validation rows %v, want %v", e+1, got, want)
				}
			}
			w := tc.window
			if w == 0 {
				w = DefaultWindowBlocks(tc.blocks)
			}
			for e, rows := range trainRows {
				nt := len(trainSet)
				if !tc.keep {
					nt -= nt % min(tc.batch, nt)
				}
				if len(rows) != nt {
					t.Fatalf("epoch %d: %d training rows, want %d", e+1, len(rows), nt)
				}
				// Windows: consecutive runs covering exactly W whole blocks
				// (fewer at the end). Rebuild the full order: the dropped
				// tail is the end of the last window.
				var blocksSeen []int
				inWindow := map[int]bool{}
				at, nb := 0, 0
				for at < len(rows) {
					b := blockOf(rows[at])
					if !inWindow[b] {
						if nb == w {
							clear(inWindow)
							nb = 0
						}
						inWindow[b] = true
						nb++
						blocksSeen = append(blocksSeen, b)
						// The window's rows: each of its blocks' rows once.
					}
					at++
				}
				if !tc.keep {
					continue
				}
				sorted := slices.Clone(rows)
				slices.Sort(sorted)
				if !slices.Equal(sorted, trainSet) {
					t.Fatalf("epoch %d: the training rows are not a permutation of the training split", e+1)
				}
				// Every window of W consecutive new blocks holds exactly
				// their rows: count rows per window.
				for k := 0; k < len(blocksSeen); k += w {
					win := blocksSeen[k:min(k+w, len(blocksSeen))]
					want := 0
					for _, b := range win {
						want += tc.blocks[b]
					}
					var got int
					for _, r := range rows {
						if slices.Contains(win, blockOf(r)) {
							got++
						}
					}
					if got != want {
						t.Fatalf("epoch %d window %d: %d rows of its blocks in the epoch, want %d", e+1, k/w, got, want)
					}
				}
			}
			// The exact documented order, from Fit's generator: the split,
			// then two seed values, then per epoch the block shuffle from
			// the split order and the row shuffles window by window.
			rng := rand.New(rand.NewPCG(seed, 1))
			rng.Perm(len(tc.blocks))
			er := rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64()))
			for e := range epochs {
				order := slices.Clone(trB)
				er.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
				var want []int
				for k := 0; k < len(order); k += w {
					var win []int
					for _, b := range order[k:min(k+w, len(order))] {
						for r := starts[b]; r < starts[b+1]; r++ {
							win = append(win, r)
						}
					}
					er.Shuffle(len(win), func(i, j int) { win[i], win[j] = win[j], win[i] })
					want = append(want, win...)
				}
				if got := trainRows[e]; !slices.Equal(got, want[:len(got)]) {
					t.Fatalf("epoch %d: got order %v, want %v", e+1, got, want)
				}
			}
			if tc.keep && len(trB) > 2 && slices.Equal(trainRows[0], trainRows[1]) {
				t.Errorf("epochs 1 and 2 visited the rows in the same order")
			}
		})
	}
}

// TestBlockWindowsAreContiguous checks, with equal blocks, that each
// window occupies one contiguous run of the epoch order.
func TestBlockWindowsAreContiguous(t *testing.T) {
	t.Parallel()
	blocks := slices.Repeat([]int{4}, 30)
	p := nn.NewParam("p", 1, 1)
	var rows []int
	loss := func(tp *nn.Tape, idx []int) *nn.Tensor {
		if !tp.NoGrad {
			rows = append(rows, idx...)
		}
		return tp.Mean(tp.Mul(p, p))
	}
	const w = 5
	s := &Settings{BatchSize: 8, MaxEpochs: 1, Blocks: blocks, WindowBlocks: w, KeepLastBatch: true}
	if _, err := Fit(context.Background(), []*nn.Tensor{p}, 120, loss, rand.New(rand.NewPCG(5, 5)), s); err != nil {
		t.Fatal(err)
	}
	// 27 training blocks: windows of 20 rows, the last one of 8.
	for from := 0; from < len(rows); from += w * 4 {
		win := rows[from:min(from+w*4, len(rows))]
		bs := map[int]int{}
		for _, r := range win {
			bs[r/4]++
		}
		for b, k := range bs {
			if k != 4 {
				t.Fatalf("window at %d: block %d has %d of its 4 rows, want all", from, b, k)
			}
		}
		if sorted := slices.IsSorted(win); sorted {
			t.Errorf("window at %d: rows not shuffled: %v", from, win)
		}
	}
}

// blockSettings: ckSettings in block mode, 30 blocks of 10 rows (27
// training blocks: 270 rows as in row mode, 30 validation rows), windows of
// 4 blocks.
var blockSettings = func() Settings {
	s := ckSettings
	s.Blocks = slices.Repeat([]int{10}, 30)
	s.WindowBlocks = 4
	return s
}()

func TestBlockModeReproducibleAndResumable(t *testing.T) {
	t.Parallel()
	want := ckTrain(t, nil, blockSettings, nil, 0)
	if want.err != nil || want.res.Epochs < 4 {
		t.Fatalf("uninterrupted run: %d epochs, %v; the test needs at least 4", want.res.Epochs, want.err)
	}
	sameRun(t, ckTrain(t, nil, blockSettings, nil, 0), want)
	rowMode := ckTrain(t, nil, ckSettings, nil, 0)
	if slices.Equal(rowMode.params, want.params) {
		t.Errorf("block mode trained the same weights as row mode")
	}
	for _, tc := range []struct {
		name   string
		hook   func(epoch int, cancel func())
		atCall int
	}{
		{name: "cancel after epoch 2", hook: func(e int, cancel func()) {
			if e == 2 {
				cancel()
			}
		}},
		// 5 steps and 1 validation chunk per epoch: call 9 is the third
		// step of epoch 2, inside its first window of 40 rows.
		{name: "cancel mid-epoch", atCall: 9},
		{name: "cancel in the second window", atCall: 6 + 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ck := &CheckpointSettings{Path: filepath.Join(t.TempDir(), "ck"), Tag: "blocks"}
			first := ckTrain(t, ck, blockSettings, tc.hook, tc.atCall)
			if !errors.Is(first.err, context.Canceled) {
				t.Fatalf("interrupted run: got error %v, want context.Canceled", first.err)
			}
			second := ckTrain(t, ck, blockSettings, nil, 0)
			if second.err != nil {
				t.Fatal(second.err)
			}
			sameRun(t, second, want)
		})
	}
	t.Run("other blocks rejected", func(t *testing.T) {
		dir := t.TempDir()
		ck := &CheckpointSettings{Path: filepath.Join(dir, "ck")}
		first := ckTrain(t, ck, blockSettings, func(e int, cancel func()) { cancel() }, 0)
		if !errors.Is(first.err, context.Canceled) {
			t.Fatalf("got %v, want context.Canceled", first.err)
		}
		other := blockSettings
		other.Blocks = append(slices.Repeat([]int{10}, 28), 5, 15)
		otherWindow := blockSettings
		otherWindow.WindowBlocks = 5
		for _, s := range []Settings{other, otherWindow, ckSettings} {
			got := ckTrain(t, ck, s, nil, 0)
			if !errors.Is(got.err, ErrCheckpoint) {
				t.Errorf("blocks %v window %d: got %v, want ErrCheckpoint", s.Blocks, s.WindowBlocks, got.err)
			}
		}
	})
}

func TestBlockSettingsInvalid(t *testing.T) {
	t.Parallel()
	p := nn.NewParam("p", 1, 1)
	loss := func(tp *nn.Tape, _ []int) *nn.Tensor { return tp.Mean(tp.Mul(p, p)) }
	for _, tc := range []struct {
		name   string
		n      int
		blocks []int
		window int
		want   error
	}{
		{"sum too small", 10, []int{3, 3}, 0, ErrConfig},
		{"sum too large", 5, []int{3, 3}, 0, ErrConfig},
		{"negative length", 4, []int{5, -1}, 0, ErrConfig},
		{"one block", 5, []int{5}, 0, ErrData},
		{"negative window", 6, []int{3, 3}, -1, ErrConfig},
		{"empty validation block", 6, []int{6, 0}, 0, ErrData},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &Settings{Blocks: tc.blocks, WindowBlocks: tc.window}
			// ValidationFraction 0.5 with two blocks: the empty one validates
			// for this seed or the full one does; try seeds until the empty
			// one is held out (the split is random).
			for seed := range uint64(20) {
				_, err := Fit(context.Background(), []*nn.Tensor{p}, tc.n, loss, rand.New(rand.NewPCG(seed, 0)), s)
				if errors.Is(err, tc.want) {
					return
				}
				if tc.name != "empty validation block" {
					t.Fatalf("got %v, want %v", err, tc.want)
				}
			}
			t.Errorf("no seed gave %v", tc.want)
		})
	}
}

func TestMomentsMatchTwoPass(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(8, 8))
	const n, d = 1000, 3
	data := make([]float64, n*d)
	for i := range n {
		data[i*d] = 1e6 + rng.NormFloat64()    // large offset: a naive sum of squares would lose digits
		data[i*d+1] = 3                        // constant: std 1 by the guard
		data[i*d+2] = 0.01 * rng.NormFloat64() // small scale
	}
	wantMean, wantStd := meanStd(mat.NewDense(n, d, slices.Clone(data)))
	var m Moments
	at := 0
	for _, l := range ragged(n, 37, rng) {
		m.Add(data[at*d:(at+l)*d], d)
		at += l
	}
	if m.N() != n {
		t.Fatalf("got N %d, want %d", m.N(), n)
	}
	mean, std := m.MeanStd()
	for j := range d {
		// Both are exact to rounding: relative 1e-12 is thousands of ulps
		// of headroom for 1000 rows.
		if math.Abs(mean[j]-wantMean[j]) > 1e-12*math.Max(1, math.Abs(wantMean[j])) ||
			math.Abs(std[j]-wantStd[j]) > 1e-9*wantStd[j] {
			t.Errorf("column %d: got mean %v std %v, want %v %v", j, mean[j], std[j], wantMean[j], wantStd[j])
		}
	}
	if std[1] != 1 {
		t.Errorf("constant column: got std %v, want 1", std[1])
	}
	// RowsMeanStd is bit for bit meanStd of the gathered rows.
	idx := rng.Perm(n)[:400]
	gathered := make([]float64, 0, 400*d)
	for _, i := range idx {
		gathered = append(gathered, data[i*d:(i+1)*d]...)
	}
	gm, gs := meanStd(mat.NewDense(400, d, gathered))
	rm, rs := RowsMeanStd(data, d, idx)
	for j := range d {
		if math.Float64bits(gm[j]) != math.Float64bits(rm[j]) || math.Float64bits(gs[j]) != math.Float64bits(rs[j]) {
			t.Errorf("column %d: RowsMeanStd %v %v, meanStd %v %v", j, rm[j], rs[j], gm[j], gs[j])
		}
	}
}

// TestRestandardize: a MAF built on a sample and given another data set's
// statistics is bit for bit the MAF built on that data set.
func TestRestandardize(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(2, 2))
	th, x := linearGaussianData(200, rng)
	sample := mat.DenseCopyOf(th.Slice(0, 5, 0, 2))
	sampleX := mat.DenseCopyOf(x.Slice(0, 5, 0, 2))
	want, err := MAF{Transforms: 2, Hidden: 8}.Build(th, x, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		t.Fatal(err)
	}
	got, err := MAF{Transforms: 2, Hidden: 8}.Build(sample, sampleX, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		t.Fatal(err)
	}
	m1, s1 := meanStd(th)
	m2, s2 := meanStd(x)
	if err := got.Restandardize(m1, s1[:1], m2, s2); !errors.Is(err, ErrConfig) {
		t.Errorf("short std: got %v, want ErrConfig", err)
	}
	if err := got.Restandardize(m1, []float64{1, -1}, m2, s2); !errors.Is(err, ErrConfig) {
		t.Errorf("negative std: got %v, want ErrConfig", err)
	}
	if err := got.Restandardize(m1, s1, m2, s2); err != nil {
		t.Fatal(err)
	}
	lw := want.LogProbBatch(nil, th, x)
	lg := got.LogProbBatch(nil, th, x)
	for i := range lw {
		if math.Float64bits(lw[i]) != math.Float64bits(lg[i]) {
			t.Fatalf("row %d: got log-prob %v, want %v", i, lg[i], lw[i])
		}
	}
	// A flow without z-scoring ignores the statistics.
	none, err := MAF{Transforms: 1, Hidden: 4, ZScoreX: ZScoreNone, ZScoreContext: ZScoreNone}.Build(th, x, rng)
	if err != nil {
		t.Fatal(err)
	}
	if err := none.Restandardize(nil, nil, nil, nil); err != nil {
		t.Errorf("no z-scoring: got %v, want nil", err)
	}
}
