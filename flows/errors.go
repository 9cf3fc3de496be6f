package flows

import "errors"

// Sentinel errors, matched with errors.Is. Returned errors wrap them with details.
var (
	// ErrConfig reports an invalid architecture or training setting.
	ErrConfig = errors.New("invalid configuration")
	// ErrData reports unusable data: no rows, NaN or Inf values, or row or
	// column counts that do not match the flow or each other.
	ErrData = errors.New("invalid data")
	// ErrFormat reports a saved flow that is truncated, corrupt or not a flow.
	ErrFormat = errors.New("malformed flow file")
	// ErrVersion reports a saved flow of an unsupported format version.
	ErrVersion = errors.New("unsupported flow file version")
	// ErrEmbedding reports a saved flow whose context embedding is not one of
	// the nn layer types Save can describe; load it with LoadWithEmbedding.
	ErrEmbedding = errors.New("custom context embedding")
	// ErrNonFinite reports training that diverged: every step of an epoch
	// had a NaN or infinite loss or gradient, or no epoch reached a finite
	// validation loss. Fit restores the best weights before returning it.
	ErrNonFinite = errors.New("non-finite training loss")
)
