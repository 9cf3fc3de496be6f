package nn

import "fmt"

// FusedOp is the backward half of a user-defined (fused) operation,
// recorded with Tape.Fused.
//
// Backward is called once during Tape.Backward, after the gradients of all
// outputs are complete. It must read outs[k].Grad (same layout as
// outs[k].Data) and accumulate (+=, never overwrite) into ins[i].Grad for
// every i with need[i] true; for need[i] false, ins[i].Grad may be nil or
// belong to a frozen tensor and must not be touched. The slices are owned by
// the tape and are valid only during the call.
//
// A FusedOp value is usually a pointer to a long-lived struct (for example
// the transform that owns the op), so recording it allocates nothing.
// Per-call intermediates that the backward pass needs can be stored in extra
// arena tensors from Tape.New passed among the inputs (they are constants:
// their need flag is false).
type FusedOp interface {
	Backward(ins, outs []*Tensor, need []bool)
}

// FusedFunc adapts a function to the FusedOp interface. A closure that
// captures variables allocates each time it is created; prefer a method on
// a long-lived value in hot paths.
type FusedFunc func(ins, outs []*Tensor, need []bool)

// Backward calls f(ins, outs, need).
func (f FusedFunc) Backward(ins, outs []*Tensor, need []bool) { f(ins, outs, need) }

// Fused records a user-defined operation whose outputs outs were computed
// by the caller from ins; op.Backward will propagate their gradients. The
// op is recorded only if Recording(ins...) is true; otherwise (nil tape,
// NoGrad mode, or no tracked input) Fused does nothing, so the same forward
// code serves training and inference.
//
// Outputs should be fresh tensors from tp.New (or tp's other ops' results
// not otherwise recorded); recording marks them as tracked and gives them
// gradient buffers (holding their gradients once Backward has run). The ins and outs slices are copied, so callers
// may pass stack-allocated literals. It panics if outs is empty or an
// output is also an input.
//
// Example of a fused op computing y = a*x (elementwise, with a 1×1 scalar
// tensor a) in one pass:
//
//	type scaleOp struct{}
//
//	func (scaleOp) Backward(ins, outs []*Tensor, need []bool) {
//		a, x, y := ins[0], ins[1], outs[0]
//		for i, g := range y.Grad {
//			if need[0] {
//				a.Grad[0] += g * x.Data[i]
//			}
//			if need[1] {
//				x.Grad[i] += g * a.Data[0]
//			}
//		}
//	}
//
//	func scale(tp *nn.Tape, a, x *nn.Tensor) *nn.Tensor {
//		y := tp.New(x.Rows, x.Cols)
//		for i, v := range x.Data {
//			y.Data[i] = a.Data[0] * v
//		}
//		tp.Fused(scaleOp{}, []*nn.Tensor{a, x}, y)
//		return y
//	}
func (tp *Tape) Fused(op FusedOp, ins []*Tensor, outs ...*Tensor) {
	if len(outs) == 0 {
		panic("nn: Fused: no outputs")
	}
	if !tp.Recording(ins...) {
		return
	}
	for _, o := range outs {
		for _, in := range ins {
			if o == in {
				panic(fmt.Sprintf("nn: Fused: output %v is also an input", o))
			}
		}
	}
	start := len(tp.ptrs)
	for _, in := range ins {
		tp.ptrs = append(tp.ptrs, in)
		need := tp.needs(in)
		tp.flags = append(tp.flags, need)
		if need {
			tp.leafGrad(in)
		}
	}
	for _, o := range outs {
		tp.ptrs = append(tp.ptrs, o)
		tp.flags = append(tp.flags, false)
	}
	for _, o := range outs {
		tp.track(o)
	}
	tp.nodes = append(tp.nodes, node{kind: opFused, fused: op, out: outs[0], i: start, j: len(ins), k: len(outs)})
}
