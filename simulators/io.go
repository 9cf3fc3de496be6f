package simulators

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"

	"codeberg.org/sbinet/npyio"
	"gonum.org/v1/gonum/mat"
)

// FileError locates a problem in a data file. Err wraps ErrFormat (the file
// is malformed) or ErrShape (the data has the wrong shape).
type FileError struct {
	File   string // the file name as given
	Row    int    // 1-based data row (the header is row 0); 0 when it does not apply
	Line   int    // 1-based line of the file; 0 when it does not apply
	Column int    // 1-based column; 0 when it does not apply
	Name   string // the column's header name, when known
	Err    error
}

// Error returns the location and the cause, for example
// "simulators: theta.csv: row 2 (line 3), column 2 (theta_2): cannot parse "abc" as a number".
func (e *FileError) Error() string {
	var b strings.Builder
	b.WriteString("simulators: ")
	b.WriteString(e.File)
	if e.Row > 0 {
		fmt.Fprintf(&b, ": row %d", e.Row)
		if e.Line > 0 {
			fmt.Fprintf(&b, " (line %d)", e.Line)
		}
	} else if e.Line > 0 {
		fmt.Fprintf(&b, ": line %d", e.Line)
	}
	if e.Column > 0 {
		fmt.Fprintf(&b, ", column %d", e.Column)
		if e.Name != "" {
			fmt.Fprintf(&b, " (%s)", e.Name)
		}
	}
	b.WriteString(": ")
	b.WriteString(e.Err.Error())
	return b.String()
}

// Unwrap returns the cause.
func (e *FileError) Unwrap() error { return e.Err }

// ReadCSV reads a matrix from a comma-separated file with one header row of
// column names and one matrix row per line. Cells are decimal numbers as
// strconv.ParseFloat accepts them ("NaN", "Inf" and "-Inf" included);
// surrounding spaces are ignored. It returns the matrix and the header.
// Errors locating the problem (*FileError wrapping ErrFormat) are returned
// for an empty file, a file with a header but no data rows, a row whose
// number of fields differs from the header's, and a cell that is empty or
// not a number.
func ReadCSV(name string) (*mat.Dense, []string, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, nil, fmt.Errorf("simulators: %w", err)
	}
	defer f.Close()
	return decodeCSV(bufio.NewReader(f), name)
}

// decodeCSV reads a CSV matrix from r; name is used in errors.
func decodeCSV(r io.Reader, name string) (*mat.Dense, []string, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1 // checked below, with a better message
	cr.ReuseRecord = true
	cr.TrimLeadingSpace = true
	fail := func(row, line, col int, colName string, err error) error {
		return &FileError{File: name, Row: row, Line: line, Column: col, Name: colName, Err: err}
	}
	rec, err := cr.Read()
	if err == io.EOF {
		return nil, nil, fail(0, 0, 0, "", fmt.Errorf("empty file, want a header row: %w", ErrFormat))
	}
	if err != nil {
		return nil, nil, csvError(name, err)
	}
	header := make([]string, len(rec))
	for i, h := range rec {
		header[i] = strings.TrimSpace(h)
	}
	header[0] = strings.TrimPrefix(header[0], "\ufeff") // a byte-order mark
	cols := len(header)
	var data []float64
	rows := 0
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, csvError(name, err)
		}
		rows++
		line, _ := cr.FieldPos(0)
		if len(rec) != cols {
			return nil, nil, fail(rows, line, 0, "", fmt.Errorf("%d fields, want %d as in the header: %w", len(rec), cols, ErrFormat))
		}
		for j, cell := range rec {
			s := strings.TrimSpace(cell)
			v, err := strconv.ParseFloat(s, 64)
			if errors.Is(err, strconv.ErrRange) {
				err = nil // out of range: v is ±Inf or 0, which is what the text means
			}
			if err != nil || s == "" {
				l, _ := cr.FieldPos(j)
				what := fmt.Sprintf("cannot parse %q as a number", s)
				if s == "" {
					what = "empty cell, want a number"
				}
				return nil, nil, fail(rows, l, j+1, header[j], fmt.Errorf("%s: %w", what, ErrFormat))
			}
			data = append(data, v)
		}
	}
	if rows == 0 {
		return nil, nil, fail(0, 0, 0, "", fmt.Errorf("header but no data rows: %w", ErrFormat))
	}
	return mat.NewDense(rows, cols, data), header, nil
}

// csvError converts an encoding/csv error into a FileError.
func csvError(name string, err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return &FileError{File: name, Line: pe.Line, Column: pe.Column, Err: fmt.Errorf("%v: %w", pe.Err, ErrFormat)}
	}
	return fmt.Errorf("simulators: %s: %w", name, err)
}

