package simulators

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"iter"
	"math"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/gosbi/gosbi/internal/atomicfile"
	"gonum.org/v1/gonum/mat"
)

// Errors of simulation files (see StoreWriter, StoreReader and Merge). Test
// with errors.Is; malformed files give a *StoreError wrapping ErrFormat.
var (
	// ErrMismatch reports a file whose run metadata differ from what was
	// expected: resuming with a different command line, or merging files
	// of different runs. The message names the field.
	ErrMismatch = errors.New("simulators: simulation files do not match")
	// ErrIncomplete reports a run with chunks missing: merging shards that
	// do not cover the run, or reading a complete dataset from a partial
	// file. The message lists the missing chunks as ranges.
	ErrIncomplete = errors.New("simulators: chunks missing")
	// ErrDuplicate reports a chunk present in more than one merged file.
	ErrDuplicate = errors.New("simulators: chunk present twice")
	// ErrLocked reports a simulation file that another writer holds open.
	ErrLocked = errors.New("simulators: simulation file in use")
)

// StoreVersion is the version of the simulation file format written by
// this package.
const StoreVersion = 1

// Limits of the file format. Readers check header fields against them
// before allocating anything sized by those fields.
const (
	storeMagic     = "GOSBISIM"
	preambleSize   = 16       // magic, version, header length
	maxHeaderLen   = 16 << 20 // bytes of header JSON
	maxStoreDim    = 1 << 20  // θ or x dimension
	maxRecordLen   = 1 << 30  // bytes of one record's payload
	maxStoreN      = 1 << 40  // simulations in a run
	maxStoreShards = 1 << 24  // shards of a run
	recordOverhead = 4 + 8 + 4
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// StoreHeader is the metadata of a simulation file: the run it belongs to
// (what was simulated, with which prior and seed, how many simulations and
// of what shape) and which shard of the run the file holds.
//
// Two files belong to the same run when every field other than Shard,
// Shards and Complete is equal. A run of N simulations is split into
// ⌈N/ChunkSize⌉ chunks; chunk c holds simulations c·ChunkSize onwards and
// draws them with the stream rand.NewPCG(ChunkSeed(Seed), c), so the file
// of a run holds exactly the data Simulate(ctx, sim, prior, N,
// RunRNG(Seed), s) returns (see RunRNG). Shard I of K holds the chunks c
// with c mod K = I (see ShardChunks).
type StoreHeader struct {
	// Task is the name of the simulator: an sbibm task name, or any name a
	// Go program gives its own simulator. Empty for external commands.
	Task string `json:"task,omitempty"`
	// Command is the command line of an external-process simulator.
	Command string `json:"command,omitempty"`
	// PriorSHA256 is the hex SHA-256 of the prior specification (see
	// PriorSpec.Hash), or empty when the prior is fixed by Task.
	PriorSHA256 string `json:"prior_sha256,omitempty"`
	// Seed is the run's seed (see RunRNG).
	Seed uint64 `json:"seed"`
	// N is the number of simulations of the run.
	N int `json:"n"`
	// ChunkSize is the number of simulations per chunk; OpenStoreWriter
	// sets the zero value to ChunkSize, the only size it writes.
	ChunkSize int `json:"chunk_size"`
	// ThetaDim and XDim are the lengths of θ and x.
	ThetaDim int `json:"theta_dim"`
	XDim     int `json:"x_dim"`
	// ThetaNames and XNames name the components of θ and x; nil means
	// "theta_1", … and "x_1", … (set by OpenStoreWriter).
	ThetaNames []string `json:"theta_names"`
	XNames     []string `json:"x_names"`
	// Shard (0-based) and Shards say which part of the run the file holds;
	// the zero value of Shards means 1, one file for the whole run.
	Shard  int `json:"shard"`
	Shards int `json:"shards"`
	// Complete marks a file holding every chunk of the run in index order,
	// as written when the last chunk arrives or by Merge; Shard is then 0
	// and Shards 1 whatever shard wrote it, so that complete files of the
	// same run are byte-identical.
	Complete bool `json:"complete"`
}

// NumChunks returns the number of chunks of the run, ⌈N/ChunkSize⌉.
func (h *StoreHeader) NumChunks() int {
	if h.N < 1 || h.ChunkSize < 1 {
		return 0
	}
	return (h.N-1)/h.ChunkSize + 1
}

// chunkRows returns the number of simulations in chunk c.
func (h *StoreHeader) chunkRows(c int) int {
	lo := c * h.ChunkSize
	return min(lo+h.ChunkSize, h.N) - lo
}

// recordLen returns the payload length of the record of a chunk of rows
// simulations: the chunk index, θ and x as float64, one status byte each.
func (h *StoreHeader) recordLen(rows int) int {
	return 8 + rows*(h.ThetaDim+h.XDim)*8 + rows
}

// shardLen returns the number of chunks of the file's shard (of the run
// for a complete file).
func (h *StoreHeader) shardLen() int {
	nc := h.NumChunks()
	if h.Complete {
		return nc
	}
	if h.Shard >= nc {
		return 0
	}
	return (nc-h.Shard-1)/h.Shards + 1
}

// inShard reports whether the file's shard holds chunk c.
func (h *StoreHeader) inShard(c int) bool {
	return h.Complete || c%h.Shards == h.Shard
}

// validate checks the header's fields against the format's limits.
func (h *StoreHeader) validate() error {
	switch {
	case h.N < 1 || h.N > maxStoreN:
		return fmt.Errorf("n = %d, want 1 to %d", h.N, int64(maxStoreN))
	case h.ChunkSize < 1 || h.ChunkSize > 1<<20:
		return fmt.Errorf("chunk_size = %d, want 1 to %d", h.ChunkSize, 1<<20)
	case h.ThetaDim < 1 || h.ThetaDim > maxStoreDim || h.XDim < 1 || h.XDim > maxStoreDim:
		return fmt.Errorf("dimensions (%d, %d), want 1 to %d", h.ThetaDim, h.XDim, maxStoreDim)
	case h.recordLen(h.ChunkSize) > maxRecordLen:
		return fmt.Errorf("a chunk of %d simulations of dimensions (%d, %d) takes more than %d bytes", h.ChunkSize, h.ThetaDim, h.XDim, maxRecordLen)
	case len(h.ThetaNames) != h.ThetaDim || len(h.XNames) != h.XDim:
		return fmt.Errorf("%d theta_names and %d x_names for dimensions (%d, %d)", len(h.ThetaNames), len(h.XNames), h.ThetaDim, h.XDim)
	case h.Shards < 1 || h.Shards > maxStoreShards || h.Shard < 0 || h.Shard >= h.Shards:
		return fmt.Errorf("shard %d of %d, want 0 <= shard < shards <= %d", h.Shard, h.Shards, maxStoreShards)
	case h.Complete && (h.Shard != 0 || h.Shards != 1):
		return fmt.Errorf("complete file with shard %d of %d, want 0 of 1", h.Shard, h.Shards)
	}
	if h.PriorSHA256 != "" {
		if len(h.PriorSHA256) != 64 || strings.Trim(h.PriorSHA256, "0123456789abcdef") != "" {
			return fmt.Errorf("prior_sha256 %q is not 64 lower-case hex digits", h.PriorSHA256)
		}
	}
	return nil
}

// mismatch returns the name and the two values of the first run field in
// which a and b differ, or "" when they describe the same run. The shard
// fields are compared too when shards is true.
func mismatch(a, b *StoreHeader, shards bool) (field string, va, vb any) {
	switch {
	case a.Task != b.Task:
		return "task", a.Task, b.Task
	case a.Command != b.Command:
		return "command", a.Command, b.Command
	case a.PriorSHA256 != b.PriorSHA256:
		return "prior_sha256", a.PriorSHA256, b.PriorSHA256
	case a.Seed != b.Seed:
		return "seed", a.Seed, b.Seed
	case a.N != b.N:
		return "n", a.N, b.N
	case a.ChunkSize != b.ChunkSize:
		return "chunk_size", a.ChunkSize, b.ChunkSize
	case a.ThetaDim != b.ThetaDim:
		return "theta_dim", a.ThetaDim, b.ThetaDim
	case a.XDim != b.XDim:
		return "x_dim", a.XDim, b.XDim
	case !slices.Equal(a.ThetaNames, b.ThetaNames):
		return "theta_names", a.ThetaNames, b.ThetaNames
	case !slices.Equal(a.XNames, b.XNames):
		return "x_names", a.XNames, b.XNames
	case shards && a.Shards != b.Shards:
		return "shards", a.Shards, b.Shards
	case shards && a.Shard != b.Shard:
		return "shard", a.Shard, b.Shard
	}
	return "", nil, nil
}

// StoreError locates a problem in a simulation file. Err wraps ErrFormat.
type StoreError struct {
	File   string // the file name as given
	Offset int64  // byte offset of the problem
	Chunk  int    // chunk index of the record, or -1
	Err    error
}

// Error returns the location and the cause, for example
// "simulators: a.gsim: offset 1234 (chunk 7): record checksum mismatch".
func (e *StoreError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "simulators: %s: offset %d", e.File, e.Offset)
	if e.Chunk >= 0 {
		fmt.Fprintf(&b, " (chunk %d)", e.Chunk)
	}
	b.WriteString(": ")
	b.WriteString(e.Err.Error())
	return b.String()
}

