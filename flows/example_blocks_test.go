package flows_test

import (
	"context"
	"fmt"
	"math/rand/v2"

	"github.com/gosbi/gosbi/flows"
)

// ExampleSettings_blocks trains in block mode: the 1,000 rows form 10 blocks
// of 55 to 145 rows (chunks of a simulation file, say), the validation split
// takes whole blocks, and every epoch shuffles rows only within windows of 2 blocks, so a
// loss reading blocks from disk needs few of them in memory. SplitBlocks,
// given an rng in the state Train receives, tells which blocks validate.
func ExampleSettings_blocks() {
	src := rand.NewPCG(7, 8)
	rng := rand.New(src)
	theta, x := simulate(1000, rng)
	flow, err := flows.MAF{Transforms: 1, Hidden: 8}.Build(x, theta, rng)
	if err != nil {
		fmt.Println(err)
		return
	}
	state, err := src.MarshalBinary() // a copy of the rng Train will receive
	if err != nil {
		fmt.Println(err)
		return
	}
	peek := new(rand.PCG)
	if err := peek.UnmarshalBinary(state); err != nil {
		fmt.Println(err)
		return
	}
	blocks := []int{55, 65, 75, 85, 95, 105, 115, 125, 135, 145} // rows 0-54, 55-119, …
	_, val := flows.SplitBlocks(len(blocks), 0, rand.New(peek))
	valRows := 0
	for _, b := range val {
		valRows += blocks[b]
	}
	fmt.Printf("validation blocks %v: %d rows\n", val, valRows)

	res, err := flows.Train(context.Background(), flow, x, theta, rng, &flows.Settings{
		MaxEpochs: 5, LearningRate: 1e-3, Blocks: blocks, WindowBlocks: 2})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%d training rows, %d validation rows, %d epochs\n", res.NumTrain, res.NumVal, res.Epochs)
	fmt.Printf("validation loss: epoch 1 %.2f, epoch 5 %.2f\n", res.History[0].ValLoss, res.History[4].ValLoss)
	// Output:
	// validation blocks [4]: 95 rows
	// 905 training rows, 95 validation rows, 5 epochs
	// validation loss: epoch 1 2.27, epoch 5 2.17
}
