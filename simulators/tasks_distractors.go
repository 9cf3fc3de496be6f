package simulators

import (
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"

	"github.com/gosbi/gosbi/dist"
	"gonum.org/v1/gonum/mat"
)

// Shape of slcp_distractors: 8 SLCP values and 92 distractors from a
// 20-component Student-t mixture, permuted into 100 outputs.
const (
	slcpX       = 8
	distractDim = 92
	distractOut = slcpX + distractDim
)

// distractors holds the constants of slcp_distractors, read from the sbibm
// folder: the mixture of multivariate Student-t distributions and the output
// permutation.
type distractors struct {
	weights []float64   // mixture weights
	cumW    []float64   // their cumulative sums, last = 1
	df      []float64   // degrees of freedom per component
	loc     [][]float64 // locations, 92 each
	tril    [][]float64 // lower-triangular scale matrices L (Σ = L Lᵀ), 92×92 row-major
	perm    []int       // output i is c[perm[i]], c = (slcp, distractors)
}

// loadDistractors reads slcp/permutation_idx.csv,
// slcp/distractors_gmm_weights_df.csv, slcp/distractors_gmm_loc.csv and
// slcp/distractors_gmm_scale_tril.csv.bz2 under dataDir and checks them.
func loadDistractors(dataDir string) (*distractors, error) {
	if dataDir == "" {
		return nil, fmt.Errorf("%w: slcp_distractors needs the sbibm data folder for its constants", ErrNoData)
	}
	dir := filepath.Join(dataDir, "slcp")
	bad := func(file, format string, args ...any) error {
		return &FileError{File: filepath.Join(dir, file), Err: fmt.Errorf(format+": %w", append(args, ErrFormat)...)}
	}
	permM, err := readRefCSV(filepath.Join(dir, "permutation_idx.csv"), distractOut, 1)
	if err != nil {
		return nil, err
	}
	d := &distractors{perm: make([]int, distractOut)}
	seen := make([]bool, distractOut)
	for i := range distractOut {
		v := permM.At(i, 0)
		j := int(v)
		if float64(j) != v || j < 0 || j >= distractOut || seen[j] {
			return nil, bad("permutation_idx.csv", "row %d: %v is not a new index in 0..99", i+1, v)
		}
		seen[j] = true
		d.perm[i] = j
	}
	wdf, err := readRefCSV(filepath.Join(dir, "distractors_gmm_weights_df.csv"), 0, 3)
	if err != nil {
		return nil, err
	}
	nc, _ := wdf.Dims()
	var total float64
	for c := range nc {
		w, df := wdf.At(c, 1), wdf.At(c, 2)
		if wdf.At(c, 0) != float64(c+1) || !(w > 0) || !(df > 0) || math.IsInf(df, 0) {
			return nil, bad("distractors_gmm_weights_df.csv", "row %d: component %v, weight %v, df %v", c+1, wdf.At(c, 0), w, df)
		}
		total += w
		d.weights = append(d.weights, w)
		d.cumW = append(d.cumW, total)
		d.df = append(d.df, df)
	}
	if math.Abs(total-1) > 1e-9 {
		return nil, bad("distractors_gmm_weights_df.csv", "weights sum to %v, want 1", total)
	}
	d.cumW[nc-1] = 1
	loc, err := readRefCSV(filepath.Join(dir, "distractors_gmm_loc.csv"), nc, distractDim)
	if err != nil {
		return nil, err
	}
	const trilFile = "distractors_gmm_scale_tril.csv.bz2"
	tril, err := readRefCSV(filepath.Join(dir, trilFile), nc*distractDim, 2+distractDim)
	if err != nil {
		return nil, err
	}
	for c := range nc {
		d.loc = append(d.loc, mat.Row(nil, c, loc))
		l := make([]float64, distractDim*distractDim)
		for i := range distractDim {
			r := c*distractDim + i
			if tril.At(r, 0) != float64(c+1) || tril.At(r, 1) != float64(i+1) {
				return nil, bad(trilFile, "row %d: component %v row %v, want %d and %d", r+1, tril.At(r, 0), tril.At(r, 1), c+1, i+1)
			}
			for j := range distractDim {
				v := tril.At(r, 2+j)
				if j > i && v != 0 {
					return nil, bad(trilFile, "row %d: nonzero entry above the diagonal in column %d", r+1, j+1)
				}
				l[i*distractDim+j] = v
			}
			// The generator, 3·(tril(N) + diag(exp(N))), can make a diagonal
			// entry negative; L z and L·diag(±1) z have the same distribution
			// (z is symmetric), so only a zero diagonal is an error.
			if lii := math.Abs(l[i*distractDim+i]); !(lii > 0) || math.IsInf(lii, 0) {
				return nil, bad(trilFile, "row %d: diagonal entry %v, want nonzero and finite", r+1, l[i*distractDim+i])
			}
		}
		d.tril = append(d.tril, l)
	}
	return d, nil
}

// sample writes one 92-dim draw of the mixture into n: pick component c by
// weight, then draw from it.
func (d *distractors) sample(n []float64, rng *rand.Rand) {
	u := rng.Float64()
	c := 0
	for c < len(d.cumW)-1 && u >= d.cumW[c] {
		c++
	}
	d.sampleComponent(c, n, rng)
}

// sampleComponent writes a draw of component c into n:
// loc[c] + L[c]·z·√(ν/w), z ~ N(0, I), w ~ χ²(ν).
func (d *distractors) sampleComponent(c int, n []float64, rng *rand.Rand) {
	var z [distractDim]float64
	for i := range z {
		z[i] = rng.NormFloat64()
	}
	scale := math.Sqrt(d.df[c] / chiSquare(d.df[c], rng))
	l, loc := d.tril[c], d.loc[c]
	for i := range distractDim {
		var s float64
		for j, lij := range l[i*distractDim : i*distractDim+i+1] {
			s += lij * z[j]
		}
		n[i] = loc[i] + scale*s
	}
}

func slcpDistractorsTask(dataDir string) (*Task, error) {
	d, err := loadDistractors(dataDir)
	if err != nil {
		return nil, err
	}
	prior, err := dist.NewBoxUniform(fill(5, -3), fill(5, 3))
	if err != nil {
		return nil, err
	}
	sim := &taskSim{name: "slcp_distractors", thetaDim: 5, xDim: distractOut, sim: func(dst, theta []float64, rng *rand.Rand) error {
		var c [distractOut]float64
		slcpSim(c[:slcpX], theta, rng)
		d.sample(c[slcpX:], rng)
		for i, j := range d.perm {
			dst[i] = c[j]
		}
		return nil
	}}
	// No Likelihood: the distractors' scale matrices have condition numbers
	// up to 1e18, so the 92-dimensional Student-t density cannot be
	// evaluated in float64 (rounding x alone changes it by orders of
	// magnitude). The posterior is slcp's, given the 8 informative values.
	return &Task{Prior: prior, Simulator: sim, ThetaNames: defaultNames("theta", 5), XNames: defaultNames("x", distractOut)}, nil
}
