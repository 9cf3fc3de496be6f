package simulators

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"gonum.org/v1/gonum/mat"
)

// Dataset is a set of simulations: row i of Theta holds the parameters of
// simulation i and row i of X its output. ThetaNames and XNames optionally
// name the columns; the CSV writers use them as headers and fall back to
// theta_1, theta_2, ... and x_1, x_2, ... when they are nil.
//
// A Dataset with no rows has nil matrices. Methods other than Validate
// assume a valid Dataset (both matrices nil, or both non-empty with the same
// number of rows, and names, when present, matching the columns) and return
// errors wrapping ErrShape otherwise.
type Dataset struct {
	Theta, X           *mat.Dense
	ThetaNames, XNames []string
}

// NewDataset returns a Dataset holding theta and x (not copied), after
// checking it with Validate.
func NewDataset(theta, x *mat.Dense) (*Dataset, error) {
	d := &Dataset{Theta: theta, X: x}
	if err := d.Validate(); err != nil {
		return nil, err
	}
	return d, nil
}

// Validate checks that Theta and X are both nil (an empty dataset) or both
// non-empty with the same number of rows, and that the names, when not nil,
// have one entry per column. It returns an error wrapping ErrShape
// otherwise.
func (d *Dataset) Validate() error {
	tEmpty := d.Theta == nil || d.Theta.IsEmpty()
	xEmpty := d.X == nil || d.X.IsEmpty()
	if tEmpty != xEmpty {
		return fmt.Errorf("simulators: dataset: one of theta and x is empty and the other is not: %w", ErrShape)
	}
	if tEmpty {
		return nil
	}
	tr, tc := d.Theta.Dims()
	xr, xc := d.X.Dims()
	if tr != xr {
		return fmt.Errorf("simulators: dataset: theta has %d rows, x has %d: %w", tr, xr, ErrShape)
	}
	if d.ThetaNames != nil && len(d.ThetaNames) != tc {
		return fmt.Errorf("simulators: dataset: %d theta names for %d columns: %w", len(d.ThetaNames), tc, ErrShape)
	}
	if d.XNames != nil && len(d.XNames) != xc {
		return fmt.Errorf("simulators: dataset: %d x names for %d columns: %w", len(d.XNames), xc, ErrShape)
	}
	return nil
}

// Len returns the number of simulations (rows).
func (d *Dataset) Len() int {
	if d == nil || d.Theta == nil || d.Theta.IsEmpty() {
		return 0
	}
	r, _ := d.Theta.Dims()
	return r
}

// Dims returns the number of columns of Theta and X, or (0, 0) for an empty
// dataset.
func (d *Dataset) Dims() (theta, x int) {
	if d.Len() == 0 {
		return 0, 0
	}
	_, theta = d.Theta.Dims()
	_, x = d.X.Dims()
	return theta, x
}

// Append adds the rows of o after those of d. The matrices are reallocated,
// so views of the old ones are not affected. Appending to an empty dataset
// copies o, names included; otherwise d keeps its names. It returns an
// error wrapping ErrShape, and leaves d unchanged, when the column counts
// differ or either dataset is invalid.
func (d *Dataset) Append(o *Dataset) error {
	if err := d.Validate(); err != nil {
		return err
	}
	if err := o.Validate(); err != nil {
		return err
	}
	if o.Len() == 0 {
		return nil
	}
	if d.Len() == 0 {
		d.Theta, d.X = mat.DenseCopyOf(o.Theta), mat.DenseCopyOf(o.X)
		d.ThetaNames, d.XNames = slices.Clone(o.ThetaNames), slices.Clone(o.XNames)
		return nil
	}
	dt, dx := d.Dims()
	ot, ox := o.Dims()
	if dt != ot || dx != ox {
		return fmt.Errorf("simulators: append: dataset has %d θ and %d x columns, appended one %d and %d: %w", dt, dx, ot, ox, ErrShape)
	}
	var theta, x mat.Dense
	theta.Stack(d.Theta, o.Theta)
	x.Stack(d.X, o.X)
	d.Theta, d.X = &theta, &x
	return nil
}

// Subset returns a new dataset with the rows idx of d, in that order (rows
// may repeat), names shared with d. It returns an error wrapping ErrInput
// when an index is out of range.
func (d *Dataset) Subset(idx []int) (*Dataset, error) {
	if err := d.Validate(); err != nil {
		return nil, err
	}
	n := d.Len()
	for _, i := range idx {
		if i < 0 || i >= n {
			return nil, fmt.Errorf("simulators: subset: index %d out of range [0, %d): %w", i, n, ErrInput)
		}
	}
	out := &Dataset{ThetaNames: d.ThetaNames, XNames: d.XNames}
	if len(idx) == 0 {
		return out, nil
	}
	tc, xc := d.Dims()
	out.Theta = mat.NewDense(len(idx), tc, nil)
	out.X = mat.NewDense(len(idx), xc, nil)
	for r, i := range idx {
		out.Theta.SetRow(r, d.Theta.RawRowView(i))
		out.X.SetRow(r, d.X.RawRowView(i))
	}
	return out, nil
}

// Split returns two new datasets, the first with n rows and the second with
// the other Len()-n. With a nil rng the first n rows go to the first part in
// order; otherwise the rows are assigned by a uniform random permutation
// drawn from rng (each part keeps the permuted order), as for a
// training/validation split. It returns an error wrapping ErrInput when n is
// not in [0, Len()].
func (d *Dataset) Split(n int, rng *rand.Rand) (first, rest *Dataset, err error) {
	if err := d.Validate(); err != nil {
		return nil, nil, err
	}
	total := d.Len()
	if n < 0 || n > total {
		return nil, nil, fmt.Errorf("simulators: split: n = %d, want 0..%d: %w", n, total, ErrInput)
	}
	idx := make([]int, total)
	for i := range idx {
		idx[i] = i
	}
	if rng != nil {
		rng.Shuffle(total, func(a, b int) { idx[a], idx[b] = idx[b], idx[a] })
	}
	if first, err = d.Subset(idx[:n]); err != nil {
		return nil, nil, err
	}
	if rest, err = d.Subset(idx[n:]); err != nil {
		return nil, nil, err
	}
	return first, rest, nil
}

// FilterInvalid returns a new dataset without the rows where θ or x holds
// NaN or ±Inf (failed simulations have x all NaN, so they go too), and the
// number of rows dropped. Names are shared with d.
func (d *Dataset) FilterInvalid() (kept *Dataset, dropped int, err error) {
	if err := d.Validate(); err != nil {
		return nil, 0, err
	}
	var idx []int
	for i := range d.Len() {
		if allFinite(d.Theta.RawRowView(i)) && allFinite(d.X.RawRowView(i)) {
			idx = append(idx, i)
		}
	}
	kept, err = d.Subset(idx)
	if err != nil {
		return nil, 0, err
	}
	return kept, d.Len() - len(idx), nil
}

func allFinite(v []float64) bool {
	for _, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return false
		}
	}
	return true
}

// defaultNames returns prefix_1 .. prefix_n.
func defaultNames(prefix string, n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("%s_%d", prefix, i+1)
	}
	return names
}
