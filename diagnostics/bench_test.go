package diagnostics

import (
	"compress/bzip2"
	"context"
	"encoding/csv"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// sbibmDir is the shared sbibm reference data, beside the repository.
var sbibmDir = filepath.Join("..", "..", "shared", "sbibm")

// readReference reads an sbibm reference_posterior_samples.csv.bz2 (a
// header row, then one sample per row) or skips tb when it is absent.
func readReference(tb testing.TB, task string, obs int) *mat.Dense {
	tb.Helper()
	path := filepath.Join(sbibmDir, task, "num_observation_"+strconv.Itoa(obs), "reference_posterior_samples.csv.bz2")
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		tb.Skipf("sbibm reference data not found at %s (expected ../shared/sbibm beside the repository)", path)
	}
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(bzip2.NewReader(f)).ReadAll()
	if err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
	m := mat.NewDense(len(rows)-1, len(rows[0]), nil)
	for i, row := range rows[1:] {
		for j, cell := range row {
			v, err := strconv.ParseFloat(cell, 64)
			if err != nil {
				tb.Fatalf("%s line %d: %v", path, i+2, err)
			}
			m.Set(i, j, v)
		}
	}
	return m
}

// readObservation reads an sbibm observation.csv or true_parameters.csv.
func readRow(tb testing.TB, task string, obs int, file string) []float64 {
	tb.Helper()
	path := filepath.Join(sbibmDir, task, "num_observation_"+strconv.Itoa(obs), file)
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		tb.Skipf("sbibm data not found at %s", path)
	}
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil || len(rows) != 2 {
		tb.Fatalf("%s: %v (%d rows)", path, err, len(rows))
	}
	v := make([]float64, len(rows[1]))
	for j, cell := range rows[1] {
		if v[j], err = strconv.ParseFloat(cell, 64); err != nil {
			tb.Fatalf("%s: %v", path, err)
		}
	}
	return v
}

