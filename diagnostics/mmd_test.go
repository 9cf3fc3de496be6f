package diagnostics

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// normalSample returns n×d standard normal draws, shifted by shift in
// column 0.
func normalSample(n, d int, shift float64, rng *rand.Rand) *mat.Dense {
	m := mat.NewDense(n, d, nil)
	for i := 0; i < n; i++ {
		for j := 0; j < d; j++ {
			m.Set(i, j, rng.NormFloat64())
		}
		m.Set(i, 0, m.At(i, 0)+shift)
	}
	return m
}

// bruteMMD evaluates Gretton et al.'s eqs. 3 and 5 literally.
func bruteMMD(x, y *mat.Dense, h float64) (biased, unbiased float64) {
	k := func(a, b []float64) float64 {
		s := 0.0
		for i := range a {
			s += (a[i] - b[i]) * (a[i] - b[i])
		}
		return math.Exp(-s / (2 * h * h))
	}
	n, _ := x.Dims()
	m, _ := y.Dims()
	var kxx, kxxOff, kyy, kyyOff, kxy float64
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			v := k(x.RawRowView(i), x.RawRowView(j))
			kxx += v
			if i != j {
				kxxOff += v
			}
		}
		for j := 0; j < m; j++ {
			kxy += k(x.RawRowView(i), y.RawRowView(j))
		}
	}
	for i := 0; i < m; i++ {
		for j := 0; j < m; j++ {
			v := k(y.RawRowView(i), y.RawRowView(j))
			kyy += v
			if i != j {
				kyyOff += v
			}
		}
	}
	nf, mf := float64(n), float64(m)
	biased = kxx/(nf*nf) + kyy/(mf*mf) - 2*kxy/(nf*mf)
	unbiased = kxxOff/(nf*(nf-1)) + kyyOff/(mf*(mf-1)) - 2*kxy/(nf*mf)
	return biased, unbiased
}

func TestMMDValues(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 7))
	x := normalSample(13, 3, 0, rng)
	y := normalSample(9, 3, 0.7, rng)

	// Median heuristic: median of the distances between distinct pooled
	// points.
	var d []float64
	pooled := append(rowsOf(x), rowsOf(y)...)
	for i := range pooled {
		for j := i + 1; j < len(pooled); j++ {
			d = append(d, euclidean(pooled[i], pooled[j]))
		}
	}
	slices.Sort(d)
	wantH := d[len(d)/2]
	if len(d)%2 == 0 {
		wantH = (d[len(d)/2-1] + d[len(d)/2]) / 2
	}

	for _, h := range []float64{0, 0.8} {
		res, err := MMD(x, y, &MMDSettings{Bandwidth: h})
		if err != nil {
			t.Fatal(err)
		}
		if h == 0 && math.Abs(res.Bandwidth-wantH) > 1e-12 {
			t.Errorf("median-heuristic bandwidth %v, want %v", res.Bandwidth, wantH)
		}
		b, u := bruteMMD(x, y, res.Bandwidth)
		if math.Abs(res.Biased-b) > 1e-12 || math.Abs(res.Unbiased-u) > 1e-12 {
			t.Errorf("h=%v: MMD (%v, %v), want (%v, %v)", h, res.Biased, res.Unbiased, b, u)
		}
		if !math.IsNaN(res.PValue) {
			t.Errorf("MMD PValue = %v, want NaN", res.PValue)
		}
		tr, err := MMDTest(context.Background(), x, y, rand.New(rand.NewPCG(1, 1)), &MMDSettings{Bandwidth: h, Permutations: 99})
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(tr.Biased-b) > 1e-12 || math.Abs(tr.Unbiased-u) > 1e-12 {
			t.Errorf("h=%v: MMDTest (%v, %v), want (%v, %v)", h, tr.Biased, tr.Unbiased, b, u)
		}
		if tr.PValue <= 0 || tr.PValue > 1 || tr.Permutations != 99 {
			t.Errorf("PValue %v with %d permutations", tr.PValue, tr.Permutations)
		}
	}
	// Identical samples: the biased statistic is exactly 0.
	if res, _ := MMD(x, x, &MMDSettings{Bandwidth: 1}); math.Abs(res.Biased) > 1e-12 {
		t.Errorf("MMD²_b(x, x) = %v, want 0", res.Biased)
	}
}

