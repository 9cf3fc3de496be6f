package nn

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"math"
)

// Save writes the values of ts (named tensors, typically a module's
// Params) to w in the file format below. It returns an error wrapping
// ErrName if a name is empty or repeated, and any write error of w.
//
// File format (version 1), in the spirit of safetensors. All integers and
// floats are little-endian.
//
//	offset  size  content
//	0       8     magic "GOSBI-NN"
//	8       4     format version, uint32 (currently 1)
//	12      4     header length H in bytes, uint32, 2 <= H <= MaxHeaderLen
//	16      H     header: a UTF-8 JSON object (see below)
//	16+H    D     data: each tensor's Rows*Cols float64 values, row-major,
//	              in header order, contiguous
//	16+H+D  4     CRC-32 (Castagnoli) of all preceding bytes, uint32
//
// The header is
//
//	{"tensors":[{"name":"l0.weight","shape":[50,4],"offset":0}, …],
//	 "meta":{"key":"value", …}}
//
// where offset is the byte offset of the tensor's data within the data
// section (it must equal the sum of the sizes of the preceding tensors, so
// D is the total size) and meta is an optional map of strings. Names are
// non-empty and unique. A reader consumes exactly the bytes of one file and
// nothing after it, so files can be embedded in larger streams.
func Save(w io.Writer, ts []*Tensor) error { return SaveMeta(w, ts, nil) }

const (
	fileMagic   = "GOSBI-NN"
	fileVersion = 1
	// MaxHeaderLen bounds the JSON header of a parameter file (16 MiB).
	MaxHeaderLen = 16 << 20
	// maxElems bounds the element count of one tensor in a file (2^40
	// values, 8 TiB), far above any real model, so that sizes never
	// overflow.
	maxElems int64 = 1 << 40
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

type fileHeader struct {
	Tensors []fileEntry       `json:"tensors"`
	Meta    map[string]string `json:"meta,omitempty"`
}

type fileEntry struct {
	Name   string `json:"name"`
	Shape  []int  `json:"shape"`
	Offset int64  `json:"offset"`
}

// SaveMeta is Save with a map of string metadata stored in the header
// (e.g. an architecture description); Read returns it.
func SaveMeta(w io.Writer, ts []*Tensor, meta map[string]string) error {
	h := fileHeader{Tensors: make([]fileEntry, len(ts)), Meta: meta}
	seen := make(map[string]bool, len(ts))
	var off int64
	for i, t := range ts {
		if t.Name == "" {
			return fmt.Errorf("nn: save: tensor %d has no name: %w", i, ErrName)
		}
		if seen[t.Name] {
			return fmt.Errorf("nn: save: duplicate tensor name %q: %w", t.Name, ErrName)
		}
		if len(t.Data) != t.Rows*t.Cols {
			return fmt.Errorf("nn: save: tensor %q has %d values for shape %d×%d: %w", t.Name, len(t.Data), t.Rows, t.Cols, ErrShape)
		}
		seen[t.Name] = true
		h.Tensors[i] = fileEntry{Name: t.Name, Shape: []int{t.Rows, t.Cols}, Offset: off}
		off += 8 * int64(len(t.Data))
	}
	hdr, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("nn: save: encoding header: %w", err)
	}
	if len(hdr) > MaxHeaderLen {
		return fmt.Errorf("nn: save: header of %d bytes exceeds %d: %w", len(hdr), MaxHeaderLen, ErrInvalid)
	}
	cw := &crcWriter{w: w, h: crc32.New(castagnoli)}
	var pre [16]byte
	copy(pre[:8], fileMagic)
	binary.LittleEndian.PutUint32(pre[8:12], fileVersion)
	binary.LittleEndian.PutUint32(pre[12:16], uint32(len(hdr)))
	if _, err := cw.Write(pre[:]); err != nil {
		return fmt.Errorf("nn: save: %w", err)
	}
	if _, err := cw.Write(hdr); err != nil {
		return fmt.Errorf("nn: save: %w", err)
	}
	buf := make([]byte, 8*1024)
	for _, t := range ts {
		for d := t.Data; len(d) > 0; {
			n := min(len(d), len(buf)/8)
			for i, v := range d[:n] {
				binary.LittleEndian.PutUint64(buf[8*i:], math.Float64bits(v))
			}
			if _, err := cw.Write(buf[:8*n]); err != nil {
				return fmt.Errorf("nn: save: %w", err)
			}
			d = d[n:]
		}
	}
	var sum [4]byte
	binary.LittleEndian.PutUint32(sum[:], cw.h.Sum32())
	if _, err := w.Write(sum[:]); err != nil {
		return fmt.Errorf("nn: save: %w", err)
	}
	return nil
}

