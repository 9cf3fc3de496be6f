package sbi

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"

	"github.com/gosbi/gosbi/dist"
	"github.com/gosbi/gosbi/flows"
	"github.com/gosbi/gosbi/nn"
	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat"
)

// The losses of NRE.Train (NREConfig.Loss).
const (
	// LossNREA is NRE-A (Hermans, Begy & Louppe 2020, "Likelihood-free
	// MCMC with amortized approximate ratio estimators"): binary
	// cross-entropy between pairs (θ_i, x_i) of the joint, label 1, and
	// shuffled pairs (θ_j, x_i), j ≠ i from the same batch, label 0:
	// -½ [mean log σ(h(θ_i, x_i)) + mean log σ(-h(θ_j, x_i))].
	LossNREA Loss = "nre-a"
	// LossNREB is NRE-B (Durkan, Murray & Papamakarios 2020, "On
	// contrastive learning for likelihood-free inference"): each x_i is
	// classified against NumAtoms θ, its own and NumAtoms-1 others of the
	// batch: -mean_i [h(θ_i, x_i) - logsumexp_k h(θ_ik, x_i)].
	LossNREB Loss = "nre-b"
	// LossNREC is NRE-C (Miller, Weniger & Forré 2022, "Contrastive neural
	// ratio estimation"): K+1-way classification with K = NumClasses,
	// class 0 "all K θ marginal" and class k "θ_k drawn with x"; with
	// logits log γ + h for the θ classes and log K for class 0,
	// -mean [p₀ log q(y=0 | K marginal θ, x) + (γ/(1+γ)) log q(y=1 | θ_i
	// and K-1 marginal θ, x)], p₀ = 1/(1+γ). Its optimal h is exactly log
	// p(x | θ)/p(x).
	LossNREC Loss = "nre-c"
	// LossBNRE is balanced NRE (Delaunoy et al. 2022, "Towards reliable
	// simulation-based inference with balanced neural ratio estimation"):
	// the NRE-A loss plus λ (mean σ(h_joint) + mean σ(h_marginal) - 1)².
	LossBNRE Loss = "bnre"
)

// NREConfig fixes the classifier and objective of a neural ratio
// estimator. The zero value (and a nil *NREConfig) is sbi's default
// classifier_nn("resnet") trained with NRE-A.
type NREConfig struct {
	// Loss is LossNREA (the zero value), LossNREB, LossNREC or LossBNRE.
	Loss Loss
	// NumClasses is NRE-C's K; zero means 5 (sbi). It is capped at the
	// batch size minus one.
	NumClasses int
	// Gamma is NRE-C's γ = K p_K / p_0, the odds of a joint class; zero
	// means 1 (sbi).
	Gamma float64
	// Lambda is the strength of BNRE's balancing term; zero means 100
	// (sbi's regularization_strength).
	Lambda float64
	// Hidden is the width of the residual network; zero means 50.
	Hidden int
	// Blocks is the number of residual blocks; zero means 2.
	Blocks int
	// Activation is the nonlinearity; the zero value is ReLU (sbi's).
	Activation nn.Activation
	// Embedding, if non-nil, is an embedding net for x trained with the
	// classifier: MLPEmbedding (applied to the z-scored x) or
	// DeepSetsEmbedding (which standardises the trials itself, replacing
	// the z-scoring of x).
	Embedding Embedding
}

func (c NREConfig) withDefaults() (NREConfig, error) {
	if c.Loss == "" {
		c.Loss = LossNREA
	}
	if c.NumClasses == 0 {
		c.NumClasses = 5
	}
	if c.Gamma == 0 {
		c.Gamma = 1
	}
	if c.Lambda == 0 {
		c.Lambda = 100
	}
	if c.Hidden == 0 {
		c.Hidden = 50
	}
	if c.Blocks == 0 {
		c.Blocks = 2
	}
	switch {
	case c.Loss != LossNREA && c.Loss != LossNREB && c.Loss != LossNREC && c.Loss != LossBNRE:
		return c, fmt.Errorf("sbi: NREConfig: unknown loss %q (want %s, %s, %s or %s): %w", c.Loss, LossNREA, LossNREB, LossNREC, LossBNRE, ErrInput)
	case c.NumClasses < 1:
		return c, fmt.Errorf("sbi: NREConfig: NumClasses %d: %w", c.NumClasses, ErrInput)
	case !(c.Gamma > 0) || math.IsInf(c.Gamma, 0):
		return c, fmt.Errorf("sbi: NREConfig: Gamma %v: %w", c.Gamma, ErrInput)
	case !(c.Lambda >= 0) || math.IsInf(c.Lambda, 0):
		return c, fmt.Errorf("sbi: NREConfig: Lambda %v: %w", c.Lambda, ErrInput)
	case c.Hidden < 1 || c.Hidden > maxEmbedSize:
		return c, fmt.Errorf("sbi: NREConfig: Hidden %d: %w", c.Hidden, ErrInput)
	case c.Blocks < 0 || c.Blocks > 64:
		return c, fmt.Errorf("sbi: NREConfig: Blocks %d: %w", c.Blocks, ErrInput)
	}
	return c, nil
}

