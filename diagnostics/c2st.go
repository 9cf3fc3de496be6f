package diagnostics

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"gonum.org/v1/gonum/mat"

	"github.com/gosbi/gosbi/nn"
)

// C2STSettings tunes C2ST. The zero value (or a nil pointer) reproduces
// sbibm's metric (sbibm/metrics/c2st.py, which trains scikit-learn's
// MLPClassifier); FastC2STSettings gives the interactive variant.
type C2STSettings struct {
	// Folds is the number of cross-validation folds; 0 means 5.
	Folds int
	// Stratified makes every fold hold the two classes in the proportions
	// of the whole data. sbibm's KFold does not stratify (the default).
	Stratified bool
	// Hidden is the width of each of the two hidden ReLU layers; 0 means
	// 10·D.
	Hidden int
	// MaxEpochs caps the passes over the training data; 0 means 10000
	// (sbibm's max_iter).
	MaxEpochs int
	// LearningRate is Adam's step size; 0 means 1e-3.
	LearningRate float64
	// BatchSize is the minibatch size; 0 means min(200, training rows). The
	// last, partial batch of an epoch is used.
	BatchSize int
	// L2 is the penalty α·‖W‖²/(2·batch) on the weights (not the biases)
	// added to the loss, as scikit-learn's alpha; 0 means 1e-4, a negative
	// value none.
	L2 float64
	// Tol and Patience define convergence: training stops once the
	// monitored quantity has failed to improve by Tol for more than
	// Patience consecutive epochs. 0 means 1e-4 and 10.
	Tol      float64
	Patience int
	// EarlyStopping holds out ValidationFraction of each training fold
	// (stratified) and monitors accuracy on it instead of the training loss,
	// restoring the best weights at the end (scikit-learn's
	// early_stopping=True). ValidationFraction 0 means 0.1.
	EarlyStopping      bool
	ValidationFraction float64
	// NoZScore disables the standardisation of both samples by the mean
	// and standard deviation of the first.
	NoZScore bool
	// Workers is the number of folds trained at once; 0 means GOMAXPROCS.
	// The result does not depend on it.
	Workers int
	// OnProgress, if set, is called after every finished fold with the
	// number done and the total, one call at a time; a non-nil error stops
	// the run and is returned wrapped.
	OnProgress func(done, total int) error
}

// FastC2STSettings returns settings for a quicker, slightly noisier C2ST for
// interactive use: early stopping on a 10% validation split with patience
// 5, and at most 200 epochs. The architecture, optimiser and folds are
// sbibm's.
func FastC2STSettings() *C2STSettings {
	return &C2STSettings{EarlyStopping: true, Patience: 5, MaxEpochs: 200}
}

// C2STResult is the outcome of a classifier two-sample test.
type C2STResult struct {
	// Accuracy is the mean held-out accuracy over the folds: 0.5 when the
	// classifier cannot tell the samples apart, 1 when it separates them.
	Accuracy float64
	// FoldAccuracy and Epochs give, per fold, the held-out accuracy and the
	// number of training epochs.
	FoldAccuracy []float64
	Epochs       []int
	// Runtime is the wall-clock time of the test.
	Runtime time.Duration
}

