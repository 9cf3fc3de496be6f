package dist

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"
)

// bijKind is the elementwise transform of one dimension.
type bijKind uint8

const (
	kindIdentity bijKind = iota // (-∞, ∞): x = z
	kindLower                   // [a, ∞):  x = a + exp(z)
	kindUpper                   // (-∞, b]: x = b - exp(z)
	kindInterval                // [a, b]:  x = a + (b-a)·sigmoid(z)
)

// Bijection maps the unconstrained space R^d onto a box [lo, hi] one
// dimension at a time, so that samplers and variational methods can work in
// unconstrained coordinates z while a density lives on constrained
// coordinates x = T(z). Per dimension it is
//
//	(-∞, ∞):  x = z                      log|dx/dz| = 0
//	[a, ∞):   x = a + exp(z)             log|dx/dz| = z
//	(-∞, b]:  x = b - exp(z)             log|dx/dz| = z
//	[a, b]:   x = a + (b-a)·sigmoid(z)   log|dx/dz| = log(b-a) + log sigmoid(z) + log sigmoid(-z)
//
// as in Stan's constraining transforms. The interval case uses log-sigmoid
// forms that do not overflow: for any finite z the results are finite or,
// when |z| is so large that x rounds onto a bound, x is that bound and the
// log-Jacobian stays finite. Conversely Inverse maps a point on a finite
// bound to z = ±Inf with an infinite log-Jacobian, and a point outside the
// support to NaN. A Bijection is immutable and safe for concurrent use.
type Bijection struct {
	kind           []bijKind
	lo, hi         []float64
	width, logWide []float64 // hi-lo and its log, for intervals
}

// NewBijection returns the bijection from R^d onto the box [lo, hi], choosing
// the transform of each dimension from which bounds are finite. Use
// math.Inf(-1) and math.Inf(1) for unbounded sides. The slices are copied. It
// returns an error wrapping ErrDim when lo is empty or len(lo) != len(hi), and
// one wrapping ErrParam when a bound is NaN, lo[i] >= hi[i], lo[i] = +Inf,
// hi[i] = -Inf or hi[i]-lo[i] overflows.
func NewBijection(lo, hi []float64) (*Bijection, error) {
	const who = "new bijection"
	if err := checkSameLen(who, "lo", "hi", lo, hi); err != nil {
		return nil, err
	}
	d := len(lo)
	b := &Bijection{
		kind:    make([]bijKind, d),
		lo:      append([]float64(nil), lo...),
		hi:      append([]float64(nil), hi...),
		width:   make([]float64, d),
		logWide: make([]float64, d),
	}
	for i := range d {
		a, c := lo[i], hi[i]
		if math.IsNaN(a) || math.IsNaN(c) || !(a < c) || math.IsInf(a, 1) || math.IsInf(c, -1) {
			return nil, fmt.Errorf("%s: bounds [%v, %v] of dimension %d: %w", who, a, c, i, ErrParam)
		}
		switch la, lc := math.IsInf(a, -1), math.IsInf(c, 1); {
		case la && lc:
			b.kind[i] = kindIdentity
		case lc:
			b.kind[i] = kindLower
		case la:
			b.kind[i] = kindUpper
		default:
			w := c - a
			if math.IsInf(w, 0) {
				return nil, fmt.Errorf("%s: width of dimension %d overflows: %w", who, i, ErrParam)
			}
			b.kind[i] = kindInterval
			b.width[i] = w
			b.logWide[i] = math.Log(w)
		}
	}
	return b, nil
}

// NewIdentityBijection returns the identity bijection on R^dim. It panics if
// dim <= 0.
func NewIdentityBijection(dim int) *Bijection {
	if dim <= 0 {
		panic(fmt.Sprintf("dist: NewIdentityBijection: dim = %d", dim))
	}
	b, err := NewBijection(fill(dim, math.Inf(-1)), fill(dim, math.Inf(1)))
	if err != nil {
		panic("dist: " + err.Error())
	}
	return b
}

// BijectionFor returns the bijection onto the support of d: NewBijection of
// d.Bounds() when d is Bounded, and the identity on R^d.Dim() when d is not
// Bounded but has a Dim() int method. It panics (a programmer error) when d
// has neither, or when its Bounds are invalid.
func BijectionFor(d any) *Bijection {
	if bd, ok := d.(Bounded); ok {
		lo, hi := bd.Bounds()
		b, err := NewBijection(lo, hi)
		if err != nil {
			panic(fmt.Sprintf("dist: BijectionFor(%T): %v", d, err))
		}
		return b
	}
	if dd, ok := d.(interface{ Dim() int }); ok {
		return NewIdentityBijection(dd.Dim())
	}
	panic(fmt.Sprintf("dist: BijectionFor: %T has neither Bounds nor Dim", d))
}

// Dim returns the dimension d.
func (b *Bijection) Dim() int { return len(b.kind) }

// Bounds returns the box that the bijection maps onto. The slices must not be
// modified.
func (b *Bijection) Bounds() (lo, hi []float64) { return b.lo, b.hi }

// IsIdentity reports whether every dimension is unbounded, so that T(z) = z.
func (b *Bijection) IsIdentity() bool {
	for _, k := range b.kind {
		if k != kindIdentity {
			return false
		}
	}
	return true
}

