package nn

import (
	"fmt"
	"math"

	"github.com/gosbi/gosbi/internal/vmath"
)

// Adam is the Adam optimiser with bias correction (Kingma & Ba 2015,
// Algorithm 1), optionally with L2 weight decay added to the gradient (as
// PyTorch's Adam) or with decoupled weight decay (AdamW, Loshchilov &
// Hutter 2019). The update of parameter p with gradient g at step t is
//
//	m ← β1·m + (1-β1)·g,   v ← β2·v + (1-β2)·g²
//	p ← p - lr/(1-β1ᵗ) · m / (√v/√(1-β2ᵗ) + ε)
//
// (PyTorch's arrangement of the same formula). With Decoupled set, p is
// first multiplied by (1 - lr·WeightDecay); otherwise WeightDecay·p is added
// to g.
//
// All state is in exported fields so that it can be checkpointed: T, M and
// V (see State and SetState). Parameters with RequiresGrad false or a nil
// Grad are skipped.
type Adam struct {
	// LR is the base learning rate.
	LR float64
	// Beta1, Beta2 and Eps are the moment decay rates and the
	// denominator guard.
	Beta1, Beta2, Eps float64
	// WeightDecay is the L2 (or, with Decoupled, AdamW) coefficient.
	WeightDecay float64
	// Decoupled selects AdamW's decoupled weight decay.
	Decoupled bool
	// Schedule, if non-nil, returns the learning rate to use at step t
	// (1-based) in place of LR; it is the learning-rate schedule hook.
	Schedule func(t int) float64

	// T is the number of steps taken.
	T int
	// M and V are the first and second moment estimates, one slice per
	// parameter in the order of Params.
	M, V [][]float64

	params []*Tensor
	c      vmath.AdamConsts // the scalars of the current step, for the kernel
}

// NewAdam returns an Adam optimiser for params with learning rate lr (zero
// means PyTorch's default 1e-3), β1 = 0.9, β2 = 0.999, ε = 1e-8 and no
// weight decay. It panics if lr is negative or NaN.
func NewAdam(params []*Tensor, lr float64) *Adam {
	if lr == 0 {
		lr = 1e-3
	}
	if !(lr > 0) {
		panic(fmt.Sprintf("nn: NewAdam: learning rate %v", lr))
	}
	a := &Adam{LR: lr, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, params: params}
	a.M = make([][]float64, len(params))
	a.V = make([][]float64, len(params))
	for i, p := range params {
		a.M[i] = make([]float64, len(p.Data))
		a.V[i] = make([]float64, len(p.Data))
	}
	return a
}

// NewAdamW returns an AdamW optimiser: NewAdam with decoupled weight decay
// wd (zero means PyTorch's default 0.01).
func NewAdamW(params []*Tensor, lr, wd float64) *Adam {
	a := NewAdam(params, lr)
	if wd == 0 {
		wd = 0.01
	}
	a.WeightDecay = wd
	a.Decoupled = true
	return a
}

// Params returns the optimised parameters (the slice given to NewAdam).
func (a *Adam) Params() []*Tensor { return a.params }

// ZeroGrad zeroes the gradients of all optimised parameters.
func (a *Adam) ZeroGrad() { ZeroGrad(a.params) }

// LearningRate returns the learning rate used at step t (1-based): the
// Schedule's value if set, LR otherwise.
func (a *Adam) LearningRate(t int) float64 {
	if a.Schedule != nil {
		return a.Schedule(t)
	}
	return a.LR
}

// Step applies one update using the parameters' current gradients. It does
// not zero them. It does not allocate. The update of each parameter tensor
// is one pass of a vectorised kernel (internal/vmath.AdamStep: AVX-512 or
// AVX2 on amd64) that rounds exactly as the plain loop m ← β1·m + (1-β1)·g,
// v ← β2·v + ((1-β2)·g)·g, p ← p - (lr/(1-β1ᵗ))·m / (√v/√(1-β2ᵗ) + ε) does.
func (a *Adam) Step() {
	a.T++
	t := a.T
	lr := a.LearningRate(t)
	b1, b2, eps, wd := a.Beta1, a.Beta2, a.Eps, a.WeightDecay
	bc1 := 1 - math.Pow(b1, float64(t))
	bc2 := 1 - math.Pow(b2, float64(t))
	a.c = vmath.AdamConsts{
		Beta1: b1, OneMinusBeta1: 1 - b1, Beta2: b2, OneMinusBeta2: 1 - b2,
		Step: lr / bc1, InvSqrtBC2: 1 / math.Sqrt(bc2), Eps: eps,
	}
	c := &a.c // not a local: the kernel's pointer argument would escape
	for k, p := range a.params {
		if !p.RequiresGrad || len(p.Grad) != len(p.Data) {
			continue
		}
		x := p.Data
		g := p.Grad[:len(x)]
		m := a.M[k][:len(x)]
		v := a.V[k][:len(x)]
		switch {
		case wd == 0:
			vmath.AdamStep(x, g, m, v, c)
		case a.Decoupled:
			f := 1 - lr*wd
			for i := range x {
				x[i] *= f
			}
			vmath.AdamStep(x, g, m, v, c)
		default: // L2 decay added to the gradient
			for i, gi := range g {
				gi += wd * x[i]
				mi := b1*m[i] + c.OneMinusBeta1*gi
				vi := b2*v[i] + c.OneMinusBeta2*gi*gi
				m[i], v[i] = mi, vi
				x[i] -= c.Step * mi / (math.Sqrt(vi)*c.InvSqrtBC2 + eps)
			}
		}
	}
}

