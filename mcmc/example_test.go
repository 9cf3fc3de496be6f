package mcmc_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"

	"github.com/gosbi/gosbi/dist"
	"github.com/gosbi/gosbi/mcmc"
)

// Sample a correlated normal with NUTS, four chains started from prior
// draws, and check convergence.
func ExampleSample() {
	target, err := dist.NewNormal([]float64{1, -1}, mat.NewSymDense(2, []float64{1, 0.8, 0.8, 1}))
	if err != nil {
		panic(err)
	}
	prior, err := dist.NewDiagNormal([]float64{0, 0}, []float64{3, 3})
	if err != nil {
		panic(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	chains, err := mcmc.Sample(context.Background(), target, 1000, mcmc.FromProposal{Proposal: prior}, mcmc.NUTS{}, rng, nil)
	if err != nil {
		panic(err)
	}
	for j, r := range chains.Summary().Rows {
		fmt.Printf("x[%d]: mean %.1f, sd %.1f, R-hat below 1.01: %v\n", j, r.Mean, r.SD, r.RHat < 1.01)
	}
	// Output:
	// x[0]: mean 1.0, sd 1.0, R-hat below 1.01: true
	// x[1]: mean -1.0, sd 1.0, R-hat below 1.01: true
}

// Sample 20 chains with the vectorised slice sampler, which evaluates the
// target once per step on a batch of all chains (fast for neural
// potentials), starting from sampling-importance-resampling of prior draws.
func ExampleSliceVectorized() {
	target, err := dist.NewNormal([]float64{2, 0}, mat.NewSymDense(2, []float64{0.25, 0, 0, 4}))
	if err != nil {
		panic(err)
	}
	prior, err := dist.NewDiagNormal([]float64{0, 0}, []float64{5, 5})
	if err != nil {
		panic(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	chains, err := mcmc.Sample(context.Background(), target, 100, mcmc.SIR{Proposal: prior}, mcmc.SliceVectorized{}, rng,
		&mcmc.Settings{Chains: 20, Warmup: 50})
	if err != nil {
		panic(err)
	}
	flat := chains.Flat()
	r, _ := flat.Dims()
	fmt.Println("draws:", r)
	s := chains.Summary().Rows
	fmt.Printf("x[0] mean %.1f, x[1] sd %.1f\n", s[0].Mean, s[1].SD)
	// Output:
	// draws: 2000
	// x[0] mean 2.0, x[1] sd 2.0
}

// A target with a bounded support is sampled in unconstrained space
// automatically; draws come back in the original space.
func ExampleSample_bounded() {
	// LogNormal(0, 0.5²) lives on (0, ∞); its mean is exp(0.125) ≈ 1.13.
	target, err := dist.NewLogNormal([]float64{0}, []float64{0.5})
	if err != nil {
		panic(err)
	}
	start := mat.NewDense(1, 1, []float64{1})
	rng := rand.New(rand.NewPCG(5, 6))
	chains, err := mcmc.Sample(context.Background(), target, 2000, mcmc.FromPoints{X: start}, mcmc.NUTS{}, rng, nil)
	if err != nil {
		panic(err)
	}
	s := chains.Summary().Rows[0]
	fmt.Printf("mean %.2f (exact %.2f), 5%% quantile %.2f (exact %.2f)\n", s.Mean, math.Exp(0.125), s.Q5, math.Exp(-1.645*0.5))
	// Output:
	// mean 1.13 (exact 1.13), 5% quantile 0.44 (exact 0.44)
}

// The diagnostics take plain chains: here four chains of which one is
// stuck elsewhere.
func ExampleRHat() {
	rng := rand.New(rand.NewPCG(7, 8))
	chains := make([][]float64, 4)
	for k := range chains {
		chains[k] = make([]float64, 500)
		for i := range chains[k] {
			chains[k][i] = rng.NormFloat64()
			if k == 3 {
				chains[k][i] += 3
			}
		}
	}
	rhat, err := mcmc.RHat(chains)
	if err != nil {
		panic(err)
	}
	fmt.Printf("R-hat %.1f: converged %v\n", rhat, rhat < 1.01)
	ess, err := mcmc.ESSBulk(chains[:3])
	if err != nil {
		panic(err)
	}
	fmt.Printf("bulk ESS of the three good chains is about %.0f00\n", math.Round(ess/100))
	// Output:
	// R-hat 1.5: converged false
	// bulk ESS of the three good chains is about 1500
}
