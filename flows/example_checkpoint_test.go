package flows_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"

	"github.com/gosbi/gosbi/flows"
)

// ExampleCheckpointSettings interrupts a training run after its second epoch
// and resumes it from the checkpoint file, as a restarted program would: the
// resumed run ends with bit-for-bit the weights of a run never interrupted.
func ExampleCheckpointSettings() {
	dir, err := os.MkdirTemp("", "flows-checkpoint")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	ck := &flows.CheckpointSettings{Path: filepath.Join(dir, "train.ckpt")}

	// train rebuilds the data, the flow and the rng from fixed seeds, as a
	// fresh process would, trains for at most 6 epochs and returns the
	// weights and the epochs this call trained; stop > 0 cancels the run (as
	// Ctrl-C would) after that epoch.
	train := func(ck *flows.CheckpointSettings, stop int) (weights []float64, epochs []int, res *flows.TrainResult, err error) {
		rng := rand.New(rand.NewPCG(5, 6))
		theta, x := simulate(500, rng)
		flow, err := flows.MAF{Transforms: 1, Hidden: 8}.Build(x, theta, rng)
		if err != nil {
			return nil, nil, nil, err
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		s := &flows.Settings{MaxEpochs: 6, LearningRate: 1e-3, Checkpoint: ck,
			OnEpoch: func(es flows.EpochStats) error {
				epochs = append(epochs, es.Epoch)
				if es.Epoch == stop {
					cancel()
				}
				return nil
			}}
		res, err = flows.Train(ctx, flow, x, theta, rng, s)
		for _, p := range flow.Params() {
			weights = append(weights, p.Data...)
		}
		return weights, epochs, res, err
	}

	want, _, _, err := train(nil, 0) // uninterrupted, no checkpoint
	if err != nil {
		fmt.Println(err)
		return
	}
	_, epochs, _, err := train(ck, 2)
	fmt.Printf("first run: epochs %v, cancelled: %v\n", epochs, errors.Is(err, context.Canceled))
	got, epochs, res, err := train(ck, 0) // the checkpoint exists: Train resumes
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("resumed run: epochs %v, same weights as uninterrupted: %v\n", epochs, slices.Equal(got, want))
	_, epochs, res2, err := train(ck, 0) // the checkpoint is complete: nothing to train
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("rerun: epochs %v, result of %d epochs, same best loss: %v\n", epochs, res2.Epochs, res2.BestValLoss == res.BestValLoss)
	fmt.Printf("best validation loss %.2f at epoch %d\n", res.BestValLoss, res.BestEpoch)
	// Output:
	// first run: epochs [1 2], cancelled: true
	// resumed run: epochs [3 4 5 6], same weights as uninterrupted: true
	// rerun: epochs [], result of 6 epochs, same best loss: true
	// best validation loss 2.16 at epoch 6
}
