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
	if src == nil {
		return 0, fmt.Errorf("sbi: AppendSource: nil source: %w", ErrInput)
	}
	if len(e.rounds) > 0 {
		return 0, fmt.Errorf("sbi: AppendSource: the estimator already has %d rounds of simulations: %w", len(e.rounds), ErrInput)
	}
	blocks, n, err := checkSource(ctx, src, e.prior)
	if err != nil {
		return 0, err
	}
	_, dx := src.Dims()
	dropped := 0
	if d, ok := src.(interface{ Dropped() int }); ok {
		dropped = d.Dropped()
	}
	e.src, e.srcBlocks, e.n, e.xDim = src, blocks, n, dx
	e.rounds = append(e.rounds, RoundInfo{Proposal: fromPrior.String(), Simulations: n + dropped, Dropped: dropped})
	return dropped, nil
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
