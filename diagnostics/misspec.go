package diagnostics

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"gonum.org/v1/gonum/mat"
)

// MisspecificationSettings tunes Misspecification. The zero value (or a nil
// pointer) gives the defaults.
type MisspecificationSettings struct {
	// Draws is the number of draws from the null distribution; 0 means 1000.
	Draws int
	// Reference is the number of simulations (the first rows of x) that form
	// the reference set the observations are compared with; the remaining
	// rows are the pool the null draws come from. 0 means min(1000, rows/2).
	Reference int
	// Bandwidth is the Gaussian kernel's length scale; 0 means the median
	// heuristic on the reference set (see MMDSettings).
	Bandwidth float64
	// Standardize z-scores observations and simulations by the mean and
	// standard deviation of the reference set before anything else, so that
	// every dimension counts alike.
	Standardize bool
}

// MisspecificationResult is the outcome of a misspecification check.
type MisspecificationResult struct {
	// MMD is the biased MMD² (Gretton et al. 2012, eq. 5) between the
	// observations and the reference set.
	MMD float64
	// PValue is (1 + #{null ≥ MMD})/(1 + Draws): small values mean the
	// observations are unlike the simulations, i.e. the model is
	// misspecified for them.
	PValue float64
	// Null holds the MMD² of every null draw.
	Null []float64
	// Bandwidth is the kernel length scale used.
	Bandwidth float64
	// Runtime is the wall-clock time of the check.
	Runtime time.Duration
}

// Misspecification tests whether the observations xo (n_o×D, often a single
// row) could have come from the simulator, by comparing them with
// simulations x (one per row, from the prior predictive or the training
// set) through the maximum mean discrepancy (Schmitt et al., "Detecting
// model misspecification in amortized Bayesian inference with neural
// networks", GCPR 2023; sbi's calc_misspecification_mmd). To test in an
// embedding space, pass the embedded observations and simulations.
//
// The first Reference rows of x form a reference set R, the others a pool P.
// The statistic is MMD²_b(xo, R). Under the null (xo distributed as the
// simulations) it has the distribution of MMD²_b(P_b, R) for n_o rows P_b
// drawn without replacement from P, and these draws are exchangeable with
// the observed statistic because the bandwidth depends on R alone; the
// p-value is therefore exact. sbi instead recomputes a median-heuristic
// bandwidth per draw from both sets.
//
// Null draws use rng. It returns ctx's error if ctx is cancelled, and an
// error wrapping ErrEmpty if the pool has fewer than n_o rows.
func Misspecification(ctx context.Context, xo, x *mat.Dense, rng *rand.Rand, s *MisspecificationSettings) (*MisspecificationResult, error) {
	start := time.Now()
	if s == nil {
		s = &MisspecificationSettings{}
	}
	if rng == nil {
		return nil, fmt.Errorf("diagnostics: Misspecification needs an rng: %w", ErrSettings)
	}
	no, do, err := checkMatrix("observations", xo)
	if err != nil {
		return nil, fmt.Errorf("diagnostics: Misspecification: %w", err)
	}
	nx, dx, err := checkMatrix("simulations", x)
	if err != nil {
		return nil, fmt.Errorf("diagnostics: Misspecification: %w", err)
	}
	if do != dx {
		return nil, fmt.Errorf("diagnostics: Misspecification: observations have %d columns, simulations %d: %w", do, dx, ErrDim)
	}
	draws := s.Draws
	if draws == 0 {
		draws = 1000
	}
	nr := s.Reference
	if nr == 0 {
		nr = min(1000, nx/2)
	}
	if draws < 1 || nr < 1 || nr >= nx {
		return nil, fmt.Errorf("diagnostics: Misspecification: %d draws, reference %d of %d rows: %w", draws, nr, nx, ErrSettings)
	}
	if nx-nr < no {
		return nil, fmt.Errorf("diagnostics: Misspecification: pool of %d simulations for %d observations: %w", nx-nr, no, ErrEmpty)
	}
	ref := mat.DenseCopyOf(x.Slice(0, nr, 0, dx))
	pool := mat.DenseCopyOf(x.Slice(nr, nx, 0, dx))
	obs := mat.DenseCopyOf(xo)
	if s.Standardize {
		mean, std := columnMeanStd(ref)
		for j := range std {
			if std[j] == 0 {
				std[j] = 1
			}
		}
		for _, a := range []*mat.Dense{ref, pool, obs} {
			r, _ := a.Dims()
			for i := 0; i < r; i++ {
				row := a.RawRowView(i)
				for j := range row {
					row[j] = (row[j] - mean[j]) / std[j]
				}
			}
		}
	}
	h, err := bandwidth(ref, nil, s.Bandwidth)
	if err != nil {
		return nil, fmt.Errorf("diagnostics: Misspecification: %w", err)
	}
	g := 1 / (2 * h * h)
	meanRR := (2*kernelSumWithin(ref, g) + float64(nr)) / float64(nr*nr)

	rows := make([][]float64, no)
	stat := func() float64 {
		soo, sor := 0.0, 0.0
		for i, a := range rows {
			for _, b := range rows[i+1:] {
				soo += math.Exp(-g * sqDist(a, b))
			}
			for j := 0; j < nr; j++ {
				sor += math.Exp(-g * sqDist(a, ref.RawRowView(j)))
			}
		}
		nof := float64(no)
		return (2*soo+nof)/(nof*nof) + meanRR - 2*sor/(nof*float64(nr))
	}
	for i := range rows {
		rows[i] = obs.RawRowView(i)
	}
	res := &MisspecificationResult{MMD: stat(), Null: make([]float64, draws), Bandwidth: h}
	np := nx - nr
	idx := make([]int, np)
	for i := range idx {
		idx[i] = i
	}
	ge := 0
	for b := range res.Null {
		if b%64 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		// Partial Fisher–Yates: the first no entries of idx become a uniform
		// draw without replacement.
		for i := 0; i < no; i++ {
			j := i + rng.IntN(np-i)
			idx[i], idx[j] = idx[j], idx[i]
			rows[i] = pool.RawRowView(idx[i])
		}
		res.Null[b] = stat()
		if res.Null[b] >= res.MMD {
			ge++
		}
	}
	res.PValue = float64(1+ge) / float64(1+draws)
	res.Runtime = time.Since(start)
	return res, nil
}
