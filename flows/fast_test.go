package flows

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/gosbi/gosbi/nn"
	"gonum.org/v1/gonum/mat"
)

// fastCase is a flow that the tape-free batch path handles.
type fastCase struct {
	name  string
	d, c  int
	build func(x, c *mat.Dense, rng *rand.Rand) (*Flow, error)
}

func fastCases() []fastCase {
	maf := func(m MAF) func(x, c *mat.Dense, rng *rand.Rand) (*Flow, error) { return m.Build }
	nsf := func(m NSF) func(x, c *mat.Dense, rng *rand.Rand) (*Flow, error) {
		m.Autoregressive = true
		return m.Build
	}
	return []fastCase{
		{"MAF D=1", 1, 0, maf(MAF{Transforms: 2, Hidden: 5})},
		{"MAF D=1 context", 1, 2, maf(MAF{Transforms: 2, Hidden: 5})},
		{"MAF D=2", 2, 0, maf(MAF{Transforms: 2, Hidden: 9})},
		{"MAF D=2 context", 2, 2, maf(MAF{})},
		{"MAF D=3 context, 3 blocks, ReLU", 3, 1, maf(MAF{Transforms: 3, Hidden: 7, Blocks: 3, Activation: nn.ReLU})},
		{"MAF D=3 no hidden layer", 3, 2, maf(MAF{Transforms: 2, Hidden: 11, Blocks: -1})},
		{"MAF D=10 context", 10, 10, maf(MAF{Transforms: 2})},
		{"MAF D=10, 1 block, GELU, reverse", 10, 0, maf(MAF{Transforms: 2, Hidden: 13, Blocks: 1, Activation: nn.GELU, Permutation: PermuteReverse})},
		{"MAF embedding", 3, 4, func(x, c *mat.Dense, rng *rand.Rand) (*Flow, error) {
			return MAF{Transforms: 2, Hidden: 9, Embedding: nn.NewMLP("embed", []int{4, 6, 3}, nn.Tanh, rng)}.Build(x, c, rng)
		}},
		{"spline MAF D=1 context", 1, 2, nsf(NSF{Transforms: 2, Hidden: 7, Bins: 4})},
		{"spline MAF D=3", 3, 0, nsf(NSF{Transforms: 2, Hidden: 9, Bins: 5, TailBound: 2})},
		{"spline MAF D=3 context, 3 blocks", 3, 2, nsf(NSF{Transforms: 2, Hidden: 11, Blocks: 3})},
		{"composed: unconditional MADE in a conditional flow", 3, 2, func(x, c *mat.Dense, rng *rand.Rand) (*Flow, error) {
			a := mustT(NewAutoregressive("a", AutoregressiveConfig{Features: 3, Context: 2, Hidden: 7, Activation: nn.Sigmoid}, rng))
			b := mustT(NewAutoregressive("b", AutoregressiveConfig{Features: 3, Hidden: 5, Blocks: 1, Univariate: Spline{Bins: 3}}, rng))
			s := mustT(NewStandardize("z", []float64{0.1, -0.2, 0.3}, []float64{1.5, 0.7, 1.1}))
			return NewFlow(Compose(s, a, ReversePermutation(3), Compose(b, RandomPermutation(3, rng))), 3, FlowOptions{ContextDim: 2})
		}},
	}
}

// fastRelTol is the agreement required between the tape-free path and the
// tape: the two sum the same terms in different orders (masked blocks
// skipped, degree-sorted units), so they differ by a few rounding errors of
// the intermediate values, amplified by at most the conditioning of the
// flow. The cases below show at most 7e-15 for log-probs and 2e-13 for
// samples (the inverse of a flow with perturbed weights amplifies rounding
// more); 1e-10 leaves a margin of about 500.
const fastRelTol = 1e-10

// closeRel reports whether got is within fastRelTol of want, relative to
// max(|want|, 1).
func closeRel(got, want float64) bool {
	return math.Abs(got-want) <= fastRelTol*max(math.Abs(want), 1)
}

