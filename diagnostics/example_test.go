package diagnostics_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"

	"github.com/gosbi/gosbi/diagnostics"
	"github.com/gosbi/gosbi/dist"
)

// posterior is the exact posterior of θ ~ N(0, I), x | θ ~ N(θ, I):
// θ | x ~ N(x/2, I/2), with its standard deviation multiplied by scale.
type posterior struct{ scale float64 }

func (p posterior) Condition(x []float64) dist.Distribution {
	return normal{mean: []float64{x[0] / 2, x[1] / 2}, sd: p.scale * math.Sqrt(0.5)}
}

// normal is N(mean, sd²I) in 2-D.
type normal struct {
	mean []float64
	sd   float64
}

func (n normal) Dim() int { return 2 }

func (n normal) LogProb(x []float64) float64 {
	lp := 0.0
	for i, v := range x {
		z := (v - n.mean[i]) / n.sd
		lp -= 0.5*z*z + math.Log(n.sd) + 0.5*math.Log(2*math.Pi)
	}
	return lp
}

func (n normal) Sample(dst []float64, rng *rand.Rand) []float64 {
	if dst == nil {
		dst = make([]float64, 2)
	}
	for i := range dst {
		dst[i] = n.mean[i] + n.sd*rng.NormFloat64()
	}
	return dst
}

// testSet simulates T pairs (θ, x) from the model.
func testSet(T int, rng *rand.Rand) (theta, x *mat.Dense) {
	theta, x = mat.NewDense(T, 2, nil), mat.NewDense(T, 2, nil)
	for i := 0; i < T; i++ {
		for d := 0; d < 2; d++ {
			th := rng.NormFloat64()
			theta.Set(i, d, th)
			x.Set(i, d, th+rng.NormFloat64())
		}
	}
	return theta, x
}

func ExampleSBC() {
	rng := rand.New(rand.NewPCG(1, 2))
	theta, x := testSet(200, rng)
	for _, scale := range []float64{1, 0.5} {
		res, err := diagnostics.SBC(context.Background(), posterior{scale}, theta, x, 100, rng,
			&diagnostics.SBCSettings{Reduce: []diagnostics.Reducer{diagnostics.NegLogProb}})
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("scale %.1f: calibrated %v, ranks per test %d\n", scale, res.Calibrated(0.01), len(res.Ranks[0]))
	}
	// Output:
	// scale 1.0: calibrated true, ranks per test 3
	// scale 0.5: calibrated false, ranks per test 3
}

func ExampleCoverage() {
	rng := rand.New(rand.NewPCG(1, 2))
	theta, x := testSet(300, rng)
	for _, scale := range []float64{1, 0.7, 1.5} {
		res, err := diagnostics.Coverage(context.Background(), posterior{scale}, theta, x, 200, rng,
			&diagnostics.CoverageSettings{Levels: []float64{0.5, 0.9}})
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("scale %.1f: 90%% region covers %.1f%% of tests, mean error %+.1f\n", scale, 100*res.Coverage[1], res.MeanError)
	}
	// Output:
	// scale 1.0: 90% region covers 91.3% of tests, mean error -0.0
	// scale 0.7: 90% region covers 64.0% of tests, mean error -0.2
	// scale 1.5: 90% region covers 100.0% of tests, mean error +0.2
}

func ExampleTARP() {
	rng := rand.New(rand.NewPCG(1, 2))
	theta, x := testSet(300, rng)
	for _, scale := range []float64{1, 0.5, 2} {
		res, err := diagnostics.TARP(context.Background(), posterior{scale}, theta, x, 200, rng, nil)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("scale %.1f: ATC %+.2f, calibrated %v\n", scale, res.ATC, res.Calibrated(0.01))
	}
	// Output:
	// scale 1.0: ATC +0.00, calibrated true
	// scale 0.5: ATC -0.08, calibrated false
	// scale 2.0: ATC +0.09, calibrated false
}