// classifier is the ratio classifier of NRE: h(θ, x), a residual network
// (nflows' ResidualNet without context, as sbi's "resnet" classifier) on
// the concatenation of z-scored θ and the z-scored (and embedded) x: a
// linear layer to Hidden units, Blocks pre-activation residual blocks, a
// linear layer to one logit.
type classifier struct {
	thMean, thStd *nn.Tensor // 1×dθ constants
	xMean, xStd   *nn.Tensor // 1×dx constants; nil with a DeepSets embedding
	embed         nn.Module  // nil: identity
	spec          *embeddingSpec
	in            *nn.Linear
	blocks        []*nn.Residual
	out           *nn.Linear
	dt, dx        int
	cfg           NREConfig
	tapes         sync.Pool // NoGrad tapes for evaluation
}

// zscore returns the column means and unbiased standard deviations of m,
// with flows' floor for constant columns (flows.FloorStd: std 1 when the
// std is below 1e-12·max(1, |mean|), as flows' ZScoreIndependent). An
// absolute floor (sbi's 1e-14) would let a column that varies only at the
// level of float64 rounding, relative to its magnitude, be scaled up to unit
// variance: pure noise the classifier could fit.
func zscore(m *mat.Dense) (mean, std []float64) {
	n, d := m.Dims()
	mean, std = make([]float64, d), make([]float64, d)
	col := make([]float64, n)
	for j := range d {
		mat.Col(col, j, m)
		mu, sd := stat.MeanStdDev(col, nil)
		mean[j] = mu
		std[j], _ = flows.FloorStd(mu, sd, n)
	}
	return mean, std
}

// newClassifier builds the classifier for the training rows theta, x.
func newClassifier(cfg NREConfig, theta, x *mat.Dense, rng *rand.Rand) (*classifier, error) {
	thM, thS := zscore(theta)
	var xM, xS []float64
	if _, deepSets := cfg.Embedding.(DeepSetsEmbedding); !deepSets {
		xM, xS = zscore(x)
	}
	return newClassifierStats(cfg, thM, thS, xM, xS, x, rng)
}

// newClassifierStats builds the classifier with the given z-scoring
// statistics of θ and x (xM and xS are ignored with a DeepSetsEmbedding);
// the rows x are only passed to the embedding's build (an MLPEmbedding
// reads only their number of columns, a DeepSetsEmbedding fits its own
// statistics to them).
func newClassifierStats(cfg NREConfig, thM, thS, xM, xS []float64, x *mat.Dense, rng *rand.Rand) (*classifier, error) {
	dt := len(thM)
	_, dx := x.Dims()
	c := &classifier{dt: dt, dx: dx, cfg: cfg}
	c.thMean, c.thStd = nn.FromSlice(1, dt, thM), nn.FromSlice(1, dt, thS)
	xFeatures := dx
	_, deepSets := cfg.Embedding.(DeepSetsEmbedding)
	if !deepSets {
		c.xMean, c.xStd = nn.FromSlice(1, dx, xM), nn.FromSlice(1, dx, xS)
	}
	if cfg.Embedding != nil {
		xe := x
		if !deepSets {
			xe = mat.DenseCopyOf(x)
			r, _ := xe.Dims()
			for i := range r {
				row := xe.RawRowView(i)
				for j := range row {
					row[j] = (row[j] - c.xMean.Data[j]) / c.xStd.Data[j]
				}
			}
		}
		e, spec, err := cfg.Embedding.build(xe, rng)
		if err != nil {
			return nil, err
		}
		c.embed, c.spec = e, spec
		xFeatures = spec.Out
	}
	c.in = nn.NewLinear("clf.in", dt+xFeatures, cfg.Hidden, true, rng)
	for b := range cfg.Blocks {
		r := nn.NewResidual(fmt.Sprintf("clf.block%d", b), cfg.Hidden, cfg.Activation, rng)
		// nflows' ResidualBlock starts its last layer near zero so that
		// every block starts near the identity.
		nn.InitUniform(r.L2.Params()[0], 1e-3, rng)
		if ps := r.L2.Params(); len(ps) > 1 {
			nn.InitUniform(ps[1], 1e-3, rng)
		}
		c.blocks = append(c.blocks, r)
	}
	c.out = nn.NewLinear("clf.out", cfg.Hidden, 1, true, rng)
	return c, nil
}

