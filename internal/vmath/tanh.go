package vmath

import (
	"fmt"
	"math"
	"sync/atomic"
)

// impl is one implementation of the slice kernels. Every function gets
// slices of equal, positive length.
type impl struct {
	name        string
	tanh        func(dst, x []float64)
	addTanhGrad func(dst, g, y []float64)
	tanhGrad    func(dst, g, y []float64)
	exp         func(dst, x []float64)
	log1p       func(dst, x []float64)
	softplus    func(dst, x []float64)
	sigmoid     func(dst, x []float64)
	adam        func(x, g, m, v []float64, c *AdamConsts)
}

// generic is the portable implementation: the math package element by
// element.
var generic = &impl{
	name: "generic",
	tanh: func(dst, x []float64) {
		dst = dst[:len(x)]
		for i, v := range x {
			dst[i] = math.Tanh(v)
		}
	},
	addTanhGrad: func(dst, g, y []float64) {
		g, y = g[:len(dst)], y[:len(dst)]
		for i, v := range g {
			dst[i] += v * (1 - y[i]*y[i])
		}
	},
	tanhGrad: func(dst, g, y []float64) {
		g, y = g[:len(dst)], y[:len(dst)]
		for i, v := range g {
			dst[i] = v * (1 - y[i]*y[i])
		}
	},
	exp: func(dst, x []float64) {
		dst = dst[:len(x)]
		for i, v := range x {
			dst[i] = expGo(v)
		}
	},
	log1p: func(dst, x []float64) {
		dst = dst[:len(x)]
		for i, v := range x {
			dst[i] = math.Log1p(v)
		}
	},
	softplus: func(dst, x []float64) {
		dst = dst[:len(x)]
		for i, v := range x {
			dst[i] = softplus(v)
		}
	},
	sigmoid: func(dst, x []float64) {
		dst = dst[:len(x)]
		for i, v := range x {
			dst[i] = sigmoid(v)
		}
	},
	adam: adamGeneric,
}

// impls lists the implementations usable on this machine, best first;
// assembly ones are prepended by tanh_amd64.go.
var impls = []*impl{generic}

var active atomic.Pointer[impl]

func init() { active.Store(impls[0]) }

// Implementations returns the names of the implementations usable on this
// machine, best (the default) first: "avx512", "avx2" and "generic" on
// amd64, "generic" (math.Tanh) elsewhere.
func Implementations() []string {
	names := make([]string, len(impls))
	for i, im := range impls {
		names[i] = im.name
	}
	return names
}

// Implementation returns the name of the implementation in use.
func Implementation() string { return active.Load().name }

// SetImplementation selects an implementation by name (one of
// Implementations) and returns the previous one. It exists for tests and
// benchmarks and panics on an unknown name.
func SetImplementation(name string) (previous string) {
	for _, im := range impls {
		if im.name == name {
			return active.Swap(im).name
		}
	}
	panic(fmt.Sprintf("vmath: unknown or unsupported implementation %q", name))
}

// Tanh sets dst[i] = tanh(x[i]) for every i < len(x). dst may be x itself
// (but must not overlap it otherwise). The assembly kernels agree with
// math.Tanh to a relative error below 1e-15 (see the package
// documentation); every element is computed the same way whatever its
// position in the slice. Tanh panics if dst is shorter than x.
func Tanh(dst, x []float64) {
	if len(dst) < len(x) {
		panic(fmt.Sprintf("vmath: Tanh: dst has %d elements, x has %d", len(dst), len(x)))
	}
	if len(x) == 0 {
		return
	}
	active.Load().tanh(dst[:len(x)], x)
}

// AddTanhGrad adds the gradient through y = tanh(x) to dst:
// dst[i] += g[i]·(1 - y[i]²) for every i < len(dst), where g is the
// gradient with respect to y. The assembly kernels round 1 - y² and the
// update once each (fused multiply-adds). It panics if g or y is shorter
// than dst.
func AddTanhGrad(dst, g, y []float64) {
	if len(g) < len(dst) || len(y) < len(dst) {
		panic(fmt.Sprintf("vmath: AddTanhGrad: dst has %d elements, g %d, y %d", len(dst), len(g), len(y)))
	}
	if len(dst) == 0 {
		return
	}
	active.Load().addTanhGrad(dst, g[:len(dst)], y[:len(dst)])
}
