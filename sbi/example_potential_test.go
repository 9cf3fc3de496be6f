package sbi_test

import (
	"context"
	"fmt"
	"math/rand/v2"

	"github.com/gosbi/gosbi/dist"
	"github.com/gosbi/gosbi/flows"
	"github.com/gosbi/gosbi/sbi"
	"github.com/gosbi/gosbi/simulators"
	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat"
)

// exampleModel is x = θ + N(0, 0.3²) in 2-D with θ ~ N(0, I): the posterior
// given K trials is N(Σx_k/(K + 0.09), 0.09/(K + 0.09)·I).
func exampleModel() (dist.Distribution, simulators.Simulator) {
	prior, _ := dist.NewDiagNormal([]float64{0, 0}, []float64{1, 1})
	sim := simulators.SimulatorFunc{ThetaDim: 2, XDim: 2,
		F: func(_ context.Context, dst, theta []float64, rng *rand.Rand) ([]float64, error) {
			if dst == nil {
				dst = make([]float64, 2)
			}
			for i := range dst {
				dst[i] = theta[i] + 0.3*rng.NormFloat64()
			}
			return dst, nil
		}}
	return prior, sim
}

func ExampleNLE() {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	prior, sim := exampleModel()
	data, err := simulators.Simulate(ctx, sim, prior, 1000, rng, nil)
	if err != nil {
		panic(err)
	}
	nle, err := sbi.NewNLE(prior, &sbi.NLEConfig{Estimator: flows.MAF{Transforms: 2, Hidden: 16}})
	if err != nil {
		panic(err)
	}
	if _, err := nle.AppendSimulations(data.Data.Theta, data.Data.X, nil); err != nil {
		panic(err)
	}
	ts := &sbi.TrainSettings{}
	ts.MaxEpochs, ts.BatchSize, ts.LearningRate = 40, 100, 2e-3
	if _, err := nle.Train(ctx, rng, ts); err != nil {
		panic(err)
	}
	post, err := nle.Posterior(&sbi.MCMCSettings{Chains: 10, Warmup: 100})
	if err != nil {
		panic(err)
	}
	// Two i.i.d. trials of an observation at θ ≈ (1, -1).
	xo := mat.NewDense(2, 2, []float64{1.15, -0.8, 0.94, -1.29})
	res, err := post.Sample(ctx, xo, 2000, rng)
	if err != nil {
		panic(err)
	}
	fmt.Printf("posterior mean %.1f %.1f (analytic 1.0 -1.0)\n",
		stat.Mean(mat.Col(nil, 0, res.Samples), nil), stat.Mean(mat.Col(nil, 1, res.Samples), nil))
	sd := stat.StdDev(mat.Col(nil, 0, res.Samples), nil)
	fmt.Printf("posterior sd within 30%% of the analytic 0.21: %v, R-hat below 1.05: %v\n",
		sd > 0.7*0.2075 && sd < 1.3*0.2075, res.RHat[0] < 1.05 && res.RHat[1] < 1.05)
	// Output:
	// posterior mean 1.0 -1.0 (analytic 1.0 -1.0)
	// posterior sd within 30% of the analytic 0.21: true, R-hat below 1.05: true
}

func ExampleNRE() {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(3, 4))
	prior, sim := exampleModel()
	ts := &sbi.TrainSettings{}
	ts.MaxEpochs, ts.BatchSize, ts.LearningRate = 40, 100, 2e-3
	post, _, err := sbi.InferNRE(ctx, sim, prior, 3000, rng, &sbi.PotentialInferSettings{
		NRE:   &sbi.NREConfig{Loss: sbi.LossNREA},
		Train: ts,
		MCMC:  &sbi.MCMCSettings{Chains: 10, Warmup: 100},
	})
	if err != nil {
		panic(err)
	}
	res, err := post.Sample(ctx, sbi.SingleTrial([]float64{0.654, -0.327}), 2000, rng)
	if err != nil {
		panic(err)
	}
	// The analytic posterior: mean x/1.09, sd 0.3/√1.09.
	fmt.Printf("posterior mean %.1f %.1f (analytic 0.6 -0.3)\n",
		stat.Mean(mat.Col(nil, 0, res.Samples), nil), stat.Mean(mat.Col(nil, 1, res.Samples), nil))
	sd := stat.StdDev(mat.Col(nil, 0, res.Samples), nil)
	fmt.Printf("posterior sd within 30%% of the analytic 0.29: %v\n", sd > 0.7*0.287 && sd < 1.3*0.287)
	// Output:
	// posterior mean 0.6 -0.3 (analytic 0.6 -0.3)
	// posterior sd within 30% of the analytic 0.29: true
}
