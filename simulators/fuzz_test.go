package simulators

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"codeberg.org/sbinet/npyio"
)

// genCorpus regenerates the committed seed corpora under testdata/fuzz
// (the bzip2 seeds need the bzip2 command):
//
//	go test ./simulators/ -run TestGenerateFuzzCorpus -gencorpus
var genCorpus = flag.Bool("gencorpus", false, "rewrite the seed corpora in testdata/fuzz")

// writeCorpus writes one seed file in the format of go test's fuzzing
// engine: "go test fuzz v1" and one line per argument.
func writeCorpus(t *testing.T, target, name string, args ...any) {
	t.Helper()
	var b strings.Builder
	b.WriteString("go test fuzz v1\n")
	for _, a := range args {
		switch a := a.(type) {
		case []byte:
			fmt.Fprintf(&b, "[]byte(%s)\n", strconv.Quote(string(a)))
		case bool:
			fmt.Fprintf(&b, "bool(%v)\n", a)
		case uint8:
			fmt.Fprintf(&b, "uint8(%d)\n", a)
		default:
			t.Fatalf("writeCorpus: unsupported type %T", a)
		}
	}
	dir := filepath.Join("testdata", "fuzz", target)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// bzip2Bytes compresses b with the bzip2 command.
func bzip2Bytes(t *testing.T, b []byte) []byte {
	t.Helper()
	cmd := exec.Command("bzip2", "-c")
	cmd.Stdin = bytes.NewReader(b)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("bzip2: %v", err)
	}
	return out
}

// npyV2 builds a version 2.0 .npy file (4-byte header length).
func npyV2(descr, shape string, data []byte) []byte {
	h := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, shape)
	pad := 64 - (12+len(h)+1)%64
	h += strings.Repeat(" ", pad%64) + "\n"
	var b bytes.Buffer
	b.WriteString("\x93NUMPY\x02\x00")
	binary.Write(&b, binary.LittleEndian, uint32(len(h)))
	b.WriteString(h)
	b.Write(data)
	return b.Bytes()
}

// hugeHeaderNPY is a version 2.0 preamble announcing a 4 GiB header.
var hugeHeaderNPY = []byte("\x93NUMPY\x02\x00\xff\xff\xff\xff{'descr': '<f8', ")

