package nn

import "fmt"

// Tape records operations for reverse-mode differentiation and owns an arena
// of intermediate tensors.
//
// Every op is a method on *Tape. With a nil *Tape the op allocates its
// result and records nothing (plain inference). With a non-nil Tape the
// result (and, when recorded, its gradient buffer) comes from the tape's
// arena, which Reset recycles; the op is recorded when the tape is not in
// NoGrad mode and at least one operand is tracked: a parameter
// (RequiresGrad), a watched tensor (Watch), or the output of a recorded op.
// Ops on constants only are computed but not recorded.
//
// A typical training step is
//
//	tp.Reset()
//	loss := model.Loss(tp, x)
//	tp.Backward(loss)
//	opt.Step()
//	opt.ZeroGrad()
//
// and makes no allocations once the arena has grown to the step's needs.
// Tensors returned by a tape's ops are owned by the tape: they are valid
// until the next Reset, which reuses their memory. Copy values out (or
// Clone) to keep them.
//
// The zero value is an empty tape ready to use. A Tape must not be used by
// several goroutines at once; give each goroutine its own.
type Tape struct {
	// NoGrad, when set, turns the tape into a pure arena: ops compute their
	// values into reusable buffers and nothing is recorded. It may be
	// toggled between Resets (e.g. for a validation pass).
	NoGrad bool
	// FreezeParams, when set, makes the tape treat parameters
	// (RequiresGrad) as constants: only watched tensors are tracked, so
	// Backward computes gradients with respect to inputs alone, without the
	// cost of parameter gradients (e.g. the gradient of a trained network's
	// output for HMC). It may be toggled between Resets.
	FreezeParams bool

	gen   uint64
	nodes []node
	pool  []*Tensor // arena tensors; pool[:next] are in use
	next  int
	ptrs  []*Tensor // operand lists of ConcatCols and fused ops
	flags []bool    // need-grad flags of fused-op inputs
	ints  []int     // index lists of gathers
	done  bool      // Backward has run since the last Reset

	// redirect maps a parameter to a proxy sharing its Data whose Grad is
	// the buffer set by RedirectGrads.
	redirect map[*Tensor]*Tensor
}

// NewTape returns an empty recording tape.
func NewTape() *Tape { return &Tape{} }

// NewNoGradTape returns an empty tape in NoGrad mode: an arena for fast,
// allocation-free inference.
func NewNoGradTape() *Tape { return &Tape{NoGrad: true} }

// Reset forgets all recorded operations and recycles the arena: tensors
// previously returned by the tape's ops must no longer be used. Gradients
// accumulated into parameters and watched tensors are kept. Reset on a nil
// tape is a no-op.
func (tp *Tape) Reset() {
	if tp == nil {
		return
	}
	tp.gen++
	clear(tp.nodes) // drop references to caller tensors
	tp.nodes = tp.nodes[:0]
	tp.next = 0
	clear(tp.ptrs)
	tp.ptrs = tp.ptrs[:0]
	tp.flags = tp.flags[:0]
	tp.ints = tp.ints[:0]
	tp.done = false
}

// RedirectGrads makes Backward on tp accumulate the gradient of each
// parameter params[i] into grads[i] instead of params[i].Grad, which the
// tape then neither reads nor writes. Several goroutines can so run
// backward passes through the same parameters at once, each on its own tape
// with its own gradient buffers (data-parallel training: split a batch,
// then add the buffers into the parameters' Grad in a fixed order).
// Modules' Forward methods do not modify the modules, and fused ops receive
// a proxy tensor (the parameter's Data, the buffer as Grad) in place of a
// redirected parameter. Redirection lasts across Resets until the next call;
// RedirectGrads(nil, nil) ends it. It panics if the lists differ in length
// or a buffer's length is not the parameter's.
func (tp *Tape) RedirectGrads(params []*Tensor, grads [][]float64) {
	if len(params) != len(grads) {
		panic(fmt.Sprintf("nn: RedirectGrads: %d parameters, %d buffers", len(params), len(grads)))
	}
	if len(params) == 0 {
		tp.redirect = nil
		return
	}
	tp.redirect = make(map[*Tensor]*Tensor, len(params))
	proxies := make([]Tensor, len(params))
	for i, p := range params {
		if len(grads[i]) != len(p.Data) {
			panic(fmt.Sprintf("nn: RedirectGrads: buffer %d has %d values for %v", i, len(grads[i]), p))
		}
		proxies[i] = Tensor{Rows: p.Rows, Cols: p.Cols, Data: p.Data, Grad: grads[i], Name: p.Name, RequiresGrad: true, gradSet: true}
		tp.redirect[p] = &proxies[i]
	}
}