// fastFixture builds case fc with perturbed weights (so that every weight,
// masked or not, is far from its initial value) and data of n rows.
func fastFixture(t *testing.T, fc fastCase, n int, seed uint64) (*Flow, *mat.Dense, *mat.Dense) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	x := randDense(n, fc.d, 0.3, 1.5, rng)
	var c *mat.Dense
	if fc.c > 0 {
		c = randDense(n, fc.c, -0.2, 1, rng)
	}
	f, err := fc.build(x, c, rng)
	if err != nil {
		t.Fatal(err)
	}
	perturb(f.Params(), 0.3, rng)
	if f.fastPlanOf() == nil {
		t.Fatalf("%s: no fast plan", fc.name)
	}
	return f, x, c
}

// tapeLogProb is the reference: LogProb on a NoGrad tape.
func tapeLogProb(f *Flow, x, c *mat.Dense) []float64 {
	var ct *nn.Tensor
	if c != nil {
		ct = nn.FromDense(c)
	}
	return f.LogProb(nn.NewNoGradTape(), nn.FromDense(x), ct).Data
}

// tapeSample is the reference of SampleBatch: the inverse transform on a
// tape of the base noise drawn row by row from rng.
func tapeSample(f *Flow, n int, c *mat.Dense, rng *rand.Rand) []float64 {
	z := nn.New(n, f.Dim())
	for i := range z.Data {
		z.Data[i] = rng.NormFloat64()
	}
	tp := nn.NewNoGradTape()
	var ce *nn.Tensor
	if c != nil {
		ce = f.EmbedContext(tp, nn.FromDense(c))
	}
	x, _ := f.Transform().Inverse(tp, z, ce)
	return x.Data
}

// TestFastPathMatchesTape compares the tape-free LogProbBatch and
// SampleBatch with LogProb and Inverse on a tape, for one context per row,
// one broadcast context and no context, on 600 rows (two full chunks and a
// partial one).
func TestFastPathMatchesTape(t *testing.T) {
	t.Parallel()
	const n = 2*fastRows + 88
	for i, fc := range fastCases() {
		t.Run(fc.name, func(t *testing.T) {
			f, x, c := fastFixture(t, fc, n, uint64(10+i))
			contexts := []*mat.Dense{nil}
			if c != nil {
				contexts = []*mat.Dense{c, mat.NewDense(1, fc.c, c.RawRowView(3))}
			}
			for _, cc := range contexts {
				kind := "no context"
				if cc != nil {
					kind = fmt.Sprintf("%d context rows", cc.RawMatrix().Rows)
				}
				got := f.LogProbBatch(nil, x, cc)
				want := tapeLogProb(f, x, cc)
				for r := range got {
					if !closeRel(got[r], want[r]) {
						t.Fatalf("%s: log-prob of row %d: got %v, want %v", kind, r, got[r], want[r])
					}
				}
				s := mat.NewDense(n, fc.d, nil)
				f.SampleBatch(s, cc, rand.New(rand.NewPCG(5, uint64(i))))
				wantS := tapeSample(f, n, cc, rand.New(rand.NewPCG(5, uint64(i))))
				for k, v := range s.RawMatrix().Data {
					if !closeRel(v, wantS[k]) {
						t.Fatalf("%s: sample %d, feature %d: got %v, want %v", kind, k/fc.d, k%fc.d, v, wantS[k])
					}
				}
			}
		})
	}
}

// TestFastPathSeesNewWeights changes the weights between two calls: the
// second must use the new ones (the plan copies them at every call).
func TestFastPathSeesNewWeights(t *testing.T) {
	t.Parallel()
	fc := fastCases()[3]
	f, x, c := fastFixture(t, fc, 100, 3)
	before := f.LogProbBatch(nil, x, c)
	perturb(f.Params(), 0.1, rand.New(rand.NewPCG(8, 8)))
	got := f.LogProbBatch(nil, x, c)
	want := tapeLogProb(f, x, c)
	for r := range got {
		if !closeRel(got[r], want[r]) || got[r] == before[r] {
			t.Fatalf("row %d after a weight change: got %v, want %v (before the change %v)", r, got[r], want[r], before[r])
		}
	}
}