// params returns the trainable parameters in a stable order.
func (c *classifier) params() []*nn.Tensor {
	var ps []*nn.Tensor
	if c.embed != nil {
		ps = append(ps, c.embed.Params()...)
	}
	ps = append(ps, c.in.Params()...)
	for _, b := range c.blocks {
		ps = append(ps, b.Params()...)
	}
	return append(ps, c.out.Params()...)
}

// logits returns h(θ_j, x_j) for every row pair as an M×1 tensor.
func (c *classifier) logits(tp *nn.Tape, theta, x *nn.Tensor) *nn.Tensor {
	th := tp.Div(tp.Sub(theta, c.thMean), c.thStd)
	xs := x
	if c.xMean != nil {
		xs = tp.Div(tp.Sub(x, c.xMean), c.xStd)
	}
	if c.embed != nil {
		xs = c.embed.Forward(tp, xs)
	}
	h := c.in.Forward(tp, tp.ConcatCols(th, xs))
	for _, b := range c.blocks {
		h = b.Forward(tp, h)
	}
	return c.out.Forward(tp, h)
}

// clone returns an independent copy with the same weights.
func (c *classifier) clone() (*classifier, error) {
	d := &classifier{
		thMean: c.thMean.Clone(), thStd: c.thStd.Clone(), dt: c.dt, dx: c.dx, cfg: c.cfg, spec: c.spec,
	}
	if c.xMean != nil {
		d.xMean, d.xStd = c.xMean.Clone(), c.xStd.Clone()
	}
	rng := rand.New(rand.NewPCG(0, 0))
	xFeatures := c.dx
	if c.spec != nil {
		m, err := c.spec.module(rng)
		if err != nil {
			return nil, err
		}
		d.embed, xFeatures = m, c.spec.Out
	}
	d.in = nn.NewLinear("clf.in", c.dt+xFeatures, c.cfg.Hidden, true, rng)
	for b := range c.blocks {
		d.blocks = append(d.blocks, nn.NewResidual(fmt.Sprintf("clf.block%d", b), c.cfg.Hidden, c.cfg.Activation, rng))
	}
	d.out = nn.NewLinear("clf.out", c.cfg.Hidden, 1, true, rng)
	src, dst := c.params(), d.params()
	if len(src) != len(dst) {
		return nil, fmt.Errorf("sbi: copying the classifier: %d parameters, copy has %d: %w", len(src), len(dst), ErrInput)
	}
	for i := range src {
		if len(src[i].Data) != len(dst[i].Data) {
			return nil, fmt.Errorf("sbi: copying the classifier: parameter %s of size %d, copy %d: %w", src[i].Name, len(src[i].Data), len(dst[i].Data), ErrInput)
		}
		copy(dst[i].Data, src[i].Data)
	}
	return d, nil
}

// ratioModel is the potential model of NRE: t(θ, x) = h(θ, x).
type ratioModel struct{ c *classifier }

func (m ratioModel) dims() (int, int) { return m.c.dt, m.c.dx }
func (m ratioModel) kind() string     { return "ratio" }

func (m ratioModel) pairLogs(dst []float64, theta, x *mat.Dense) {
	tp, _ := m.c.tapes.Get().(*nn.Tape)
	if tp == nil {
		tp = nn.NewNoGradTape()
	}
	defer m.c.tapes.Put(tp)
	tp.Reset()
	n, _ := theta.Dims()
	th := tp.New(n, m.c.dt)
	copyDense(th.Data, theta)
	xs := tp.New(n, m.c.dx)
	copyDense(xs.Data, x)
	copy(dst[:n], m.c.logits(tp, th, xs).Data)
}

