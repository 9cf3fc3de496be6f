package sbi

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestColScanWarnings checks the streamed data warnings of block mode
// against zscoreWarnings on the same rows, for blocks of several lengths:
// a varying column, a constant one, near-constant ones just above and
// below the 99% threshold (the rare values first, so that the majority
// vote changes its candidate early), and one whose majority value fills
// 97% (the vote's count, about 94%, is below (2·0.99-1)·n: no second
// pass is needed for it).
func TestColScanWarnings(t *testing.T) {
	const n, cols = 2000, 5
	rng := rand.New(rand.NewPCG(3, 3))
	data := make([]float64, n*cols)
	for i := range n {
		row := data[i*cols : (i+1)*cols]
		row[0] = rng.NormFloat64()
		row[1] = 3
		// 10 of 2000 rows (99.5% fill) and 30 (98.5%) differ from 0.
		if i < 10 {
			row[2] = float64(i + 1)
		}
		if i < 30 {
			row[3] = float64(i%3 + 1)
		}
		if i%100 < 3 {
			row[4] = 1
		}
	}
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	want := zscoreWarnings("x", data, cols, idx)
	if len(want) != 2 {
		t.Fatalf("zscoreWarnings gave %q, want 2 warnings (columns 1 and 2)", want)
	}
	for _, blockLen := range []int{1, 7, 100, n} {
		var c colScan
		for lo := 0; lo < n; lo += blockLen {
			c.add(data[lo*cols:min(lo+blockLen, n)*cols], cols)
		}
		if !c.needCount() {
			t.Fatalf("blocks of %d: no second pass, want one for column 2", blockLen)
		}
		for j, want := range []bool{false, false, true, true, false} {
			if got := c.candidate(j); got != want {
				t.Errorf("blocks of %d: column %d candidate %v, want %v", blockLen, j, got, want)
			}
		}
		for lo := 0; lo < n; lo += blockLen {
			c.count(data[lo*cols : min(lo+blockLen, n)*cols])
		}
		if got := c.warnings("x"); !slices.Equal(got, want) {
			t.Errorf("blocks of %d: got warnings %q, want %q", blockLen, got, want)
		}
	}

	// Data without a near-constant column need no second pass.
	var c2 colScan
	for i := range n {
		c2.add([]float64{data[i*cols]}, 1)
	}
	if c2.needCount() || c2.warnings("θ") != nil {
		t.Errorf("a varying column: second pass %v, warnings %q; want none", c2.needCount(), c2.warnings("θ"))
	}
}
