//go:build linux

package vmath

import (
	"math"
	"runtime/debug"
	"syscall"
	"testing"
	"unsafe"
)

// TestTanhGuardPages places x and dst flush against inaccessible pages:
// the masked tail of the AVX-512 kernel must neither read nor write past
// the slices.
func TestTanhGuardPages(t *testing.T) {
	page := syscall.Getpagesize()
	mem, err := syscall.Mmap(-1, 0, 3*page, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Skipf("mmap: %v", err)
	}
	defer syscall.Munmap(mem)
	if err := syscall.Mprotect(mem[2*page:], syscall.PROT_NONE); err != nil {
		t.Skipf("mprotect: %v", err)
	}
	all := unsafe.Slice((*float64)(unsafe.Pointer(&mem[0])), 2*page/8)
	for _, name := range Implementations() {
		t.Run(name, func(t *testing.T) {
			defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
			useImpl(t, name)
			for n := 1; n <= 17; n++ {
				x := all[len(all)-n:]
				dst := all[len(all)-2*n-3 : len(all)-n-3]
				for i := range x {
					x[i] = float64(i) - 3.5
				}
				func() {
					defer func() {
						if r := recover(); r != nil {
							t.Fatalf("n=%d: fault: %v", n, r)
						}
					}()
					Tanh(dst, x)
					Tanh(x, x)
				}()
				for i := range n {
					if want := math.Tanh(float64(i) - 3.5); math.Abs(dst[i]-want) > tanhTol*math.Abs(want) || dst[i] != x[i] {
						t.Fatalf("n=%d: tanh(%v) = %v (in place %v), want %v", n, float64(i)-3.5, dst[i], x[i], want)
					}
				}
			}
		})
	}
}

// TestElemGuardPages runs the other kernels with their operands flush
// against an inaccessible page: the masked tails must neither read nor
// write past the slices.
func TestElemGuardPages(t *testing.T) {
	page := syscall.Getpagesize()
	mem, err := syscall.Mmap(-1, 0, 3*page, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Skipf("mmap: %v", err)
	}
	defer syscall.Munmap(mem)
	if err := syscall.Mprotect(mem[2*page:], syscall.PROT_NONE); err != nil {
		t.Skipf("mprotect: %v", err)
	}
	all := unsafe.Slice((*float64)(unsafe.Pointer(&mem[0])), 2*page/8)
	c := &AdamConsts{Beta1: 0.9, OneMinusBeta1: 0.1, Beta2: 0.999, OneMinusBeta2: 0.001, Step: 1e-3, InvSqrtBC2: 1, Eps: 1e-8}
	for _, name := range Implementations() {
		t.Run(name, func(t *testing.T) {
			defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
			useImpl(t, name)
			for n := 1; n <= 17; n++ {
				// Four operands of n values, the last one at the end of
				// the accessible memory.
				op := func(k int) []float64 { return all[len(all)-(k+1)*n-3*k : len(all)-k*n-3*k] }
				x, y, m, v := op(0), op(1), op(2), op(3)
				for i := range x {
					x[i], y[i], m[i], v[i] = float64(i)-3.5, 0.25*float64(i), 0, 0
				}
				func() {
					defer func() {
						if r := recover(); r != nil {
							t.Fatalf("n=%d: fault: %v", n, r)
						}
					}()
					Exp(y, x)
					Log1p(y, x)
					Softplus(y, x)
					Sigmoid(y, x)
					Sigmoid(x, x)
					TanhGrad(x, y, x)
					AdamStep(m, y, v, x, c)
					AdamStep(x, y, m, v, c)
				}()
			}
		})
	}
}