// Unwrap returns the cause.
func (e *StoreError) Unwrap() error { return e.Err }

func formatErr(file string, off int64, chunk int, format string, args ...any) *StoreError {
	return &StoreError{File: file, Offset: off, Chunk: chunk, Err: fmt.Errorf("%w: "+format, append([]any{ErrFormat}, args...)...)}
}

// encodePreamble returns the magic, version, header length, header JSON
// and its CRC-32C.
func encodePreamble(h *StoreHeader) []byte {
	js, err := json.Marshal(h)
	if err != nil {
		panic("simulators: encoding a store header: " + err.Error()) // cannot fail for this struct
	}
	b := make([]byte, 0, preambleSize+len(js)+4)
	b = append(b, storeMagic...)
	b = binary.LittleEndian.AppendUint32(b, StoreVersion)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(js)))
	b = append(b, js...)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b[8:], castagnoli))
}

// readPreamble reads and checks the header of a simulation file of size
// bytes and returns it with the offset of the first record.
func readPreamble(r io.ReaderAt, size int64, name string) (StoreHeader, int64, error) {
	var h StoreHeader
	var pre [preambleSize]byte
	if size < preambleSize+4 {
		if n, _ := r.ReadAt(pre[:min(size, preambleSize)], 0); n >= 8 && string(pre[:8]) != storeMagic || size == 0 {
			return h, 0, formatErr(name, 0, -1, "not a gosbi simulation file")
		}
		return h, 0, formatErr(name, 0, -1, "file of %d bytes is too short for a header", size)
	}
	if _, err := r.ReadAt(pre[:], 0); err != nil {
		return h, 0, &StoreError{File: name, Chunk: -1, Err: err}
	}
	if string(pre[:8]) != storeMagic {
		return h, 0, formatErr(name, 0, -1, "not a gosbi simulation file (bad magic %q)", pre[:8])
	}
	if v := binary.LittleEndian.Uint32(pre[8:]); v != StoreVersion {
		return h, 0, formatErr(name, 8, -1, "format version %d, this program reads version %d", v, StoreVersion)
	}
	hl := int64(binary.LittleEndian.Uint32(pre[12:]))
	if hl > maxHeaderLen || preambleSize+hl+4 > size {
		return h, 0, formatErr(name, 12, -1, "header length %d exceeds the file (%d bytes) or the limit %d", hl, size, maxHeaderLen)
	}
	b := make([]byte, preambleSize+hl+4)
	if _, err := r.ReadAt(b, 0); err != nil {
		return h, 0, &StoreError{File: name, Chunk: -1, Err: err}
	}
	js := b[preambleSize : preambleSize+hl]
	if got, want := crc32.Checksum(b[8:preambleSize+hl], castagnoli), binary.LittleEndian.Uint32(b[preambleSize+hl:]); got != want {
		return h, 0, formatErr(name, preambleSize+hl, -1, "header checksum mismatch")
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&h); err != nil {
		return h, 0, formatErr(name, preambleSize, -1, "header: %v", err)
	}
	if dec.More() {
		return h, 0, formatErr(name, preambleSize, -1, "header: data after the JSON object")
	}
	if err := h.validate(); err != nil {
		return h, 0, formatErr(name, preambleSize, -1, "header: %v", err)
	}
	return h, preambleSize + hl + 4, nil
}

