package mcmc

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"gonum.org/v1/gonum/mat"
)

// Chains is the result of Sample: the retained draws of every chain in the
// original space of the target, with per-chain statistics.
type Chains struct {
	// Samples[k] holds the draws of chain k, one per row (n × dim).
	Samples []*mat.Dense
	// LogProb[k][i] is the target's log density at Samples[k] row i (in the
	// original space, without any Jacobian).
	LogProb [][]float64
	// AcceptRate[k] is the mean acceptance statistic of chain k after
	// warmup (1 for slice sampling; for NUTS Stan's mean Metropolis
	// probability over the trajectory).
	AcceptRate []float64
	// StepSize[k] is the final step size of chain k: the leapfrog step for
	// HMC and NUTS, the proposal scale λ for RandomWalk, the mean bracket
	// width for slice sampling, NaN for Independence, that of the first
	// kernel for a Mixture.
	StepSize []float64
	// Divergences[k] counts divergent transitions of chain k after warmup.
	Divergences []int
	// Evals[k] counts target evaluations of chain k, warmup and start
	// included; an evaluation with gradient counts as one.
	Evals []int
	// Warmup and Thin are the settings used.
	Warmup, Thin int
	// Runtime is the wall time of the transitions; WallTime also includes
	// initialisation.
	Runtime, WallTime time.Duration
}

// NumChains returns the number of chains.
func (c *Chains) NumChains() int { return len(c.Samples) }

// Len returns the number of draws per chain.
func (c *Chains) Len() int {
	r, _ := c.Samples[0].Dims()
	return r
}

// Dim returns the dimension of the draws.
func (c *Chains) Dim() int {
	_, d := c.Samples[0].Dims()
	return d
}

// TotalEvals returns the number of target evaluations over all chains.
func (c *Chains) TotalEvals() int {
	s := 0
	for _, e := range c.Evals {
		s += e
	}
	return s
}

// TotalDivergences returns the number of divergent transitions after warmup
// over all chains.
func (c *Chains) TotalDivergences() int {
	s := 0
	for _, e := range c.Divergences {
		s += e
	}
	return s
}

// Flat returns all draws in one matrix, chain after chain (NumChains·Len ×
// Dim).
func (c *Chains) Flat() *mat.Dense {
	n, d := c.Len(), c.Dim()
	out := mat.NewDense(c.NumChains()*n, d, nil)
	for k, s := range c.Samples {
		out.Slice(k*n, (k+1)*n, 0, d).(*mat.Dense).Copy(s)
	}
	return out
}

// Param returns the draws of parameter j as one slice per chain, the form
// the diagnostics take. It panics if j is out of range.
func (c *Chains) Param(j int) [][]float64 {
	if j < 0 || j >= c.Dim() {
		panic(fmt.Sprintf("mcmc: Chains.Param(%d) with dimension %d", j, c.Dim()))
	}
	out := make([][]float64, c.NumChains())
	for k, s := range c.Samples {
		out[k] = mat.Col(nil, j, s)
	}
	return out
}

// perParam applies a diagnostic to every parameter, NaN where it fails.
func (c *Chains) perParam(f func([][]float64) (float64, error)) []float64 {
	out := make([]float64, c.Dim())
	for j := range out {
		v, err := f(c.Param(j))
		if err != nil {
			v = math.NaN()
		}
		out[j] = v
	}
	return out
}

// RHat returns the rank-normalised split-R̂ of every parameter (see RHat);
// NaN where it is undefined (fewer than MinDraws draws, constant draws).
func (c *Chains) RHat() []float64 { return c.perParam(RHat) }

// ESSBulk returns the bulk effective sample size of every parameter.
func (c *Chains) ESSBulk() []float64 { return c.perParam(ESSBulk) }

// ESSTail returns the tail effective sample size of every parameter.
func (c *Chains) ESSTail() []float64 { return c.perParam(ESSTail) }

// ESS returns the effective sample size of the mean of every parameter.
func (c *Chains) ESS() []float64 { return c.perParam(ESS) }

// SummaryRow summarises one parameter.
type SummaryRow struct {
	Mean, SD float64
	// MCSE is the Monte Carlo standard error of Mean, SD/sqrt(ESS).
	MCSE float64
	// Q5, Q50, Q95 are the 5%, 50% and 95% quantiles of all draws.
	Q5, Q50, Q95 float64
	// RHat, ESSBulk and ESSTail are the diagnostics of Vehtari et al. (2021).
	RHat, ESSBulk, ESSTail float64
}

// Summary is a table of per-parameter statistics.
type Summary struct {
	Rows []SummaryRow
	// Divergences is the number of divergent transitions after warmup.
	Divergences int
}

// Summary computes the mean, standard deviation, Monte Carlo standard error,
// 5/50/95% quantiles, R̂, bulk- and tail-ESS of every parameter over all
// chains.
func (c *Chains) Summary() *Summary {
	s := &Summary{Rows: make([]SummaryRow, c.Dim()), Divergences: c.TotalDivergences()}
	for j := range s.Rows {
		ch := c.Param(j)
		all := pooled(ch)
		m, v := meanVar(all)
		slices.Sort(all)
		row := SummaryRow{
			Mean: m, SD: math.Sqrt(v),
			Q5: quantileSorted(all, 0.05), Q50: quantileSorted(all, 0.5), Q95: quantileSorted(all, 0.95),
		}
		ess, err := ESS(ch)
		if err != nil {
			ess = math.NaN()
		}
		row.MCSE = row.SD / math.Sqrt(ess)
		row.RHat, _ = RHat(ch)
		row.ESSBulk, _ = ESSBulk(ch)
		row.ESSTail, _ = ESSTail(ch)
		s.Rows[j] = row
	}
	return s
}

// String formats the summary as a fixed-width table, one parameter per line.
func (s *Summary) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-6s %10s %10s %9s %10s %10s %10s %6s %8s %8s\n",
		"param", "mean", "sd", "mcse", "5%", "50%", "95%", "rhat", "ess_bulk", "ess_tail")
	for j, r := range s.Rows {
		fmt.Fprintf(&b, "%-6s %10.4g %10.4g %9.2g %10.4g %10.4g %10.4g %6.3f %8.0f %8.0f\n",
			fmt.Sprintf("x[%d]", j), r.Mean, r.SD, r.MCSE, r.Q5, r.Q50, r.Q95, r.RHat, r.ESSBulk, r.ESSTail)
	}
	if s.Divergences > 0 {
		fmt.Fprintf(&b, "%d divergent transitions after warmup\n", s.Divergences)
	}
	return b.String()
}