// TestC2STTwoMoonsReference: the two halves of sbibm's reference posterior
// samples for two_moons (a bimodal, crescent-shaped 2-D posterior) come from
// one distribution, so C2ST gives ½ within 4 standard deviations
// 4·√(¼/10000) = 0.02.
func TestC2STTwoMoonsReference(t *testing.T) {
	if testing.Short() {
		t.Skip("C2ST on 10,000 reference samples: skipped in -short mode")
	}
	t.Parallel()
	ref := readReference(t, "two_moons", 1)
	a := ref.Slice(0, 5000, 0, 2).(*mat.Dense)
	b := ref.Slice(5000, 10000, 0, 2).(*mat.Dense)
	res, err := C2ST(context.Background(), a, b, rand.New(rand.NewPCG(1, 1)), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("accuracy %.4f, epochs %v, %v", res.Accuracy, res.Epochs, res.Runtime)
	if math.Abs(res.Accuracy-0.5) > 0.02 {
		t.Errorf("C2ST between halves of the reference samples = %.4f, want 0.5 ± 0.02", res.Accuracy)
	}
}

// TestGaussianLinearReferenceMMD checks the package's two-sample tools on
// real data: sbibm's gaussian_linear reference samples for observation 1
// follow the analytic posterior N(x_o/2, 0.05·I) (TASKS.md), so a
// permutation MMD test against exact draws does not reject at 0.1%, while
// the same test against draws shifted by one posterior standard deviation
// in one of the 10 dimensions does (1/(B+1) = 0.005 is the smallest p).
func TestGaussianLinearReferenceMMD(t *testing.T) {
	t.Parallel()
	ref := readReference(t, "gaussian_linear", 1)
	xo := readRow(t, "gaussian_linear", 1, "observation.csv")
	ref = ref.Slice(0, 1000, 0, 10).(*mat.Dense)
	rng := rand.New(rand.NewPCG(2, 2))
	q := gaussPosterior{m: gaussianLinear, scale: 1}.Condition(xo)
	exact := mat.NewDense(1000, 10, nil)
	for i := 0; i < 1000; i++ {
		q.Sample(exact.RawRowView(i), rng)
	}
	res, err := MMDTest(context.Background(), ref, exact, rng, &MMDSettings{Permutations: 199})
	if err != nil {
		t.Fatal(err)
	}
	if res.PValue < 0.001 {
		t.Errorf("reference vs analytic posterior: p = %v, want ≥ 0.001", res.PValue)
	}
	shifted := mat.DenseCopyOf(exact)
	for i := 0; i < 1000; i++ {
		shifted.Set(i, 3, shifted.At(i, 3)+gaussianLinear.postStd())
	}
	res, err = MMDTest(context.Background(), ref, shifted, rng, &MMDSettings{Permutations: 199})
	if err != nil {
		t.Fatal(err)
	}
	if res.PValue > 0.01 {
		t.Errorf("reference vs shifted posterior: p = %v, want ≤ 0.01", res.PValue)
	}
}

// Benchmarks. Each is a one-line wrapper around a helper.

func benchCalibration(b *testing.B, kind string, T, L int) {
	b.ReportAllocs()
	rng := rand.New(rand.NewPCG(1, 1))
	theta, x := gaussianLinear.testSet(T, rng)
	post := gaussPosterior{m: gaussianLinear, scale: 1, batch: true}
	for b.Loop() {
		var err error
		switch kind {
		case "sbc":
			_, err = SBC(context.Background(), post, theta, x, L, rng, &SBCSettings{Reduce: []Reducer{NegLogProb}})
		case "coverage":
			_, err = Coverage(context.Background(), post, theta, x, L, rng, nil)
		case "tarp":
			_, err = TARP(context.Background(), post, theta, x, L, rng, nil)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSBCGaussianLinear1000x1000(b *testing.B) { benchCalibration(b, "sbc", 1000, 1000) }
func BenchmarkCoverageGaussianLinear1000x1000(b *testing.B) {
	benchCalibration(b, "coverage", 1000, 1000)
}
func BenchmarkTARPGaussianLinear1000x1000(b *testing.B) { benchCalibration(b, "tarp", 1000, 1000) }

func benchMMDTest(b *testing.B, n, perms int) {
	b.ReportAllocs()
	rng := rand.New(rand.NewPCG(1, 1))
	x := normalSample(n, 2, 0, rng)
	y := normalSample(n, 2, 0.2, rng)
	for b.Loop() {
		if _, err := MMDTest(context.Background(), x, y, rng, &MMDSettings{Permutations: perms}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMMDTest1000x1000Perm1000(b *testing.B) { benchMMDTest(b, 1000, 1000) }

// benchC2STGaussianLinear runs the benchmark's C2ST at sbibm's size: n
// reference samples of gaussian_linear observation 1 against n exact
// posterior draws (10-D, hidden layers of 100), reporting the accuracy.
func benchC2STGaussianLinear(b *testing.B, n int, s *C2STSettings) {
	b.ReportAllocs()
	ref := readReference(b, "gaussian_linear", 1)
	xo := readRow(b, "gaussian_linear", 1, "observation.csv")
	ref = ref.Slice(0, n, 0, 10).(*mat.Dense)
	rng := rand.New(rand.NewPCG(1, 1))
	q := gaussPosterior{m: gaussianLinear, scale: 1}.Condition(xo)
	exact := mat.NewDense(n, 10, nil)
	for i := 0; i < n; i++ {
		q.Sample(exact.RawRowView(i), rng)
	}
	var acc, epochs float64
	for b.Loop() {
		res, err := C2ST(context.Background(), ref, exact, rng, s)
		if err != nil {
			b.Fatal(err)
		}
		acc = res.Accuracy
		epochs = 0
		for _, e := range res.Epochs {
			epochs += float64(e) / float64(len(res.Epochs))
		}
	}
	b.ReportMetric(acc, "accuracy")
	b.ReportMetric(epochs, "epochs/fold")
}

func BenchmarkC2STGaussianLinear10k(b *testing.B) { benchC2STGaussianLinear(b, 10000, nil) }
func BenchmarkC2STFastGaussianLinear10k(b *testing.B) {
	benchC2STGaussianLinear(b, 10000, FastC2STSettings())
}

// benchC2STTwoMoons: reference halves of two_moons observation 1 (2-D).
func benchC2STTwoMoons(b *testing.B, s *C2STSettings) {
	b.ReportAllocs()
	ref := readReference(b, "two_moons", 1)
	a := ref.Slice(0, 5000, 0, 2).(*mat.Dense)
	c := ref.Slice(5000, 10000, 0, 2).(*mat.Dense)
	rng := rand.New(rand.NewPCG(1, 1))
	var acc float64
	for b.Loop() {
		res, err := C2ST(context.Background(), a, c, rng, s)
		if err != nil {
			b.Fatal(err)
		}
		acc = res.Accuracy
	}
	b.ReportMetric(acc, "accuracy")
}

func BenchmarkC2STTwoMoons5k(b *testing.B)     { benchC2STTwoMoons(b, nil) }
func BenchmarkC2STFastTwoMoons5k(b *testing.B) { benchC2STTwoMoons(b, FastC2STSettings()) }

func benchPredictive(b *testing.B, S int) {
	b.ReportAllocs()
	rng := rand.New(rand.NewPCG(1, 1))
	samples := normalSample(S, 10, 0, rng)
	xo := make([]float64, 10)
	sim := noiseSim(0.3)
	for b.Loop() {
		if _, err := PredictiveCheck(context.Background(), sim, samples, xo, rng, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPredictiveCheck10k(b *testing.B) { benchPredictive(b, 10000) }
