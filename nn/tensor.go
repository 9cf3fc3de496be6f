package nn

import (
	"fmt"

	"gonum.org/v1/gonum/mat"
)

// Tensor is a rank-2, row-major float64 array with optional gradient storage.
//
// Rows is the batch dimension (one sample per row) and Cols the feature
// dimension; element (i, j) is Data[i*Cols+j]. Data always has length
// Rows*Cols. Grad, when non-nil, has the same length and layout as Data and
// receives gradients from Tape.Backward. The Grad of an op's output is
// valid only after Backward (before it, it holds stale values).
//
// A Tensor with RequiresGrad set is a parameter: every recording tape tracks
// operations on it and Backward accumulates into its Grad (allocated on first
// use) until the gradient is zeroed with ZeroGrad. Other tensors are
// constants unless watched by a tape (see Tape.Watch).
type Tensor struct {
	Rows, Cols int
	Data       []float64
	Grad       []float64

	// Name identifies a parameter in Params lists and in saved files.
	Name string
	// RequiresGrad marks a trainable parameter. Setting it to false
	// freezes the tensor: tapes then treat it as a constant.
	RequiresGrad bool

	// tape and gen identify the recording in which this tensor is a tracked
	// node (an op output or a watched input); gen changes on Tape.Reset.
	tape *Tape
	gen  uint64
	// gradSet is false while the Grad of an op output of that recording
	// holds stale values that count as zero (see Tape.track).
	gradSet bool
}

// New returns a zero-filled r×c tensor. It panics if r or c is negative.
func New(r, c int) *Tensor {
	checkDims(r, c)
	return &Tensor{Rows: r, Cols: c, Data: make([]float64, r*c)}
}

// NewParam returns a zero-filled r×c parameter tensor with the given name,
// RequiresGrad set and its Grad allocated. It panics if r or c is negative.
func NewParam(name string, r, c int) *Tensor {
	t := New(r, c)
	t.Name = name
	t.RequiresGrad = true
	t.Grad = make([]float64, r*c)
	return t
}

// FromSlice returns an r×c tensor backed by data, without copying: changes
// to data are visible in the tensor and vice versa. It panics if
// len(data) != r*c.
func FromSlice(r, c int, data []float64) *Tensor {
	checkDims(r, c)
	if len(data) != r*c {
		panic(fmt.Sprintf("nn: FromSlice: len(data) = %d, want %d×%d = %d", len(data), r, c, r*c))
	}
	return &Tensor{Rows: r, Cols: c, Data: data}
}

// FromDense returns a new tensor holding a copy of m.
func FromDense(m mat.Matrix) *Tensor {
	r, c := m.Dims()
	t := New(r, c)
	if d, ok := m.(*mat.Dense); ok {
		raw := d.RawMatrix()
		for i := 0; i < r; i++ {
			copy(t.Data[i*c:(i+1)*c], raw.Data[i*raw.Stride:i*raw.Stride+c])
		}
		return t
	}
	for i := 0; i < r; i++ {
		for j := 0; j < c; j++ {
			t.Data[i*c+j] = m.At(i, j)
		}
	}
	return t
}

// Dense returns a *mat.Dense view of t's values that shares t.Data: writes
// through either are visible in both. It panics if t has no elements, as
// mat.NewDense does.
func (t *Tensor) Dense() *mat.Dense {
	return mat.NewDense(t.Rows, t.Cols, t.Data)
}

// GradDense returns a *mat.Dense view of t.Grad (sharing memory), or nil if
// t has no gradient storage.
func (t *Tensor) GradDense() *mat.Dense {
	if t.Grad == nil || len(t.Grad) == 0 {
		return nil
	}
	return mat.NewDense(t.Rows, t.Cols, t.Grad)
}

// Dims returns the number of rows and columns of t.
func (t *Tensor) Dims() (r, c int) { return t.Rows, t.Cols }

// Len returns the number of elements, Rows*Cols.
func (t *Tensor) Len() int { return t.Rows * t.Cols }

// At returns element (i, j). It panics if the indices are out of range.
func (t *Tensor) At(i, j int) float64 {
	t.checkIndex(i, j)
	return t.Data[i*t.Cols+j]
}

// Set sets element (i, j) to v. It panics if the indices are out of range.
func (t *Tensor) Set(i, j int, v float64) {
	t.checkIndex(i, j)
	t.Data[i*t.Cols+j] = v
}

// Row returns row i of the values as a slice sharing t.Data.
func (t *Tensor) Row(i int) []float64 {
	if i < 0 || i >= t.Rows {
		panic(fmt.Sprintf("nn: row %d out of range [0,%d)", i, t.Rows))
	}
	return t.Data[i*t.Cols : (i+1)*t.Cols]
}

// Item returns the single value of a 1×1 tensor, typically a loss.
// It panics if t is not 1×1.
func (t *Tensor) Item() float64 {
	if t.Rows != 1 || t.Cols != 1 {
		panic(fmt.Sprintf("nn: Item of a %d×%d tensor, want 1×1", t.Rows, t.Cols))
	}
	return t.Data[0]
}

// Clone returns a deep copy of t's shape, values, gradient (if any), name
// and RequiresGrad flag. The copy is not tracked by any tape.
func (t *Tensor) Clone() *Tensor {
	c := &Tensor{Rows: t.Rows, Cols: t.Cols, Name: t.Name, RequiresGrad: t.RequiresGrad}
	c.Data = append([]float64(nil), t.Data...)
	if t.Grad != nil {
		c.Grad = append([]float64(nil), t.Grad...)
	}
	return c
}

// Detach returns a tensor that shares t's values (t.Data) and name but is a
// constant: no gradient storage, RequiresGrad false, tracked by no tape.
// Writes to either tensor's values are visible in both.
func (t *Tensor) Detach() *Tensor {
	return &Tensor{Rows: t.Rows, Cols: t.Cols, Data: t.Data, Name: t.Name}
}

// ZeroGrad sets every element of t.Grad to zero (a no-op if Grad is nil).
func (t *Tensor) ZeroGrad() { clear(t.Grad) }

// ZeroGrad zeroes the gradients of all tensors in ts.
func ZeroGrad(ts []*Tensor) {
	for _, t := range ts {
		clear(t.Grad)
	}
}

// String returns a short description such as "Tensor(l0.weight 50×4)".
func (t *Tensor) String() string {
	if t.Name != "" {
		return fmt.Sprintf("Tensor(%s %d×%d)", t.Name, t.Rows, t.Cols)
	}
	return fmt.Sprintf("Tensor(%d×%d)", t.Rows, t.Cols)
}

// NumParams returns the total number of elements in ts.
func NumParams(ts []*Tensor) int {
	n := 0
	for _, t := range ts {
		n += len(t.Data)
	}
	return n
}

func (t *Tensor) checkIndex(i, j int) {
	if i < 0 || i >= t.Rows || j < 0 || j >= t.Cols {
		panic(fmt.Sprintf("nn: index (%d,%d) out of range for %d×%d tensor", i, j, t.Rows, t.Cols))
	}
}

func checkDims(r, c int) {
	if r < 0 || c < 0 {
		panic(fmt.Sprintf("nn: negative dimension %d×%d", r, c))
	}
}

func sameShape(a, b *Tensor) bool { return a.Rows == b.Rows && a.Cols == b.Cols }

func shapePanic(op string, a, b *Tensor) {
	panic(fmt.Sprintf("nn: %s: shape mismatch %d×%d vs %d×%d", op, a.Rows, a.Cols, b.Rows, b.Cols))
}
