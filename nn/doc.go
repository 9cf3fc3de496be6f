// Package nn is gosbi's automatic-differentiation engine: rank-2 float64
// tensors, a tape that records operations for reverse-mode gradients,
// layers (Linear, MaskedLinear, MLP, Residual), the Adam/AdamW optimiser
// with gradient clipping, and a versioned file format for named parameters.
// It imports no other gosbi package.
//
// # Tensors and shapes
//
// A Tensor is a row-major Rows×Cols matrix of float64 (Data) with an
// optional gradient buffer of the same layout (Grad). By convention rows
// are samples (the batch) and columns are features: a batch of N points in
// R^D is N×D, a per-sample scalar such as a log-density is N×1, a bias or a
// per-feature statistic is 1×D and a loss is 1×1. There is no rank other
// than 2. FromDense and Tensor.Dense convert to and from gonum's *mat.Dense,
// the type used at the API boundaries of the rest of gosbi.
//
// Elementwise binary ops (Add, Sub, Mul, Div) broadcast: each dimension of
// an operand equals the result's or is 1, so N×D combines with N×D, 1×D,
// N×1 and 1×1 in either order. Reductions exist over everything (Sum, Mean
// → 1×1), over each row (RowSum, RowMean, RowLogSumExp → N×1) and over each
// column (ColSum, ColMean → 1×D). Linear layers store weights Out×In, as
// PyTorch, and compute x·Wᵀ + b.
//
// # Tapes and gradients
//
// Differentiation is eager define-by-run with an explicit Tape, a Wengert
// list: every op is a method on *Tape that computes its result immediately
// and, when recording, appends a small record (op kind and operand
// pointers, no closure) that Backward later walks in reverse. There are no
// goroutines in the engine (gonum's GEMM may use its own).
//
//   - With a nil *Tape, ops compute values into freshly allocated tensors
//     and record nothing: `var tp *nn.Tape; y := tp.Tanh(x)`.
//   - With a Tape in NoGrad mode (NewNoGradTape), ops compute into the
//     tape's arena and record nothing: allocation-free inference once the
//     arena has grown.
//   - With a recording Tape (NewTape), an op is recorded when one of its
//     operands is tracked: a parameter (RequiresGrad, set by NewParam and
//     the layer constructors), a tensor passed to Watch (inputs whose
//     gradient is wanted, e.g. for HMC or reparameterised VI), or the
//     output of a recorded op. Ops on constants are computed but not
//     recorded, and Backward computes no gradient for constant operands.
//
// Backward(loss) on a 1×1 loss accumulates ∂loss/∂t into t.Grad for every
// parameter and watched tensor t. Parameter gradients accumulate across
// calls until zeroed (ZeroGrad, Adam.ZeroGrad); Watch zeroes the watched
// tensor's gradient. To differentiate with respect to inputs only (HMC on a
// trained network, a VI potential), set the tape's FreezeParams: parameters
// are then constants and cost no gradient work. Tensor.Detach returns a
// constant view of a single tensor.
//
// The tape owns an arena of intermediate tensors (values and gradient
// buffers). Reset recycles it: the i-th tensor requested after a Reset
// reuses the memory of the i-th tensor of the previous pass, so a training
// loop
//
//	for step := range steps {
//		tp.Reset()
//		loss := lossOf(tp, batch)
//		tp.Backward(loss)
//		nn.ClipGradNorm(params, 5)
//		opt.Step()
//		opt.ZeroGrad()
//	}
//
// allocates nothing in steady state. Gradient buffers of intermediate
// tensors are not cleared on the forward pass: the first op to propagate
// into one during Backward overwrites it (a GEMM with beta = 0, a copy),
// later ones accumulate; a buffer nothing propagated into is cleared when
// Backward reaches its op. With a nil tape every op allocates its result
// (MaskedLinear also its masked weight); use a NoGrad tape for repeated
// inference. Tensors returned by a tape's ops are valid only until its
// next Reset. A Tape must not be shared between goroutines; modules may be
// evaluated concurrently with one tape per goroutine, but backward passes
// that accumulate into the same parameters must not run concurrently,
// unless their tapes redirect the parameters' gradients to buffers of
// their own (Tape.RedirectGrads). DataParallel builds data-parallel
// training on that: it splits a batch between goroutines and adds the
// parts' gradients in a fixed order.
//
// All matrix products (MatMul, MatMulT, Linear and their backward passes)
// go through one internal function calling internal/gemm (AVX-512 or AVX2
// micro-kernels chosen at run time, pure Go elsewhere), with transposed
// operands passed as such rather than copied. Tanh, Exp, Log1p, Sigmoid,
// Softplus and LogSigmoid and Adam's update run vectorised kernels of
// internal/vmath, as accurate as the math package (within 1–2 ulp).
//
// # Fused ops
//
// A new differentiable operation with a hand-written backward pass is
// added without touching the package, as a fused op:
//
//  1. Allocate outputs with tp.New(r, c) (arena on a tape, heap on nil) and
//     compute their values from the inputs' Data. Use tp.Recording(ins...)
//     to skip work only the backward pass needs.
//  2. Call tp.Fused(op, []*nn.Tensor{in1, in2, …}, out1, out2, …). On a nil
//     or NoGrad tape, or when no input is tracked, this does nothing.
//  3. Implement op.Backward(ins, outs, need): read outs[k].Grad and
//     accumulate (+=) into ins[i].Grad for every i with need[i] true.
//
// Make op a pointer to a long-lived value (or a zero-size struct) rather
// than a capturing closure, so recording does not allocate. Values the
// backward pass needs (e.g. bin indices of a spline) can be stored in extra
// tp.New tensors passed as inputs: untracked inputs have need[i] false.
// See Tape.Fused for a complete example. The rational-quadratic spline of
// package flows is written this way: inputs x, widths, heights and
// derivatives, outputs y (N×D) and log|det| (N×1).
//
// # Layers, optimisers and files
//
// Layers implement Module (Forward and Params). Parameters have stable,
// unique names built from a prefix given at construction ("net.0.weight"),
// so modules nest by prefixing and Params order is stable; these names key
// Save and Load. Adam implements Adam and AdamW with bias correction;
// ClipGradNorm implements total-norm clipping; Adam.Schedule is the
// learning-rate schedule hook; Adam.State and SetState export and import
// the optimiser state.
//
// Save and Load use a versioned, documented binary format (see Save): magic
// "GOSBI-NN", a uint32 version, a length-prefixed JSON header of names,
// shapes and byte offsets, raw little-endian float64 data and a CRC-32C.
// Round trips are bit-exact.
//
// # Errors and panics
//
// Shape mismatches inside math code, such as adding a 3×4 to a 4×3 tensor,
// multiplying incompatible matrices or gathering an out-of-range row, are
// programmer errors: the op panics with a message starting "nn: ". So do
// layer constructors given non-positive sizes or a non-binary mask, Backward
// on a non-1×1 or untracked loss, and a second Backward without Reset.
// Numerical edge cases follow IEEE arithmetic (Log of a negative number is
// NaN, Div by zero is ±Inf) and are not reported.
//
// Anything caused by data outside the program returns an error: reading a
// parameter file (Load, Read) returns errors wrapping the sentinels
// ErrFormat (bad magic, truncation, corrupt header or checksum), ErrVersion,
// ErrName and ErrShape, and never panics whatever the bytes; Adam.SetState
// and ParseActivation validate their arguments likewise.
//
// # Randomness
//
// The package never reads a global random generator. Initialisation takes
// a *rand.Rand (math/rand/v2): NewLinear, NewMaskedLinear, NewMLP and
// NewResidual draw weights and biases from U(-1/√fan_in, 1/√fan_in) (PyTorch's
// default for nn.Linear), in a fixed order, so a seeded generator gives
// identical networks on every run and platform. Nothing else in the package
// is random.
package nn