func (m ratioModel) pairTerms(tp *nn.Tape, theta, x *nn.Tensor) *nn.Tensor {
	return m.c.logits(tp, theta, x)
}

// copyDense copies the rows of m into the row-major dst.
func copyDense(dst []float64, m *mat.Dense) {
	r, c := m.Dims()
	raw := m.RawMatrix()
	if raw.Stride == c {
		copy(dst, raw.Data[:r*c])
		return
	}
	for i := range r {
		copy(dst[i*c:(i+1)*c], m.RawRowView(i))
	}
}

// NRE is a neural ratio estimator: a classifier h(θ, x) trained to tell
// pairs (θ, x) of the joint p(θ, x) from pairs of the product of marginals,
// whose logit estimates the likelihood-to-evidence ratio log r(θ, x) = log
// p(x | θ)/p(x) (up to a function of x for NRE-B). The loss is chosen by
// NREConfig.Loss: NRE-A (default), NRE-B, NRE-C or BNRE; the classifier is
// sbi's residual network on z-scored θ and x with an optional embedding net
// for x. The posterior is the potential Σ_k h(θ, x_k) + log p(θ), sampled by
// MCMC (Posterior), rejection or importance sampling (Potential).
//
// Use it in rounds, as sbi: AppendSimulations, Train, Posterior; for the
// sequential SNRE draw the next round's θ from the posterior at x_o (see
// InferNRE) and train on all rounds with the same loss, as sbi's SNRE_A/B/C.
// Invalid simulations are an error unless the caller opts in (see
// AppendOptions.ExcludeInvalid).
//
// An NRE is not safe for concurrent use; the posteriors it returns are
// independent copies.
type NRE struct {
	simStore
	warnings []string
	cfg      NREConfig
	clf      *classifier
	trains   int
}

// NewNRE returns an untrained ratio estimator for the prior with
// configuration cfg (nil means the defaults). The error wraps ErrInput for a
// nil prior or an invalid configuration.
func NewNRE(prior dist.Distribution, cfg *NREConfig) (*NRE, error) {
	if prior == nil || prior.Dim() < 1 {
		return nil, fmt.Errorf("sbi: NewNRE: nil prior or prior of no dimension: %w", ErrInput)
	}
	var c NREConfig
	if cfg != nil {
		c = *cfg
	}
	c, err := c.withDefaults()
	if err != nil {
		return nil, err
	}
	return &NRE{simStore: simStore{prior: prior}, cfg: c}, nil
}

// Prior returns the prior the estimator was created with.
func (e *NRE) Prior() dist.Distribution { return e.prior }

// Config returns the configuration with defaults filled in.
func (e *NRE) Config() NREConfig { return e.cfg }

// Rounds returns a description of every AppendSimulations call so far.
func (e *NRE) Rounds() []RoundInfo { return append([]RoundInfo(nil), e.rounds...) }

// NumSimulations returns the number of valid simulations appended so far.
func (e *NRE) NumSimulations() int { return e.n }

// AppendSimulations adds a round of simulations, with the same rules as
// NLE.AppendSimulations: rows with NaN or ±Inf values are an error wrapping
// ErrInvalidData unless opts.ExcludeInvalid is set.
func (e *NRE) AppendSimulations(theta, x *mat.Dense, opts *AppendOptions) (int, error) {
	return e.add("NRE", theta, x, opts)
}

// AppendSource makes src the estimator's training data instead of
// simulations held in memory, with the rules of NLE.AppendSource, and Train
// streams it in block mode.
func (e *NRE) AppendSource(ctx context.Context, src Source) (int, error) {
	return e.addSource(ctx, "NRE", src)
}

