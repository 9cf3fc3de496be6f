package sbi

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/gosbi/gosbi/dist"
	"github.com/gosbi/gosbi/nn"
	"gonum.org/v1/gonum/mat"
)

// MAPSettings tunes Conditioned.MAP. The zero value of each field means its
// default (sbi's); a nil *MAPSettings means all defaults.
type MAPSettings struct {
	// InitSamples is the number of posterior samples drawn to start from;
	// zero means 1,000.
	InitSamples int
	// NumOptimize is the number of best samples (by log density) optimised;
	// zero means 100.
	NumOptimize int
	// Iterations is the number of Adam steps; zero means 1,000.
	Iterations int
	// LearningRate is Adam's step size in unconstrained coordinates; zero
	// means 0.01.
	LearningRate float64
}

// MAPResult is the outcome of Conditioned.MAP.
type MAPResult struct {
	// Theta is the best point found.
	Theta []float64
	// LogProb is the posterior log density at Theta (as Conditioned.LogProb).
	LogProb float64
	// InitLogProb is the best log density among the initial samples.
	InitLogProb float64
	// Runtime is the wall time.
	Runtime time.Duration
}

// MAP estimates the maximum a posteriori θ at the observation, as sbi's
// gradient-ascent MAP: draw InitSamples posterior samples, keep the
// NumOptimize with the highest density, and run Adam on each in the
// unconstrained coordinates z of the prior's support (θ = T(z), the
// bijection dist.BijectionFor(prior)) maximising log q(T(z) | x) — without
// the log-Jacobian, so the maximiser is the maximiser over θ — with
// gradients through the flow. It returns the best point visited. Errors
// wrap ErrInput for invalid settings or rng, ErrBudget when the initial
// sampling runs out of budget, or the context's error (with no result).
func (c *Conditioned) MAP(ctx context.Context, rng *rand.Rand, settings *MAPSettings) (*MAPResult, error) {
	start := time.Now()
	var s MAPSettings
	if settings != nil {
		s = *settings
	}
	if s.InitSamples == 0 {
		s.InitSamples = 1000
	}
	if s.NumOptimize == 0 {
		s.NumOptimize = 100
	}
	if s.Iterations == 0 {
		s.Iterations = 1000
	}
	if s.LearningRate == 0 {
		s.LearningRate = 0.01
	}
	if rng == nil || s.InitSamples < 1 || s.NumOptimize < 1 || s.Iterations < 0 || !(s.LearningRate > 0) || math.IsInf(s.LearningRate, 0) {
		return nil, fmt.Errorf("sbi: MAP: nil rng or invalid settings %+v: %w", s, ErrInput)
	}
	sr, err := c.SampleN(ctx, s.InitSamples, rng)
	if err != nil {
		return nil, err
	}
	init := sr.Samples
	lp := c.q.LogProbBatch(nil, init)
	k := min(s.NumOptimize, s.InitSamples)
	order := make([]int, len(lp))
	for i := range order {
		order[i] = i
	}
	// Partial selection of the k best (stable, by index on ties).
	sortByDesc(order, lp)
	d := c.Dim()
	best := append([]float64(nil), init.RawRowView(order[0])...)
	bestLP := lp[order[0]]
	res := &MAPResult{InitLogProb: c.LogProb(best)}

	b := dist.BijectionFor(c.p.prior)
	z := nn.NewParam("map.z", k, d)
	for r := range k {
		b.Inverse(z.Data[r*d:(r+1)*d], init.RawRowView(order[r]))
	}
	opt := nn.NewAdam([]*nn.Tensor{z}, s.LearningRate)
	theta := mat.NewDense(k, d, nil)
	grad := mat.NewDense(k, d, nil)
	vals := make([]float64, k)
	zero := make([]float64, d)
	g0 := make([]float64, d)
	gz := make([]float64, d)
	ok := make([]bool, k)
	for it := 0; it <= s.Iterations; it++ {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("sbi: MAP interrupted: %w", err)
		}
		for r := range k {
			b.Forward(theta.RawRowView(r), z.Data[r*d:(r+1)*d])
		}
		c.q.LogProbGradBatch(vals, grad, theta)
		c.p.inSupport(ok, theta, nil)
		for r := range k {
			if ok[r] && vals[r] > bestLP {
				bestLP = vals[r]
				copy(best, theta.RawRowView(r))
			}
		}
		if it == s.Iterations {
			break
		}
		for r := range k {
			zr := z.Data[r*d : (r+1)*d]
			gr := z.Grad[r*d : (r+1)*d]
			if !ok[r] || math.IsNaN(vals[r]) || math.IsInf(vals[r], 0) {
				clear(gr) // a point that left the support (rounding onto a bound) stays
				continue
			}
			// ∂/∂z log q(T(z)) = PullbackGrad(gx) - PullbackGrad(0): the
			// pullback is linear in gx plus the log-Jacobian term.
			b.PullbackGrad(gz, zr, grad.RawRowView(r))
			b.PullbackGrad(g0, zr, zero)
			for j := range gr {
				gr[j] = -(gz[j] - g0[j]) // Adam minimises
			}
		}
		opt.Step()
		opt.ZeroGrad()
	}
	res.Theta = best
	res.LogProb = c.LogProb(best)
	res.Runtime = time.Since(start)
	return res, nil
}

// sortByDesc sorts idx by decreasing v[idx], NaN last, ties by index.
func sortByDesc(idx []int, v []float64) {
	key := func(i int) float64 {
		if math.IsNaN(v[i]) {
			return math.Inf(-1)
		}
		return v[i]
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		ka, kb := key(a), key(b)
		switch {
		case ka > kb:
			return -1
		case ka < kb:
			return 1
		}
		return 0
	})
}
