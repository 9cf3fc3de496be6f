package sbi_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/gosbi/gosbi/dist"
	"github.com/gosbi/gosbi/flows"
	"github.com/gosbi/gosbi/sbi"
)

// TestTrainParts checks how the estimators split batches across cores
// (flows.Settings.Parts): maximum-likelihood NPE and NLE split by default
// and give bit for bit the same weights whatever GOMAXPROCS; losses whose
// rows depend on each other (NRE, SNPE-C's atomic loss) refuse Parts > 1.
func TestTrainParts(t *testing.T) {
	ctx := context.Background()
	prior, err := dist.NewDiagNormal([]float64{0, 0}, []float64{1, 1})
	if err != nil {
		t.Fatal(err)
	}
	theta, x := linGaussData(t, 600, 91)
	settings := func(parts int) *sbi.TrainSettings {
		s := quickTrain(3)
		s.BatchSize = 128
		s.Parts = parts
		return s
	}

	type trainer interface {
		Train(context.Context, *rand.Rand, *sbi.TrainSettings) (*sbi.TrainResult, error)
	}
	newNPE := func(atomic bool) trainer {
		e, err := sbi.NewNPE(prior, &sbi.NPEConfig{Estimator: flows.MAF{Transforms: 2, Hidden: 16}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.AppendSimulations(theta, x, nil); err != nil {
			t.Fatal(err)
		}
		if atomic {
			// Simulations from a proposal other than the prior switch NPE to
			// the atomic loss.
			proposal, err := dist.NewDiagNormal([]float64{0, 0}, []float64{0.5, 0.5})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.AppendSimulations(theta, x, &sbi.AppendOptions{Proposal: proposal}); err != nil {
				t.Fatal(err)
			}
		}
		return e
	}
	newNLE := func() trainer {
		e, err := sbi.NewNLE(prior, &sbi.NLEConfig{Estimator: flows.MAF{Transforms: 2, Hidden: 16}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.AppendSimulations(theta, x, nil); err != nil {
			t.Fatal(err)
		}
		return e
	}
	newNRE := func() trainer {
		e, err := sbi.NewNRE(prior, &sbi.NREConfig{Hidden: 16, Blocks: 1})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.AppendSimulations(theta, x, nil); err != nil {
			t.Fatal(err)
		}
		return e
	}

	t.Run("refused", func(t *testing.T) {
		for _, c := range []struct {
			name string
			e    trainer
		}{{"NRE", newNRE()}, {"NPE atomic", newNPE(true)}} {
			if _, err := c.e.Train(ctx, rand.New(rand.NewPCG(1, 2)), settings(2)); !errors.Is(err, sbi.ErrInput) {
				t.Errorf("%s with 2 parts: got %v, want an error wrapping ErrInput", c.name, err)
			}
			if _, err := c.e.Train(ctx, rand.New(rand.NewPCG(1, 2)), settings(0)); err != nil {
				t.Errorf("%s with default parts: %v", c.name, err)
			}
		}
	})

	t.Run("split", func(t *testing.T) {
		for _, c := range []struct {
			name string
			e    func() trainer
		}{{"NPE", func() trainer { return newNPE(false) }}, {"NLE", newNLE}} {
			// Default parts (2 at 128 rows) under GOMAXPROCS 1 and 2, and
			// explicit serial training for contrast.
			var losses []float64
			for _, run := range []struct {
				procs, parts int
			}{{1, 0}, {2, 0}, {2, 1}} {
				old := runtime.GOMAXPROCS(run.procs)
				res, err := c.e().Train(ctx, rand.New(rand.NewPCG(3, 4)), settings(run.parts))
				runtime.GOMAXPROCS(old)
				if err != nil {
					t.Fatalf("%s: %v", c.name, err)
				}
				losses = append(losses, res.BestValLoss)
			}
			if losses[0] != losses[1] {
				t.Errorf("%s: best validation loss %v with GOMAXPROCS 1, %v with 2: want identical", c.name, losses[0], losses[1])
			}
			// Serial and split runs sum the same gradient in another order:
			// after 3 epochs their losses agree to rounding amplified by
			// training, far below the loss scale (~1).
			if d := losses[1] - losses[2]; d > 1e-6 || d < -1e-6 {
				t.Errorf("%s: best validation loss %v split, %v serial: differ by %v", c.name, losses[1], losses[2], d)
			}
		}
	})
}