// C2ST is the classifier two-sample test (Lopez-Paz and Oquab, "Revisiting
// classifier two-sample tests", ICLR 2017) as the sbibm benchmark computes
// it (Lueckmann et al., "Benchmarking simulation-based inference", AISTATS
// 2021): x (label 0, e.g. reference posterior samples) and y (label 1, e.g.
// approximate posterior samples) are z-scored by the mean and standard
// deviation (denominator n−1) of x, a classifier is trained on all but one
// of k shuffled folds and scored on the held-out one, and the accuracies are
// averaged.
//
// The classifier and its training follow scikit-learn's MLPClassifier with
// sbibm's arguments: two hidden layers of 10·D ReLU units and a logistic
// output, Glorot-uniform initialisation (bound √(6/(fan_in+fan_out)), biases
// too), binary cross-entropy plus α‖W‖²/(2·batch) with α = 1e-4, Adam with
// learning rate 1e-3, minibatches of min(200, n) reshuffled every epoch,
// stopping when the epoch's mean training loss has not improved by 1e-4
// for more than 10 epochs or after 10000 epochs; a point is assigned to
// class 1 when its predicted probability exceeds ½. Differences: the random
// streams are Go's, not NumPy's, so the numbers agree with sbibm's in
// distribution, not digit for digit, and nn's Adam adds ε to √v̂ rather than
// to √v (an immaterial change of ε). A column of x with zero standard
// deviation is left unscaled rather than divided by zero.
//
// The fold assignment is drawn from rng first; fold f then trains with
// rand.NewPCG(seed, f), seed the next Uint64 of rng, so the result does not
// depend on Workers. Both samples need at least Folds rows. It returns ctx's
// error if ctx is cancelled (checked every epoch).
func C2ST(ctx context.Context, x, y *mat.Dense, rng *rand.Rand, s *C2STSettings) (*C2STResult, error) {
	start := time.Now()
	if s == nil {
		s = &C2STSettings{}
	}
	if rng == nil {
		return nil, fmt.Errorf("diagnostics: C2ST needs an rng: %w", ErrSettings)
	}
	c, err := s.resolve()
	if err != nil {
		return nil, fmt.Errorf("diagnostics: C2ST: %w", err)
	}
	n, m, err := checkTwoSamples(x, y)
	if err != nil {
		return nil, fmt.Errorf("diagnostics: C2ST: %w", err)
	}
	if n < c.Folds || m < c.Folds {
		return nil, fmt.Errorf("diagnostics: C2ST: %d and %d rows for %d folds: %w", n, m, c.Folds, ErrEmpty)
	}
	_, dim := x.Dims()
	if c.Hidden == 0 {
		c.Hidden = 10 * dim
	}
	N := n + m
	data := nn.New(N, dim)
	labels := nn.New(N, 1)
	for i := 0; i < n; i++ {
		copy(data.Row(i), x.RawRowView(i))
	}
	for i := 0; i < m; i++ {
		copy(data.Row(n+i), y.RawRowView(i))
		labels.Data[n+i] = 1
	}
	if !c.NoZScore {
		mean, std := columnMeanStd(x)
		for i := 0; i < N; i++ {
			row := data.Row(i)
			for j := range row {
				sd := std[j]
				if sd == 0 {
					sd = 1
				}
				row[j] = (row[j] - mean[j]) / sd
			}
		}
	}
	folds := kFolds(n, m, c.Folds, c.Stratified, rng)
	seed := rng.Uint64()
	res := &C2STResult{FoldAccuracy: make([]float64, c.Folds), Epochs: make([]int, c.Folds)}
	err = forEach(ctx, c.Folds, workerCount(c.Workers, c.Folds), c.OnProgress, func(_, f int) error {
		r := rand.New(rand.NewPCG(seed, uint64(f)))
		var train []int
		for g, idx := range folds {
			if g != f {
				train = append(train, idx...)
			}
		}
		mlp, epochs, err := trainClassifier(ctx, data, labels, train, &c, r)
		if err != nil {
			return err
		}
		res.FoldAccuracy[f] = accuracy(nn.NewNoGradTape(), mlp, data, labels, folds[f])
		res.Epochs[f] = epochs
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, a := range res.FoldAccuracy {
		res.Accuracy += a
	}
	res.Accuracy /= float64(c.Folds)
	res.Runtime = time.Since(start)
	return res, nil
}

// resolve returns a copy of s with defaults filled in, or an error.
func (s *C2STSettings) resolve() (C2STSettings, error) {
	c := *s
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.Folds, 5)
	def(&c.MaxEpochs, 10000)
	def(&c.Patience, 10)
	if c.LearningRate == 0 {
		c.LearningRate = 1e-3
	}
	if c.L2 == 0 {
		c.L2 = 1e-4
	}
	if c.L2 < 0 {
		c.L2 = 0
	}
	if c.Tol == 0 {
		c.Tol = 1e-4
	}
	if c.ValidationFraction == 0 {
		c.ValidationFraction = 0.1
	}
	switch {
	case c.Folds < 2, c.MaxEpochs < 1, c.Patience < 1, c.Hidden < 0, c.BatchSize < 0,
		!(c.LearningRate > 0), math.IsInf(c.LearningRate, 0), !(c.Tol >= 0),
		!(c.ValidationFraction > 0 && c.ValidationFraction < 1):
		return c, fmt.Errorf("settings %+v: %w", *s, ErrSettings)
	}
	return c, nil
}

// kFolds splits the indices of n rows of class 0 (0..n−1) and m of class 1
// (n..n+m−1) into k shuffled folds of near-equal size (the first N mod k
// folds one larger, as scikit-learn's KFold); with stratified, each class
// is split so separately and fold f joins part f of both.
func kFolds(n, m, k int, stratified bool, rng *rand.Rand) [][]int {
	split := func(idx []int, folds [][]int) {
		N := len(idx)
		at := 0
		for f := 0; f < k; f++ {
			size := N / k
			if f < N%k {
				size++
			}
			folds[f] = append(folds[f], idx[at:at+size]...)
			at += size
		}
	}
	folds := make([][]int, k)
	if !stratified {
		split(rng.Perm(n+m), folds)
		return folds
	}
	p0 := rng.Perm(n)
	p1 := rng.Perm(m)
	for i := range p1 {
		p1[i] += n
	}
	split(p0, folds)
	split(p1, folds)
	return folds
}

// trainClassifier trains a fresh classifier on the rows train of data and
// returns it with the number of epochs run.
func trainClassifier(ctx context.Context, data, labels *nn.Tensor, train []int, c *C2STSettings, rng *rand.Rand) (*nn.MLP, int, error) {
	dim := data.Cols
	mlp := nn.NewMLP("c2st", []int{dim, c.Hidden, c.Hidden, 1}, nn.DefaultActivation, rng)
	// Glorot-uniform initialisation, weights and biases, as scikit-learn.
	for _, l := range mlp.Layers {
		bound := math.Sqrt(6 / float64(l.In()+l.Out()))
		nn.InitUniform(l.W, bound, rng)
		nn.InitUniform(l.B, bound, rng)
	}
	train = append([]int(nil), train...)
	var val []int
	if c.EarlyStopping {
		// Stratified hold-out: the first ⌈fraction·n_c⌉ of each class after a
		// shuffle (scikit-learn's train_test_split with stratify).
		rng.Shuffle(len(train), func(i, j int) { train[i], train[j] = train[j], train[i] })
		var cls [2][]int
		for _, i := range train {
			l := int(labels.Data[i])
			cls[l] = append(cls[l], i)
		}
		train = train[:0]
		for _, idx := range cls {
			nv := int(math.Ceil(c.ValidationFraction * float64(len(idx))))
			nv = max(0, min(nv, len(idx)-1))
			val = append(val, idx[:nv]...)
			train = append(train, idx[nv:]...)
		}
	}
	early := c.EarlyStopping && len(val) > 0 // else too few rows to hold out
	params := mlp.Params()
	opt := nn.NewAdam(params, c.LearningRate)
	bs := c.BatchSize
	if bs == 0 {
		bs = 200
	}
	bs = min(bs, len(train))
	tp := nn.NewTape()
	evalTape := nn.NewNoGradTape()
	bestLoss, bestScore := math.Inf(1), math.Inf(-1)
	var best [][]float64
	if early {
		best = make([][]float64, len(params))
		for i, p := range params {
			best[i] = append([]float64(nil), p.Data...)
		}
	}
	stall := 0
	epoch := 0
	for epoch < c.MaxEpochs {
		if err := ctx.Err(); err != nil {
			return nil, 0, err
		}
		epoch++
		rng.Shuffle(len(train), func(i, j int) { train[i], train[j] = train[j], train[i] })
		total := 0.0
		for at := 0; at < len(train); at += bs {
			idx := train[at:min(at+bs, len(train))]
			b := float64(len(idx))
			tp.Reset()
			xb := tp.GatherRows(data, idx)
			yb := tp.GatherRows(labels, idx)
			z := mlp.Forward(tp, xb)
			loss := tp.Mean(tp.Sub(tp.Softplus(z), tp.Mul(yb, z)))
			tp.Backward(loss)
			l := loss.Item()
			if c.L2 > 0 {
				// Penalty α‖W‖²/(2b) and its gradient αW/b, weights only.
				sq := 0.0
				for _, layer := range mlp.Layers {
					g := layer.W.Grad
					for i, w := range layer.W.Data {
						sq += w * w
						g[i] += c.L2 / b * w
					}
				}
				l += 0.5 * c.L2 * sq / b
			}
			opt.Step()
			opt.ZeroGrad()
			total += l * b
		}
		if early {
			score := accuracy(evalTape, mlp, data, labels, val)
			if score < bestScore+c.Tol {
				stall++
			} else {
				stall = 0
			}
			if score > bestScore {
				bestScore = score
				for i, p := range params {
					copy(best[i], p.Data)
				}
			}
		} else {
			loss := total / float64(len(train))
			if loss > bestLoss-c.Tol {
				stall++
			} else {
				stall = 0
			}
			bestLoss = math.Min(bestLoss, loss)
		}
		if stall > c.Patience {
			break
		}
	}
	if early {
		for i, p := range params {
			copy(p.Data, best[i])
		}
	}
	return mlp, epoch, nil
}

// accuracy returns the fraction of rows idx of data whose predicted class
// (logit > 0, i.e. probability > ½) equals their label, evaluating mlp on
// the no-grad tape tp.
func accuracy(tp *nn.Tape, mlp *nn.MLP, data, labels *nn.Tensor, idx []int) float64 {
	if len(idx) == 0 {
		return math.NaN()
	}
	tp.Reset()
	z := mlp.Forward(tp, tp.GatherRows(data, idx))
	right := 0
	for r, i := range idx {
		if (z.Data[r] > 0) == (labels.Data[i] == 1) {
			right++
		}
	}
	return float64(right) / float64(len(idx))
}