// redirected returns the proxy of a redirected parameter, or nil.
func (tp *Tape) redirected(t *Tensor) *Tensor {
	if tp.redirect == nil || !t.RequiresGrad {
		return nil
	}
	return tp.redirect[t]
}

// Len returns the number of operations recorded since the last Reset.
func (tp *Tape) Len() int {
	if tp == nil {
		return 0
	}
	return len(tp.nodes)
}

// Watch marks tensors (typically inputs) whose gradients the next Backward
// must compute, in addition to parameters. It allocates each tensor's Grad
// if needed and sets it to zero. Watching lasts until the next Reset. On a
// nil tape Watch does nothing.
func (tp *Tape) Watch(ts ...*Tensor) {
	if tp == nil {
		return
	}
	for _, t := range ts {
		t.tape, t.gen = tp, tp.gen
		n := len(t.Data)
		if cap(t.Grad) < n {
			t.Grad = make([]float64, n)
		} else {
			t.Grad = t.Grad[:n]
			clear(t.Grad)
		}
		t.gradSet = true
	}
}

// Tracked reports whether t is tracked by the tape in its current
// recording: a parameter with RequiresGrad, a watched tensor, or the output
// of a recorded op. It is false on a nil tape or in NoGrad mode.
func (tp *Tape) Tracked(t *Tensor) bool {
	return tp != nil && !tp.NoGrad && tp.needs(t)
}

// Recording reports whether an op with the given inputs would be recorded:
// the tape is non-nil, not in NoGrad mode, and at least one input is
// tracked. Fused ops use it to skip work that only the backward pass needs.
func (tp *Tape) Recording(ins ...*Tensor) bool {
	if tp == nil || tp.NoGrad {
		return false
	}
	for _, t := range ins {
		if tp.needs(t) {
			return true
		}
	}
	return false
}

// New returns a zero-filled r×c tensor: from the arena for a non-nil tape
// (valid until the next Reset), freshly allocated for a nil tape. Fused ops
// use it for their outputs and for saved intermediates.
func (tp *Tape) New(r, c int) *Tensor {
	t := tp.alloc(r, c)
	if tp != nil {
		clear(t.Data)
	}
	return t
}

// Backward computes the gradient of the 1×1 tensor loss with respect to
// every tracked tensor of the recording and accumulates it into the Grad of
// each parameter and watched tensor. It may be called once per Reset.
// It panics if loss is not 1×1, if it was not produced by a recorded op of
// this tape (or watched on it), or if Backward already ran.
func (tp *Tape) Backward(loss *Tensor) {
	if tp == nil {
		panic("nn: Backward on a nil tape")
	}
	if loss.Rows != 1 || loss.Cols != 1 {
		panic(fmt.Sprintf("nn: Backward: loss is %d×%d, want 1×1", loss.Rows, loss.Cols))
	}
	if tp.done {
		panic("nn: Backward called twice without Reset")
	}
	if !tp.needs(loss) {
		panic("nn: Backward: loss is not tracked by this tape (it depends on no parameter or watched tensor, or the tape is in NoGrad mode)")
	}
	tp.done = true
	if len(loss.Grad) != 1 {
		tp.ensureGrad(loss)
	}
	tp.initGrad(loss)
	loss.Grad[0] += 1
	for i := len(tp.nodes) - 1; i >= 0; i-- {
		n := &tp.nodes[i]
		// An output that no later op used has a zero gradient: give it
		// one, so that every tracked tensor's Grad is valid after Backward.
		if n.kind == opFused {
			for _, o := range tp.ptrs[n.i+n.j : n.i+n.j+n.k] {
				tp.initGrad(o)
			}
		} else {
			tp.initGrad(n.out)
		}
		tp.backward(n)
	}
}