// appendRecord appends the record of a chunk to b.
func appendRecord(b []byte, c *Chunk) []byte {
	rows := len(c.Status)
	_, td := c.Theta.Dims()
	_, xd := c.X.Dims()
	n := 8 + rows*(td+xd)*8 + rows
	start := len(b)
	b = binary.LittleEndian.AppendUint32(b, uint32(n))
	b = binary.LittleEndian.AppendUint64(b, uint64(c.Index))
	for r := range rows {
		for _, v := range c.Theta.RawRowView(r) {
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
		}
	}
	for r := range rows {
		for _, v := range c.X.RawRowView(r) {
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
		}
	}
	for _, s := range c.Status {
		b = append(b, byte(s))
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b[start:], castagnoli))
}

// recordEntry is one record found in a file.
type recordEntry struct {
	chunk int
	off   int64
}

// scanner walks the records of a file.
type scanner struct {
	r    io.ReaderAt
	size int64
	name string
	h    *StoreHeader
	buf  []byte
}

// next checks the framing of the record at off (its length, chunk index
// and extent; with verify also its checksum and statuses) and returns its
// chunk index and the offset of the next record.
func (s *scanner) next(off int64, verify bool) (chunk int, end int64, err error) {
	if s.size-off < 12 {
		return -1, 0, formatErr(s.name, off, -1, "torn record: %d bytes at the end of the file", s.size-off)
	}
	var head [12]byte
	if _, err := s.r.ReadAt(head[:], off); err != nil {
		return -1, 0, &StoreError{File: s.name, Offset: off, Chunk: -1, Err: err}
	}
	n := int64(binary.LittleEndian.Uint32(head[:]))
	c64 := binary.LittleEndian.Uint64(head[4:])
	nc := s.h.NumChunks()
	if c64 >= uint64(nc) {
		return -1, 0, formatErr(s.name, off, -1, "chunk index %d outside [0, %d)", c64, nc)
	}
	c := int(c64)
	if want := int64(s.h.recordLen(s.h.chunkRows(c))); n != want {
		return c, 0, formatErr(s.name, off, c, "record length %d, want %d", n, want)
	}
	end = off + 4 + n + 4
	if end > s.size {
		return c, 0, formatErr(s.name, off, c, "torn record: %d bytes of %d present", s.size-off, end-off)
	}
	if !s.h.inShard(c) {
		return c, 0, formatErr(s.name, off, c, "chunk %d does not belong to shard %d of %d", c, s.h.Shard, s.h.Shards)
	}
	if verify {
		if _, err := s.record(off, c); err != nil {
			return c, 0, err
		}
	}
	return c, end, nil
}

