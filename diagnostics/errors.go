package diagnostics

import (
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"
)

// Sentinel errors, for errors.Is. Errors returned by this package wrap one
// of them (or an error from the caller's posterior, simulator or callback, or
// the context's error).
var (
	// ErrEmpty reports a nil or empty input, or too few rows for the
	// requested computation.
	ErrEmpty = errors.New("diagnostics: empty input")
	// ErrDim reports inputs whose shapes do not agree.
	ErrDim = errors.New("diagnostics: dimension mismatch")
	// ErrNonFinite reports a NaN or infinite value in data, in a posterior
	// draw or in a reduce statistic.
	ErrNonFinite = errors.New("diagnostics: non-finite value")
	// ErrSettings reports an invalid argument or settings field.
	ErrSettings = errors.New("diagnostics: invalid settings")
)

// checkMatrix validates a user matrix: non-nil, non-empty, all finite. name is
// used in the error message.
func checkMatrix(name string, m *mat.Dense) (rows, cols int, err error) {
	if m == nil || m.IsEmpty() {
		return 0, 0, fmt.Errorf("%s: %w", name, ErrEmpty)
	}
	rows, cols = m.Dims()
	for i := 0; i < rows; i++ {
		for j, v := range m.RawRowView(i) {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return 0, 0, fmt.Errorf("%s row %d column %d is %v: %w", name, i, j, v, ErrNonFinite)
			}
		}
	}
	return rows, cols, nil
}

// checkVector validates a user vector: non-empty and finite.
func checkVector(name string, v []float64) error {
	if len(v) == 0 {
		return fmt.Errorf("%s: %w", name, ErrEmpty)
	}
	for j, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Errorf("%s[%d] is %v: %w", name, j, x, ErrNonFinite)
		}
	}
	return nil
}

// checkTestSet validates the (θ, x) pairs of a calibration run and returns
// the number of tests and the parameter dimension.
func checkTestSet(theta, x *mat.Dense, nSamples int) (tests, dim int, err error) {
	tests, dim, err = checkMatrix("theta", theta)
	if err != nil {
		return 0, 0, err
	}
	xr, _, err := checkMatrix("x", x)
	if err != nil {
		return 0, 0, err
	}
	if xr != tests {
		return 0, 0, fmt.Errorf("theta has %d rows but x has %d: %w", tests, xr, ErrDim)
	}
	if nSamples < 1 {
		return 0, 0, fmt.Errorf("number of posterior samples %d < 1: %w", nSamples, ErrSettings)
	}
	return tests, dim, nil
}

// checkLevels validates credibility levels (each in [0, 1], increasing).
func checkLevels(levels []float64) error {
	for i, a := range levels {
		if !(a >= 0 && a <= 1) {
			return fmt.Errorf("level %d is %v, not in [0, 1]: %w", i, a, ErrSettings)
		}
		if i > 0 && a <= levels[i-1] {
			return fmt.Errorf("levels are not increasing at %d: %w", i, ErrSettings)
		}
	}
	return nil
}
