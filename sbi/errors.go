package sbi

import "errors"

// Sentinel errors, matched with errors.Is. Returned errors wrap them with
// details; errors of the packages underneath (flows, simulators, nn) are
// wrapped as well, so their sentinels match too.
var (
	// ErrInput reports an invalid argument: a nil prior or simulator, a
	// non-positive count, an observation or a matrix of the wrong dimension,
	// non-finite values where finite ones are required, an invalid setting.
	ErrInput = errors.New("sbi: invalid input")
	// ErrInvalidData reports simulations with NaN or ±Inf values in a round
	// whose proposal is not the prior, where dropping them would bias the
	// estimate (opt in with AppendOptions.ExcludeInvalid), or a round left
	// with too few valid simulations to train on.
	ErrInvalidData = errors.New("sbi: invalid simulations")
	// ErrNotTrained reports a call that needs a trained estimator (Posterior)
	// before Train, or Train before any simulations were appended.
	ErrNotTrained = errors.New("sbi: estimator not trained")
	// ErrBudget reports rejection sampling that ran out of its budget of
	// draws or time because too few draws fell inside the prior's support.
	ErrBudget = errors.New("sbi: sampling budget exhausted")
	// ErrFormat reports a posterior file that is truncated, corrupt or not a
	// posterior file.
	ErrFormat = errors.New("sbi: malformed posterior file")
	// ErrVersion reports a posterior file written by an incompatible
	// version of the format.
	ErrVersion = errors.New("sbi: unsupported posterior file version")
	// ErrPrior reports a prior that Save cannot describe, or a posterior
	// file whose prior is not reconstructible: load it with LoadWithPrior.
	ErrPrior = errors.New("sbi: prior not describable")
)
