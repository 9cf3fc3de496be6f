package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestGemm compares the internal GEMM (including its small-k path) with a
// naive triple loop for every transposition, several alpha/beta and shapes
// on both sides of the small-k threshold.
func TestGemm(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(9, 9))
	for _, sh := range [][3]int{{1, 1, 1}, {7, 5, 2}, {3, 9, 1}, {6, 4, 3}, {70, 66, 4}, {5, 3, 5}, {130, 70, 9}, {2, 3, 0}} {
		m, n, k := sh[0], sh[1], sh[2]
		for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
			for _, ab := range [][2]float64{{1, 0}, {1, 1}, {-0.5, 2}} {
				name := fmt.Sprintf("%dx%dx%d/T%v/a%v,b%v", m, n, k, tr, ab[0], ab[1])
				a := randTensor(rng, m, k, normal).Data
				b := randTensor(rng, k, n, normal).Data
				c := randTensor(rng, m, n, normal).Data
				at := func(i, l int) float64 {
					if tr[0] {
						return a[l*m+i]
					}
					return a[i*k+l]
				}
				bt := func(l, j int) float64 {
					if tr[1] {
						return b[j*k+l]
					}
					return b[l*n+j]
				}
				want := make([]float64, m*n)
				for i := 0; i < m; i++ {
					for j := 0; j < n; j++ {
						s := 0.0
						for l := 0; l < k; l++ {
							s += at(i, l) * bt(l, j)
						}
						want[i*n+j] = ab[0]*s + ab[1]*c[i*n+j]
					}
				}
				gemm(tr[0], tr[1], m, n, k, ab[0], a, b, ab[1], c)
				for i := range want {
					if math.Abs(c[i]-want[i]) > 1e-12*(1+math.Abs(want[i])) {
						t.Fatalf("%s: c[%d] = %v, want %v", name, i, c[i], want[i])
					}
				}
			}
		}
	}
}