// record reads the whole record of chunk c at off into s.buf, checks its
// checksum and statuses, and returns it.
func (s *scanner) record(off int64, c int) ([]byte, error) {
	rows := s.h.chunkRows(c)
	n := s.h.recordLen(rows) + 8
	if cap(s.buf) < n {
		s.buf = make([]byte, n)
	}
	b := s.buf[:n]
	if _, err := s.r.ReadAt(b, off); err != nil {
		return nil, &StoreError{File: s.name, Offset: off, Chunk: c, Err: err}
	}
	if got, want := crc32.Checksum(b[:n-4], castagnoli), binary.LittleEndian.Uint32(b[n-4:]); got != want {
		return nil, formatErr(s.name, off, c, "record checksum mismatch")
	}
	if int(binary.LittleEndian.Uint32(b)) != n-8 || binary.LittleEndian.Uint64(b[4:]) != uint64(c) {
		return nil, formatErr(s.name, off, c, "record header changed")
	}
	for i, st := range b[n-4-rows : n-4] {
		if st < byte(StatusOK) || st > byte(StatusFailed) {
			return nil, formatErr(s.name, off, c, "status %d of simulation %d is not 1, 2 or 3", st, c*s.h.ChunkSize+i)
		}
	}
	return b, nil
}

// decodeRecord fills dst from the verified record b of chunk c.
func (h *StoreHeader) decodeRecord(b []byte, c int, dst *Chunk) {
	rows := h.chunkRows(c)
	dst.Index, dst.Start = c, c*h.ChunkSize
	dst.Theta = reuseDense(dst.Theta, rows, h.ThetaDim)
	dst.X = reuseDense(dst.X, rows, h.XDim)
	p := 12
	for _, m := range []*mat.Dense{dst.Theta, dst.X} {
		raw := m.RawMatrix()
		for r := range rows {
			row := raw.Data[r*raw.Stride : r*raw.Stride+raw.Cols]
			for k := range row {
				row[k] = math.Float64frombits(binary.LittleEndian.Uint64(b[p:]))
				p += 8
			}
		}
	}
	if cap(dst.Status) < rows {
		dst.Status = make([]Status, rows)
	}
	dst.Status = dst.Status[:rows]
	for i := range rows {
		dst.Status[i] = Status(b[p+i])
	}
}

// reuseDense returns an r×c matrix, reusing m's storage when it is large
// enough.
func reuseDense(m *mat.Dense, r, c int) *mat.Dense {
	if m != nil {
		raw := m.RawMatrix()
		if cap(raw.Data) >= r*c {
			return mat.NewDense(r, c, raw.Data[:r*c])
		}
	}
	return mat.NewDense(r, c, nil)
}

// StoreReader reads a simulation file without loading it whole: its header,
// the list of chunks present, and any chunk on demand. Opening checks the
// framing of every record (length, chunk index, shard, extent); reading a
// chunk checks its CRC-32C. A StoreReader is not safe for concurrent use.
type StoreReader struct {
	s      scanner
	f      *os.File // nil unless opened by OpenStore
	chunks []recordEntry
	pos    map[int]int // chunk index -> position in chunks
}

// OpenStore opens the simulation file name for reading; see
// NewStoreReader. Close it when done.
func OpenStore(name string) (*StoreReader, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("simulators: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("simulators: %w", err)
	}
	r, err := NewStoreReader(f, st.Size(), name)
	if err != nil {
		f.Close()
		return nil, err
	}
	r.f = f
	return r, nil
}

