package sbi_test

import (
	"bytes"
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

// shift is the simulator x = θ + N(0, 0.1²·I) in two dimensions.
var shift = simulators.SimulatorFunc{ThetaDim: 2, XDim: 2,
	F: func(_ context.Context, dst, theta []float64, rng *rand.Rand) ([]float64, error) {
		if dst == nil {
			dst = make([]float64, 2)
		}
		for i := range dst {
			dst[i] = theta[i] + 0.1*rng.NormFloat64()
		}
		return dst, nil
	}}

// Infer simulates, trains and returns the posterior in one call; here with a
// tiny budget (500 simulations, a small MAF, at most 40 epochs).
func ExampleInfer() {
	prior, _ := dist.NewBoxUniform([]float64{-1, -1}, []float64{1, 1})
	rng := rand.New(rand.NewPCG(1, 2))
	ts := &sbi.TrainSettings{}
	ts.MaxEpochs = 40
	ts.BatchSize = 50
	post, res, err := sbi.Infer(context.Background(), shift, prior, 500, rng, &sbi.InferSettings{
		Config: &sbi.NPEConfig{Estimator: flows.MAF{Transforms: 2, Hidden: 24}}, Train: ts})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("simulations:", res.Rounds[0].Train.NumSimulations)

	// The posterior at x_o = (0.5, -0.3) is about N(x_o, 0.1²·I).
	c, err := post.At([]float64{0.5, -0.3})
	if err != nil {
		fmt.Println(err)
		return
	}
	s, err := c.SampleN(context.Background(), 2000, rng)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("posterior mean: (%.1f, %.1f)\n", stat.Mean(mat.Col(nil, 0, s.Samples), nil), stat.Mean(mat.Col(nil, 1, s.Samples), nil))
	fmt.Printf("posterior sd: (%.1f, %.1f)\n", stat.StdDev(mat.Col(nil, 0, s.Samples), nil), stat.StdDev(mat.Col(nil, 1, s.Samples), nil))
	fmt.Printf("acceptance rate: %.1f\n", s.AcceptanceRate)
	// Output:
	// simulations: 500
	// posterior mean: (0.5, -0.3)
	// posterior sd: (0.1, 0.1)
	// acceptance rate: 1.0
}

// NPE can be driven round by round: here one round from the prior and a
// second from the posterior at x_o (SNPE-C, atomic loss), then a save and
// load of the posterior.
func ExampleNPE() {
	ctx := context.Background()
	prior, _ := dist.NewBoxUniform([]float64{-1, -1}, []float64{1, 1})
	rng := rand.New(rand.NewPCG(3, 4))
	e, err := sbi.NewNPE(prior, &sbi.NPEConfig{Estimator: flows.MAF{Transforms: 2, Hidden: 24}})
	if err != nil {
		fmt.Println(err)
		return
	}
	ts := &sbi.TrainSettings{}
	ts.MaxEpochs = 30
	ts.BatchSize = 50
	xo := []float64{0.5, -0.3}
	var proposal dist.Distribution = prior
	for round := range 2 {
		res, err := simulators.Simulate(ctx, shift, proposal, 300, rng, nil)
		if err != nil {
			fmt.Println(err)
			return
		}
		if _, err := e.AppendSimulations(res.Data.Theta, res.Data.X, &sbi.AppendOptions{Proposal: proposal}); err != nil {
			fmt.Println(err)
			return
		}
		tr, err := e.Train(ctx, rng, ts)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("round %d: %d simulations, loss %s\n", round, tr.NumSimulations, tr.Loss)
		post, err := e.Posterior(nil)
		if err != nil {
			fmt.Println(err)
			return
		}
		if proposal, err = post.At(xo); err != nil {
			fmt.Println(err)
			return
		}
	}
	post, _ := e.Posterior(nil)
	var file bytes.Buffer
	if err := sbi.Save(&file, post); err != nil {
		fmt.Println(err)
		return
	}
	loaded, err := sbi.Load(&file)
	if err != nil {
		fmt.Println(err)
		return
	}
	c, _ := loaded.At(xo)
	s, err := c.SampleN(ctx, 2000, rng)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("posterior mean: (%.1f, %.1f)\n", stat.Mean(mat.Col(nil, 0, s.Samples), nil), stat.Mean(mat.Col(nil, 1, s.Samples), nil))
	// Output:
	// round 0: 300 simulations, loss mle
	// round 1: 600 simulations, loss atomic
	// posterior mean: (0.5, -0.3)
}

// MAP finds the mode of the posterior by gradient ascent through the flow
// from the best posterior samples.
func ExampleConditioned_MAP() {
	prior, _ := dist.NewBoxUniform([]float64{-1, -1}, []float64{1, 1})
	rng := rand.New(rand.NewPCG(5, 6))
	ts := &sbi.TrainSettings{}
	ts.MaxEpochs = 40
	ts.BatchSize = 50
	post, _, err := sbi.Infer(context.Background(), shift, prior, 500, rng, &sbi.InferSettings{
		Config: &sbi.NPEConfig{Estimator: flows.MAF{Transforms: 2, Hidden: 24}}, Train: ts})
	if err != nil {
		fmt.Println(err)
		return
	}
	c, _ := post.At([]float64{0.5, -0.3})
	m, err := c.MAP(context.Background(), rng, &sbi.MAPSettings{Iterations: 200})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("MAP: (%.1f, %.1f)\n", m.Theta[0], m.Theta[1])
	fmt.Println("improved on the samples:", m.LogProb >= m.InitLogProb)
	// Output:
	// MAP: (0.5, -0.3)
	// improved on the samples: true
}
