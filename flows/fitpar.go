package flows

import (
	"math"
	"sync"

	"github.com/gosbi/gosbi/nn"
)

// Data-parallel training steps of Fit. A batch of B rows is cut into P
// contiguous parts (P = Settings.Parts, fixed by the settings, never by the
// number of CPUs); part k, of m_k rows, computes its loss mean_k on a tape
// of its own, on a goroutine of its own (nn.DataParallel), and contributes
// (m_k/B)·mean_k, so that the parts add up to the batch mean and their
// gradients to the batch-mean gradient, up to the rounding of a different
// summation order. nn.DataParallel adds the parts' gradients in part order,
// so the result depends on P but not on GOMAXPROCS or scheduling.
// Validation cuts the validation rows into the same chunks of BatchSize
// rows as a serial run and evaluates them on up to P goroutines; the
// chunks' sums are added in chunk order, so the validation loss does not
// depend on P at all.

// minPartRows is the smallest number of rows per part for which splitting a
// batch pays on two cores (see DefaultParts).
const minPartRows = 64

// DefaultParts returns the number of parts per batch that Train uses when
// Settings.Parts is zero: 2 when batchSize is at least 128 (two parts of at
// least 64 rows), else 1. It depends on the batch size only, never on the
// number of CPUs, so that a seed gives the same result on every machine.
//
// Why 2 parts of at least 64 rows: measured with flows.Train on a 2-core
// x86-64 machine with AVX-512 (gosbi bench flows, sbi's default MAF of 5
// transforms and 50 hidden units, D = C = 2 and 10, best of 6 runs on a
// machine shared with other jobs), 2 parts take 0.68–0.72 of the serial
// time on batches of 256 rows, 0.81–0.92 on batches of 128, but 1.02–1.12
// on batches of 64: below about 64 rows per part the goroutine hand-off
// and the smaller matrix products cost more than the second core gains.
// With GOMAXPROCS 1, 2 parts cost 3–5% more CPU time than 1. More parts
// than the cores of the smallest common machine (2) would gain nothing
// there and still pay the per-part overhead.
func DefaultParts(batchSize int) int {
	if batchSize >= 2*minPartRows {
		return 2
	}
	return 1
}

// stepper computes the loss and gradient of a training batch, serially
// (parts = 1) or split into parts.
type stepper struct {
	loss  LossFunc
	tp    *nn.Tape         // the serial tape (parts = 1)
	dp    *nn.DataParallel // nil for parts = 1
	batch []int            // the rows of the batch under way (read by part)
	part  func(tp *nn.Tape, from, to int) *nn.Tensor
}

// newStepper returns a stepper over params with the given number of parts
// (at least 1). Close releases its goroutines.
func newStepper(params []*nn.Tensor, loss LossFunc, parts int) *stepper {
	s := &stepper{loss: loss}
	if parts <= 1 {
		s.tp = nn.NewTape()
		return s
	}
	s.dp = nn.NewDataParallel(params, parts)
	s.part = func(tp *nn.Tape, from, to int) *nn.Tensor {
		l := s.loss(tp, s.batch[from:to])
		if from == 0 && to == len(s.batch) {
			return l
		}
		return tp.Scale(l, float64(to-from)/float64(len(s.batch)))
	}
	return s
}

// grad adds the gradient of the mean loss over rows idx to the parameters'
// Grad and returns the loss. If the loss is not finite the gradient may be
// partial or not finite: the caller zeroes it.
func (s *stepper) grad(idx []int) float64 {
	if s.dp == nil {
		s.tp.Reset()
		l := s.loss(s.tp, idx)
		lv := l.Item()
		if !math.IsNaN(lv) && !math.IsInf(lv, 0) {
			s.tp.Backward(l)
		}
		return lv
	}
	s.batch = idx
	lv := s.dp.Backward(len(idx), s.part)
	s.batch = nil
	return lv
}

// close stops the stepper's goroutines.
func (s *stepper) close() {
	if s.dp != nil {
		s.dp.Close()
	}
}

// validator evaluates the validation loss on up to len(tapes) goroutines.
type validator struct {
	tapes  []*nn.Tape // NoGrad tapes, one per goroutine
	sums   []float64  // sums[c]: chunk c's loss times its rows
	panics []any
}

func newValidator(parts int) *validator {
	v := &validator{tapes: make([]*nn.Tape, max(1, parts)), panics: make([]any, max(1, parts))}
	for i := range v.tapes {
		v.tapes[i] = nn.NewNoGradTape()
	}
	return v
}

// loss returns the mean loss over idx, evaluated in chunks of bs rows (the
// chunk c holds rows [c·bs, min((c+1)·bs, len(idx))) of idx), chunk c on
// goroutine c mod P, the chunks' loss·rows added in chunk order: the same
// value, bit for bit, whatever P. A non-finite mean (NaN, +Inf or -Inf)
// counts as +Inf: never an improvement. A panic of the loss is re-raised
// on the calling goroutine.
func (v *validator) loss(idx []int, bs int, loss LossFunc) float64 {
	chunks := (len(idx) + bs - 1) / bs
	if cap(v.sums) < chunks {
		v.sums = make([]float64, chunks)
	}
	v.sums = v.sums[:chunks]
	p := min(len(v.tapes), chunks)
	var wg sync.WaitGroup
	for w := 1; w < p; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v.work(w, p, idx, bs, loss)
		}()
	}
	v.work(0, p, idx, bs, loss)
	wg.Wait()
	for w := range p {
		if pv := v.panics[w]; pv != nil {
			clear(v.panics)
			panic(pv)
		}
	}
	var sum float64
	for _, s := range v.sums {
		sum += s
	}
	m := sum / float64(len(idx))
	if math.IsNaN(m) || math.IsInf(m, 0) {
		return math.Inf(1)
	}
	return m
}

// work evaluates chunks w, w+p, w+2p, … on tape w.
func (v *validator) work(w, p int, idx []int, bs int, loss LossFunc) {
	defer func() {
		if pv := recover(); pv != nil {
			v.panics[w] = pv
		}
	}()
	tp := v.tapes[w]
	for c := w; c < len(v.sums); c += p {
		from, to := c*bs, min(len(idx), (c+1)*bs)
		tp.Reset()
		v.sums[c] = loss(tp, idx[from:to]).Item() * float64(to-from)
	}
	tp.Reset()
}