// TestGenerateFuzzCorpus writes the seed corpora when run with -gencorpus.
func TestGenerateFuzzCorpus(t *testing.T) {
	if !*genCorpus {
		t.Skip("run with -gencorpus to rewrite testdata/fuzz")
	}
	le, be := binary.LittleEndian, binary.BigEndian
	csvs := map[string]string{
		"observation":  "data_1,data_2\n-0.6396706,0.16234657\n",
		"samples":      "parameter_1,parameter_2\n-0.8059562,-0.5836492\n0.6062782,0.7996782\n0.1,-0.2\n",
		"nonfinite":    "a,b,c\nNaN,+Inf,-Inf\n1e400,-1e-400,0x1p-3\n",
		"bom-quoted":   "\ufeff\"a, with comma\",\" b \"\n 1 , 2\n",
		"crlf":         "a,b\r\n1,2\r\n3,4\r\n",
		"ragged":       "a,b\n1,2\n3\n",
		"empty-cell":   "a,b\n1,\n",
		"not-a-number": "a,b\n1,abc\n",
		"header-only":  "a,b\n",
		"empty":        "",
		"bare-quote":   "a,b\n1,\"2\n",
		"blank-lines":  "a\n\n1\n\n2\n",
	}
	for name, c := range csvs {
		writeCorpus(t, "FuzzReadCSV", name, []byte(c))
	}
	six := encode(le, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0)
	npys := map[string][]byte{
		"f8":             npyFile("<f8", false, "(2, 3)", six),
		"f4":             npyFile("<f4", false, "(2, 2)", encode(le, float32(1), float32(0.5), float32(-2), float32(3))),
		"big-endian":     npyFile(">f8", false, "(2, 1)", encode(be, 1.25, -1e-300)),
		"i8":             npyFile("<i8", false, "(1, 3)", encode(le, int64(-5), int64(0), int64(1<<40))),
		"i4-1d":          npyFile("<i4", false, "(3,)", encode(le, int32(1), int32(-2), int32(3))),
		"fortran":        npyFile("<f8", true, "(2, 3)", six),
		"v2":             npyV2("<f8", "(3, 2)", six),
		"truncated":      npyFile("<f8", false, "(3, 2)", six[:40]),
		"trailing":       npyFile("<f8", false, "(2, 2)", six),
		"3d":             npyFile("<f8", false, "(1, 2, 3)", six),
		"huge-shape":     npyFile("<f8", false, "(1000000000, 1000000000)", six),
		"overflow-shape": npyFile("<f8", false, "(9223372036854775807, 3)", six),
		"negative-shape": npyFile("<f8", false, "(-1, 3)", six),
		"huge-header":    hugeHeaderNPY,
		"no-newline":     []byte("\x93NUMPY\x01\x00\x05\x00{'des"),
		"complex":        npyFile("<c16", false, "(1, 1)", six[:16]),
		"version-3":      []byte("\x93NUMPY\x03\x00\x10\x00\x00\x00{'descr': '<f8'}\n"),
		"csv":            []byte("a,b\n1,2\n"),
	}
	for name, b := range npys {
		writeCorpus(t, "FuzzReadNPY", name, b)
	}
	if _, err := exec.LookPath("bzip2"); err != nil {
		t.Fatal("bzip2 command not found: cannot write the compressed reference seeds")
	}
	samples := []byte(csvs["samples"])
	packed := bzip2Bytes(t, samples)
	bomb := bzip2Bytes(t, bytes.Repeat([]byte("0,0\n"), 1<<18)) // 1 MiB of text
	refs := []struct {
		name       string
		data       []byte
		bz2        bool
		rows, cols uint8
	}{
		{"observation", []byte(csvs["observation"]), false, 1, 2},
		{"samples-bz2", packed, true, 0, 2},
		{"samples-plain-as-bz2", samples, true, 0, 2},
		{"bz2-truncated", packed[:len(packed)/2], true, 0, 2},
		{"bz2-flipped", append(bytes.Clone(packed[:20]), append([]byte{packed[20] ^ 0x10}, packed[21:]...)...), true, 0, 2},
		{"bz2-expanding", bomb, true, 0, 2},
		{"wrong-columns", []byte(csvs["observation"]), false, 1, 3},
		{"wrong-rows", []byte(csvs["samples"]), false, 1, 2},
	}
	for _, r := range refs {
		writeCorpus(t, "FuzzReadReference", r.name, r.data, r.bz2, r.rows, r.cols)
	}
	lines := map[string]string{
		"x":            `{"x": [1, 2.5e-3, -4]}` + "\n",
		"nonfinite":    `{"x":[NaN,Infinity,-Infinity,null]}` + "\n",
		"error":        `{"error": "bad NaN Infinity \"quoted\" here"}` + "\n",
		"both":         `{"x": [1], "error": "both"}` + "\n",
		"extra-fields": `{"x": [1], "seconds": 0.25}` + "\n",
		"two-values":   `{"x": [1]} {"x": [2]}` + "\n",
		"several":      "{\"x\": [1]}\r\n\n{\"x\": [\"2\"]}\nnot json\n{\"x\": [1e999]}",
		"long":         `{"x": [` + strings.Repeat("1,", 200) + "1]}\n",
		"nested":       `{"x": [[1]], "error": {"a": NaN}}` + "\n",
	}
	for name, l := range lines {
		writeCorpus(t, "FuzzProtocol", name, []byte(l))
	}
}

// checkFileError fails unless err is a *FileError naming name and wrapping
// one of want.
func checkFileError(t *testing.T, err error, name string, want ...error) {
	t.Helper()
	var fe *FileError
	if !errors.As(err, &fe) || fe.File != name {
		t.Fatalf("error %v (%T) is not a *FileError naming %s", err, err, name)
	}
	for _, w := range want {
		if errors.Is(err, w) {
			return
		}
	}
	t.Fatalf("error %v wraps none of %v", err, want)
}