// Train fits the classifier to all simulations appended so far with the
// configured loss and sbi's training loop (flows.Fit: Adam, batch 200,
// learning rate 5e-4, 10% validation, early stopping after 20 epochs
// without improvement, gradient clipping 5, best weights restored). At the
// first call the classifier is built and its z-scoring fitted to that call's
// training split; later calls continue from the trained weights.
// settings.NumAtoms is NRE-B's number of atoms (zero: 10), capped at the
// batch size. The contrasting θ of every loss are drawn from the other rows
// of the batch, from a stream seeded by rng; the validation loss uses the
// same kind of draws, so it is itself a noisy estimate, as in sbi.
//
// Block mode (a Source, or TrainSettings.Blocks) is as NLE.Train's, with
// the classifier's z-scoring from the streamed statistics of the training
// blocks; it needs a classifier without a DeepSetsEmbedding. The
// contrasting θ still come from the other rows of the batch: distinct rows
// of the one or two shuffling windows the batch is cut from (two at most
// when BatchSize is at most a window's rows; see flows.DefaultWindowBlocks).
// Each θ_j is a draw from the prior independent of x_i (j ≠ i), so (θ_j,
// x_i) is a draw from the product of the marginals, as in row mode. This
// assumes, as row mode does, that the rows are independent simulations
// (true of a simulation file, whatever its chunks); only the mixing of the
// batches changes.
//
// Errors are those of NLE.Train.
func (e *NRE) Train(ctx context.Context, rng *rand.Rand, settings *TrainSettings) (*TrainResult, error) {
	s, err := e.check("NRE", rng, settings)
	if err != nil {
		return nil, err
	}
	ctx, stream, err := e.startBlocks(ctx, "NRE", &s)
	if err != nil {
		return nil, err
	}
	defer stream.stop()
	if err := setParts("NRE", &s, false); err != nil {
		return nil, err
	}
	if s.NumAtoms == 0 {
		s.NumAtoms = 10
	}
	if s.NumAtoms < 2 {
		return nil, fmt.Errorf("sbi: NRE.Train: %d atoms, need at least 2: %w", s.NumAtoms, ErrInput)
	}
	dt := e.prior.Dim()
	s1, s2 := rng.Uint64(), rng.Uint64()
	res := &TrainResult{Round: e.trains, Loss: e.cfg.Loss, NumSimulations: e.n, NumInvalid: e.invalid(), Stream: stream.stats}
	if e.clf == nil {
		var (
			c        *classifier
			warnings []string
		)
		if s.Blocks != nil {
			if _, deepSets := e.cfg.Embedding.(DeepSetsEmbedding); deepSets {
				return nil, fmt.Errorf("sbi: NRE.Train: block mode needs a classifier without a DeepSetsEmbedding: %w", ErrInput)
			}
			init, err := e.blockStats(ctx, "NRE", &s, s1, s2, stream)
			if err != nil {
				return nil, err
			}
			c, err = newClassifierStats(e.cfg, init.thM, init.thS, init.xM, init.xS, init.sample, rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64())))
			if err != nil {
				return nil, fmt.Errorf("sbi: NRE.Train: building the classifier: %w", err)
			}
			warnings = init.warnings
		} else {
			train, _ := splitIndices(e.n, s.ValidationFraction, s1, s2)
			th := gatherDense(e.theta, dt, train)
			xs := gatherDense(e.x, e.xDim, train)
			c, err = newClassifier(e.cfg, th, xs, rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64())))
			if err != nil {
				return nil, fmt.Errorf("sbi: NRE.Train: building the classifier: %w", err)
			}
			warnings = append(zscoreWarnings("θ", e.theta, dt, train), zscoreWarnings("x", e.x, e.xDim, train)...)
		}
		e.clf, e.warnings = c, warnings
	}
	res.Warnings = e.Warnings()
	src := rand.NewPCG(rng.Uint64(), rng.Uint64())
	loss := e.loss(s.NumAtoms, rand.New(src), e.rowsFunc(stream))
	s.Checkpoint = checkpointWith(s.Checkpoint, src)
	fr, err := flows.Fit(ctx, e.clf.params(), e.n, loss, rand.New(rand.NewPCG(s1, s2)), &s.Settings)
	e.trains++
	if fr != nil {
		res.TrainResult = *fr
	}
	if rerr := stream.finish("NRE", res); rerr != nil {
		if fr == nil {
			return nil, rerr
		}
		return res, rerr
	}
	if err != nil {
		return fitErr("NRE", res, fr, err)
	}
	return res, nil
}

// contrast draws, for every row i of a batch of b rows, a atoms from the
// other rows without replacement (a partial Fisher–Yates shuffle) into
// choice[i*a : (i+1)*a].
func contrast(choice, others []int, b, a int, rng *rand.Rand) {
	for i := range b {
		n := 0
		for j := range b {
			if j != i {
				others[n] = j
				n++
			}
		}
		for k := range a {
			r := k + rng.IntN(n-k)
			others[k], others[r] = others[r], others[k]
			choice[i*a+k] = others[k]
		}
	}
}

