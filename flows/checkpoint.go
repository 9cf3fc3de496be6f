package flows

import (
	"bufio"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"strconv"
	"time"

	"github.com/gosbi/gosbi/internal/atomicfile"
	"github.com/gosbi/gosbi/nn"
)

// ErrCheckpoint reports a training checkpoint that cannot be used: a file
// that is truncated, corrupt or not a checkpoint, one written by a
// different run (other data size, parameters, settings, seed or tag), or a
// checkpoint that could not be written.
var ErrCheckpoint = errors.New("unusable training checkpoint")

// CheckpointSettings makes Fit (and so Train and every sbi Train) save its
// whole state to a file and resume from it.
//
// Fit writes the checkpoint every Every epochs, when ctx is cancelled (after
// the step in progress, before returning the cancellation error), when
// OnEpoch returns an error, and once more when training finishes, marked
// complete. If Path exists when Fit starts, Fit loads it and continues from
// where it stopped; the caller must rebuild the same model (same
// architecture and initial weights, as a fixed seed gives), the same loss
// and data, and pass an rng in the same state as the interrupted call. The
// resumed run then ends with bit-for-bit the parameters, epochs, best
// validation loss and history (except the durations) of an uninterrupted
// run. A complete checkpoint makes Fit return that result at once, without
// training: the file is kept, not removed, so that a program interrupted
// after training reruns quickly. Delete it to train again.
//
// A checkpoint identifies its run by the number of rows, the names and
// shapes of the parameters, the settings that change the trajectory
// (BatchSize, LearningRate, ValidationFraction, StopAfterEpochs, MaxEpochs,
// ClipNorm, KeepLastBatch, the parts per batch (Settings.Parts, as
// applied), and in block mode the number of blocks, a hash of their
// lengths and the blocks per window), the seed Fit draws from its
// rng, Tag and the number of State entries; a file from another run is rejected with an
// error wrapping ErrCheckpoint, as is a truncated or corrupt one. Fit never
// trains over a checkpoint it cannot use. Writes are atomic: a temporary
// file in the same folder is written, synced and renamed over Path, and the
// folder is synced, so a crash at any moment leaves the previous checkpoint
// or the new one, never a mixture.
//
// File format: nn's parameter-file framing (magic "GOSBI-NN", version 1,
// JSON header, little-endian float64 data, CRC-32C trailer; see nn.Save)
// with the tensors param.i, best.i, adam.m.i and adam.v.i (each shaped as
// parameter i), train (1×NumTrain, the training rows in their current
// shuffled order, which in block mode is the epoch's window order), val
// (1×NumVal) and history (Epochs×9: epoch, train
// loss, validation loss, best validation loss, best epoch, steps, skipped,
// duration and elapsed time in nanoseconds), and the metadata keys
// "gosbi.checkpoint" (the checkpoint format version, "1"), "fingerprint"
// and "state" (JSON; floats as their IEEE-754 bits so that they round-trip
// exactly; the random source as rand.PCG's binary form).
type CheckpointSettings struct {
	// Path is the checkpoint file; it must not be empty. Its folder must
	// exist.
	Path string
	// Every is the number of epochs between periodic checkpoints; zero
	// means 1.
	Every int
	// Tag, if not empty, identifies the data and model further (for
	// example a hash of the training data): a checkpoint written with a
	// different Tag is rejected.
	Tag string
	// State lists further state that the loss function advances, typically
	// the rand.PCG behind a loss that draws random contrasting atoms; Fit
	// saves each entry with the checkpoint and restores it, in order, on
	// resume.
	State []BinaryState
}

// BinaryState is state that a checkpoint can save and restore, such as a
// *rand.PCG.
type BinaryState interface {
	encoding.BinaryMarshaler
	encoding.BinaryUnmarshaler
}

const (
	checkpointVersion = "1"
	historyCols       = 9
	// maxStateBytes bounds the JSON state (it holds small scalars, the
	// random sources and nothing that grows with the data).
	maxStateBytes = 1 << 20
)

// checkpointFingerprint identifies a training run.
type checkpointFingerprint struct {
	N             int          `json:"n"`
	NumTrain      int          `json:"num_train"`
	Params        []paramShape `json:"params"`
	BatchSize     int          `json:"batch_size"`
	LearningRate  uint64       `json:"learning_rate_bits"`
	ValFraction   uint64       `json:"validation_fraction_bits"`
	StopAfter     int          `json:"stop_after_epochs"`
	MaxEpochs     int          `json:"max_epochs"`
	ClipNorm      uint64       `json:"clip_norm_bits"`
	KeepLastBatch bool         `json:"keep_last_batch"`
	Seed          [2]uint64    `json:"seed"`
	Tag           string       `json:"tag"`
	NumState      int          `json:"num_state"`
	// Block mode (zero in row mode, and then absent from the file).
	NumBlocks    int    `json:"num_blocks,omitempty"`
	BlocksHash   uint64 `json:"blocks_hash,omitempty"`
	WindowBlocks int    `json:"window_blocks,omitempty"`
	// Parts per batch when above 1 (0, and absent from the file, for
	// serial steps, as in files written before parts existed).
	Parts int `json:"parts,omitempty"`
}

