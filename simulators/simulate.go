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
	return j.run(ctx, rng, 0, s)
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
	return j.run(ctx, rng, 0, s)
}

// Chunk is one finished chunk of simulations, as SimulateChunks hands it
// over: the simulations Start .. Start+len(Status)-1 of the run, one per
// row, in index order.
type Chunk struct {
	// Index is the chunk's index c; its simulations start at c·ChunkSize.
	Index int
	// Start is the index of the chunk's first simulation, Index·ChunkSize.
	Start int
	// Theta and X hold the parameters and outputs, one simulation per row;
	// failed simulations have X all NaN.
	Theta, X *mat.Dense
	// Status[r] is the outcome of the simulation in row r.
	Status []Status
	// Errors holds the errors of the chunk's first failed simulations, at
	// most Settings.MaxErrors of them.
	Errors []*SimError
}

// SimulateChunks runs the listed chunks of the run of n simulations that
// Simulate would do with chunk seed seed (the value Simulate draws from its
// rng; see ChunkSize), and hands each finished chunk to onChunk. The chunks
// hold exactly the rows Simulate returns for them, so running every chunk
// once, in any split, reproduces Simulate bit for bit; see Shard for
// splitting a run across machines.
//
// Workers run the chunks in parallel and onChunk is called from one
// goroutine at a time, in order of completion; the matrices and slices of
// the Chunk are reused after it returns, so onChunk must copy what it
// keeps. A chunk abandoned part way (ctx cancelled) is not handed over.
// When onChunk returns an error the run stops as a cancelled context would,
// and that chunk does not count as done.
//
// The Report counts the chunks onChunk accepted (Requested is the number of
// simulations in the listed chunks); Report.Errors keeps their first
// Settings.MaxErrors errors. SimulateChunks returns an error wrapping
// ErrInput when an argument is invalid (nil simulator, proposal or onChunk,
// n < 1, a dimension mismatch, a chunk index outside [0, ⌈n/ChunkSize⌉) or
// listed twice), and, when ctx is cancelled or a callback fails, the report
// of what was handed over with an error wrapping the cause. An empty list
// runs nothing.
func SimulateChunks(ctx context.Context, sim Simulator, proposal dist.SizedSampler, n int, seed uint64, chunks []int,
	s *Settings, onChunk func(*Chunk) error) (Report, error) {
	if sim == nil || proposal == nil || onChunk == nil {
		return Report{}, fmt.Errorf("simulators: SimulateChunks: nil simulator, proposal or onChunk: %w", ErrInput)
	}
	if n < 1 {
		return Report{}, fmt.Errorf("simulators: SimulateChunks: n = %d, want at least 1: %w", n, ErrInput)
	}
	td, xd := sim.Dims()
	if pd := proposal.Dim(); pd != td {
		return Report{}, fmt.Errorf("simulators: SimulateChunks: proposal has dimension %d, simulator takes %d parameters: %w", pd, td, ErrInput)
	}
	if td < 1 || xd < 1 {
		return Report{}, fmt.Errorf("simulators: SimulateChunks: simulator dimensions (%d, %d), want positive: %w", td, xd, ErrInput)
	}
	nChunks := NumChunks(n)
	seen := make(map[int]struct{}, len(chunks))
	for _, c := range chunks {
		if c < 0 || c >= nChunks {
			return Report{}, fmt.Errorf("simulators: SimulateChunks: chunk %d outside [0, %d): %w", c, nChunks, ErrInput)
		}
		if _, dup := seen[c]; dup {
			return Report{}, fmt.Errorf("simulators: SimulateChunks: chunk %d listed twice: %w", c, ErrInput)
		}
		seen[c] = struct{}{}
	}
	j := &job{sim: sim, proposal: proposal, n: n, thetaDim: td, xDim: xd,
		chunks: append(make([]int, 0, len(chunks)), chunks...), onChunk: onChunk}
	res, err := j.run(ctx, nil, seed, s)
	if res == nil {
		return Report{}, err
	}
	return res.Report, err
}

// NumChunks returns the number of chunks in a run of n simulations,
// ⌈n/ChunkSize⌉ (0 for n < 1).
func NumChunks(n int) int {
	if n < 1 {
		return 0
	}
	return (n-1)/ChunkSize + 1
}

