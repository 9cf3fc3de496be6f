package flows

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/gosbi/gosbi/nn"
)

// Transform is an invertible, differentiable map of R^D, optionally
// conditioned on a context, applied row-wise.
//
// Forward maps x (N×D) to y (N×D) and returns log|det ∂y/∂x| of each row as
// an N×1 tensor (ladj); Inverse maps y back to x and returns log|det ∂x/∂y|,
// so the two log-determinants of a round trip add to zero. In a Flow, Forward
// is the normalising direction (data → base noise) and Inverse the sampling
// direction. c is the (embedded) context, N×C or 1×C (one context broadcast to
// every row), or nil for an unconditional transform. Both run on tape tp (nil:
// plain evaluation, see package nn) and are differentiable with respect to the
// parameters, x (or y) and c. Shape mismatches panic.
type Transform interface {
	Forward(tp *nn.Tape, x, c *nn.Tensor) (y, ladj *nn.Tensor)
	Inverse(tp *nn.Tape, y, c *nn.Tensor) (x, ladj *nn.Tensor)
	// Params returns the trainable parameters in a stable order.
	Params() []*nn.Tensor
}

// Optional internal capabilities of the package's transforms.
type (
	// specer describes a transform for Save.
	specer interface{ spec() transformSpec }
	// freezer returns a copy sharing parameter values whose tensors are
	// constants, so a tape computes input gradients without touching the
	// parameters' Grad.
	freezer interface{ frozen() Transform }
	// bufferer lists fixed (non-trainable) tensors that Save must store.
	bufferer interface{ buffers() []*nn.Tensor }
)

var (
	_ Transform = (*Composed)(nil)
	_ Transform = (*Inverted)(nil)
	_ Transform = (*Permutation)(nil)
	_ Transform = (*Standardize)(nil)
	_ Transform = (*LULinear)(nil)
	_ Transform = (*Autoregressive)(nil)
	_ Transform = (*Coupling)(nil)
)

// checkInput panics unless x has d columns.
func checkInput(what string, x *nn.Tensor, d int) {
	if x.Cols != d {
		panic(fmt.Sprintf("flows: %s: input is %d×%d, want %d columns", what, x.Rows, x.Cols, d))
	}
}

// checkContext panics unless c fits a transform with context dimension cd
// for n rows.
func checkContext(what string, c *nn.Tensor, cd, n int) {
	if cd == 0 {
		return
	}
	if c == nil {
		panic(fmt.Sprintf("flows: %s: needs a context with %d columns, got nil", what, cd))
	}
	if c.Cols != cd || (c.Rows != n && c.Rows != 1) {
		panic(fmt.Sprintf("flows: %s: context is %d×%d, want %d×%d or 1×%d", what, c.Rows, c.Cols, n, cd, cd))
	}
}

// Composed applies transforms in sequence: Forward applies them in order and
// Inverse in reverse order; log-determinants add up.
type Composed struct {
	ts []Transform
}

// Compose returns the composition applying ts[0] first in the forward
// direction.
func Compose(ts ...Transform) *Composed {
	return &Composed{ts: append([]Transform(nil), ts...)}
}

// Transforms returns the composed transforms in forward order (a copy of the list).
func (t *Composed) Transforms() []Transform { return append([]Transform(nil), t.ts...) }

// Forward applies the transforms in order.
func (t *Composed) Forward(tp *nn.Tape, x, c *nn.Tensor) (*nn.Tensor, *nn.Tensor) {
	var total *nn.Tensor
	for _, s := range t.ts {
		var l *nn.Tensor
		x, l = s.Forward(tp, x, c)
		total = addLadj(tp, total, l)
	}
	if total == nil {
		total = tp.New(x.Rows, 1)
	}
	return x, total
}

// Inverse applies the inverses in reverse order.
func (t *Composed) Inverse(tp *nn.Tape, y, c *nn.Tensor) (*nn.Tensor, *nn.Tensor) {
	var total *nn.Tensor
	for i := len(t.ts) - 1; i >= 0; i-- {
		var l *nn.Tensor
		y, l = t.ts[i].Inverse(tp, y, c)
		total = addLadj(tp, total, l)
	}
	if total == nil {
		total = tp.New(y.Rows, 1)
	}
	return y, total
}

func addLadj(tp *nn.Tape, total, l *nn.Tensor) *nn.Tensor {
	if total == nil {
		return l
	}
	return tp.Add(total, l)
}

