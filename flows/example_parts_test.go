package flows_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/gosbi/gosbi/flows"
)

// ExampleSettings_parts splits every batch of 256 rows into 2 parts whose
// gradients are computed on two goroutines. The result depends on Parts
// (through the rounding of the sums) but not on the machine: the same seed and
// Parts give the same weights bit for bit, and the losses agree with a serial
// run to rounding.
func ExampleSettings_parts() {
	train := func(parts int) ([]float64, *flows.TrainResult, error) {
		rng := rand.New(rand.NewPCG(9, 10))
		theta, x := simulate(1000, rng)
		flow, err := flows.MAF{Transforms: 1, Hidden: 8}.Build(x, theta, rng)
		if err != nil {
			return nil, nil, err
		}
		res, err := flows.Train(context.Background(), flow, x, theta, rng,
			&flows.Settings{BatchSize: 256, MaxEpochs: 5, LearningRate: 1e-3, Parts: parts})
		var w []float64
		for _, p := range flow.Params() {
			w = append(w, p.Data...)
		}
		return w, res, err
	}
	fmt.Println("default parts for batches of 256:", flows.DefaultParts(256))
	a, resA, err := train(2)
	if err != nil {
		fmt.Println(err)
		return
	}
	b, _, err := train(2)
	if err != nil {
		fmt.Println(err)
		return
	}
	_, resSerial, err := train(1)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("2 parts, run twice, same weights:", slices.Equal(a, b))
	fmt.Printf("validation loss: 2 parts %.3f, serial %.3f\n", resA.BestValLoss, resSerial.BestValLoss)
	// Output:
	// default parts for batches of 256: 2
	// 2 parts, run twice, same weights: true
	// validation loss: 2 parts 2.081, serial 2.081
}
