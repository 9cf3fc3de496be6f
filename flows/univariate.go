package flows

import (
	"fmt"
	"math"

	"github.com/gosbi/gosbi/nn"
)

// Univariate is the elementwise (per-feature) invertible map used by the
// autoregressive and coupling transforms, whose parameters come from a
// conditioner network. The implementations are Affine and Spline; the set is
// closed so that flows can be saved and loaded.
type Univariate interface {
	// ParamsPerFeature returns how many conditioner outputs one feature needs.
	ParamsPerFeature() int
	// bind returns the fused ops of this map on the columns feat, for a
	// conditioner of the given hidden width.
	bind(feat []int, hidden int) univariateOps
	spec() univariateSpec
}

// univariateOps applies a Univariate to fixed columns. p is N×(len(feat)·m)
// or 1×(len(feat)·m) (broadcast over rows).
type univariateOps interface {
	forward(tp *nn.Tape, x, p *nn.Tensor) (y, ladj *nn.Tensor)
	inverse(tp *nn.Tape, y, p *nn.Tensor) (x, ladj *nn.Tensor)
}

var (
	_ Univariate = Affine{}
	_ Univariate = Spline{}
)

// Affine is the affine univariate map y = s·x + t with scale
// s = softplus(a) + 1e-3 (the parametrisation of sbi/nflows' masked affine
// autoregressive transform, Papamakarios et al. 2017) and shift t, from two
// conditioner outputs (a, t) per feature; log|dy/dx| = log s.
type Affine struct{}

// ParamsPerFeature returns 2: the raw scale and the shift.
func (Affine) ParamsPerFeature() int { return 2 }

func (Affine) bind(feat []int, _ int) univariateOps {
	return &affineOps{fwd: affineOp{feat: feat}, inv: affineOp{feat: feat, inverse: true}}
}

func (Affine) spec() univariateSpec { return univariateSpec{Kind: "affine"} }

// Spline is the monotonic rational-quadratic spline of Durkan et al. (2019,
// "Neural Spline Flows", section 3.1) on [-TailBound, TailBound] with Bins
// bins and linear (identity) tails outside, minimum bin width, height and
// knot derivative 1e-3 (nflows' defaults). It takes 3·Bins-1 conditioner
// outputs per feature: Bins unnormalised widths, Bins heights and Bins-1
// interior knot derivatives (the boundary derivatives are 1 so that the
// spline joins the tails smoothly).
//
// The zero value means 10 bins on [-3, 3], sbi's NSF defaults. LogitScale
// multiplies the unnormalised widths and heights before their softmax; zero
// means 1/√hidden of the conditioner, as nflows, which keeps the initial
// spline close to the identity.
type Spline struct {
	Bins       int
	TailBound  float64
	LogitScale float64
}

func (s Spline) withDefaults() Spline {
	if s.Bins == 0 {
		s.Bins = 10
	}
	if s.TailBound == 0 {
		s.TailBound = 3
	}
	return s
}

// ParamsPerFeature returns 3·Bins-1 (with the default 10 bins, 29).
func (s Spline) ParamsPerFeature() int { return splineParamsPerFeature(s.withDefaults().Bins) }

func (s Spline) validate() error {
	s = s.withDefaults()
	if s.Bins < 1 || float64(s.Bins)*splineMinBin >= 1 {
		return fmt.Errorf("flows: spline with %d bins: want 1 to %d: %w", s.Bins, int(1/splineMinBin)-1, ErrConfig)
	}
	if !(s.TailBound > 0) || math.IsInf(s.TailBound, 0) {
		return fmt.Errorf("flows: spline tail bound %v: want a positive finite number: %w", s.TailBound, ErrConfig)
	}
	if s.LogitScale < 0 || math.IsNaN(s.LogitScale) || math.IsInf(s.LogitScale, 0) {
		return fmt.Errorf("flows: spline logit scale %v: want a finite number >= 0: %w", s.LogitScale, ErrConfig)
	}
	return nil
}

func (s Spline) bind(feat []int, hidden int) univariateOps {
	s = s.withDefaults()
	scale := s.LogitScale
	if scale == 0 {
		scale = 1
		if hidden > 0 {
			scale = 1 / math.Sqrt(float64(hidden))
		}
	}
	o := splineOp{feat: feat, k: s.Bins, bound: s.TailBound, scale: scale}
	inv := o
	inv.inverse = true
	return &splineOps{fwd: o, inv: inv}
}

func (s Spline) spec() univariateSpec {
	s = s.withDefaults()
	return univariateSpec{Kind: "spline", Bins: s.Bins, TailBound: s.TailBound, LogitScale: s.LogitScale}
}

// univariateSpec is the serialised form of a Univariate.
type univariateSpec struct {
	Kind       string  `json:"kind"`
	Bins       int     `json:"bins,omitempty"`
	TailBound  float64 `json:"tail_bound,omitempty"`
	LogitScale float64 `json:"logit_scale,omitempty"`
}

func (u univariateSpec) build() (Univariate, error) {
	switch u.Kind {
	case "affine":
		return Affine{}, nil
	case "spline":
		s := Spline{Bins: u.Bins, TailBound: u.TailBound, LogitScale: u.LogitScale}
		if err := s.validate(); err != nil {
			return nil, err
		}
		return s, nil
	}
	return nil, fmt.Errorf("flows: unknown univariate transform %q: %w", u.Kind, ErrFormat)
}