// WriteCSV writes m to a comma-separated file with header as its first row
// (col_1, col_2, ... when header is nil). Numbers are written in the
// shortest form that reads back to the same float64, NaN as "NaN" and
// infinities as "+Inf" and "-Inf" (which numpy and pandas read too). It
// returns an error wrapping ErrShape when header does not have one name per
// column or m is empty.
func WriteCSV(name string, m *mat.Dense, header []string) error {
	if m == nil || m.IsEmpty() {
		return fmt.Errorf("simulators: write %s: empty matrix: %w", name, ErrShape)
	}
	_, c := m.Dims()
	if header == nil {
		header = defaultNames("col", c)
	}
	if len(header) != c {
		return fmt.Errorf("simulators: write %s: %d header names for %d columns: %w", name, len(header), c, ErrShape)
	}
	return writeFile(name, func(w *bufio.Writer) error { return encodeCSV(w, m, header) })
}

func encodeCSV(w io.Writer, m *mat.Dense, header []string) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(header); err != nil {
		return err
	}
	r, c := m.Dims()
	rec := make([]string, c)
	for i := range r {
		for j, v := range m.RawRowView(i) {
			rec[j] = strconv.FormatFloat(v, 'g', -1, 64)
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// writeFile creates name, writes it through a buffer with fn and closes it,
// returning the first error.
func writeFile(name string, fn func(*bufio.Writer) error) error {
	f, err := os.Create(name)
	if err != nil {
		return fmt.Errorf("simulators: %w", err)
	}
	w := bufio.NewWriter(f)
	err = fn(w)
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("simulators: write %s: %w", name, err)
	}
	return nil
}

// WriteNPY writes m as a NumPy .npy file (format version 2.0, little-endian
// float64, C order, shape (rows, cols)), which numpy.load reads. It returns
// an error wrapping ErrShape when m is empty.
func WriteNPY(name string, m *mat.Dense) error {
	if m == nil || m.IsEmpty() {
		return fmt.Errorf("simulators: write %s: empty matrix: %w", name, ErrShape)
	}
	// npyio writes a *mat.Dense through its At method, so hand it a compact
	// copy when m is a view with a stride.
	if m.RawMatrix().Stride != m.RawMatrix().Cols {
		m = mat.DenseCopyOf(m)
	}
	return writeFile(name, func(w *bufio.Writer) error { return npyio.Write(w, m) })
}

// ReadNPY reads a matrix from a NumPy .npy file. Two-dimensional arrays are
// read as they are (C or Fortran order); a one-dimensional array of length n
// is read as an n×1 column. The element type must be a float or signed
// integer of 4 or 8 bytes in either byte order ('<f8', '<f4', '>f8', '<i8',
// '<i4', ...); values are converted to float64, so arrays saved from float32
// torch tensors load directly. It returns a *FileError wrapping ErrFormat for
// a file that is not .npy, an unsupported element type or a truncated or
// over-long data section, and wrapping ErrShape for arrays with no elements
// or more than two dimensions.
//
// Memory is bounded by the file, not by its header: a header longer than
// 1 MiB is rejected, and a shape announcing more data than the file holds
// gives the truncation error without allocating for it.
func ReadNPY(name string) (*mat.Dense, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("simulators: %w", err)
	}
	defer f.Close()
	size := int64(-1) // unknown for pipes and devices
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
		size = st.Size()
	}
	return decodeNPY(bufio.NewReader(f), name, size)
}

// maxNPYHeader bounds the header dictionary of a .npy file. numpy writes
// about 128 bytes for a two-dimensional array of a plain type (and np.load
// refuses more than 10,000 by default).
const maxNPYHeader = 1 << 20