// NewStoreReader reads the header of the simulation file of size bytes in r
// (name is used in errors) and checks the framing of its records. It
// returns a *StoreError wrapping ErrFormat, naming the offset, for a file
// that is not a simulation file, has a newer version, a corrupt header, a
// torn or malformed record (a file whose writer was killed has a torn last
// record: resume the run with OpenStoreWriter, which cuts it off), a chunk
// outside the run or the file's shard, or a chunk present twice. What it
// allocates is bounded by size.
func NewStoreReader(r io.ReaderAt, size int64, name string) (*StoreReader, error) {
	h, off, err := readPreamble(r, size, name)
	if err != nil {
		return nil, err
	}
	sr := &StoreReader{s: scanner{r: r, size: size, name: name}, pos: map[int]int{}}
	sr.s.h = &h
	for off < size {
		c, end, err := sr.s.next(off, false)
		if err != nil {
			return nil, err
		}
		if _, dup := sr.pos[c]; dup {
			return nil, formatErr(name, off, c, "chunk %d present twice", c)
		}
		sr.pos[c] = len(sr.chunks)
		sr.chunks = append(sr.chunks, recordEntry{chunk: c, off: off})
		off = end
	}
	if h.Complete {
		if len(sr.chunks) != h.NumChunks() {
			return nil, formatErr(name, size, -1, "complete file holds %d of %d chunks", len(sr.chunks), h.NumChunks())
		}
		for i, e := range sr.chunks {
			if e.chunk != i {
				return nil, formatErr(name, e.off, e.chunk, "complete file has chunk %d at position %d", e.chunk, i)
			}
		}
	}
	return sr, nil
}

// Header returns the file's header.
func (r *StoreReader) Header() StoreHeader {
	h := *r.s.h
	h.ThetaNames = slices.Clone(h.ThetaNames)
	h.XNames = slices.Clone(h.XNames)
	return h
}

// Name returns the file name given to OpenStore or NewStoreReader.
func (r *StoreReader) Name() string { return r.s.name }

// Chunks returns the indices of the chunks present, in file order (index
// order for a complete file).
func (r *StoreReader) Chunks() []int {
	out := make([]int, len(r.chunks))
	for i, e := range r.chunks {
		out[i] = e.chunk
	}
	return out
}

// Has reports whether chunk c is present.
func (r *StoreReader) Has(c int) bool {
	_, ok := r.pos[c]
	return ok
}

// Missing returns the chunks of the file's shard (of the whole run for a
// complete file) that are not present, in index order. It takes time
// proportional to the number of chunks of the shard.
func (r *StoreReader) Missing() []int {
	var out []int
	h := r.s.h
	for c := h.Shard; c < h.NumChunks(); c += h.Shards {
		if !r.Has(c) {
			out = append(out, c)
		}
	}
	return out
}

// ReadChunk reads chunk c into dst (allocated when nil; its matrices and
// slice are reused when large enough) and returns it. It returns an error
// wrapping ErrInput when c is not present, and a *StoreError for a corrupt
// record.
func (r *StoreReader) ReadChunk(c int, dst *Chunk) (*Chunk, error) {
	p, ok := r.pos[c]
	if !ok {
		return nil, fmt.Errorf("simulators: %s: chunk %d not present: %w", r.s.name, c, ErrInput)
	}
	b, err := r.s.record(r.chunks[p].off, c)
	if err != nil {
		return nil, err
	}
	if dst == nil {
		dst = &Chunk{}
	}
	r.s.h.decodeRecord(b, c, dst)
	return dst, nil
}

// All iterates over the chunks in file order, reusing one Chunk, and stops
// at the first error.
func (r *StoreReader) All() iter.Seq2[*Chunk, error] {
	return func(yield func(*Chunk, error) bool) {
		var ch Chunk
		for _, e := range r.chunks {
			if _, err := r.ReadChunk(e.chunk, &ch); err != nil {
				yield(nil, err)
				return
			}
			if !yield(&ch, nil) {
				return
			}
		}
	}
}

