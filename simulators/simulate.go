package simulators

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gosbi/gosbi/dist"
	"gonum.org/v1/gonum/mat"
)

// ChunkSize is the number of simulations in one chunk of work. Simulate
// splits a run of n simulations into consecutive chunks of ChunkSize (the
// last may be shorter). Chunk c draws its parameters and runs its
// simulations, in index order, with its own random stream
// rand.New(rand.NewPCG(seed, c)), where seed is one rng.Uint64() drawn when
// Simulate starts. Which worker runs a chunk therefore does not matter and
// the output is bit-identical for any number of workers. ChunkSize is a
// constant because changing it changes the output for a given seed.
const ChunkSize = 100

// Settings tune one call of Simulate or SimulateAt. The zero value of each
// field means its documented default; a nil *Settings means all defaults.
type Settings struct {
	// Workers is the number of goroutines running simulations, default
	// runtime.GOMAXPROCS(0). It never changes the output, only the speed.
	Workers int
	// MaxErrors is the number of simulation errors kept in Report.Errors
	// (those with the smallest indices), default 10. Use a negative value
	// to keep none.
	MaxErrors int
	// OnProgress, when not nil, is called with the counts so far from a
	// single goroutine at most every ProgressInterval while simulations
	// finish, and once more at the end with the final counts. Returning a
	// non-nil error stops the run as a cancelled context would: Simulate
	// then returns what finished together with an error wrapping it.
	OnProgress func(Progress) error
	// ProgressInterval is the minimum time between OnProgress calls during
	// the run, default 200 ms.
	ProgressInterval time.Duration
}

// Progress is what OnProgress sees: how many simulations have finished and
// how they went.
type Progress struct {
	Total   int // simulations requested
	Done    int // simulations finished (OK + Invalid + Failed)
	OK      int // finished with a finite output
	Invalid int // finished with NaN or ±Inf in the output
	Failed  int // returned an error or panicked
	Elapsed time.Duration
}

// Status is the outcome of one simulation.
type Status uint8

// The outcomes of a simulation.
const (
	// StatusOK marks a simulation whose output is finite.
	StatusOK Status = iota + 1
	// StatusInvalid marks a simulation that returned NaN or ±Inf values.
	StatusInvalid
	// StatusFailed marks a simulation that returned an error or panicked;
	// its row of X is all NaN.
	StatusFailed
)

// String returns "ok", "invalid" or "failed".
func (s Status) String() string {
	switch s {
	case StatusOK:
		return "ok"
	case StatusInvalid:
		return "invalid"
	case StatusFailed:
		return "failed"
	}
	return fmt.Sprintf("Status(%d)", uint8(s))
}

// Result is the outcome of Simulate or SimulateAt.
type Result struct {
	// Data holds θ and x of every finished simulation, one per row, in
	// index order: all n of them unless the run was stopped early. Rows of
	// failed simulations have x all NaN, so Data.FilterInvalid drops them
	// together with the invalid ones. When nothing finished, Data has no
	// rows and nil matrices.
	Data *Dataset
	// Index[i] is the index (0..n-1) of the simulation in row i of Data.
	Index []int
	// Status[i] is the outcome of the simulation in row i of Data.
	Status []Status
	// Report summarises the run.
	Report Report
}

// Report summarises a run of simulations.
type Report struct {
	Requested int           // simulations asked for
	Done      int           // simulations finished: OK + Invalid + Failed
	OK        int           // finished with a finite output
	Invalid   int           // finished with NaN or ±Inf values
	Failed    int           // returned an error or panicked
	Errors    []*SimError   // the errors with the smallest indices, at most Settings.MaxErrors
	Runtime   time.Duration // wall time of the run
}

// String summarises the report on one line.
func (r Report) String() string {
	return fmt.Sprintf("%d of %d simulations done (%d ok, %d invalid, %d failed) in %v",
		r.Done, r.Requested, r.OK, r.Invalid, r.Failed, r.Runtime.Round(time.Millisecond))
}

