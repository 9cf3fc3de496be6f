package simulators

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"
)

// Sentinel errors of this package. Errors returned by its functions wrap one
// of them; test with errors.Is.
var (
	// ErrInput reports an invalid argument: a nil simulator or proposal, a
	// non-positive count, mismatched dimensions, a bad setting.
	ErrInput = errors.New("simulators: invalid input")
	// ErrShape reports data of the wrong shape: a simulator output of the
	// wrong length, matrices whose rows or columns disagree, a file whose
	// array is not two-dimensional or does not match its companion file.
	ErrShape = errors.New("simulators: wrong shape")
	// ErrFormat reports a malformed data file: a ragged CSV row, a
	// non-numeric cell, a missing header, an unsupported or truncated .npy
	// file. The error names the file and, where it applies, the line and
	// column.
	ErrFormat = errors.New("simulators: malformed file")
	// ErrPanic reports that a simulator panicked; the panic value is in the
	// message.
	ErrPanic = errors.New("simulators: simulator panicked")
	// ErrUnknownTask reports a task name that is not in the registry.
	ErrUnknownTask = errors.New("simulators: unknown task")
	// ErrNoData reports that reference data or task constants are missing
	// from the data folder given.
	ErrNoData = errors.New("simulators: reference data not found")
)

// Simulator maps one parameter vector θ to one simulated data vector x.
//
// Run simulates x for theta and writes it into dst, which has length xDim
// when it is not nil; when dst is nil Run allocates it. Run returns the
// slice holding x. All randomness must come from rng; given the same θ and
// the same state of rng, Run must return the same x. Run must not modify
// theta and must not keep theta, dst or rng after it returns. It returns an
// error for a failed simulation; a result containing NaN or ±Inf is not an
// error but is flagged invalid by Simulate. Long simulations should give up
// when ctx is done and return ctx.Err().
//
// Run must be safe to call from several goroutines at once (each call gets
// its own rng and dst); Simulate calls it from its workers.
//
// The method is called Run, not Simulate, so that it is not confused with
// this package's driver function Simulate, which runs a simulator many times.
type Simulator interface {
	// Dims returns the lengths of θ and x.
	Dims() (theta, x int)
	// Run simulates one x for theta; see the interface documentation.
	Run(ctx context.Context, dst, theta []float64, rng *rand.Rand) ([]float64, error)
}

// BatchSimulator is an optional capability of a Simulator that simulates many
// parameter vectors at once, for example with vectorised code. Simulate uses
// RunBatch, once per chunk of simulations, when the simulator implements it.
//
// RunBatch simulates every row of theta (n×thetaDim) into the same row of
// dst (n×xDim, allocated by the caller). errs has length n; RunBatch sets
// errs[i] to a non-nil error when simulation i failed and leaves it nil
// otherwise. It returns a non-nil error only when the whole batch failed.
// The same rules as for Run apply: randomness only from rng, no retained
// arguments, safe for concurrent use, give up when ctx is done.
type BatchSimulator interface {
	Simulator
	RunBatch(ctx context.Context, dst, theta *mat.Dense, errs []error, rng *rand.Rand) error
}

// SimulatorFunc adapts an ordinary function to the Simulator interface. The
// function F is called as Run, with the same contract; ThetaDim and XDim are
// what Dims returns.
type SimulatorFunc struct {
	ThetaDim, XDim int
	F              func(ctx context.Context, dst, theta []float64, rng *rand.Rand) ([]float64, error)
}

var _ Simulator = SimulatorFunc{}

// Dims returns f.ThetaDim and f.XDim.
func (f SimulatorFunc) Dims() (theta, x int) { return f.ThetaDim, f.XDim }

// Run calls f.F. It returns an error wrapping ErrInput when f.F is nil.
func (f SimulatorFunc) Run(ctx context.Context, dst, theta []float64, rng *rand.Rand) ([]float64, error) {
	if f.F == nil {
		return nil, fmt.Errorf("simulators: SimulatorFunc with nil F: %w", ErrInput)
	}
	return f.F(ctx, dst, theta, rng)
}

// SimError is the failure of one simulation: which one, at which θ, and why.
// Simulate reports the first few of them in Report.Errors.
type SimError struct {
	Index int       // index of the simulation (row of the requested batch)
	Theta []float64 // the parameters it was run at
	Err   error     // what went wrong
}

// Error returns "simulation <index> at theta [..]: <cause>".
func (e *SimError) Error() string {
	return fmt.Sprintf("simulation %d at theta %v: %v", e.Index, e.Theta, e.Err)
}

// Unwrap returns the cause, so errors.Is sees ErrPanic and friends.
func (e *SimError) Unwrap() error { return e.Err }

// prepare validates the arguments of a Run call against the dimensions of a
// simulator and returns the output slice: dst itself, or a new slice when dst
// is nil. It returns an error wrapping ErrShape on a length mismatch.
func prepare(dst, theta []float64, thetaDim, xDim int, who string) ([]float64, error) {
	if len(theta) != thetaDim {
		return nil, fmt.Errorf("simulators: %s: len(theta) = %d, want %d: %w", who, len(theta), thetaDim, ErrShape)
	}
	if dst == nil {
		return make([]float64, xDim), nil
	}
	if len(dst) != xDim {
		return nil, fmt.Errorf("simulators: %s: len(dst) = %d, want %d: %w", who, len(dst), xDim, ErrShape)
	}
	return dst, nil
}
