package vi

import "errors"

// Sentinel errors, matched with errors.Is. Returned errors wrap them with
// details.
var (
	// ErrConfig reports invalid settings or an unusable variational family
	// (a nil flow, a conditional flow given to Fit, a dimension mismatch).
	ErrConfig = errors.New("invalid configuration")
	// ErrTarget reports an unusable target: nil, of the wrong dimension, or
	// without a gradient with respect to θ.
	ErrTarget = errors.New("invalid target")
	// ErrData reports unusable data: too few or non-finite log weights for
	// PSIS, empty or non-finite contexts for amortised VI.
	ErrData = errors.New("invalid data")
	// ErrNonFinite reports an optimisation that produced no finite loss or
	// gradient for many consecutive iterations.
	ErrNonFinite = errors.New("non-finite loss or gradient")
)