// ReadAll reads every chunk present into one Result, rows in index order,
// as Simulate returns it: Data, Index, Status and the counts of Report
// (Requested is the run's N; Errors and Runtime are not stored). For a
// complete file it equals Simulate's result for the run (see StoreHeader).
func (r *StoreReader) ReadAll() (*Result, error) {
	h := r.s.h
	order := r.Chunks()
	slices.Sort(order)
	rows := 0
	for _, c := range order {
		rows += h.chunkRows(c)
	}
	res := &Result{Report: Report{Requested: h.N, Done: rows}, Data: &Dataset{}}
	if rows == 0 {
		return res, nil
	}
	theta := mat.NewDense(rows, h.ThetaDim, nil)
	x := mat.NewDense(rows, h.XDim, nil)
	res.Index = make([]int, 0, rows)
	res.Status = make([]Status, 0, rows)
	var ch Chunk
	at := 0
	for _, c := range order {
		if _, err := r.ReadChunk(c, &ch); err != nil {
			return nil, err
		}
		k := len(ch.Status)
		theta.Slice(at, at+k, 0, h.ThetaDim).(*mat.Dense).Copy(ch.Theta)
		x.Slice(at, at+k, 0, h.XDim).(*mat.Dense).Copy(ch.X)
		for i, st := range ch.Status {
			res.Index = append(res.Index, ch.Start+i)
			res.Status = append(res.Status, st)
			switch st {
			case StatusOK:
				res.Report.OK++
			case StatusInvalid:
				res.Report.Invalid++
			case StatusFailed:
				res.Report.Failed++
			}
		}
		at += k
	}
	res.Data = &Dataset{Theta: theta, X: x, ThetaNames: slices.Clone(h.ThetaNames), XNames: slices.Clone(h.XNames)}
	return res, nil
}

// Close closes the file opened by OpenStore; it does nothing for a reader
// made by NewStoreReader.
func (r *StoreReader) Close() error {
	if r.f == nil {
		return nil
	}
	err := r.f.Close()
	r.f = nil
	return err
}

// Recovery describes what OpenStoreWriter cut off the end of a file to
// resume it: a record torn by a killed writer, or a corrupt one and
// everything after it (those chunks are simulated again).
type Recovery struct {
	Offset  int64 // where the file now ends
	Dropped int64 // bytes cut off
	Reason  error // what was wrong at Offset (a *StoreError)
}

// StoreWriter appends the chunks of one shard of a run to a simulation
// file, durably: Append writes a chunk's record and fsyncs the file before
// it returns, so that a killed process loses at most the chunks in flight.
// Records are appended in any order, each once. When every chunk of the
// run is present, Close rewrites the file canonically (see StoreHeader's
// Complete). The methods are safe for concurrent use.
type StoreWriter struct {
	mu       sync.Mutex
	path     string
	f        *os.File
	unlock   func()
	h        StoreHeader // the file's header (complete when it was)
	run      StoreHeader // the header asked for (its shard)
	end      int64
	have     map[int]int64 // chunk -> offset
	order    []int         // chunks in file order
	recovery *Recovery
	buf      []byte
	err      error // a failed write: the writer is unusable
	closed   bool
}

// OpenStoreWriter opens the simulation file path for the run and shard
// described by h, creating it when it does not exist (or is empty) and
// resuming it otherwise. Zero values of h.ChunkSize and h.Shards mean
// ChunkSize and 1; nil names mean default ones; h.Complete must be false.
//
// When resuming, the file's header must describe the same run and shard
// (a complete file of the same run matches any shard): otherwise the error
// wraps ErrMismatch and names the first differing field. Every record is
// verified; a torn or corrupt record and everything after it are cut off
// (see Recovery), and the chunks present are never written again. The file
// is locked against other writers (ErrLocked) until Close.
func OpenStoreWriter(path string, h StoreHeader) (*StoreWriter, error) {
	if h.ChunkSize == 0 {
		h.ChunkSize = ChunkSize
	}
	if h.Shards == 0 {
		h.Shards = 1
	}
	if h.ThetaNames == nil && h.ThetaDim >= 1 && h.ThetaDim <= maxStoreDim {
		h.ThetaNames = defaultNames("theta", h.ThetaDim)
	}
	if h.XNames == nil && h.XDim >= 1 && h.XDim <= maxStoreDim {
		h.XNames = defaultNames("x", h.XDim)
	}
	h.ThetaNames, h.XNames = slices.Clone(h.ThetaNames), slices.Clone(h.XNames)
	switch err := h.validate(); {
	case err != nil:
		return nil, fmt.Errorf("simulators: OpenStoreWriter: %v: %w", err, ErrInput)
	case h.ChunkSize != ChunkSize:
		return nil, fmt.Errorf("simulators: OpenStoreWriter: chunk size %d, want %d: %w", h.ChunkSize, ChunkSize, ErrInput)
	case h.Complete:
		return nil, fmt.Errorf("simulators: OpenStoreWriter: header marked complete: %w", ErrInput)
	}
	if err := createStore(path, &h); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("simulators: %w", err)
	}
	unlock, err := lockFile(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("simulators: %s: %w (%v)", path, ErrLocked, err)
	}
	w := &StoreWriter{path: path, f: f, unlock: unlock, run: h, have: map[int]int64{}}
	if err := w.load(); err != nil {
		unlock()
		f.Close()
		return nil, err
	}
	return w, nil
}

