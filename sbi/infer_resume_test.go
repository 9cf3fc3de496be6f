package sbi_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/gosbi/gosbi/flows"
	"github.com/gosbi/gosbi/sbi"
	"github.com/gosbi/gosbi/simulators"
	"gonum.org/v1/gonum/mat"
)

// savedRound is what a resumable caller keeps of one round: the result of
// the draw and simulation, and the state of the run's random source
// before and after it.
type savedRound struct {
	before, after []byte
	rs            *sbi.RoundSimulations
}

// roundStore implements the WrapSimulations and TrainRound hooks as a
// checkpointing caller does, in memory (the training checkpoints are
// files): it saves every round and, on a later run, replays a saved round
// whose state before matches instead of calling run.
type roundStore struct {
	src    *rand.PCG // the source behind the run's rng
	saved  map[int]savedRound
	dir    string // folder of the training checkpoints
	train  *sbi.TrainSettings
	stopAt [2]int // stop training in round stopAt[0] at epoch stopAt[1] (epoch 0: never)
	ran    []int  // rounds whose run was called
	reused []int  // rounds replayed from saved
}

var errStop = errors.New("stop for the test")

func (s *roundStore) wrap(round int, run func() (*sbi.RoundSimulations, error)) (*sbi.RoundSimulations, error) {
	before, err := s.src.MarshalBinary()
	if err != nil {
		return nil, err
	}
	if sv, ok := s.saved[round]; ok && bytes.Equal(sv.before, before) {
		s.reused = append(s.reused, round)
		return sv.rs, s.src.UnmarshalBinary(sv.after)
	}
	s.ran = append(s.ran, round)
	rs, err := run()
	if err != nil {
		return nil, err
	}
	after, err := s.src.MarshalBinary()
	if err != nil {
		return nil, err
	}
	// Keep a copy, as a file would.
	cp := *rs
	res := *rs.Result
	res.Data = &simulators.Dataset{Theta: mat.DenseCopyOf(rs.Result.Data.Theta), X: mat.DenseCopyOf(rs.Result.Data.X)}
	cp.Result = &res
	s.saved[round] = savedRound{before: before, after: after, rs: &cp}
	return rs, nil
}

func (s *roundStore) trainRound(round int) *sbi.TrainSettings {
	ts := *s.train
	ts.Checkpoint = &flows.CheckpointSettings{Path: filepath.Join(s.dir, fmt.Sprintf("train-%d.ckpt", round)), Tag: "test"}
	if s.stopAt[1] > 0 && round == s.stopAt[0] {
		ts.OnEpoch = func(es flows.EpochStats) error {
			if es.Epoch == s.stopAt[1] {
				return errStop
			}
			return nil
		}
	}
	return &ts
}

