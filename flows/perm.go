package flows

import (
	"fmt"
	"math/rand/v2"
)

// randomPerm returns a uniformly random permutation of 0…d-1 drawn from rng.
func randomPerm(d int, rng *rand.Rand) []int { return rng.Perm(d) }

// reversePerm returns d-1, d-2, …, 0.
func reversePerm(d int) []int {
	p := make([]int, d)
	for i := range p {
		p[i] = d - 1 - i
	}
	return p
}

// invertPerm returns q with q[p[i]] = i.
func invertPerm(p []int) []int {
	q := make([]int, len(p))
	for i, v := range p {
		q[v] = i
	}
	return q
}

// checkPerm returns an error unless p is a permutation of 0…len(p)-1.
func checkPerm(p []int) error {
	seen := make([]bool, len(p))
	for i, v := range p {
		if v < 0 || v >= len(p) {
			return fmt.Errorf("flows: permutation entry %d = %d out of range [0, %d)", i, v, len(p))
		}
		if seen[v] {
			return fmt.Errorf("flows: permutation repeats %d", v)
		}
		seen[v] = true
	}
	return nil
}

// permuteRow writes dst[i] = src[p[i]].
func permuteRow(dst, src []float64, p []int) {
	for i, j := range p {
		dst[i] = src[j]
	}
}
