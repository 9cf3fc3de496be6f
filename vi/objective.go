package vi

import (
	"fmt"
	"math"

	"github.com/gosbi/gosbi/nn"
)

// Objective selects the divergence that Fit and FitAmortized minimise.
type Objective uint8

const (
	// ReverseKL maximises the evidence lower bound
	// ELBO = E_q[log p̃(θ) - log q(θ)], that is minimises KL(q ‖ p), with
	// reparameterised gradients (Kingma & Welling 2014; Rezende & Mohamed
	// 2015). It is mode seeking. Settings.STL selects the sticking-the-landing
	// estimator. This is the default (sbi's "rKL").
	ReverseKL Objective = iota
	// IWELBO maximises the importance-weighted ELBO of Burda, Grosse &
	// Salakhutdinov (2016), E[log (1/K) Σ_k p̃(θ_k)/q(θ_k)] over groups of K
	// draws, a tighter bound that makes q more mass covering as K grows.
	// Settings.DReG selects the doubly reparameterised gradient of Tucker
	// et al. (2019).
	IWELBO
	// ForwardKL minimises KL(p ‖ q) by self-normalised importance sampling
	// with q as the proposal: the gradient is -Σ_i w̃_i ∇ log q(θ_i) with
	// w̃ ∝ p̃/q normalised over the particles and θ_i drawn from q without
	// reparameterisation. It is mass covering.
	ForwardKL
	// Renyi maximises the variational Rényi bound of Li & Turner (2016),
	// 1/(1-α) log (1/N) Σ_i (p̃(θ_i)/q(θ_i))^(1-α) over all N particles, with
	// reparameterised gradients. α → 1 gives the ELBO, α = 0 the IWELBO
	// with K = N; α in (0, 1) interpolates between mode seeking and mass
	// covering.
	Renyi
)

// String returns the objective's name ("reverse-kl", "iwelbo",
// "forward-kl", "renyi").
func (o Objective) String() string {
	switch o {
	case ReverseKL:
		return "reverse-kl"
	case IWELBO:
		return "iwelbo"
	case ForwardKL:
		return "forward-kl"
	case Renyi:
		return "renyi"
	}
	return fmt.Sprintf("Objective(%d)", uint8(o))
}

// ParseObjective returns the objective with the given name, as returned by
// String, or with sbi's name ("rKL", "IW", "fKL", "alpha"). The error wraps
// ErrConfig for an unknown name.
func ParseObjective(name string) (Objective, error) {
	for o := ReverseKL; o <= Renyi; o++ {
		if o.String() == name {
			return o, nil
		}
	}
	switch name {
	case "rKL":
		return ReverseKL, nil
	case "IW":
		return IWELBO, nil
	case "fKL":
		return ForwardKL, nil
	case "alpha":
		return Renyi, nil
	}
	return 0, fmt.Errorf("vi: unknown objective %q: %w", name, ErrConfig)
}

// lossSpec fixes how the per-particle log densities of one step combine into
// the loss.
type lossSpec struct {
	obj    Objective
	k      int     // IWELBO group size
	alpha  float64 // Renyi α
	path   bool    // STL or DReG: a third input carries the score correction
	blocks int     // number of contexts per step (1 for Fit)
}