// AdamState is a copy of an Adam optimiser's state, for checkpoints.
type AdamState struct {
	T    int
	M, V [][]float64
}

// State returns a deep copy of the optimiser's step count and moments.
func (a *Adam) State() AdamState {
	s := AdamState{T: a.T, M: make([][]float64, len(a.M)), V: make([][]float64, len(a.V))}
	for i := range a.M {
		s.M[i] = append([]float64(nil), a.M[i]...)
		s.V[i] = append([]float64(nil), a.V[i]...)
	}
	return s
}

// SetState restores a state returned by State (copying it). It returns an
// error wrapping ErrShape if the number or sizes of the moment slices do
// not match the parameters, and one wrapping ErrInvalid for a negative step
// count; the optimiser is then unchanged.
func (a *Adam) SetState(s AdamState) error {
	if s.T < 0 {
		return fmt.Errorf("nn: Adam state step %d: %w", s.T, ErrInvalid)
	}
	if len(s.M) != len(a.params) || len(s.V) != len(a.params) {
		return fmt.Errorf("nn: Adam state has %d/%d moment slices for %d parameters: %w", len(s.M), len(s.V), len(a.params), ErrShape)
	}
	for i, p := range a.params {
		if len(s.M[i]) != len(p.Data) || len(s.V[i]) != len(p.Data) {
			return fmt.Errorf("nn: Adam state for parameter %d (%s) has %d/%d values, want %d: %w", i, p.Name, len(s.M[i]), len(s.V[i]), len(p.Data), ErrShape)
		}
	}
	a.T = s.T
	for i := range a.params {
		copy(a.M[i], s.M[i])
		copy(a.V[i], s.V[i])
	}
	return nil
}

// GradNorm returns the Euclidean norm of all gradients of ts taken
// together (tensors without Grad contribute nothing). It is NaN if any
// gradient is NaN and +Inf if any is infinite.
func GradNorm(ts []*Tensor) float64 {
	ssq := 0.0
	for _, t := range ts {
		ssq += sumSquares(t.Grad)
	}
	if !math.IsInf(ssq, 1) {
		return math.Sqrt(ssq)
	}
	// Overflow (or a genuinely infinite entry): redo the sum scaled by the
	// largest magnitude, as BLAS dnrm2 does.
	scale := 0.0
	for _, t := range ts {
		for _, v := range t.Grad {
			scale = max(scale, math.Abs(v))
		}
	}
	if math.IsInf(scale, 1) {
		return scale
	}
	ssq = 0
	for _, t := range ts {
		for _, v := range t.Grad {
			r := v / scale
			ssq += r * r
		}
	}
	return scale * math.Sqrt(ssq)
}

// sumSquares returns Σ x², in four interleaved partial sums (so that the
// additions pipeline) combined as (s0+s1)+(s2+s3).
func sumSquares(x []float64) float64 {
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(x); i += 4 {
		v := x[i : i+4 : i+4]
		s0 += v[0] * v[0]
		s1 += v[1] * v[1]
		s2 += v[2] * v[2]
		s3 += v[3] * v[3]
	}
	for ; i < len(x); i++ {
		s0 += x[i] * x[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// ClipGradNorm rescales the gradients of ts so that their total norm is at
// most maxNorm, as PyTorch's clip_grad_norm_: if the norm exceeds maxNorm,
// every gradient is multiplied by maxNorm/(norm + 1e-6). It returns the
// norm before clipping. If that norm is NaN or infinite the gradients are
// left unchanged; callers should check the returned value. It panics if
// maxNorm is not positive.
func ClipGradNorm(ts []*Tensor, maxNorm float64) float64 {
	if !(maxNorm > 0) {
		panic(fmt.Sprintf("nn: ClipGradNorm: maxNorm %v must be positive", maxNorm))
	}
	norm := GradNorm(ts)
	if norm > maxNorm && !math.IsInf(norm, 0) {
		f := maxNorm / (norm + 1e-6)
		for _, t := range ts {
			for i := range t.Grad {
				t.Grad[i] *= f
			}
		}
	}
	return norm
}
