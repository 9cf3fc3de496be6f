package sbi

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/gosbi/gosbi/dist"
	"github.com/gosbi/gosbi/flows"
	"github.com/gosbi/gosbi/nn"
	"gonum.org/v1/gonum/mat"
)

// Source is a data set of simulations (θ_i, x_i) stored in consecutive
// blocks that are read one at a time, typically from a file larger than
// memory: simulators.StoreSource implements it for simulation files. Its
// rows are numbered block after block. A Source holds only valid rows:
// failed and invalid simulations are left out by the implementation (which
// may report how many through an optional Dropped() int method). Its
// content must not change while an estimator uses it.
type Source interface {
	// Dims returns the lengths of θ and x.
	Dims() (thetaDim, xDim int)
	// NumBlocks returns the number of blocks.
	NumBlocks() int
	// BlockLen returns the number of rows of block b (possibly 0).
	BlockLen(b int) int
	// ReadBlock reads block b into theta and x, row-major, of lengths
	// BlockLen(b)·thetaDim and BlockLen(b)·xDim.
	ReadBlock(b int, theta, x []float64) error
}

// StreamStats reports the block input of a Train call on a Source.
type StreamStats struct {
	// Blocks is the number of blocks of the source, and CacheBlocks the
	// capacity of the least-recently-used block cache (2 windows of
	// flows.Settings.WindowBlocks blocks, at least 2).
	Blocks, CacheBlocks int
	// BlockReads counts the blocks read while training (the statistics
	// pass and cache misses); about (1+epochs) times the number of blocks
	// when the cache never reads a block twice in an epoch.
	BlockReads int
	// MaxResidentRows is the largest number of rows held in the cache at
	// any time.
	MaxResidentRows int
}

// AppendSource makes src the estimator's training data, instead of
// simulations held in memory: a single round from the prior, trained by
// maximum likelihood. Train then streams src in flows.Fit's block mode (see
// NPE.Train). The estimator must have no simulations yet, and
// AppendSimulations cannot follow. AppendSource reads every block once to
// check it: finite values, BlockLen(b) rows, θ inside the prior's support.
// It returns the number of rows src reports as dropped (its Dropped method,
// 0 without one), recorded in Rounds. Errors wrap ErrInput for a nil
// source, mismatched dimensions, fewer than 2 blocks or θ outside the
// support, ErrInvalidData for non-finite values, and the source's read
// errors; the estimator is then unchanged. ctx is checked between blocks.
func (e *NPE) AppendSource(ctx context.Context, src Source) (int, error) {
	blocks, n, round, err := openSource(ctx, "AppendSource", src, e.prior, len(e.rounds))
	if err != nil {
		return 0, err
	}
	_, e.xDim = src.Dims()
	e.src, e.srcBlocks, e.n = src, blocks, n
	e.rounds = append(e.rounds, round)
	return round.Dropped, nil
}

// openSource checks src (see checkSource) as the training data of an
// estimator that has rounds rounds of simulations so far (there must be
// none); method names the caller in errors. It returns the block lengths,
// the number of rows and the estimator's round of src, with the rows src
// reports as dropped (its Dropped method, 0 without one).
func openSource(ctx context.Context, method string, src Source, prior dist.Distribution, rounds int) (blocks []int, n int, round RoundInfo, err error) {
	if src == nil {
		return nil, 0, RoundInfo{}, fmt.Errorf("sbi: %s: nil source: %w", method, ErrInput)
	}
	if rounds > 0 {
		return nil, 0, RoundInfo{}, fmt.Errorf("sbi: %s: the estimator already has %d rounds of simulations: %w", method, rounds, ErrInput)
	}
	blocks, n, err = checkSource(ctx, src, prior)
	if err != nil {
		return nil, 0, RoundInfo{}, err
	}
	dropped := 0
	if d, ok := src.(interface{ Dropped() int }); ok {
		dropped = d.Dropped()
	}
	return blocks, n, RoundInfo{Proposal: fromPrior.String(), Simulations: n + dropped, Dropped: dropped}, nil
}