// TestInferResumeRounds interrupts two-round runs of Infer (SNPE-C and
// TSNPE) and InferNLE in the training of the second round, with every round
// saved through WrapSimulations and every training checkpointed through
// TrainRound, and resumes them from the saved rounds: the resumed run calls
// no simulation (both rounds are replayed) and ends with exactly the
// estimator, training results and random state of an uninterrupted run
// without hooks.
func TestInferResumeRounds(t *testing.T) {
	ctx := context.Background()
	prior := linGaussPrior(t)
	xo := linGaussObs(1, 5)
	// Points at which the trained estimators are compared.
	points := mat.NewDense(3, 2, []float64{0.4, -0.6, 0, 0, -1, 0.5})
	type outcome struct {
		res   *sbi.InferResult
		lp    []float64 // the posterior's log-density (NPE) or potential (NLE) at points
		after uint64    // the next draw of the run's rng
	}
	type method struct {
		name string
		run  func(rng *rand.Rand, wrap func(int, func() (*sbi.RoundSimulations, error)) (*sbi.RoundSimulations, error),
			train func(int) *sbi.TrainSettings) (outcome, error)
	}
	npe := func(truncate bool) func(*rand.Rand, func(int, func() (*sbi.RoundSimulations, error)) (*sbi.RoundSimulations, error), func(int) *sbi.TrainSettings) (outcome, error) {
		return func(rng *rand.Rand, wrap func(int, func() (*sbi.RoundSimulations, error)) (*sbi.RoundSimulations, error), train func(int) *sbi.TrainSettings) (outcome, error) {
			post, res, err := sbi.Infer(ctx, linGaussSim(), prior, 200, rng, &sbi.InferSettings{
				Config: &sbi.NPEConfig{Estimator: tinyMAF}, Train: tinyTrain(4), Rounds: 2, Observation: xo.RawRowView(0),
				Truncate: truncate, Restricted: &sbi.RestrictedSettings{NumSamples: 500, MassDraws: 2000},
				WrapSimulations: wrap, TrainRound: train,
			})
			if err != nil {
				return outcome{res: res}, err
			}
			c, err := post.At(xo.RawRowView(0))
			if err != nil {
				return outcome{}, err
			}
			o := outcome{res: res, after: rng.Uint64()}
			for i := range 3 {
				o.lp = append(o.lp, c.LogProb(points.RawRowView(i)))
			}
			return o, nil
		}
	}
	for _, m := range []method{
		{"SNPE-C", npe(false)},
		{"TSNPE", npe(true)},
		{"SNLE", func(rng *rand.Rand, wrap func(int, func() (*sbi.RoundSimulations, error)) (*sbi.RoundSimulations, error), train func(int) *sbi.TrainSettings) (outcome, error) {
			post, res, err := sbi.InferNLE(ctx, linGaussSim(), prior, 100, rng, &sbi.PotentialInferSettings{
				NLE: &sbi.NLEConfig{Estimator: flowsMAFSmall}, Train: quickTrain(4), Rounds: 2, Observation: xo,
				MCMC:            &sbi.MCMCSettings{Chains: 10, Warmup: 50, InitCandidates: 500},
				WrapSimulations: wrap, TrainRound: train,
			})
			if err != nil {
				return outcome{res: res}, err
			}
			pot, err := post.Potential(xo)
			if err != nil {
				return outcome{}, err
			}
			o := outcome{res: res, after: rng.Uint64()}
			for i := range 3 {
				o.lp = append(o.lp, pot.LogProb(points.RawRowView(i)))
			}
			return o, nil
		}},
	} {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			const seed = 11
			want, err := m.run(rand.New(rand.NewPCG(seed, 0)), nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			var train *sbi.TrainSettings
			if m.name == "SNLE" {
				train = quickTrain(4)
			} else {
				train = tinyTrain(4)
			}
			store := &roundStore{saved: map[int]savedRound{}, dir: t.TempDir(), train: train, stopAt: [2]int{1, 2}}

			// Interrupted in round 1's training, at epoch 2.
			store.src = rand.NewPCG(seed, 0)
			_, err = m.run(rand.New(store.src), store.wrap, store.trainRound)
			if !errors.Is(err, errStop) {
				t.Fatalf("interrupted run: got error %v, want one wrapping the OnEpoch error", err)
			}
			if fmt.Sprint(store.ran) != "[0 1]" {
				t.Fatalf("interrupted run: got simulations of rounds %v, want [0 1]", store.ran)
			}

			// Resumed: both rounds replayed, training from the checkpoints.
			store.src, store.ran, store.stopAt = rand.NewPCG(seed, 0), nil, [2]int{}
			got, err := m.run(rand.New(store.src), store.wrap, store.trainRound)
			if err != nil {
				t.Fatal(err)
			}
			if len(store.ran) != 0 || fmt.Sprint(store.reused) != "[0 1]" {
				t.Errorf("resumed run: got rounds %v simulated and %v replayed, want none and [0 1]", store.ran, store.reused)
			}
			for r := range 2 {
				g, w := got.res.Rounds[r], want.res.Rounds[r]
				if g.Train.Epochs != w.Train.Epochs || g.Train.BestValLoss != w.Train.BestValLoss || g.Proposal != w.Proposal ||
					g.Simulation.OK != w.Simulation.OK {
					t.Errorf("round %d: got %d epochs, best loss %v, proposal %q, %d simulations; want %d, %v, %q, %d", r,
						g.Train.Epochs, g.Train.BestValLoss, g.Proposal, g.Simulation.OK, w.Train.Epochs, w.Train.BestValLoss, w.Proposal, w.Simulation.OK)
				}
				if r == 1 && g.ProposalAcceptance != w.ProposalAcceptance {
					t.Errorf("round 1: got proposal acceptance %v, want %v", g.ProposalAcceptance, w.ProposalAcceptance)
				}
			}
			for i := range got.lp {
				if got.lp[i] != want.lp[i] {
					t.Errorf("log-density at point %d: got %v, want %v (uninterrupted)", i, got.lp[i], want.lp[i])
				}
			}
			if got.after != want.after {
				t.Errorf("rng after the run: got %d, want %d", got.after, want.after)
			}
		})
	}
}

// TestWrapSimulationsErrors checks that an error of the hook stops the run
// wrapped, that run's own error passes through, and that a hook that
// returns no simulations is an input error.
func TestWrapSimulationsErrors(t *testing.T) {
	ctx := context.Background()
	prior := linGaussPrior(t)
	boom := errors.New("boom")
	for _, tc := range []struct {
		name string
		wrap func(int, func() (*sbi.RoundSimulations, error)) (*sbi.RoundSimulations, error)
		want error
	}{
		{"hook error", func(int, func() (*sbi.RoundSimulations, error)) (*sbi.RoundSimulations, error) { return nil, boom }, boom},
		{"no result", func(int, func() (*sbi.RoundSimulations, error)) (*sbi.RoundSimulations, error) { return nil, nil }, sbi.ErrInput},
		{"empty result", func(int, func() (*sbi.RoundSimulations, error)) (*sbi.RoundSimulations, error) {
			return &sbi.RoundSimulations{}, nil
		}, sbi.ErrInput},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, res, err := sbi.Infer(ctx, linGaussSim(), prior, 10, rand.New(rand.NewPCG(1, 1)), &sbi.InferSettings{WrapSimulations: tc.wrap})
			if !errors.Is(err, tc.want) || len(res.Rounds) != 0 {
				t.Errorf("Infer: got %v, want an error wrapping %v and no round", err, tc.want)
			}
			_, res, err = sbi.InferNRE(ctx, linGaussSim(), prior, 10, rand.New(rand.NewPCG(1, 1)), &sbi.PotentialInferSettings{WrapSimulations: tc.wrap})
			if !errors.Is(err, tc.want) || len(res.Rounds) != 0 {
				t.Errorf("InferNRE: got %v, want an error wrapping %v and no round", err, tc.want)
			}
		})
	}
	// Cancelled during the simulation that run starts: the cancellation,
	// not the hook, is reported.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, _, err := sbi.Infer(cctx, linGaussSim(), prior, 10, rand.New(rand.NewPCG(1, 1)), &sbi.InferSettings{
		WrapSimulations: func(_ int, run func() (*sbi.RoundSimulations, error)) (*sbi.RoundSimulations, error) { return run() }})
	if !errors.Is(err, context.Canceled) || bytes.Contains([]byte(err.Error()), []byte("WrapSimulations")) {
		t.Errorf("cancelled: got %v, want context.Canceled without the hook's name", err)
	}
}