// Simulate draws n parameter vectors from proposal and runs sim at each of
// them, in parallel and reproducibly: see ChunkSize for how the random
// streams are derived from rng (Simulate draws one value from rng). A
// simulation that returns an error or panics is marked failed, one whose
// output holds NaN or ±Inf is marked invalid; neither stops the run, and
// the first few errors are kept in the report.
//
// When sim implements BatchSimulator, Simulate calls RunBatch once per chunk
// instead of Run once per simulation.
//
// Simulate returns an error wrapping ErrInput, and no result, when an
// argument is invalid (nil simulator, proposal or rng, n < 1, proposal
// dimension different from the simulator's θ dimension, negative Workers).
// When ctx is cancelled or OnProgress returns an error, the simulations in
// flight are abandoned and Simulate returns the result of those that
// finished, with Report.Done saying how many, and an error wrapping the
// cause.
func Simulate(ctx context.Context, sim Simulator, proposal dist.SizedSampler, n int, rng *rand.Rand, s *Settings) (*Result, error) {
	if sim == nil || proposal == nil || rng == nil {
		return nil, fmt.Errorf("simulators: Simulate: nil simulator, proposal or rng: %w", ErrInput)
	}
	if n < 1 {
		return nil, fmt.Errorf("simulators: Simulate: n = %d, want at least 1: %w", n, ErrInput)
	}
	td, xd := sim.Dims()
	if pd := proposal.Dim(); pd != td {
		return nil, fmt.Errorf("simulators: Simulate: proposal has dimension %d, simulator takes %d parameters: %w", pd, td, ErrInput)
	}
	if td < 1 || xd < 1 {
		return nil, fmt.Errorf("simulators: Simulate: simulator dimensions (%d, %d), want positive: %w", td, xd, ErrInput)
	}
	j := &job{sim: sim, proposal: proposal, n: n, thetaDim: td, xDim: xd, theta: mat.NewDense(n, td, nil)}
	return j.run(ctx, rng, s)
}

// SimulateAt runs sim at every row of theta (one parameter vector per row),
// with the same parallelism, reproducibility and fault handling as
// Simulate; chunk c uses the stream rand.NewPCG(seed, c) for the
// simulations of rows c·ChunkSize onwards. theta is copied. It returns an
// error wrapping ErrInput when an argument is nil or empty or theta does not
// have the simulator's θ dimension as its number of columns.
func SimulateAt(ctx context.Context, sim Simulator, theta *mat.Dense, rng *rand.Rand, s *Settings) (*Result, error) {
	if sim == nil || theta == nil || rng == nil {
		return nil, fmt.Errorf("simulators: SimulateAt: nil simulator, theta or rng: %w", ErrInput)
	}
	if theta.IsEmpty() {
		return nil, fmt.Errorf("simulators: SimulateAt: empty theta: %w", ErrInput)
	}
	td, xd := sim.Dims()
	n, c := theta.Dims()
	if c != td {
		return nil, fmt.Errorf("simulators: SimulateAt: theta has %d columns, simulator takes %d parameters: %w", c, td, ErrInput)
	}
	if td < 1 || xd < 1 {
		return nil, fmt.Errorf("simulators: SimulateAt: simulator dimensions (%d, %d), want positive: %w", td, xd, ErrInput)
	}
	j := &job{sim: sim, n: n, thetaDim: td, xDim: xd, theta: mat.DenseCopyOf(theta)}
	return j.run(ctx, rng, s)
}

// job is one run of simulations.
type job struct {
	sim      Simulator
	proposal dist.SizedSampler // nil when θ is given
	n        int
	thetaDim int
	xDim     int
	theta    *mat.Dense
	x        *mat.Dense
	status   []Status
	seed     uint64

	// per chunk, written only by the worker that runs the chunk
	chunkDone []int
	chunkErrs [][]*SimError
	maxErrors int
}

// counters are one worker's running totals, padded to their own cache line
// so that workers do not contend when they publish.
type counters struct {
	ok, invalid, failed atomic.Int64
	_                   [40]byte
}

