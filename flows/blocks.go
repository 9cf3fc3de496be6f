package flows

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"slices"
)

// DefaultWindowBlocks returns the number of blocks per shuffling window
// when Settings.WindowBlocks is zero: ⌊16384/L⌋ (at least 1), L the
// longest block, so that a window holds at most 16384 rows unless a single
// block is longer. 16384 rows make a window large enough for the batches of
// an epoch to mix data from about 80 batches of 200 while the window of 20
// float64 values per row takes 2.6 MB.
//
// Block mode of Fit, in detail. With Settings.Blocks set, the n rows of
// Fit are grouped in consecutive blocks: block b holds rows start_b, …,
// start_b+Blocks[b]-1, where start_0 = 0 and start_{b+1} = start_b +
// Blocks[b]. A loss backed by data on disk
// (a file of chunks, say) then needs only a few blocks in memory at a time.
// The order in which Fit visits the rows is, precisely:
//
//  1. Split (once, from Fit's rng): p = rng.Perm(B) over the B blocks; the
//     first T = ⌊(1-f)·B⌋ (at least 1, at most B-1) blocks of p train, in
//     that order (the "split order"); the others validate. See SplitBlocks.
//     Fit then draws its two seed values from rng, as in row mode.
//  2. Validation: the rows of the validation blocks in increasing block
//     order and, within a block, in increasing row order, in batches of
//     BatchSize rows (a sequential read of the validation blocks).
//  3. Every epoch (from Fit's own generator): the training blocks, in the
//     split order, are shuffled (rand.Rand.Shuffle); the shuffled list is cut
//     into windows of W consecutive blocks (the last window may be shorter);
//     the rows of each window, listed block by block, are shuffled
//     (rand.Rand.Shuffle) within the window, one window after the other.
//     The epoch's row order is the concatenation of the windows, and batches
//     are consecutive runs of BatchSize rows of it, as in row mode (the last
//     partial batch is dropped unless KeepLastBatch). A batch therefore
//     draws from at most two consecutive windows when BatchSize is at most
//     the rows of a window, so a cache of the 2W most recently used blocks
//     never reads a block twice in an epoch.
//
// W is Settings.WindowBlocks, by default DefaultWindowBlocks(Blocks). The
// validation fraction f applies to blocks, not rows: with blocks of unequal
// length the row fraction differs slightly. Everything else (Adam, clipping,
// early stopping, checkpoints) is as in row mode, and the same seed gives
// the same result.
func DefaultWindowBlocks(blocks []int) int {
	l := 1
	for _, b := range blocks {
		l = max(l, b)
	}
	return max(1, defaultWindowRows/l)
}

const defaultWindowRows = 16384

// SplitBlocks returns the training and validation blocks that Fit chooses
// in block mode for numBlocks blocks, validation fraction f (0 means 0.1)
// and an rng in the state Fit receives it: train in the split order (the
// first ⌊(1-f)·numBlocks⌋ entries of rng.Perm(numBlocks), at least 1 and at
// most numBlocks-1), val in increasing order. It draws from rng exactly as
// Fit's split does, so callers can compute statistics on the training
// blocks before calling Fit with an rng in the same state. It panics if
// numBlocks < 2 or f is not in (0, 1).
func SplitBlocks(numBlocks int, f float64, rng *rand.Rand) (train, val []int) {
	if f == 0 {
		f = 0.1
	}
	if numBlocks < 2 || !(f > 0 && f < 1) {
		panic(fmt.Sprintf("flows: SplitBlocks of %d blocks with validation fraction %v", numBlocks, f))
	}
	perm := rng.Perm(numBlocks)
	nt := min(max(int((1-f)*float64(numBlocks)), 1), numBlocks-1)
	val = perm[nt:]
	slices.Sort(val)
	return perm[:nt], val
}

// blockPlan is the block structure of a Fit call in block mode.
type blockPlan struct {
	starts []int // starts[b] is block b's first row; starts[B] = n
	train  []int // training blocks in the split order
	window int   // blocks per window
	order  []int // scratch: this epoch's block order
}

// checkBlocks validates block lengths for n rows.
func checkBlocks(blocks []int, n int) error {
	if len(blocks) < 2 {
		return fmt.Errorf("flows: %d blocks: need at least 2 to hold out a validation block: %w", len(blocks), ErrData)
	}
	sum := 0
	for b, l := range blocks {
		if l < 0 {
			return fmt.Errorf("flows: block %d has length %d: %w", b, l, ErrConfig)
		}
		sum += l
		if sum > n {
			break
		}
	}
	if sum != n {
		return fmt.Errorf("flows: the %d blocks hold %d rows or more, the data %d: %w", len(blocks), sum, n, ErrConfig)
	}
	return nil
}