// Params returns the parameters of the transforms in order.
func (t *Composed) Params() []*nn.Tensor {
	var ps []*nn.Tensor
	for _, s := range t.ts {
		ps = append(ps, s.Params()...)
	}
	return ps
}

func (t *Composed) buffers() []*nn.Tensor {
	var bs []*nn.Tensor
	for _, s := range t.ts {
		if b, ok := s.(bufferer); ok {
			bs = append(bs, b.buffers()...)
		}
	}
	return bs
}

func (t *Composed) spec() transformSpec {
	sp := transformSpec{Kind: "composed"}
	for _, s := range t.ts {
		sp.Children = append(sp.Children, specOf(s))
	}
	return sp
}

func (t *Composed) frozen() Transform {
	f := &Composed{ts: make([]Transform, len(t.ts))}
	for i, s := range t.ts {
		fs, ok := s.(freezer)
		if !ok {
			return nil
		}
		if f.ts[i] = fs.frozen(); f.ts[i] == nil {
			return nil
		}
	}
	return f
}

// Inverted swaps the directions of a transform.
type Inverted struct {
	t Transform
}

// Invert returns the inverse of t: its Forward is t.Inverse and vice versa.
func Invert(t Transform) *Inverted { return &Inverted{t: t} }

// Forward applies the wrapped transform's Inverse.
func (t *Inverted) Forward(tp *nn.Tape, x, c *nn.Tensor) (*nn.Tensor, *nn.Tensor) {
	return t.t.Inverse(tp, x, c)
}

// Inverse applies the wrapped transform's Forward.
func (t *Inverted) Inverse(tp *nn.Tape, y, c *nn.Tensor) (*nn.Tensor, *nn.Tensor) {
	return t.t.Forward(tp, y, c)
}

// Params returns the wrapped transform's parameters.
func (t *Inverted) Params() []*nn.Tensor { return t.t.Params() }

func (t *Inverted) buffers() []*nn.Tensor {
	if b, ok := t.t.(bufferer); ok {
		return b.buffers()
	}
	return nil
}

func (t *Inverted) spec() transformSpec {
	return transformSpec{Kind: "inverse", Children: []transformSpec{specOf(t.t)}}
}

func (t *Inverted) frozen() Transform {
	if f, ok := t.t.(freezer); ok {
		if ft := f.frozen(); ft != nil {
			return &Inverted{t: ft}
		}
	}
	return nil
}

// Permutation reorders features: Forward returns y with y_i = x_perm[i].
// Its log-determinant is zero.
type Permutation struct {
	perm, inv []int
}

// NewPermutation returns the permutation transform for perm, which must be a
// permutation of 0…len(perm)-1 (otherwise the error wraps ErrConfig).
func NewPermutation(perm []int) (*Permutation, error) {
	if len(perm) == 0 {
		return nil, fmt.Errorf("flows: empty permutation: %w", ErrConfig)
	}
	if err := checkPerm(perm); err != nil {
		return nil, fmt.Errorf("%w: %w", err, ErrConfig)
	}
	p := append([]int(nil), perm...)
	return &Permutation{perm: p, inv: invertPerm(p)}, nil
}

// RandomPermutation returns a uniformly random permutation of d features
// drawn from rng. It panics if d < 1.
func RandomPermutation(d int, rng *rand.Rand) *Permutation {
	if d < 1 {
		panic("flows: RandomPermutation of fewer than one feature")
	}
	p := randomPerm(d, rng)
	return &Permutation{perm: p, inv: invertPerm(p)}
}

// ReversePermutation returns the permutation reversing the order of d
// features. It panics if d < 1.
func ReversePermutation(d int) *Permutation {
	if d < 1 {
		panic("flows: ReversePermutation of fewer than one feature")
	}
	p := reversePerm(d)
	return &Permutation{perm: p, inv: invertPerm(p)}
}

// Perm returns a copy of the permutation.
func (t *Permutation) Perm() []int { return append([]int(nil), t.perm...) }

// Forward returns x with columns permuted and a zero log-determinant.
func (t *Permutation) Forward(tp *nn.Tape, x, _ *nn.Tensor) (*nn.Tensor, *nn.Tensor) {
	checkInput("Permutation", x, len(t.perm))
	return tp.GatherCols(x, t.perm), tp.New(x.Rows, 1)
}

