package sbi

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"time"

	"github.com/gosbi/gosbi/dist"
	"github.com/gosbi/gosbi/flows"
	"github.com/gosbi/gosbi/vi"
	"gonum.org/v1/gonum/mat"
)

// File format of a saved VIPosterior (version 1), framed as the
// DirectPosterior file of Save but with its own magic, so that Load and
// LoadMCMC reject it and LoadVI rejects their files. Integers are
// little-endian.
//
//	offset      size  content
//	0           8     magic "GOSBIVIP"
//	8           4     format version, uint32 (VIFileVersion)
//	12          4     header length H, uint32, at most 1 MiB
//	16          H     header: UTF-8 JSON, see below
//	16+H        8     payload length, uint64: F + 8·K·C + P
//	24+H        F     q, the flow over unconstrained coordinates, in
//	                  flows.Save's format
//	24+H+F      8·K·C x_o, K trials of C float64 values, row by row
//	24+H+F+8KC  P     the potential: a complete MCMC posterior file (SaveMCMC's
//	                  format, magic "GOSBIMCM", with its own checksum), or
//	                  nothing (P = 0)
//	end-4       4     CRC-32 (Castagnoli) of all preceding bytes
//
// The header is
//
//	{"theta_dim": D, "x_trials": K, "x_dim": C,
//	 "flow_bytes": F, "potential_bytes": P,
//	 "bounds": null | {"lo": […], "hi": […]},
//	 "prior": null | as in Save's header,
//	 "result": {"iterations", "skipped", "converged", "loss", "khat",
//	            "khat_per_context", "ess", "log_z", "warnings", "runtime_ns"},
//	 "init": null | {"rounds", "beta", "ess", "ess_target", "epochs",
//	                 "runtime_ns"}}
//
// "bounds" is the box of the bijection x = T(z) that maps q's space onto
// the support (null for the identity); infinite bounds are written as
// ±1.7976931348623157e308. "prior" is the prior of the potential (null
// when the file holds none). Floating-point values of "result" and "init"
// that are NaN or infinite are written as the strings "NaN", "+Inf" and
// "-Inf". The result's History is not saved.
const (
	viFileMagic = "GOSBIVIP"
	// VIFileVersion is the version of the VI posterior file format written
	// by SaveVI.
	VIFileVersion = 1
)

// jfloat is a float64 whose JSON form keeps NaN and ±Inf (as strings);
// finite values are JSON numbers, which round-trip exactly.
type jfloat float64

func (f jfloat) MarshalJSON() ([]byte, error) {
	v := float64(f)
	switch {
	case math.IsNaN(v):
		return []byte(`"NaN"`), nil
	case math.IsInf(v, 1):
		return []byte(`"+Inf"`), nil
	case math.IsInf(v, -1):
		return []byte(`"-Inf"`), nil
	}
	return strconv.AppendFloat(nil, v, 'g', -1, 64), nil
}

func (f *jfloat) UnmarshalJSON(b []byte) error {
	switch string(b) {
	case `"NaN"`:
		*f = jfloat(math.NaN())
		return nil
	case `"+Inf"`:
		*f = jfloat(math.Inf(1))
		return nil
	case `"-Inf"`:
		*f = jfloat(math.Inf(-1))
		return nil
	}
	var v float64
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*f = jfloat(v)
	return nil
}

type boundsSpec struct {
	Lo []float64 `json:"lo"`
	Hi []float64 `json:"hi"`
}

type viResultSpec struct {
	Iterations     int      `json:"iterations"`
	Skipped        int      `json:"skipped"`
	Converged      bool     `json:"converged"`
	Loss           jfloat   `json:"loss"`
	Khat           jfloat   `json:"khat"`
	KhatPerContext []jfloat `json:"khat_per_context"`
	ESS            jfloat   `json:"ess"`
	LogZ           jfloat   `json:"log_z"`
	Warnings       []string `json:"warnings"`
	RuntimeNS      int64    `json:"runtime_ns"`
}

