package diagnostics

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"gonum.org/v1/gonum/mat"
)

// MMDSettings tunes MMD and MMDTest. The zero value (or a nil pointer) gives
// the defaults.
type MMDSettings struct {
	// Bandwidth is the length scale h of the Gaussian kernel
	// k(a, b) = exp(−‖a − b‖²/(2h²)); 0 means the median heuristic: the
	// median Euclidean distance between distinct points of the pooled sample
	// (Gretton et al. 2012, §8; Garreau, Jitkrittum and Kanagawa,
	// arXiv:1707.07269), computed on the first min(n, 500) rows of x and
	// min(m, 500) rows of y.
	Bandwidth float64
	// Permutations is the number of label permutations of MMDTest; 0 means
	// 1000.
	Permutations int
	// MaxRows caps the rows of each sample that MMDTest uses (the first
	// ones): its pooled kernel matrix has (n+m)² entries. 0 means 2000 (a
	// 32 MB matrix at most). MMD uses every row and stores no matrix.
	MaxRows int
	// Workers is the number of goroutines of MMDTest; 0 means GOMAXPROCS.
	// The result does not depend on it.
	Workers int
}

// MMDResult holds the squared maximum mean discrepancy between two samples.
type MMDResult struct {
	// Biased is the V-statistic MMD²_b (Gretton et al. 2012, eq. 5): kernel
	// means over all pairs, diagonals included; never negative.
	Biased float64
	// Unbiased is the U-statistic MMD²_u (Gretton et al. 2012, eq. 3):
	// within-sample means over distinct pairs; its expectation is 0 when
	// the two distributions are equal, so it can be negative.
	Unbiased float64
	// Bandwidth is the kernel length scale h used.
	Bandwidth float64
	// PValue is the permutation p-value of MMDTest, (1 + #{b : MMD²_u,b ≥
	// MMD²_u})/(1 + B) over B label permutations; NaN for MMD.
	PValue float64
	// Permutations is B (0 for MMD).
	Permutations int
	// N and M are the numbers of rows of x and y used.
	N, M int
	// Runtime is the wall-clock time of the computation.
	Runtime time.Duration
}

// MMD returns the biased and unbiased estimates of the squared maximum mean
// discrepancy (Gretton, Borgwardt, Rasch, Schölkopf and Smola, "A kernel
// two-sample test", JMLR 13, 2012) between the samples x (n×D) and y (m×D),
// one point per row, with a Gaussian kernel. Both need n, m ≥ 2. It costs
// O((n+m)²D) time and O(D) memory. PValue is NaN; see MMDTest.
func MMD(x, y *mat.Dense, s *MMDSettings) (*MMDResult, error) {
	start := time.Now()
	if s == nil {
		s = &MMDSettings{}
	}
	n, m, err := checkTwoSamples(x, y)
	if err != nil {
		return nil, fmt.Errorf("diagnostics: MMD: %w", err)
	}
	h, err := bandwidth(x, y, s.Bandwidth)
	if err != nil {
		return nil, fmt.Errorf("diagnostics: MMD: %w", err)
	}
	g := 1 / (2 * h * h)
	sxx := kernelSumWithin(x, g)
	syy := kernelSumWithin(y, g)
	sxy := 0.0
	for i := 0; i < n; i++ {
		a := x.RawRowView(i)
		for j := 0; j < m; j++ {
			sxy += math.Exp(-g * sqDist(a, y.RawRowView(j)))
		}
	}
	nf, mf := float64(n), float64(m)
	res := &MMDResult{
		Biased:    (2*sxx+nf)/(nf*nf) + (2*syy+mf)/(mf*mf) - 2*sxy/(nf*mf),
		Unbiased:  2*sxx/(nf*(nf-1)) + 2*syy/(mf*(mf-1)) - 2*sxy/(nf*mf),
		Bandwidth: h,
		PValue:    math.NaN(),
		N:         n,
		M:         m,
	}
	res.Runtime = time.Since(start)
	return res, nil
}

