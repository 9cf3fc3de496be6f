package simulators

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gosbi/gosbi/dist"
)

func TestParsePriorSpec(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		spec  string
		kind  string // the type of the prior
		names []string
		lo    []float64 // support
		hi    []float64
	}{
		{"uniform box", `{"parameters":[{"name":"beta","dist":"uniform","low":0,"high":1},{"dist":"uniform","low":-2,"high":3}]}`,
			"*dist.BoxUniform", []string{"beta", "theta_2"}, []float64{0, -2}, []float64{1, 3}},
		{"normal", `{"parameters":[{"dist":"normal","mean":1,"std":2}]}`,
			"*dist.Normal", []string{"theta_1"}, []float64{math.Inf(-1)}, []float64{math.Inf(1)}},
		{"lognormal", `{"parameters":[{"name":"g","dist":"lognormal","mu":-1,"sigma":0.5},{"name":"h","dist":"lognormal","mu":0,"sigma":1}]}`,
			"*dist.LogNormal", []string{"g", "h"}, []float64{0, 0}, []float64{math.Inf(1), math.Inf(1)}},
		{"mixed", `{"parameters":[
			{"name":"a","dist":"uniform","low":0,"high":1},
			{"name":"b","dist":"lognormal","mu":0,"sigma":1},
			{"name":"c","dist":"normal","mean":0,"std":1},
			{"name":"d","dist":"gamma","shape":2,"rate":3},
			{"name":"e","dist":"beta","alpha":2,"beta":2},
			{"name":"f","dist":"exponential","rate":1}]}`,
			"*dist.Independent", []string{"a", "b", "c", "d", "e", "f"},
			[]float64{0, 0, math.Inf(-1), 0, 0, 0}, []float64{1, math.Inf(1), math.Inf(1), math.Inf(1), 1, math.Inf(1)}},
	} {
		spec, err := ParsePriorSpec([]byte(tc.spec))
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		prior, err := spec.Prior()
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if got := fmt.Sprintf("%T", prior); got != tc.kind {
			t.Errorf("%s: prior is %s, want %s", tc.name, got, tc.kind)
		}
		if got := spec.Names(); !slices.Equal(got, tc.names) {
			t.Errorf("%s: names %v, want %v", tc.name, got, tc.names)
		}
		lo, hi := prior.(dist.Bounded).Bounds()
		if !slices.Equal(lo, tc.lo) || !slices.Equal(hi, tc.hi) {
			t.Errorf("%s: support [%v, %v], want [%v, %v]", tc.name, lo, hi, tc.lo, tc.hi)
		}
		rng := rand.New(rand.NewPCG(1, 2))
		x := make([]float64, prior.Dim())
		for range 100 {
			prior.Sample(x, rng)
			if lp := prior.LogProb(x); math.IsInf(lp, 0) || math.IsNaN(lp) {
				t.Fatalf("%s: log density %v at sample %v", tc.name, lp, x)
			}
		}
	}
}

func TestParsePriorSpecErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, spec string
		target     error
		want       string
	}{
		{"not json", `parameters: []`, ErrFormat, "not a JSON object"},
		{"trailing data", `{"parameters":[{"dist":"exponential","rate":1}]} x`, ErrFormat, "data after"},
		{"unknown top key", `{"parameters":[{"dist":"exponential","rate":1}],"seed":1}`, ErrFormat, `unknown key "seed"`},
		{"no parameters key", `{}`, ErrFormat, `missing key "parameters"`},
		{"empty", `{"parameters":[]}`, ErrInput, "no parameters"},
		{"unknown dist", `{"parameters":[{"name":"a","dist":"cauchy"}]}`, ErrFormat, `parameter 1 (a): unknown dist "cauchy"`},
		{"no dist", `{"parameters":[{"low":0,"high":1}]}`, ErrFormat, `missing "dist"`},
		{"missing field", `{"parameters":[{"dist":"uniform","low":0}]}`, ErrFormat, `dist uniform needs "high"`},
		{"foreign field", `{"parameters":[{"dist":"normal","mean":0,"std":1,"low":0}]}`, ErrFormat, `key "low" does not belong to dist normal`},
		{"typo", `{"parameters":[{"dist":"normal","mean":0,"sd":1}]}`, ErrFormat, `key "sd"`},
		{"low >= high", `{"parameters":[{"dist":"uniform","low":0,"high":1},{"name":"b","dist":"uniform","low":2,"high":2}]}`, ErrInput, "parameter 2 (b): uniform: low = 2 >= high = 2"},
		{"negative std", `{"parameters":[{"dist":"normal","mean":0,"std":-1}]}`, ErrInput, "std = -1, want positive"},
		{"zero rate", `{"parameters":[{"dist":"exponential","rate":0}]}`, ErrInput, "rate = 0"},
		{"tiny std", `{"parameters":[{"dist":"normal","mean":0,"std":1e-200}]}`, ErrInput, "under- or overflows"},
		{"overflow", `{"parameters":[{"dist":"normal","mean":1e999,"std":1}]}`, ErrFormat, `"mean" is not a number`},
		{"string number", `{"parameters":[{"dist":"normal","mean":"0","std":1}]}`, ErrFormat, `"mean" is not a number`},
		{"duplicate names", `{"parameters":[{"name":"a","dist":"exponential","rate":1},{"name":"a","dist":"exponential","rate":1}]}`, ErrInput, "name also used by parameter 1"},
		{"empty name", `{"parameters":[{"name":" ","dist":"exponential","rate":1}]}`, ErrInput, "empty name"},
		{"null parameter", `{"parameters":[null]}`, ErrFormat, "null"},
	} {
		_, err := ParsePriorSpec([]byte(tc.spec))
		if !errors.Is(err, tc.target) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %v containing %q", tc.name, err, tc.target, tc.want)
		}
	}
}

func TestPriorSpecHash(t *testing.T) {
	t.Parallel()
	a, err := ParsePriorSpec([]byte(`{"parameters":[{"name":"b","dist":"uniform","low":0,"high":1}]}`))
	if err != nil {
		t.Fatal(err)
	}
	b, err := ParsePriorSpec([]byte("{\n  \"parameters\": [\n    {\"high\": 1.0, \"low\": 0, \"dist\": \"uniform\", \"name\": \"b\"}\n  ]\n}\n"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParsePriorSpec([]byte(`{"parameters":[{"name":"b","dist":"uniform","low":0,"high":2}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if a.Hash() != b.Hash() {
		t.Errorf("layout changes the hash: %s vs %s", a.Canonical(), b.Canonical())
	}
	if a.Hash() == c.Hash() {
		t.Error("a different bound gives the same hash")
	}
	if got, want := string(a.Canonical()), `{"parameters":[{"name":"b","dist":"uniform","low":0,"high":1}]}`; got != want {
		t.Errorf("canonical form %s, want %s", got, want)
	}
	path := filepath.Join(t.TempDir(), "p.json")
	if err := os.WriteFile(path, b.Canonical(), 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := ReadPriorSpec(path)
	if err != nil || d.Hash() != a.Hash() {
		t.Errorf("ReadPriorSpec: %v, hash %s; want %s", err, d.Hash(), a.Hash())
	}
	if _, err := ReadPriorSpec(filepath.Join(t.TempDir(), "missing.json")); err == nil {
		t.Error("ReadPriorSpec of a missing file: no error")
	}
}
