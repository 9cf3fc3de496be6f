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

// ExampleNLE_AppendSource trains NLE on a simulation file streamed from
// disk; NRE.AppendSource is used the same way.
func ExampleNLE_AppendSource() {
	dir, err := os.MkdirTemp("", "gosbi-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	task, err := simulators.NewTask("two_moons", "")
	if err != nil {
		panic(err)
	}
	path := filepath.Join(dir, "sims.gosbi")
	w, err := simulators.OpenStoreWriter(path, simulators.StoreHeader{Task: task.Name, Seed: 1, N: 2000, ThetaDim: 2, XDim: 2})
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
	src, err := simulators.NewStoreSource(r)
	if err != nil {
		panic(err)
	}
	nle, err := sbi.NewNLE(task.Prior, nil)
	if err != nil {
		panic(err)
	}
	dropped, err := nle.AppendSource(context.Background(), src)
	if err != nil {
		panic(err)
	}
	res, err := nle.Train(context.Background(), rand.New(rand.NewPCG(1, 2)),
		&sbi.TrainSettings{Settings: flows.Settings{MaxEpochs: 2, WindowBlocks: 4}})
	if err != nil {
		panic(err)
	}
	fmt.Printf("%d simulations (%d dropped) in %d blocks, %d epochs\n", res.NumSimulations, dropped, res.Stream.Blocks, res.Epochs)
	fmt.Printf("at most %d rows in memory\n", res.Stream.MaxResidentRows)
	// Output:
	// 2000 simulations (0 dropped) in 20 blocks, 2 epochs
	// at most 800 rows in memory
}