// compute returns the loss of one step and writes into coef (N×3,
// row-major) the derivatives of the surrogate loss with respect to lp_i
// (column 0), lq_i (column 1) and the score-correction term lqs_i (column
// 2). lp and lq are the values log p̃(θ_i) and log q(θ_i); the rows form
// spec.blocks consecutive blocks of equal size, one per context.
//
// For the reparameterised objectives the loss is a function of the log
// weights lw_i = lp_i - lq_i with a_i = ∂loss/∂lw_i, so coef is (a, -a, 0)
// or, with a path-only estimator, (a, -a, a): the tape then differentiates
// lp - lq + lqs, where lqs = log q(θ_i) evaluated at a constant copy of θ_i,
// whose parameter gradient is the score ∇_φ log q_φ(θ) and cancels the
// score part of lq's (Roeder, Wu & Duvenaud 2017, "Sticking the landing").
// For DReG a_i = -w̃_i²/G instead of -w̃_i/G (Tucker et al. 2019, eq. 6).
func (s lossSpec) compute(lp, lq, coef []float64) float64 {
	n := len(lp)
	for i := range coef {
		coef[i] = 0
	}
	for i := range n {
		if math.IsNaN(lp[i]) || math.IsNaN(lq[i]) || math.IsInf(lp[i], 1) || math.IsInf(lq[i], 0) {
			return math.NaN()
		}
	}
	size := n / s.blocks
	var loss float64
	switch s.obj {
	case ReverseKL:
		a := -1 / float64(n)
		for i := range n {
			lw := lp[i] - lq[i]
			loss -= lw / float64(n)
			s.set(coef, i, a)
		}
	case IWELBO:
		groups := n / s.k
		for g := range groups {
			lo, hi := g*s.k, (g+1)*s.k
			m := maxLogWeight(lp[lo:hi], lq[lo:hi], 1)
			if math.IsInf(m, -1) {
				return math.Inf(1)
			}
			var sum float64
			for i := lo; i < hi; i++ {
				sum += math.Exp(lp[i] - lq[i] - m)
			}
			loss -= (m + math.Log(sum/float64(s.k))) / float64(groups)
			for i := lo; i < hi; i++ {
				w := math.Exp(lp[i]-lq[i]-m) / sum
				if s.path {
					w *= w
				}
				s.set(coef, i, -w/float64(groups))
			}
		}
	case Renyi:
		b := 1 - s.alpha
		for blk := range s.blocks {
			lo, hi := blk*size, (blk+1)*size
			m := maxLogWeight(lp[lo:hi], lq[lo:hi], b)
			if math.IsInf(m, -1) || math.IsInf(m, 1) {
				return math.Inf(1)
			}
			var sum float64
			for i := lo; i < hi; i++ {
				sum += math.Exp(b*(lp[i]-lq[i]) - m)
			}
			loss -= (m + math.Log(sum/float64(size))) / b / float64(s.blocks)
			for i := lo; i < hi; i++ {
				w := math.Exp(b*(lp[i]-lq[i])-m) / sum
				s.set(coef, i, -w/float64(s.blocks))
			}
		}
	case ForwardKL:
		for blk := range s.blocks {
			lo, hi := blk*size, (blk+1)*size
			m := maxLogWeight(lp[lo:hi], lq[lo:hi], 1)
			if math.IsInf(m, -1) {
				return math.Inf(1)
			}
			var sum float64
			for i := lo; i < hi; i++ {
				sum += math.Exp(lp[i] - lq[i] - m)
			}
			for i := lo; i < hi; i++ {
				w := math.Exp(lp[i]-lq[i]-m) / sum
				if w == 0 {
					continue
				}
				loss += w * (lp[i] - lq[i]) / float64(s.blocks)
				coef[3*i+1] = -w / float64(s.blocks)
			}
		}
	default:
		panic(fmt.Sprintf("vi: unknown objective %v", s.obj))
	}
	return loss
}

// set writes the coefficients of a reparameterised objective for row i.
func (s lossSpec) set(coef []float64, i int, a float64) {
	coef[3*i], coef[3*i+1] = a, -a
	if s.path {
		coef[3*i+2] = a
	}
}

// maxLogWeight returns max_i b·(lp_i - lq_i) over finite values (-Inf if
// none).
func maxLogWeight(lp, lq []float64, b float64) float64 {
	m := math.Inf(-1)
	for i := range lp {
		if v := b * (lp[i] - lq[i]); v > m {
			m = v
		}
	}
	return m
}

// lossOp is the fused op of the loss: ins are lp, lq, [lqs,] coef; the
// gradient of input k is g·coef[:, k].
type lossOp struct{}

// Backward implements nn.FusedOp.
func (lossOp) Backward(ins, outs []*nn.Tensor, need []bool) {
	g := outs[0].Grad[0]
	coef := ins[len(ins)-1].Data
	for k := 0; k < len(ins)-1; k++ {
		if !need[k] {
			continue
		}
		gr := ins[k].Grad
		for i := range gr {
			if c := coef[3*i+k]; c != 0 {
				gr[i] += g * c
			}
		}
	}
}

// loss records the loss of one step on tp: lp and lq are N×1, lqs is the
// score correction (nil unless spec.path).
func (s lossSpec) loss(tp *nn.Tape, lp, lq, lqs *nn.Tensor) *nn.Tensor {
	n := lp.Rows
	coef := tp.New(n, 3)
	out := tp.New(1, 1)
	out.Data[0] = s.compute(lp.Data, lq.Data, coef.Data)
	if lqs != nil {
		tp.Fused(lossOp{}, []*nn.Tensor{lp, lq, lqs, coef}, out)
	} else {
		tp.Fused(lossOp{}, []*nn.Tensor{lp, lq, coef}, out)
	}
	return out
}
