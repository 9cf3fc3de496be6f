package nn

import (
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
)

// TestRedirectGradsDataParallel splits a batch between goroutines, each
// running forward and backward on its own tape with the parameters'
// gradients redirected to its own buffers, and checks that the buffers add
// up to the gradient of one backward pass over the whole batch. The model
// has a masked layer, a tanh MLP, a fused op and a ConcatCols taking
// parameters directly, so that every way a parameter's gradient is reached
// is redirected.
func TestRedirectGradsDataParallel(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	const n, workers = 96, 3
	mask := FromSlice(6, 4, []float64{
		1, 0, 0, 0, 1, 1, 0, 0, 1, 1, 1, 0,
		1, 1, 1, 1, 0, 1, 0, 1, 1, 0, 1, 1,
	})
	ml := &MaskedLinear{Linear: *NewLinear("ml", 4, 6, true, rng), M: mask}
	mlp := NewMLP("mlp", []int{6, 8, 3}, Tanh, rng)
	s := NewParam("s", 1, 3) // enters a fused op directly
	InitUniform(s, 0.5, rng)
	extra := NewParam("extra", 1, 2) // enters ConcatCols directly
	InitUniform(extra, 1, rng)
	fa, fb := NewParam("fa", 2, 3), NewParam("fb", 2, 3) // the inputs of a fused op
	InitUniform(fa, 1, rng)
	InitUniform(fb, 1, rng)
	params := append(append(ml.Params(), mlp.Params()...), s, extra, fa, fb)
	x := New(n, 4)
	for i := range x.Data {
		x.Data[i] = rng.NormFloat64()
	}
	// loss over rows [from, to): Σ over the rows of the per-row loss,
	// divided by n, so that the parts add up to the mean over the batch.
	loss := func(tp *Tape, from, to int) *Tensor {
		xb := FromSlice(to-from, 4, x.Data[from*4:to*4])
		h := mlp.Forward(tp, ml.Forward(tp, xb))
		y, ld := fusedScale(tp, h, tp.Mul(tp.Shift(tp.Scale(h, 0), 1), s)) // s broadcast to h's shape
		e := tp.ConcatCols(y, ld, tp.Add(tp.Scale(ld, 0), extra))
		// A term of the parameters alone, weighted by the share of rows.
		fy, fld := fusedScale(tp, fa, fb)
		pt := tp.Add(tp.Sum(tp.Square(fy)), tp.Sum(fld))
		return tp.Add(tp.Scale(tp.Sum(tp.Square(e)), 1/float64(n)), tp.Scale(pt, float64(to-from)/float64(n)))
	}

	// Reference: one tape, the whole batch.
	ZeroGrad(params)
	tp := NewTape()
	tp.Backward(loss(tp, 0, n))
	want := make([][]float64, len(params))
	for i, p := range params {
		want[i] = append([]float64(nil), p.Grad...)
	}

	ZeroGrad(params)
	bufs := make([][][]float64, workers)
	tapes := make([]*Tape, workers)
	for w := range workers {
		bufs[w] = make([][]float64, len(params))
		for i, p := range params {
			bufs[w][i] = make([]float64, len(p.Data))
		}
		tapes[w] = NewTape()
		tapes[w].RedirectGrads(params, bufs[w])
	}
	for rep := range 2 { // the second pass reuses the arenas
		for w := range workers {
			for i := range params {
				clear(bufs[w][i])
			}
		}
		var wg sync.WaitGroup
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				tp := tapes[w]
				tp.Reset()
				tp.Backward(loss(tp, w*n/workers, (w+1)*n/workers))
			}()
		}
		wg.Wait()
		for i, p := range params {
			for k, v := range p.Grad {
				if v != 0 {
					t.Fatalf("rep %d: %s.Grad[%d] = %v: the redirected tapes wrote into it", rep, p.Name, k, v)
				}
			}
			for k := range want[i] {
				got := 0.0
				for w := range workers {
					got += bufs[w][i][k]
				}
				// Sums in another order: a few roundings of the terms.
				if d := math.Abs(got - want[i][k]); d > 1e-13*(1+math.Abs(want[i][k])) {
					t.Fatalf("rep %d: gradient of %s[%d]: got %v (sum of the workers'), want %v", rep, p.Name, k, got, want[i][k])
				}
			}
		}
	}

	// Without redirection the tape writes into the parameters again.
	tapes[0].RedirectGrads(nil, nil)
	tapes[0].Reset()
	tapes[0].Backward(loss(tapes[0], 0, n))
	for i, p := range params {
		for k, v := range p.Grad {
			if math.Abs(v-want[i][k]) > 1e-13*(1+math.Abs(want[i][k])) {
				t.Fatalf("after RedirectGrads(nil, nil): %s.Grad[%d] = %v, want %v", p.Name, k, v, want[i][k])
			}
		}
	}
}