// decodeNPY reads a .npy matrix from r, whose total length is size bytes
// (negative if unknown); name is used in errors.
func decodeNPY(r io.Reader, name string, size int64) (m *mat.Dense, err error) {
	fail := func(err error) error { return &FileError{File: name, Err: err} }
	hdr, hlen, err := readNPYHeader(r)
	if err != nil {
		return nil, fail(fmt.Errorf("not a valid .npy file: %v: %w", err, ErrFormat))
	}
	typ := strings.Trim(strings.TrimSpace(hdr.Descr.Type), `'"`)
	if len(typ) != 3 {
		return nil, fail(fmt.Errorf("element type %q not supported, want a float or integer of 4 or 8 bytes: %w", typ, ErrFormat))
	}
	var order binary.ByteOrder
	switch typ[0] {
	case '<', '|', '=': // '=' is native, little-endian on every platform Go runs numpy files from
		order = binary.LittleEndian
	case '>':
		order = binary.BigEndian
	}
	kind, elemSize := typ[1], typ[2]
	if order == nil || (kind != 'f' && kind != 'i') || (elemSize != '4' && elemSize != '8') {
		return nil, fail(fmt.Errorf("element type %q not supported, want a float or integer of 4 or 8 bytes: %w", typ, ErrFormat))
	}
	var rows, cols int
	switch shape := hdr.Descr.Shape; len(shape) {
	case 1:
		rows, cols = shape[0], 1
	case 2:
		rows, cols = shape[0], shape[1]
	default:
		return nil, fail(fmt.Errorf("array has shape %v, want one or two dimensions: %w", shape, ErrShape))
	}
	if rows <= 0 || cols <= 0 {
		return nil, fail(fmt.Errorf("array has shape %v with no elements: %w", hdr.Descr.Shape, ErrShape))
	}
	es := int(elemSize - '0')
	if rows > math.MaxInt/cols/es {
		return nil, fail(fmt.Errorf("array of shape %v is too large: %w", hdr.Descr.Shape, ErrFormat))
	}
	n := rows * cols
	want := int64(n * es)
	if size >= 0 {
		// The file's length tells at once whether the data is all there.
		if got := size - hlen; got != want {
			if got < want {
				return nil, fail(fmt.Errorf("truncated data: %d bytes, want %d for shape %v: %w", max(got, 0), want, hdr.Descr.Shape, ErrFormat))
			}
			return nil, fail(fmt.Errorf("%d bytes after the data of shape %v: %w", got-want, hdr.Descr.Shape, ErrFormat))
		}
	}
	var raw []byte
	if size >= 0 {
		// The size was checked above: allocate exactly.
		raw = make([]byte, want)
		got, err := io.ReadFull(r, raw)
		if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
			return nil, fail(fmt.Errorf("reading data: %w", err))
		}
		raw = raw[:got]
	} else if raw, err = readAtMost(r, want); err != nil {
		return nil, fail(fmt.Errorf("reading data: %w", err))
	}
	if int64(len(raw)) < want {
		return nil, fail(fmt.Errorf("truncated data: %d bytes, want %d for shape %v: %w", len(raw), want, hdr.Descr.Shape, ErrFormat))
	}
	if extra, _ := io.Copy(io.Discard, r); extra > 0 {
		return nil, fail(fmt.Errorf("%d bytes after the data of shape %v: %w", extra, hdr.Descr.Shape, ErrFormat))
	}
	data := make([]float64, n)
	for i := range data {
		b := raw[i*es : (i+1)*es]
		switch {
		case kind == 'f' && es == 8:
			data[i] = math.Float64frombits(order.Uint64(b))
		case kind == 'f':
			data[i] = float64(math.Float32frombits(order.Uint32(b)))
		case es == 8:
			data[i] = float64(int64(order.Uint64(b)))
		default:
			data[i] = float64(int32(order.Uint32(b)))
		}
	}
	if !hdr.Descr.Fortran {
		return mat.NewDense(rows, cols, data), nil
	}
	m = mat.NewDense(rows, cols, nil)
	for j := range cols {
		for i := range rows {
			m.Set(i, j, data[j*rows+i])
		}
	}
	return m, nil
}

// readAtMost reads n bytes from r, or fewer if r ends first, allocating as
// the data arrives (starting at 64 KiB and doubling) rather than trusting n.
func readAtMost(r io.Reader, n int64) ([]byte, error) {
	buf := make([]byte, 0, min(n, 64<<10))
	for int64(len(buf)) < n {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, int(min(n-int64(len(buf)), int64(len(buf)))))
		}
		k := int(min(int64(cap(buf)-len(buf)), n-int64(len(buf))))
		got, err := io.ReadFull(r, buf[len(buf):len(buf)+k])
		buf = buf[:len(buf)+got]
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
	return buf, nil
}

