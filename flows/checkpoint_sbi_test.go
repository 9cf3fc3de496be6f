package flows_test

import (
	"bytes"
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/gosbi/gosbi/dist"
	"github.com/gosbi/gosbi/flows"
	"github.com/gosbi/gosbi/sbi"
	"gonum.org/v1/gonum/mat"
)

// TestSBITrainResume interrupts NPE.Train, NRE.Train (whose loss draws
// contrasting θ from its own random stream, saved through
// CheckpointSettings.State) and NPE.Train with the atomic loss, resumes
// them, and compares the saved posteriors byte for byte with uninterrupted
// runs.
func TestSBITrainResume(t *testing.T) {
	t.Parallel()
	prior, err := dist.NewDiagNormal([]float64{0, 0}, []float64{1, 1})
	if err != nil {
		t.Fatal(err)
	}
	// 400 pairs x = θ + 0.5·ε.
	rng := rand.New(rand.NewPCG(5, 1))
	theta, x := mat.NewDense(400, 2, nil), mat.NewDense(400, 2, nil)
	for i := range 400 {
		for j := range 2 {
			th := rng.NormFloat64()
			theta.Set(i, j, th)
			x.Set(i, j, th+0.5*rng.NormFloat64())
		}
	}
	type trainer func(ctx context.Context, ck *flows.CheckpointSettings, onEpoch func(flows.EpochStats) error) (*sbi.TrainResult, []byte, error)
	settings := func(ck *flows.CheckpointSettings, onEpoch func(flows.EpochStats) error) *sbi.TrainSettings {
		s := &sbi.TrainSettings{}
		s.BatchSize, s.LearningRate, s.MaxEpochs, s.StopAfterEpochs = 50, 2e-3, 6, 3
		s.Checkpoint, s.OnEpoch = ck, onEpoch
		return s
	}
	npe := func(atomic bool) trainer {
		return func(ctx context.Context, ck *flows.CheckpointSettings, onEpoch func(flows.EpochStats) error) (*sbi.TrainResult, []byte, error) {
			e, err := sbi.NewNPE(prior, &sbi.NPEConfig{Estimator: flows.MAF{Transforms: 1, Hidden: 8}})
			if err != nil {
				t.Fatal(err)
			}
			var opts *sbi.AppendOptions
			if atomic {
				// A proposal other than the prior switches to the atomic loss.
				p, err := dist.NewDiagNormal([]float64{0, 0}, []float64{1.5, 1.5})
				if err != nil {
					t.Fatal(err)
				}
				opts = &sbi.AppendOptions{Proposal: p}
			}
			if _, err := e.AppendSimulations(theta, x, opts); err != nil {
				t.Fatal(err)
			}
			res, err := e.Train(ctx, rand.New(rand.NewPCG(5, 2)), settings(ck, onEpoch))
			if err != nil {
				return res, nil, err
			}
			post, err := e.Posterior(nil)
			if err != nil {
				t.Fatal(err)
			}
			var b bytes.Buffer
			if err := sbi.Save(&b, post); err != nil {
				t.Fatal(err)
			}
			return res, b.Bytes(), nil
		}
	}
	nre := func(ctx context.Context, ck *flows.CheckpointSettings, onEpoch func(flows.EpochStats) error) (*sbi.TrainResult, []byte, error) {
		e, err := sbi.NewNRE(prior, &sbi.NREConfig{Loss: sbi.LossNREB, Hidden: 16})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.AppendSimulations(theta, x, nil); err != nil {
			t.Fatal(err)
		}
		res, err := e.Train(ctx, rand.New(rand.NewPCG(5, 3)), settings(ck, onEpoch))
		if err != nil {
			return res, nil, err
		}
		post, err := e.Posterior(nil)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if err := sbi.SaveMCMC(&b, post); err != nil {
			t.Fatal(err)
		}
		return res, b.Bytes(), nil
	}
	for _, tc := range []struct {
		name  string
		train trainer
	}{{"NPE", npe(false)}, {"NPE atomic", npe(true)}, {"NRE-B", nre}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			wantRes, want, err := tc.train(context.Background(), nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			if wantRes.Epochs < 3 {
				t.Fatalf("uninterrupted run of %d epochs; the test needs 3", wantRes.Epochs)
			}
			ck := &flows.CheckpointSettings{Path: filepath.Join(t.TempDir(), "train.ckpt")}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			_, _, err = tc.train(ctx, ck, func(es flows.EpochStats) error {
				if es.Epoch == 2 {
					cancel()
				}
				return nil
			})
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("interrupted run: got %v, want context.Canceled", err)
			}
			gotRes, got, err := tc.train(context.Background(), ck, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("resumed posterior file differs from the uninterrupted one")
			}
			if gotRes.Epochs != wantRes.Epochs || math.Float64bits(gotRes.BestValLoss) != math.Float64bits(wantRes.BestValLoss) {
				t.Errorf("got %d epochs, best loss %v; want %d, %v", gotRes.Epochs, gotRes.BestValLoss, wantRes.Epochs, wantRes.BestValLoss)
			}
		})
	}
}
