package simulators

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// seq returns a dataset whose θ row i is (i, -i) and x row i is (10i).
func seq(n int) *Dataset {
	theta, x := mat.NewDense(n, 2, nil), mat.NewDense(n, 1, nil)
	for i := range n {
		theta.SetRow(i, []float64{float64(i), -float64(i)})
		x.Set(i, 0, 10*float64(i))
	}
	return &Dataset{Theta: theta, X: x}
}

func rowIDs(d *Dataset) []int {
	ids := make([]int, d.Len())
	for i := range ids {
		ids[i] = int(d.Theta.At(i, 0))
		if d.X.At(i, 0) != 10*d.Theta.At(i, 0) {
			panic("θ and x rows came apart")
		}
	}
	return ids
}

func TestDatasetAppend(t *testing.T) {
	var d Dataset
	if d.Len() != 0 {
		t.Fatalf("zero Dataset has %d rows", d.Len())
	}
	a := seq(3)
	a.ThetaNames = []string{"p", "q"}
	if err := d.Append(a); err != nil {
		t.Fatal(err)
	}
	a.Theta.Set(0, 0, 99) // d holds a copy
	b := seq(2)
	if err := d.Append(b); err != nil {
		t.Fatal(err)
	}
	if got := rowIDs(&d); !slices.Equal(got, []int{0, 1, 2, 0, 1}) || d.ThetaNames[0] != "p" {
		t.Errorf("got rows %v names %v, want [0 1 2 0 1] and a's names", got, d.ThetaNames)
	}
	if err := d.Append(&Dataset{}); err != nil || d.Len() != 5 {
		t.Errorf("appending an empty dataset: %v, %d rows", err, d.Len())
	}
	wrong := &Dataset{Theta: mat.NewDense(1, 3, nil), X: mat.NewDense(1, 1, nil)}
	if err := d.Append(wrong); !errors.Is(err, ErrShape) || d.Len() != 5 {
		t.Errorf("appending 3 θ columns to 2: got %v with %d rows, want ErrShape and no change", err, d.Len())
	}
}

func TestDatasetValidate(t *testing.T) {
	tests := []struct {
		name string
		d    *Dataset
	}{
		{"rows differ", &Dataset{Theta: mat.NewDense(2, 1, nil), X: mat.NewDense(3, 1, nil)}},
		{"x missing", &Dataset{Theta: mat.NewDense(2, 1, nil)}},
		{"theta names", &Dataset{Theta: mat.NewDense(2, 1, nil), X: mat.NewDense(2, 1, nil), ThetaNames: []string{"a", "b"}}},
		{"x names", &Dataset{Theta: mat.NewDense(2, 1, nil), X: mat.NewDense(2, 1, nil), XNames: []string{}}},
	}
	for _, tc := range tests {
		if err := tc.d.Validate(); !errors.Is(err, ErrShape) {
			t.Errorf("%s: got %v, want ErrShape", tc.name, err)
		}
		if _, err := NewDataset(tc.d.Theta, tc.d.X); tc.name == "rows differ" && !errors.Is(err, ErrShape) {
			t.Errorf("NewDataset %s: got %v, want ErrShape", tc.name, err)
		}
	}
}

func TestDatasetSplit(t *testing.T) {
	d := seq(10)
	first, rest, err := d.Split(3, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rowIDs(first), []int{0, 1, 2}) || !slices.Equal(rowIDs(rest), []int{3, 4, 5, 6, 7, 8, 9}) {
		t.Errorf("ordered split: got %v and %v", rowIDs(first), rowIDs(rest))
	}
	first, rest, err = d.Split(4, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		t.Fatal(err)
	}
	all := append(rowIDs(first), rowIDs(rest)...)
	if first.Len() != 4 || rest.Len() != 6 || slices.Equal(all, rowIDs(d)) {
		t.Errorf("random split: got %v and %v, want 4 and 6 rows in shuffled order", rowIDs(first), rowIDs(rest))
	}
	slices.Sort(all)
	if !slices.Equal(all, rowIDs(d)) {
		t.Errorf("random split lost or repeated rows: %v", all)
	}
	// Same seed, same split.
	again, _, _ := d.Split(4, rand.New(rand.NewPCG(1, 2)))
	if !slices.Equal(rowIDs(again), rowIDs(first)) {
		t.Error("the split is not reproducible")
	}
	// Edge sizes and errors.
	if f, r, err := d.Split(0, nil); err != nil || f.Len() != 0 || r.Len() != 10 {
		t.Errorf("Split(0): %v, %d, %d", err, f.Len(), r.Len())
	}
	for _, n := range []int{-1, 11} {
		if _, _, err := d.Split(n, nil); !errors.Is(err, ErrInput) {
			t.Errorf("Split(%d): got %v, want ErrInput", n, err)
		}
	}
	if _, err := d.Subset([]int{0, 10}); !errors.Is(err, ErrInput) {
		t.Errorf("Subset out of range: got %v, want ErrInput", err)
	}
}

func TestFilterInvalid(t *testing.T) {
	d := seq(6)
	d.X.Set(1, 0, math.NaN())
	d.X.Set(3, 0, math.Inf(-1))
	d.Theta.Set(4, 1, math.Inf(1))
	kept, dropped, err := d.FilterInvalid()
	if err != nil {
		t.Fatal(err)
	}
	if dropped != 3 || !slices.Equal(rowIDs(kept), []int{0, 2, 5}) {
		t.Errorf("got rows %v (dropped %d), want [0 2 5] (3)", rowIDs(kept), dropped)
	}
	d.X.Set(0, 0, math.NaN())
	d.X.Set(2, 0, math.NaN())
	d.X.Set(5, 0, math.NaN())
	kept, dropped, err = d.FilterInvalid()
	if err != nil || kept.Len() != 0 || dropped != 6 {
		t.Errorf("all invalid: got %d kept, %d dropped, %v", kept.Len(), dropped, err)
	}
}

func ExampleDataset_Split() {
	theta := mat.NewDense(5, 1, []float64{1, 2, 3, 4, 5})
	x := mat.NewDense(5, 1, []float64{10, 20, 30, 40, 50})
	d, err := NewDataset(theta, x)
	if err != nil {
		fmt.Println(err)
		return
	}
	train, val, err := d.Split(4, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(train.Len(), "training rows,", val.Len(), "validation row")
	// Output:
	// 4 training rows, 1 validation row
}