// checkSource reads every block of src and checks it against prior; it
// returns the block lengths and the number of rows.
func checkSource(ctx context.Context, src Source, prior dist.Distribution) (blocks []int, n int, err error) {
	dt, dx := src.Dims()
	if dt != prior.Dim() || dx < 1 {
		return nil, 0, fmt.Errorf("sbi: source with θ of %d and x of %d values, prior dimension %d: %w", dt, dx, prior.Dim(), ErrInput)
	}
	nb := src.NumBlocks()
	if nb < 2 {
		return nil, 0, fmt.Errorf("sbi: source with %d blocks: need at least 2 to hold out a validation block: %w", nb, ErrInput)
	}
	blocks = make([]int, nb)
	var th, xs, lp []float64
	for b := range nb {
		if err := ctx.Err(); err != nil {
			return nil, 0, fmt.Errorf("sbi: checking the source: %w", err)
		}
		l := src.BlockLen(b)
		if l < 0 {
			return nil, 0, fmt.Errorf("sbi: source block %d has %d rows: %w", b, l, ErrInput)
		}
		blocks[b] = l
		n += l
		if l == 0 {
			continue
		}
		th, xs = grow(th, l*dt), grow(xs, l*dx)
		if err := src.ReadBlock(b, th, xs); err != nil {
			return nil, 0, fmt.Errorf("sbi: reading source block %d: %w", b, err)
		}
		if !finite(th) || !finite(xs) {
			return nil, 0, fmt.Errorf("sbi: source block %d holds NaN or ±Inf values: %w", b, ErrInvalidData)
		}
		lp = grow(lp, l)
		dist.LogProbs(prior, mat.NewDense(l, dt, th), lp)
		for i, v := range lp {
			if math.IsInf(v, -1) || math.IsNaN(v) {
				return nil, 0, fmt.Errorf("sbi: source block %d row %d: θ outside the prior's support: %w", b, i, ErrInput)
			}
		}
	}
	return blocks, n, nil
}

// blockData is the training data of a Train call in block mode, as seen
// by the statistics pass: in memory (theta, x row-major, rows numbered as
// the blocks) or from a source.
type blockData struct {
	src      Source    // nil: in memory
	theta, x []float64 // in memory
	dt, dx   int
	starts   []int // starts[b] is block b's first row
	// onBlock, if non-nil, sees the rows of every block the statistics
	// pass reads.
	onBlock func(theta, x []float64)
}

func newBlockData(src Source, theta, x []float64, dt, dx int, blocks []int) *blockData {
	d := &blockData{src: src, theta: theta, x: x, dt: dt, dx: dx, starts: make([]int, len(blocks)+1)}
	for b, l := range blocks {
		d.starts[b+1] = d.starts[b] + l
	}
	return d
}

// read returns block b's rows, in the scratch buffers for a source.
func (d *blockData) read(b int, th, xs []float64) ([]float64, []float64, error) {
	lo, hi := d.starts[b], d.starts[b+1]
	if d.src == nil {
		return d.theta[lo*d.dt : hi*d.dt], d.x[lo*d.dx : hi*d.dx], nil
	}
	th, xs = grow(th, (hi-lo)*d.dt), grow(xs, (hi-lo)*d.dx)
	if err := d.src.ReadBlock(b, th, xs); err != nil {
		return nil, nil, fmt.Errorf("sbi: reading source block %d: %w", b, err)
	}
	return th, xs, nil
}

// blockStats is the statistics pass of block mode: the z-scoring statistics
// of θ and x over the training blocks (train, in increasing block order,
// by flows.Moments), and a sample to build the network from (the rows of
// the first of those blocks that has rows). reads counts the blocks read.
func (d *blockData) blockStats(ctx context.Context, train []int) (thM, thS, xM, xS []float64, sampleTh, sampleX *mat.Dense, reads int, err error) {
	order := slices.Sorted(slices.Values(train))
	var mt, mx flows.Moments
	var th, xs []float64
	for _, b := range order {
		if d.starts[b+1] == d.starts[b] {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, nil, nil, nil, nil, nil, reads, fmt.Errorf("sbi: Train: %w", err)
		}
		bt, bx, err := d.read(b, th, xs)
		if err != nil {
			return nil, nil, nil, nil, nil, nil, reads, err
		}
		if d.src != nil {
			th, xs = bt, bx
			reads++
		}
		if sampleTh == nil {
			l := d.starts[b+1] - d.starts[b]
			sampleTh = mat.NewDense(l, d.dt, slices.Clone(bt))
			sampleX = mat.NewDense(l, d.dx, slices.Clone(bx))
		}
		mt.Add(bt, d.dt)
		mx.Add(bx, d.dx)
		if d.onBlock != nil {
			d.onBlock(bt, bx)
		}
	}
	thM, thS = mt.MeanStd()
	xM, xS = mx.MeanStd()
	return thM, thS, xM, xS, sampleTh, sampleX, reads, nil
}

