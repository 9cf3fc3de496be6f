package dist

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"

	"gonum.org/v1/gonum/mat"
)

// Sentinel errors returned (wrapped) by the constructors of this package.
// Test for them with errors.Is.
var (
	// ErrDim reports a zero dimension or mismatched lengths of parameter slices.
	ErrDim = errors.New("dist: bad dimension")
	// ErrParam reports an invalid parameter value: NaN or infinite where a finite
	// number is needed, a non-positive scale, lo >= hi, a covariance matrix that
	// is not positive definite, or an unsupported component distribution.
	ErrParam = errors.New("dist: bad parameter")
)

// SizedSampler is a Sampler that knows its dimension. Every Distribution is one.
type SizedSampler interface {
	Dim() int
	Sampler
}

// SampleN draws n independent samples from d into a new n×d.Dim() matrix, one
// sample per row. It uses d's SampleBatch when d implements BatchSampler and
// calls d.Sample row by row otherwise. SampleN panics if n <= 0 or d.Dim() <= 0
// (programmer errors).
func SampleN(d SizedSampler, n int, rng *rand.Rand) *mat.Dense {
	dim := d.Dim()
	if n <= 0 || dim <= 0 {
		panic(fmt.Sprintf("dist: SampleN: n = %d, dim = %d, both must be positive", n, dim))
	}
	out := mat.NewDense(n, dim, nil)
	if bs, ok := d.(BatchSampler); ok {
		bs.SampleBatch(out, rng)
		return out
	}
	for i := range n {
		d.Sample(out.RawRowView(i), rng)
	}
	return out
}

// LogProbs evaluates the log density of d at every row of x and writes it into
// dst (allocated if nil), returning dst. It uses d's LogProbBatch when d
// implements BatchLogProber and calls d.LogProb row by row otherwise.
// LogProbs panics if dst is not nil and len(dst) differs from the number of
// rows of x.
func LogProbs(d LogProber, x *mat.Dense, dst []float64) []float64 {
	r, _ := x.Dims()
	dst = useDst(dst, r, "LogProbs")
	if b, ok := d.(BatchLogProber); ok {
		return b.LogProbBatch(dst, x)
	}
	for i := range r {
		dst[i] = d.LogProb(x.RawRowView(i))
	}
	return dst
}

// useDst returns dst, or a new slice of length n when dst is nil. It panics
// when dst has the wrong length.
func useDst(dst []float64, n int, who string) []float64 {
	if dst == nil {
		return make([]float64, n)
	}
	if len(dst) != n {
		panic(fmt.Sprintf("dist: %s: len(dst) = %d, want %d", who, len(dst), n))
	}
	return dst
}

// checkLen panics when a point has the wrong length.
func checkLen(x []float64, d int, who string) {
	if len(x) != d {
		panic(fmt.Sprintf("dist: %s: len(x) = %d, want %d", who, len(x), d))
	}
}

// checkCols panics when a matrix has the wrong number of columns.
func checkCols(m *mat.Dense, d int, who string) int {
	r, c := m.Dims()
	if c != d {
		panic(fmt.Sprintf("dist: %s: matrix has %d columns, want %d", who, c, d))
	}
	return r
}

// checkShape panics when m is not r×d.
func checkShape(m *mat.Dense, r, d int, who string) {
	mr, mc := m.Dims()
	if mr != r || mc != d {
		panic(fmt.Sprintf("dist: %s: matrix is %d×%d, want %d×%d", who, mr, mc, r, d))
	}
}

// checkFinite returns an ErrParam error naming the first non-finite value.
func checkFinite(who, name string, v []float64) error {
	for i, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Errorf("%s: %s[%d] = %v is not finite: %w", who, name, i, x, ErrParam)
		}
	}
	return nil
}

// checkPositive returns an ErrParam error naming the first value that is not
// finite and strictly positive.
func checkPositive(who, name string, v []float64) error {
	for i, x := range v {
		if !(x > 0) || math.IsInf(x, 1) {
			return fmt.Errorf("%s: %s[%d] = %v must be finite and positive: %w", who, name, i, x, ErrParam)
		}
	}
	return nil
}

// checkSameLen returns ErrDim errors for a zero dimension or different lengths.
func checkSameLen(who, na, nb string, a, b []float64) error {
	if len(a) == 0 {
		return fmt.Errorf("%s: zero dimension: %w", who, ErrDim)
	}
	if len(a) != len(b) {
		return fmt.Errorf("%s: len(%s) = %d, len(%s) = %d: %w", who, na, len(a), nb, len(b), ErrDim)
	}
	return nil
}

// fill returns a new slice of length n with every element set to v.
func fill(n int, v float64) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = v
	}
	return s
}

// vecPool hands out scratch vectors of a fixed length so that methods that
// need scratch space stay allocation-free and safe for concurrent use.
type vecPool struct {
	p sync.Pool
}

func newVecPool(n int) *vecPool {
	vp := &vecPool{}
	vp.p.New = func() any {
		s := make([]float64, n)
		return &s
	}
	return vp
}

func (vp *vecPool) get() *[]float64  { return vp.p.Get().(*[]float64) }
func (vp *vecPool) put(s *[]float64) { vp.p.Put(s) }

const log2Pi = 1.8378770664093454835606594728112352797227949472755668 // log(2π)