// nreLoss holds the reusable buffers of the NRE losses.
type nreLoss struct {
	e           *NRE
	atoms       int
	rng         *rand.Rand
	thIdx, xIdx []int
	choice      []int
	others      []int
	blocks      [][]int
	blockT      []*nn.Tensor
}

// blockLogits evaluates h on the pairs of the batch th, xs (b rows) where
// x_i meets its own θ_i (if self) and the atoms choice[i*a:(i+1)*a], and
// returns the b×(a+self) matrix of logits, column 0 the own θ if self.
func (l *nreLoss) blockLogits(tp *nn.Tape, th, xs *nn.Tensor, b, a int, self bool) *nn.Tensor {
	l.thIdx, l.xIdx = l.thIdx[:0], l.xIdx[:0]
	k := a
	if self {
		k++
		for i := range b {
			l.thIdx = append(l.thIdx, i)
			l.xIdx = append(l.xIdx, i)
		}
	}
	for c := range a {
		for i := range b {
			l.thIdx = append(l.thIdx, l.choice[i*a+c])
			l.xIdx = append(l.xIdx, i)
		}
	}
	h := l.e.clf.logits(tp, tp.GatherRows(th, l.thIdx), tp.GatherRows(xs, l.xIdx)) // (b·k)×1
	if k == 1 {
		return h
	}
	for len(l.blocks) < k {
		l.blocks = append(l.blocks, nil)
	}
	l.blockT = l.blockT[:0]
	for c := range k {
		if len(l.blocks[c]) != b {
			l.blocks[c] = make([]int, b)
		}
		for i := range b {
			l.blocks[c][i] = c*b + i
		}
		l.blockT = append(l.blockT, tp.GatherRows(h, l.blocks[c]))
	}
	return tp.ConcatCols(l.blockT...)
}

func (l *nreLoss) draw(b, a int) {
	if cap(l.choice) < b*a {
		l.choice = make([]int, b*a)
	}
	l.choice = l.choice[:b*a]
	if cap(l.others) < b {
		l.others = make([]int, b)
	}
	l.others = l.others[:b]
	contrast(l.choice, l.others, b, a, l.rng)
}

// loss returns the configured loss as a flows.LossFunc.
func (e *NRE) loss(numAtoms int, rng *rand.Rand, rows func(tp *nn.Tape, idx []int) (th, xs *nn.Tensor)) flows.LossFunc {
	l := &nreLoss{e: e, atoms: numAtoms, rng: rng}
	cfg := e.cfg
	return func(tp *nn.Tape, idx []int) *nn.Tensor {
		b := len(idx)
		th, xs := rows(tp, idx)
		if b < 2 {
			// No other row to contrast with: a zero loss that still
			// depends on the parameters (as NPE's atomic loss does).
			return tp.Scale(tp.Mean(e.clf.logits(tp, th, xs)), 0)
		}
		switch cfg.Loss {
		case LossNREB:
			k := min(l.atoms, b)
			l.draw(b, k-1)
			m := l.blockLogits(tp, th, xs, b, k-1, true) // b×k
			return tp.Neg(tp.Mean(tp.Sub(tp.SliceCols(m, 0, 1), tp.RowLogSumExp(m))))
		case LossNREC:
			return l.nreC(tp, th, xs, b)
		default: // NRE-A and BNRE
			l.draw(b, 1)
			m := l.blockLogits(tp, th, xs, b, 1, true) // b×2
			joint, marg := tp.SliceCols(m, 0, 1), tp.SliceCols(m, 1, 2)
			bce := tp.Scale(tp.Add(tp.Mean(tp.LogSigmoid(joint)), tp.Mean(tp.LogSigmoid(tp.Neg(marg)))), -0.5)
			if cfg.Loss != LossBNRE {
				return bce
			}
			bal := tp.Shift(tp.Add(tp.Mean(tp.Sigmoid(joint)), tp.Mean(tp.Sigmoid(marg))), -1)
			return tp.Add(bce, tp.Scale(tp.Square(bal), cfg.Lambda))
		}
	}
}