func rowsOf(m *mat.Dense) [][]float64 {
	r, _ := m.Dims()
	out := make([][]float64, r)
	for i := range out {
		out[i] = m.RawRowView(i)
	}
	return out
}

// TestMMDNull checks the null behaviour over independent repeats with both
// samples from N(0, I₂): the unbiased MMD² has mean zero, and the
// permutation p-values are uniform (their KS p-value is not below 0.001).
func TestMMDNull(t *testing.T) {
	t.Parallel()
	const reps, n, B = 150, 30, 199
	rng := rand.New(rand.NewPCG(21, 22))
	ps := make([]float64, reps)
	u := make([]float64, reps)
	for r := range ps {
		x := normalSample(n, 2, 0, rng)
		y := normalSample(n, 2, 0, rng)
		res, err := MMDTest(context.Background(), x, y, rng, &MMDSettings{Permutations: B, Workers: 2})
		if err != nil {
			t.Fatal(err)
		}
		ps[r], u[r] = res.PValue, res.Unbiased
	}
	// Mean of the unbiased statistic within 3.29 standard errors of 0.
	mean, sd := 0.0, 0.0
	for _, v := range u {
		mean += v
	}
	mean /= reps
	for _, v := range u {
		sd += (v - mean) * (v - mean)
	}
	sd = math.Sqrt(sd / (reps - 1))
	if math.Abs(mean) > z999*sd/math.Sqrt(reps) {
		t.Errorf("mean unbiased MMD² under the null = %.3g, want |.| < %.3g", mean, z999*sd/math.Sqrt(reps))
	}
	// P-values take values j/(B+1); against the continuous uniform the KS
	// test is conservative.
	slices.Sort(ps)
	d := 0.0
	for i, p := range ps {
		d = math.Max(d, math.Max(float64(i+1)/reps-p, p-float64(i)/reps))
	}
	if pv := KolmogorovPValue(d, reps); pv < 0.001 {
		t.Errorf("permutation p-values not uniform: KS %.3f, p %.3g", d, pv)
	}
}

// TestMMDDetectsShift: a shift of one standard deviation between samples of
// 100 is detected at any sensible level (the smallest attainable p-value is
// 1/(B+1) = 0.005).
func TestMMDDetectsShift(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(31, 32))
	x := normalSample(100, 2, 0, rng)
	y := normalSample(100, 2, 1, rng)
	var prev *MMDResult
	for _, w := range []int{1, 3} {
		res, err := MMDTest(context.Background(), x, y, rand.New(rand.NewPCG(5, 5)), &MMDSettings{Permutations: 199, Workers: w})
		if err != nil {
			t.Fatal(err)
		}
		if res.PValue > 0.01 || res.Unbiased <= 0 {
			t.Errorf("shifted samples: p = %v, MMD²_u = %v; want p ≤ 0.01 and a positive statistic", res.PValue, res.Unbiased)
		}
		if prev != nil && prev.PValue != res.PValue {
			t.Errorf("p-value depends on Workers: %v vs %v", prev.PValue, res.PValue)
		}
		prev = res
	}
}

