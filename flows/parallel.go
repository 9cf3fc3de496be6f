package flows

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
)

// Parallel batch evaluation. LogProbBatch and SampleBatch cut their rows
// into fixed chunks (the chunk boundaries depend only on the number of
// rows) and hand the chunks to a small pool of goroutines. Every chunk is
// computed by the same operations whoever computes it, so the results are
// bit-identical for any number of workers, including one.

// batchWorkers is the number of goroutines of the batch methods; 0 means
// GOMAXPROCS at the time of the call.
var batchWorkers atomic.Int64

// SetBatchWorkers sets the number of goroutines Flow.LogProbBatch and
// Flow.SampleBatch (and the batch methods of the distributions returned by
// Flow.Condition) may use, and returns the previous setting; n = 0 (the
// default) means runtime.GOMAXPROCS(0) at the time of each call, 1 runs
// everything on the calling goroutine. The results do not depend on it:
// rows are processed in fixed chunks whatever the number of goroutines. It
// panics if n is negative.
func SetBatchWorkers(n int) (previous int) {
	if n < 0 {
		panic(fmt.Sprintf("flows: SetBatchWorkers(%d): negative", n))
	}
	return int(batchWorkers.Swap(int64(n)))
}

// BatchWorkers returns the number of goroutines the batch methods use now:
// the SetBatchWorkers setting, or GOMAXPROCS if it is 0.
func BatchWorkers() int {
	if n := batchWorkers.Load(); n > 0 {
		return int(n)
	}
	return runtime.GOMAXPROCS(0)
}

// chunker is the work of one batch call, cut into chunks.
type chunker interface {
	// begin returns the scratch one goroutine uses for its chunks.
	begin() *batchState
	// end returns the scratch.
	end(st *batchState)
	// chunk processes chunk i.
	chunk(st *batchState, i int)
}

// parCall is one call of runChunks: the chunks are claimed in increasing
// order from next by the calling goroutine and the helpers.
//
// The call is listed in poolCalls while it has chunks left; idle helpers
// wait on poolCond and take listed calls that have fewer helpers than
// they allow. Once the caller runs out of chunks it unlists the call and
// waits only for the helpers already working on it (active), never for
// one that has not started: a chunk may itself call a batch method
// (nested calls do not deadlock), and a helper descheduled on a busy
// machine does not hold the caller up. Helpers find calls only through the
// list, so an unlisted call can be recycled at once.
type parCall struct {
	job        chunker
	n          int64
	next       atomic.Int64
	maxHelpers int       // guarded by poolMu
	helpers    int       // helpers that took the call; guarded by poolMu
	active     int       // helpers working on it now; guarded by poolMu
	idle       sync.Cond // signalled when active drops to 0 (L is &poolMu)
	panicV     atomic.Pointer[any]
}

// maxPoolWorkers bounds the helper goroutines of the pool.
const maxPoolWorkers = 64

var (
	poolMu      sync.Mutex
	poolCond    = sync.NewCond(&poolMu) // a call was listed
	poolCalls   []*parCall              // calls with chunks left
	poolWorkers int
	parCalls    freeList[parCall]
)

// ensurePoolWorkers starts helper goroutines until there are at least n (at
// most maxPoolWorkers). They live for the rest of the process, waiting on
// poolCond when idle. poolMu must be held.
func ensurePoolWorkers(n int) {
	for poolWorkers < min(n, maxPoolWorkers) {
		poolWorkers++
		go poolWorker()
	}
}

// poolWorker is a helper goroutine: it works on listed calls.
func poolWorker() {
	poolMu.Lock()
	for {
		var pc *parCall
		for _, c := range poolCalls {
			if c.helpers < c.maxHelpers && c.next.Load() < c.n {
				pc = c
				break
			}
		}
		if pc == nil {
			poolCond.Wait()
			continue
		}
		pc.helpers++
		pc.active++
		poolMu.Unlock()
		pc.work()
		poolMu.Lock()
		if pc.active--; pc.active == 0 {
			pc.idle.Signal()
		}
	}
}

// freeList is a stack of reusable values guarded by a mutex. Unlike a
// sync.Pool it is not emptied by the garbage collector and any goroutine
// gets any free value (a sync.Pool's per-processor slots can make a
// goroutine allocate while another processor holds a free value), so the
// batch methods do not allocate in steady state. It keeps at most as many
// values as were ever in use at once.
type freeList[T any] struct {
	mu    sync.Mutex
	items []*T
}

// get returns a free value, or a new zero one.
func (l *freeList[T]) get() *T {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := len(l.items)
	if n == 0 {
		return new(T)
	}
	t := l.items[n-1]
	l.items[n-1] = nil
	l.items = l.items[:n-1]
	return t
}

// put returns t to the list.
func (l *freeList[T]) put(t *T) {
	l.mu.Lock()
	l.items = append(l.items, t)
	l.mu.Unlock()
}

// work processes chunks until none is left. A panic is recorded for the
// caller of runChunks (the first one wins) and stops this goroutine's work.
func (pc *parCall) work() {
	var st *batchState
	defer func() {
		if r := recover(); r != nil {
			p := new(any) // only on a panic: taking &r would allocate every call
			*p = r
			pc.panicV.CompareAndSwap(nil, p)
			pc.next.Store(pc.n) // let the others stop early
		}
		if st != nil {
			pc.job.end(st)
		}
	}()
	for {
		i := pc.next.Add(1) - 1
		if i >= pc.n {
			return
		}
		if st == nil {
			st = pc.job.begin()
		}
		pc.job.chunk(st, int(i))
	}
}

// runChunks runs job on chunks 0 … n-1 with up to BatchWorkers goroutines
// (the caller's included) and returns when all are done. A panic in any
// chunk is re-raised on the calling goroutine. It does not allocate in
// steady state.
func runChunks(job chunker, n int) {
	if n <= 0 {
		return
	}
	w := min(BatchWorkers(), n, maxPoolWorkers+1)
	pc := parCalls.get()
	pc.job, pc.n = job, int64(n)
	pc.next.Store(0)
	pc.panicV.Store(nil)
	if w > 1 {
		poolMu.Lock()
		ensurePoolWorkers(w - 1)
		pc.idle.L = &poolMu
		pc.maxHelpers, pc.helpers, pc.active = w-1, 0, 0
		poolCalls = append(poolCalls, pc)
		poolCond.Broadcast()
		poolMu.Unlock()
	}
	pc.work()
	if w > 1 {
		poolMu.Lock()
		for i, c := range poolCalls {
			if c == pc {
				last := len(poolCalls) - 1
				copy(poolCalls[i:], poolCalls[i+1:])
				poolCalls[last] = nil
				poolCalls = poolCalls[:last]
				break
			}
		}
		for pc.active > 0 {
			pc.idle.Wait()
		}
		poolMu.Unlock()
	}
	p := pc.panicV.Load()
	pc.job = nil
	parCalls.put(pc)
	if p != nil {
		panic(*p)
	}
}
