package sbi

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"time"

	"github.com/gosbi/gosbi/dist"
	"github.com/gosbi/gosbi/flows"
	"github.com/gosbi/gosbi/nn"
	"gonum.org/v1/gonum/mat"
)

// File format of a saved DirectPosterior (version 1). Integers are
// little-endian.
//
//	offset  size  content
//	0       8     magic "GOSBIPST"
//	8       4     format version, uint32 (FileVersion)
//	12      4     header length H, uint32, at most 1 MiB
//	16      H     header: UTF-8 JSON, see below
//	16+H    8     flow length F, uint64
//	24+H    F     the flow in flows.Save's format (architecture, z-scoring of θ
//	              and x, embedding weights, flow weights)
//	24+H+F  4     CRC-32 (Castagnoli) of all preceding bytes
//
// The header is
//
//	{"theta_dim": D, "x_dim": C,
//	 "prior": {"kind": "box", "lo": […], "hi": […]}
//	        | {"kind": "normal", "mean": […], "cov": [row-major D×D]}
//	        | {"kind": "lognormal", "mu": […], "sigma": […]}
//	        | {"kind": "custom", "lo": […], "hi": […]},
//	 "embedding": null | {"kind": "mlp" | "deepsets", …},
//	 "settings": {PosteriorSettings fields}}
//
// A "custom" prior (any prior other than dist.BoxUniform, dist.Normal and
// dist.LogNormal) records only its support box; load such a file with
// LoadWithPrior. A LogNormal prior is reconstructed from its mean and
// standard deviation, exact to rounding. The embedding description holds
// its configuration and fitted statistics; its weights are in the flow.
const (
	fileMagic = "GOSBIPST"
	// FileVersion is the version of the posterior file format written by Save.
	FileVersion  = 1
	maxHeaderLen = 1 << 20
	// maxFileBatchSize bounds PosteriorSettings.BatchSize read from a file
	// (100 times the default): sampling allocates a batch of draws at once,
	// so a hostile file could otherwise ask for terabytes.
	maxFileBatchSize = 1 << 20
)

// embeddingWeights returns the number of weights and biases of the
// described embedding (widths are bounded by check, so this cannot
// overflow).
func embeddingWeights(sp *embeddingSpec) int64 {
	mlp := func(w []int) int64 {
		var n int64
		for i := 1; i < len(w); i++ {
			n += int64(w[i-1])*int64(w[i]) + int64(w[i])
		}
		return n
	}
	if sp.Kind == "deepsets" {
		return mlp(widths(sp.TrialDim, sp.Hidden, sp.Layers, sp.TrialOut)) + mlp(widths(sp.TrialOut, sp.Hidden, sp.Layers, sp.Out))
	}
	return mlp(widths(sp.In, sp.Hidden, sp.Layers, sp.Out))
}

type priorSpec struct {
	Kind  string    `json:"kind"`
	Lo    []float64 `json:"lo,omitempty"`
	Hi    []float64 `json:"hi,omitempty"`
	Mean  []float64 `json:"mean,omitempty"`
	Cov   []float64 `json:"cov,omitempty"`
	Mu    []float64 `json:"mu,omitempty"`
	Sigma []float64 `json:"sigma,omitempty"`
}

type settingsSpec struct {
	MaxDraws            int    `json:"max_draws"`
	MaxTimeNS           int64  `json:"max_time_ns"`
	AllowPartial        bool   `json:"allow_partial"`
	BatchSize           int    `json:"batch_size"`
	AcceptanceDraws     int    `json:"acceptance_draws"`
	Seed                uint64 `json:"seed"`
	NoLeakageCorrection bool   `json:"no_leakage_correction"`
}

type fileHeader struct {
	ThetaDim  int            `json:"theta_dim"`
	XDim      int            `json:"x_dim"`
	Prior     priorSpec      `json:"prior"`
	Embedding *embeddingSpec `json:"embedding"`
	Settings  settingsSpec   `json:"settings"`
}

// encodeBounds replaces infinite bounds by ±math.MaxFloat64, since JSON
// numbers cannot be infinite; decodeBounds undoes it.
func encodeBounds(v []float64) []float64 {
	out := make([]float64, len(v))
	for i, f := range v {
		switch {
		case math.IsInf(f, 1):
			out[i] = math.MaxFloat64
		case math.IsInf(f, -1):
			out[i] = -math.MaxFloat64
		default:
			out[i] = f
		}
	}
	return out
}