// Inverse undoes Forward.
func (t *Permutation) Inverse(tp *nn.Tape, y, _ *nn.Tensor) (*nn.Tensor, *nn.Tensor) {
	checkInput("Permutation", y, len(t.perm))
	return tp.GatherCols(y, t.inv), tp.New(y.Rows, 1)
}

// Params returns nil: a permutation has no parameters.
func (t *Permutation) Params() []*nn.Tensor { return nil }

func (t *Permutation) spec() transformSpec {
	return transformSpec{Kind: "permutation", Perm: t.Perm()}
}

func (t *Permutation) frozen() Transform { return t }

// Standardize is the fixed elementwise affine map y = (x - mean)/std
// (z-scoring), with log|det| = -Σ log std. Its statistics are not trained.
type Standardize struct {
	mean, std *nn.Tensor // 1×D constants, named name+".mean" and name+".std"
	invStd    []float64
	logDet    float64 // -Σ log std
	fwd, inv  standardizeOp
}

// NewStandardize returns the z-scoring transform with the given statistics
// (copied); its buffers are named name+".mean" and name+".std" in saved
// files. The error wraps ErrConfig if the lengths differ or are zero, a
// mean is not finite or a std is not positive and finite.
func NewStandardize(name string, mean, std []float64) (*Standardize, error) {
	if len(mean) == 0 || len(mean) != len(std) {
		return nil, fmt.Errorf("flows: standardisation with %d means and %d stds: %w", len(mean), len(std), ErrConfig)
	}
	for i := range mean {
		if math.IsNaN(mean[i]) || math.IsInf(mean[i], 0) || !(std[i] > 0) || math.IsInf(std[i], 0) {
			return nil, fmt.Errorf("flows: standardisation of feature %d with mean %v and std %v: %w", i, mean[i], std[i], ErrConfig)
		}
	}
	d := len(mean)
	s := &Standardize{mean: nn.New(1, d), std: nn.New(1, d), invStd: make([]float64, d)}
	s.mean.Name, s.std.Name = name+".mean", name+".std"
	copy(s.mean.Data, mean)
	copy(s.std.Data, std)
	s.refresh()
	return s, nil
}

// refresh recomputes the derived quantities from the statistics.
func (t *Standardize) refresh() {
	t.logDet = 0
	for i, v := range t.std.Data {
		t.invStd[i] = 1 / v
		t.logDet -= math.Log(v)
	}
	t.fwd = standardizeOp{t: t}
	t.inv = standardizeOp{t: t, inverse: true}
}

// Mean returns a copy of the means.
func (t *Standardize) Mean() []float64 { return append([]float64(nil), t.mean.Data...) }

// Std returns a copy of the standard deviations.
func (t *Standardize) Std() []float64 { return append([]float64(nil), t.std.Data...) }

// Forward returns (x - mean)/std.
func (t *Standardize) Forward(tp *nn.Tape, x, _ *nn.Tensor) (*nn.Tensor, *nn.Tensor) {
	return t.fwd.apply(tp, x)
}

// Inverse returns y·std + mean.
func (t *Standardize) Inverse(tp *nn.Tape, y, _ *nn.Tensor) (*nn.Tensor, *nn.Tensor) {
	return t.inv.apply(tp, y)
}

// Params returns nil: the statistics are fixed.
func (t *Standardize) Params() []*nn.Tensor { return nil }

func (t *Standardize) buffers() []*nn.Tensor { return []*nn.Tensor{t.mean, t.std} }

func (t *Standardize) spec() transformSpec {
	return transformSpec{Kind: "standardize", Name: trimSuffix(t.mean.Name, ".mean"), Features: t.mean.Cols}
}

func (t *Standardize) frozen() Transform { return t }

// standardizeOp is the fused op of Standardize (or its inverse).
type standardizeOp struct {
	t       *Standardize
	inverse bool
}

