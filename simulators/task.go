package simulators

import (
	"bufio"
	"compress/bzip2"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/gosbi/gosbi/dist"
	"gonum.org/v1/gonum/mat"
)

// Task is one sbibm benchmark task: a prior, a simulator and the names of
// parameters and data, plus what is known in closed form. Its fields are set
// by NewTask and must be treated as read-only.
type Task struct {
	// Name is the sbibm name, e.g. "two_moons".
	Name string
	// Prior is the prior over θ.
	Prior dist.Distribution
	// Simulator simulates x given θ. It is safe for concurrent use.
	Simulator Simulator
	// ThetaNames and XNames name the components of θ and x.
	ThetaNames, XNames []string
	// Likelihood is p(x | θ) as a dist.Conditional: Condition(θ) returns the
	// distribution of x at θ, whose LogProb is the exact log-likelihood and
	// whose Sample runs the simulator. It is nil for bernoulli_glm, whose
	// summary statistics have no tractable likelihood (bernoulli_glm_raw's
	// gives the same posterior), and for slcp_distractors, whose
	// 92-dimensional Student-t mixture has scale matrices with condition
	// numbers up to 1e18, too ill-conditioned to evaluate its density in
	// float64 (its posterior is slcp's, given the 8 informative values).
	// Condition panics if len(θ) is not the θ dimension.
	Likelihood dist.Conditional
	// Posterior returns the analytic posterior p(θ | x) for the observation
	// x. It is nil except for gaussian_linear (see GaussianLinearPosterior).
	Posterior func(x []float64) (dist.Distribution, error)

	refTask, obsFile string // where LoadReference finds the data
}

// Dims returns the lengths of θ and x.
func (t *Task) Dims() (theta, x int) { return t.Simulator.Dims() }

// Reference loads the reference data of observation k of this task from an
// sbibm-layout folder; see LoadReference.
func (t *Task) Reference(dataDir string, k int) (*Reference, error) {
	return LoadReference(dataDir, t.Name, k)
}

// taskInfo is one registry entry.
type taskInfo struct {
	name             string
	thetaDim, xDim   int
	refTask, obsFile string
	build            func(dataDir string) (*Task, error)
}

// registry lists the tasks in the order of the sbibm paper's overview.
var registry = []taskInfo{
	{"gaussian_linear", 10, 10, "gaussian_linear", "observation.csv", func(string) (*Task, error) { return gaussianLinearTask() }},
	{"gaussian_linear_uniform", 10, 10, "gaussian_linear_uniform", "observation.csv", func(string) (*Task, error) { return gaussianLinearUniformTask() }},
	{"slcp", 5, 8, "slcp", "observation.csv", func(string) (*Task, error) { return slcpTask() }},
	{"slcp_distractors", 5, 100, "slcp", "observation_distractors.csv", slcpDistractorsTask},
	{"bernoulli_glm", 10, 10, "bernoulli_glm", "observation.csv", func(string) (*Task, error) { return bernoulliGLMTask(false) }},
	{"bernoulli_glm_raw", 10, 100, "bernoulli_glm", "observation_raw.csv", func(string) (*Task, error) { return bernoulliGLMTask(true) }},
	{"gaussian_mixture", 2, 2, "gaussian_mixture", "observation.csv", func(string) (*Task, error) { return gaussianMixtureTask() }},
	{"two_moons", 2, 2, "two_moons", "observation.csv", func(string) (*Task, error) { return twoMoonsTask() }},
	{"sir", 2, 10, "sir", "observation.csv", func(string) (*Task, error) { return sirTask() }},
	{"lotka_volterra", 4, 20, "lotka_volterra", "observation.csv", func(string) (*Task, error) { return lotkaVolterraTask() }},
}

func lookup(name string) (taskInfo, error) {
	for _, ti := range registry {
		if ti.name == name {
			return ti, nil
		}
	}
	return taskInfo{}, fmt.Errorf("%w %q (known: %s)", ErrUnknownTask, name, strings.Join(TaskNames(), ", "))
}

// TaskNames returns the names of the ten sbibm tasks NewTask knows.
func TaskNames() []string {
	names := make([]string, len(registry))
	for i, ti := range registry {
		names[i] = ti.name
	}
	return names
}

// NewTask returns the sbibm task called name (see TaskNames). dataDir is the
// folder holding the sbibm data in its layout (the one containing slcp/,
// two_moons/, ...); only slcp_distractors reads it, for the constants of its
// distractors, and the other tasks accept "". It returns an error wrapping
// ErrUnknownTask for an unknown name and ErrNoData (or ErrFormat) when
// slcp_distractors' constants are missing (or malformed).
func NewTask(name, dataDir string) (*Task, error) {
	ti, err := lookup(name)
	if err != nil {
		return nil, err
	}
	t, err := ti.build(dataDir)
	if err != nil {
		return nil, err
	}
	t.Name, t.refTask, t.obsFile = ti.name, ti.refTask, ti.obsFile
	return t, nil
}

// Reference is the reference data of one observation of a task.
type Reference struct {
	// Observation is the observed x.
	Observation []float64
	// TrueParameters is the θ that generated the observation.
	TrueParameters []float64
	// PosteriorSamples holds reference samples of p(θ | x), one per row
	// (10,000 in sbibm), in the natural parameter space.
	PosteriorSamples *mat.Dense
}

