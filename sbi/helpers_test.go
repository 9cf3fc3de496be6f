package sbi_test

import (
	"math"
	"testing"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat"
)

// moments returns the column means and the covariance matrix of the rows of s.
func moments(s *mat.Dense) ([]float64, *mat.SymDense) {
	_, d := s.Dims()
	mean := make([]float64, d)
	for j := range d {
		mean[j] = stat.Mean(mat.Col(nil, j, s), nil)
	}
	var cov mat.SymDense
	stat.CovarianceMatrix(&cov, s, nil)
	return mean, &cov
}

// gaussStats compares samples with N(mu, v·I).
type gaussStats struct {
	// RMSMean is the root mean square over dimensions of the mean error in
	// posterior standard deviations; MaxMean the largest.
	RMSMean, MaxMean float64
	// MeanLogVar is the mean over dimensions of log(variance/v) (signed);
	// MaxLogVar the largest |log(variance/v)|.
	MeanLogVar, MaxLogVar float64
	// MaxCorr is the largest |correlation| between two dimensions.
	MaxCorr float64
}

func gaussErrors(s *mat.Dense, mu []float64, v float64) gaussStats {
	mean, cov := moments(s)
	sd := math.Sqrt(v)
	var g gaussStats
	d := float64(len(mu))
	for j := range mu {
		e := math.Abs(mean[j]-mu[j]) / sd
		g.RMSMean += e * e / d
		g.MaxMean = math.Max(g.MaxMean, e)
		lv := math.Log(cov.At(j, j) / v)
		g.MeanLogVar += lv / d
		g.MaxLogVar = math.Max(g.MaxLogVar, math.Abs(lv))
		for l := range j {
			g.MaxCorr = math.Max(g.MaxCorr, math.Abs(cov.At(j, l))/math.Sqrt(cov.At(j, j)*cov.At(l, l)))
		}
	}
	g.RMSMean = math.Sqrt(g.RMSMean)
	return g
}

func checkInBox(t *testing.T, s *mat.Dense, lo, hi []float64) {
	t.Helper()
	r, _ := s.Dims()
	for i := range r {
		for j, v := range s.RawRowView(i) {
			if !(v >= lo[j] && v <= hi[j]) {
				t.Fatalf("sample %d = %v leaves the support [%v, %v]", i, s.RawRowView(i), lo, hi)
			}
		}
	}
}