// nreC is the NRE-C loss on a batch of b ≥ 2 rows (see LossNREC), with sbi's
// construction: K marginal atoms for the "class 0" term and, independently,
// the row's own θ with K-1 marginal atoms for the "joint" term.
func (l *nreLoss) nreC(tp *nn.Tape, th, xs *nn.Tensor, b int) *nn.Tensor {
	cfg := l.e.cfg
	k := min(cfg.NumClasses, b-1)
	logK, logG := math.Log(float64(k)), math.Log(cfg.Gamma)
	pMarg, pJoint := 1/(1+cfg.Gamma), cfg.Gamma/(1+cfg.Gamma)
	constK := tp.New(b, 1)
	for i := range constK.Data {
		constK.Data[i] = logK
	}
	l.draw(b, k)
	marg := l.blockLogits(tp, th, xs, b, k, false) // b×K
	denM := tp.ConcatCols(tp.Shift(marg, logG), constK)
	lpMarg := tp.Neg(tp.Shift(tp.RowLogSumExp(denM), -logK)) // log K - lse
	var joint *nn.Tensor
	if k > 1 {
		l.draw(b, k-1)
		joint = l.blockLogits(tp, th, xs, b, k-1, true) // b×K
	} else {
		joint = l.e.clf.logits(tp, th, xs) // b×1: the own θ only
	}
	denJ := tp.ConcatCols(tp.Shift(joint, logG), constK)
	lpJoint := tp.Sub(tp.Shift(tp.SliceCols(joint, 0, 1), logG), tp.RowLogSumExp(denJ))
	return tp.Neg(tp.Mean(tp.Add(tp.Scale(lpMarg, pMarg), tp.Scale(lpJoint, pJoint))))
}

// Warnings returns the warnings about the training data found when the
// classifier was built at the first Train (nil when there were none), as
// NLE.Warnings: constant columns of θ or x (z-scored with std 1, centred
// only) and near-constant ones.
func (e *NRE) Warnings() []string { return append([]string(nil), e.warnings...) }

// Posterior returns the MCMC posterior of the trained classifier with the
// given settings (nil means sbi's defaults, see MCMCSettings): it holds an
// independent copy of the current classifier, so later training does not
// change it. The error wraps ErrNotTrained before the first Train and
// ErrInput for invalid settings.
func (e *NRE) Posterior(settings *MCMCSettings) (*MCMCPosterior, error) {
	if e.clf == nil {
		return nil, fmt.Errorf("sbi: NRE.Posterior: %w", ErrNotTrained)
	}
	c, err := e.clf.clone()
	if err != nil {
		return nil, err
	}
	return newMCMCPosterior(ratioModel{c}, e.prior, settings)
}

// LogRatio writes the classifier's log-ratio estimate h(θ_i, x_i) for every
// row pair of theta (n×Dim) and x (n×xDim, or one row for all) into dst
// (allocated if nil) and returns it. Errors wrap ErrNotTrained before the
// first Train and ErrInput for mismatched shapes.
func (e *NRE) LogRatio(dst []float64, theta, x *mat.Dense) ([]float64, error) {
	if e.clf == nil {
		return nil, fmt.Errorf("sbi: NRE.LogRatio: %w", ErrNotTrained)
	}
	if theta == nil || x == nil || theta.IsEmpty() || x.IsEmpty() {
		return nil, fmt.Errorf("sbi: NRE.LogRatio: empty θ or x: %w", ErrInput)
	}
	n, dt := theta.Dims()
	nx, dx := x.Dims()
	if dt != e.clf.dt || dx != e.clf.dx || (nx != n && nx != 1) {
		return nil, fmt.Errorf("sbi: NRE.LogRatio: θ %d×%d and x %d×%d for dimensions %d and %d: %w", n, dt, nx, dx, e.clf.dt, e.clf.dx, ErrInput)
	}
	if nx == 1 && n > 1 {
		rep := mat.NewDense(n, dx, nil)
		for i := range n {
			copy(rep.RawRowView(i), x.RawRowView(0))
		}
		x = rep
	}
	if dst == nil {
		dst = make([]float64, n)
	}
	if len(dst) != n {
		return nil, fmt.Errorf("sbi: NRE.LogRatio: dst of length %d for %d rows: %w", len(dst), n, ErrInput)
	}
	ratioModel{e.clf}.pairLogs(dst, theta, x)
	return dst, nil
}
