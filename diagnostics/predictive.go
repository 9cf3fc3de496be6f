package diagnostics

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"gonum.org/v1/gonum/mat"
)

// Simulator is what PredictiveCheck needs of a simulator: Run writes one
// output x for the parameters theta into dst (allocated if nil) and returns
// it, taking all its randomness from rng; it returns an error for a failed
// simulation. It must be safe for concurrent use when Workers > 1. Every
// simulators.Simulator satisfies it; SimulatorFunc adapts a plain function.
type Simulator interface {
	Run(ctx context.Context, dst, theta []float64, rng *rand.Rand) ([]float64, error)
}

// SimulatorFunc adapts a function to the Simulator interface.
type SimulatorFunc func(ctx context.Context, dst, theta []float64, rng *rand.Rand) ([]float64, error)

// Run calls f.
func (f SimulatorFunc) Run(ctx context.Context, dst, theta []float64, rng *rand.Rand) ([]float64, error) {
	return f(ctx, dst, theta, rng)
}

var _ Simulator = SimulatorFunc(nil)

// PredictiveSettings tunes PredictiveCheck. The zero value (or a nil pointer)
// gives the defaults.
type PredictiveSettings struct {
	// Workers is the number of goroutines; 0 means GOMAXPROCS. The result does
	// not depend on it.
	Workers int
	// Level is the probability of the central predictive interval reported
	// per dimension; 0 means 0.95.
	Level float64
	// OnProgress, if set, is called after every finished chunk of 100
	// simulations with the numbers of chunks done and in all, one call at a
	// time; a non-nil error stops the run and is returned wrapped.
	OnProgress func(done, total int) error
}

// PredictiveResult is the outcome of a posterior predictive check.
type PredictiveResult struct {
	// X is S×Dx: row j is the simulation from posterior draw j. Rows with a
	// non-finite value are kept here but excluded from everything else.
	X *mat.Dense
	// Invalid counts the simulations with a NaN or infinite value.
	Invalid int
	// Distances are the Euclidean distances ‖x_j − x_o‖ of the valid rows,
	// in row order.
	Distances []float64
	// MedianDistance is the lower median of Distances (torch.median's
	// convention): sbibm's MEDDIST metric (Lueckmann et al. 2021, §3).
	MedianDistance float64
	// Lower and Upper bound, per dimension, the central predictive interval
	// of probability Level (quantiles (1 ∓ Level)/2 of the valid rows, linear
	// interpolation); Inside[d] reports whether x_o[d] lies in it.
	Lower, Upper []float64
	Inside       []bool
	// PIT[d] is the fraction of valid simulations with x_jd ≤ x_o[d], the
	// predictive quantile of the observation: values near 0 or 1 flag a
	// dimension the posterior predictive does not reproduce.
	PIT []float64
	// Runtime is the wall-clock time of the check.
	Runtime time.Duration
}

// PredictiveCheck runs a posterior predictive check (Gelman et al., Bayesian
// Data Analysis, 3rd ed., ch. 6): it simulates one x for every posterior draw
// (row of samples), and compares the simulations with the observation xo
// through their distances to it (sbibm's MEDDIST) and per-dimension
// predictive intervals.
//
// Simulations run in parallel in chunks of 100 rows; chunk c draws from
// rand.NewPCG(seed, c) with seed the first Uint64 of rng, so the result does
// not depend on Workers. A simulator error stops the check and is returned
// wrapped, with the row index; non-finite outputs are counted in Invalid.
// It returns an error wrapping ErrEmpty if no simulation is valid, and ctx's
// error if ctx is cancelled.
func PredictiveCheck(ctx context.Context, sim Simulator, samples *mat.Dense, xo []float64, rng *rand.Rand, s *PredictiveSettings) (*PredictiveResult, error) {
	start := time.Now()
	if s == nil {
		s = &PredictiveSettings{}
	}
	if sim == nil || rng == nil {
		return nil, fmt.Errorf("diagnostics: PredictiveCheck needs a simulator and an rng: %w", ErrSettings)
	}
	level := s.Level
	if level == 0 {
		level = 0.95
	}
	if !(level > 0 && level < 1) {
		return nil, fmt.Errorf("diagnostics: PredictiveCheck: level %v not in (0, 1): %w", level, ErrSettings)
	}
	S, _, err := checkMatrix("samples", samples)
	if err != nil {
		return nil, fmt.Errorf("diagnostics: PredictiveCheck: %w", err)
	}
	if err := checkVector("observation", xo); err != nil {
		return nil, fmt.Errorf("diagnostics: PredictiveCheck: %w", err)
	}
	dx := len(xo)
	res := &PredictiveResult{X: mat.NewDense(S, dx, nil)}
	const chunk = 100
	chunks := (S + chunk - 1) / chunk
	seed := rng.Uint64()
	workers := workerCount(s.Workers, chunks)
	bufs := make([][]float64, workers)
	for w := range bufs {
		bufs[w] = make([]float64, dx)
	}
	err = forEach(ctx, chunks, workers, s.OnProgress, func(w, c int) error {
		r := rand.New(rand.NewPCG(seed, uint64(c)))
		for j := c * chunk; j < min(S, (c+1)*chunk); j++ {
			if err := ctx.Err(); err != nil {
				return err
			}
			out, err := sim.Run(ctx, bufs[w], samples.RawRowView(j), r)
			if err != nil {
				return fmt.Errorf("diagnostics: PredictiveCheck: simulation %d: %w", j, err)
			}
			if len(out) != dx {
				return fmt.Errorf("diagnostics: PredictiveCheck: simulation %d has %d values, observation %d: %w", j, len(out), dx, ErrDim)
			}
			copy(res.X.RawRowView(j), out)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	valid := make([]int, 0, S)
	for j := 0; j < S; j++ {
		ok := true
		for _, v := range res.X.RawRowView(j) {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				ok = false
				break
			}
		}
		if ok {
			valid = append(valid, j)
		} else {
			res.Invalid++
		}
	}
	if len(valid) == 0 {
		return nil, fmt.Errorf("diagnostics: PredictiveCheck: all %d simulations are non-finite: %w", S, ErrEmpty)
	}
	res.Distances = make([]float64, len(valid))
	for k, j := range valid {
		res.Distances[k] = math.Sqrt(sqDist(res.X.RawRowView(j), xo))
	}
	res.MedianDistance = lowerMedian(slices.Clone(res.Distances))
	res.Lower, res.Upper = make([]float64, dx), make([]float64, dx)
	res.Inside, res.PIT = make([]bool, dx), make([]float64, dx)
	col := make([]float64, len(valid))
	for d := 0; d < dx; d++ {
		below := 0
		for k, j := range valid {
			col[k] = res.X.At(j, d)
			if col[k] <= xo[d] {
				below++
			}
		}
		slices.Sort(col)
		res.Lower[d] = quantileSorted(col, (1-level)/2)
		res.Upper[d] = quantileSorted(col, (1+level)/2)
		res.Inside[d] = xo[d] >= res.Lower[d] && xo[d] <= res.Upper[d]
		res.PIT[d] = float64(below) / float64(len(valid))
	}
	res.Runtime = time.Since(start)
	return res, nil
}