// FuzzReadCSV feeds arbitrary bytes to the CSV matrix reader behind
// ReadCSV, LoadCSV and the CLI's observation files: it must return a
// *FileError wrapping ErrFormat or a matrix with one header name per column
// that survives a write/read round trip bit for bit.
func FuzzReadCSV(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		m, header, err := decodeCSV(bytes.NewReader(data), "f.csv")
		if err != nil {
			checkFileError(t, err, "f.csv", ErrFormat)
			return
		}
		r, c := m.Dims()
		if r < 1 || c < 1 || len(header) != c {
			t.Fatalf("accepted a %d×%d matrix with %d header names", r, c, len(header))
		}
		var buf bytes.Buffer
		if err := encodeCSV(&buf, m, defaultNames("col", c)); err != nil {
			t.Fatalf("writing an accepted matrix: %v", err)
		}
		back, _, err := decodeCSV(&buf, "back.csv")
		if err != nil {
			t.Fatalf("reading back an accepted matrix: %v", err)
		}
		if !sameBitsOrNaN(back, m) {
			t.Fatalf("round trip changed the matrix")
		}
	})
}

// FuzzReadNPY feeds arbitrary bytes to the .npy reader, with the file size
// known (ReadNPY on a regular file) and unknown (a pipe): both must agree,
// errors must be *FileErrors wrapping ErrFormat or ErrShape, and accepted
// matrices must survive a write/read round trip bit for bit.
func FuzzReadNPY(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := decodeNPY(bytes.NewReader(data), "f.npy", int64(len(data)))
		m2, err2 := decodeNPY(bytes.NewReader(data), "f.npy", -1)
		if (err == nil) != (err2 == nil) {
			t.Fatalf("size known: %v; size unknown: %v", err, err2)
		}
		if err != nil {
			checkFileError(t, err, "f.npy", ErrFormat, ErrShape)
			checkFileError(t, err2, "f.npy", ErrFormat, ErrShape)
			return
		}
		if !sameBitsOrNaN(m, m2) {
			t.Fatalf("size known and unknown read different matrices")
		}
		var buf bytes.Buffer
		if err := npyio.Write(&buf, m); err != nil {
			t.Fatalf("writing an accepted matrix: %v", err)
		}
		back, err := decodeNPY(bytes.NewReader(buf.Bytes()), "back.npy", int64(buf.Len()))
		if err != nil {
			t.Fatalf("reading back an accepted matrix: %v", err)
		}
		if !sameBitsOrNaN(back, m) {
			t.Fatalf("round trip changed the matrix")
		}
	})
}

// FuzzReadReference feeds arbitrary bytes, plain or as bzip2, to the sbibm
// reference reader (observations, true parameters, posterior samples, the
// slcp_distractors constants) with an expected shape: it must return a
// *FileError wrapping ErrFormat or ErrShape, or a matrix of that shape.
func FuzzReadReference(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte, bz2 bool, rows, cols uint8) {
		nr, nc := int(rows%4), 1+int(cols%12) // rows 0 means any number
		m, err := decodeRef(bytes.NewReader(data), "ref.csv", bz2, maxRefBytes, nr, nc)
		if err != nil {
			checkFileError(t, err, "ref.csv", ErrFormat, ErrShape)
			return
		}
		r, c := m.Dims()
		if c != nc || (nr > 0 && r != nr) || r < 1 {
			t.Fatalf("accepted a %d×%d matrix, want %d columns and %d rows (0: any)", r, c, nc, nr)
		}
	})
}