func (o *standardizeOp) apply(tp *nn.Tape, in *nn.Tensor) (out, ladj *nn.Tensor) {
	t := o.t
	d := t.mean.Cols
	checkInput("Standardize", in, d)
	n := in.Rows
	out, ladj = tp.New(n, d), tp.New(n, 1)
	mu, sd, inv := t.mean.Data[:d], t.std.Data[:d], t.invStd[:d]
	l := t.logDet
	if o.inverse {
		l = -l
	}
	for r := 0; r < n; r++ {
		x, y := in.Data[r*d:(r+1)*d], out.Data[r*d:(r+1)*d]
		if o.inverse {
			for j, v := range x {
				y[j] = v*sd[j] + mu[j]
			}
		} else {
			for j, v := range x {
				y[j] = (v - mu[j]) * inv[j]
			}
		}
		ladj.Data[r] = l
	}
	tp.Fused(o, []*nn.Tensor{in}, out, ladj)
	return out, ladj
}

// Backward implements nn.FusedOp.
func (o *standardizeOp) Backward(ins, outs []*nn.Tensor, need []bool) {
	if !need[0] {
		return
	}
	in, out := ins[0], outs[0]
	d := in.Cols
	f := o.t.invStd[:d]
	if o.inverse {
		f = o.t.std.Data[:d]
	}
	for r := 0; r < in.Rows; r++ {
		g, gy := in.Grad[r*d:(r+1)*d], out.Grad[r*d:(r+1)*d]
		for j, v := range gy {
			g[j] += v * f[j]
		}
	}
}

func trimSuffix(s, suffix string) string {
	if len(s) >= len(suffix) && s[len(s)-len(suffix):] == suffix {
		return s[:len(s)-len(suffix)]
	}
	return s
}

// LULinear is the invertible linear map y = x·Wᵀ + b with W = L·U in the LU
// parametrisation of Kingma & Dhariwal (2018, Glow, section 3.2) as nflows'
// LULinear: L unit lower triangular, U upper triangular with diagonal
// softplus(r) + 1e-3, so log|det W| = Σ log(softplus(r_i) + 1e-3).
// Parameters (name+".lower", ".upper", ".diag", ".bias") start at the identity
// map (nflows' identity_init).
type LULinear struct {
	d                        int
	lower, upper, diag, bias *nn.Tensor
	fwd, inv                 luOp
}

// NewLULinear returns an identity-initialised LU linear transform of d
// features. It panics if d < 1.
func NewLULinear(name string, d int) *LULinear {
	if d < 1 {
		panic("flows: NewLULinear with fewer than one feature")
	}
	m := luTriSize(d)
	t := &LULinear{d: d, diag: nn.NewParam(name+".diag", 1, d), bias: nn.NewParam(name+".bias", 1, d)}
	if m > 0 {
		t.lower, t.upper = nn.NewParam(name+".lower", 1, m), nn.NewParam(name+".upper", 1, m)
	} else {
		t.lower, t.upper = nn.New(1, 0), nn.New(1, 0)
	}
	for i := range t.diag.Data {
		t.diag.Data[i] = luIdentityDiag
	}
	t.initOps()
	return t
}

func (t *LULinear) initOps() {
	t.fwd = luOp{t: t}
	t.inv = luOp{t: t, inverse: true}
}

// Weight returns W = L·U as a d×d row-major slice (a copy).
func (t *LULinear) Weight() []float64 {
	d := t.d
	w, l, u := make([]float64, d*d), make([]float64, d*d), make([]float64, d*d)
	luWeight(w, l, u, t.lower.Data, t.upper.Data, t.diag.Data, d)
	return w
}

// Forward returns x·Wᵀ + b and log|det W| for every row.
func (t *LULinear) Forward(tp *nn.Tape, x, _ *nn.Tensor) (*nn.Tensor, *nn.Tensor) {
	checkInput("LULinear", x, t.d)
	w, ladj := t.fwd.apply(tp, x.Rows)
	return tp.Linear(x, w, t.bias), ladj
}

// Inverse returns (y - b)·W⁻ᵀ and -log|det W| for every row.
func (t *LULinear) Inverse(tp *nn.Tape, y, _ *nn.Tensor) (*nn.Tensor, *nn.Tensor) {
	checkInput("LULinear", y, t.d)
	winv, ladj := t.inv.apply(tp, y.Rows)
	return tp.Linear(tp.Sub(y, t.bias), winv, nil), ladj
}

// Params returns the lower, upper (when d > 1), diagonal and bias parameters.
func (t *LULinear) Params() []*nn.Tensor {
	if t.d == 1 {
		return []*nn.Tensor{t.diag, t.bias}
	}
	return []*nn.Tensor{t.lower, t.upper, t.diag, t.bias}
}

