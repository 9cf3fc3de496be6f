package sbi_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/gosbi/gosbi/sbi"
	"github.com/gosbi/gosbi/simulators"
	"gonum.org/v1/gonum/mat"
)

// TestInferPotentialOnSimulations checks that OnSimulations sees every
// round's simulations, exactly those the estimator was trained on (the
// simulations of round 0 are reproduced by simulators.Simulate from the
// same seed, Simulate being the first use of the rng), that it does not
// change the run, and that its error stops the run.
func TestInferPotentialOnSimulations(t *testing.T) {
	prior := linGaussPrior(t)
	xo := linGaussObs(1, 5)
	const n = 100
	settings := func() *sbi.PotentialInferSettings {
		return &sbi.PotentialInferSettings{
			NLE:   &sbi.NLEConfig{Estimator: flowsMAFSmall},
			Train: quickTrain(2), Rounds: 2, Observation: xo,
			MCMC: &sbi.MCMCSettings{Chains: 10, Warmup: 50, InitCandidates: 500},
		}
	}
	plain := settings()
	_, want, err := sbi.InferNLE(context.Background(), linGaussSim(), prior, n, rand.New(rand.NewPCG(4, 1)), plain)
	if err != nil {
		t.Fatal(err)
	}

	hooked := settings()
	var (
		rounds []int
		first  *mat.Dense
	)
	hooked.OnSimulations = func(round int, theta, x *mat.Dense) error {
		rounds = append(rounds, round)
		if r, c := theta.Dims(); r != n || c != 2 {
			t.Errorf("round %d: θ is %d×%d, want %d×2", round, r, c, n)
		}
		if r, c := x.Dims(); r != n || c != 2 {
			t.Errorf("round %d: x is %d×%d, want %d×2", round, r, c, n)
		}
		if round == 0 {
			first = mat.DenseCopyOf(theta)
		}
		return nil
	}
	_, got, err := sbi.InferNLE(context.Background(), linGaussSim(), prior, n, rand.New(rand.NewPCG(4, 1)), hooked)
	if err != nil {
		t.Fatal(err)
	}
	if len(rounds) != 2 || rounds[0] != 0 || rounds[1] != 1 {
		t.Errorf("got OnSimulations rounds %v, want [0 1]", rounds)
	}
	sres, err := simulators.Simulate(context.Background(), linGaussSim(), prior, n, rand.New(rand.NewPCG(4, 1)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if first == nil || !mat.Equal(first, sres.Data.Theta) {
		t.Errorf("round 0: OnSimulations got other θ than the simulations of the seed")
	}
	for r := range want.Rounds {
		if g, w := got.Rounds[r].Train.BestValLoss, want.Rounds[r].Train.BestValLoss; g != w {
			t.Errorf("round %d: got best validation loss %v with the hook, want %v (as without)", r, g, w)
		}
	}

	stop := errors.New("stop")
	hooked = settings()
	hooked.OnSimulations = func(int, *mat.Dense, *mat.Dense) error { return stop }
	if _, res, err := sbi.InferNLE(context.Background(), linGaussSim(), prior, n, rand.New(rand.NewPCG(4, 1)), hooked); !errors.Is(err, stop) || len(res.Rounds) != 0 {
		t.Errorf("got error %v and %d rounds, want the hook's error and no finished round", err, len(res.Rounds))
	}
}