func (j *job) run(ctx context.Context, rng *rand.Rand, s *Settings) (*Result, error) {
	var set Settings
	if s != nil {
		set = *s
	}
	if set.Workers < 0 || set.ProgressInterval < 0 {
		return nil, fmt.Errorf("simulators: Workers = %d, ProgressInterval = %v, want non-negative: %w", set.Workers, set.ProgressInterval, ErrInput)
	}
	if set.Workers == 0 {
		set.Workers = runtime.GOMAXPROCS(0)
	}
	switch {
	case set.MaxErrors == 0:
		set.MaxErrors = 10
	case set.MaxErrors < 0:
		set.MaxErrors = 0
	}
	if set.ProgressInterval == 0 {
		set.ProgressInterval = 200 * time.Millisecond
	}
	if ctx == nil {
		ctx = context.Background()
	}
	start := time.Now()
	j.seed = rng.Uint64()
	j.maxErrors = set.MaxErrors
	j.x = mat.NewDense(j.n, j.xDim, nil)
	j.status = make([]Status, j.n)
	nChunks := (j.n + ChunkSize - 1) / ChunkSize
	j.chunkDone = make([]int, nChunks)
	j.chunkErrs = make([][]*SimError, nChunks)
	workers := min(set.Workers, nChunks)

	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	cnt := make([]counters, workers)
	progress := func() Progress {
		p := Progress{Total: j.n, Elapsed: time.Since(start)}
		for i := range cnt {
			p.OK += int(cnt[i].ok.Load())
			p.Invalid += int(cnt[i].invalid.Load())
			p.Failed += int(cnt[i].failed.Load())
		}
		p.Done = p.OK + p.Invalid + p.Failed
		return p
	}

	// The progress reporter: the only goroutine that calls OnProgress
	// during the run.
	stopReporter := make(chan struct{})
	reporterDone := make(chan struct{})
	callbackFailed := false
	if set.OnProgress != nil {
		go func() {
			defer close(reporterDone)
			tick := time.NewTicker(set.ProgressInterval)
			defer tick.Stop()
			lastDone := -1
			for {
				select {
				case <-stopReporter:
					return
				case <-tick.C:
					p := progress()
					if p.Done == lastDone {
						continue
					}
					lastDone = p.Done
					if err := set.OnProgress(p); err != nil {
						callbackFailed = true
						cancel(fmt.Errorf("simulators: OnProgress: %w", err))
						return
					}
				}
			}
		}()
	} else {
		close(reporterDone)
	}

	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func(c *counters) {
			defer wg.Done()
			thetaBuf := make([]float64, j.thetaDim)
			var errs []error
			for {
				ci := int(next.Add(1) - 1)
				if ci >= nChunks || runCtx.Err() != nil {
					return
				}
				if bs, ok := j.sim.(BatchSimulator); ok {
					if errs == nil {
						errs = make([]error, ChunkSize)
					}
					j.runChunkBatch(runCtx, bs, ci, errs, c)
				} else {
					j.runChunk(runCtx, ci, thetaBuf, c)
				}
			}
		}(&cnt[w])
	}
	wg.Wait()
	close(stopReporter)
	<-reporterDone

	res := j.collect(time.Since(start))
	stopped := runCtx.Err() != nil && res.Report.Done < j.n
	if set.OnProgress != nil && !callbackFailed {
		if err := set.OnProgress(progress()); err != nil && !stopped {
			return res, fmt.Errorf("simulators: OnProgress: %w", err)
		}
	}
	if stopped {
		return res, fmt.Errorf("simulators: stopped after %d of %d simulations: %w", res.Report.Done, j.n, context.Cause(runCtx))
	}
	return res, nil
}

// chunkBounds returns the index range of chunk ci.
func (j *job) chunkBounds(ci int) (lo, hi int) {
	lo = ci * ChunkSize
	return lo, min(lo+ChunkSize, j.n)
}

// sampleChunk draws the parameters of chunk ci from the proposal with the
// chunk's stream. A panicking proposal fails the whole chunk.
func (j *job) sampleChunk(ci int, rng *rand.Rand) (err error) {
	if j.proposal == nil {
		return nil
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: proposal panicked: %v", ErrPanic, r)
		}
	}()
	lo, hi := j.chunkBounds(ci)
	if bs, ok := j.proposal.(dist.BatchSampler); ok {
		bs.SampleBatch(j.theta.Slice(lo, hi, 0, j.thetaDim).(*mat.Dense), rng)
		return nil
	}
	for i := lo; i < hi; i++ {
		j.proposal.Sample(j.theta.RawRowView(i), rng)
	}
	return nil
}

// runChunk runs the simulations of chunk ci one by one.
func (j *job) runChunk(ctx context.Context, ci int, thetaBuf []float64, c *counters) {
	lo, hi := j.chunkBounds(ci)
	rng := rand.New(rand.NewPCG(j.seed, uint64(ci)))
	if err := j.sampleChunk(ci, rng); err != nil {
		j.failChunk(ci, err, c)
		return
	}
	done := 0
	for i := lo; i < hi; i++ {
		if ctx.Err() != nil {
			break
		}
		copy(thetaBuf, j.theta.RawRowView(i))
		dst := j.x.RawRowView(i)
		out, err := safeRun(ctx, j.sim, dst, thetaBuf, rng)
		if err != nil && ctx.Err() != nil {
			break // abandoned, not failed
		}
		if err == nil && len(out) != j.xDim {
			err = fmt.Errorf("simulator returned %d values, want %d: %w", len(out), j.xDim, ErrShape)
		}
		if err == nil && len(out) > 0 && &out[0] != &dst[0] {
			copy(dst, out)
		}
		j.finish(ci, i, err, c)
		done++
	}
	j.chunkDone[ci] = done
}