// MMDTest is MMD with a permutation test of the hypothesis that x and y come
// from the same distribution: the unbiased statistic is recomputed for
// s.Permutations random relabellings of the pooled sample (Gretton et al.
// 2012, §5) and PValue = (1 + #{permuted ≥ observed})/(1 + B), which is
// exact (valid at every sample size) because the bandwidth is fixed before
// the permutations. It uses the first min(rows, s.MaxRows) rows of each
// sample and a pooled kernel matrix.
//
// Permutations run in chunks of 50, chunk c drawing from rand.NewPCG(seed, c)
// with seed the first Uint64 of rng, so the result does not depend on
// Workers. It returns ctx's error if ctx is cancelled.
func MMDTest(ctx context.Context, x, y *mat.Dense, rng *rand.Rand, s *MMDSettings) (*MMDResult, error) {
	start := time.Now()
	if s == nil {
		s = &MMDSettings{}
	}
	if rng == nil {
		return nil, fmt.Errorf("diagnostics: MMDTest needs an rng: %w", ErrSettings)
	}
	B := s.Permutations
	if B == 0 {
		B = 1000
	}
	maxRows := s.MaxRows
	if maxRows == 0 {
		maxRows = 2000
	}
	if B < 1 || maxRows < 2 {
		return nil, fmt.Errorf("diagnostics: MMDTest: %d permutations, %d rows: %w", B, maxRows, ErrSettings)
	}
	n, m, err := checkTwoSamples(x, y)
	if err != nil {
		return nil, fmt.Errorf("diagnostics: MMDTest: %w", err)
	}
	n, m = min(n, maxRows), min(m, maxRows)
	_, dim := x.Dims()
	x = x.Slice(0, n, 0, dim).(*mat.Dense)
	y = y.Slice(0, m, 0, dim).(*mat.Dense)
	h, err := bandwidth(x, y, s.Bandwidth)
	if err != nil {
		return nil, fmt.Errorf("diagnostics: MMDTest: %w", err)
	}
	gamma := 1 / (2 * h * h)
	N := n + m
	K := make([]float64, N*N)
	row := func(i int) []float64 {
		if i < n {
			return x.RawRowView(i)
		}
		return y.RawRowView(i - n)
	}
	for i := 0; i < N; i++ {
		a := row(i)
		for j := i + 1; j < N; j++ {
			K[i*N+j] = math.Exp(-gamma * sqDist(a, row(j)))
		}
	}
	p := newPermStat(K, N, n, m)
	g := min(n, m)
	first := make([]int, g)
	for i := range first {
		first[i] = i
		if m < n {
			first[i] = n + i
		}
	}
	obs, sxx, syy, sxy := p.stat(first)

	const chunk = 50
	chunks := (B + chunk - 1) / chunk
	seed := rng.Uint64()
	workers := workerCount(s.Workers, chunks)
	perm := make([][]int, workers)
	sub := make([][]int, workers)
	for w := range perm {
		perm[w] = make([]int, N)
		sub[w] = make([]int, g)
	}
	exceed := make([]int, chunks)
	err = forEach(ctx, chunks, workers, nil, func(w, c int) error {
		r := rand.New(rand.NewPCG(seed, uint64(c)))
		idx, group := perm[w], sub[w]
		for i := range idx {
			idx[i] = i
		}
		for b := c * chunk; b < min(B, (c+1)*chunk); b++ {
			// A uniform relabelling: a uniform subset of g points gets the
			// smaller sample's label (partial Fisher–Yates).
			for i := 0; i < g; i++ {
				j := i + r.IntN(N-i)
				idx[i], idx[j] = idx[j], idx[i]
			}
			copy(group, idx[:g])
			slices.Sort(group)
			if st, _, _, _ := p.stat(group); st >= obs {
				exceed[c]++
			}
		}
		return ctx.Err()
	})
	if err != nil {
		return nil, err
	}
	ge := 0
	for _, e := range exceed {
		ge += e
	}
	nf, mf := float64(n), float64(m)
	res := &MMDResult{
		Biased:       (2*sxx+nf)/(nf*nf) + (2*syy+mf)/(mf*mf) - 2*sxy/(nf*mf),
		Unbiased:     obs,
		Bandwidth:    h,
		PValue:       float64(1+ge) / float64(1+B),
		Permutations: B,
		N:            n,
		M:            m,
	}
	res.Runtime = time.Since(start)
	return res, nil
}

// permStat evaluates the unbiased MMD² of relabellings of a pooled sample
// of N = n+m points from its kernel matrix, at a cost of g²/2 for
// g = min(n, m): with S_AB the sum of k over pairs of distinct points with
// labels A and B, S_total the sum over all pairs and C_i = Σ_{j≠i} k_ij,
// the group G of g points gives S_GG directly, S_GH = Σ_{i∈G} C_i − 2S_GG
// and S_HH = S_total − S_GG − S_GH for the other group H.
type permStat struct {
	K       []float64 // N×N, strict upper triangle used
	N, n, m int
	rowSum  []float64
	total   float64
}