// restandardizable reports whether the estimator's network depends on the
// data only through its z-scoring, so that it can be built from a sample
// and given statistics computed elsewhere (flows.Flow.Restandardize): the
// presets flows.MAF and flows.NSF, without an embedding or with an
// MLPEmbedding (DeepSetsEmbedding fits its own statistics to the data).
func (e *NPE) restandardizable() bool {
	switch e.est.(type) {
	case flows.MAF, flows.NSF, *flows.MAF, *flows.NSF:
	default:
		return false
	}
	switch e.emb.(type) {
	case nil, MLPEmbedding, *MLPEmbedding:
		return true
	}
	return false
}

// buildRestandardized builds the network from the sample rows and sets its
// z-scoring statistics.
func (e *NPE) buildRestandardized(sampleTh, sampleX *mat.Dense, thM, thS, xM, xS []float64, rng *rand.Rand) error {
	f, spec, err := e.build(sampleTh, sampleX, rng)
	if err != nil {
		return err
	}
	if err := f.Restandardize(thM, thS, xM, xS); err != nil {
		return fmt.Errorf("sbi: Train: %w: %w", err, ErrInput)
	}
	e.flow, e.spec = f, spec
	return nil
}

// checkBlockSettings validates the block lengths of a Train call in block
// mode for n rows (flows.Fit checks them too, but only after the network
// is built).
func checkBlockSettings(blocks []int, n int, vf float64) error {
	if len(blocks) < 2 {
		return fmt.Errorf("sbi: Train: %d blocks: need at least 2: %w", len(blocks), ErrInput)
	}
	sum := 0
	for b, l := range blocks {
		if l < 0 {
			return fmt.Errorf("sbi: Train: block %d has length %d: %w", b, l, ErrInput)
		}
		sum += l
	}
	if sum != n {
		return fmt.Errorf("sbi: Train: the blocks hold %d rows, the estimator %d simulations: %w", sum, n, ErrInput)
	}
	return nil
}

// streamLoss is -mean log q(θ_i | x_i) over the rows idx, gathered from
// the block cache.
func (e *NPE) streamLoss(c *blockCache) flows.LossFunc {
	dt, dx, f := e.prior.Dim(), e.xDim, e.flow
	return func(tp *nn.Tape, idx []int) *nn.Tensor {
		th := tp.New(len(idx), dt)
		xs := tp.New(len(idx), dx)
		c.gather(idx, th.Data, xs.Data)
		return tp.Neg(tp.Mean(f.LogProb(tp, th, xs)))
	}
}

// addSource makes src the training data of an NLE or NRE (see
// NLE.AppendSource); who names the caller in errors.
func (s *simStore) addSource(ctx context.Context, who string, src Source) (int, error) {
	blocks, n, round, err := openSource(ctx, who+".AppendSource", src, s.prior, len(s.rounds))
	if err != nil {
		return 0, err
	}
	_, s.xDim = src.Dims()
	s.src, s.srcBlocks, s.n = src, blocks, n
	s.rounds = append(s.rounds, round)
	return round.Dropped, nil
}

// streamRun is the block input of one Train call of an NLE or NRE in block
// mode: the cache of a Source (nil for data in memory) and its report.
type streamRun struct {
	cache  *blockCache
	stats  *StreamStats
	cancel context.CancelCauseFunc
}

// startBlocks sets ts.Blocks to the source's blocks when the estimator
// trains on a Source, and then opens the block cache and returns the
// context that a read error cancels. Without a Source it returns ctx and an
// empty run.
func (s *simStore) startBlocks(ctx context.Context, who string, ts *TrainSettings) (context.Context, *streamRun, error) {
	r := &streamRun{}
	if s.src == nil {
		return ctx, r, nil
	}
	if ts.Blocks != nil {
		return ctx, nil, fmt.Errorf("sbi: %s.Train: Settings.Blocks with a Source (whose blocks are used): %w", who, ErrInput)
	}
	ts.Blocks = s.srcBlocks
	w := ts.WindowBlocks
	if w == 0 {
		w = flows.DefaultWindowBlocks(ts.Blocks)
	}
	ctx, r.cancel = context.WithCancelCause(ctx)
	r.cache = newBlockCache(s.src, ts.Blocks, 2*w, r.cancel)
	r.stats = &StreamStats{Blocks: len(ts.Blocks), CacheBlocks: r.cache.cap}
	return ctx, r, nil
}

