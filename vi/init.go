package vi

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/gosbi/gosbi/dist"
	"github.com/gosbi/gosbi/flows"
	"gonum.org/v1/gonum/mat"
)

// InitSettings tunes Init. The zero value (and a nil *InitSettings) means
// the defaults.
type InitSettings struct {
	// Candidates is the number of proposal draws that are weighted by the
	// target; zero means 20,000.
	Candidates int
	// Draws is the number of draws resampled from the weighted candidates,
	// on which q is fitted; zero means 2,000.
	Draws int
	// MinESS is the smallest effective sample size (Kish's (Σw)²/Σw²) of the
	// tempered weights: the temperature β is the largest value in (0, 1]
	// whose weights reach it. Zero means min(500, Candidates/10). A larger
	// value gives a broader (more tempered) start.
	MinESS float64
	// Rounds is the largest number of rounds: while β < 1, the flow fitted
	// in one round is the proposal of the next (adaptive importance
	// sampling), which brings β to 1 in a few rounds on a narrow target.
	// Zero means 4; 1 is a single tempered fit.
	Rounds int
	// Epochs caps the passes of maximum-likelihood training of q on the
	// resampled draws (flows.Train with its other defaults: Adam 5e-4,
	// batch 200, validation 10%, patience 20); zero means 50.
	Epochs int
}

// InitResult reports the initialisation.
type InitResult struct {
	// Rounds is the number of rounds run.
	Rounds int
	// Beta is the temperature of the last round's resampled draws: they follow
	// r^(1-β)·p̃^β for the proposal r and the target p̃ (β = 1: the target
	// itself, up to the resampling error).
	Beta float64
	// ESS is Kish's effective sample size of the last round's tempered
	// weights, and ESSTarget that of its untempered ones (β = 1).
	ESS, ESSTarget float64
	// Epochs is the number of training epochs run, over all rounds.
	Epochs int
	// Runtime is the wall time.
	Runtime time.Duration
}

// Init builds a flow of the given family for Fit that starts close to the
// target: it draws Candidates points θ_i from proposal r (typically the
// prior, or an amortised posterior estimate such as NPE's at x_o for a warm
// start), weights them by (p̃(θ_i)/r(θ_i))^β, resamples Draws of them,
// maps them to the unconstrained space of the bijection b (nil for the
// identity) and fits the family there by maximum likelihood, that is by
// forward KL from the tempered target r^(1-β)·p̃^β to q. The temperature
// β ∈ (0, 1] is the largest whose weights keep an effective sample size of
// MinESS, so a proposal far from the target gives a broad, mass-covering
// start (between r and p̃) rather than a few duplicated points; Fit then
// refines q against p̃ itself.
//
// This is the mass-covering start a mode-seeking objective needs on a
// multimodal target: q starting from the prior collapses onto one mode of
// a narrow bimodal posterior within tens of iterations, while q started by
// Init holds all the modes that the candidates reach. It is also the warm
// start from a neural posterior estimate: with r the NPE posterior at x_o,
// q starts at NPE's answer corrected by the likelihood or ratio potential.
//
// The target is evaluated without gradients (through dist.BatchLogProber
// when it has it); NaN values count as zero weight. Errors wrap ErrConfig
// (nil family, proposal or rng, invalid settings, bijection of another
// dimension), ErrTarget (nil target, dimension mismatch), ErrData (no
// candidate with a finite weight) and those of the family and of
// flows.Train; a cancelled ctx stops training with its error.
func Init(ctx context.Context, target dist.LogProber, proposal dist.Distribution, family Family, b *dist.Bijection, rng *rand.Rand, settings *InitSettings) (*flows.Flow, *InitResult, error) {
	start := time.Now()
	if family == nil || proposal == nil || rng == nil {
		return nil, nil, fmt.Errorf("vi: Init needs a family, a proposal and an rng: %w", ErrConfig)
	}
	if target == nil {
		return nil, nil, fmt.Errorf("vi: Init: nil target: %w", ErrTarget)
	}
	var s InitSettings
	if settings != nil {
		s = *settings
	}
	if s.Candidates == 0 {
		s.Candidates = 20_000
	}
	if s.Draws == 0 {
		s.Draws = 2000
	}
	if s.MinESS == 0 {
		s.MinESS = min(500, float64(s.Candidates)/10)
	}
	if s.Epochs == 0 {
		s.Epochs = 50
	}
	if s.Rounds == 0 {
		s.Rounds = 4
	}
	if s.Rounds < 1 || s.Candidates < 2 || s.Draws < 2 || !(s.MinESS >= 1) || math.IsInf(s.MinESS, 0) || s.Epochs < 0 {
		return nil, nil, fmt.Errorf("vi: Init: %d candidates, %d draws, minimum ESS %v, %d epochs: %w",
			s.Candidates, s.Draws, s.MinESS, s.Epochs, ErrConfig)
	}
	d := proposal.Dim()
	if dd, ok := target.(interface{ Dim() int }); ok && dd.Dim() != d {
		return nil, nil, fmt.Errorf("vi: Init: target of dimension %d for a proposal of dimension %d: %w", dd.Dim(), d, ErrTarget)
	}
	if b != nil && b.Dim() != d {
		return nil, nil, fmt.Errorf("vi: Init: bijection of dimension %d for a proposal of dimension %d: %w", b.Dim(), d, ErrConfig)
	}

	res := &InitResult{}
	var q *flows.Flow
	for round := range s.Rounds {
		if round > 0 {
			// The flow of the last round, mapped onto the support, is the
			// next proposal.
			pq, err := NewPosterior(nil, q, b)
			if err != nil {
				return nil, nil, fmt.Errorf("vi: Init: %w", err)
			}
			proposal = pq
		}
		var err error
		if q, err = initRound(ctx, target, proposal, family, b, rng, &s, res); err != nil {
			return nil, nil, err
		}
		res.Rounds = round + 1
		if res.Beta == 1 {
			break
		}
	}
	res.Runtime = time.Since(start)
	return q, res, nil
}