type paramShape struct {
	Name string `json:"name"`
	Rows int    `json:"rows"`
	Cols int    `json:"cols"`
}

// mismatch returns a description of the first field in which the
// checkpoint's fingerprint c differs from the run's w, or "".
func (c *checkpointFingerprint) mismatch(w *checkpointFingerprint) string {
	f := func(v uint64) string { return strconv.FormatFloat(math.Float64frombits(v), 'g', -1, 64) }
	type field struct{ name, got, want string }
	fields := []field{
		{"rows", strconv.Itoa(c.N), strconv.Itoa(w.N)},
		{"training rows", strconv.Itoa(c.NumTrain), strconv.Itoa(w.NumTrain)},
		{"number of parameters", strconv.Itoa(len(c.Params)), strconv.Itoa(len(w.Params))},
		{"batch size", strconv.Itoa(c.BatchSize), strconv.Itoa(w.BatchSize)},
		{"learning rate", f(c.LearningRate), f(w.LearningRate)},
		{"validation fraction", f(c.ValFraction), f(w.ValFraction)},
		{"stop after epochs", strconv.Itoa(c.StopAfter), strconv.Itoa(w.StopAfter)},
		{"max epochs", strconv.Itoa(c.MaxEpochs), strconv.Itoa(w.MaxEpochs)},
		{"clip norm", f(c.ClipNorm), f(w.ClipNorm)},
		{"keep last batch", strconv.FormatBool(c.KeepLastBatch), strconv.FormatBool(w.KeepLastBatch)},
		{"seed", fmt.Sprintf("%016x%016x", c.Seed[0], c.Seed[1]), fmt.Sprintf("%016x%016x", w.Seed[0], w.Seed[1])},
		{"tag", strconv.Quote(c.Tag), strconv.Quote(w.Tag)},
		{"number of extra states", strconv.Itoa(c.NumState), strconv.Itoa(w.NumState)},
		{"number of blocks", strconv.Itoa(c.NumBlocks), strconv.Itoa(w.NumBlocks)},
		{"block lengths (hash)", fmt.Sprintf("%016x", c.BlocksHash), fmt.Sprintf("%016x", w.BlocksHash)},
		{"blocks per window", strconv.Itoa(c.WindowBlocks), strconv.Itoa(w.WindowBlocks)},
		{"parts per batch", strconv.Itoa(max(1, c.Parts)), strconv.Itoa(max(1, w.Parts))},
	}
	if len(c.Params) == len(w.Params) {
		for i := range c.Params {
			a, b := c.Params[i], w.Params[i]
			fields = append(fields, field{fmt.Sprintf("parameter %d", i),
				fmt.Sprintf("%q %d×%d", a.Name, a.Rows, a.Cols), fmt.Sprintf("%q %d×%d", b.Name, b.Rows, b.Cols)})
		}
	}
	for _, fl := range fields {
		if fl.got != fl.want {
			return fmt.Sprintf("%s %s, this run has %s", fl.name, fl.got, fl.want)
		}
	}
	return ""
}

// checkpointState is the scalar state of a run.
type checkpointState struct {
	Complete     bool     `json:"complete"`
	Converged    bool     `json:"converged"`
	Epochs       int      `json:"epochs"`   // completed epochs
	InEpoch      bool     `json:"in_epoch"` // an epoch is under way (its order is shuffled)
	Pos          int      `json:"pos"`      // index in train of the epoch's next step
	Sum          uint64   `json:"sum_bits"` // running sum of the epoch's step losses
	Steps        int      `json:"steps"`
	Skipped      int      `json:"skipped"`
	TotalSkipped int      `json:"total_skipped"`
	BestValLoss  uint64   `json:"best_val_loss_bits"`
	BestEpoch    int      `json:"best_epoch"`
	SinceBest    int      `json:"since_best"`
	ElapsedNS    int64    `json:"elapsed_ns"` // training time before this checkpoint
	EpochNS      int64    `json:"epoch_ns"`   // time spent in the epoch under way
	AdamT        int      `json:"adam_t"`
	RNG          []byte   `json:"rng"`
	Extra        [][]byte `json:"extra"`
}

// checkpoint is a decoded checkpoint file.
type checkpoint struct {
	fp                         checkpointFingerprint
	st                         checkpointState
	params, best, adamM, adamV [][]float64
	train, val                 []int
	history                    []EpochStats
}