func decodeBounds(v []float64) []float64 {
	out := make([]float64, len(v))
	for i, f := range v {
		switch f {
		case math.MaxFloat64:
			out[i] = math.Inf(1)
		case -math.MaxFloat64:
			out[i] = math.Inf(-1)
		default:
			out[i] = f
		}
	}
	return out
}

func specOfPrior(p dist.Distribution) priorSpec {
	switch q := p.(type) {
	case *dist.BoxUniform:
		lo, hi := q.Bounds()
		return priorSpec{Kind: "box", Lo: append([]float64(nil), lo...), Hi: append([]float64(nil), hi...)}
	case *dist.Normal:
		cov := q.CovarianceMatrix(nil)
		d := q.Dim()
		flat := make([]float64, 0, d*d)
		for i := range d {
			for j := range d {
				flat = append(flat, cov.At(i, j))
			}
		}
		return priorSpec{Kind: "normal", Mean: q.Mean(nil), Cov: flat}
	case *dist.LogNormal:
		m, s := q.Mean(nil), q.Std(nil)
		mu, sigma := make([]float64, len(m)), make([]float64, len(m))
		for i := range m {
			// Mean = exp(μ + σ²/2), Var = (exp(σ²) - 1)·Mean², so
			// σ² = log1p(Var/Mean²) and μ = log Mean - σ²/2.
			r := s[i] / m[i]
			s2 := math.Log1p(r * r)
			sigma[i] = math.Sqrt(s2)
			mu[i] = math.Log(m[i]) - s2/2
		}
		return priorSpec{Kind: "lognormal", Mu: mu, Sigma: sigma}
	}
	sp := priorSpec{Kind: "custom"}
	if b, ok := p.(dist.Bounded); ok {
		lo, hi := b.Bounds()
		sp.Lo, sp.Hi = encodeBounds(lo), encodeBounds(hi)
	}
	return sp
}

func (sp priorSpec) build(d int) (dist.Distribution, error) {
	var (
		p   dist.Distribution
		err error
	)
	switch sp.Kind {
	case "box":
		p, err = dist.NewBoxUniform(sp.Lo, sp.Hi)
	case "normal":
		if len(sp.Cov) != len(sp.Mean)*len(sp.Mean) || len(sp.Mean) == 0 {
			return nil, fmt.Errorf("sbi: normal prior with %d means and %d covariance entries: %w", len(sp.Mean), len(sp.Cov), ErrFormat)
		}
		p, err = dist.NewNormal(sp.Mean, mat.NewSymDense(len(sp.Mean), sp.Cov))
	case "lognormal":
		p, err = dist.NewLogNormal(sp.Mu, sp.Sigma)
	case "custom":
		return nil, fmt.Errorf("sbi: the file's prior was not one Save can describe; load it with LoadWithPrior: %w", ErrPrior)
	default:
		return nil, fmt.Errorf("sbi: unknown prior kind %q: %w", sp.Kind, ErrFormat)
	}
	if err != nil {
		return nil, fmt.Errorf("sbi: prior in file: %w: %w", err, ErrFormat)
	}
	if p.Dim() != d {
		return nil, fmt.Errorf("sbi: prior of dimension %d for θ of %d: %w", p.Dim(), d, ErrFormat)
	}
	return p, nil
}

// Save writes p (prior, z-scoring, embedding, flow and settings) to w in the
// versioned format above. A prior other than dist.BoxUniform, dist.Normal
// and dist.LogNormal is stored by its support only (see LoadWithPrior).
// The error wraps ErrInput for a posterior whose flow has an embedding Save
// cannot describe (a custom nn.Module given to NewDirectPosterior), or is a
// write error.
func Save(w io.Writer, p *DirectPosterior) error {
	if p == nil {
		return fmt.Errorf("sbi: Save: nil posterior: %w", ErrInput)
	}
	if p.spec == nil && p.flow.Embedding() != nil {
		switch p.flow.Embedding().(type) {
		case *nn.MLP, *nn.Linear, *nn.Residual:
		default:
			return fmt.Errorf("sbi: Save: the flow's embedding %T is not describable; build posteriors with NPE and NPEConfig.Embedding: %w",
				p.flow.Embedding(), ErrInput)
		}
	}
	s := p.s
	h := fileHeader{
		ThetaDim: p.flow.Dim(), XDim: p.flow.ContextDim(), Prior: specOfPrior(p.prior), Embedding: p.spec,
		Settings: settingsSpec{MaxDraws: s.MaxDraws, MaxTimeNS: int64(s.MaxTime), AllowPartial: s.AllowPartial,
			BatchSize: s.BatchSize, AcceptanceDraws: s.AcceptanceDraws, Seed: s.Seed, NoLeakageCorrection: s.NoLeakageCorrection},
	}
	js, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("sbi: Save: encoding header: %w", err)
	}
	var fb bytes.Buffer
	if err := flows.Save(&fb, p.flow); err != nil {
		return fmt.Errorf("sbi: Save: %w", err)
	}
	if _, err := w.Write(frame(fileMagic, FileVersion, js, fb.Bytes())); err != nil {
		return fmt.Errorf("sbi: Save: %w", err)
	}
	return nil
}

