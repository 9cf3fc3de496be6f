package sbi_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/gosbi/gosbi/flows"
	"github.com/gosbi/gosbi/sbi"
	"github.com/gosbi/gosbi/simulators"
)

// ExampleNPE_AppendSource trains NPE on a simulation file streamed from
// disk: the file is written chunk by chunk (as `gosbi simulate` does), and
// training keeps only two windows of 4 chunks in memory.
func ExampleNPE_AppendSource() {
	dir, err := os.MkdirTemp("", "gosbi-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	task, err := simulators.NewTask("gaussian_linear", "")
	if err != nil {
		panic(err)
	}
	path := filepath.Join(dir, "sims.gosbi")
	w, err := simulators.OpenStoreWriter(path, simulators.StoreHeader{Task: task.Name, Seed: 1, N: 3000, ThetaDim: 10, XDim: 10})
	if err != nil {
		panic(err)
	}
	if _, err := simulators.Shard(context.Background(), task.Simulator, task.Prior, w, nil); err != nil {
		panic(err)
	}
	if err := w.Close(); err != nil {
		panic(err)
	}

	r, err := simulators.OpenStore(path)
	if err != nil {
		panic(err)
	}
	defer r.Close()
	src, err := simulators.NewStoreSource(r) // failed and invalid rows are dropped
	if err != nil {
		panic(err)
	}
	npe, err := sbi.NewNPE(task.Prior, nil)
	if err != nil {
		panic(err)
	}
	if _, err := npe.AppendSource(context.Background(), src); err != nil {
		panic(err)
	}
	res, err := npe.Train(context.Background(), rand.New(rand.NewPCG(1, 2)),
		&sbi.TrainSettings{Settings: flows.Settings{MaxEpochs: 2, WindowBlocks: 4}})
	if err != nil {
		panic(err)
	}
	fmt.Printf("%d simulations in %d blocks, %d epochs\n", res.NumSimulations, res.Stream.Blocks, res.Epochs)
	fmt.Printf("at most %d rows in memory, %d block reads\n", res.Stream.MaxResidentRows, res.Stream.BlockReads)
	// Output:
	// 3000 simulations in 30 blocks, 2 epochs
	// at most 800 rows in memory, 87 block reads
}