// TestBatchWorkersBitIdentical requires the same bits from the batch
// methods with 1, 2 and 3 goroutines, on the fast path and the tape path
// (NSF with coupling layers), with a row count that leaves a partial chunk.
func TestBatchWorkersBitIdentical(t *testing.T) {
	const n = 5*batchRows/2 + 7 // three tape chunks, 21 fast ones
	rng := rand.New(rand.NewPCG(21, 1))
	x := randDense(n, 3, 0, 1, rng)
	c := randDense(n, 2, 0, 1, rng)
	for _, build := range []func(x, c *mat.Dense, rng *rand.Rand) (*Flow, error){
		MAF{Transforms: 2, Hidden: 10}.Build,
		NSF{Transforms: 2, Hidden: 8, Bins: 4}.Build,
	} {
		f, err := build(x, c, rng)
		if err != nil {
			t.Fatal(err)
		}
		perturb(f.Params(), 0.2, rng)
		var wantLP []float64
		var wantS *mat.Dense
		for _, w := range []int{1, 2, 3} {
			prev := SetBatchWorkers(w)
			lp := f.LogProbBatch(nil, x, c)
			s := mat.NewDense(n, 3, nil)
			f.SampleBatch(s, c, rand.New(rand.NewPCG(4, 4)))
			SetBatchWorkers(prev)
			if wantLP == nil {
				wantLP, wantS = lp, s
				continue
			}
			for i := range lp {
				if math.Float64bits(lp[i]) != math.Float64bits(wantLP[i]) {
					t.Fatalf("fast=%v, %d workers: log-prob %d = %v, 1 worker gave %v", f.fastPlanOf() != nil, w, i, lp[i], wantLP[i])
				}
			}
			for i, v := range s.RawMatrix().Data {
				if math.Float64bits(v) != math.Float64bits(wantS.RawMatrix().Data[i]) {
					t.Fatalf("fast=%v, %d workers: sample element %d = %v, 1 worker gave %v", f.fastPlanOf() != nil, w, i, v, wantS.RawMatrix().Data[i])
				}
			}
		}
	}
}

// TestBatchPanicPropagates checks that a panic inside a chunk run by a
// helper goroutine reaches the caller (an embedding that rejects its input).
func TestBatchPanicPropagates(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	x := randDense(3000, 2, 0, 1, rng)
	c := randDense(3000, 2, 0, 1, rng)
	f, err := MAF{Transforms: 1, Hidden: 4, Embedding: panicky{}}.Build(x, c, rng)
	if err == nil {
		defer SetBatchWorkers(SetBatchWorkers(2))
		defer func() {
			if r := recover(); r != "boom" {
				t.Errorf("recovered %v, want boom", r)
			}
		}()
		f.LogProbBatch(nil, x, c)
		t.Errorf("no panic")
	}
}

// panicky is an identity embedding that panics on batches of more than 100
// rows (Build evaluates it on one row).
type panicky struct{}

func (panicky) Forward(tp *nn.Tape, x *nn.Tensor) *nn.Tensor {
	if x.Rows > 100 {
		panic("boom")
	}
	return x
}
func (panicky) Params() []*nn.Tensor { return nil }