// opKind identifies a built-in operation in a node.
type opKind uint8

const (
	opNone opKind = iota
	opMatMul
	opLinear
	opAdd
	opSub
	opMul
	opDiv
	opScale
	opShift
	opExp
	opLog
	opLog1p
	opSqrt
	opSquare
	opAbs
	opTanh
	opReLU
	opLeakyReLU
	opELU
	opGELU
	opSigmoid
	opSoftplus
	opLogSigmoid
	opClamp
	opSum
	opMean
	opRowSum
	opRowMean
	opColSum
	opColMean
	opRowLogSumExp
	opSliceCols
	opConcatCols
	opGatherRows
	opGatherCols
	opMask
	opMSE
	opFused
)

// node is one entry of the Wengert list. It stores operand pointers and
// scalar arguments rather than a closure, so recording does not allocate.
type node struct {
	kind    opKind
	a, b, c *Tensor // operands (meaning depends on kind)
	out     *Tensor
	p, q    float64 // scalar arguments
	i, j, k int     // integer arguments / ranges into ptrs, flags, ints
	fused   FusedOp
}

// needs reports whether t is tracked in the current recording (ignoring
// NoGrad).
func (tp *Tape) needs(t *Tensor) bool {
	return t != nil && ((t.RequiresGrad && !tp.FreezeParams) || (t.tape == tp && t.gen == tp.gen))
}

// rec reports whether an op with operands a and b (either may be nil) is to
// be recorded.
func (tp *Tape) rec(a, b *Tensor) bool {
	return tp != nil && !tp.NoGrad && (tp.needs(a) || tp.needs(b))
}

// alloc returns an r×c tensor with unspecified contents: from the arena, or
// freshly allocated for a nil tape.
func (tp *Tape) alloc(r, c int) *Tensor {
	checkDims(r, c)
	n := r * c
	if tp == nil {
		return &Tensor{Rows: r, Cols: c, Data: make([]float64, n)}
	}
	if tp.next == len(tp.pool) {
		tp.pool = append(tp.pool, &Tensor{})
	}
	t := tp.pool[tp.next]
	tp.next++
	t.Rows, t.Cols = r, c
	if cap(t.Data) < n {
		t.Data = make([]float64, n)
	} else {
		t.Data = t.Data[:n]
	}
	t.Grad = t.Grad[:0]
	return t
}

// ensureGrad makes t.Grad a slice of len(t.Data), allocating only if its
// capacity is too small. New storage is zero; existing contents are kept.
func (tp *Tape) ensureGrad(t *Tensor) {
	n := len(t.Data)
	if len(t.Grad) == n {
		return
	}
	if cap(t.Grad) < n {
		t.Grad = make([]float64, n)
		return
	}
	t.Grad = t.Grad[:n]
	clear(t.Grad)
}

// track marks out as the output of a recorded op and gives it a gradient
// buffer of its size, whose contents count as zero until the first write
// (see gradSet): the backward pass of the first op to propagate into it
// overwrites it (or clears it first), so that buffers are not cleared on
// the forward pass only to be overwritten on the backward pass.
func (tp *Tape) track(out *Tensor) {
	out.tape, out.gen = tp, tp.gen
	n := len(out.Data)
	if cap(out.Grad) < n {
		out.Grad = make([]float64, n)
		out.gradSet = true
	} else {
		out.Grad = out.Grad[:n]
		out.gradSet = false
	}
}

