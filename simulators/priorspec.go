package simulators

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/gosbi/gosbi/dist"
	"gonum.org/v1/gonum/stat/distuv"
)

// maxPriorSpecSize bounds the size of a prior specification file.
const maxPriorSpecSize = 16 << 20

// priorFields lists, per distribution, its fields in canonical order.
var priorFields = map[string][]string{
	"uniform":     {"low", "high"},
	"normal":      {"mean", "std"},
	"lognormal":   {"mu", "sigma"},
	"gamma":       {"shape", "rate"},
	"beta":        {"alpha", "beta"},
	"exponential": {"rate"},
}

// PriorSpec is a prior written as JSON, for simulators that are not Go
// code (`gosbi simulate -command ... -prior FILE`): a product of
// independent one-dimensional distributions, one per parameter, in order:
//
//	{"parameters": [
//	  {"name": "beta",  "dist": "uniform",   "low": 0, "high": 1},
//	  {"name": "gamma", "dist": "lognormal", "mu": -1, "sigma": 0.5},
//	  {"name": "delta", "dist": "normal",    "mean": 0, "std": 2}
//	]}
//
// The distributions and their fields (all required, finite numbers):
//
//	uniform      low, high      U(low, high), low < high
//	normal       mean, std      N(mean, std²), std > 0
//	lognormal    mu, sigma      log θ ~ N(mu, sigma²), sigma > 0
//	gamma        shape, rate    density ∝ θ^(shape−1) e^(−rate·θ), both > 0
//	beta         alpha, beta    density ∝ θ^(alpha−1) (1−θ)^(beta−1), both > 0
//	exponential  rate           density rate·e^(−rate·θ), rate > 0
//
// "name" is optional (default theta_1, theta_2, …) and names must be
// distinct. Parsing is strict: an unknown distribution, a missing field, a
// field that does not belong to the distribution, any other key, and a bad
// value are errors naming the parameter.
type PriorSpec struct {
	// Parameters lists the parameters in order.
	Parameters []PriorParam `json:"parameters"`
}

// PriorParam is one parameter of a PriorSpec: its name, its distribution
// and the distribution's fields (see PriorSpec).
type PriorParam struct {
	Name   string             `json:"name,omitempty"`
	Dist   string             `json:"dist"`
	Fields map[string]float64 `json:"-"`
}

