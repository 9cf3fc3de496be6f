package simulators

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"

	"github.com/gosbi/gosbi/dist"
)

// RunStream is the PCG stream of a stored run's rng: a run with seed S
// draws its chunk seed from rand.New(rand.NewPCG(S, RunStream)) (see
// RunRNG). It spells "SIMS" in its high bytes.
const RunStream uint64 = 0x53494d53 << 32

// RunRNG returns rand.New(rand.NewPCG(seed, RunStream)), the rng with which
// Simulate reproduces the stored run with this seed: the complete file of
// a run of n simulations, however it was sharded, holds exactly the rows
// of Simulate(ctx, sim, prior, n, RunRNG(seed), s). `gosbi simulate -seed
// S` uses it too.
func RunRNG(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, RunStream)) }

// ChunkSeed returns the chunk seed of the stored run with this seed,
// RunRNG(seed).Uint64(): chunk c draws from rand.NewPCG(ChunkSeed(seed), c).
func ChunkSeed(seed uint64) uint64 { return RunRNG(seed).Uint64() }

// ShardChunks returns the chunks of shard i (0-based) of k of a run of n
// simulations: c = i, i+k, i+2k, … below NumChunks(n). Assigning chunks
// round robin keeps the shards' sizes within one chunk of each other. It
// returns an error wrapping ErrInput when n < 1, k < 1 or i is outside
// [0, k). A shard with i >= NumChunks(n) has no chunks.
func ShardChunks(n, i, k int) ([]int, error) {
	if n < 1 || k < 1 || i < 0 || i >= k {
		return nil, fmt.Errorf("simulators: ShardChunks: n = %d, shard %d of %d: %w", n, i, k, ErrInput)
	}
	var out []int
	for c := i; c < NumChunks(n); c += k {
		out = append(out, c)
	}
	return out, nil
}

// Shard simulates the chunks of w's shard that w does not hold yet and
// appends each to w as soon as it finishes, so that an interrupted shard
// resumes where it stopped when opened again with OpenStoreWriter. The
// parameters are drawn from prior with the streams of the run's seed
// (w.Header().Seed; see RunRNG), so the shards of a run, merged, equal one
// Simulate call, for any number of shards and workers. Settings are as
// for Simulate; Report counts the simulations of this call only.
//
// Shard returns an error wrapping ErrInput when sim, prior or w is nil or
// their dimensions differ from the header's, and, when ctx is cancelled or
// a write fails, the report of what was written with an error wrapping the
// cause; chunks written are durable either way. Shard does not close w:
// Close it to rewrite a file that became complete canonically.
//
// A typical use, one process per shard (i of k):
//
//	w, err := simulators.OpenStoreWriter(path, simulators.StoreHeader{Task: "mysim",
//		Seed: seed, N: n, ThetaDim: 2, XDim: 3, Shard: i, Shards: k})
//	rep, err := simulators.Shard(ctx, sim, prior, w, nil)
//	err = w.Close()
//
// then Merge(out, shardFiles...) writes the complete file.
func Shard(ctx context.Context, sim Simulator, prior dist.SizedSampler, w *StoreWriter, s *Settings) (Report, error) {
	if sim == nil || prior == nil || w == nil {
		return Report{}, fmt.Errorf("simulators: Shard: nil simulator, prior or writer: %w", ErrInput)
	}
	h := w.Header()
	td, xd := sim.Dims()
	if td != h.ThetaDim || xd != h.XDim || prior.Dim() != h.ThetaDim {
		return Report{}, fmt.Errorf("simulators: Shard: simulator dimensions (%d, %d) and prior dimension %d, file %s has (%d, %d): %w",
			td, xd, prior.Dim(), w.Path(), h.ThetaDim, h.XDim, ErrInput)
	}
	return SimulateChunks(ctx, sim, prior, h.N, ChunkSeed(h.Seed), w.Missing(), s, w.Append)
}

// MergeInfo summarises a successful Merge.
type MergeInfo struct {
	Header StoreHeader // the header of the complete file
	Chunks int         // chunks written
	Bytes  int64       // size of the complete file
}

