package simulators

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// awkward holds values that a sloppy writer or reader would not round-trip.
var awkward = []float64{0.1, -0.0, 1e-300, math.MaxFloat64, math.SmallestNonzeroFloat64, math.NaN(), math.Inf(1), math.Inf(-1), 1.0 / 3, -123456789.125, 2, 5e-324}

func awkwardDataset() *Dataset {
	theta := mat.NewDense(4, 3, awkward)
	x := mat.NewDense(4, 2, []float64{1, 2, 3, 4, 5, 6, 7, math.NaN()})
	return &Dataset{Theta: theta, X: x, ThetaNames: []string{"alpha", "beta", "gamma, with comma"}, XNames: []string{"x 1", "x\"2\""}}
}

func sameBitsOrNaN(a, b *mat.Dense) bool {
	ar, ac := a.Dims()
	br, bc := b.Dims()
	if ar != br || ac != bc {
		return false
	}
	for i := range ar {
		for j := range ac {
			u, v := a.At(i, j), b.At(i, j)
			if math.Float64bits(u) != math.Float64bits(v) && !(math.IsNaN(u) && math.IsNaN(v)) {
				return false
			}
		}
	}
	return true
}

func TestCSVRoundTrip(t *testing.T) {
	dir := t.TempDir()
	d := awkwardDataset()
	tf, xf := filepath.Join(dir, "theta.csv"), filepath.Join(dir, "x.csv")
	if err := d.SaveCSV(tf, xf); err != nil {
		t.Fatal(err)
	}
	got, err := LoadCSV(tf, xf)
	if err != nil {
		t.Fatal(err)
	}
	if !sameBitsOrNaN(got.Theta, d.Theta) || !sameBitsOrNaN(got.X, d.X) {
		t.Errorf("round trip changed values:\n%v\nwant\n%v", mat.Formatted(got.Theta), mat.Formatted(d.Theta))
	}
	if strings.Join(got.ThetaNames, "|") != strings.Join(d.ThetaNames, "|") || strings.Join(got.XNames, "|") != strings.Join(d.XNames, "|") {
		t.Errorf("names: got %q %q, want %q %q", got.ThetaNames, got.XNames, d.ThetaNames, d.XNames)
	}
	// Default names when none are set.
	d.ThetaNames, d.XNames = nil, nil
	if err := d.SaveCSV(tf, xf); err != nil {
		t.Fatal(err)
	}
	got, err = LoadCSV(tf, xf)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got.ThetaNames, ",") != "theta_1,theta_2,theta_3" || strings.Join(got.XNames, ",") != "x_1,x_2" {
		t.Errorf("default names: got %q %q", got.ThetaNames, got.XNames)
	}
}

func TestNPYRoundTrip(t *testing.T) {
	dir := t.TempDir()
	d := awkwardDataset()
	tf, xf := filepath.Join(dir, "theta.npy"), filepath.Join(dir, "x.npy")
	if err := d.SaveNPY(tf, xf); err != nil {
		t.Fatal(err)
	}
	got, err := LoadNPY(tf, xf)
	if err != nil {
		t.Fatal(err)
	}
	if !sameBitsOrNaN(got.Theta, d.Theta) || !sameBitsOrNaN(got.X, d.X) {
		t.Errorf("round trip changed values")
	}
	// A strided view is written as its own values.
	big := mat.NewDense(3, 4, []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})
	view := big.Slice(1, 3, 1, 3).(*mat.Dense)
	f := filepath.Join(dir, "view.npy")
	if err := WriteNPY(f, view); err != nil {
		t.Fatal(err)
	}
	m, err := ReadNPY(f)
	if err != nil {
		t.Fatal(err)
	}
	if !mat.Equal(m, mat.NewDense(2, 2, []float64{6, 7, 10, 11})) {
		t.Errorf("view: got %v, want [[6 7] [10 11]]", mat.Formatted(m))
	}
}

