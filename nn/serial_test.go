package nn

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
)

func testTensors() []*Tensor {
	a := NewParam("layer.0.weight", 2, 3)
	copy(a.Data, []float64{1.5, -0, math.Inf(1), math.Inf(-1), math.NaN(), 5e-324})
	b := NewParam("layer.0.bias", 1, 2)
	copy(b.Data, []float64{math.MaxFloat64, -math.SmallestNonzeroFloat64})
	c := NewParam("empty", 0, 4)
	d := NewParam("ünïcode \"quoted\"", 3, 1)
	copy(d.Data, []float64{math.Pi, -math.E, 1e-300})
	return []*Tensor{a, b, c, d}
}

func saved(t *testing.T, ts []*Tensor, meta map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := SaveMeta(&buf, ts, meta); err != nil {
		t.Fatalf("SaveMeta: %v", err)
	}
	return buf.Bytes()
}

func bitsEqual(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float64bits(a[i]) != math.Float64bits(b[i]) {
			return false
		}
	}
	return true
}

// zeroed returns tensors with the names and shapes of ts but zero values.
func zeroed(ts []*Tensor) []*Tensor {
	out := make([]*Tensor, len(ts))
	for i, t := range ts {
		out[i] = NewParam(t.Name, t.Rows, t.Cols)
	}
	return out
}

func TestSaveLoadRoundTrip(t *testing.T) {
	t.Parallel()
	ts := testTensors()
	meta := map[string]string{"arch": `{"widths":[4,50,4]}`, "x": ""}
	file := saved(t, ts, meta)

	// Load into existing tensors given in a different order.
	dst := zeroed(ts)
	slices.Reverse(dst)
	if err := Load(bytes.NewReader(file), dst); err != nil {
		t.Fatalf("Load: %v", err)
	}
	slices.Reverse(dst)
	for i := range ts {
		if !bitsEqual(dst[i].Data, ts[i].Data) {
			t.Errorf("Load %s: got %v, want %v", ts[i].Name, dst[i].Data, ts[i].Data)
		}
	}

	got, gotMeta, err := Read(bytes.NewReader(file))
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if len(got) != len(ts) {
		t.Fatalf("Read: got %d tensors, want %d", len(got), len(ts))
	}
	for i := range ts {
		if got[i].Name != ts[i].Name || got[i].Rows != ts[i].Rows || got[i].Cols != ts[i].Cols || !bitsEqual(got[i].Data, ts[i].Data) {
			t.Errorf("Read tensor %d: got %v %v, want %v %v", i, got[i], got[i].Data, ts[i], ts[i].Data)
		}
	}
	if len(gotMeta) != len(meta) || gotMeta["arch"] != meta["arch"] {
		t.Errorf("Read meta: got %v, want %v", gotMeta, meta)
	}

	// Saving is deterministic, and the file of the loaded tensors is
	// byte-identical.
	if again := saved(t, dst, meta); !bytes.Equal(again, file) {
		t.Errorf("re-saved file differs from the original")
	}
}

func TestSaveLoadMLP(t *testing.T) {
	t.Parallel()
	src := NewMLP("net", []int{3, 7, 2}, Tanh, rand.New(rand.NewPCG(1, 2)))
	dst := NewMLP("net", []int{3, 7, 2}, Tanh, rand.New(rand.NewPCG(3, 4)))
	var buf bytes.Buffer
	if err := Save(&buf, src.Params()); err != nil {
		t.Fatal(err)
	}
	if err := Load(&buf, dst.Params()); err != nil {
		t.Fatal(err)
	}
	x := FromSlice(2, 3, []float64{0.1, -0.2, 0.3, 1, 2, -3})
	var tp *Tape
	if got, want := dst.Forward(tp, x).Data, src.Forward(tp, x).Data; !bitsEqual(got, want) {
		t.Errorf("outputs after load: got %v, want %v", got, want)
	}
}

// TestLoadEmbedded checks that a reader consumes exactly one file, so files
// can be concatenated or embedded.
func TestLoadEmbedded(t *testing.T) {
	t.Parallel()
	ts := testTensors()
	file := saved(t, ts, nil)
	stream := bytes.NewReader(slices.Concat(file, file, []byte("tail")))
	for k := 0; k < 2; k++ {
		if err := Load(stream, zeroed(ts)); err != nil {
			t.Fatalf("file %d: %v", k, err)
		}
	}
	if rest := stream.Len(); rest != 4 {
		t.Errorf("bytes left after two files: got %d, want 4", rest)
	}
}

func TestSaveErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		ts   []*Tensor
		want error
	}{
		{"empty name", []*Tensor{New(1, 1)}, ErrName},
		{"duplicate", []*Tensor{NewParam("a", 1, 1), NewParam("a", 2, 1)}, ErrName},
		{"bad data length", []*Tensor{{Name: "a", Rows: 2, Cols: 2, Data: make([]float64, 3)}}, ErrShape},
	} {
		var buf bytes.Buffer
		if err := Save(&buf, tc.ts); !errors.Is(err, tc.want) {
			t.Errorf("%s: got error %v, want %v", tc.name, err, tc.want)
		}
	}
}

// craft builds a file from raw parts, with a correct checksum.
func craft(magic string, version uint32, header string, data []byte) []byte {
	var b []byte
	b = append(b, magic...)
	b = binary.LittleEndian.AppendUint32(b, version)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(header)))
	b = append(b, header...)
	b = append(b, data...)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)))
}

func TestLoadCorrupt(t *testing.T) {
	t.Parallel()
	ts := testTensors()
	file := saved(t, ts, map[string]string{"k": "v"})
	good := `{"tensors":[{"name":"a","shape":[1,2],"offset":0}]}`
	data16 := make([]byte, 16)
	a := NewParam("a", 1, 2)
	a.Data[0], a.Data[1] = 1, 2
	fileA := saved(t, []*Tensor{a}, nil)
	for _, tc := range []struct {
		name string
		file []byte
		want error
	}{
		{"empty", nil, ErrFormat},
		{"flipped magic", append([]byte("GOSBI-NX"), file[8:]...), ErrFormat},
		{"wrong version", craft("GOSBI-NN", 2, good, data16), ErrVersion},
		{"version zero", craft("GOSBI-NN", 0, good, data16), ErrVersion},
		{"header garbage", craft("GOSBI-NN", 1, `{"tensors":[{"name":`, data16), ErrFormat},
		{"header not an object", craft("GOSBI-NN", 1, `[1,2,3]`, data16), ErrFormat},
		{"header binary", craft("GOSBI-NN", 1, "\x00\xff\xfe\x01", data16), ErrFormat},
		{"header too short", craft("GOSBI-NN", 1, "", data16), ErrFormat},
		{"rank 3", craft("GOSBI-NN", 1, `{"tensors":[{"name":"a","shape":[1,2,1],"offset":0}]}`, data16), ErrFormat},
		{"negative shape", craft("GOSBI-NN", 1, `{"tensors":[{"name":"a","shape":[-1,2],"offset":0}]}`, data16), ErrFormat},
		{"bad offset", craft("GOSBI-NN", 1, `{"tensors":[{"name":"a","shape":[1,2],"offset":8}]}`, data16), ErrFormat},
		{"duplicate name", craft("GOSBI-NN", 1, `{"tensors":[{"name":"a","shape":[1,1],"offset":0},{"name":"a","shape":[1,1],"offset":8}]}`, data16), ErrFormat},
		{"no name", craft("GOSBI-NN", 1, `{"tensors":[{"shape":[1,2],"offset":0}]}`, data16), ErrFormat},
		{"overflowing shape", craft("GOSBI-NN", 1, `{"tensors":[{"name":"a","shape":[4294967296,4294967296],"offset":0}]}`, data16), ErrFormat},
		{"shape beyond int", craft("GOSBI-NN", 1, `{"tensors":[{"name":"a","shape":[1e30,1],"offset":0}]}`, data16), ErrFormat},
		{"huge shape, little data", craft("GOSBI-NN", 1, `{"tensors":[{"name":"a","shape":[1000000000,100],"offset":0}]}`, data16), ErrFormat},
		{"huge header length", append(append([]byte("GOSBI-NN\x01\x00\x00\x00"), 0xff, 0xff, 0xff, 0xff), file[16:]...), ErrFormat},
		{"header length past end", append(append([]byte("GOSBI-NN\x01\x00\x00\x00"), 0x00, 0x00, 0x00, 0x01), file[16:]...), ErrFormat},
		{"missing checksum", fileA[:len(fileA)-4], ErrFormat},
		{"bad checksum", append(slices.Clone(fileA[:len(fileA)-4]), 1, 2, 3, 4), ErrFormat},
		{"data flipped", append(slices.Clone(fileA[:len(fileA)-5]), fileA[len(fileA)-5]^1, fileA[len(fileA)-4], fileA[len(fileA)-3], fileA[len(fileA)-2], fileA[len(fileA)-1]), ErrFormat},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := Read(bytes.NewReader(tc.file)); !errors.Is(err, tc.want) {
				t.Errorf("Read: got error %v, want %v", err, tc.want)
			}
			dst := []*Tensor{NewParam("a", 1, 2)}
			if err := Load(bytes.NewReader(tc.file), dst); !errors.Is(err, tc.want) && !errors.Is(err, ErrShape) {
				t.Errorf("Load: got error %v, want %v", err, tc.want)
			}
			if dst[0].Data[0] != 0 || dst[0].Data[1] != 0 {
				t.Errorf("Load modified the destination on error: %v", dst[0].Data)
			}
		})
	}
}