// newBlockPlan splits the blocks (drawing from rng as SplitBlocks) and
// returns the plan with the initial training rows (in the split order,
// unshuffled) and the validation rows.
func newBlockPlan(blocks []int, f float64, window int, rng *rand.Rand) (p *blockPlan, train, val []int, err error) {
	p = &blockPlan{starts: make([]int, len(blocks)+1), window: window}
	for b, l := range blocks {
		p.starts[b+1] = p.starts[b] + l
	}
	if p.window == 0 {
		p.window = DefaultWindowBlocks(blocks)
	}
	var vb []int
	p.train, vb = SplitBlocks(len(blocks), f, rng)
	p.order = make([]int, len(p.train))
	train = p.appendRows(nil, p.train)
	val = p.appendRows(nil, vb)
	if len(train) == 0 || len(val) == 0 {
		return nil, nil, nil, fmt.Errorf("flows: the %d training blocks hold %d rows and the %d validation blocks %d: need at least one each: %w",
			len(p.train), len(train), len(vb), len(val), ErrData)
	}
	return p, train, val, nil
}

// appendRows appends the rows of the listed blocks, block by block, to dst.
func (p *blockPlan) appendRows(dst []int, blocks []int) []int {
	for _, b := range blocks {
		for r := p.starts[b]; r < p.starts[b+1]; r++ {
			dst = append(dst, r)
		}
	}
	return dst
}

// shuffle writes the next epoch's row order into rows (len = training
// rows): blocks shuffled, then rows within windows of p.window blocks.
func (p *blockPlan) shuffle(rng *rand.Rand, rows []int) {
	copy(p.order, p.train)
	rng.Shuffle(len(p.order), func(i, j int) { p.order[i], p.order[j] = p.order[j], p.order[i] })
	at := 0
	for w := 0; w < len(p.order); w += p.window {
		from := at
		for _, b := range p.order[w:min(w+p.window, len(p.order))] {
			for r := p.starts[b]; r < p.starts[b+1]; r++ {
				rows[at] = r
				at++
			}
		}
		win := rows[from:at]
		rng.Shuffle(len(win), func(i, j int) { win[i], win[j] = win[j], win[i] })
	}
}

// blocksHash identifies a list of block lengths in a checkpoint: FNV-1a
// (64 bits) of the lengths as little-endian uint64.
func blocksHash(blocks []int) uint64 {
	h := fnv.New64a()
	var b [8]byte
	for _, l := range blocks {
		for i := range b {
			b[i] = byte(uint64(l) >> (8 * i))
		}
		h.Write(b[:])
	}
	return h.Sum64()
}

// Moments accumulates the column means and standard deviations of data
// seen one block of rows at a time, for z-scoring data that do not fit in
// memory. Each block's mean and sum of squared deviations are computed
// exactly by two passes over the block, and blocks are merged by the
// pairwise update of Chan, Golub & LeVeque (1979, "Updating formulae and a
// pairwise algorithm for computing sample variances"), so the result equals
// the two-pass statistics of all rows up to rounding and depends only on
// the rows and the order of the Add calls. The zero value is ready to use.
type Moments struct {
	n    int
	mean []float64
	m2   []float64 // sums of squared deviations from mean
	bm   []float64 // scratch: block mean
	bs   []float64 // scratch: block sum of squares
}

// Add adds the rows of a block: data holds len(data)/cols rows of cols
// values, row-major. It panics if cols < 1, len(data) is not a multiple of
// cols, or cols differs from an earlier call.
func (m *Moments) Add(data []float64, cols int) {
	if cols < 1 || len(data)%cols != 0 || (m.mean != nil && len(m.mean) != cols) {
		panic(fmt.Sprintf("flows: Moments.Add of %d values in %d columns", len(data), cols))
	}
	if m.mean == nil {
		m.mean, m.m2 = make([]float64, cols), make([]float64, cols)
		m.bm, m.bs = make([]float64, cols), make([]float64, cols)
	}
	k := len(data) / cols
	if k == 0 {
		return
	}
	clear(m.bm)
	clear(m.bs)
	for i := 0; i < k; i++ {
		for j, v := range data[i*cols : (i+1)*cols] {
			m.bm[j] += v
		}
	}
	for j := range m.bm {
		m.bm[j] /= float64(k)
	}
	for i := 0; i < k; i++ {
		for j, v := range data[i*cols : (i+1)*cols] {
			d := v - m.bm[j]
			m.bs[j] += d * d
		}
	}
	if m.n == 0 {
		copy(m.mean, m.bm)
		copy(m.m2, m.bs)
		m.n = k
		return
	}
	na, nb := float64(m.n), float64(k)
	nt := na + nb
	for j := range m.mean {
		delta := m.bm[j] - m.mean[j]
		m.mean[j] += delta * nb / nt
		m.m2[j] += m.bs[j] + delta*delta*na*nb/nt
	}
	m.n += k
}

