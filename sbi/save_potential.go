package sbi

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"

	"github.com/gosbi/gosbi/dist"
	"github.com/gosbi/gosbi/flows"
	"github.com/gosbi/gosbi/mcmc"
	"github.com/gosbi/gosbi/nn"
)

// File format of a saved MCMCPosterior (version 1), framed as the
// DirectPosterior file of Save but with its own magic, so that Load rejects
// it and LoadMCMC rejects a DirectPosterior file. Integers are
// little-endian.
//
//	offset  size  content
//	0       8     magic "GOSBIMCM"
//	8       4     format version, uint32 (MCMCFileVersion)
//	12      4     header length H, uint32, at most 1 MiB
//	16      H     header: UTF-8 JSON, see below
//	16+H    8     model length M, uint64
//	24+H    M     the model: for "likelihood", the flow q(x | θ) in
//	              flows.Save's format; for "ratio", float64 values: the
//	              z-scoring of θ (mean, std), of x (mean, std; absent with a
//	              DeepSets embedding), then every classifier parameter
//	24+H+M  4     CRC-32 (Castagnoli) of all preceding bytes
//
// The header is
//
//	{"kind": "likelihood" | "ratio", "theta_dim": D, "x_dim": C,
//	 "prior": as in Save's header,
//	 "classifier": null | {"hidden": …, "blocks": …, "activation": …,
//	                       "embedding": null | {…}},
//	 "settings": {the numeric MCMCSettings fields}}
//
// MCMCSettings.Kernel, Proposal, OnProgress and Workers are not saved: a
// loaded posterior uses the default kernel (vectorised slice sampling), no
// proposal, no progress callback and GOMAXPROCS workers. Set them again with
// MCMCPosterior.WithSettings.
const (
	mcmcFileMagic = "GOSBIMCM"
	// MCMCFileVersion is the version of the MCMC posterior file format
	// written by SaveMCMC.
	MCMCFileVersion = 1
)

type mcmcSettingsSpec struct {
	Chains         int     `json:"chains"`
	Warmup         int     `json:"warmup"`
	Thin           int     `json:"thin"`
	Init           uint8   `json:"init"`
	InitCandidates int     `json:"init_candidates"`
	Space          int     `json:"space"`
	MaxRHat        float64 `json:"max_rhat"`
	MinESSPerChain float64 `json:"min_ess_per_chain"`
	PairBatch      int     `json:"pair_batch"`
}

type classifierSpec struct {
	Hidden     int            `json:"hidden"`
	Blocks     int            `json:"blocks"`
	Activation string         `json:"activation"`
	Embedding  *embeddingSpec `json:"embedding"`
}

type mcmcFileHeader struct {
	Kind       string           `json:"kind"`
	ThetaDim   int              `json:"theta_dim"`
	XDim       int              `json:"x_dim"`
	Prior      priorSpec        `json:"prior"`
	Classifier *classifierSpec  `json:"classifier"`
	Settings   mcmcSettingsSpec `json:"settings"`
}

// SaveMCMC writes p (prior, network and the numeric MCMC settings) to w in
// the versioned format above: the likelihood flow of an NLE posterior or
// the ratio classifier of an NRE one. A prior other than dist.BoxUniform,
// dist.Normal and dist.LogNormal is stored by its support only (see
// LoadMCMCWithPrior). The kernel, proposal, progress callback and worker
// count are not saved. The error wraps ErrInput for a nil posterior or a
// likelihood flow with a context embedding (NewLikelihoodPosterior with
// such a flow), or is a write error.
func SaveMCMC(w io.Writer, p *MCMCPosterior) error {
	if p == nil || p.model == nil {
		return fmt.Errorf("sbi: SaveMCMC: nil posterior: %w", ErrInput)
	}
	dt, dx := p.model.dims()
	s := p.s
	h := mcmcFileHeader{
		Kind: p.model.kind(), ThetaDim: dt, XDim: dx, Prior: specOfPrior(p.prior),
		Settings: mcmcSettingsSpec{Chains: s.Chains, Warmup: s.Warmup, Thin: s.Thin, Init: uint8(s.Init),
			InitCandidates: s.InitCandidates, Space: int(s.Space), MaxRHat: s.MaxRHat,
			MinESSPerChain: s.MinESSPerChain, PairBatch: s.PairBatch},
	}
	var mb bytes.Buffer
	switch m := p.model.(type) {
	case likelihoodModel:
		if m.flow.Embedding() != nil {
			return fmt.Errorf("sbi: SaveMCMC: likelihood flow with a context embedding %T: %w", m.flow.Embedding(), ErrInput)
		}
		if err := flows.Save(&mb, m.flow); err != nil {
			return fmt.Errorf("sbi: SaveMCMC: %w", err)
		}
	case ratioModel:
		c := m.c
		h.Classifier = &classifierSpec{Hidden: c.cfg.Hidden, Blocks: len(c.blocks), Activation: c.cfg.Activation.String(), Embedding: c.spec}
		vals := [][]float64{c.thMean.Data, c.thStd.Data}
		if c.xMean != nil {
			vals = append(vals, c.xMean.Data, c.xStd.Data)
		}
		for _, t := range c.params() {
			vals = append(vals, t.Data)
		}
		var b []byte
		for _, v := range vals {
			for _, f := range v {
				b = binary.LittleEndian.AppendUint64(b, math.Float64bits(f))
			}
		}
		mb.Write(b)
	default:
		return fmt.Errorf("sbi: SaveMCMC: unknown potential model %T: %w", p.model, ErrInput)
	}
	js, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("sbi: SaveMCMC: encoding header: %w", err)
	}
	if _, err := w.Write(frame(mcmcFileMagic, MCMCFileVersion, js, mb.Bytes())); err != nil {
		return fmt.Errorf("sbi: SaveMCMC: %w", err)
	}
	return nil
}