// softplus2 returns softplus(z) + softplus(-z) = |z| + 2 log1p(exp(-|z|)).
func softplus2(z float64) float64 {
	a := math.Abs(z)
	return a + 2*math.Log1p(math.Exp(-a))
}

// sigmoids returns sigmoid(z) and sigmoid(-z) = 1 - sigmoid(z), each computed
// without cancellation.
func sigmoids(z float64) (s, sm float64) {
	if z >= 0 {
		e := math.Exp(-z)
		return 1 / (1 + e), e / (1 + e)
	}
	e := math.Exp(z)
	return e / (1 + e), 1 / (1 + e)
}

// Forward writes x = T(z) and returns log|det dx/dz| = Σ_i log|dx_i/dz_i|.
// x may alias z. It panics if len(x) or len(z) != Dim().
func (b *Bijection) Forward(x, z []float64) (ladj float64) {
	d := len(b.kind)
	checkLen(z, d, "Bijection.Forward")
	checkLen(x, d, "Bijection.Forward")
	for i, k := range b.kind {
		v := z[i]
		switch k {
		case kindIdentity:
			x[i] = v
		case kindLower:
			x[i] = b.lo[i] + math.Exp(v)
			ladj += v
		case kindUpper:
			x[i] = b.hi[i] - math.Exp(v)
			ladj += v
		case kindInterval:
			s, sm := sigmoids(v)
			if v >= 0 {
				x[i] = b.hi[i] - b.width[i]*sm
			} else {
				x[i] = b.lo[i] + b.width[i]*s
			}
			ladj += b.logWide[i] - softplus2(v)
		}
	}
	return ladj
}

// Inverse writes z = T⁻¹(x) and returns log|det dz/dx|, the negative of
// Forward's log-Jacobian at z. z may alias x. A point on a finite bound maps
// to ±Inf with log-Jacobian +Inf; a point outside the support gives NaN. It
// panics if len(x) or len(z) != Dim().
func (b *Bijection) Inverse(z, x []float64) (ladj float64) {
	d := len(b.kind)
	checkLen(x, d, "Bijection.Inverse")
	checkLen(z, d, "Bijection.Inverse")
	for i, k := range b.kind {
		v := x[i]
		switch k {
		case kindIdentity:
			z[i] = v
		case kindLower:
			u := math.Log(v - b.lo[i])
			z[i] = u
			ladj -= u
		case kindUpper:
			u := math.Log(b.hi[i] - v)
			z[i] = u
			ladj -= u
		case kindInterval:
			la, lb := math.Log(v-b.lo[i]), math.Log(b.hi[i]-v)
			z[i] = la - lb
			ladj += b.logWide[i] - la - lb
		}
	}
	return ladj
}

// PullbackGrad maps a gradient in constrained space to unconstrained space:
// given gx = ∂f/∂x at x = T(z), it writes gz = ∂/∂z [f(T(z)) + log|det
// dT/dz|], that is gz_i = gx_i·dx_i/dz_i + ∂ladj/∂z_i. This is the gradient
// of the log density in z of a density f on x. gz may alias gx. It panics if
// the lengths differ from Dim().
func (b *Bijection) PullbackGrad(gz, z, gx []float64) {
	d := len(b.kind)
	checkLen(z, d, "Bijection.PullbackGrad")
	checkLen(gx, d, "Bijection.PullbackGrad")
	checkLen(gz, d, "Bijection.PullbackGrad")
	for i, k := range b.kind {
		v, g := z[i], gx[i]
		switch k {
		case kindIdentity:
			gz[i] = g
		case kindLower:
			gz[i] = g*math.Exp(v) + 1
		case kindUpper:
			gz[i] = -g*math.Exp(v) + 1
		case kindInterval:
			s, sm := sigmoids(v)
			gz[i] = g*b.width[i]*s*sm + sm - s
		}
	}
}

// ForwardBatch applies Forward to every row of z, writing the rows of x and
// the log-Jacobians into ladj (allocated if nil), and returns ladj. x may be
// z. It panics on a shape mismatch.
func (b *Bijection) ForwardBatch(x, z *mat.Dense, ladj []float64) []float64 {
	r := checkCols(z, len(b.kind), "Bijection.ForwardBatch")
	checkShape(x, r, len(b.kind), "Bijection.ForwardBatch")
	ladj = useDst(ladj, r, "Bijection.ForwardBatch")
	for i := range r {
		ladj[i] = b.Forward(x.RawRowView(i), z.RawRowView(i))
	}
	return ladj
}

// InverseBatch applies Inverse to every row of x, writing the rows of z and
// the log-Jacobians into ladj (allocated if nil), and returns ladj. z may be
// x. It panics on a shape mismatch.
func (b *Bijection) InverseBatch(z, x *mat.Dense, ladj []float64) []float64 {
	r := checkCols(x, len(b.kind), "Bijection.InverseBatch")
	checkShape(z, r, len(b.kind), "Bijection.InverseBatch")
	ladj = useDst(ladj, r, "Bijection.InverseBatch")
	for i := range r {
		ladj[i] = b.Inverse(z.RawRowView(i), x.RawRowView(i))
	}
	return ladj
}
