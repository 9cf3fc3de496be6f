package nn

import "errors"

// Sentinel errors, matched with errors.Is. Returned errors wrap them with
// details.
var (
	// ErrInvalid reports an invalid argument (unknown name, negative
	// count, …).
	ErrInvalid = errors.New("invalid argument")
	// ErrFormat reports a malformed, truncated or corrupt parameter file.
	ErrFormat = errors.New("malformed parameter file")
	// ErrVersion reports a parameter file of an unsupported format version.
	ErrVersion = errors.New("unsupported parameter file version")
	// ErrShape reports a tensor whose shape does not match the expected one.
	ErrShape = errors.New("shape mismatch")
	// ErrName reports missing, unexpected, duplicate or empty tensor names.
	ErrName = errors.New("tensor name mismatch")
)