// stop releases the run's context.
func (r *streamRun) stop() {
	if r != nil && r.cancel != nil {
		r.cancel(nil)
	}
}

// finish records the cache's counts in res and returns the cache's read
// error, if any, wrapped for who.
func (r *streamRun) finish(who string, res *TrainResult) error {
	if r.cache == nil {
		return nil
	}
	r.stats.BlockReads += r.cache.reads
	r.stats.MaxResidentRows = r.cache.maxResident
	res.Stream = r.stats
	if r.cache.err != nil {
		return fmt.Errorf("sbi: %s.Train: %w", who, r.cache.err)
	}
	return nil
}

// rowsFunc returns a function that copies the rows idx of θ and x into new
// tensors of tp: from memory, or through the cache of r when it has one.
func (s *simStore) rowsFunc(r *streamRun) func(tp *nn.Tape, idx []int) (th, xs *nn.Tensor) {
	dt, dx := s.prior.Dim(), s.xDim
	if r == nil || r.cache == nil {
		return func(tp *nn.Tape, idx []int) (*nn.Tensor, *nn.Tensor) {
			return copyRowsInto(tp, s.theta, dt, idx), copyRowsInto(tp, s.x, dx, idx)
		}
	}
	c := r.cache
	return func(tp *nn.Tape, idx []int) (*nn.Tensor, *nn.Tensor) {
		th, xs := tp.New(len(idx), dt), tp.New(len(idx), dx)
		c.gather(idx, th.Data, xs.Data)
		return th, xs
	}
}

// blockInit is what an NLE or NRE builds its network from in block mode.
type blockInit struct {
	thM, thS, xM, xS []float64  // z-scoring statistics of the training blocks
	sampleTh, sample *mat.Dense // the rows of the first training block with rows (θ, x)
	warnings         []string
}

// blockStats is the statistics pass of block mode for an NLE or NRE: the
// training blocks of the split flows.Fit draws from rand.New(rand.NewPCG(s1,
// s2)), their exact z-scoring statistics and a sample as NPE.Train's, and
// the data warnings of NLE.Warnings over their rows. Constant columns are
// found from the streamed mean and std; near-constant ones by a
// Boyer–Moore majority vote in the same pass (a value filling a fraction f
// > ½ of the rows is the vote's winner with a final count of at least
// (2f-1)·n), followed, only when some column's count reaches (2·0.99-1)·n,
// by a second pass counting the winners exactly. The block reads of a
// Source are added to r's report.
func (s *simStore) blockStats(ctx context.Context, who string, ts *TrainSettings, s1, s2 uint64, r *streamRun) (*blockInit, error) {
	if err := checkBlockSettings(ts.Blocks, s.n, ts.ValidationFraction); err != nil {
		return nil, err
	}
	dt := s.prior.Dim()
	train, _ := flows.SplitBlocks(len(ts.Blocks), ts.ValidationFraction, rand.New(rand.NewPCG(s1, s2)))
	bd := newBlockData(s.src, s.theta, s.x, dt, s.xDim, ts.Blocks)
	var scTh, scX colScan
	bd.onBlock = func(th, xs []float64) {
		scTh.add(th, dt)
		scX.add(xs, s.xDim)
	}
	thM, thS, xM, xS, sth, sx, reads, err := bd.blockStats(ctx, train)
	if r.stats != nil {
		r.stats.BlockReads += reads
	}
	if err != nil {
		return nil, err
	}
	if sth == nil {
		return nil, fmt.Errorf("sbi: %s.Train: the training blocks hold no rows: %w", who, ErrInvalidData)
	}
	if scTh.needCount() || scX.needCount() {
		bd.onBlock = func(th, xs []float64) {
			scTh.count(th)
			scX.count(xs)
		}
		_, _, _, _, _, _, reads, err := bd.blockStats(ctx, train)
		if r.stats != nil {
			r.stats.BlockReads += reads
		}
		if err != nil {
			return nil, err
		}
	}
	w := append(scTh.warnings("θ"), scX.warnings("x")...)
	return &blockInit{thM: thM, thS: thS, xM: xM, xS: xS, sampleTh: sth, sample: sx, warnings: w}, nil
}