func newPermStat(K []float64, N, n, m int) *permStat {
	p := &permStat{K: K, N: N, n: n, m: m, rowSum: make([]float64, N)}
	for i := 0; i < N; i++ {
		for j := i + 1; j < N; j++ {
			k := K[i*N+j]
			p.rowSum[i] += k
			p.rowSum[j] += k
			p.total += k
		}
	}
	return p
}

// stat returns the unbiased MMD² and the pair sums S_xx, S_yy, S_xy when the
// points in group (sorted indices, min(n, m) of them) carry the label of
// the smaller sample (y when m ≤ n, x otherwise).
func (p *permStat) stat(group []int) (mmd, sxx, syy, sxy float64) {
	N := p.N
	sgg, cg := 0.0, 0.0
	for a, i := range group {
		row := p.K[i*N : (i+1)*N]
		cg += p.rowSum[i]
		for _, j := range group[a+1:] {
			sgg += row[j]
		}
	}
	sgh := cg - 2*sgg
	shh := p.total - sgg - sgh
	sxy = sgh
	if p.m <= p.n {
		syy, sxx = sgg, shh
	} else {
		sxx, syy = sgg, shh
	}
	nf, mf := float64(p.n), float64(p.m)
	return 2*sxx/(nf*(nf-1)) + 2*syy/(mf*(mf-1)) - 2*sxy/(nf*mf), sxx, syy, sxy
}

// kernelSumWithin returns Σ_{i<j} exp(−g‖a_i − a_j‖²) over the rows of a.
func kernelSumWithin(a *mat.Dense, g float64) float64 {
	n, _ := a.Dims()
	s := 0.0
	for i := 0; i < n; i++ {
		ai := a.RawRowView(i)
		for j := i + 1; j < n; j++ {
			s += math.Exp(-g * sqDist(ai, a.RawRowView(j)))
		}
	}
	return s
}

func sqDist(a, b []float64) float64 {
	b = b[:len(a)]
	s := 0.0
	for i, v := range a {
		d := v - b[i]
		s += d * d
	}
	return s
}

// checkTwoSamples validates two samples with the same number of columns and
// at least two rows each.
func checkTwoSamples(x, y *mat.Dense) (n, m int, err error) {
	n, dx, err := checkMatrix("x", x)
	if err != nil {
		return 0, 0, err
	}
	m, dy, err := checkMatrix("y", y)
	if err != nil {
		return 0, 0, err
	}
	if dx != dy {
		return 0, 0, fmt.Errorf("x has %d columns, y has %d: %w", dx, dy, ErrDim)
	}
	if n < 2 || m < 2 {
		return 0, 0, fmt.Errorf("need at least 2 rows in each sample, have %d and %d: %w", n, m, ErrEmpty)
	}
	return n, m, nil
}

// bandwidth returns h if positive, else the median heuristic on the pooled
// first 500 rows of each sample. An error reports a non-positive or
// non-finite h, or a zero median (more than half the pairs coincide).
func bandwidth(x, y *mat.Dense, h float64) (float64, error) {
	if h != 0 {
		if !(h > 0) || math.IsInf(h, 0) {
			return 0, fmt.Errorf("bandwidth %v: %w", h, ErrSettings)
		}
		return h, nil
	}
	var rows [][]float64
	for _, a := range []*mat.Dense{x, y} {
		if a == nil {
			continue
		}
		r, _ := a.Dims()
		for i := 0; i < min(r, 500); i++ {
			rows = append(rows, a.RawRowView(i))
		}
	}
	d := make([]float64, 0, len(rows)*(len(rows)-1)/2)
	for i := range rows {
		for j := i + 1; j < len(rows); j++ {
			d = append(d, math.Sqrt(sqDist(rows[i], rows[j])))
		}
	}
	if len(d) == 0 {
		return 0, fmt.Errorf("median heuristic needs at least 2 points: %w", ErrEmpty)
	}
	h = median(d)
	if !(h > 0) {
		return 0, fmt.Errorf("median pairwise distance is 0 (too many repeated points); set a bandwidth: %w", ErrSettings)
	}
	return h, nil
}