// frame lays out a posterior file: the 8-byte magic, the uint32 version,
// the uint32 length of the JSON header and the header, the uint64 length of
// the payload and the payload, then the CRC-32C (Castagnoli) of everything
// before it, all little-endian.
func frame(magic string, version uint32, header, payload []byte) []byte {
	buf := make([]byte, 0, len(magic)+4+4+len(header)+8+len(payload)+4)
	buf = append(buf, magic...)
	buf = binary.LittleEndian.AppendUint32(buf, version)
	buf = binary.LittleEndian.AppendUint32(buf, uint32(len(header)))
	buf = append(buf, header...)
	buf = binary.LittleEndian.AppendUint64(buf, uint64(len(payload)))
	buf = append(buf, payload...)
	return binary.LittleEndian.AppendUint32(buf, crc32.Checksum(buf, crc32.MakeTable(crc32.Castagnoli)))
}

// unframe checks the framing that frame writes (magic, version, checksum,
// lengths), decodes the JSON header into header (unknown fields rejected)
// and returns the payload. what names the caller in errors, kind the file
// kind the magic stands for, and part the payload. Errors wrap ErrFormat, or
// ErrVersion for another format version.
func unframe(data []byte, what, magic, kind string, version uint32, header any, part string) ([]byte, error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("sbi: "+what+": "+format+": %w", append(a, ErrFormat)...)
	}
	if len(data) < 16 || string(data[:8]) != magic {
		return nil, bad("not %s", kind)
	}
	if v := binary.LittleEndian.Uint32(data[8:]); v != version {
		return nil, fmt.Errorf("sbi: %s: file format version %d, this build reads version %d: %w", what, v, version, ErrVersion)
	}
	if len(data) < 16+4 {
		return nil, bad("truncated file")
	}
	body := data[:len(data)-4]
	if crc32.Checksum(body, crc32.MakeTable(crc32.Castagnoli)) != binary.LittleEndian.Uint32(data[len(data)-4:]) {
		return nil, bad("checksum mismatch (corrupt or truncated file)")
	}
	hl := int64(binary.LittleEndian.Uint32(body[12:]))
	if hl > maxHeaderLen || 16+hl+8 > int64(len(body)) {
		return nil, bad("header length %d does not fit the file", hl)
	}
	dec := json.NewDecoder(bytes.NewReader(body[16 : 16+hl]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(header); err != nil {
		return nil, bad("header: %v", err)
	}
	pl := binary.LittleEndian.Uint64(body[16+hl:])
	if pl != uint64(int64(len(body))-16-hl-8) {
		return nil, bad("%s length %d does not match the file", part, pl)
	}
	return body[16+hl+8:], nil
}

// saveFile creates (or truncates) the named file and writes it with save;
// what names the caller in errors.
func saveFile(name, what string, save func(io.Writer) error) (err error) {
	f, err := os.Create(name)
	if err != nil {
		return fmt.Errorf("sbi: %s: %w", what, err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("sbi: %s: %w", what, cerr)
		}
	}()
	return save(f)
}

// SaveFile writes p to the named file (created or truncated) with Save.
func SaveFile(name string, p *DirectPosterior) error {
	return saveFile(name, "SaveFile", func(w io.Writer) error { return Save(w, p) })
}

// Load reads a posterior written by Save. Memory is bounded by the file:
// an embedding described with more weights than the file stores, or a
// sampling batch size above 2^20, is rejected as ErrFormat before anything
// of that size is allocated. Errors wrap ErrFormat for data
// that is not a posterior file, truncated or corrupt (checksum), ErrVersion
// for another format version, ErrPrior for a file whose prior must be given
// (use LoadWithPrior), and the underlying read error. Load never panics,
// whatever the bytes.
func Load(r io.Reader) (*DirectPosterior, error) { return load(r, nil) }

// LoadWithPrior reads a posterior written by Save, using prior instead of
// the one described in the file: required when the file's prior is
// "custom". prior must have the file's θ dimension (ErrInput otherwise).
func LoadWithPrior(r io.Reader, prior dist.Distribution) (*DirectPosterior, error) {
	if prior == nil {
		return nil, fmt.Errorf("sbi: LoadWithPrior: nil prior: %w", ErrInput)
	}
	return load(r, prior)
}

// LoadFile reads the named file with Load.
func LoadFile(name string) (*DirectPosterior, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("sbi: LoadFile: %w", err)
	}
	defer f.Close()
	p, err := Load(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return p, nil
}

func load(r io.Reader, prior dist.Distribution) (*DirectPosterior, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("sbi: Load: %w", err)
	}
	bad := func(format string, a ...any) error {
		return fmt.Errorf("sbi: Load: "+format+": %w", append(a, ErrFormat)...)
	}
	var h fileHeader
	flowBytes, err := unframe(data, "Load", fileMagic, "a gosbi posterior file", FileVersion, &h, "flow")
	if err != nil {
		return nil, err
	}
	if h.ThetaDim < 1 || h.XDim < 1 {
		return nil, bad("dimensions θ %d, x %d", h.ThetaDim, h.XDim)
	}
	if prior == nil {
		if prior, err = h.Prior.build(h.ThetaDim); err != nil {
			return nil, err
		}
	} else if prior.Dim() != h.ThetaDim {
		return nil, fmt.Errorf("sbi: LoadWithPrior: prior of dimension %d for a posterior over %d parameters: %w", prior.Dim(), h.ThetaDim, ErrInput)
	}
	var f *flows.Flow
	if h.Embedding != nil {
		if err := h.Embedding.check(); err != nil {
			return nil, bad("embedding: %v", err)
		}
		if h.Embedding.In != h.XDim {
			return nil, bad("embedding for %d inputs, x has %d", h.Embedding.In, h.XDim)
		}
		// Its weights are stored in the flow, 8 bytes each: a description
		// asking for more cannot be genuine, and building it first would
		// allocate whatever a hostile header asks for.
		if n := embeddingWeights(h.Embedding); n > int64(len(flowBytes))/8 {
			return nil, bad("embedding of %d weights in a flow of %d bytes", n, len(flowBytes))
		}
		// (merr, not err: a shadowed err lost the flow's load error, and a
		// corrupt flow behind an embedding crashed Load; FuzzLoad found it.)
		m, merr := h.Embedding.module(rand.New(rand.NewPCG(0, 0)))
		if merr != nil {
			return nil, bad("embedding: %v", merr)
		}
		f, err = flows.LoadWithEmbedding(bytes.NewReader(flowBytes), m)
	} else {
		f, err = flows.Load(bytes.NewReader(flowBytes))
	}
	if err != nil {
		if errors.Is(err, flows.ErrVersion) {
			return nil, fmt.Errorf("sbi: Load: %w: %w", err, ErrVersion)
		}
		return nil, fmt.Errorf("sbi: Load: %w: %w", err, ErrFormat)
	}
	if f.Dim() != h.ThetaDim || f.ContextDim() != h.XDim {
		return nil, bad("flow of dimension %d with context %d, header says %d and %d", f.Dim(), f.ContextDim(), h.ThetaDim, h.XDim)
	}
	s := h.Settings
	if s.BatchSize > maxFileBatchSize {
		return nil, bad("batch size %d above %d", s.BatchSize, maxFileBatchSize)
	}
	p, err := NewDirectPosterior(f, prior, &PosteriorSettings{MaxDraws: s.MaxDraws, MaxTime: time.Duration(s.MaxTimeNS),
		AllowPartial: s.AllowPartial, BatchSize: s.BatchSize, AcceptanceDraws: s.AcceptanceDraws, Seed: s.Seed,
		NoLeakageCorrection: s.NoLeakageCorrection})
	if err != nil {
		return nil, bad("settings: %v", err)
	}
	p.spec = h.Embedding
	return p, nil
}