// npyFile builds a .npy file as numpy writes it: magic, version 1.0, a
// header dictionary padded with spaces to a multiple of 64 bytes, the data.
func npyFile(descr string, fortran bool, shape string, data []byte) []byte {
	order := "False"
	if fortran {
		order = "True"
	}
	h := fmt.Sprintf("{'descr': '%s', 'fortran_order': %s, 'shape': %s, }", descr, order, shape)
	pad := 64 - (10+len(h)+1)%64
	h += strings.Repeat(" ", pad%64) + "\n"
	var b bytes.Buffer
	b.WriteString("\x93NUMPY\x01\x00")
	binary.Write(&b, binary.LittleEndian, uint16(len(h)))
	b.WriteString(h)
	b.Write(data)
	return b.Bytes()
}

func encode(order binary.ByteOrder, vals ...any) []byte {
	var b bytes.Buffer
	for _, v := range vals {
		binary.Write(&b, order, v)
	}
	return b.Bytes()
}

// TestReadNPYTypes reads arrays as numpy and torch write them: float32,
// big-endian, integers, Fortran order, one-dimensional.
func TestReadNPYTypes(t *testing.T) {
	le, be := binary.LittleEndian, binary.BigEndian
	tests := []struct {
		name string
		file []byte
		want *mat.Dense
	}{
		{"float32", npyFile("<f4", false, "(2, 3)", encode(le, float32(1), float32(0.5), float32(-2), float32(3), float32(4), float32(5))),
			mat.NewDense(2, 3, []float64{1, 0.5, -2, 3, 4, 5})},
		{"big-endian float64", npyFile(">f8", false, "(2, 2)", encode(be, 1.25, -1e-300, 7.0, 8.0)),
			mat.NewDense(2, 2, []float64{1.25, -1e-300, 7, 8})},
		{"int64", npyFile("<i8", false, "(1, 3)", encode(le, int64(-5), int64(0), int64(1<<40))),
			mat.NewDense(1, 3, []float64{-5, 0, 1 << 40})},
		{"int32", npyFile("<i4", false, "(3,)", encode(le, int32(1), int32(-2), int32(3))),
			mat.NewDense(3, 1, []float64{1, -2, 3})},
		{"fortran", npyFile("<f8", true, "(2, 3)", encode(le, 1.0, 4.0, 2.0, 5.0, 3.0, 6.0)),
			mat.NewDense(2, 3, []float64{1, 2, 3, 4, 5, 6})},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := filepath.Join(t.TempDir(), "a.npy")
			if err := os.WriteFile(f, tc.file, 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := ReadNPY(f)
			if err != nil {
				t.Fatal(err)
			}
			if !mat.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", mat.Formatted(got), mat.Formatted(tc.want))
			}
		})
	}
}

func TestReadNPYErrors(t *testing.T) {
	le := binary.LittleEndian
	six := encode(le, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0)
	tests := []struct {
		name string
		file []byte
		want error
		text string
	}{
		{"empty", nil, ErrFormat, "not a valid .npy"},
		{"not npy", []byte("theta_1,theta_2\n1,2\n"), ErrFormat, "not a valid .npy"},
		{"header without newline", []byte("\x93NUMPY\x01\x00\x05\x00{'des"), ErrFormat, "not a valid .npy"},
		{"truncated", npyFile("<f8", false, "(3, 2)", six[:40]), ErrFormat, "truncated data: 40 bytes, want 48"},
		{"trailing bytes", npyFile("<f8", false, "(2, 2)", six), ErrFormat, "16 bytes after the data"},
		{"three dimensions", npyFile("<f8", false, "(1, 2, 3)", six), ErrShape, "shape [1 2 3]"},
		{"scalar", npyFile("<f8", false, "()", six[:8]), ErrShape, "shape []"},
		{"no rows", npyFile("<f8", false, "(0, 3)", nil), ErrShape, "no elements"},
		{"complex", npyFile("<c16", false, "(1, 1)", six[:16]), ErrFormat, "element type"},
		{"bool", npyFile("|b1", false, "(2,)", []byte{1, 0}), ErrFormat, "element type"},
		{"unicode", npyFile("<U3", false, "(1,)", make([]byte, 12)), ErrFormat, "element type"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := filepath.Join(t.TempDir(), "bad.npy")
			if err := os.WriteFile(f, tc.file, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := ReadNPY(f)
			var fe *FileError
			if !errors.Is(err, tc.want) || !errors.As(err, &fe) || fe.File != f || !strings.Contains(err.Error(), tc.text) {
				t.Errorf("got %v, want %v naming %s and saying %q", err, tc.want, f, tc.text)
			}
		})
	}
	if _, err := ReadNPY(filepath.Join(t.TempDir(), "missing.npy")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: got %v, want os.ErrNotExist", err)
	}
}