// readNPYHeader reads the preamble and header of a .npy file and parses
// the header with npyio, turning its panics on malformed input into errors.
// It returns the header and the number of bytes it consumed. The header
// length field is checked against maxNPYHeader before anything is
// allocated for it (npyio would allocate whatever a version 2 file
// announces, up to 4 GiB).
func readNPYHeader(r io.Reader) (hdr npyio.Header, consumed int64, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("bad header: %v", p)
		}
	}()
	pre := make([]byte, 12, 12+256)
	if _, err := io.ReadFull(r, pre[:8]); err != nil {
		return hdr, 0, fmt.Errorf("reading the preamble: %w", err)
	}
	if string(pre[:6]) != "\x93NUMPY" {
		return hdr, 0, npyio.ErrInvalidNumPyFormat
	}
	var hlen int
	switch pre[6] {
	case 1:
		pre = pre[:10]
		if _, err := io.ReadFull(r, pre[8:10]); err != nil {
			return hdr, 0, fmt.Errorf("reading the header length: %w", err)
		}
		hlen = int(binary.LittleEndian.Uint16(pre[8:10]))
	case 2:
		if _, err := io.ReadFull(r, pre[8:12]); err != nil {
			return hdr, 0, fmt.Errorf("reading the header length: %w", err)
		}
		h := binary.LittleEndian.Uint32(pre[8:12])
		if h > maxNPYHeader {
			return hdr, 0, fmt.Errorf("header of %d bytes, more than %d", h, maxNPYHeader)
		}
		hlen = int(h)
	default:
		return hdr, 0, fmt.Errorf("format version %d.%d, want 1.0 or 2.0", pre[6], pre[7])
	}
	b, err := readAtMost(r, int64(hlen))
	if err != nil {
		return hdr, 0, err
	}
	if len(b) < hlen {
		return hdr, 0, fmt.Errorf("header truncated: %d bytes, want %d", len(b), hlen)
	}
	nr, err := npyio.NewReader(bytes.NewReader(append(pre, b...)))
	if err != nil {
		return hdr, 0, err
	}
	return nr.Header, int64(len(pre) + hlen), nil
}

// SaveCSV writes d to two CSV files, θ to thetaFile and x to xFile, with
// d.ThetaNames and d.XNames (or theta_1.., x_1..) as headers. It returns an
// error wrapping ErrShape for an empty or invalid dataset.
func (d *Dataset) SaveCSV(thetaFile, xFile string) error {
	if err := d.checkSave(); err != nil {
		return err
	}
	tn, xn := d.names()
	if err := WriteCSV(thetaFile, d.Theta, tn); err != nil {
		return err
	}
	return WriteCSV(xFile, d.X, xn)
}

// LoadCSV reads a dataset written by SaveCSV (or by pandas' to_csv with
// index=False, or numpy.savetxt with a header and delimiter ","): θ from
// thetaFile, x from xFile, the headers becoming the names. It returns the
// errors of ReadCSV and one wrapping ErrShape, naming both files, when they
// have different numbers of rows.
func LoadCSV(thetaFile, xFile string) (*Dataset, error) {
	theta, tn, err := ReadCSV(thetaFile)
	if err != nil {
		return nil, err
	}
	x, xn, err := ReadCSV(xFile)
	if err != nil {
		return nil, err
	}
	return pair(thetaFile, xFile, theta, x, tn, xn)
}

// SaveNPY writes d to two .npy files, θ to thetaFile and x to xFile, for
// numpy.load (and torch.from_numpy, for Python's sbi). Names are not saved.
func (d *Dataset) SaveNPY(thetaFile, xFile string) error {
	if err := d.checkSave(); err != nil {
		return err
	}
	if err := WriteNPY(thetaFile, d.Theta); err != nil {
		return err
	}
	return WriteNPY(xFile, d.X)
}

// LoadNPY reads a dataset from two .npy files, θ from thetaFile and x from
// xFile, as ReadNPY does. It returns an error wrapping ErrShape, naming both
// files, when they have different numbers of rows.
func LoadNPY(thetaFile, xFile string) (*Dataset, error) {
	theta, err := ReadNPY(thetaFile)
	if err != nil {
		return nil, err
	}
	x, err := ReadNPY(xFile)
	if err != nil {
		return nil, err
	}
	return pair(thetaFile, xFile, theta, x, nil, nil)
}

func pair(thetaFile, xFile string, theta, x *mat.Dense, tn, xn []string) (*Dataset, error) {
	tr, _ := theta.Dims()
	xr, _ := x.Dims()
	if tr != xr {
		return nil, fmt.Errorf("simulators: %s has %d rows but %s has %d: %w", thetaFile, tr, xFile, xr, ErrShape)
	}
	return &Dataset{Theta: theta, X: x, ThetaNames: tn, XNames: xn}, nil
}

func (d *Dataset) checkSave() error {
	if err := d.Validate(); err != nil {
		return err
	}
	if d.Len() == 0 {
		return fmt.Errorf("simulators: save: empty dataset: %w", ErrShape)
	}
	return nil
}

func (d *Dataset) names() (theta, x []string) {
	tc, xc := d.Dims()
	theta, x = d.ThetaNames, d.XNames
	if theta == nil {
		theta = defaultNames("theta", tc)
	}
	if x == nil {
		x = defaultNames("x", xc)
	}
	return theta, x
}