func TestMMDErrors(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 1))
	x := normalSample(5, 2, 0, rng)
	one := normalSample(1, 2, 0, rng)
	three := normalSample(5, 3, 0, rng)
	nan := mat.DenseCopyOf(x)
	nan.Set(0, 0, math.Inf(1))
	same := mat.NewDense(5, 2, nil) // all points equal: median distance 0
	tests := []struct {
		name string
		x, y *mat.Dense
		s    *MMDSettings
		want error
	}{
		{"nil", nil, x, nil, ErrEmpty},
		{"one row", x, one, nil, ErrEmpty},
		{"columns", x, three, nil, ErrDim},
		{"infinite", x, nan, nil, ErrNonFinite},
		{"negative bandwidth", x, x, &MMDSettings{Bandwidth: -1}, ErrSettings},
		{"zero median", same, same, nil, ErrSettings},
	}
	for _, tt := range tests {
		if _, err := MMD(tt.x, tt.y, tt.s); !errors.Is(err, tt.want) {
			t.Errorf("MMD %s: error %v, want %v", tt.name, err, tt.want)
		}
		if _, err := MMDTest(context.Background(), tt.x, tt.y, rng, tt.s); !errors.Is(err, tt.want) {
			t.Errorf("MMDTest %s: error %v, want %v", tt.name, err, tt.want)
		}
	}
	if _, err := MMDTest(context.Background(), x, x, nil, nil); !errors.Is(err, ErrSettings) {
		t.Errorf("MMDTest without rng: error %v, want ErrSettings", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := MMDTest(ctx, x, x, rng, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("MMDTest with cancelled context: error %v, want context.Canceled", err)
	}
}

func TestMisspecification(t *testing.T) {
	t.Parallel()
	// Null: observations from the simulator. Over repeats the p-values are
	// uniform (KS p-value not below 0.001).
	const reps = 100
	rng := rand.New(rand.NewPCG(41, 42))
	ps := make([]float64, reps)
	for r := range ps {
		x := normalSample(400, 3, 0, rng)
		xo := normalSample(1, 3, 0, rng)
		res, err := Misspecification(context.Background(), xo, x, rng, &MisspecificationSettings{Draws: 199})
		if err != nil {
			t.Fatal(err)
		}
		ps[r] = res.PValue
	}
	slices.Sort(ps)
	d := 0.0
	for i, p := range ps {
		d = math.Max(d, math.Max(float64(i+1)/reps-p, p-float64(i)/reps))
	}
	if pv := KolmogorovPValue(d, reps); pv < 0.001 {
		t.Errorf("null p-values not uniform: KS %.3f, p %.3g", d, pv)
	}

	// An observation 6 standard deviations away from every simulation: no
	// null draw (from N(0, I)) reaches its MMD, so p = 1/(1+Draws).
	x := normalSample(400, 3, 0, rng)
	far := mat.NewDense(1, 3, []float64{6, 0, 0})
	res, err := Misspecification(context.Background(), far, x, rng, &MisspecificationSettings{Draws: 199})
	if err != nil {
		t.Fatal(err)
	}
	if res.PValue != 1.0/200 {
		t.Errorf("far observation: p = %v, want %v", res.PValue, 1.0/200)
	}
	// Several observations, one dimension on a large scale: with
	// standardisation a shift of 1.5 standard deviations in the small-scale
	// dimension of 20 observations is detected.
	big := normalSample(600, 2, 0, rng)
	obs := normalSample(20, 2, 0, rng)
	for i := 0; i < 600; i++ {
		big.Set(i, 1, 1000*big.At(i, 1))
	}
	for i := 0; i < 20; i++ {
		obs.Set(i, 0, obs.At(i, 0)+1.5)
		obs.Set(i, 1, 1000*obs.At(i, 1))
	}
	res, err = Misspecification(context.Background(), obs, big, rng, &MisspecificationSettings{Draws: 199, Standardize: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.PValue > 0.01 {
		t.Errorf("standardised shifted observations: p = %v, want ≤ 0.01", res.PValue)
	}

	for _, tt := range []struct {
		name  string
		xo, x *mat.Dense
		s     *MisspecificationSettings
		want  error
	}{
		{"columns", mat.NewDense(1, 2, nil), x, nil, ErrDim},
		{"empty", nil, x, nil, ErrEmpty},
		{"small pool", normalSample(5, 3, 0, rng), normalSample(8, 3, 0, rng), nil, ErrEmpty},
		{"reference too big", far, x, &MisspecificationSettings{Reference: 400}, ErrSettings},
	} {
		if _, err := Misspecification(context.Background(), tt.xo, tt.x, rng, tt.s); !errors.Is(err, tt.want) {
			t.Errorf("%s: error %v, want %v", tt.name, err, tt.want)
		}
	}
}