// writeCheckpoint encodes c to w.
func writeCheckpoint(w io.Writer, c *checkpoint) error {
	fp, err := json.Marshal(&c.fp)
	if err != nil {
		return err
	}
	st, err := json.Marshal(&c.st)
	if err != nil {
		return err
	}
	meta := map[string]string{"gosbi.checkpoint": checkpointVersion, "fingerprint": string(fp), "state": string(st)}
	var ts []*nn.Tensor
	add := func(name string, rows, cols int, data []float64) {
		ts = append(ts, &nn.Tensor{Name: name, Rows: rows, Cols: cols, Data: data})
	}
	for i, p := range c.fp.Params {
		add(fmt.Sprintf("param.%d", i), p.Rows, p.Cols, c.params[i])
		add(fmt.Sprintf("best.%d", i), p.Rows, p.Cols, c.best[i])
		add(fmt.Sprintf("adam.m.%d", i), p.Rows, p.Cols, c.adamM[i])
		add(fmt.Sprintf("adam.v.%d", i), p.Rows, p.Cols, c.adamV[i])
	}
	add("train", 1, len(c.train), intsToFloats(c.train))
	add("val", 1, len(c.val), intsToFloats(c.val))
	h := make([]float64, 0, historyCols*len(c.history))
	for _, e := range c.history {
		h = append(h, float64(e.Epoch), e.TrainLoss, e.ValLoss, e.BestValLoss, float64(e.BestEpoch),
			float64(e.Steps), float64(e.Skipped), float64(e.Duration), float64(e.Elapsed))
	}
	add("history", len(c.history), historyCols, h)
	return nn.SaveMeta(w, ts, meta)
}

func intsToFloats(xs []int) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = float64(x)
	}
	return out
}

