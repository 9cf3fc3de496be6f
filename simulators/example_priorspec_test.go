package simulators_test

import (
	"fmt"
	"math"

	"github.com/gosbi/gosbi/simulators"
)

// ExampleParsePriorSpec turns a JSON prior specification, as given to
// `gosbi simulate -command ... -prior FILE`, into a prior: here a product of
// a uniform, a log-normal and a gamma distribution.
func ExampleParsePriorSpec() {
	spec, err := simulators.ParsePriorSpec([]byte(`{"parameters": [
		{"name": "beta",  "dist": "uniform",   "low": 0, "high": 2},
		{"name": "gamma", "dist": "lognormal", "mu": 0, "sigma": 1},
		{"dist": "gamma", "shape": 2, "rate": 3}
	]}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	prior, err := spec.Prior()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("dim:", spec.Dim(), "names:", spec.Names())
	fmt.Printf("prior: %T\n", prior)
	// log p(1, 1, 1) = log(1/2) + log N(0; 0, 1) + log(3² · 1 · e⁻³ / Γ(2)).
	want := math.Log(0.5) - 0.5*math.Log(2*math.Pi) + 2*math.Log(3) - 3
	fmt.Printf("log p(1, 1, 1) = %.4f (by hand %.4f)\n", prior.LogProb([]float64{1, 1, 1}), want)
	fmt.Println("outside the support:", prior.LogProb([]float64{3, 1, 1}))
	// Output:
	// dim: 3 names: [beta gamma theta_3]
	// prior: *dist.Independent
	// log p(1, 1, 1) = -2.4149 (by hand -2.4149)
	// outside the support: -Inf
}
