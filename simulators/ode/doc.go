// Package ode solves initial value problems y' = f(t, y), y(t0) = y0, for
// non-stiff systems with the adaptive explicit Runge–Kutta method of Dormand
// and Prince (RK5(4), the method behind MATLAB's ode45 and Hairer's DOPRI5).
//
// The solution advances with the fifth-order formula (local extrapolation);
// the embedded fourth-order formula estimates the local error, which is kept
// below AbsTol + RelTol·|y| component-wise in the root-mean-square norm of
// Hairer, Nørsett and Wanner, "Solving Ordinary Differential Equations I",
// 2nd ed., Springer 1993, section II.4. The solver steps exactly onto every
// requested output time (no interpolation), so output values carry the same
// error control as every other step.
//
// A DormandPrince value owns its scratch space: Solve does not allocate, and
// one value must not be used by two goroutines at once (use one per goroutine,
// for example from a sync.Pool).
//
// # Errors
//
// Solve returns an error wrapping ErrInput for bad arguments (wrong lengths,
// unsorted or non-finite output times), ErrStepSize when the step size falls
// below the resolution of t (the problem is stiff or singular there), and
// ErrMaxSteps when the step budget is used up. A right-hand side that
// produces NaN or Inf makes the step be rejected and retried with a smaller
// step, so it ends in ErrStepSize if it persists.
package ode