// SaveMCMCFile writes p to the named file (created or truncated) with
// SaveMCMC.
func SaveMCMCFile(name string, p *MCMCPosterior) error {
	return saveFile(name, "SaveMCMCFile", func(w io.Writer) error { return SaveMCMC(w, p) })
}

// LoadMCMC reads a posterior written by SaveMCMC, with the default kernel
// and the saved numeric settings. Errors wrap ErrFormat for data that is
// not an MCMC posterior file (a DirectPosterior file is named as such; read
// it with Load), truncated or corrupt (checksum), ErrVersion for another
// format version, ErrPrior for a file whose prior must be given (use
// LoadMCMCWithPrior), and the underlying read error. Memory is bounded by
// the file, and LoadMCMC never panics, whatever the bytes.
func LoadMCMC(r io.Reader) (*MCMCPosterior, error) { return loadMCMC(r, nil) }

// LoadMCMCWithPrior reads a posterior written by SaveMCMC using prior
// instead of the file's: required when the file's prior is "custom". prior
// must have the file's θ dimension (ErrInput otherwise).
func LoadMCMCWithPrior(r io.Reader, prior dist.Distribution) (*MCMCPosterior, error) {
	if prior == nil {
		return nil, fmt.Errorf("sbi: LoadMCMCWithPrior: nil prior: %w", ErrInput)
	}
	return loadMCMC(r, prior)
}

// LoadMCMCFile reads the named file with LoadMCMC.
func LoadMCMCFile(name string) (*MCMCPosterior, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("sbi: LoadMCMCFile: %w", err)
	}
	defer f.Close()
	p, err := LoadMCMC(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return p, nil
}

func loadMCMC(r io.Reader, prior dist.Distribution) (*MCMCPosterior, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("sbi: LoadMCMC: %w", err)
	}
	bad := func(format string, a ...any) error {
		return fmt.Errorf("sbi: LoadMCMC: "+format+": %w", append(a, ErrFormat)...)
	}
	if len(data) >= 8 && string(data[:8]) == fileMagic {
		return nil, bad("a DirectPosterior (NPE) file, not an MCMC posterior; read it with Load")
	}
	var h mcmcFileHeader
	model, err := unframe(data, "LoadMCMC", mcmcFileMagic, "a gosbi MCMC posterior file", MCMCFileVersion, &h, "model")
	if err != nil {
		return nil, err
	}
	if h.ThetaDim < 1 || h.XDim < 1 || h.ThetaDim > maxEmbedSize || h.XDim > maxEmbedSize {
		return nil, bad("dimensions θ %d, x %d", h.ThetaDim, h.XDim)
	}
	if prior == nil {
		if prior, err = h.Prior.build(h.ThetaDim); err != nil {
			return nil, err
		}
	} else if prior.Dim() != h.ThetaDim {
		return nil, fmt.Errorf("sbi: LoadMCMCWithPrior: prior of dimension %d for a posterior over %d parameters: %w", prior.Dim(), h.ThetaDim, ErrInput)
	}
	var pm potentialModel
	switch h.Kind {
	case "likelihood":
		if h.Classifier != nil {
			return nil, bad("likelihood file with a classifier description")
		}
		f, err := flows.Load(bytes.NewReader(model))
		if err != nil {
			if errors.Is(err, flows.ErrVersion) {
				return nil, fmt.Errorf("sbi: LoadMCMC: %w: %w", err, ErrVersion)
			}
			return nil, fmt.Errorf("sbi: LoadMCMC: %w: %w", err, ErrFormat)
		}
		if f.Dim() != h.XDim || f.ContextDim() != h.ThetaDim {
			return nil, bad("flow of dimension %d with context %d, header says x %d and θ %d", f.Dim(), f.ContextDim(), h.XDim, h.ThetaDim)
		}
		pm = likelihoodModel{f}
	case "ratio":
		c, err := loadClassifier(h, model)
		if err != nil {
			return nil, bad("classifier: %v", err)
		}
		pm = ratioModel{c}
	default:
		return nil, bad("unknown model kind %q", h.Kind)
	}
	s := h.Settings
	if s.InitCandidates > 1<<24 || s.Chains > 1<<20 || s.PairBatch > 1<<24 {
		return nil, bad("settings: %d chains, %d candidates, pair batch %d", s.Chains, s.InitCandidates, s.PairBatch)
	}
	p, err := newMCMCPosterior(pm, prior, &MCMCSettings{Chains: s.Chains, Warmup: s.Warmup, Thin: s.Thin,
		Init: MCMCInit(s.Init), InitCandidates: s.InitCandidates, Space: mcmc.Space(s.Space), MaxRHat: s.MaxRHat,
		MinESSPerChain: s.MinESSPerChain, PairBatch: s.PairBatch})
	if err != nil {
		return nil, bad("settings: %v", err)
	}
	return p, nil
}

