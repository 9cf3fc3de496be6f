package gosbi

import (
	"bufio"
	"bytes"
	"os/exec"
	"sort"
	"strings"
	"testing"
)

const module = "github.com/gosbi/gosbi"

// allowed lists, for every library package, the project packages it may depend
// on (directly or not). It mirrors the layering table of the style guide:
// dist and nn at the bottom, flows on both, vi and sbi above, mcmc, simulators
// and diagnostics on dist (diagnostics also on nn), plots on nothing of ours.
// Packages under internal/ are helpers and are not listed as dependencies;
// programs (cmd/..., examples/...) may import anything.
var allowed = map[string][]string{
	"":            {},
	"dist":        {},
	"nn":          {},
	"flows":       {"nn", "dist"},
	"simulators":  {"dist"},
	"mcmc":        {"dist"},
	"vi":          {"nn", "flows", "dist"},
	"sbi":         {"dist", "nn", "flows", "simulators", "mcmc", "vi"},
	"diagnostics": {"dist", "nn"},
	"plots":       {},
}

// top returns the top-level project package that rel ("flows/internal/x",
// "simulators/ode") belongs to.
func top(rel string) string {
	if i := strings.IndexByte(rel, '/'); i >= 0 {
		return rel[:i]
	}
	return rel
}

func TestLayering(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go command not found; cannot list package dependencies")
	}
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}}|{{join .Deps \" \"}}", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	checked := 0
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		path, deps, _ := strings.Cut(sc.Text(), "|")
		rel := strings.TrimPrefix(strings.TrimPrefix(path, module), "/")
		pkg := top(rel)
		if pkg == "cmd" || pkg == "examples" || pkg == "internal" {
			continue
		}
		ok, known := allowed[pkg]
		if !known {
			t.Errorf("package %s is not in the layering table; add it to allowed in layering_test.go and STYLE.md", path)
			continue
		}
		checked++
		var bad []string
		for _, d := range strings.Fields(deps) {
			if !strings.HasPrefix(d, module+"/") {
				continue
			}
			dep := top(strings.TrimPrefix(d, module+"/"))
			if dep == pkg || dep == "internal" {
				continue
			}
			permitted := false
			for _, a := range ok {
				if a == dep {
					permitted = true
				}
			}
			if !permitted {
				bad = append(bad, d)
			}
		}
		if len(bad) > 0 {
			sort.Strings(bad)
			t.Errorf("%s depends on %s; the layering allows only %v", path, strings.Join(bad, ", "), ok)
		}
	}
	if checked == 0 {
		t.Fatal("no packages checked")
	}
}

func TestTopLevel(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""}, {"nn", "nn"}, {"simulators/ode", "simulators"}, {"flows/internal/x", "flows"},
	}
	for _, tt := range tests {
		if got := top(tt.in); got != tt.want {
			t.Errorf("top(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