type viInitSpec struct {
	Rounds    int    `json:"rounds"`
	Beta      jfloat `json:"beta"`
	ESS       jfloat `json:"ess"`
	ESSTarget jfloat `json:"ess_target"`
	Epochs    int    `json:"epochs"`
	RuntimeNS int64  `json:"runtime_ns"`
}

type viFileHeader struct {
	ThetaDim       int          `json:"theta_dim"`
	XTrials        int          `json:"x_trials"`
	XDim           int          `json:"x_dim"`
	FlowBytes      int64        `json:"flow_bytes"`
	PotentialBytes int64        `json:"potential_bytes"`
	Bounds         *boundsSpec  `json:"bounds"`
	Prior          *priorSpec   `json:"prior"`
	Result         viResultSpec `json:"result"`
	Init           *viInitSpec  `json:"init"`
}

func jfloats(v []float64) []jfloat {
	if v == nil {
		return nil
	}
	out := make([]jfloat, len(v))
	for i, f := range v {
		out[i] = jfloat(f)
	}
	return out
}

func floats(v []jfloat) []float64 {
	if v == nil {
		return nil
	}
	out := make([]float64, len(v))
	for i, f := range v {
		out[i] = float64(f)
	}
	return out
}

// SaveVI writes the variational posterior p to w in the versioned format
// above: q (the flow and the bijection onto the prior's support), x_o and
// the summaries of the fit (Result without its History, and InitResult).
//
// post, which may be nil, is the likelihood- or ratio-based posterior whose
// potential q was fitted to (the post of NewVIPosterior): with it the file
// also holds that posterior in SaveMCMC's format (network, prior, numeric
// MCMC settings), and the posterior loaded by LoadVI supports
// SampleResampled; without it the file is smaller and the loaded posterior
// samples and evaluates q only. SaveVI cannot tell whether post is the one
// q was fitted to; it checks only that its dimensions match p and x_o.
//
// The error wraps ErrInput for a nil p, or a post of other dimensions or
// that SaveMCMC rejects, flows.ErrConfig for a q that flows.Save cannot
// describe, or is a write error.
func SaveVI(w io.Writer, p *VIPosterior, post *MCMCPosterior) error {
	if p == nil || p.q == nil || p.res == nil || p.xo == nil {
		return fmt.Errorf("sbi: SaveVI: nil posterior: %w", ErrInput)
	}
	k, c := p.xo.Dims()
	h := viFileHeader{ThetaDim: p.Dim(), XTrials: k, XDim: c}
	if b := p.q.Bijection(); b != nil {
		lo, hi := b.Bounds()
		h.Bounds = &boundsSpec{Lo: encodeBounds(lo), Hi: encodeBounds(hi)}
	}
	r := p.res
	h.Result = viResultSpec{Iterations: r.Iterations, Skipped: r.Skipped, Converged: r.Converged, Loss: jfloat(r.Loss),
		Khat: jfloat(r.Khat), KhatPerContext: jfloats(r.KhatPerContext), ESS: jfloat(r.ESS), LogZ: jfloat(r.LogZ),
		Warnings: r.Warnings, RuntimeNS: int64(r.Runtime)}
	if ir := p.init; ir != nil {
		h.Init = &viInitSpec{Rounds: ir.Rounds, Beta: jfloat(ir.Beta), ESS: jfloat(ir.ESS), ESSTarget: jfloat(ir.ESSTarget),
			Epochs: ir.Epochs, RuntimeNS: int64(ir.Runtime)}
	}
	var fb bytes.Buffer
	if err := flows.Save(&fb, p.q.Flow()); err != nil {
		return fmt.Errorf("sbi: SaveVI: q: %w", err)
	}
	var pb bytes.Buffer
	if post != nil {
		if post.model == nil {
			return fmt.Errorf("sbi: SaveVI: nil potential posterior: %w", ErrInput)
		}
		if dt, dx := post.Dims(); dt != p.Dim() || dx != c {
			return fmt.Errorf("sbi: SaveVI: potential posterior over θ of %d and x of %d for q over %d at x_o of %d: %w",
				dt, dx, p.Dim(), c, ErrInput)
		}
		if err := SaveMCMC(&pb, post); err != nil {
			return fmt.Errorf("sbi: SaveVI: potential: %w", err)
		}
		sp := specOfPrior(post.prior)
		h.Prior = &sp
	}
	h.FlowBytes, h.PotentialBytes = int64(fb.Len()), int64(pb.Len())
	js, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("sbi: SaveVI: encoding header: %w", err)
	}
	payload := make([]byte, 0, fb.Len()+8*k*c+pb.Len())
	payload = append(payload, fb.Bytes()...)
	for i := range k {
		for _, v := range p.xo.RawRowView(i) {
			payload = binary.LittleEndian.AppendUint64(payload, math.Float64bits(v))
		}
	}
	payload = append(payload, pb.Bytes()...)
	if _, err := w.Write(frame(viFileMagic, VIFileVersion, js, payload)); err != nil {
		return fmt.Errorf("sbi: SaveVI: %w", err)
	}
	return nil
}

