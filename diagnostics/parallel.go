package diagnostics

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"

	"gonum.org/v1/gonum/mat"

	"github.com/gosbi/gosbi/dist"
)

// workerCount returns the number of goroutines to use for total jobs:
// n if positive, else GOMAXPROCS, and never more than total.
func workerCount(n, total int) int {
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	return max(1, min(n, total))
}

// forEach runs work(w, i) for i in 0..total-1 on workers goroutines (w is the
// worker index, for per-worker scratch space). Jobs are handed out in order;
// each job must derive its randomness from i alone so that the result does not
// depend on the number of workers. onProgress, if non-nil, is called after
// every finished job with the number done, one call at a time. The first error
// (of a job, of onProgress or of ctx) stops the remaining jobs; among job
// errors the one of the lowest index is returned.
func forEach(ctx context.Context, total, workers int, onProgress func(done, total int) error, work func(w, i int) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ictx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next     atomic.Int64
		mu       sync.Mutex
		done     int
		firstErr error
		firstIdx = math.MaxInt
		wg       sync.WaitGroup
	)
	fail := func(i int, err error) {
		mu.Lock()
		if i < firstIdx {
			firstErr, firstIdx = err, i
		}
		mu.Unlock()
		cancel()
	}
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ictx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= total {
					return
				}
				if err := work(w, i); err != nil {
					fail(i, err)
					return
				}
				mu.Lock()
				done++
				var perr error
				if onProgress != nil {
					perr = onProgress(done, total)
				}
				mu.Unlock()
				if perr != nil {
					fail(total, fmt.Errorf("diagnostics: progress callback: %w", perr))
					return
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

// calibration holds what the posterior-sampling drivers (SBC, Coverage, TARP)
// share: the test set, the posterior and the number of draws per test.
type calibration struct {
	posterior dist.Conditional
	theta, x  *mat.Dense
	tests     int
	dim       int
	nSamples  int
	seed      uint64
	workers   int
}

// scratch is a worker's reusable memory: buf is (nSamples+1)×dim, its first
// nSamples rows receive the posterior draws and its last row θ; vals has
// nSamples+1 entries for a scalar statistic of every row of buf; ref holds a
// point of the parameter space (TARP's scaled reference).
type scratch struct {
	buf     *mat.Dense
	samples *mat.Dense
	vals    []float64
	ref     []float64
}

// run draws nSamples posterior samples for every test, in parallel, and calls
// visit with the worker's scratch (buf filled), the test index and the
// conditioned posterior. Test i draws from rand.NewPCG(seed, i).
func (c *calibration) run(ctx context.Context, onProgress func(done, total int) error,
	visit func(s *scratch, i int, q dist.Distribution) error) error {
	workers := workerCount(c.workers, c.tests)
	scr := make([]*scratch, workers)
	for w := range scr {
		buf := mat.NewDense(c.nSamples+1, c.dim, nil)
		scr[w] = &scratch{
			buf:     buf,
			samples: buf.Slice(0, c.nSamples, 0, c.dim).(*mat.Dense),
			vals:    make([]float64, c.nSamples+1),
		}
	}
	return forEach(ctx, c.tests, workers, onProgress, func(w, i int) error {
		s := scr[w]
		rng := rand.New(rand.NewPCG(c.seed, uint64(i)))
		q := c.posterior.Condition(c.x.RawRowView(i))
		if q == nil {
			return fmt.Errorf("diagnostics: test %d: posterior.Condition returned nil: %w", i, ErrSettings)
		}
		if q.Dim() != c.dim {
			return fmt.Errorf("diagnostics: test %d: posterior has dimension %d, theta has %d: %w", i, q.Dim(), c.dim, ErrDim)
		}
		if err := drawSamples(q, s.samples, rng); err != nil {
			return fmt.Errorf("diagnostics: test %d: %w", i, err)
		}
		copy(s.buf.RawRowView(c.nSamples), c.theta.RawRowView(i))
		return visit(s, i, q)
	})
}

// drawSamples fills every row of dst with a draw from q, with one
// SampleBatch call when q offers it, and checks that every value is finite.
func drawSamples(q dist.Distribution, dst *mat.Dense, rng *rand.Rand) error {
	r, _ := dst.Dims()
	if bs, ok := q.(dist.BatchSampler); ok {
		bs.SampleBatch(dst, rng)
	} else {
		for i := 0; i < r; i++ {
			row := dst.RawRowView(i)
			if got := q.Sample(row, rng); len(got) > 0 && &got[0] != &row[0] {
				copy(row, got)
			}
		}
	}
	for i := 0; i < r; i++ {
		for j, v := range dst.RawRowView(i) {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("posterior draw %d has %v in column %d: %w", i, v, j, ErrNonFinite)
			}
		}
	}
	return nil
}
