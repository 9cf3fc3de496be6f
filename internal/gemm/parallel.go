package gemm

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// workspace is the scratch memory of one running part of a product: packed
// tiles of A and packed panels of B. Workspaces are
// recycled through a free list, so that steady-state calls do not allocate.
type workspace struct {
	apack, bpack []float64
}

// freeWorkspaces holds idle workspaces. A channel rather than a sync.Pool:
// a pool is emptied by the garbage collector, which would make a training
// loop reallocate its buffers after every collection.
var freeWorkspaces = make(chan *workspace, 32)

func getWorkspace() *workspace {
	select {
	case ws := <-freeWorkspaces:
		return ws
	default:
		return new(workspace)
	}
}

func putWorkspace(ws *workspace) {
	select {
	case freeWorkspaces <- ws:
	default:
	}
}

// maxParts bounds the number of goroutines one product is split between.
const maxParts = 8

// part is a block of rows [i0, i1) and columns [j0, j1) of one call.
type part struct {
	cl             *call
	i0, i1, j0, j1 int
	claimed        atomic.Bool
}

// call is one product being run in parallel. refs counts the references
// held by the caller and by the work queue; the last to drop one recycles
// the call, so that a part still queued never sees a reused call.
type call struct {
	im    *impl
	pr    problem
	parts [maxParts]part
	wg    sync.WaitGroup
	refs  atomic.Int32
}

// parallelism and minParFlops override, when positive, GOMAXPROCS and the
// implementation's parallel threshold (for tests and tuning).
var parallelism, minParFlops atomic.Int64

var (
	startWorkers sync.Once
	nWorkers     int
	workQueue    chan *part
	freeCalls    = make(chan *call, 16)
)

// worker runs parts from the queue until the program exits. Workers are
// started once, on the first product large enough to be split.
func worker() {
	for pt := range workQueue {
		cl := pt.cl
		if !pt.claimed.CompareAndSwap(false, true) {
			cl.release() // the caller ran it
			continue
		}
		pt.run()
		// Drop the reference before signalling: the caller holds its own
		// until Wait returns, so cl stays valid, and it is recycled as
		// soon as the caller is done with it.
		cl.release()
		cl.wg.Done()
	}
}

func (pt *part) run() {
	ws := getWorkspace()
	ws.run(pt.cl.im, &pt.cl.pr, pt.i0, pt.i1, pt.j0, pt.j1)
	putWorkspace(ws)
}

func (cl *call) release() {
	if cl.refs.Add(-1) == 0 {
		cl.pr = problem{} // drop references to the caller's matrices
		select {
		case freeCalls <- cl:
		default:
		}
	}
}

// split returns the number of parts for t tiles split between at most np
// goroutines, and the load imbalance (largest part over the mean).
func split(t, np int) (int, float64) {
	np = min(np, t)
	if np < 2 {
		return 1, 0
	}
	per := (t + np - 1) / np
	return np, float64(per*np) / float64(t)
}

// parallel runs the product on several goroutines and reports whether it
// did. Parts are whole tiles of rows (or of columns when that balances
// better), so each element is computed exactly as in a serial run. The
// caller runs the first part and then any part no worker has started.
func parallel(im *impl, pr *problem) bool {
	np := runtime.GOMAXPROCS(0)
	if p := parallelism.Load(); p > 0 {
		np = int(p)
	}
	np = min(np, maxParts)
	if np < 2 {
		return false
	}
	startWorkers.Do(func() {
		nWorkers = maxParts - 1
		workQueue = make(chan *part, 4*maxParts)
		// A call whose part the caller ran itself stays referenced by the
		// queue until a worker drains it; spare calls keep the next calls
		// from allocating meanwhile.
		for range cap(freeCalls) / 2 {
			freeCalls <- new(call)
		}
		for range nWorkers {
			go worker()
		}
	})
	np = min(np, nWorkers+1)
	// Each part should carry at least half the parallel threshold.
	flops := 2 * float64(pr.m) * float64(pr.n) * float64(pr.k)
	np = min(np, int(2*flops/float64(parThreshold(im))))
	mt := (pr.m + im.mr - 1) / im.mr
	nt := (pr.n + im.nr - 1) / im.nr
	rp, rImb := split(mt, np)
	cp, cImb := split(nt, np)
	byCols := cp > 1 && (rp < 2 || cImb < rImb)
	if rp < 2 && !byCols {
		return false
	}

	// No spare call means that earlier calls are still referenced by parts
	// the workers have not drained: they are not getting to run, so the
	// product is better done serially (which also keeps calls from
	// allocating).
	var cl *call
	select {
	case cl = <-freeCalls:
	default:
		return false
	}
	cl.im, cl.pr = im, *pr
	parts, t, step, size := rp, mt, im.mr, pr.m
	if byCols {
		parts, t, step, size = cp, nt, im.nr, pr.n
	}
	cl.refs.Store(1)
	for q := range parts {
		pt := &cl.parts[q]
		lo, hi := min(q*t/parts*step, size), min((q+1)*t/parts*step, size)
		pt.cl = cl
		pt.i0, pt.i1, pt.j0, pt.j1 = lo, hi, 0, pr.n
		if byCols {
			pt.i0, pt.i1, pt.j0, pt.j1 = 0, pr.m, lo, hi
		}
		pt.claimed.Store(q == 0)
		if q > 0 {
			cl.wg.Add(1)
			cl.refs.Add(1)
			select {
			case workQueue <- pt:
			default:
				cl.refs.Add(-1) // queue full: the caller runs it below
			}
		}
	}
	cl.parts[0].run()
	for q := 1; q < parts; q++ {
		if pt := &cl.parts[q]; pt.claimed.CompareAndSwap(false, true) {
			pt.run()
			cl.wg.Done()
		}
	}
	cl.wg.Wait()
	cl.release()
	return true
}

// parThreshold returns the number of flops from which products are split.
func parThreshold(im *impl) int {
	if f := minParFlops.Load(); f > 0 {
		return int(f)
	}
	return im.parFlops
}