// SaveVIFile writes p (and post, which may be nil) to the named file
// (created or truncated) with SaveVI.
func SaveVIFile(name string, p *VIPosterior, post *MCMCPosterior) error {
	return saveFile(name, "SaveVIFile", func(w io.Writer) error { return SaveVI(w, p, post) })
}

// LoadVI reads a posterior written by SaveVI. The loaded posterior draws
// the same samples as the saved one for the same rng, and its LogProb,
// LogProbBatch, Result and InitResult are bit-identical. When the file
// holds the potential, LoadVI also returns its MCMC posterior (as
// LoadMCMC would: default kernel, saved numeric settings) and the VI
// posterior's SampleResampled uses its potential at x_o; otherwise the
// MCMC posterior is nil and SampleResampled fails with vi.ErrTarget (attach
// a potential with WithPotential).
//
// Errors wrap ErrFormat for data that is not a VI posterior file (a
// DirectPosterior or MCMC posterior file is named as such), truncated or
// corrupt (checksum), ErrVersion for another format version, ErrPrior for
// a stored potential whose prior must be given (use LoadVIWithPrior), and
// the underlying read error. Memory is bounded by the file, and LoadVI
// never panics, whatever the bytes.
func LoadVI(r io.Reader) (*VIPosterior, *MCMCPosterior, error) { return loadVI(r, nil) }

// LoadVIWithPrior reads a posterior written by SaveVI, building the stored
// potential with prior instead of the file's: required when its prior is
// "custom". prior must have the file's θ dimension (ErrInput otherwise); it
// is not used when the file holds no potential.
func LoadVIWithPrior(r io.Reader, prior dist.Distribution) (*VIPosterior, *MCMCPosterior, error) {
	if prior == nil {
		return nil, nil, fmt.Errorf("sbi: LoadVIWithPrior: nil prior: %w", ErrInput)
	}
	return loadVI(r, prior)
}

// LoadVIFile reads the named file with LoadVI.
func LoadVIFile(name string) (*VIPosterior, *MCMCPosterior, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, nil, fmt.Errorf("sbi: LoadVIFile: %w", err)
	}
	defer f.Close()
	p, post, err := LoadVI(f)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	return p, post, nil
}