// paramStride returns the row stride of parameters p for n data rows with m
// parameters per row, panicking on a shape mismatch.
func paramStride(p *nn.Tensor, n, m int) int {
	if p.Cols != m || (p.Rows != n && p.Rows != 1) {
		panic(fmt.Sprintf("flows: univariate parameters are %d×%d, want %d×%d or 1×%d", p.Rows, p.Cols, n, m, m))
	}
	if p.Rows == 1 {
		return 0
	}
	return m
}

// affineOp is the fused op of the affine map (or its inverse) on columns feat.
type affineOp struct {
	feat    []int
	inverse bool
}

type affineOps struct{ fwd, inv affineOp }

func (o *affineOps) forward(tp *nn.Tape, x, p *nn.Tensor) (*nn.Tensor, *nn.Tensor) {
	return o.fwd.apply(tp, x, p)
}

func (o *affineOps) inverse(tp *nn.Tape, y, p *nn.Tensor) (*nn.Tensor, *nn.Tensor) {
	return o.inv.apply(tp, y, p)
}

func (o *affineOp) apply(tp *nn.Tape, in, p *nn.Tensor) (out, ladj *nn.Tensor) {
	n, d := in.Rows, in.Cols
	ps := paramStride(p, n, 2*len(o.feat))
	out, ladj = tp.New(n, d), tp.New(n, 1)
	// Scratch for the scales (reused by Backward) and, when recording, for
	// the sigmoids of the backward pass: arena memory, nothing allocated.
	q, k := affineScaleRows(ps, n), len(o.feat)
	cols := k
	if tp.Recording(in, p) {
		cols = 2 * k
	}
	scratch := tp.New(q, cols)
	sc := scratch.Data[:q*k]
	if o.inverse {
		affineInverseRows(sc, out.Data, ladj.Data, in.Data, p.Data, ps, n, d, o.feat)
	} else {
		affineForwardRows(sc, out.Data, ladj.Data, in.Data, p.Data, ps, n, d, o.feat)
	}
	tp.Fused(o, []*nn.Tensor{in, p, scratch}, out, ladj)
	return out, ladj
}

// Backward implements nn.FusedOp.
func (o *affineOp) Backward(ins, outs []*nn.Tensor, need []bool) {
	in, p, scratch, out, ladj := ins[0], ins[1], ins[2], outs[0], outs[1]
	var gin, gp []float64
	if need[0] {
		gin = in.Grad
	}
	if need[1] {
		gp = p.Grad
	}
	n, d := in.Rows, in.Cols
	ps := paramStride(p, n, 2*len(o.feat))
	qk := affineScaleRows(ps, n) * len(o.feat)
	sc, sg := scratch.Data[:qk], scratch.Data[qk:]
	if o.inverse {
		affineInverseBack(sc, sg, gin, gp, out.Data, p.Data, out.Grad, ladj.Grad, ps, n, d, o.feat)
	} else {
		affineForwardBack(sc, sg, gin, gp, in.Data, p.Data, out.Grad, ladj.Grad, ps, n, d, o.feat)
	}
}

// splineOp is the fused op of the rational-quadratic spline (or its inverse)
// on columns feat. Its scratch space is an extra (constant) input taken from
// the tape's arena, so one op value may be used concurrently.
type splineOp struct {
	feat         []int
	k            int
	bound, scale float64
	inverse      bool
}

type splineOps struct{ fwd, inv splineOp }

func (o *splineOps) forward(tp *nn.Tape, x, p *nn.Tensor) (*nn.Tensor, *nn.Tensor) {
	return o.fwd.apply(tp, x, p)
}

func (o *splineOps) inverse(tp *nn.Tape, y, p *nn.Tensor) (*nn.Tensor, *nn.Tensor) {
	return o.inv.apply(tp, y, p)
}

func (o *splineOp) apply(tp *nn.Tape, in, p *nn.Tensor) (out, ladj *nn.Tensor) {
	n, d := in.Rows, in.Cols
	np := splineParamsPerFeature(o.k)
	ps := paramStride(p, n, np*len(o.feat))
	out, ladj = tp.New(n, d), tp.New(n, 1)
	scratch := tp.New(1, splineScratchLen(o.k)+np)
	s := rqSplineOn(scratch.Data, o.k, o.bound, o.scale)
	if o.inverse {
		splineInverseRows(&s, out.Data, ladj.Data, in.Data, p.Data, ps, n, d, o.feat)
	} else {
		splineForwardRows(&s, out.Data, ladj.Data, in.Data, p.Data, ps, n, d, o.feat)
	}
	tp.Fused(o, []*nn.Tensor{in, p, scratch}, out, ladj)
	return out, ladj
}

// Backward implements nn.FusedOp.
func (o *splineOp) Backward(ins, outs []*nn.Tensor, need []bool) {
	in, p, scratch, out, ladj := ins[0], ins[1], ins[2], outs[0], outs[1]
	var gin, gp []float64
	if need[0] {
		gin = in.Grad
	}
	if need[1] {
		gp = p.Grad
	}
	n, d := in.Rows, in.Cols
	np := splineParamsPerFeature(o.k)
	ps := paramStride(p, n, np*len(o.feat))
	sl := splineScratchLen(o.k)
	s := rqSplineOn(scratch.Data[:sl], o.k, o.bound, o.scale)
	tmp := scratch.Data[sl : sl+np]
	if o.inverse {
		splineInverseBack(&s, gin, gp, tmp, out.Data, in.Data, p.Data, out.Grad, ladj.Grad, ps, n, d, o.feat)
	} else {
		splineForwardBack(&s, gin, gp, tmp, in.Data, p.Data, out.Grad, ladj.Grad, ps, n, d, o.feat)
	}
}