// FuzzProtocol feeds an arbitrary byte stream, as an external simulator's
// standard output, through the line reader and the response parser of
// Command: lines are cut at newlines and at the length limit, never lost
// or reordered, and each parses to x, an error message, or a protocol
// error, consistently with a re-encoding of what it decoded.
func FuzzProtocol(f *testing.F) {
	const limit = 256 // small, so that the fuzzer reaches the limit
	f.Fuzz(func(t *testing.T, stream []byte) {
		br := bufio.NewReaderSize(bytes.NewReader(stream), 16) // fragments lines
		var seen []byte
		for {
			line, err := readLine(br, limit)
			if line == nil && err == nil {
				// Over the limit: everything before it was returned intact.
				if rest := stream[len(seen):]; len(rest) <= limit || bytes.IndexByte(rest[:limit], '\n') >= 0 {
					t.Fatalf("over-limit marker for a line of at most %d bytes", limit)
				}
				return
			}
			if len(line) > limit {
				t.Fatalf("line of %d bytes, limit %d", len(line), limit)
			}
			seen = append(seen, line...)
			if !bytes.HasPrefix(stream, seen) {
				t.Fatalf("lines do not reassemble the stream")
			}
			if len(line) > 0 {
				checkResponse(t, line)
			}
			if err != nil {
				if len(seen) != len(stream) {
					t.Fatalf("stream ended after %d of %d bytes", len(seen), len(stream))
				}
				return
			}
		}
	})
}

// checkResponse parses one line and, when it holds x, checks that the
// values re-encoded as an external program would write them parse back to
// the same bits.
func checkResponse(t *testing.T, line []byte) {
	t.Helper()
	x, msg, err := parseResponse(line)
	switch {
	case err != nil:
		if x != nil || msg != nil {
			t.Fatalf("parse error %v with a result", err)
		}
		return
	case msg != nil:
		if x != nil {
			t.Fatalf("both x and a message")
		}
		return
	case x == nil:
		t.Fatalf("neither x, a message nor an error for %q", line)
	}
	b := []byte(`{"x":[`)
	for i, v := range x {
		if i > 0 {
			b = append(b, ',')
		}
		switch {
		case math.IsNaN(v):
			b = append(b, "NaN"...)
		case math.IsInf(v, 1):
			b = append(b, "Infinity"...)
		case math.IsInf(v, -1):
			b = append(b, "-Infinity"...)
		default:
			b = strconv.AppendFloat(b, v, 'g', -1, 64)
		}
	}
	b = append(b, "]}\n"...)
	y, msg, err := parseResponse(b)
	if err != nil || msg != nil || len(y) != len(x) {
		t.Fatalf("re-encoded response %q: %v, %v, %d values; want %d values", b, err, msg, len(y), len(x))
	}
	for i := range x {
		if math.Float64bits(x[i]) != math.Float64bits(y[i]) && !(math.IsNaN(x[i]) && math.IsNaN(y[i])) {
			t.Fatalf("value %d: %v re-parsed as %v", i, x[i], y[i])
		}
	}
}

// TestFuzzSeedsCoverTheReaders checks that the committed seeds reach the
// interesting outcomes (a seed corpus of only rejected files would fuzz
// nothing but the first check).
func TestFuzzSeedsCoverTheReaders(t *testing.T) {
	for _, tc := range []struct {
		target string
		args   int
	}{{"FuzzReadCSV", 1}, {"FuzzReadNPY", 1}, {"FuzzReadReference", 4}, {"FuzzProtocol", 1}} {
		files, err := filepath.Glob(filepath.Join("testdata", "fuzz", tc.target, "*"))
		if err != nil || len(files) < 5 {
			t.Errorf("%s: %d seed files (%v), want at least 5", tc.target, len(files), err)
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSpace(string(b)), "\n")
			if lines[0] != "go test fuzz v1" || len(lines) != 1+tc.args {
				t.Errorf("%s: not a corpus file with %d arguments", f, tc.args)
			}
		}
	}
	// One accepted and one rejected input per reader.
	if _, _, err := decodeCSV(strings.NewReader("a,b\n1,2\n"), "f"); err != nil {
		t.Errorf("valid CSV: %v", err)
	}
	if _, err := decodeNPY(bytes.NewReader(npyV2("<f8", "(1, 1)", encode(binary.LittleEndian, 1.0))), "f", -1); err != nil {
		t.Errorf("valid version 2 .npy: %v", err)
	}
	if _, err := decodeNPY(bytes.NewReader(hugeHeaderNPY), "f", -1); !errors.Is(err, ErrFormat) {
		t.Errorf("4 GiB header: got %v, want ErrFormat", err)
	}
}
