package sbi_test

import (
	"bytes"
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gosbi/gosbi/dist"
	"github.com/gosbi/gosbi/flows"
	"github.com/gosbi/gosbi/sbi"
	"gonum.org/v1/gonum/mat"
)

// tinyMCMC are cheap sampling settings for the save tests.
var tinyMCMC = &sbi.MCMCSettings{Chains: 4, Warmup: 20, InitCandidates: 200, Thin: 2, PairBatch: 512}

func tinyNLEPosterior(t *testing.T) *sbi.MCMCPosterior {
	t.Helper()
	prior := linGaussPrior(t)
	th, x := linGaussData(t, 300, 71)
	e, err := sbi.NewNLE(prior, &sbi.NLEConfig{Estimator: flows.MAF{Transforms: 2, Hidden: 8}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.AppendSimulations(th, x, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Train(context.Background(), rand.New(rand.NewPCG(71, 2)), quickTrain(2)); err != nil {
		t.Fatal(err)
	}
	p, err := e.Posterior(tinyMCMC)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func tinyNREPosterior(t *testing.T, cfg *sbi.NREConfig) *sbi.MCMCPosterior {
	t.Helper()
	prior, err := dist.NewBoxUniform([]float64{-3, -3}, []float64{3, 3})
	if err != nil {
		t.Fatal(err)
	}
	th, x := linGaussData(t, 300, 72)
	e, err := sbi.NewNRE(prior, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.AppendSimulations(th, x, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Train(context.Background(), rand.New(rand.NewPCG(72, 2)), quickTrain(2)); err != nil {
		t.Fatal(err)
	}
	p, err := e.Posterior(tinyMCMC)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func saveMCMCBytes(t *testing.T, p *sbi.MCMCPosterior) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := sbi.SaveMCMC(&buf, p); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// checkSameMCMC compares the potentials of p and q bit for bit at several θ
// (one and three trials) and the MCMC draws with the same seed.
func checkSameMCMC(t *testing.T, p, q *sbi.MCMCPosterior) {
	t.Helper()
	if pt, px := p.Dims(); true {
		if qt, qx := q.Dims(); qt != pt || qx != px {
			t.Fatalf("dims %d, %d after load, want %d, %d", qt, qx, pt, px)
		}
	}
	ps, qs := p.Settings(), q.Settings()
	if ps.Chains != qs.Chains || ps.Warmup != qs.Warmup || ps.Thin != qs.Thin || ps.InitCandidates != qs.InitCandidates || ps.PairBatch != qs.PairBatch {
		t.Errorf("settings %+v after load, want %+v", qs, ps)
	}
	thetas := [][]float64{{0, 0}, {0.4, -0.6}, {1.3, 2.1}, {-2.5, 0.7}, {2.9, -2.9}}
	for _, k := range []int{1, 3} {
		xo := linGaussObs(k, 5)
		pp, err := p.Potential(xo)
		if err != nil {
			t.Fatal(err)
		}
		qp, err := q.Potential(xo)
		if err != nil {
			t.Fatal(err)
		}
		if pp.Kind() != qp.Kind() {
			t.Errorf("kind %q after load, want %q", qp.Kind(), pp.Kind())
		}
		for _, th := range thetas {
			a, b := pp.LogProb(th), qp.LogProb(th)
			if math.IsNaN(a) || math.IsInf(a, 0) {
				t.Errorf("K=%d: U(%v) = %v, want finite", k, th, a)
			}
			if math.Float64bits(a) != math.Float64bits(b) {
				t.Errorf("K=%d: U(%v) = %v after load, want %v", k, th, b, a)
			}
		}
	}
	xo := linGaussObs(1, 6)
	r1, err := p.Sample(context.Background(), xo, 40, rand.New(rand.NewPCG(9, 9)))
	if err != nil {
		t.Fatal(err)
	}
	r2, err := q.Sample(context.Background(), xo, 40, rand.New(rand.NewPCG(9, 9)))
	if err != nil {
		t.Fatal(err)
	}
	if !mat.Equal(r1.Samples, r2.Samples) {
		t.Error("MCMC samples with the same seed differ after load")
	}
}

func TestSaveLoadMCMCNLE(t *testing.T) {
	p := tinyNLEPosterior(t)
	data := saveMCMCBytes(t, p)
	q, err := sbi.LoadMCMC(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	checkSameMCMC(t, p, q)
	// Saving the loaded posterior gives the same bytes.
	if !bytes.Equal(saveMCMCBytes(t, q), data) {
		t.Error("re-saved file differs")
	}
}

func TestSaveLoadMCMCNRE(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  *sbi.NREConfig
	}{
		{"plain", &sbi.NREConfig{Hidden: 8, Blocks: 1}},
		{"mlp-embedding", &sbi.NREConfig{Hidden: 8, Blocks: 2, Embedding: sbi.MLPEmbedding{Hidden: 8, Out: 3}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := tinyNREPosterior(t, tc.cfg)
			name := filepath.Join(t.TempDir(), "posterior.gosbi")
			if err := sbi.SaveMCMCFile(name, p); err != nil {
				t.Fatal(err)
			}
			q, err := sbi.LoadMCMCFile(name)
			if err != nil {
				t.Fatal(err)
			}
			checkSameMCMC(t, p, q)
			if !bytes.Equal(saveMCMCBytes(t, q), saveMCMCBytes(t, p)) {
				t.Error("re-saved file differs")
			}
		})
	}
}

func TestLoadMCMCCorrupt(t *testing.T) {
	p := tinyNREPosterior(t, &sbi.NREConfig{Hidden: 4, Blocks: 1})
	data := saveMCMCBytes(t, p)
	for n := range len(data) {
		if _, err := sbi.LoadMCMC(bytes.NewReader(data[:n])); !errors.Is(err, sbi.ErrFormat) {
			t.Fatalf("truncated to %d of %d bytes: error %v, want ErrFormat", n, len(data), err)
		}
	}
	for i := 0; i < len(data); i += 7 {
		c := bytes.Clone(data)
		c[i] ^= 0x10
		if _, err := sbi.LoadMCMC(bytes.NewReader(c)); err == nil {
			t.Fatalf("byte %d flipped: no error", i)
		}
	}
	// Another version.
	c := bytes.Clone(data)
	c[8] = 9
	if _, err := sbi.LoadMCMC(bytes.NewReader(c)); !errors.Is(err, sbi.ErrVersion) {
		t.Errorf("version 9: error %v, want ErrVersion", err)
	}
}

func TestLoadMCMCWrongKind(t *testing.T) {
	p := tinyNLEPosterior(t)
	mcmcFile := saveMCMCBytes(t, p)
	if _, err := sbi.Load(bytes.NewReader(mcmcFile)); !errors.Is(err, sbi.ErrFormat) {
		t.Errorf("Load of an MCMC file: error %v, want ErrFormat", err)
	}
	// A DirectPosterior file: any 2-D flow with 2-D context will do.
	th, x := linGaussData(t, 20, 73)
	f, err := flows.MAF{Transforms: 1, Hidden: 4}.Build(th, x, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		t.Skipf("building a flow: %v", err)
	}
	dp, err := sbi.NewDirectPosterior(f, linGaussPrior(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := sbi.Save(&buf, dp); err != nil {
		t.Fatal(err)
	}
	_, err = sbi.LoadMCMC(&buf)
	if !errors.Is(err, sbi.ErrFormat) || !strings.Contains(err.Error(), "DirectPosterior") {
		t.Errorf("LoadMCMC of an NPE file: error %v, want ErrFormat naming DirectPosterior", err)
	}
	if err := sbi.SaveMCMC(&buf, nil); !errors.Is(err, sbi.ErrInput) {
		t.Errorf("SaveMCMC(nil): error %v, want ErrInput", err)
	}
}