// Load reads a parameter file from r into the existing tensors ts,
// matching them by name. The file must contain exactly the names of ts,
// each with the same shape. On error no tensor is modified. Errors wrap
// ErrFormat (bad magic, truncated or corrupt data, bad header or
// checksum), ErrVersion, ErrName (missing or unexpected names) or ErrShape.
// Load reads exactly one file's bytes from r.
func Load(r io.Reader, ts []*Tensor) error {
	byName := make(map[string]*Tensor, len(ts))
	for _, t := range ts {
		if t.Name == "" {
			return fmt.Errorf("nn: load: destination tensor has no name: %w", ErrName)
		}
		if byName[t.Name] != nil {
			return fmt.Errorf("nn: load: duplicate destination name %q: %w", t.Name, ErrName)
		}
		byName[t.Name] = t
	}
	fr, h, err := readHeader(r)
	if err != nil {
		return err
	}
	for _, e := range h.Tensors {
		t := byName[e.Name]
		if t == nil {
			return fmt.Errorf("nn: load: file has tensor %q that is not among the destinations: %w", e.Name, ErrName)
		}
		if e.Shape[0] != t.Rows || e.Shape[1] != t.Cols {
			return fmt.Errorf("nn: load: tensor %q is %d×%d in the file but %d×%d in the destination: %w", e.Name, e.Shape[0], e.Shape[1], t.Rows, t.Cols, ErrShape)
		}
	}
	if len(h.Tensors) != len(ts) {
		have := make(map[string]bool, len(h.Tensors))
		for _, e := range h.Tensors {
			have[e.Name] = true
		}
		for _, t := range ts {
			if !have[t.Name] {
				return fmt.Errorf("nn: load: tensor %q missing from the file: %w", t.Name, ErrName)
			}
		}
	}
	// Sizes are now bounded by the destinations: stage the values so that
	// a checksum failure leaves the destinations untouched.
	staged := make([][]float64, len(h.Tensors))
	for i, e := range h.Tensors {
		staged[i] = make([]float64, e.Shape[0]*e.Shape[1])
		if err := fr.floats(staged[i]); err != nil {
			return err
		}
	}
	if err := fr.checksum(); err != nil {
		return err
	}
	for i, e := range h.Tensors {
		copy(byName[e.Name].Data, staged[i])
	}
	return nil
}

// Read reads a parameter file from r into new tensors, returned in file
// order with their names set (RequiresGrad false), together with the
// file's metadata (nil if none). Memory is allocated only as data actually
// arrives, so a corrupt size field cannot trigger a huge allocation.
// Errors wrap ErrFormat or ErrVersion. Read reads exactly one file's bytes
// from r.
func Read(r io.Reader) ([]*Tensor, map[string]string, error) {
	fr, h, err := readHeader(r)
	if err != nil {
		return nil, nil, err
	}
	ts := make([]*Tensor, len(h.Tensors))
	for i, e := range h.Tensors {
		data, err := fr.growFloats(e.Shape[0] * e.Shape[1])
		if err != nil {
			return nil, nil, err
		}
		ts[i] = &Tensor{Rows: e.Shape[0], Cols: e.Shape[1], Data: data, Name: e.Name}
	}
	if err := fr.checksum(); err != nil {
		return nil, nil, err
	}
	return ts, h.Meta, nil
}

type crcWriter struct {
	w io.Writer
	h hash.Hash32
}

func (c *crcWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.h.Write(p[:n])
	return n, err
}

// fileReader reads a file's sections while maintaining its checksum.
type fileReader struct {
	r   io.Reader
	crc uint32
	buf []byte
}

func truncated(what string, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("nn: parameter file truncated in %s: %w", what, errors.Join(ErrFormat, io.ErrUnexpectedEOF))
	}
	return fmt.Errorf("nn: reading parameter file %s: %w", what, err)
}

func (fr *fileReader) full(p []byte, what string) error {
	if _, err := io.ReadFull(fr.r, p); err != nil {
		return truncated(what, err)
	}
	fr.crc = crc32.Update(fr.crc, castagnoli, p)
	return nil
}