func ExampleC2ST() {
	rng := rand.New(rand.NewPCG(1, 2))
	sample := func(n int, shift float64) *mat.Dense {
		m := mat.NewDense(n, 2, nil)
		for i := 0; i < n; i++ {
			m.Set(i, 0, rng.NormFloat64()+shift)
			m.Set(i, 1, rng.NormFloat64())
		}
		return m
	}
	ref := sample(2000, 0)
	for _, shift := range []float64{0, 2} {
		res, err := diagnostics.C2ST(context.Background(), ref, sample(2000, shift), rng, nil)
		if err != nil {
			fmt.Println(err)
			return
		}
		// The Bayes-optimal accuracy is Φ(shift/2): 0.5 and 0.84.
		fmt.Printf("shift %.0f: accuracy %.2f\n", shift, res.Accuracy)
	}
	// Output:
	// shift 0: accuracy 0.50
	// shift 2: accuracy 0.83
}

func ExampleMMDTest() {
	rng := rand.New(rand.NewPCG(1, 2))
	sample := func(n int, shift float64) *mat.Dense {
		m := mat.NewDense(n, 1, nil)
		for i := 0; i < n; i++ {
			m.Set(i, 0, rng.NormFloat64()+shift)
		}
		return m
	}
	x := sample(200, 0)
	for _, shift := range []float64{0, 1} {
		res, err := diagnostics.MMDTest(context.Background(), x, sample(200, shift), rng, nil)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("shift %.0f: p < 0.01: %v\n", shift, res.PValue < 0.01)
	}
	// Output:
	// shift 0: p < 0.01: false
	// shift 1: p < 0.01: true
}

func ExampleMisspecification() {
	rng := rand.New(rand.NewPCG(1, 2))
	sims := mat.NewDense(2000, 2, nil)
	for i := 0; i < 2000; i++ {
		sims.Set(i, 0, rng.NormFloat64())
		sims.Set(i, 1, rng.NormFloat64())
	}
	for _, xo := range [][]float64{{0.3, -0.5}, {5, 5}} {
		res, err := diagnostics.Misspecification(context.Background(), mat.NewDense(1, 2, xo), sims, rng, nil)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("x_o = %v: p = %.3f\n", xo, res.PValue)
	}
	// Output:
	// x_o = [0.3 -0.5]: p = 0.834
	// x_o = [5 5]: p = 0.001
}

func ExamplePredictiveCheck() {
	rng := rand.New(rand.NewPCG(1, 2))
	xo := []float64{0.4, -1}
	q := posterior{1}.Condition(xo)
	samples := mat.NewDense(1000, 2, nil)
	for i := 0; i < 1000; i++ {
		q.Sample(samples.RawRowView(i), rng)
	}
	sim := diagnostics.SimulatorFunc(func(_ context.Context, dst, theta []float64, rng *rand.Rand) ([]float64, error) {
		if dst == nil {
			dst = make([]float64, 2)
		}
		for i, t := range theta {
			dst[i] = t + rng.NormFloat64()
		}
		return dst, nil
	})
	res, err := diagnostics.PredictiveCheck(context.Background(), sim, samples, xo, rng, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("median distance %.1f, x_o inside 95%% intervals: %v\n", res.MedianDistance, res.Inside)
	// Output:
	// median distance 1.5, x_o inside 95% intervals: [true true]
}

func ExampleZScoreShrinkage() {
	rng := rand.New(rand.NewPCG(1, 2))
	q := posterior{1}.Condition([]float64{1, -2})
	samples := mat.NewDense(4000, 2, nil)
	for i := 0; i < 4000; i++ {
		q.Sample(samples.RawRowView(i), rng)
	}
	// Prior N(0, 1): the posterior variance ½ halves it.
	z, s, err := diagnostics.ZScoreShrinkage(samples, []float64{0.5, -1}, []float64{1, 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("|z| < 0.1: %v, shrinkage %.1f\n", math.Abs(z[0]) < 0.1 && math.Abs(z[1]) < 0.1, s)
	// Output:
	// |z| < 0.1: true, shrinkage [0.5 0.5]
}