// initGrad makes t's gradient buffer hold its value (zero until written)
// if t is an op output of this recording whose buffer was never written.
func (tp *Tape) initGrad(t *Tensor) {
	if !t.gradSet && t.tape == tp && t.gen == tp.gen {
		clear(t.Grad)
		t.gradSet = true
	}
}

// leafGrad allocates the Grad of a tracked parameter on first use (not of
// a redirected one, whose gradient goes elsewhere).
func (tp *Tape) leafGrad(t *Tensor) {
	if t != nil && t.RequiresGrad && !tp.FreezeParams && len(t.Grad) != len(t.Data) && tp.redirected(t) == nil {
		tp.ensureGrad(t)
	}
}

// push records n, tracking its output and preparing operand gradients.
func (tp *Tape) push(n node) {
	tp.track(n.out)
	tp.leafGrad(n.a)
	tp.leafGrad(n.b)
	tp.leafGrad(n.c)
	tp.nodes = append(tp.nodes, n)
}

// grad returns t's gradient slice, for accumulation (+=), if t needs a
// gradient in this recording, or nil.
func (tp *Tape) grad(t *Tensor) []float64 {
	if t == nil || !tp.needs(t) {
		return nil
	}
	if r := tp.redirected(t); r != nil {
		return r.Grad
	}
	tp.initGrad(t)
	return t.Grad
}

// gradOut is grad for backward passes that can overwrite: fresh reports
// that the buffer holds no gradient yet, and then the caller must set every
// element (=) instead of accumulating (+=). The buffer counts as written
// from this call on, so the caller must have finished reading any other
// gradient slice that could alias it (an op whose operands are the same
// tensor gets the same slice twice: the first gradOut may be fresh, the
// second is not).
func (tp *Tape) gradOut(t *Tensor) (g []float64, fresh bool) {
	if t == nil || !tp.needs(t) {
		return nil, false
	}
	if r := tp.redirected(t); r != nil {
		return r.Grad, false
	}
	if !t.gradSet && t.tape == tp && t.gen == tp.gen {
		t.gradSet = true
		return t.Grad, true
	}
	return t.Grad, false
}

func (tp *Tape) backward(n *node) {
	switch n.kind {
	case opMatMul:
		tp.matMulBackward(n)
	case opLinear:
		tp.linearBackward(n)
	case opAdd, opSub, opMul, opDiv:
		tp.binaryBackward(n)
	case opScale, opShift, opExp, opLog, opLog1p, opSqrt, opSquare, opAbs, opTanh,
		opReLU, opLeakyReLU, opELU, opGELU, opSigmoid, opSoftplus, opLogSigmoid, opClamp:
		tp.unaryBackward(n)
	case opSum, opMean, opRowSum, opRowMean, opColSum, opColMean, opRowLogSumExp:
		tp.reduceBackward(n)
	case opSliceCols:
		tp.sliceColsBackward(n)
	case opConcatCols:
		tp.concatColsBackward(n)
	case opGatherRows:
		tp.gatherRowsBackward(n)
	case opGatherCols:
		tp.gatherColsBackward(n)
	case opMask:
		tp.maskBackward(n)
	case opMSE:
		tp.mseBackward(n)
	case opFused:
		ins := tp.ptrs[n.i : n.i+n.j]
		outs := tp.ptrs[n.i+n.j : n.i+n.j+n.k]
		need := tp.flags[n.i : n.i+n.j]
		for i, in := range ins {
			if need[i] {
				if r := tp.redirected(in); r != nil {
					ins[i] = r // the op accumulates into r.Grad
				} else {
					tp.initGrad(in) // fused ops accumulate
				}
			}
		}
		n.fused.Backward(ins, outs, need)
	default:
		panic(fmt.Sprintf("nn: internal error: unknown op kind %d", n.kind))
	}
}