// LoadReference reads observation k of task from dataDir, a folder in
// sbibm's layout: <task>/num_observation_<k>/observation.csv,
// true_parameters.csv and reference_posterior_samples.csv.bz2.
// slcp_distractors reads slcp's folder with observation_distractors.csv as
// its observation, and bernoulli_glm_raw reads bernoulli_glm's with
// observation_raw.csv. Any k present in the folder works. It returns an
// error wrapping ErrUnknownTask for an unknown task, ErrNoData when the
// folder or a file is missing, and ErrFormat or ErrShape (as a *FileError
// naming the file) when a file is malformed or has the wrong number of
// values.
func LoadReference(dataDir, task string, k int) (*Reference, error) {
	obs, tp, err := LoadObservation(dataDir, task, k)
	if err != nil {
		return nil, err
	}
	ti, _ := lookup(task)
	samples, err := readRefCSV(filepath.Join(observationDir(dataDir, ti, k), "reference_posterior_samples.csv.bz2"), 0, ti.thetaDim)
	if err != nil {
		return nil, err
	}
	return &Reference{Observation: obs, TrueParameters: tp, PosteriorSamples: samples}, nil
}

// LoadObservation reads only the observation and the true parameters of
// observation k of task, as LoadReference does, skipping the reference
// samples (whose bzip2 decompression dominates the time of LoadReference).
func LoadObservation(dataDir, task string, k int) (observation, trueParameters []float64, err error) {
	ti, err := lookup(task)
	if err != nil {
		return nil, nil, err
	}
	dir := observationDir(dataDir, ti, k)
	if _, err := os.Stat(dir); err != nil {
		avail, _ := ObservationNumbers(dataDir, task)
		return nil, nil, fmt.Errorf("%w: observation %d of %s: %v (available: %v)", ErrNoData, k, task, err, avail)
	}
	obs, err := readRefCSV(filepath.Join(dir, ti.obsFile), 1, ti.xDim)
	if err != nil {
		return nil, nil, err
	}
	tp, err := readRefCSV(filepath.Join(dir, "true_parameters.csv"), 1, ti.thetaDim)
	if err != nil {
		return nil, nil, err
	}
	return obs.RawRowView(0), tp.RawRowView(0), nil
}

func observationDir(dataDir string, ti taskInfo, k int) string {
	return filepath.Join(dataDir, ti.refTask, "num_observation_"+strconv.Itoa(k))
}

// ObservationNumbers returns, in increasing order, the numbers k for which
// dataDir holds a num_observation_k folder of task. It returns an error
// wrapping ErrUnknownTask or ErrNoData.
func ObservationNumbers(dataDir, task string) ([]int, error) {
	ti, err := lookup(task)
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(filepath.Join(dataDir, ti.refTask))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoData, err)
	}
	var ks []int
	for _, e := range entries {
		if s, ok := strings.CutPrefix(e.Name(), "num_observation_"); ok && e.IsDir() {
			if k, err := strconv.Atoi(s); err == nil {
				ks = append(ks, k)
			}
		}
	}
	sort.Ints(ks)
	return ks, nil
}

// readRefCSV reads a CSV matrix, bzip2-compressed when the name ends in
// .bz2, and checks its shape (rows 0 means any number). A missing file
// gives an error wrapping ErrNoData.
func readRefCSV(name string, rows, cols int) (*mat.Dense, error) {
	f, err := os.Open(name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: %v", ErrNoData, err)
		}
		return nil, fmt.Errorf("simulators: %w", err)
	}
	defer f.Close()
	return decodeRef(bufio.NewReader(f), name, strings.HasSuffix(name, ".bz2"), maxRefBytes, rows, cols)
}

// maxRefBytes bounds the decompressed size of a bzip2-compressed reference
// file: sbibm's largest, 10,000 samples of 10 parameters, is about 1 MB of
// text, and a few dozen bytes of bzip2 can expand to gigabytes (a
// decompression bomb would otherwise exhaust memory in decodeCSV).
const maxRefBytes = 256 << 20

// errRefTooLarge reports a compressed reference file that expands past
// its limit.
var errRefTooLarge = errors.New("decompressed data too large")

// capReader passes reads through until more than max bytes have been read
// in total, then fails with errRefTooLarge.
type capReader struct {
	r         io.Reader
	read, max int64
}

func (c *capReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if c.read += int64(n); c.read > c.max {
		return n, errRefTooLarge
	}
	return n, err
}

// decodeRef is readRefCSV on an open file r (bzip2-compressed when bz2 is
// set, then decompressing at most limit bytes); name is used in errors.
func decodeRef(r io.Reader, name string, bz2 bool, limit int64, rows, cols int) (*mat.Dense, error) {
	var (
		m   *mat.Dense
		err error
	)
	if bz2 {
		m, _, err = decodeCSV(&capReader{r: bzip2.NewReader(r), max: limit}, name)
	} else {
		m, _, err = decodeCSV(r, name)
	}
	if errors.Is(err, errRefTooLarge) {
		return nil, &FileError{File: name, Err: fmt.Errorf("decompresses to more than %d bytes: %w", limit, ErrFormat)}
	}
	if err != nil {
		var se bzip2.StructuralError
		if errors.As(err, &se) {
			return nil, &FileError{File: name, Err: fmt.Errorf("%v: %w", se, ErrFormat)}
		}
		if bz2 && errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, &FileError{File: name, Err: fmt.Errorf("truncated bzip2 data: %w", ErrFormat)}
		}
		return nil, err
	}
	mr, mc := m.Dims()
	if (rows > 0 && mr != rows) || mc != cols {
		want := fmt.Sprintf("%d×%d", rows, cols)
		if rows == 0 {
			want = fmt.Sprintf("%d columns", cols)
		}
		return nil, &FileError{File: name, Err: fmt.Errorf("%d×%d values, want %s: %w", mr, mc, want, ErrShape)}
	}
	return m, nil
}
