package dist_test

import (
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat/distuv"

	"github.com/gosbi/gosbi/dist"
)

func ExampleNewBoxUniform() {
	prior, err := dist.NewBoxUniform([]float64{-1, 0}, []float64{1, 4})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("log p inside:  %.4f\n", prior.LogProb([]float64{0, 2}))
	fmt.Printf("log p outside: %v\n", prior.LogProb([]float64{2, 2}))
	fmt.Printf("mean %.2f, std %.4f\n", prior.Mean(nil), prior.Std(nil))

	_, err = dist.NewBoxUniform([]float64{1}, []float64{0})
	fmt.Println(err)
	// Output:
	// log p inside:  -2.0794
	// log p outside: -Inf
	// mean [0.00 2.00], std [0.5774 1.1547]
	// new box uniform: lo[0] = 1 >= hi[0] = 0: dist: bad parameter
}

func ExampleNewNormal() {
	cov := mat.NewSymDense(2, []float64{1, 0.5, 0.5, 2})
	n, err := dist.NewNormal([]float64{0, 1}, cov)
	if err != nil {
		fmt.Println(err)
		return
	}
	grad := make([]float64, 2)
	lp := n.LogProbGrad(grad, []float64{1, 1})
	// Σ⁻¹(x-μ) = [2, -0.5]/1.75, so grad = [-1.1429, 0.2857].
	fmt.Printf("log p = %.4f, grad = [%.4f %.4f]\n", lp, grad[0], grad[1])

	// Sample moments from a fixed seed.
	x := dist.SampleN(n, 10000, rand.New(rand.NewPCG(1, 2)))
	fmt.Printf("sample mean of x0 ≈ %.1f\n", mat.Sum(x.ColView(0))/10000)

	_, err = dist.NewNormal([]float64{0, 0}, mat.NewSymDense(2, []float64{1, 2, 2, 1}))
	fmt.Println(err)
	// Output:
	// log p = -2.6891, grad = [-1.1429 0.2857]
	// sample mean of x0 ≈ 0.0
	// new normal: covariance is not positive definite: dist: bad parameter
}

func ExampleNewIndependent() {
	// A prior mixing a Gamma rate, a Beta probability and a Normal offset.
	prior, err := dist.NewIndependent(
		distuv.Gamma{Alpha: 2, Beta: 1},
		distuv.Beta{Alpha: 2, Beta: 5},
		distuv.Normal{Mu: 0, Sigma: 3},
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	lo, hi := prior.Bounds()
	fmt.Println("support:", lo, hi)
	fmt.Printf("mean: %.4f\n", prior.Mean(nil))
	theta := prior.Sample(nil, rand.New(rand.NewPCG(7, 7)))
	fmt.Println("log p finite:", !math.IsInf(prior.LogProb(theta), 0))
	// Output:
	// support: [0 0 -Inf] [+Inf 1 +Inf]
	// mean: [2.0000 0.2857 0.0000]
	// log p finite: true
}

func ExampleBijection() {
	// Unconstrained z ↔ x in [0, ∞) × [-1, 1] × R.
	b, err := dist.NewBijection([]float64{0, -1, math.Inf(-1)}, []float64{math.Inf(1), 1, math.Inf(1)})
	if err != nil {
		fmt.Println(err)
		return
	}
	z := []float64{0, 0, 2.5}
	x := make([]float64, 3)
	ladj := b.Forward(x, z)
	fmt.Printf("x = %.4f, log|det dx/dz| = %.4f\n", x, ladj)

	back := make([]float64, 3)
	inv := b.Inverse(back, x)
	fmt.Printf("z = %.4f, inverse log|det| = %.4f\n", back, inv)

	// A point on a bound maps to -Inf.
	b.Inverse(back, []float64{0, -1, 0})
	fmt.Println(back)
	// Output:
	// x = [1.0000 0.0000 2.5000], log|det dx/dz| = -0.6931
	// z = [0.0000 0.0000 2.5000], inverse log|det| = 0.6931
	// [-Inf -Inf 0]
}

func ExampleUnconstrained() {
	prior, err := dist.NewIndependent(distuv.Beta{Alpha: 2, Beta: 5})
	if err != nil {
		fmt.Println(err)
		return
	}
	// The log density of z = logit(x), with its gradient for HMC.
	q := dist.Unconstrained(prior, nil)
	g := make([]float64, 1)
	lp := q.(dist.Gradienter).LogProbGrad(g, []float64{-1})
	// x = sigmoid(-1) = 0.2689; d/dz = 2 - 7x by hand.
	fmt.Printf("log q(-1) = %.4f, d/dz = %.4f\n", lp, g[0])
	// Output:
	// log q(-1) = -0.7916, d/dz = 0.1174
}

func ExampleSampleN() {
	prior, err := dist.NewLogNormal([]float64{math.Log(0.4), math.Log(0.125)}, []float64{0.5, 0.2})
	if err != nil {
		fmt.Println(err)
		return
	}
	theta := dist.SampleN(prior, 5, rand.New(rand.NewPCG(3, 4)))
	lp := dist.LogProbs(prior, theta, nil)
	r, c := theta.Dims()
	fmt.Println(r, c, len(lp))
	// Output:
	// 5 2 5
}
