package nn

import (
	"fmt"
	"sync"
)

// DataParallel computes the gradient of a loss that is a sum over the rows
// of a batch on several goroutines: the rows are split into Workers()
// contiguous parts, each part's loss and backward pass run on a goroutine
// of its own with its own tape, and the parts' gradients are added into
// the parameters' Grad. Part 0 runs on the calling goroutine and
// accumulates into the parameters' Grad directly; the others use tapes
// whose gradients are redirected (Tape.RedirectGrads) to buffers of their
// own, added in part order after all parts finish, so the result depends
// on the number of workers (through the summation order) but not on
// scheduling or GOMAXPROCS.
//
// The loss function is called concurrently, once per part with distinct
// tapes: it must only read shared state (modules' Forward methods do).
// A DataParallel holds goroutines: Close stops them. Backward makes no
// allocation in steady state. Its methods must not be called concurrently.
type DataParallel struct {
	params  []*Tensor
	tapes   []*Tape       // one per part; tapes[0] writes into the parameters
	bufs    [][][]float64 // bufs[w][i]: part w's gradient of params[i] (w >= 1)
	losses  []float64
	panics  []any
	jobs    []chan dpJob
	wg      sync.WaitGroup
	closeMu sync.Once
}

// dpJob is one part's work.
type dpJob struct {
	loss     func(tp *Tape, from, to int) *Tensor
	from, to int
}

// NewDataParallel returns a DataParallel over params with the given number
// of parts (at least 1; 1 runs everything on the calling goroutine). It
// panics if workers < 1.
func NewDataParallel(params []*Tensor, workers int) *DataParallel {
	if workers < 1 {
		panic(fmt.Sprintf("nn: NewDataParallel: %d workers", workers))
	}
	d := &DataParallel{
		params: params,
		tapes:  make([]*Tape, workers),
		bufs:   make([][][]float64, workers),
		losses: make([]float64, workers),
		panics: make([]any, workers),
		jobs:   make([]chan dpJob, workers),
	}
	d.tapes[0] = NewTape()
	for w := 1; w < workers; w++ {
		d.bufs[w] = make([][]float64, len(params))
		for i, p := range params {
			d.bufs[w][i] = make([]float64, len(p.Data))
		}
		d.tapes[w] = NewTape()
		d.tapes[w].RedirectGrads(params, d.bufs[w])
		d.jobs[w] = make(chan dpJob)
		go d.worker(w)
	}
	return d
}

// Workers returns the number of parts a batch is split into.
func (d *DataParallel) Workers() int { return len(d.tapes) }

// Backward splits rows [0, n) into Workers() contiguous parts (fewer if
// n is smaller), computes each part's 1×1 loss loss(tp, from, to) on the
// part's tape and its backward pass, and adds the gradients into the
// parameters' Grad (accumulating, as Tape.Backward does). It returns the
// sum of the parts' losses: for the mean over the batch, let loss return
// the sum over its rows divided by n. A panic in a part is re-raised on
// the calling goroutine once all parts are done.
func (d *DataParallel) Backward(n int, loss func(tp *Tape, from, to int) *Tensor) float64 {
	parts := max(1, min(len(d.tapes), n))
	for w := 1; w < parts; w++ {
		d.wg.Add(1)
		d.jobs[w] <- dpJob{loss: loss, from: w * n / parts, to: (w + 1) * n / parts}
	}
	d.run(0, dpJob{loss: loss, from: 0, to: n / parts})
	d.wg.Wait()
	for w := range parts {
		if p := d.panics[w]; p != nil {
			clear(d.panics)
			panic(p)
		}
	}
	total := d.losses[0]
	for w := 1; w < parts; w++ {
		total += d.losses[w]
		for i, p := range d.params {
			if !p.RequiresGrad {
				continue
			}
			if len(p.Grad) != len(p.Data) {
				p.Grad = make([]float64, len(p.Data))
			}
			g, b := p.Grad, d.bufs[w][i][:len(p.Grad)]
			for k, v := range b {
				g[k] += v
			}
			clear(b)
		}
	}
	return total
}

// run computes part w's loss and backward pass, recording a panic.
func (d *DataParallel) run(w int, j dpJob) {
	defer func() {
		if p := recover(); p != nil {
			d.panics[w] = p
		}
	}()
	tp := d.tapes[w]
	tp.Reset()
	l := j.loss(tp, j.from, j.to)
	d.losses[w] = l.Item()
	tp.Backward(l)
}

func (d *DataParallel) worker(w int) {
	for j := range d.jobs[w] {
		d.run(w, j)
		d.wg.Done()
	}
}

// Close stops the worker goroutines. The DataParallel must not be used
// afterwards. Close may be called more than once.
func (d *DataParallel) Close() {
	d.closeMu.Do(func() {
		for _, c := range d.jobs[1:] {
			close(c)
		}
	})
}