// colScan accumulates, one block of rows at a time, the per-column
// statistics of the data warnings (see simStore.blockStats): the mean and
// sum of squared deviations (blocks merged as in flows.Moments), a
// Boyer–Moore majority vote, and, in a second pass, the exact count of the
// vote's winner.
type colScan struct {
	cols, n  int
	mean, m2 []float64
	cand     []float64
	votes    []int
	counted  bool
	counts   []int
	bm, bs   []float64 // scratch
}

func (c *colScan) add(data []float64, cols int) {
	if c.mean == nil {
		c.cols = cols
		c.mean, c.m2, c.cand, c.votes = make([]float64, cols), make([]float64, cols), make([]float64, cols), make([]int, cols)
		c.bm, c.bs = make([]float64, cols), make([]float64, cols)
	}
	k := len(data) / cols
	if k == 0 {
		return
	}
	clear(c.bm)
	clear(c.bs)
	for i := range k {
		for j, v := range data[i*cols : (i+1)*cols] {
			c.bm[j] += v
			switch {
			case c.votes[j] == 0:
				c.cand[j], c.votes[j] = v, 1
			case v == c.cand[j]:
				c.votes[j]++
			default:
				c.votes[j]--
			}
		}
	}
	for j := range c.bm {
		c.bm[j] /= float64(k)
	}
	for i := range k {
		for j, v := range data[i*cols : (i+1)*cols] {
			d := v - c.bm[j]
			c.bs[j] += d * d
		}
	}
	na, nb := float64(c.n), float64(k)
	nt := na + nb
	for j := range c.mean {
		delta := c.bm[j] - c.mean[j]
		c.mean[j] += delta * nb / nt
		c.m2[j] += c.bs[j] + delta*delta*na*nb/nt
	}
	c.n += k
}

// std returns the unbiased std of column j (NaN for fewer than 2 rows).
func (c *colScan) std(j int) float64 {
	if c.n < 2 {
		return math.NaN()
	}
	return math.Sqrt(c.m2[j] / float64(c.n-1))
}

// candidate reports whether column j is not constant and its vote could
// come from a near-constant value. The 1 absorbs the rounding of
// (2f-1)·n.
func (c *colScan) candidate(j int) bool {
	if _, constant := flows.FloorStd(c.mean[j], c.std(j), c.n); constant {
		return false
	}
	return float64(c.votes[j]) >= (2*nearConstantFrac-1)*float64(c.n)-1
}

// needCount reports whether a second pass must count some column's winner.
func (c *colScan) needCount() bool {
	for j := range c.cols {
		if c.candidate(j) {
			return true
		}
	}
	return false
}

func (c *colScan) count(data []float64) {
	if c.counts == nil {
		c.counts, c.counted = make([]int, c.cols), true
	}
	for i := 0; i+c.cols <= len(data); i += c.cols {
		for j, v := range data[i : i+c.cols] {
			if v == c.cand[j] {
				c.counts[j]++
			}
		}
	}
}

func (c *colScan) warnings(what string) []string {
	var w []string
	for j := range c.cols {
		sd := c.std(j)
		if msg, constant := constantWarning(what, j, c.n, c.mean[j], sd); constant {
			w = append(w, msg)
			continue
		}
		if c.counted && c.candidate(j) {
			if msg, ok := nearConstantWarning(what, j, c.n, sd, c.counts[j]); ok {
				w = append(w, msg)
			}
		}
	}
	return w
}

// presetEstimator reports whether est is one of the presets flows.MAF and
// flows.NSF (values or non-nil pointers), whose network depends on the
// data only through its z-scoring (see flows.Flow.Restandardize), as block
// mode needs.
func presetEstimator(est Estimator) bool {
	switch m := est.(type) {
	case flows.MAF, flows.NSF:
		return true
	case *flows.MAF:
		return m != nil
	case *flows.NSF:
		return m != nil
	}
	return false
}
