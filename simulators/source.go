package simulators

import (
	"fmt"
	"math"
	"slices"
)

// StoreSource presents a complete simulation file as blocks of valid
// simulations for training without loading the file (it implements
// sbi.Source): block b holds the successful, finite simulations (status
// OK) of the b-th chunk, in index order, that has any; failed and invalid
// simulations are left out and counted (Dropped, Report). It keeps one
// chunk's buffers and the per-chunk counts in memory. A StoreSource is not
// safe for concurrent use; close the StoreReader when done with it.
type StoreSource struct {
	r      *StoreReader
	chunks []int // chunk of each block
	lens   []int // rows of each block
	rep    Report
	buf    Chunk
}

// NewStoreSource checks that r holds a complete run (every chunk; a shard
// file of a run split in several is not one: merge the shards first) and
// reads it once to count the valid simulations of every chunk. Errors wrap
// ErrIncomplete for missing chunks (listed as ranges), and the reader's
// errors (a *StoreError wrapping ErrFormat for a corrupt record).
func NewStoreSource(r *StoreReader) (*StoreSource, error) {
	h := r.s.h
	if !h.Complete && h.Shards > 1 {
		return nil, fmt.Errorf("simulators: %s holds shard %d of %d of the run (%d of %d chunks); merge the shards into one file first: %w",
			r.Name(), h.Shard, h.Shards, len(r.chunks), h.NumChunks(), ErrIncomplete)
	}
	if miss := r.Missing(); len(miss) > 0 {
		return nil, fmt.Errorf("simulators: %s: %d of %d chunks missing: %s (finish the run with its simulate command): %w",
			r.Name(), len(miss), h.NumChunks(), intList(miss), ErrIncomplete)
	}
	s := &StoreSource{r: r, rep: Report{Requested: h.N}}
	order := r.Chunks()
	slices.Sort(order)
	for _, c := range order {
		ch, err := r.ReadChunk(c, &s.buf)
		if err != nil {
			return nil, err
		}
		ok := 0
		for i, st := range ch.Status {
			s.rep.Done++
			switch {
			case st == StatusOK && finiteRow(ch.Theta.RawRowView(i)) && finiteRow(ch.X.RawRowView(i)):
				ok++
			case st == StatusFailed:
				s.rep.Failed++
			default:
				s.rep.Invalid++
			}
		}
		s.rep.OK += ok
		if ok > 0 {
			s.chunks = append(s.chunks, c)
			s.lens = append(s.lens, ok)
		}
	}
	return s, nil
}

func finiteRow(v []float64) bool {
	for _, f := range v {
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return false
		}
	}
	return true
}

// Dims returns the lengths of θ and x.
func (s *StoreSource) Dims() (thetaDim, xDim int) { return s.r.s.h.ThetaDim, s.r.s.h.XDim }

// NumBlocks returns the number of chunks holding at least one valid
// simulation.
func (s *StoreSource) NumBlocks() int { return len(s.chunks) }

// BlockLen returns the number of valid simulations of block b.
func (s *StoreSource) BlockLen(b int) int { return s.lens[b] }

// Chunk returns the index of the chunk that block b reads.
func (s *StoreSource) Chunk(b int) int { return s.chunks[b] }

// Dropped returns the number of failed and invalid simulations left out.
func (s *StoreSource) Dropped() int { return s.rep.Invalid + s.rep.Failed }

// Report returns the counts of the file's simulations: Requested is the
// run's N, Done every simulation stored, OK the valid ones (a row whose
// status is OK but that holds NaN or ±Inf counts as invalid); Errors and
// Runtime are not stored in the file.
func (s *StoreSource) Report() Report { return s.rep }

// ReadBlock reads the valid simulations of block b into theta and x,
// row-major, of lengths BlockLen(b)·thetaDim and BlockLen(b)·xDim. It
// returns an error wrapping ErrInput for a block out of range or buffers of
// the wrong length, a *StoreError for a corrupt record, and one wrapping
// ErrFormat if the chunk no longer holds the rows counted when the source
// was made (the file changed).
func (s *StoreSource) ReadBlock(b int, theta, x []float64) error {
	if b < 0 || b >= len(s.chunks) {
		return fmt.Errorf("simulators: block %d of %d: %w", b, len(s.chunks), ErrInput)
	}
	dt, dx := s.Dims()
	l := s.lens[b]
	if len(theta) != l*dt || len(x) != l*dx {
		return fmt.Errorf("simulators: block %d of %d rows: buffers of %d and %d values, want %d and %d: %w",
			b, l, len(theta), len(x), l*dt, l*dx, ErrInput)
	}
	ch, err := s.r.ReadChunk(s.chunks[b], &s.buf)
	if err != nil {
		return err
	}
	k := 0
	for i, st := range ch.Status {
		th, xr := ch.Theta.RawRowView(i), ch.X.RawRowView(i)
		if st != StatusOK || !finiteRow(th) || !finiteRow(xr) {
			continue
		}
		if k == l {
			k++
			break
		}
		copy(theta[k*dt:(k+1)*dt], th)
		copy(x[k*dx:(k+1)*dx], xr)
		k++
	}
	if k != l {
		return fmt.Errorf("simulators: %s: chunk %d changed since it was opened: %w", s.r.Name(), s.chunks[b], ErrFormat)
	}
	return nil
}