// createStore writes a new file holding only the header, atomically, unless
// a non-empty file exists at path.
func createStore(path string, h *StoreHeader) error {
	if st, err := os.Stat(path); err == nil && st.Size() > 0 {
		return nil
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("simulators: %w", err)
	}
	tmp, err := writeTemp(path, func(w io.Writer) error {
		_, err := w.Write(encodePreamble(h))
		return err
	})
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	// Link fails if another process created the file meanwhile; an empty
	// file is replaced.
	if err := os.Link(tmp, path); err != nil {
		if st, serr := os.Stat(path); serr == nil && st.Size() > 0 {
			return nil
		}
		if err := os.Rename(tmp, path); err != nil {
			return fmt.Errorf("simulators: %w", err)
		}
	}
	atomicfile.SyncDir(path)
	return nil
}

// writeTemp writes a temporary file next to path with fill, fsyncs and
// closes it, and returns its name (see atomicfile.WriteTemp). The file is
// readable by everyone (0644), as files created with os.Create usually are.
func writeTemp(path string, fill func(io.Writer) error) (string, error) {
	tmp, err := atomicfile.WriteTemp(path, 0o644, fill)
	var ce *atomicfile.CreateError
	switch {
	case errors.As(err, &ce):
		return "", fmt.Errorf("simulators: %w", ce.Err)
	case err != nil:
		return "", fmt.Errorf("simulators: writing %s: %w", path, err)
	}
	return tmp, nil
}

// load reads the header and records of the opened file, cutting off a
// torn or corrupt tail.
func (w *StoreWriter) load() error {
	st, err := w.f.Stat()
	if err != nil {
		return fmt.Errorf("simulators: %w", err)
	}
	size := st.Size()
	h, off, err := readPreamble(w.f, size, w.path)
	if err != nil {
		return err
	}
	if field, a, b := mismatch(&h, &w.run, !h.Complete); field != "" {
		return fmt.Errorf("simulators: %s holds a different run: %s is %v in the file, %v now: %w", w.path, field, a, b, ErrMismatch)
	}
	w.h = h
	s := scanner{r: w.f, size: size, name: w.path, h: &w.h}
	for off < size {
		c, end, err := s.next(off, true)
		if err == nil {
			if _, dup := w.have[c]; dup {
				err = formatErr(w.path, off, c, "chunk %d present twice", c)
			}
		}
		if err != nil {
			if h.Complete {
				return err // a complete file is never appended to, so never torn
			}
			w.recovery = &Recovery{Offset: off, Dropped: size - off, Reason: err}
			if err := w.f.Truncate(off); err != nil {
				return fmt.Errorf("simulators: cutting off the damaged end of %s: %w", w.path, err)
			}
			if err := w.f.Sync(); err != nil {
				return fmt.Errorf("simulators: %w", err)
			}
			break
		}
		w.have[c] = off
		w.order = append(w.order, c)
		off = end
	}
	w.end = off
	return nil
}

// Header returns the file's header; Complete says whether the file was
// already complete when opened.
func (w *StoreWriter) Header() StoreHeader {
	h := w.h
	h.ThetaNames, h.XNames = slices.Clone(h.ThetaNames), slices.Clone(h.XNames)
	return h
}

// Path returns the file's path.
func (w *StoreWriter) Path() string { return w.path }

// Recovered returns what opening the file cut off its end, or nil.
func (w *StoreWriter) Recovered() *Recovery { return w.recovery }

// Missing returns the chunks of the writer's shard not yet in the file, in
// index order. It takes time proportional to the number of chunks of the
// shard.
func (w *StoreWriter) Missing() []int {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []int
	for c := w.run.Shard; c < w.run.NumChunks(); c += w.run.Shards {
		if _, ok := w.have[c]; !ok {
			out = append(out, c)
		}
	}
	return out
}

// Len returns the number of chunks in the file.
func (w *StoreWriter) Len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.have)
}

// Complete reports whether the file holds every chunk of the run.
func (w *StoreWriter) Complete() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.have) == w.run.NumChunks()
}