func (t *LULinear) spec() transformSpec {
	return transformSpec{Kind: "lu", Name: trimSuffix(t.diag.Name, ".diag"), Features: t.d}
}

func (t *LULinear) frozen() Transform {
	f := &LULinear{d: t.d, lower: constOf(t.lower), upper: constOf(t.upper), diag: constOf(t.diag), bias: constOf(t.bias)}
	f.initOps()
	return f
}

// luOp is the fused op producing W (or W⁻¹) and the per-row log-determinant
// from the LU parameters.
type luOp struct {
	t       *LULinear
	inverse bool
}

// luScratchLen returns the scratch length of the LU op for d features:
// L, U, W (then its gradient), a temporary (d² each), the gradients of the
// lower, upper and diagonal parameters, and two d-vectors.
func luScratchLen(d int) int { return 4*d*d + 2*luTriSize(d) + 3*d }

func (o *luOp) apply(tp *nn.Tape, n int) (w, ladj *nn.Tensor) {
	t := o.t
	d := t.d
	m := luTriSize(d)
	w, ladj = tp.New(d, d), tp.New(n, 1)
	scratch := tp.New(1, luScratchLen(d))
	sc := scratch.Data
	l, u, a := sc[:d*d], sc[d*d:2*d*d], sc[2*d*d:3*d*d]
	vec := sc[4*d*d+2*m+d:]
	e, col := vec[:d], vec[d:2*d]
	luWeight(a, l, u, t.lower.Data, t.upper.Data, t.diag.Data, d)
	ld := luLogDet(t.diag.Data)
	if o.inverse {
		// Column j of W⁻¹ solves W·x = e_j.
		tmp := sc[3*d*d : 4*d*d][:d]
		for j := 0; j < d; j++ {
			clear(e)
			e[j] = 1
			luSolveRow(col, e, nil, l, u, tmp, d)
			for i := 0; i < d; i++ {
				w.Data[i*d+j] = col[i]
			}
		}
		ld = -ld
	} else {
		copy(w.Data, a)
	}
	for i := range ladj.Data {
		ladj.Data[i] = ld
	}
	tp.Fused(o, []*nn.Tensor{t.lower, t.upper, t.diag, scratch}, w, ladj)
	return w, ladj
}

// Backward implements nn.FusedOp.
func (o *luOp) Backward(ins, outs []*nn.Tensor, need []bool) {
	t := o.t
	d := t.d
	m := luTriSize(d)
	lower, upper, diag, scratch := ins[0], ins[1], ins[2], ins[3]
	w, ladj := outs[0], outs[1]
	sc := scratch.Data
	l, u, gw, tmp := sc[:d*d], sc[d*d:2*d*d], sc[2*d*d:3*d*d], sc[3*d*d:4*d*d]
	gLower, gUpper, gDiag := sc[4*d*d:4*d*d+m], sc[4*d*d+m:4*d*d+2*m], sc[4*d*d+2*m:4*d*d+2*m+d]
	var gl float64
	for _, v := range ladj.Grad {
		gl += v
	}
	if o.inverse {
		// Winv = W⁻¹: dW = -Winvᵀ·dWinv·Winvᵀ; ladj = -log|det W|.
		wi, g := w.Data, w.Grad
		for i := 0; i < d; i++ { // tmp = Winvᵀ·g
			for j := 0; j < d; j++ {
				var s float64
				for k := 0; k < d; k++ {
					s += wi[k*d+i] * g[k*d+j]
				}
				tmp[i*d+j] = s
			}
		}
		for i := 0; i < d; i++ { // gw = -tmp·Winvᵀ
			for j := 0; j < d; j++ {
				var s float64
				for k := 0; k < d; k++ {
					s += tmp[i*d+k] * wi[j*d+k]
				}
				gw[i*d+j] = -s
			}
		}
		gl = -gl
	} else {
		copy(gw, w.Grad)
	}
	clear(gLower)
	clear(gUpper)
	clear(gDiag)
	luBackward(gLower, gUpper, gDiag, gw, l, u, diag.Data, gl, d)
	if need[0] {
		for i, v := range gLower {
			lower.Grad[i] += v
		}
	}
	if need[1] {
		for i, v := range gUpper {
			upper.Grad[i] += v
		}
	}
	if need[2] {
		for i, v := range gDiag {
			diag.Grad[i] += v
		}
	}
}