func loadVI(r io.Reader, prior dist.Distribution) (*VIPosterior, *MCMCPosterior, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, nil, fmt.Errorf("sbi: LoadVI: %w", err)
	}
	bad := func(format string, a ...any) error {
		return fmt.Errorf("sbi: LoadVI: "+format+": %w", append(a, ErrFormat)...)
	}
	if len(data) >= 8 {
		switch string(data[:8]) {
		case fileMagic:
			return nil, nil, bad("a DirectPosterior (NPE) file, not a VI posterior; read it with Load")
		case mcmcFileMagic:
			return nil, nil, bad("an MCMC posterior (NLE, NRE) file, not a VI posterior; read it with LoadMCMC")
		}
	}
	var h viFileHeader
	payload, err := unframe(data, "LoadVI", viFileMagic, "a gosbi VI posterior file", VIFileVersion, &h, "payload")
	if err != nil {
		return nil, nil, err
	}
	d, k, c := h.ThetaDim, h.XTrials, h.XDim
	n := int64(len(payload))
	switch {
	case d < 1 || d > maxEmbedSize || c < 1 || c > maxEmbedSize || k < 1:
		return nil, nil, bad("dimensions θ %d, x_o %d×%d", d, k, c)
	case h.FlowBytes < 0 || h.FlowBytes > n || h.PotentialBytes < 0 || h.PotentialBytes > n:
		return nil, nil, bad("sections of %d and %d bytes in a payload of %d", h.FlowBytes, h.PotentialBytes, n)
	case int64(k) > n/8/int64(c) || h.FlowBytes+8*int64(k)*int64(c)+h.PotentialBytes != n:
		return nil, nil, bad("sections (q %d bytes, x_o %d×%d, potential %d bytes) do not fill the payload of %d bytes",
			h.FlowBytes, k, c, h.PotentialBytes, n)
	}
	if prior != nil && prior.Dim() != d {
		return nil, nil, fmt.Errorf("sbi: LoadVIWithPrior: prior of dimension %d for a posterior over %d parameters: %w", prior.Dim(), d, ErrInput)
	}
	flowBytes := payload[:h.FlowBytes]
	xoBytes := payload[h.FlowBytes : n-h.PotentialBytes]
	potBytes := payload[n-h.PotentialBytes:]

	f, err := flows.Load(bytes.NewReader(flowBytes))
	if err != nil {
		if errors.Is(err, flows.ErrVersion) {
			return nil, nil, fmt.Errorf("sbi: LoadVI: q: %w: %w", err, ErrVersion)
		}
		return nil, nil, fmt.Errorf("sbi: LoadVI: q: %w: %w", err, ErrFormat)
	}
	if f.Dim() != d || f.ContextDim() != 0 {
		return nil, nil, bad("q of dimension %d with context %d, want an unconditional flow of dimension %d", f.Dim(), f.ContextDim(), d)
	}
	var bij *dist.Bijection
	if h.Bounds != nil {
		if len(h.Bounds.Lo) != d || len(h.Bounds.Hi) != d {
			return nil, nil, bad("bounds of lengths %d and %d for θ of %d", len(h.Bounds.Lo), len(h.Bounds.Hi), d)
		}
		if bij, err = dist.NewBijection(decodeBounds(h.Bounds.Lo), decodeBounds(h.Bounds.Hi)); err != nil {
			return nil, nil, bad("bounds: %v", err)
		}
	}
	xo := mat.NewDense(k, c, nil)
	raw := xo.RawMatrix().Data
	for i := range raw {
		raw[i] = math.Float64frombits(binary.LittleEndian.Uint64(xoBytes[8*i:]))
		if math.IsNaN(raw[i]) || math.IsInf(raw[i], 0) {
			return nil, nil, bad("x_o value %d is %v", i, raw[i])
		}
	}
	if h.Prior != nil {
		if h.PotentialBytes == 0 {
			return nil, nil, bad("a prior without a potential")
		}
		// The potential's file describes the prior again and builds it;
		// this checks the header's own description.
		if h.Prior.Kind != "custom" {
			if _, err := h.Prior.build(d); err != nil {
				return nil, nil, err
			}
		}
	} else if h.PotentialBytes != 0 {
		return nil, nil, bad("a potential without a prior")
	}
	res := h.Result
	if res.Iterations < 0 || res.Skipped < 0 || res.Skipped > res.Iterations || res.RuntimeNS < 0 {
		return nil, nil, bad("result: %d iterations, %d skipped, runtime %d ns", res.Iterations, res.Skipped, res.RuntimeNS)
	}
	vres := &vi.Result{Iterations: res.Iterations, Skipped: res.Skipped, Converged: res.Converged, Loss: float64(res.Loss),
		Khat: float64(res.Khat), KhatPerContext: floats(res.KhatPerContext), ESS: float64(res.ESS), LogZ: float64(res.LogZ),
		Warnings: res.Warnings, Runtime: time.Duration(res.RuntimeNS)}
	var vinit *vi.InitResult
	if ir := h.Init; ir != nil {
		if ir.Rounds < 0 || ir.Epochs < 0 || ir.RuntimeNS < 0 {
			return nil, nil, bad("init: %d rounds, %d epochs, runtime %d ns", ir.Rounds, ir.Epochs, ir.RuntimeNS)
		}
		vinit = &vi.InitResult{Rounds: ir.Rounds, Beta: float64(ir.Beta), ESS: float64(ir.ESS), ESSTarget: float64(ir.ESSTarget),
			Epochs: ir.Epochs, Runtime: time.Duration(ir.RuntimeNS)}
	}
	var (
		post *MCMCPosterior
		pot  dist.LogProber
	)
	if len(potBytes) > 0 {
		if post, err = loadMCMC(bytes.NewReader(potBytes), prior); err != nil {
			if errors.Is(err, ErrPrior) {
				return nil, nil, fmt.Errorf("sbi: LoadVI: the potential's prior must be given; use LoadVIWithPrior: %w", err)
			}
			return nil, nil, fmt.Errorf("sbi: LoadVI: potential: %w", err)
		}
		if dt, dx := post.Dims(); dt != d || dx != c {
			return nil, nil, bad("potential over θ of %d and x of %d, header says %d and %d", dt, dx, d, c)
		}
		p, err := post.Potential(xo)
		if err != nil {
			return nil, nil, bad("potential at x_o: %v", err)
		}
		pot = p
	}
	q, err := vi.NewPosterior(pot, f, bij)
	if err != nil {
		return nil, nil, bad("q: %v", err)
	}
	return &VIPosterior{q: q, res: vres, init: vinit, xo: xo}, post, nil
}