// MarshalJSON writes the parameter with its fields in canonical order.
func (p PriorParam) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	if p.Name != "" {
		n, _ := json.Marshal(p.Name)
		fmt.Fprintf(&b, `"name":%s,`, n)
	}
	d, _ := json.Marshal(p.Dist)
	fmt.Fprintf(&b, `"dist":%s`, d)
	for _, f := range priorFields[p.Dist] {
		v, ok := p.Fields[f]
		if !ok {
			continue
		}
		js, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(&b, `,%q:%s`, f, js)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// ReadPriorSpec reads and parses the prior specification file name; see
// ParsePriorSpec.
func ReadPriorSpec(name string) (*PriorSpec, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("simulators: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxPriorSpecSize+1))
	if err != nil {
		return nil, fmt.Errorf("simulators: %s: %w", name, err)
	}
	if len(b) > maxPriorSpecSize {
		return nil, fmt.Errorf("simulators: %s: larger than %d bytes: %w", name, maxPriorSpecSize, ErrFormat)
	}
	spec, err := ParsePriorSpec(b)
	if err != nil {
		return nil, fmt.Errorf("simulators: prior spec %s: %w", name, err)
	}
	return spec, nil
}

// ParsePriorSpec parses and validates a prior specification (see
// PriorSpec). It returns an error wrapping ErrFormat for malformed JSON or
// keys, and ErrInput for invalid values (non-finite numbers, low >= high,
// non-positive scales, duplicate names, no parameters).
func ParsePriorSpec(data []byte) (*PriorSpec, error) {
	var top map[string]json.RawMessage
	if err := strictDecode(data, &top); err != nil {
		return nil, fmt.Errorf("not a JSON object: %v: %w", err, ErrFormat)
	}
	for k := range top {
		if k != "parameters" {
			return nil, fmt.Errorf("unknown key %q (want only \"parameters\"): %w", k, ErrFormat)
		}
	}
	raw, ok := top["parameters"]
	if !ok {
		return nil, fmt.Errorf("missing key \"parameters\": %w", ErrFormat)
	}
	var params []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &params); err != nil {
		return nil, fmt.Errorf("\"parameters\" is not an array of objects: %v: %w", err, ErrFormat)
	}
	if len(params) == 0 {
		return nil, fmt.Errorf("no parameters: %w", ErrInput)
	}
	if len(params) > maxStoreDim {
		return nil, fmt.Errorf("%d parameters, at most %d: %w", len(params), maxStoreDim, ErrInput)
	}
	spec := &PriorSpec{Parameters: make([]PriorParam, len(params))}
	names := map[string]int{}
	for i, m := range params {
		p, err := parsePriorParam(m)
		where := fmt.Sprintf("parameter %d", i+1)
		if p.Name != "" {
			where += fmt.Sprintf(" (%s)", p.Name)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		if p.Name != "" {
			if j, dup := names[p.Name]; dup {
				return nil, fmt.Errorf("%s: name also used by parameter %d: %w", where, j+1, ErrInput)
			}
			names[p.Name] = i
		}
		spec.Parameters[i] = p
	}
	// The distributions check more than the fields (e.g. over- and
	// underflow): a spec that parses always builds.
	if _, err := spec.Prior(); err != nil {
		return nil, err
	}
	return spec, nil
}

// strictDecode decodes exactly one JSON value from data into v.
func strictDecode(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("data after the JSON value")
	}
	return nil
}

func parsePriorParam(m map[string]json.RawMessage) (PriorParam, error) {
	var p PriorParam
	if m == nil {
		return p, fmt.Errorf("null instead of an object: %w", ErrFormat)
	}
	if raw, ok := m["name"]; ok {
		if err := json.Unmarshal(raw, &p.Name); err != nil {
			return p, fmt.Errorf("\"name\" is not a string: %w", ErrFormat)
		}
		if strings.TrimSpace(p.Name) == "" {
			return p, fmt.Errorf("empty name: %w", ErrInput)
		}
	}
	raw, ok := m["dist"]
	if !ok {
		return p, fmt.Errorf("missing \"dist\" (one of %s): %w", distNames(), ErrFormat)
	}
	if err := json.Unmarshal(raw, &p.Dist); err != nil {
		return p, fmt.Errorf("\"dist\" is not a string: %w", ErrFormat)
	}
	fields, known := priorFields[p.Dist]
	if !known {
		return p, fmt.Errorf("unknown dist %q (want one of %s): %w", p.Dist, distNames(), ErrFormat)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if k != "name" && k != "dist" && !slices.Contains(fields, k) {
			return p, fmt.Errorf("key %q does not belong to dist %s (fields: %s): %w", k, p.Dist, strings.Join(fields, ", "), ErrFormat)
		}
	}
	p.Fields = make(map[string]float64, len(fields))
	for _, f := range fields {
		raw, ok := m[f]
		if !ok {
			return p, fmt.Errorf("dist %s needs %q: %w", p.Dist, f, ErrFormat)
		}
		var v float64
		if err := json.Unmarshal(raw, &v); err != nil {
			return p, fmt.Errorf("%q is not a number: %w", f, ErrFormat)
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return p, fmt.Errorf("%q = %v, want a finite number: %w", f, v, ErrInput)
		}
		p.Fields[f] = v
	}
	if err := p.check(); err != nil {
		return p, err
	}
	return p, nil
}

// check validates the values of the fields.
func (p *PriorParam) check() error {
	f := p.Fields
	switch p.Dist {
	case "uniform":
		if !(f["low"] < f["high"]) {
			return fmt.Errorf("uniform: low = %v >= high = %v: %w", f["low"], f["high"], ErrInput)
		}
		return nil
	case "normal":
		if v := f["std"] * f["std"]; v == 0 || math.IsInf(v, 0) {
			return fmt.Errorf("normal: std = %v: its square under- or overflows: %w", f["std"], ErrInput)
		}
	}
	for _, k := range priorFields[p.Dist] {
		if k == "mean" || k == "mu" {
			continue
		}
		if !(f[k] > 0) {
			return fmt.Errorf("%s: %s = %v, want positive: %w", p.Dist, k, f[k], ErrInput)
		}
	}
	return nil
}

func distNames() string {
	names := make([]string, 0, len(priorFields))
	for k := range priorFields {
		names = append(names, k)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// Dim returns the number of parameters.
func (s *PriorSpec) Dim() int { return len(s.Parameters) }

// Names returns the parameter names, theta_i for those without one.
func (s *PriorSpec) Names() []string {
	names := make([]string, len(s.Parameters))
	for i, p := range s.Parameters {
		names[i] = p.Name
		if names[i] == "" {
			names[i] = fmt.Sprintf("theta_%d", i+1)
		}
	}
	return names
}

// Canonical returns the specification as compact JSON with keys in a fixed
// order: two files that parse to the same specification have the same
// canonical form, whatever their layout.
func (s *PriorSpec) Canonical() []byte {
	b, err := json.Marshal(s)
	if err != nil {
		panic("simulators: PriorSpec.Canonical: " + err.Error()) // finite floats and strings cannot fail
	}
	return b
}

// Hash returns the hex SHA-256 of the canonical form, as stored in the
// StoreHeader of a run.
func (s *PriorSpec) Hash() string {
	sum := sha256.Sum256(s.Canonical())
	return hex.EncodeToString(sum[:])
}

// Prior returns the prior the specification describes: a dist.BoxUniform
// when every parameter is uniform, a diagonal dist.Normal when every one is
// normal, a dist.LogNormal when every one is log-normal, and a
// dist.Independent of distuv components otherwise. Which one is chosen
// fixes how θ is sampled, so a given specification always draws the same
// values for a given seed.
func (s *PriorSpec) Prior() (dist.Distribution, error) {
	d := len(s.Parameters)
	if d == 0 {
		return nil, fmt.Errorf("simulators: prior spec: no parameters: %w", ErrInput)
	}
	same := true
	for _, p := range s.Parameters {
		same = same && p.Dist == s.Parameters[0].Dist
	}
	col := func(k string) []float64 {
		v := make([]float64, d)
		for i, p := range s.Parameters {
			v[i] = p.Fields[k]
		}
		return v
	}
	var prior dist.Distribution
	var err error
	switch {
	case same && s.Parameters[0].Dist == "uniform":
		prior, err = dist.NewBoxUniform(col("low"), col("high"))
	case same && s.Parameters[0].Dist == "normal":
		prior, err = dist.NewDiagNormal(col("mean"), col("std"))
	case same && s.Parameters[0].Dist == "lognormal":
		prior, err = dist.NewLogNormal(col("mu"), col("sigma"))
	default:
		comps := make([]dist.Univariate, d)
		for i, p := range s.Parameters {
			f := p.Fields
			switch p.Dist {
			case "uniform":
				comps[i] = distuv.Uniform{Min: f["low"], Max: f["high"]}
			case "normal":
				comps[i] = distuv.Normal{Mu: f["mean"], Sigma: f["std"]}
			case "lognormal":
				comps[i] = distuv.LogNormal{Mu: f["mu"], Sigma: f["sigma"]}
			case "gamma":
				comps[i] = distuv.Gamma{Alpha: f["shape"], Beta: f["rate"]}
			case "beta":
				comps[i] = distuv.Beta{Alpha: f["alpha"], Beta: f["beta"]}
			case "exponential":
				comps[i] = distuv.Exponential{Rate: f["rate"]}
			default:
				return nil, fmt.Errorf("simulators: prior spec: parameter %d: unknown dist %q: %w", i+1, p.Dist, ErrInput)
			}
		}
		prior, err = dist.NewIndependent(comps...)
	}
	if err != nil {
		return nil, fmt.Errorf("simulators: prior spec: %w: %w", err, ErrInput)
	}
	return prior, nil
}