// Merge writes the complete file of a run to out from files that together
// hold every chunk exactly once: shard files written by Shard or `gosbi
// simulate -shard`, partial or complete files of the same run. The output
// is byte-identical to the complete file of an unsharded run. It is
// written to a temporary file, fsynced and renamed over out, so out may be
// one of the inputs.
//
// Every record is verified. Merge returns a *StoreError (wrapping
// ErrFormat, naming the file and offset) for a corrupt or torn file, an
// error wrapping ErrMismatch naming the file and field when the files
// describe different runs (all fields but the shard index must agree),
// one wrapping ErrDuplicate naming the chunks and files for a chunk present
// twice, one wrapping ErrIncomplete listing the missing chunks as ranges
// (and the shards they belong to) when chunks are missing, and one
// wrapping ErrInput when no file is given.
func Merge(out string, inputs ...string) (*MergeInfo, error) {
	if len(inputs) == 0 {
		return nil, fmt.Errorf("simulators: Merge: no input files: %w", ErrInput)
	}
	readers := make([]*StoreReader, 0, len(inputs))
	defer func() {
		for _, r := range readers {
			r.Close()
		}
	}()
	for _, name := range inputs {
		r, err := OpenStore(name)
		if err != nil {
			return nil, err
		}
		readers = append(readers, r)
	}
	ref := readers[0].s.h
	var refShards *StoreReader // the first shard (not complete) file
	for _, r := range readers {
		h := r.s.h
		if field, a, b := mismatch(ref, h, false); field != "" {
			return nil, fmt.Errorf("simulators: %s and %s belong to different runs: %s is %v and %v: %w",
				readers[0].Name(), r.Name(), field, a, b, ErrMismatch)
		}
		if h.Complete {
			continue
		}
		if refShards == nil {
			refShards = r
		} else if h.Shards != refShards.s.h.Shards {
			return nil, fmt.Errorf("simulators: %s and %s belong to different splits: shards is %d and %d: %w",
				refShards.Name(), r.Name(), refShards.s.h.Shards, h.Shards, ErrMismatch)
		}
	}

	// Which file holds each chunk; duplicates grouped by pair of files.
	present := 0
	for _, r := range readers {
		present += len(r.chunks)
	}
	where := make(map[int]int, min(present, ref.NumChunks())) // sized by the data, not the header
	type pair struct{ a, b int }
	dups := map[pair][]int{}
	for i, r := range readers {
		for _, e := range r.chunks {
			if j, dup := where[e.chunk]; dup {
				dups[pair{j, i}] = append(dups[pair{j, i}], e.chunk)
				continue
			}
			where[e.chunk] = i
		}
	}
	if len(dups) > 0 {
		pairs := make([]pair, 0, len(dups))
		for p := range dups {
			pairs = append(pairs, p)
		}
		slices.SortFunc(pairs, func(x, y pair) int { return (x.a-y.a)*len(readers) + x.b - y.b })
		var msgs []string
		for _, p := range pairs {
			cs := dups[p]
			slices.Sort(cs)
			msgs = append(msgs, fmt.Sprintf("chunks %s are in both %s (argument %d) and %s (argument %d)",
				intList(cs), readers[p.a].Name(), p.a+1, readers[p.b].Name(), p.b+1))
		}
		return nil, fmt.Errorf("simulators: Merge: %s: %w", joinLimited(msgs), ErrDuplicate)
	}
	if len(where) != ref.NumChunks() {
		return nil, missingError(readers, where, ref)
	}
	err := writeCanonical(out, ref, func(c int) ([]byte, error) {
		r := readers[where[c]]
		return r.s.record(r.chunks[r.pos[c]].off, c)
	})
	if err != nil {
		return nil, err
	}
	info := &MergeInfo{Header: canonicalHeader(ref), Chunks: ref.NumChunks()}
	if st, err := os.Stat(out); err == nil {
		info.Bytes = st.Size()
	}
	return info, nil
}

// missingError describes the chunks missing from a merge: their ranges and,
// per shard, whether its file is absent or incomplete.
func missingError(readers []*StoreReader, where map[int]int, h *StoreHeader) error {
	nc := h.NumChunks()
	// The ranges of missing chunks, found from the sorted present ones so
	// that the work is bounded by the data, not by N.
	present := make([]int, 0, len(where))
	for c := range where {
		present = append(present, c)
	}
	slices.Sort(present)
	var ranges []string
	missing := 0
	prev := -1
	for _, c := range append(present, nc) {
		if c > prev+1 {
			missing += c - prev - 1
			if len(ranges) < 20 {
				ranges = append(ranges, chunkRange(prev+1, c-1))
			} else if len(ranges) == 20 {
				ranges = append(ranges, "…")
			}
		}
		prev = c
	}
	msg := fmt.Sprintf("simulators: Merge: %d of %d chunks missing: %s", missing, nc, strings.Join(ranges, ", "))
	// Shards: which have no file, which files are partial.
	k := 0
	for _, r := range readers {
		if !r.s.h.Complete {
			k = r.s.h.Shards
			break
		}
	}
	if k > 0 {
		files := map[int][]string{}
		for _, r := range readers {
			if !r.s.h.Complete {
				files[r.s.h.Shard] = append(files[r.s.h.Shard], r.Name())
			}
		}
		var notes []string
		var absent []int
		for i := 0; i < k && i < nc; i++ {
			if len(files[i]) == 0 {
				absent = append(absent, i)
			}
		}
		if len(absent) > 0 {
			notes = append(notes, fmt.Sprintf("no file for shard %s of %d", intList(absent), k))
		}
		for _, r := range readers {
			if want := r.s.h.shardLen(); !r.s.h.Complete && len(r.chunks) < want {
				notes = append(notes, fmt.Sprintf("%s (shard %d of %d) has %d of %d chunks: rerun its simulate command to finish it",
					r.Name(), r.s.h.Shard, k, len(r.chunks), want))
			}
		}
		if len(notes) > 0 {
			msg += "; " + joinLimited(notes)
		}
	}
	return fmt.Errorf("%s: %w", msg, ErrIncomplete)
}

func chunkRange(lo, hi int) string {
	if lo == hi {
		return fmt.Sprint(lo)
	}
	return fmt.Sprintf("%d-%d", lo, hi)
}

// intList formats up to 20 numbers as a comma-separated list of ranges.
func intList(v []int) string {
	var parts []string
	for i := 0; i < len(v); {
		j := i
		for j+1 < len(v) && v[j+1] == v[j]+1 {
			j++
		}
		parts = append(parts, chunkRange(v[i], v[j]))
		i = j + 1
	}
	return joinLimited(parts)
}

// joinLimited joins at most 20 parts with ", ".
func joinLimited(parts []string) string {
	if len(parts) > 20 {
		parts = append(parts[:20:20], "…")
	}
	return strings.Join(parts, ", ")
}