func readHeader(r io.Reader) (*fileReader, *fileHeader, error) {
	fr := &fileReader{r: r}
	var pre [16]byte
	if err := fr.full(pre[:], "preamble"); err != nil {
		return nil, nil, err
	}
	if string(pre[:8]) != fileMagic {
		return nil, nil, fmt.Errorf("nn: not a parameter file (magic %q): %w", pre[:8], ErrFormat)
	}
	if v := binary.LittleEndian.Uint32(pre[8:12]); v != fileVersion {
		return nil, nil, fmt.Errorf("nn: parameter file version %d, want %d: %w", v, fileVersion, ErrVersion)
	}
	hl := binary.LittleEndian.Uint32(pre[12:16])
	if hl < 2 || hl > MaxHeaderLen {
		return nil, nil, fmt.Errorf("nn: parameter file header length %d outside [2, %d]: %w", hl, MaxHeaderLen, ErrFormat)
	}
	// Read the header incrementally: memory grows with the bytes present,
	// not with the length field.
	hdr, err := io.ReadAll(io.LimitReader(r, int64(hl)))
	if err != nil {
		return nil, nil, truncated("header", err)
	}
	if len(hdr) != int(hl) {
		return nil, nil, truncated("header", io.ErrUnexpectedEOF)
	}
	fr.crc = crc32.Update(fr.crc, castagnoli, hdr)
	h := new(fileHeader)
	if err := json.Unmarshal(hdr, h); err != nil {
		return nil, nil, fmt.Errorf("nn: parameter file header: %v: %w", err, ErrFormat)
	}
	seen := make(map[string]bool, len(h.Tensors))
	var off int64
	for i, e := range h.Tensors {
		if e.Name == "" {
			return nil, nil, fmt.Errorf("nn: parameter file header: tensor %d has no name: %w", i, ErrFormat)
		}
		if seen[e.Name] {
			return nil, nil, fmt.Errorf("nn: parameter file header: duplicate tensor %q: %w", e.Name, ErrFormat)
		}
		seen[e.Name] = true
		if len(e.Shape) != 2 || e.Shape[0] < 0 || e.Shape[1] < 0 {
			return nil, nil, fmt.Errorf("nn: parameter file header: tensor %q has shape %v, want [rows, cols] >= 0: %w", e.Name, e.Shape, ErrFormat)
		}
		r, c := int64(e.Shape[0]), int64(e.Shape[1])
		if r > maxElems || c > maxElems || (c > 0 && r > maxElems/c) {
			return nil, nil, fmt.Errorf("nn: parameter file header: tensor %q shape %v exceeds %d elements: %w", e.Name, e.Shape, int64(maxElems), ErrFormat)
		}
		if e.Offset != off {
			return nil, nil, fmt.Errorf("nn: parameter file header: tensor %q at offset %d, want %d: %w", e.Name, e.Offset, off, ErrFormat)
		}
		off += 8 * r * c
		if off > 8*maxElems {
			return nil, nil, fmt.Errorf("nn: parameter file header: data exceeds %d bytes: %w", int64(8*maxElems), ErrFormat)
		}
	}
	return fr, h, nil
}

// floats fills dst with values from the data section.
func (fr *fileReader) floats(dst []float64) error {
	if fr.buf == nil {
		fr.buf = make([]byte, 8*1024)
	}
	for len(dst) > 0 {
		n := min(len(dst), len(fr.buf)/8)
		b := fr.buf[:8*n]
		if err := fr.full(b, "data"); err != nil {
			return err
		}
		for i := range dst[:n] {
			dst[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
		}
		dst = dst[n:]
	}
	return nil
}

// growFloats reads n values, growing the result as data arrives.
func (fr *fileReader) growFloats(n int) ([]float64, error) {
	const chunk = 1 << 16
	out := make([]float64, 0, min(n, chunk))
	for len(out) < n {
		k := min(n-len(out), chunk)
		start := len(out)
		out = append(out, make([]float64, k)...)
		if err := fr.floats(out[start:]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (fr *fileReader) checksum() error {
	want := fr.crc
	var sum [4]byte
	if _, err := io.ReadFull(fr.r, sum[:]); err != nil {
		return truncated("checksum", err)
	}
	if got := binary.LittleEndian.Uint32(sum[:]); got != want {
		return fmt.Errorf("nn: parameter file checksum %08x, computed %08x: %w", got, want, ErrFormat)
	}
	return nil
}