// TestBatchMethodsDoNotAllocate checks the steady state of both paths.
func TestBatchMethodsDoNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	rng := rand.New(rand.NewPCG(6, 6))
	x := randDense(1000, 3, 0, 1, rng)
	c := randDense(1000, 2, 0, 1, rng)
	c1 := mat.NewDense(1, 2, c.RawRowView(0))
	for _, build := range []func(x, c *mat.Dense, rng *rand.Rand) (*Flow, error){
		MAF{Transforms: 2, Hidden: 10}.Build,
		NSF{Transforms: 2, Hidden: 8, Bins: 4}.Build,
	} {
		f, err := build(x, c, rng)
		if err != nil {
			t.Fatal(err)
		}
		dst := make([]float64, 1000)
		s := mat.NewDense(1000, 3, nil)
		for _, w := range []int{1, 2} {
			prev := SetBatchWorkers(w)
			run := func() {
				f.LogProbBatch(dst, x, c)
				f.LogProbBatch(dst, x, c1)
				f.SampleBatch(s, c1, rng)
				f.SampleBatch(s, c, rng)
			}
			run()
			a := testing.AllocsPerRun(10, run)
			// With helpers, a machine loaded by other processes can
			// deschedule a helper long enough for the free lists to
			// grow once more (a new high-water mark of scratch in use):
			// a transient, not a steady-state allocation. Take the best
			// of three measurements; a real per-call allocation shows
			// in all of them.
			for try := 1; try < 3 && a > 0 && w > 1; try++ {
				a = min(a, testing.AllocsPerRun(10, run))
			}
			if a > 0 {
				t.Errorf("fast=%v, %d workers: %v allocations per run, want 0", f.fastPlanOf() != nil, w, a)
			}
			SetBatchWorkers(prev)
		}
	}
}

// repeatRows returns m's rows repeated until there are at least n.
func repeatRows(m *mat.Dense, n int) *mat.Dense {
	r, c := m.Dims()
	k := (n + r - 1) / r
	out := mat.NewDense(k*r, c, nil)
	for i := 0; i < k*r; i++ {
		out.SetRow(i, m.RawRowView(i%r))
	}
	return out
}

// TestFastPathExtremeInputs repeats the extreme points of
// TestLogProbExtremeInputs in batches large enough for the tape-free path:
// never NaN or +Inf for finite points, -Inf only beyond 1e8 standard
// deviations, and where the tape gives a finite value the two agree
// (within 1e-8 relative: far out, tanh saturates and the log-determinant
// sums large terms, so the different orders of summation show more).
func TestFastPathExtremeInputs(t *testing.T) {
	t.Parallel()
	const finiteUpTo = 1e8
	vals := []float64{1e3, -1e8, 1e15, 1e300, -math.MaxFloat64}
	n := 2*fastMinRows + 3
	checked := 0
	defer func() {
		if checked < 10 {
			t.Errorf("only %d flows on the tape-free path, want at least 10", checked)
		}
	}()
	for _, ef := range extremeFlows(t) {
		f, d, cd := ef.f, ef.f.Dim(), ef.f.ContextDim()
		if f.fastPlanOf() == nil {
			continue
		}
		checked++
		var c0 *mat.Dense
		if cd > 0 {
			c0 = repeatRows(extremeRows(cd, 0, ef.mean, ef.std).Slice(2, 3, 0, cd).(*mat.Dense), 1)
		}
		for _, v := range vals {
			x := repeatRows(extremeRows(d, v, ef.mean, ef.std), n)
			cs := []*mat.Dense{c0}
			if cd > 0 {
				cs = append(cs, repeatRows(extremeRows(cd, v, ef.mean, ef.std), x.RawMatrix().Rows))
			}
			for ci, c := range cs {
				got := f.LogProbBatch(nil, x, c)
				want := tapeLogProb(f, x, c)
				for i, l := range got {
					if math.IsNaN(l) || math.IsInf(l, 1) || (math.Abs(v) <= finiteUpTo && ci == 0 && math.IsInf(l, -1)) {
						t.Errorf("%s at %g, context %d: log-prob[%d] = %v", ef.name, v, ci, i, l)
					}
					if w := want[i]; !math.IsNaN(w) && !math.IsInf(w, 0) && !(math.Abs(l-w) <= 1e-8*max(math.Abs(w), 1)) {
						t.Errorf("%s at %g, context %d: log-prob[%d] = %v, tape %v", ef.name, v, ci, i, l, w)
					}
				}
			}
		}
	}
}

