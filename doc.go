// Package gosbi is simulation-based inference for Go: given a stochastic
// simulator and a prior over its parameters, it learns the posterior over the
// parameters from observed data with neural density estimators.
//
// The root package holds no code; the work is done by its subpackages:
//
//   - dist: the probability vocabulary (LogProber, Sampler, Distribution,
//     Conditional), priors and bijections to unconstrained space.
//   - nn: float64 tensors, reverse-mode autodiff, layers, Adam, serialisation.
//   - flows: conditional normalizing flows (MAF, neural spline flows, coupling).
//   - simulators: the Simulator contract, parallel reproducible simulation, the
//     sbibm benchmark tasks.
//   - mcmc: slice, Metropolis, HMC/NUTS and independence samplers, R-hat, ESS.
//   - plots: pair plots, calibration plots, loss and trace plots.
//
// Imports between these packages point one way only; layering_test.go checks
// the table in the project's style guide.
package gosbi