func TestRedirectGradsPanics(t *testing.T) {
	p := NewParam("p", 2, 3)
	for _, tc := range []struct {
		name  string
		grads [][]float64
	}{
		{"count", nil},
		{"length", [][]float64{make([]float64, 5)}},
	} {
		func() {
			defer func() {
				if msg, ok := recover().(string); !ok || !strings.HasPrefix(msg, "nn: RedirectGrads") {
					t.Errorf("%s: got panic %v, want an \"nn: RedirectGrads ...\" message", tc.name, msg)
				}
			}()
			NewTape().RedirectGrads([]*Tensor{p}, tc.grads)
		}()
	}
}

// TestDataParallel checks DataParallel against one backward pass over the
// whole batch of an MLP regression, for several numbers of workers, and
// that it makes no allocation in steady state.
func TestDataParallel(t *testing.T) {
	const n = 90
	rng := rand.New(rand.NewPCG(31, 32))
	net := NewMLP("m", []int{3, 16, 2}, Tanh, rng)
	params := net.Params()
	x, y := New(n, 3), New(n, 2)
	for i := range x.Data {
		x.Data[i] = rng.NormFloat64()
	}
	for i := range y.Data {
		y.Data[i] = rng.NormFloat64()
	}
	// The mean squared error over the batch as a sum of parts (the rows
	// copied into the tape's arena: no allocation).
	loss := func(tp *Tape, from, to int) *Tensor {
		xb, yb := tp.New(to-from, 3), tp.New(to-from, 2)
		copy(xb.Data, x.Data[from*3:to*3])
		copy(yb.Data, y.Data[from*2:to*2])
		return tp.Scale(tp.MSE(net.Forward(tp, xb), yb), float64(to-from)/n)
	}
	ZeroGrad(params)
	tp := NewTape()
	l := loss(tp, 0, n)
	wantLoss := l.Item()
	tp.Backward(l)
	want := make([][]float64, len(params))
	for i, p := range params {
		want[i] = append([]float64(nil), p.Grad...)
	}
	for _, workers := range []int{1, 2, 3, 7} {
		d := NewDataParallel(params, workers)
		for rep := range 3 {
			ZeroGrad(params)
			got := d.Backward(n, loss)
			if math.Abs(got-wantLoss) > 1e-14*math.Abs(wantLoss) {
				t.Errorf("%d workers, rep %d: loss %v, want %v", workers, rep, got, wantLoss)
			}
			for i, p := range params {
				for k, v := range p.Grad {
					if math.Abs(v-want[i][k]) > 1e-14*(1+math.Abs(want[i][k])) {
						t.Fatalf("%d workers, rep %d: gradient of %s[%d]: got %v, want %v", workers, rep, p.Name, k, v, want[i][k])
					}
				}
			}
		}
		if got := testing.AllocsPerRun(20, func() { ZeroGrad(params); d.Backward(n, loss) }); got != 0 {
			t.Errorf("%d workers: %v allocations per step, want 0", workers, got)
		}
		// A batch smaller than the number of workers uses fewer parts.
		ZeroGrad(params)
		if got, want := d.Backward(2, loss), loss(nil, 0, 2).Item(); math.Abs(got-want) > 1e-15 {
			t.Errorf("%d workers, 2 rows: loss %v, want %v", workers, got, want)
		}
		d.Close()
		d.Close()
	}
}

func TestDataParallelPanic(t *testing.T) {
	p := NewParam("p", 1, 2)
	d := NewDataParallel([]*Tensor{p}, 3)
	defer d.Close()
	defer func() {
		if msg, ok := recover().(string); !ok || !strings.Contains(msg, "boom") {
			t.Errorf("got panic %v, want the part's panic", msg)
		}
	}()
	d.Backward(9, func(tp *Tape, from, to int) *Tensor {
		if from > 0 {
			panic("boom")
		}
		return tp.Sum(p)
	})
}