// TestFastPathStrided gives the batch methods views of wider matrices (row
// stride larger than the number of columns) for the data, the context and
// the samples.
func TestFastPathStrided(t *testing.T) {
	t.Parallel()
	fc := fastCases()[4] // D = 3, one context feature
	f, x, c := fastFixture(t, fc, 300, 4)
	wide := mat.NewDense(300, 7, nil)
	wide.Slice(0, 300, 2, 5).(*mat.Dense).Copy(x)
	wc := mat.NewDense(300, 4, nil)
	wc.Slice(0, 300, 1, 2).(*mat.Dense).Copy(c)
	xv, cv := wide.Slice(0, 300, 2, 5).(*mat.Dense), wc.Slice(0, 300, 1, 2).(*mat.Dense)
	got, want := f.LogProbBatch(nil, xv, cv), f.LogProbBatch(nil, x, c)
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("log-prob %d from strided views: got %v, want %v", i, got[i], want[i])
		}
	}
	s := mat.NewDense(300, 3, nil)
	f.SampleBatch(s, c, rand.New(rand.NewPCG(1, 2)))
	sw := mat.NewDense(300, 8, nil)
	sv := sw.Slice(0, 300, 4, 7).(*mat.Dense)
	f.SampleBatch(sv, cv, rand.New(rand.NewPCG(1, 2)))
	if !mat.Equal(sv, s) {
		t.Errorf("samples into a strided view differ from contiguous ones")
	}
	if mat.Sum(sw.Slice(0, 300, 0, 4)) != 0 || mat.Sum(sw.Slice(0, 300, 7, 8)) != 0 {
		t.Errorf("SampleBatch wrote outside the view")
	}
}

// nestedEmbed is an embedding that evaluates another flow's LogProbBatch on
// a batch of several chunks: a batch method called from inside a chunk.
type nestedEmbed struct {
	inner *Flow
	x     *mat.Dense
}

func (e nestedEmbed) Forward(tp *nn.Tape, c *nn.Tensor) *nn.Tensor {
	lp := e.inner.LogProbBatch(nil, e.x, nil)
	out := tp.New(c.Rows, c.Cols)
	for i := range out.Data {
		out.Data[i] = c.Data[i] + 1e-3*math.Tanh(lp[0])
	}
	return out
}
func (nestedEmbed) Params() []*nn.Tensor { return nil }

// TestBatchNestedCalls runs a batch method whose chunks call another
// flow's batch method, with 2 and 3 goroutines: it must finish (a helper
// must not wait for itself) and give the serial result.
func TestBatchNestedCalls(t *testing.T) {
	rng := rand.New(rand.NewPCG(12, 1))
	xi := randDense(4*fastRows, 2, 0, 1, rng)
	inner, err := MAF{Transforms: 1, Hidden: 6}.Build(xi, nil, rng)
	if err != nil {
		t.Fatal(err)
	}
	x := randDense(6*fastRows, 2, 0, 1, rng)
	c := randDense(6*fastRows, 2, 0, 1, rng)
	f, err := MAF{Transforms: 1, Hidden: 6, Embedding: nestedEmbed{inner, xi}}.Build(x, c, rng)
	if err != nil {
		t.Fatal(err)
	}
	defer SetBatchWorkers(SetBatchWorkers(1))
	want := f.LogProbBatch(nil, x, c)
	for _, w := range []int{2, 3} {
		SetBatchWorkers(w)
		done := make(chan []float64)
		go func() { done <- f.LogProbBatch(nil, x, c) }()
		select {
		case got := <-done:
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("%d workers: log-prob %d = %v, serial %v", w, i, got[i], want[i])
				}
			}
		case <-time.After(60 * time.Second):
			t.Fatalf("%d workers: nested batch calls did not finish (deadlock)", w)
		}
	}
}