// N returns the number of rows added.
func (m *Moments) N() int { return m.n }

// MeanStd returns the column means and unbiased (n-1) standard deviations
// of the rows added, with the guard of the presets' z-scoring: a column
// whose std is not finite, comes from fewer than two rows or is below
// 1e-12·max(1, |mean|) gets std 1. Both are nil before any row was added.
func (m *Moments) MeanStd() (mean, std []float64) {
	if m.n == 0 {
		return nil, nil
	}
	mean = slices.Clone(m.mean)
	std = make([]float64, len(mean))
	for j := range std {
		s := math.NaN()
		if m.n > 1 {
			s = math.Sqrt(m.m2[j] / float64(m.n-1))
		}
		if !(s >= minStdFrac*math.Max(1, math.Abs(mean[j]))) || math.IsInf(s, 0) {
			s = 1
		}
		std[j] = s
	}
	return mean, std
}

// RowsMeanStd returns the column means and unbiased standard deviations of
// the rows idx (in that order) of the row-major data with cols columns,
// bit for bit what the presets' z-scoring computes from a matrix holding
// those rows (two passes, the same guard as Moments.MeanStd), without
// copying them. It panics if an index is out of range.
func RowsMeanStd(data []float64, cols int, idx []int) (mean, std []float64) {
	r := len(idx)
	mean = make([]float64, cols)
	std = make([]float64, cols)
	for _, i := range idx {
		for j, v := range data[i*cols : (i+1)*cols] {
			mean[j] += v
		}
	}
	for j := range mean {
		mean[j] /= float64(r)
	}
	for _, i := range idx {
		for j, v := range data[i*cols : (i+1)*cols] {
			d := v - mean[j]
			std[j] += d * d
		}
	}
	for j := range std {
		s := math.NaN()
		if r > 1 {
			s = math.Sqrt(std[j] / float64(r-1))
		}
		if !(s >= minStdFrac*math.Max(1, math.Abs(mean[j]))) || math.IsInf(s, 0) {
			s = 1
		}
		std[j] = s
	}
	return mean, std
}

// Restandardize replaces, in place, the statistics of f's z-scorings: of
// the data (the Standardize transform that starts f's transform, as the
// presets MAF and NSF build it with ZScoreIndependent) with xMean and xStd,
// and of the context with cMean and cStd. A pair is ignored when f has no
// such z-scoring (a preset built with ZScoreNone), so statistics can be
// computed for both without knowing the preset's options. It lets a flow
// built from a small sample of the data get statistics computed by
// streaming over all of it (see Moments). Call it before the flow is used
// concurrently. The error wraps ErrConfig for statistics of the wrong
// length, a non-finite mean or a std that is not positive and finite; f is
// then unchanged.
func (f *Flow) Restandardize(xMean, xStd, cMean, cStd []float64) error {
	var xs *Standardize
	if c, ok := f.t.(*Composed); ok && len(c.ts) > 0 {
		xs, _ = c.ts[0].(*Standardize)
	} else if s, ok := f.t.(*Standardize); ok {
		xs = s
	}
	type pair struct {
		s         *Standardize
		mean, std []float64
		what      string
	}
	pairs := []pair{{xs, xMean, xStd, "data"}, {f.ctxNorm, cMean, cStd, "context"}}
	for _, p := range pairs {
		if p.s == nil {
			continue
		}
		if len(p.mean) != p.s.mean.Cols || len(p.std) != p.s.mean.Cols {
			return fmt.Errorf("flows: Restandardize: %d means and %d stds for %d %s features: %w",
				len(p.mean), len(p.std), p.s.mean.Cols, p.what, ErrConfig)
		}
		if _, err := NewStandardize("check", p.mean, p.std); err != nil {
			return fmt.Errorf("flows: Restandardize: %s: %w", p.what, err)
		}
	}
	for _, p := range pairs {
		if p.s != nil {
			copy(p.s.mean.Data, p.mean)
			copy(p.s.std.Data, p.std)
			p.s.refresh()
		}
	}
	return nil
}
