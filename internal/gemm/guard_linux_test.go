//go:build linux

package gemm

import (
	"fmt"
	"math/rand/v2"
	"runtime/debug"
	"syscall"
	"testing"
	"unsafe"
)

// guarded returns a copy of x placed in its own mapping, flush against an
// inaccessible page after it (atEnd) or before it, so that any access out
// of x faults.
func guarded(t *testing.T, x []float64, atEnd bool) []float64 {
	t.Helper()
	page := syscall.Getpagesize()
	size := len(x) * 8
	pages := (size + page - 1) / page
	mem, err := syscall.Mmap(-1, 0, (pages+2)*page, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Skipf("mmap: %v", err)
	}
	t.Cleanup(func() { syscall.Munmap(mem) })
	if err := syscall.Mprotect(mem[:page], syscall.PROT_NONE); err != nil {
		t.Skipf("mprotect: %v", err)
	}
	if err := syscall.Mprotect(mem[(pages+1)*page:], syscall.PROT_NONE); err != nil {
		t.Skipf("mprotect: %v", err)
	}
	off := page
	if atEnd {
		off = (pages+1)*page - size
	}
	if len(x) == 0 {
		return nil
	}
	g := unsafe.Slice((*float64)(unsafe.Pointer(&mem[off])), len(x))
	copy(g, x)
	return g
}

// TestDgemmGuardPages runs products whose operands have the minimal length
// ((rows-1)·stride + cols) and sit against inaccessible pages: a kernel
// that reads or writes past a row, a tile or a panel faults.
func TestDgemmGuardPages(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	shapes := []shape{{29, 33, 7, 0}, {14, 16, 3, 0}, {13, 15, 5, 2}, {5, 3, 300, 1}, {43, 50, 50, 0}, {1, 1, 1, 0}, {3, 2, 1, 3}}
	for _, name := range Implementations() {
		for _, s := range shapes {
			for tr := range 4 {
				for _, atEnd := range []bool{true, false} {
					t.Run(fmt.Sprintf("%s/%v/tr%d/end%v", name, s, tr, atEnd), func(t *testing.T) {
						// Turn a fault into a panic of this goroutine.
						defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
						useImpl(t, name)
						o := newOperands(rng, s, tr&1 != 0, tr&2 != 0, 1.5, -0.5)
						o.a = guarded(t, o.a[:(o.arows-1)*o.lda+o.acols], atEnd)
						o.b = guarded(t, o.b[:(o.brows-1)*o.ldb+o.bcols], atEnd)
						c0 := append([]float64(nil), o.c...)
						o.c = guarded(t, o.c[:(o.m-1)*o.ldc+o.n], atEnd)
						defer func() {
							if r := recover(); r != nil {
								t.Fatalf("fault: %v", r)
							}
						}()
						o.call()
						full := append(o.c[:len(o.c):len(o.c)], c0[len(o.c):]...)
						o.c = full
						o.check(t, c0)
					})
				}
			}
		}
	}
}