func TestReadCSVErrors(t *testing.T) {
	tests := []struct {
		name              string
		content           string
		row, line, column int
		colName           string
		text              string
	}{
		{"empty file", "", 0, 0, 0, "", "empty file"},
		{"header only", "a,b\n", 0, 0, 0, "", "no data rows"},
		{"ragged row", "a,b\n1,2\n3\n", 2, 3, 0, "", "1 fields, want 2"},
		{"long row", "a,b\n1,2,3\n", 1, 2, 0, "", "3 fields, want 2"},
		{"non-numeric", "a,b\n1,2\n3,abc\n", 2, 3, 2, "b", `cannot parse "abc"`},
		{"empty cell", "a,b\n1,\n", 1, 2, 2, "b", "empty cell"},
		{"bare quote", "a,b\n1,2\n3,4\"5\n", 0, 3, 4, "", "bare \""},
		{"blank lines skipped, line kept", "a,b\n\n1,2\n\nx,2\n", 2, 5, 1, "a", `cannot parse "x"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := filepath.Join(t.TempDir(), "data.csv")
			if err := os.WriteFile(f, []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			_, _, err := ReadCSV(f)
			var fe *FileError
			if !errors.Is(err, ErrFormat) || !errors.As(err, &fe) {
				t.Fatalf("got %v, want a *FileError wrapping ErrFormat", err)
			}
			if fe.File != f || fe.Row != tc.row || fe.Line != tc.line || fe.Column != tc.column || fe.Name != tc.colName {
				t.Errorf("got file %s row %d line %d column %d name %q, want %s, %d, %d, %d, %q",
					fe.File, fe.Row, fe.Line, fe.Column, fe.Name, f, tc.row, tc.line, tc.column, tc.colName)
			}
			if !strings.Contains(err.Error(), tc.text) || !strings.Contains(err.Error(), f) {
				t.Errorf("message %q does not name the file and say %q", err, tc.text)
			}
		})
	}
}

func TestReadCSVLenient(t *testing.T) {
	// A byte-order mark, spaces around cells, CRLF line ends, quoted
	// names, NaN/Inf spellings and out-of-range numbers are all fine.
	f := filepath.Join(t.TempDir(), "ok.csv")
	content := "\ufeffa, \"b, c\"\r\n 1 , -2.5e3 \r\nNaN,-Inf\r\n1e999,1e-999\r\n"
	if err := os.WriteFile(f, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	m, header, err := ReadCSV(f)
	if err != nil {
		t.Fatal(err)
	}
	if header[0] != "a" || header[1] != "b, c" {
		t.Errorf("header %q, want [a, b, c]", header)
	}
	want := mat.NewDense(3, 2, []float64{1, -2500, math.NaN(), math.Inf(-1), math.Inf(1), 0})
	if !sameBitsOrNaN(m, want) {
		t.Errorf("got %v, want %v", mat.Formatted(m), mat.Formatted(want))
	}
}

func TestLoadMismatchedFiles(t *testing.T) {
	dir := t.TempDir()
	tf, xf := filepath.Join(dir, "theta.csv"), filepath.Join(dir, "x.csv")
	if err := WriteCSV(tf, mat.NewDense(3, 2, nil), nil); err != nil {
		t.Fatal(err)
	}
	if err := WriteCSV(xf, mat.NewDense(2, 2, nil), nil); err != nil {
		t.Fatal(err)
	}
	_, err := LoadCSV(tf, xf)
	if !errors.Is(err, ErrShape) || !strings.Contains(err.Error(), tf) || !strings.Contains(err.Error(), xf) {
		t.Errorf("got %v, want ErrShape naming both files", err)
	}
	tn, xn := filepath.Join(dir, "theta.npy"), filepath.Join(dir, "x.npy")
	if err := WriteNPY(tn, mat.NewDense(3, 2, nil)); err != nil {
		t.Fatal(err)
	}
	if err := WriteNPY(xn, mat.NewDense(4, 2, nil)); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadNPY(tn, xn); !errors.Is(err, ErrShape) {
		t.Errorf("npy: got %v, want ErrShape", err)
	}
	// Writers refuse what they cannot write.
	if err := WriteCSV(tf, mat.NewDense(2, 2, nil), []string{"only one"}); !errors.Is(err, ErrShape) {
		t.Errorf("header length: got %v, want ErrShape", err)
	}
	if err := WriteNPY(tn, &mat.Dense{}); !errors.Is(err, ErrShape) {
		t.Errorf("empty matrix: got %v, want ErrShape", err)
	}
	if err := (&Dataset{}).SaveCSV(tf, xf); !errors.Is(err, ErrShape) {
		t.Errorf("empty dataset: got %v, want ErrShape", err)
	}
	if err := WriteCSV(filepath.Join(dir, "no", "such", "dir.csv"), mat.NewDense(1, 1, nil), nil); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("bad path: got %v, want os.ErrNotExist", err)
	}
}

// TestNPYWithNumPy exchanges .npy files with numpy itself when a Python
// with numpy is installed (skipped otherwise): numpy reads what WriteNPY
// writes, and ReadNPY reads what numpy.save writes (float64 and float32).
func TestNPYWithNumPy(t *testing.T) {
	var py string
	for _, cand := range []string{"python3", "/usr/bin/python3"} {
		if p, err := exec.LookPath(cand); err == nil && exec.Command(p, "-c", "import numpy").Run() == nil {
			py = p
			break
		}
	}
	if py == "" {
		t.Skip("no python3 with numpy")
	}
	dir := t.TempDir()
	ours := filepath.Join(dir, "ours.npy")
	m := mat.NewDense(2, 3, []float64{0.1, -2, 1e-300, math.Inf(1), 5, 1.0 / 3})
	if err := WriteNPY(ours, m); err != nil {
		t.Fatal(err)
	}
	script := `
import sys, numpy as np
a = np.load(sys.argv[1])
assert a.shape == (2, 3) and a.dtype == np.float64, (a.shape, a.dtype)
want = np.array([[0.1, -2, 1e-300], [np.inf, 5, 1/3]])
assert (a == want).all(), a
np.save(sys.argv[2], a * 2)
np.save(sys.argv[3], np.asfortranarray((a[:, :2] * 3).astype(np.float32)))
`
	out, err := exec.Command(py, "-c", script, ours, filepath.Join(dir, "np64.npy"), filepath.Join(dir, "np32.npy")).CombinedOutput()
	if err != nil {
		t.Fatalf("numpy: %v\n%s", err, out)
	}
	got64, err := ReadNPY(filepath.Join(dir, "np64.npy"))
	if err != nil {
		t.Fatal(err)
	}
	var twice mat.Dense
	twice.Scale(2, m)
	if !mat.Equal(got64, &twice) {
		t.Errorf("numpy float64: got %v, want %v", mat.Formatted(got64), mat.Formatted(&twice))
	}
	got32, err := ReadNPY(filepath.Join(dir, "np32.npy"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		for j := range 2 {
			if want := float64(float32(3 * m.At(i, j))); got32.At(i, j) != want {
				t.Errorf("numpy float32 [%d][%d]: got %v, want %v", i, j, got32.At(i, j), want)
			}
		}
	}
}

func ExampleLoadCSV() {
	dir, err := os.MkdirTemp("", "example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	d := &Dataset{
		Theta:      mat.NewDense(2, 2, []float64{0.5, -1, 0.25, 2}),
		X:          mat.NewDense(2, 1, []float64{3.5, math.NaN()}),
		ThetaNames: []string{"beta", "gamma"},
	}
	tf, xf := filepath.Join(dir, "theta.csv"), filepath.Join(dir, "x.csv")
	if err := d.SaveCSV(tf, xf); err != nil {
		fmt.Println(err)
		return
	}
	back, err := LoadCSV(tf, xf)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(back.ThetaNames, back.XNames, back.Len())
	kept, dropped, _ := back.FilterInvalid()
	fmt.Println(kept.Len(), "kept,", dropped, "dropped")
	// Output:
	// [beta gamma] [x_1] 2
	// 1 kept, 1 dropped
}