// loadClassifier rebuilds the NRE classifier described by h from the
// float64 values of model, checking sizes before allocating.
func loadClassifier(h mcmcFileHeader, model []byte) (*classifier, error) {
	cs := h.Classifier
	if cs == nil {
		return nil, errors.New("missing description")
	}
	if cs.Hidden < 1 || cs.Hidden > maxEmbedSize || cs.Blocks < 0 || cs.Blocks > 64 {
		return nil, fmt.Errorf("hidden width %d, %d blocks", cs.Hidden, cs.Blocks)
	}
	act, err := nn.ParseActivation(cs.Activation)
	if err != nil {
		return nil, fmt.Errorf("activation %q", cs.Activation)
	}
	if len(model)%8 != 0 {
		return nil, fmt.Errorf("%d bytes of weights", len(model))
	}
	have := int64(len(model) / 8)
	dt, dx := h.ThetaDim, h.XDim
	xFeatures := int64(dx)
	need := 2 * int64(dt)
	deepSets := false
	if sp := cs.Embedding; sp != nil {
		if err := sp.check(); err != nil {
			return nil, err
		}
		if sp.In != dx {
			return nil, fmt.Errorf("embedding for %d inputs, x has %d", sp.In, dx)
		}
		deepSets = sp.Kind == "deepsets"
		xFeatures = int64(sp.Out)
		need += embeddingWeights(sp)
	}
	if !deepSets {
		need += 2 * int64(dx)
	}
	hd := int64(cs.Hidden)
	need += (int64(dt)+xFeatures)*hd + hd + int64(cs.Blocks)*2*(hd*hd+hd) + hd + 1
	if need != have {
		return nil, fmt.Errorf("%d values stored, the architecture has %d", have, need)
	}
	c := &classifier{dt: dt, dx: dx, spec: cs.Embedding, cfg: NREConfig{Hidden: cs.Hidden, Blocks: cs.Blocks, Activation: act}}
	rng := rand.New(rand.NewPCG(0, 0))
	if cs.Embedding != nil {
		m, err := cs.Embedding.module(rng)
		if err != nil {
			return nil, err
		}
		c.embed = m
	}
	c.thMean, c.thStd = nn.New(1, dt), nn.New(1, dt)
	if !deepSets {
		c.xMean, c.xStd = nn.New(1, dx), nn.New(1, dx)
	}
	c.in = nn.NewLinear("clf.in", dt+int(xFeatures), cs.Hidden, true, rng)
	for b := range cs.Blocks {
		c.blocks = append(c.blocks, nn.NewResidual(fmt.Sprintf("clf.block%d", b), cs.Hidden, act, rng))
	}
	c.out = nn.NewLinear("clf.out", cs.Hidden, 1, true, rng)
	dst := [][]float64{c.thMean.Data, c.thStd.Data}
	if c.xMean != nil {
		dst = append(dst, c.xMean.Data, c.xStd.Data)
	}
	for _, t := range c.params() {
		dst = append(dst, t.Data)
	}
	var total int64
	for _, d := range dst {
		total += int64(len(d))
	}
	if total != have {
		return nil, fmt.Errorf("%d values stored, the network has %d", have, total)
	}
	off := 0
	for _, d := range dst {
		for i := range d {
			d[i] = math.Float64frombits(binary.LittleEndian.Uint64(model[off:]))
			off += 8
		}
	}
	for j := range dt {
		if !(c.thStd.Data[j] > 0) || math.IsInf(c.thStd.Data[j], 0) || math.IsNaN(c.thMean.Data[j]) || math.IsInf(c.thMean.Data[j], 0) {
			return nil, errors.New("z-scoring of θ not finite and positive")
		}
	}
	if c.xMean != nil {
		for j := range dx {
			if !(c.xStd.Data[j] > 0) || math.IsInf(c.xStd.Data[j], 0) || math.IsNaN(c.xMean.Data[j]) || math.IsInf(c.xMean.Data[j], 0) {
				return nil, errors.New("z-scoring of x not finite and positive")
			}
		}
	}
	return c, nil
}