// Append writes chunk c as a record at the end of the file and fsyncs it.
// It returns an error wrapping ErrInput when c does not belong to the
// writer's shard, is already present or has the wrong shape; after a
// failed write (the partial record is cut off when possible) every later
// call fails.
func (w *StoreWriter) Append(c *Chunk) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.closed:
		return fmt.Errorf("simulators: %s: Append after Close: %w", w.path, ErrInput)
	case w.err != nil:
		return w.err
	case c == nil || c.Theta == nil || c.X == nil:
		return fmt.Errorf("simulators: %s: Append: nil chunk or matrix: %w", w.path, ErrInput)
	case c.Index < 0 || c.Index >= w.run.NumChunks() || c.Index%w.run.Shards != w.run.Shard:
		return fmt.Errorf("simulators: %s: Append: chunk %d is not in shard %d of %d of a run of %d chunks: %w",
			w.path, c.Index, w.run.Shard, w.run.Shards, w.run.NumChunks(), ErrInput)
	}
	if _, dup := w.have[c.Index]; dup {
		return fmt.Errorf("simulators: %s: Append: chunk %d already present: %w", w.path, c.Index, ErrInput)
	}
	rows := w.run.chunkRows(c.Index)
	tr, tc := c.Theta.Dims()
	xr, xc := c.X.Dims()
	if tr != rows || xr != rows || len(c.Status) != rows || tc != w.run.ThetaDim || xc != w.run.XDim || c.Start != c.Index*w.run.ChunkSize {
		return fmt.Errorf("simulators: %s: Append: chunk %d has θ %d×%d, x %d×%d, %d statuses, start %d; want %d rows of (%d, %d) from %d: %w",
			w.path, c.Index, tr, tc, xr, xc, len(c.Status), c.Start, rows, w.run.ThetaDim, w.run.XDim, c.Index*w.run.ChunkSize, ErrInput)
	}
	for i, st := range c.Status {
		if st < StatusOK || st > StatusFailed {
			return fmt.Errorf("simulators: %s: Append: chunk %d: invalid status %d of row %d: %w", w.path, c.Index, st, i, ErrInput)
		}
	}
	w.buf = appendRecord(w.buf[:0], c)
	if _, err := w.f.WriteAt(w.buf, w.end); err != nil {
		return w.fail(err)
	}
	if err := w.f.Sync(); err != nil {
		return w.fail(err)
	}
	w.have[c.Index] = w.end
	w.order = append(w.order, c.Index)
	w.end += int64(len(w.buf))
	return nil
}

// fail records a failed write, cuts off what it may have left and returns
// the error.
func (w *StoreWriter) fail(err error) error {
	_ = w.f.Truncate(w.end)
	w.err = fmt.Errorf("simulators: writing %s: %w", w.path, err)
	return w.err
}

// Close closes the file. When it holds every chunk of the run and was not
// complete yet, Close first rewrites it canonically: header marked
// complete with shard 0 of 1, records in index order, written to a
// temporary file that is fsynced and renamed over path, so that the file
// is always either the old one or the complete one.
func (w *StoreWriter) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	var err error
	if w.err == nil && !w.h.Complete && len(w.have) == w.run.NumChunks() {
		err = w.finalize()
	}
	w.unlock()
	if cerr := w.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("simulators: %w", cerr)
	}
	return err
}

// finalize rewrites the complete file canonically.
func (w *StoreWriter) finalize() error {
	s := &scanner{r: w.f, size: w.end, name: w.path, h: &w.h}
	err := writeCanonical(w.path, &w.run, func(c int) ([]byte, error) {
		return s.record(w.have[c], c)
	})
	if err == nil {
		w.h = canonicalHeader(&w.run)
	}
	return err
}

// canonicalHeader returns h marked complete, with shard 0 of 1.
func canonicalHeader(h *StoreHeader) StoreHeader {
	c := *h
	c.Shard, c.Shards, c.Complete = 0, 1, true
	return c
}

// writeCanonical writes the complete file of the run h to path: the
// canonical header, then the record of every chunk in index order as
// returned (verified) by record. It writes a temporary file, fsyncs it and
// renames it over path.
func writeCanonical(path string, h *StoreHeader, record func(c int) ([]byte, error)) error {
	ch := canonicalHeader(h)
	tmp, err := writeTemp(path, func(w io.Writer) error {
		bw := newBufWriter(w)
		bw.write(encodePreamble(&ch))
		for c := range h.NumChunks() {
			b, err := record(c)
			if err != nil {
				return err
			}
			bw.write(b)
		}
		return bw.flush()
	})
	if err != nil {
		var se *StoreError
		if errors.As(err, &se) {
			return se
		}
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("simulators: %w", err)
	}
	atomicfile.SyncDir(path)
	return nil
}

// bufWriter buffers writes and keeps the first error.
type bufWriter struct {
	w   io.Writer
	buf []byte
	err error
}

func newBufWriter(w io.Writer) *bufWriter { return &bufWriter{w: w, buf: make([]byte, 0, 1<<20)} }

func (b *bufWriter) write(p []byte) {
	if b.err != nil {
		return
	}
	if len(b.buf)+len(p) > cap(b.buf) {
		if b.flush() != nil {
			return
		}
		if len(p) > cap(b.buf) {
			_, b.err = b.w.Write(p)
			return
		}
	}
	b.buf = append(b.buf, p...)
}

func (b *bufWriter) flush() error {
	if b.err == nil && len(b.buf) > 0 {
		_, b.err = b.w.Write(b.buf)
		b.buf = b.buf[:0]
	}
	return b.err
}
