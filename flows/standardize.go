package flows

import (
	"math"

	"gonum.org/v1/gonum/mat"
)

// minStdFrac guards z-scoring against constant columns: a column whose
// unbiased standard deviation is below minStdFrac·max(1, |mean|) (or is not
// finite, or comes from fewer than two rows) is given std 1, so it is only
// centred. 1e-12 is far below any real spread in float64 data yet well above
// the rounding noise (about 1e-16 relative) of a constant column's std.
const minStdFrac = 1e-12

// meanStd returns the column means and unbiased (n-1) standard deviations of
// x, computed with a two-pass algorithm, with constant columns guarded as
// described at minStdFrac.
func meanStd(x *mat.Dense) (mean, std []float64) {
	r, c := x.Dims()
	mean = make([]float64, c)
	std = make([]float64, c)
	for i := 0; i < r; i++ {
		row := x.RawRowView(i)
		for j, v := range row {
			mean[j] += v
		}
	}
	for j := range mean {
		mean[j] /= float64(r)
	}
	for i := 0; i < r; i++ {
		row := x.RawRowView(i)
		for j, v := range row {
			d := v - mean[j]
			std[j] += d * d
		}
	}
	for j := range std {
		s := math.NaN()
		if r > 1 {
			s = math.Sqrt(std[j] / float64(r-1))
		}
		std[j], _ = FloorStd(mean[j], s, r)
	}
	return mean, std
}

// FloorStd returns the standard deviation that the presets' z-scoring
// (ZScoreIndependent) uses for a column of n rows with mean m and unbiased
// standard deviation s, and whether it treats the column as constant: s
// itself, or 1 (the column is then only centred) when s is below
// 1e-12·max(1, |m|), is not finite, or n < 2 (see minStdFrac). Estimators
// that z-score outside a flow use it to apply the same floor.
func FloorStd(m, s float64, n int) (std float64, constant bool) {
	if n < 2 || !(s >= minStdFrac*math.Max(1, math.Abs(m))) || math.IsInf(s, 0) {
		return 1, true
	}
	return s, false
}