// job is one run of simulations.
type job struct {
	sim      Simulator
	proposal dist.SizedSampler // nil when θ is given
	n        int
	thetaDim int
	xDim     int
	seed     uint64

	// Whole-run storage (Simulate, SimulateAt); nil when chunks are
	// streamed to onChunk.
	theta  *mat.Dense
	x      *mat.Dense
	status []Status

	// Streaming (SimulateChunks): the chunks to run and the callback that
	// receives each finished chunk. chunks nil means every chunk, in order.
	chunks  []int
	onChunk func(*Chunk) error
	emitMu  sync.Mutex // serialises onChunk
	emitted Report     // counts of the chunks onChunk accepted, under emitMu

	// per position in the chunk list, written only by the worker that runs
	// the chunk
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

// chunkView is where the simulations of one chunk live while it runs: rows
// of the whole-run matrices, or a worker's buffers when streaming.
type chunkView struct {
	ci, lo, hi int        // chunk index and its simulations lo..hi-1
	theta, x   *mat.Dense // hi-lo rows
	status     []Status   // hi-lo entries
}

// chunkBufs are one worker's buffers for streaming.
type chunkBufs struct {
	theta, x *mat.Dense
	status   []Status
}

// numChunks returns the number of chunks in the list the job runs.
func (j *job) numChunks() int {
	if j.chunks != nil {
		return len(j.chunks)
	}
	return (j.n + ChunkSize - 1) / ChunkSize
}

// chunkAt returns the chunk index at position p of the list.
func (j *job) chunkAt(p int) int {
	if j.chunks != nil {
		return j.chunks[p]
	}
	return p
}

// view returns the storage of chunk ci: rows of the whole-run matrices, or
// buf (cleared) when streaming.
func (j *job) view(ci int, buf *chunkBufs) chunkView {
	lo, hi := j.chunkBounds(ci)
	v := chunkView{ci: ci, lo: lo, hi: hi}
	if buf == nil {
		v.theta = j.theta.Slice(lo, hi, 0, j.thetaDim).(*mat.Dense)
		v.x = j.x.Slice(lo, hi, 0, j.xDim).(*mat.Dense)
		v.status = j.status[lo:hi]
		return v
	}
	v.theta = buf.theta.Slice(0, hi-lo, 0, j.thetaDim).(*mat.Dense)
	v.x = buf.x.Slice(0, hi-lo, 0, j.xDim).(*mat.Dense)
	v.status = buf.status[:hi-lo]
	if j.proposal == nil {
		v.theta.Copy(j.theta.Slice(lo, hi, 0, j.thetaDim))
	}
	v.x.Zero()
	clear(v.status)
	return v
}

// run runs the job. The chunk seed is rng.Uint64() when rng is not nil,
// else seed.
func (j *job) run(ctx context.Context, rng *rand.Rand, seed uint64, s *Settings) (*Result, error) {
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
	if rng != nil {
		seed = rng.Uint64()
	}
	j.seed = seed
	j.maxErrors = set.MaxErrors
	streaming := j.onChunk != nil
	total := j.n
	if streaming {
		total = 0
		for _, ci := range j.chunks {
			lo, hi := j.chunkBounds(ci)
			total += hi - lo
		}
		j.emitted = Report{Requested: total}
	} else {
		j.x = mat.NewDense(j.n, j.xDim, nil)
		j.status = make([]Status, j.n)
	}
	nChunks := j.numChunks()
	j.chunkDone = make([]int, nChunks)
	j.chunkErrs = make([][]*SimError, nChunks)
	workers := max(min(set.Workers, nChunks), 0)

	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	cnt := make([]counters, workers)
	progress := func() Progress {
		p := Progress{Total: total, Elapsed: time.Since(start)}
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
			var buf *chunkBufs
			if streaming {
				buf = &chunkBufs{theta: mat.NewDense(ChunkSize, j.thetaDim, nil), x: mat.NewDense(ChunkSize, j.xDim, nil),
					status: make([]Status, ChunkSize)}
			}
			for {
				p := int(next.Add(1) - 1)
				if p >= nChunks || runCtx.Err() != nil {
					return
				}
				v := j.view(j.chunkAt(p), buf)
				if bs, ok := j.sim.(BatchSimulator); ok {
					if errs == nil {
						errs = make([]error, ChunkSize)
					}
					j.runChunkBatch(runCtx, bs, p, v, errs, c)
				} else {
					j.runChunk(runCtx, p, v, thetaBuf, c)
				}
				if streaming {
					j.emit(p, v, cancel)
				}
			}
		}(&cnt[w])
	}
	wg.Wait()
	close(stopReporter)
	<-reporterDone

	var res *Result
	var done int
	if streaming {
		j.emitted.Runtime = time.Since(start)
		j.emitted.Errors = j.sortedErrors()
		res = &Result{Report: j.emitted}
		done = j.emitted.Done
	} else {
		res = j.collect(time.Since(start))
		done = res.Report.Done
	}
	stopped := runCtx.Err() != nil && done < total
	if set.OnProgress != nil && !callbackFailed {
		if err := set.OnProgress(progress()); err != nil && !stopped {
			return res, fmt.Errorf("simulators: OnProgress: %w", err)
		}
	}
	if stopped {
		return res, fmt.Errorf("simulators: stopped after %d of %d simulations: %w", done, total, context.Cause(runCtx))
	}
	return res, nil
}