// initRound runs one round of Init: weighting, tempering, resampling and
// fitting a new q.
func initRound(ctx context.Context, target dist.LogProber, proposal dist.Distribution, family Family, b *dist.Bijection, rng *rand.Rand, s *InitSettings, res *InitResult) (*flows.Flow, error) {
	d := proposal.Dim()
	// Candidates and their log weights log p̃ - log r.
	m := s.Candidates
	theta := mat.NewDense(m, d, nil)
	if bs, ok := proposal.(dist.BatchSampler); ok {
		bs.SampleBatch(theta, rng)
	} else {
		for i := range m {
			proposal.Sample(theta.RawRowView(i), rng)
		}
	}
	lw := logProbs(target, theta)
	lr := logProbs(proposal, theta)
	for i := range lw {
		lw[i] -= lr[i]
		if !finite(lw[i]) {
			lw[i] = math.Inf(-1) // NaN, or outside either support
		}
	}
	res.ESSTarget = kishESS(lw, 1)
	if !(res.ESSTarget >= 1) {
		return nil, fmt.Errorf("vi: Init: none of %d proposal draws has a finite target density: %w", m, ErrData)
	}
	res.Beta = temperature(lw, s.MinESS)
	res.ESS = kishESS(lw, res.Beta)

	// Systematic resampling of the tempered weights (Kitagawa 1996), in
	// unconstrained coordinates.
	w := make([]float64, m)
	top := math.Inf(-1)
	for _, v := range lw {
		top = max(top, res.Beta*v)
	}
	var sum float64
	for i, v := range lw {
		w[i] = math.Exp(res.Beta*v - top)
		sum += w[i]
	}
	z := make([]float64, 0, s.Draws*d)
	row := make([]float64, d)
	u := rng.Float64()
	var cum float64
	i := 0
	for k := range s.Draws {
		pos := (float64(k) + u) / float64(s.Draws) * sum
		for i < m-1 && cum+w[i] <= pos {
			cum += w[i]
			i++
		}
		copy(row, theta.RawRowView(i))
		if b != nil {
			b.Inverse(row, row)
		}
		ok := true
		for _, v := range row {
			ok = ok && finite(v)
		}
		if ok {
			z = append(z, row...)
		}
	}
	if len(z) < 2*d {
		return nil, fmt.Errorf("vi: Init: fewer than 2 resampled draws inside the support: %w", ErrData)
	}
	zm := mat.NewDense(len(z)/d, d, z)
	// Resampling orders the draws as the candidates; flows.Train shuffles.
	// Each round builds q afresh, so that its standardisation is that of
	// the latest draws.
	q, err := family.Build(zm, nil, rng)
	if err != nil {
		return nil, fmt.Errorf("vi: Init: %w", err)
	}
	if s.Epochs > 0 {
		tr, err := flows.Train(ctx, q, zm, nil, rng, &flows.Settings{MaxEpochs: s.Epochs})
		if tr != nil {
			res.Epochs += tr.Epochs
		}
		if err != nil {
			return nil, fmt.Errorf("vi: Init: %w", err)
		}
	}
	return q, nil
}

// logProbs returns the log density of every row of x under lp, batched when
// lp implements dist.BatchLogProber.
func logProbs(lp dist.LogProber, x *mat.Dense) []float64 {
	n, _ := x.Dims()
	if bl, ok := lp.(dist.BatchLogProber); ok {
		return bl.LogProbBatch(make([]float64, n), x)
	}
	out := make([]float64, n)
	for i := range n {
		out[i] = lp.LogProb(x.RawRowView(i))
	}
	return out
}

// kishESS returns (Σw)²/Σw² for the weights w_i = exp(β·lw_i).
func kishESS(lw []float64, beta float64) float64 {
	top := math.Inf(-1)
	for _, v := range lw {
		top = max(top, beta*v)
	}
	if math.IsInf(top, -1) {
		return 0
	}
	var s1, s2 float64
	for _, v := range lw {
		w := math.Exp(beta*v - top)
		s1 += w
		s2 += w * w
	}
	return s1 * s1 / s2
}

// temperature returns the largest β in (0, 1] whose weights exp(β·lw)
// have an effective sample size of at least minESS, found by bisection (the
// ESS decreases with β from the number of finite weights at β → 0). It
// returns 1 when the untempered weights reach minESS and a small positive
// β when no tempering does.
func temperature(lw []float64, minESS float64) float64 {
	if kishESS(lw, 1) >= minESS {
		return 1
	}
	lo, hi := 0.0, 1.0
	for range 60 {
		mid := (lo + hi) / 2
		if kishESS(lw, mid) >= minESS {
			lo = mid
		} else {
			hi = mid
		}
	}
	if lo == 0 {
		return hi
	}
	return lo
}