// WithPotential returns a copy of p whose importance resampling
// (SampleResampled) and PSIS diagnostics use the potential of post at p's
// observation: for a posterior loaded from a file saved without one, given
// the likelihood- or ratio-based posterior q was fitted to (for instance
// read with LoadMCMCFile). q, x_o and the fit summaries are shared with p.
// It cannot tell whether post is the posterior q was fitted to. The error
// wraps ErrInput for a nil post or one of other dimensions.
func (p *VIPosterior) WithPotential(post *MCMCPosterior) (*VIPosterior, error) {
	if post == nil || post.model == nil {
		return nil, fmt.Errorf("sbi: VIPosterior.WithPotential: nil posterior: %w", ErrInput)
	}
	_, c := p.xo.Dims()
	if dt, dx := post.Dims(); dt != p.Dim() || dx != c {
		return nil, fmt.Errorf("sbi: VIPosterior.WithPotential: posterior over θ of %d and x of %d for q over %d at x_o of %d: %w",
			dt, dx, p.Dim(), c, ErrInput)
	}
	pot, err := post.Potential(p.xo)
	if err != nil {
		return nil, err
	}
	q, err := vi.NewPosterior(pot, p.q.Flow(), p.q.Bijection())
	if err != nil {
		return nil, fmt.Errorf("sbi: VIPosterior.WithPotential: %w: %w", err, ErrInput)
	}
	return &VIPosterior{q: q, res: p.res, init: p.init, xo: p.xo}, nil
}