// TestReadHugeShapeBounded checks that a header announcing a huge tensor
// over a short file does not make Read allocate memory for it.
func TestReadHugeShapeBounded(t *testing.T) {
	file := craft("GOSBI-NN", 1, `{"tensors":[{"name":"a","shape":[1000000000,1000],"offset":0}]}`, make([]byte, 800))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, _, err := Read(bytes.NewReader(file))
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrFormat) {
		t.Fatalf("got error %v, want ErrFormat", err)
	}
	// One 64 Ki-value chunk (512 KiB) plus bookkeeping; the announced size
	// is 8 TB.
	if got := after.TotalAlloc - before.TotalAlloc; got > 4<<20 {
		t.Errorf("Read allocated %d bytes for a 800-byte data section", got)
	}
}

// TestLoadEveryTruncation truncates a small file at every byte offset and
// flips every byte: each must give an error, never a panic or success.
func TestLoadEveryTruncation(t *testing.T) {
	t.Parallel()
	ts := testTensors()
	file := saved(t, ts, map[string]string{"k": "v"})
	for n := 0; n < len(file); n++ {
		if err := Load(bytes.NewReader(file[:n]), zeroed(ts)); !errors.Is(err, ErrFormat) {
			t.Fatalf("Load of the first %d of %d bytes: got error %v, want ErrFormat", n, len(file), err)
		}
		if _, _, err := Read(bytes.NewReader(file[:n])); !errors.Is(err, ErrFormat) {
			t.Fatalf("Read of the first %d of %d bytes: got error %v, want ErrFormat", n, len(file), err)
		}
	}
	for i := range file {
		bad := slices.Clone(file)
		bad[i] ^= 0x5a
		if err := Load(bytes.NewReader(bad), zeroed(ts)); err == nil {
			t.Fatalf("Load with byte %d flipped: no error", i)
		}
		if _, _, err := Read(bytes.NewReader(bad)); err == nil {
			t.Fatalf("Read with byte %d flipped: no error", i)
		}
	}
}

func TestLoadMismatch(t *testing.T) {
	t.Parallel()
	ts := testTensors()
	file := saved(t, ts, nil)
	wrongShape := zeroed(ts)
	wrongShape[1] = NewParam(ts[1].Name, 2, 1)
	missing := zeroed(ts)[:3]
	extra := append(zeroed(ts), NewParam("extra", 1, 1))
	renamed := zeroed(ts)
	renamed[0].Name = "other"
	dup := append(zeroed(ts), NewParam(ts[0].Name, 2, 3))
	for _, tc := range []struct {
		name string
		dst  []*Tensor
		want error
	}{
		{"shape", wrongShape, ErrShape},
		{"file has more", missing, ErrName},
		{"destination has more", extra, ErrName},
		{"renamed", renamed, ErrName},
		{"duplicate destination", dup, ErrName},
	} {
		err := Load(bytes.NewReader(file), tc.dst)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: got error %v, want %v", tc.name, err, tc.want)
		}
		for _, d := range tc.dst {
			for _, v := range d.Data {
				if v != 0 {
					t.Fatalf("%s: Load modified %s on error", tc.name, d.Name)
				}
			}
		}
	}
}

// FuzzRead checks that no input makes Read or Load panic, and that any
// input Read accepts re-saves to an identical file.
func FuzzRead(f *testing.F) {
	var buf bytes.Buffer
	_ = SaveMeta(&buf, testTensors(), map[string]string{"k": "v"})
	f.Add(buf.Bytes())
	f.Add(craft("GOSBI-NN", 1, `{"tensors":[{"name":"a","shape":[1,2],"offset":0}]}`, make([]byte, 16)))
	f.Fuzz(func(t *testing.T, b []byte) {
		ts, meta, err := Read(bytes.NewReader(b))
		_ = Load(bytes.NewReader(b), []*Tensor{NewParam("a", 1, 2)})
		if err != nil {
			return
		}
		var out bytes.Buffer
		if err := SaveMeta(&out, ts, meta); err != nil {
			t.Fatalf("re-saving an accepted file: %v", err)
		}
		if _, _, err := Read(&out); err != nil {
			t.Fatalf("reading a re-saved file: %v", err)
		}
	})
}