// runChunkBatch runs chunk ci with one call of RunBatch.
func (j *job) runChunkBatch(ctx context.Context, bs BatchSimulator, ci int, errs []error, c *counters) {
	lo, hi := j.chunkBounds(ci)
	rng := rand.New(rand.NewPCG(j.seed, uint64(ci)))
	if err := j.sampleChunk(ci, rng); err != nil {
		j.failChunk(ci, err, c)
		return
	}
	errs = errs[:hi-lo]
	clear(errs)
	theta := mat.DenseCopyOf(j.theta.Slice(lo, hi, 0, j.thetaDim))
	x := j.x.Slice(lo, hi, 0, j.xDim).(*mat.Dense)
	err := safeRunBatch(ctx, bs, x, theta, errs, rng)
	if ctx.Err() != nil {
		return // abandoned: chunkDone stays 0
	}
	if err != nil {
		j.failChunk(ci, err, c)
		return
	}
	for i := lo; i < hi; i++ {
		j.finish(ci, i, errs[i-lo], c)
	}
	j.chunkDone[ci] = hi - lo
}

// failChunk marks every simulation of chunk ci failed with err.
func (j *job) failChunk(ci int, err error, c *counters) {
	lo, hi := j.chunkBounds(ci)
	for i := lo; i < hi; i++ {
		j.finish(ci, i, err, c)
	}
	j.chunkDone[ci] = hi - lo
}

// finish records the outcome of simulation i of chunk ci, whose output is
// already in row i of x.
func (j *job) finish(ci, i int, err error, c *counters) {
	row := j.x.RawRowView(i)
	if err != nil {
		for k := range row {
			row[k] = math.NaN()
		}
		j.status[i] = StatusFailed
		c.failed.Add(1)
		if len(j.chunkErrs[ci]) < j.maxErrors {
			th := append([]float64(nil), j.theta.RawRowView(i)...)
			j.chunkErrs[ci] = append(j.chunkErrs[ci], &SimError{Index: i, Theta: th, Err: err})
		}
		return
	}
	for _, v := range row {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			j.status[i] = StatusInvalid
			c.invalid.Add(1)
			return
		}
	}
	j.status[i] = StatusOK
	c.ok.Add(1)
}

// collect assembles the result from the finished prefix of every chunk.
func (j *job) collect(runtime time.Duration) *Result {
	res := &Result{Report: Report{Requested: j.n, Runtime: runtime}}
	total := 0
	for _, done := range j.chunkDone {
		total += done
	}
	idx := make([]int, 0, total)
	for ci, done := range j.chunkDone {
		lo, _ := j.chunkBounds(ci)
		for i := lo; i < lo+done; i++ {
			idx = append(idx, i)
		}
		res.Report.Errors = append(res.Report.Errors, j.chunkErrs[ci]...)
	}
	sort.Slice(res.Report.Errors, func(a, b int) bool { return res.Report.Errors[a].Index < res.Report.Errors[b].Index })
	if len(res.Report.Errors) > j.maxErrors {
		res.Report.Errors = res.Report.Errors[:j.maxErrors]
	}
	res.Index = idx
	res.Status = make([]Status, len(idx))
	for r, i := range idx {
		res.Status[r] = j.status[i]
		switch j.status[i] {
		case StatusOK:
			res.Report.OK++
		case StatusInvalid:
			res.Report.Invalid++
		case StatusFailed:
			res.Report.Failed++
		}
	}
	res.Report.Done = len(idx)
	switch {
	case len(idx) == j.n:
		res.Data = &Dataset{Theta: j.theta, X: j.x}
	case len(idx) == 0:
		res.Data = &Dataset{}
	default:
		theta := mat.NewDense(len(idx), j.thetaDim, nil)
		x := mat.NewDense(len(idx), j.xDim, nil)
		for r, i := range idx {
			theta.SetRow(r, j.theta.RawRowView(i))
			x.SetRow(r, j.x.RawRowView(i))
		}
		res.Data = &Dataset{Theta: theta, X: x}
	}
	return res
}

// safeRun calls sim.Run and turns a panic into an error wrapping ErrPanic.
func safeRun(ctx context.Context, sim Simulator, dst, theta []float64, rng *rand.Rand) (out []float64, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("%w: %v", ErrPanic, r)
		}
	}()
	return sim.Run(ctx, dst, theta, rng)
}

// safeRunBatch calls bs.RunBatch and turns a panic into an error wrapping
// ErrPanic.
func safeRunBatch(ctx context.Context, bs BatchSimulator, dst, theta *mat.Dense, errs []error, rng *rand.Rand) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", ErrPanic, r)
		}
	}()
	return bs.RunBatch(ctx, dst, theta, errs, rng)
}
