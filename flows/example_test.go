package flows_test

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/gosbi/gosbi/dist"
	"github.com/gosbi/gosbi/flows"
	"gonum.org/v1/gonum/mat"
)

// simulate draws n pairs θ ~ N(0, 1), x | θ ~ N(2θ + 1, 0.5²).
func simulate(n int, rng *rand.Rand) (theta, x *mat.Dense) {
	theta, x = mat.NewDense(n, 1, nil), mat.NewDense(n, 1, nil)
	for i := 0; i < n; i++ {
		t := rng.NormFloat64()
		theta.Set(i, 0, t)
		x.Set(i, 0, 2*t+1+0.5*rng.NormFloat64())
	}
	return theta, x
}

// A conditional MAF learns p(x | θ) from simulated pairs; Condition gives the
// density at one θ as a dist.Distribution.
func ExampleMAF() {
	rng := rand.New(rand.NewPCG(1, 2))
	theta, x := simulate(2000, rng)
	flow, err := flows.MAF{Transforms: 2, Hidden: 16}.Build(x, theta, rng)
	if err != nil {
		fmt.Println(err)
		return
	}
	if _, err := flows.Train(context.Background(), flow, x, theta, rng, &flows.Settings{MaxEpochs: 100, LearningRate: 1e-3}); err != nil {
		fmt.Println(err)
		return
	}
	d := flow.Condition([]float64{1}) // p(x | θ = 1) = N(3, 0.5²)
	s := mat.NewDense(5000, 1, nil)
	d.(dist.BatchSampler).SampleBatch(s, rng)
	var mean, sq float64
	for i := 0; i < 5000; i++ {
		mean += s.At(i, 0) / 5000
		sq += s.At(i, 0) * s.At(i, 0) / 5000
	}
	fmt.Printf("sample mean %.1f, std %.1f\n", mean, math.Sqrt(sq-mean*mean))
	fmt.Printf("p(3 | θ=1) %.1f (exact %.1f)\n", math.Exp(d.LogProb([]float64{3})), 1/math.Sqrt(2*math.Pi*0.25))
	// Output:
	// sample mean 3.0, std 0.5
	// p(3 | θ=1) 0.8 (exact 0.8)
}

// An unconditional neural spline flow fitted to a bimodal sample, saved and
// loaded again.
func ExampleNSF() {
	rng := rand.New(rand.NewPCG(3, 4))
	x := mat.NewDense(2000, 1, nil)
	for i := 0; i < 2000; i++ {
		v := 0.3 * rng.NormFloat64()
		if i%2 == 0 {
			v -= 1.5
		} else {
			v += 1.5
		}
		x.Set(i, 0, v)
	}
	flow, err := flows.NSF{Transforms: 2, Hidden: 16}.Build(x, nil, rng)
	if err != nil {
		fmt.Println(err)
		return
	}
	if _, err := flows.Train(context.Background(), flow, x, nil, rng, &flows.Settings{MaxEpochs: 100, LearningRate: 3e-3}); err != nil {
		fmt.Println(err)
		return
	}
	var buf bytes.Buffer
	if err := flows.Save(&buf, flow); err != nil {
		fmt.Println(err)
		return
	}
	loaded, err := flows.Load(&buf)
	if err != nil {
		fmt.Println(err)
		return
	}
	d := loaded.Condition(nil)
	// The modes at ±1.5 are far more likely than the gap at 0.
	fmt.Printf("p(-1.5) %.1f, p(0) %.2f, p(1.5) %.1f\n",
		math.Exp(d.LogProb([]float64{-1.5})), math.Exp(d.LogProb([]float64{0})), math.Exp(d.LogProb([]float64{1.5})))
	// Output:
	// p(-1.5) 0.7, p(0) 0.00, p(1.5) 0.7
}
