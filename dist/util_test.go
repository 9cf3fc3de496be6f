package dist

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"gonum.org/v1/gonum/integrate/quad"
)

// newRNG returns a PCG-seeded generator so that every test is reproducible.
func newRNG(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x5eed)) }

// glNodes is the Gauss-Legendre order per panel in integrate: exact for
// polynomials of degree 2·20-1 = 39 on each panel.
const glNodes = 20

// integrateEdges integrates f over the consecutive panels [edges[k],
// edges[k+1]] with glNodes-point Gauss-Legendre rules.
func integrateEdges(f func(float64) float64, edges []float64) float64 {
	s := 0.0
	for k := 0; k+1 < len(edges); k++ {
		if edges[k+1] > edges[k] {
			s += quad.Fixed(f, edges[k], edges[k+1], glNodes, quad.Legendre{}, 0)
		}
	}
	return s
}

// linspace returns n+1 equally spaced edges from a to b.
func linspace(a, b float64, n int) []float64 {
	e := make([]float64, n+1)
	for i := range e {
		e[i] = a + (b-a)*float64(i)/float64(n)
	}
	e[n] = b
	return e
}

// closeTo reports whether got is within tol·max(1, |want|) of want.
func closeTo(got, want, tol float64) bool {
	return math.Abs(got-want) <= tol*math.Max(1, math.Abs(want))
}

// mustPanic fails the test unless f panics with a message starting "dist: ".
func mustPanic(t *testing.T, name string, f func()) {
	t.Helper()
	defer func() {
		t.Helper()
		r := recover()
		if r == nil {
			t.Errorf("%s: did not panic", name)
			return
		}
		if s, ok := r.(string); !ok || !strings.HasPrefix(s, "dist: ") {
			t.Errorf("%s: panic value %v, want a string starting %q", name, r, "dist: ")
		}
	}()
	f()
}

// centralDiff returns the central finite difference of f at x along
// dimension i with step h.
func centralDiff(f func([]float64) float64, x []float64, i int, h float64) float64 {
	y := append([]float64(nil), x...)
	y[i] = x[i] + h
	fp := f(y)
	y[i] = x[i] - h
	fm := f(y)
	return (fp - fm) / (2 * h)
}