// emit hands the finished chunk at position p to onChunk, one call at a
// time. A chunk abandoned part way is not handed over. When onChunk fails,
// the chunk does not count as done and the run is cancelled.
func (j *job) emit(p int, v chunkView, cancel context.CancelCauseFunc) {
	if j.chunkDone[p] != v.hi-v.lo {
		j.chunkDone[p], j.chunkErrs[p] = 0, nil
		return
	}
	j.emitMu.Lock()
	defer j.emitMu.Unlock()
	if err := j.onChunk(&Chunk{Index: v.ci, Start: v.lo, Theta: v.theta, X: v.x, Status: v.status, Errors: j.chunkErrs[p]}); err != nil {
		j.chunkDone[p], j.chunkErrs[p] = 0, nil
		cancel(fmt.Errorf("simulators: chunk %d: %w", v.ci, err))
		return
	}
	for _, st := range v.status {
		switch st {
		case StatusOK:
			j.emitted.OK++
		case StatusInvalid:
			j.emitted.Invalid++
		case StatusFailed:
			j.emitted.Failed++
		}
	}
	j.emitted.Done += v.hi - v.lo
}

// sortedErrors returns the kept errors of all chunks, those with the
// smallest indices first, at most maxErrors of them.
func (j *job) sortedErrors() []*SimError {
	var errs []*SimError
	for _, e := range j.chunkErrs {
		errs = append(errs, e...)
	}
	sort.Slice(errs, func(a, b int) bool { return errs[a].Index < errs[b].Index })
	if len(errs) > j.maxErrors {
		errs = errs[:j.maxErrors]
	}
	return errs
}

// chunkBounds returns the index range of chunk ci.
func (j *job) chunkBounds(ci int) (lo, hi int) {
	lo = ci * ChunkSize
	return lo, min(lo+ChunkSize, j.n)
}

// sampleChunk draws the parameters of chunk v from the proposal with the
// chunk's stream. A panicking proposal fails the whole chunk.
func (j *job) sampleChunk(v chunkView, rng *rand.Rand) (err error) {
	if j.proposal == nil {
		return nil
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: proposal panicked: %v", ErrPanic, r)
		}
	}()
	if bs, ok := j.proposal.(dist.BatchSampler); ok {
		bs.SampleBatch(v.theta, rng)
		return nil
	}
	for r := range v.hi - v.lo {
		j.proposal.Sample(v.theta.RawRowView(r), rng)
	}
	return nil
}

// runChunk runs the simulations of chunk v, at position p of the list, one
// by one.
func (j *job) runChunk(ctx context.Context, p int, v chunkView, thetaBuf []float64, c *counters) {
	rng := rand.New(rand.NewPCG(j.seed, uint64(v.ci)))
	if err := j.sampleChunk(v, rng); err != nil {
		j.failChunk(p, v, err, c)
		return
	}
	done := 0
	for r := range v.hi - v.lo {
		if ctx.Err() != nil {
			break
		}
		copy(thetaBuf, v.theta.RawRowView(r))
		dst := v.x.RawRowView(r)
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
		j.finish(p, v, r, err, c)
		done++
	}
	j.chunkDone[p] = done
}

// runChunkBatch runs chunk v, at position p of the list, with one call of
// RunBatch.
func (j *job) runChunkBatch(ctx context.Context, bs BatchSimulator, p int, v chunkView, errs []error, c *counters) {
	rng := rand.New(rand.NewPCG(j.seed, uint64(v.ci)))
	if err := j.sampleChunk(v, rng); err != nil {
		j.failChunk(p, v, err, c)
		return
	}
	errs = errs[:v.hi-v.lo]
	clear(errs)
	theta := mat.DenseCopyOf(v.theta)
	err := safeRunBatch(ctx, bs, v.x, theta, errs, rng)
	if ctx.Err() != nil {
		return // abandoned: chunkDone stays 0
	}
	if err != nil {
		j.failChunk(p, v, err, c)
		return
	}
	for r := range v.hi - v.lo {
		j.finish(p, v, r, errs[r], c)
	}
	j.chunkDone[p] = v.hi - v.lo
}

// failChunk marks every simulation of chunk v failed with err.
func (j *job) failChunk(p int, v chunkView, err error, c *counters) {
	for r := range v.hi - v.lo {
		j.finish(p, v, r, err, c)
	}
	j.chunkDone[p] = v.hi - v.lo
}

// finish records the outcome of simulation r of chunk v (index v.lo+r),
// whose output is already in row r of v.x.
func (j *job) finish(p int, v chunkView, r int, err error, c *counters) {
	row := v.x.RawRowView(r)
	if err != nil {
		for k := range row {
			row[k] = math.NaN()
		}
		v.status[r] = StatusFailed
		c.failed.Add(1)
		if len(j.chunkErrs[p]) < j.maxErrors {
			th := append([]float64(nil), v.theta.RawRowView(r)...)
			j.chunkErrs[p] = append(j.chunkErrs[p], &SimError{Index: v.lo + r, Theta: th, Err: err})
		}
		return
	}
	for _, x := range row {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			v.status[r] = StatusInvalid
			c.invalid.Add(1)
			return
		}
	}
	v.status[r] = StatusOK
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
	}
	res.Report.Errors = j.sortedErrors()
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