// readCheckpoint decodes a checkpoint from r and checks that it is
// self-consistent (not that it belongs to a given run: see check). It
// reads exactly one file's bytes and requires r to end there. Memory grows
// only with the bytes actually present. Errors wrap ErrCheckpoint.
func readCheckpoint(r io.Reader) (*checkpoint, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("flows: checkpoint: %s: %w", fmt.Sprintf(format, args...), ErrCheckpoint)
	}
	ts, meta, err := nn.Read(r)
	if err != nil {
		return nil, fmt.Errorf("flows: checkpoint: %w: %w", err, ErrCheckpoint)
	}
	var one [1]byte
	if n, _ := io.ReadFull(r, one[:]); n != 0 {
		return nil, bad("trailing bytes after the checksum")
	}
	if v := meta["gosbi.checkpoint"]; v != checkpointVersion {
		return nil, bad("format version %q, want %q (not a training checkpoint?)", v, checkpointVersion)
	}
	c := new(checkpoint)
	if len(meta["fingerprint"]) > maxStateBytes || len(meta["state"]) > maxStateBytes {
		return nil, bad("metadata exceeds %d bytes", maxStateBytes)
	}
	if err := json.Unmarshal([]byte(meta["fingerprint"]), &c.fp); err != nil {
		return nil, bad("fingerprint: %v", err)
	}
	if err := json.Unmarshal([]byte(meta["state"]), &c.st); err != nil {
		return nil, bad("state: %v", err)
	}
	fp, st := &c.fp, &c.st
	switch {
	case fp.N < 2 || fp.NumTrain < 1 || fp.NumTrain >= fp.N:
		return nil, bad("%d rows with %d for training", fp.N, fp.NumTrain)
	case fp.BatchSize < 1 || fp.StopAfter < 1 || fp.MaxEpochs < 1 || fp.NumState < 0 || fp.NumBlocks < 0 || fp.WindowBlocks < 0 || fp.Parts < 0:
		return nil, bad("invalid settings in the fingerprint")
	case len(ts) != 4*len(fp.Params)+3:
		return nil, bad("%d tensors for %d parameters, want %d", len(ts), len(fp.Params), 4*len(fp.Params)+3)
	case st.Epochs < 0 || st.Epochs > fp.MaxEpochs:
		return nil, bad("%d epochs done of at most %d", st.Epochs, fp.MaxEpochs)
	case st.Pos < 0 || st.Pos > fp.NumTrain || (!st.InEpoch && st.Pos != 0):
		return nil, bad("position %d in an epoch of %d rows", st.Pos, fp.NumTrain)
	case st.Steps < 0 || st.Skipped < 0 || st.TotalSkipped < 0 || st.AdamT < 0:
		return nil, bad("negative step counts")
	case st.BestEpoch < 0 || st.BestEpoch > st.Epochs || st.SinceBest < 0 || st.SinceBest > st.Epochs:
		return nil, bad("best epoch %d, %d since, of %d epochs", st.BestEpoch, st.SinceBest, st.Epochs)
	case st.Complete && st.InEpoch:
		return nil, bad("complete in the middle of an epoch")
	case len(st.Extra) != fp.NumState:
		return nil, bad("%d extra states, the fingerprint says %d", len(st.Extra), fp.NumState)
	}
	// Tensors, in the order writeCheckpoint writes them.
	k := 0
	next := func(name string, rows, cols int) ([]float64, error) {
		t := ts[k]
		k++
		if t.Name != name || t.Rows != rows || t.Cols != cols {
			return nil, bad("tensor %q %d×%d, want %q %d×%d", t.Name, t.Rows, t.Cols, name, rows, cols)
		}
		return t.Data, nil
	}
	np := len(fp.Params)
	c.params, c.best = make([][]float64, np), make([][]float64, np)
	c.adamM, c.adamV = make([][]float64, np), make([][]float64, np)
	for i, p := range fp.Params {
		if p.Rows < 0 || p.Cols < 0 {
			return nil, bad("parameter %d has shape %d×%d", i, p.Rows, p.Cols)
		}
		for _, dst := range []struct {
			prefix string
			to     [][]float64
		}{{"param.", c.params}, {"best.", c.best}, {"adam.m.", c.adamM}, {"adam.v.", c.adamV}} {
			d, err := next(fmt.Sprintf("%s%d", dst.prefix, i), p.Rows, p.Cols)
			if err != nil {
				return nil, err
			}
			dst.to[i] = d
		}
	}
	tr, err := next("train", 1, fp.NumTrain)
	if err != nil {
		return nil, err
	}
	va, err := next("val", 1, fp.N-fp.NumTrain)
	if err != nil {
		return nil, err
	}
	hist, err := next("history", st.Epochs, historyCols)
	if err != nil {
		return nil, err
	}
	// The rows: together a permutation of 0..n-1.
	seen := make([]bool, fp.N)
	toInts := func(what string, fs []float64) ([]int, error) {
		out := make([]int, len(fs))
		for i, v := range fs {
			if !(v >= 0 && v < float64(fp.N)) || v != math.Trunc(v) || seen[int(v)] {
				return nil, bad("%s row %d: %v is not an unused row index below %d", what, i, v, fp.N)
			}
			out[i] = int(v)
			seen[out[i]] = true
		}
		return out, nil
	}
	if c.train, err = toInts("training", tr); err != nil {
		return nil, err
	}
	if c.val, err = toInts("validation", va); err != nil {
		return nil, err
	}
	c.history = make([]EpochStats, st.Epochs)
	for i := range c.history {
		h := hist[i*historyCols : (i+1)*historyCols]
		var ints [6]int64
		for j, col := range []int{0, 4, 5, 6, 7, 8} {
			v := h[col]
			if !(v >= 0 && v <= 1<<62) || v != math.Trunc(v) {
				return nil, bad("history row %d column %d: %v is not a count", i, col, v)
			}
			ints[j] = int64(v)
		}
		if ints[0] != int64(i+1) || ints[1] > ints[0] {
			return nil, bad("history row %d: epoch %d, best epoch %d", i, ints[0], ints[1])
		}
		c.history[i] = EpochStats{Epoch: i + 1, TrainLoss: h[1], ValLoss: h[2], BestValLoss: h[3], BestEpoch: int(ints[1]),
			Steps: int(ints[2]), Skipped: int(ints[3]), Duration: time.Duration(ints[4]), Elapsed: time.Duration(ints[5])}
	}
	return c, nil
}

// check returns an error wrapping ErrCheckpoint unless c was written by the
// run identified by fp whose validation rows are val.
func (c *checkpoint) check(fp *checkpointFingerprint, val []int) error {
	if m := c.fp.mismatch(fp); m != "" {
		return fmt.Errorf("flows: checkpoint from another run: %s: %w", m, ErrCheckpoint)
	}
	if len(c.val) != len(val) {
		return fmt.Errorf("flows: checkpoint from another run: %d validation rows, this run has %d: %w", len(c.val), len(val), ErrCheckpoint)
	}
	for i := range val {
		if c.val[i] != val[i] {
			return fmt.Errorf("flows: checkpoint from another run: different validation rows: %w", ErrCheckpoint)
		}
	}
	return nil
}

// loadCheckpoint reads the checkpoint at path: (nil, nil) if there is no
// file. Errors wrap ErrCheckpoint.
func loadCheckpoint(path string) (*checkpoint, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("flows: checkpoint: %w: %w", err, ErrCheckpoint)
	}
	defer f.Close()
	c, err := readCheckpoint(bufio.NewReader(f))
	if err != nil {
		return nil, fmt.Errorf("%w (file %s)", err, path)
	}
	return c, nil
}

// writeFileAtomic writes path through write atomically (see
// atomicfile.Write), readable by everyone; a variable so that tests can
// inject failures.
var writeFileAtomic = func(path string, write func(io.Writer) error) error {
	return atomicfile.Write(path, 0o644, write)
}
