package main

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gosbi/gosbi/diagnostics"
	"github.com/gosbi/gosbi/flows"
	"github.com/gosbi/gosbi/plots"
	"github.com/gosbi/gosbi/sbi"
	"github.com/gosbi/gosbi/simulators"
	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/plot/vg"
)

// benchMethod describes an inference method of the benchmark and sbc
// commands. To add a posterior estimator, add an entry to benchMethods and
// a case to trainPosterior; the likelihood and ratio methods, which run
// infer's pipeline, are in potentialMethods (benchmark_potential.go).
type benchMethod struct {
	published     string // its algorithm name in sbibm's published_c2st.csv
	publishedHow  string // how the published results were obtained, for the report
	amortised     bool   // one training serves every observation
	potential     bool   // NLE, NRE and their sequential versions: run per observation by runPipeline
	defaultRounds int
}

var benchMethods = map[string]benchMethod{
	"npe": {published: "NPE", amortised: true, defaultRounds: 1,
		publishedHow: "the paper's NPE used a neural spline flow (-estimator nsf)"},
	"snpe": {published: "SNPE", amortised: false, defaultRounds: 2,
		publishedHow: "the paper's SNPE used a neural spline flow (-estimator nsf) and 10 rounds (-rounds 10)"},
}

// methodNames returns the known method names, sorted, for messages.
func methodNames() string {
	names := make([]string, 0, len(benchMethods))
	for n := range benchMethods {
		names = append(names, n)
	}
	slices.Sort(names)
	return strings.Join(names, " or ")
}

// Random streams: every piece of work draws from rand.NewPCG(seed, stream),
// so that the result at observation K does not depend on which other
// observations are run. The training stream of amortised methods is the one
// of 'gosbi infer', which therefore trains the same posterior from the same
// seed.
const (
	streamTrain  = 0x5eed
	streamSeqObs = 0x534e5045 << 32 // "SNPE" | K: training and sampling of a sequential method at K
	streamSample = 0x53414d50 << 32 // "SAMP" | K: posterior samples at K
	streamC2ST   = 0x43325354 << 32 // "C2ST" | K: the classifier test at K
	streamTests  = 0x54455354 << 32 // "TEST": the test set of sbc
	streamSBC    = 0x53424320 << 32 // "SBC ": SBC's posterior draws
	streamTARP   = 0x54415250 << 32 // "TARP": TARP's reference points and draws
)

// trainSpec describes one training run of a method.
type trainSpec struct {
	task        *simulators.Task
	method      string
	estimator   string
	simulations int // total over all rounds
	rounds      int
	maxEpochs   int
	xo          []float64 // the observation of a sequential method; nil for amortised ones
	label       string    // prefix of the progress lines, e.g. "observation 3: "
	quiet       bool
}

// trainReport summarises a training run.
type trainReport struct {
	Simulations int     `json:"simulations"`
	Invalid     int     `json:"invalid_simulations"`
	Epochs      []int   `json:"epochs"`
	BestValLoss float64 `json:"best_validation_loss"`
	SimSeconds  float64 `json:"simulation_seconds"`
	TrainSecs   float64 `json:"training_seconds"`
}

// trainPosterior simulates and trains the posterior of spec, reporting
// progress on e.stderr, with all randomness from rng.
func trainPosterior(ctx context.Context, e env, spec trainSpec, rng *rand.Rand) (*sbi.DirectPosterior, *trainReport, error) {
	var est sbi.Estimator
	switch spec.estimator {
	case "maf":
		est = flows.MAF{}
	case "nsf":
		est = flows.NSF{}
	default:
		return nil, nil, usagef("unknown estimator %q (want maf or nsf)", spec.estimator)
	}
	var (
		simBar, trainBar *progress
		round            int
	)
	settings := &sbi.InferSettings{
		Config: &sbi.NPEConfig{Estimator: est},
		Rounds: spec.rounds,
		Simulate: &simulators.Settings{OnProgress: func(pr simulators.Progress) error {
			if simBar == nil {
				simBar = newProgress(e.stderr, e.tty, spec.quiet, fmt.Sprintf("%sround %d: simulating", spec.label, round), pr.Total)
			}
			simBar.update(pr.Done, fmt.Sprintf("(%d invalid, %d failed)", pr.Invalid, pr.Failed))
			return nil
		}},
		Train: &sbi.TrainSettings{Settings: flows.Settings{MaxEpochs: spec.maxEpochs, OnEpoch: func(es flows.EpochStats) error {
			if trainBar == nil {
				trainBar = newProgress(e.stderr, e.tty, spec.quiet, fmt.Sprintf("%sround %d: training", spec.label, round), -1)
			}
			trainBar.update(es.Epoch, fmt.Sprintf("epoch %d val loss %.4f best %.4f (epoch %d)", es.Epoch, es.ValLoss, es.BestValLoss, es.BestEpoch))
			return nil
		}}},
		OnRound: func(rr sbi.RoundResult) error {
			if simBar != nil {
				simBar.finish(rr.Simulation.Done, fmt.Sprintf("done in %.1fs (%d ok, %d invalid, %d failed)",
					rr.Simulation.Runtime.Seconds(), rr.Simulation.OK, rr.Simulation.Invalid, rr.Simulation.Failed))
			}
			if trainBar != nil && rr.Train != nil {
				trainBar.finish(rr.Train.Epochs, fmt.Sprintf("epochs in %.1fs, best validation loss %.4f at epoch %d",
					rr.Train.Runtime.Seconds(), rr.Train.BestValLoss, rr.Train.BestEpoch))
			}
			simBar, trainBar = nil, nil
			round = rr.Round + 1
			return nil
		},
	}
	switch spec.method {
	case "npe":
	case "snpe":
		settings.Observation = spec.xo
	default:
		return nil, nil, usagef("unknown method %q (want %s)", spec.method, methodNames())
	}
	post, res, err := sbi.Infer(ctx, spec.task.Simulator, spec.task.Prior, spec.simulations/spec.rounds, rng, settings)
	if err != nil {
		return nil, nil, err
	}
	return post, roundsReport(res.Rounds), nil
}

// checkMethodFlags validates -method (one of benchMethods), -rounds,
// -simulations and -max-epochs, filling in the default number of rounds.
func checkMethodFlags(method string, rounds *int, sims, maxEpochs int) (benchMethod, error) {
	m, ok := benchMethods[method]
	if !ok {
		return m, usagef("unknown method %q (want %s)", method, methodNames())
	}
	return m, checkRounds(m, method, rounds, sims, maxEpochs)
}

// checkRounds validates -rounds, -simulations and -max-epochs for method m,
// filling in its default number of rounds.
func checkRounds(m benchMethod, method string, rounds *int, sims, maxEpochs int) error {
	if *rounds == 0 {
		*rounds = m.defaultRounds
	}
	switch {
	case m.amortised && *rounds != 1:
		return usagef("-rounds %d: %s is a single round", *rounds, method)
	case *rounds < 1:
		return usagef("-rounds %d: want at least 1", *rounds)
	case sims < 2**rounds:
		return usagef("-simulations %d: want at least 2 per round", sims)
	case maxEpochs < 0:
		return usagef("-max-epochs %d: want 0 or more", maxEpochs)
	}
	return nil
}

// newTaskFlag resolves -task, turning unknown names into usage errors.
func newTaskFlag(name, data string) (*simulators.Task, error) {
	if name == "" {
		return nil, usagef("-task is required (one of %s)", strings.Join(simulators.TaskNames(), ", "))
	}
	t, err := simulators.NewTask(name, data)
	if err != nil {
		if errors.Is(err, simulators.ErrUnknownTask) {
			return nil, usagef("unknown task %q (want one of %s)", name, strings.Join(simulators.TaskNames(), ", "))
		}
		return nil, usageError{err}
	}
	return t, nil
}

// parseObservations parses a list of observation numbers: comma-separated
// numbers and ranges such as "1-5" or "1,3,7-9". It returns them in
// increasing order; zero or negative numbers, reversed ranges, duplicates and
// anything that is not a number are errors.
func parseObservations(spec string) ([]int, error) {
	if strings.TrimSpace(spec) == "" {
		return nil, errors.New("empty list")
	}
	var ks []int
	for part := range strings.SplitSeq(spec, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(strings.TrimSpace(lo))
		if err != nil {
			return nil, fmt.Errorf("%q is not a number or a range like 1-5", part)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(strings.TrimSpace(hi)); err != nil {
				return nil, fmt.Errorf("%q is not a number or a range like 1-5", part)
			}
		}
		switch {
		case a < 1:
			return nil, fmt.Errorf("observation %d: numbers start at 1", a)
		case b < a:
			return nil, fmt.Errorf("range %q runs backwards", part)
		case b-a >= 100_000:
			return nil, fmt.Errorf("range %q is too long", part)
		}
		for k := a; k <= b; k++ {
			ks = append(ks, k)
		}
	}
	slices.Sort(ks)
	for i := 1; i < len(ks); i++ {
		if ks[i] == ks[i-1] {
			return nil, fmt.Errorf("observation %d is listed twice", ks[i])
		}
	}
	return ks, nil
}

// readPublished returns the c2st_median of sbibm's published_c2st.csv (or
// any CSV file with the columns task, num_simulations, algorithm and
// c2st_median, in any order) for the task, algorithm (matched without regard
// to case) and simulation budget, and NaN when the file has no such row or
// an empty or "nan" median. A malformed file is an error.
func readPublished(r io.Reader, name, task, algorithm string, sims int) (float64, error) {
	cr := csv.NewReader(r)
	cr.TrimLeadingSpace = true
	header, err := cr.Read()
	if err != nil {
		return math.NaN(), fmt.Errorf("%s: header: %w", name, err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))] = i
	}
	for _, need := range []string{"task", "num_simulations", "algorithm", "c2st_median"} {
		if _, ok := col[need]; !ok {
			return math.NaN(), fmt.Errorf("%s: no %q column (header %q)", name, need, strings.Join(header, ","))
		}
	}
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return math.NaN(), nil
		}
		if err != nil {
			return math.NaN(), fmt.Errorf("%s: %w", name, err)
		}
		if rec[col["task"]] != task || !strings.EqualFold(rec[col["algorithm"]], algorithm) {
			continue
		}
		n, err := strconv.ParseFloat(rec[col["num_simulations"]], 64)
		if err != nil {
			return math.NaN(), fmt.Errorf("%s:%d: num_simulations %q is not a number", name, line, rec[col["num_simulations"]])
		}
		if n != float64(sims) {
			continue
		}
		s := strings.TrimSpace(rec[col["c2st_median"]])
		if s == "" || strings.EqualFold(s, "nan") {
			return math.NaN(), nil
		}
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || !(v >= 0 && v <= 1) {
			return math.NaN(), fmt.Errorf("%s:%d: c2st_median %q is not a number in [0, 1]", name, line, s)
		}
		return v, nil
	}
}

// benchObs is one observation of a benchmark run and its results. The
// sampler diagnostics R-hat and ESS are null unless an MCMC sampler ran;
// importance_ess is set with -sampler importance only.
type benchObs struct {
	K               int          `json:"observation"`
	Seed            *uint64      `json:"seed,omitempty"` // potential methods: the seed of this observation's infer run
	Dir             string       `json:"dir,omitempty"`  // potential methods: the folder of infer's files
	C2ST            float64      `json:"c2st"`
	FoldAccuracy    []float64    `json:"c2st_fold_accuracy"`
	Sampler         string       `json:"sampler"`
	AcceptanceRate  float64      `json:"acceptance_rate"`
	RHatMax         *float64     `json:"rhat_max"`
	ESSBulkMin      *float64     `json:"ess_bulk_min"`
	ESSTailMin      *float64     `json:"ess_tail_min"`
	ImportanceESS   *float64     `json:"importance_ess,omitempty"`
	Warnings        []string     `json:"warnings,omitempty"`
	SamplingSeconds float64      `json:"sampling_seconds"`
	C2STSeconds     float64      `json:"c2st_seconds"`
	Seconds         float64      `json:"seconds"`            // wall time at this observation: its training if any, sampling, C2ST
	Training        *trainReport `json:"training,omitempty"` // sequential and potential methods: this observation's training

	ref *simulators.Reference
}

// benchSummary is what benchmark.json holds.
type benchSummary struct {
	Task            string       `json:"task"`
	Method          string       `json:"method"`
	Estimator       string       `json:"estimator"`
	Sampler         string       `json:"sampler"`
	Simulations     int          `json:"simulations"`
	Rounds          int          `json:"rounds"`
	Seed            uint64       `json:"seed"`
	NumSamples      int          `json:"num_samples"`
	C2STVariant     string       `json:"c2st_variant"`
	C2STRows        int          `json:"c2st_rows"`
	PublishedFile   string       `json:"published_file"`
	PublishedAlgo   string       `json:"published_algorithm"` // the method's name in the published file
	PublishedMedian *float64     `json:"published_median"`    // null when not published
	PublishedNote   string       `json:"published_note"`      // how the paper's figure was obtained, or that there is none
	MedianC2ST      float64      `json:"median_c2st"`
	Training        *trainReport `json:"training,omitempty"` // amortised methods: the one training
	Observations    []*benchObs  `json:"observations"`
	TotalSeconds    float64      `json:"total_seconds"`
}

func runBenchmark(ctx context.Context, e env, args []string) error {
	start := time.Now()
	flags := newFlags(e, "benchmark", "-task NAME -method M -simulations N -data DIR [flags]")
	task := flags.String("task", "", "sbibm task name (see 'gosbi tasks')")
	method := flags.String("method", "npe", "inference method: "+benchmarkMethodNames())
	sampler := flags.String("sampler", "", "posterior sampler for nle/snle/nre/snre: slice (default), slice_chains, nuts, hmc, mh, rejection, importance or vi")
	nsim := flags.Int("simulations", 10_000, "simulation budget per posterior (total over all rounds)")
	data := flags.String("data", "", "sbibm-layout data folder holding <task>/num_observation_K/")
	obsSpec := flags.String("observations", "", "observation numbers, e.g. 1-5 or 1,3,5 (default: every one in the data folder)")
	out := flags.String("out", "out", "output folder")
	published := flags.String("published", "", "published C2ST medians (default DIR/published_c2st.csv)")
	c2stKind := flags.String("c2st", "fast", "C2ST variant: fast (early stopping, seconds) or exact (sbibm's classifier recipe, minutes per 10-D comparison)")
	nsamples := flags.Int("num-samples", 10_000, "posterior samples per observation; C2ST compares as many reference samples (at most those available)")
	seed := flags.Uint64("seed", 1, "random seed")
	rounds := flags.Int("rounds", 0, "number of rounds (snpe, snle, snre: default 2, the budget split evenly; npe, nle, nre: 1)")
	estimator := flags.String("estimator", "maf", "density estimator of npe/snpe (posterior) and nle/snle (likelihood): maf or nsf\n(the sbibm paper's NPE used nsf; nre/snre train a residual-net classifier)")
	maxEpochs := flags.Int("max-epochs", 0, "cap on training epochs per round (0: until early stopping)")
	viFlags := addVIFlags(flags)
	if err := parse(flags, args); err != nil {
		return err
	}
	t, err := newTaskFlag(*task, *data)
	if err != nil {
		return err
	}
	m, ok := lookupBenchmarkMethod(*method)
	if !ok {
		return usagef("unknown method %q (want %s)", *method, benchmarkMethodNames())
	}
	if err := checkRounds(m, *method, rounds, *nsim, *maxEpochs); err != nil {
		return err
	}
	if err := checkBenchSampler(m, *method, sampler); err != nil {
		return err
	}
	switch {
	case *nsamples < 100:
		return usagef("-num-samples %d: want at least 100 for a 5-fold C2ST", *nsamples)
	case *estimator != "maf" && *estimator != "nsf":
		return usagef("unknown estimator %q (want maf or nsf)", *estimator)
	case strings.HasSuffix(*method, "nre") && visited(flags)["estimator"]:
		return usagef("-estimator %s: %s trains a classifier, not a density estimator", *estimator, *method)
	}
	viOpts, err := viFlags.options(flags, *sampler, *nsamples)
	if err != nil {
		return err
	}
	estName := *estimator
	if strings.HasSuffix(*method, "nre") {
		estName = "resnet"
	}
	var c2stSettings *diagnostics.C2STSettings
	switch *c2stKind {
	case "fast":
		c2stSettings = diagnostics.FastC2STSettings()
	case "exact":
		c2stSettings = &diagnostics.C2STSettings{}
	default:
		return usagef("-c2st %q: want fast or exact", *c2stKind)
	}
	if *data == "" {
		return usagef("-data is required: an sbibm-layout folder holding %s/num_observation_K/", t.Name)
	}
	avail, err := simulators.ObservationNumbers(*data, t.Name)
	if err != nil {
		return usageError{fmt.Errorf("data folder %s: %w", *data, err)}
	}
	if len(avail) == 0 {
		return usagef("data folder %s has no num_observation_K folder for %s", *data, t.Name)
	}
	ks := avail
	if *obsSpec != "" {
		if ks, err = parseObservations(*obsSpec); err != nil {
			return usagef("-observations %q: %v", *obsSpec, err)
		}
		for _, k := range ks {
			if !slices.Contains(avail, k) {
				return usagef("-observations: observation %d of %s is not in %s (available: %v)", k, t.Name, *data, avail)
			}
		}
	}
	pubFile := *published
	if pubFile == "" {
		pubFile = filepath.Join(*data, "published_c2st.csv")
	}
	pub, err := loadPublished(e, pubFile, *published != "", t.Name, m.published, *nsim)
	if err != nil {
		return err
	}
	obs := make([]*benchObs, len(ks))
	for i, k := range ks {
		ref, err := t.Reference(*data, k)
		if err != nil {
			return usageError{fmt.Errorf("observation %d: %w", k, err)}
		}
		obs[i] = &benchObs{K: k, ref: ref}
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}

	variant := *c2stKind
	fmt.Fprintf(e.stdout, "benchmark %s, %s (%s, sampler %s), %d simulations, observations %v, C2ST %s\n",
		t.Name, *method, estName, *sampler, *nsim, ks, c2stDescription(variant))
	s := &benchSummary{Task: t.Name, Method: *method, Estimator: estName, Sampler: *sampler, Simulations: *nsim, Rounds: *rounds,
		Seed: *seed, NumSamples: *nsamples, C2STVariant: variant, PublishedFile: pubFile, PublishedAlgo: m.published,
		PublishedNote: m.publishedHow, Observations: obs}
	if !math.IsNaN(pub) {
		s.PublishedMedian = &pub
	} else {
		s.PublishedNote = fmt.Sprintf("%s has no C2ST median for %s with %s at %d simulations: nothing to compare with",
			pubFile, t.Name, m.published, *nsim)
	}
	spec := trainSpec{task: t, method: *method, estimator: *estimator, simulations: *nsim, rounds: *rounds, maxEpochs: *maxEpochs}
	potential := pipeline{name: t.Name, sim: t.Simulator, prior: t.Prior, thetaNames: t.ThetaNames, method: *method,
		sampler: *sampler, estimator: *estimator, simulations: *nsim, rounds: *rounds, samples: *nsamples,
		maxEpochs: *maxEpochs, vi: viOpts}
	var post *sbi.DirectPosterior
	if m.amortised && !m.potential {
		if post, s.Training, err = trainPosterior(ctx, e, spec, rand.New(rand.NewPCG(*seed, streamTrain))); err != nil {
			return err
		}
	}
	for _, o := range obs {
		t0 := time.Now()
		var samples *mat.Dense
		if m.potential {
			if samples, err = runPotentialObservation(ctx, e, potential, *seed, *out, o); err != nil {
				return fmt.Errorf("observation %d: %w", o.K, err)
			}
		} else {
			sampleRNG := rand.New(rand.NewPCG(*seed, streamSample|uint64(o.K)))
			if !m.amortised {
				spec.xo, spec.label = o.ref.Observation, fmt.Sprintf("observation %d: ", o.K)
				rng := rand.New(rand.NewPCG(*seed, streamSeqObs|uint64(o.K)))
				if post, o.Training, err = trainPosterior(ctx, e, spec, rng); err != nil {
					return fmt.Errorf("observation %d: %w", o.K, err)
				}
				sampleRNG = rng
			}
			if samples, err = sampleObservation(ctx, e, post, o, *nsamples, sampleRNG); err != nil {
				return fmt.Errorf("observation %d: %w", o.K, err)
			}
		}
		if err := simulators.WriteCSV(filepath.Join(*out, fmt.Sprintf("posterior_samples_%d.csv", o.K)), samples, t.ThetaNames); err != nil {
			return err
		}
		rows, err := c2stObservation(ctx, e, o, samples, c2stSettings, rand.New(rand.NewPCG(*seed, streamC2ST|uint64(o.K))))
		if err != nil {
			return fmt.Errorf("observation %d: %w", o.K, err)
		}
		s.C2STRows = rows
		o.Seconds = time.Since(t0).Seconds()
	}

	vals := make([]float64, len(obs))
	xs := make([]float64, len(obs))
	for i, o := range obs {
		vals[i], xs[i] = o.C2ST, float64(o.K)
	}
	s.MedianC2ST = medianOf(vals)
	if err := writeC2STCSV(filepath.Join(*out, "c2st.csv"), s, pub); err != nil {
		return err
	}
	series := plots.C2STSeries{Name: "gosbi " + strings.ToUpper(*method), X: xs, C2ST: vals,
		Published: []float64{pub}, PublishedName: fmt.Sprintf("sbibm %s median (paper)", m.published)}
	fig, err := plots.NewC2ST(&plots.C2STConfig{
		Title: fmt.Sprintf("%s, %s (%s, %s), %d simulations, C2ST %s", t.Name, strings.ToUpper(*method), estName, *sampler, *nsim, variant),
	}, series)
	if err != nil {
		return err
	}
	if err := fig.Save(filepath.Join(*out, "c2st.png"), 6*vg.Inch, 4*vg.Inch); err != nil {
		return err
	}
	s.TotalSeconds = time.Since(start).Seconds()
	if err := writeJSON(filepath.Join(*out, "benchmark.json"), s); err != nil {
		return err
	}
	printBenchTable(e.stdout, s, pub)
	if math.IsNaN(pub) {
		fmt.Fprintf(e.stdout, "note: %s\n", s.PublishedNote)
	} else {
		fmt.Fprintf(e.stdout, "note: %s, and the exact C2ST\n", m.publishedHow)
	}
	files := "c2st.csv,c2st.png,benchmark.json,posterior_samples_K.csv"
	if m.potential {
		files += ",observation_K/ (infer's files)"
	}
	fmt.Fprintf(e.stdout, "wrote %s/{%s} (total %.1fs)\n", *out, files, s.TotalSeconds)
	return nil
}

// c2stDescription names the C2ST variant for the report.
func c2stDescription(variant string) string {
	if variant == "exact" {
		return "exact (sbibm's MLP classifier recipe, as behind the published medians)"
	}
	return "fast (early stopping on a validation split; the published medians used the exact variant, -c2st exact)"
}

// loadPublished reads the published median. A file named explicitly must be
// readable; the default file may be absent, which gives NaN with a note.
func loadPublished(e env, path string, explicit bool, task, algorithm string, sims int) (float64, error) {
	f, err := os.Open(path)
	if err != nil {
		if !explicit && errors.Is(err, fs.ErrNotExist) {
			fmt.Fprintf(e.stderr, "note: no published results at %s (use -published FILE); the table shows NaN\n", path)
			return math.NaN(), nil
		}
		return math.NaN(), usagef("published results: %v", err)
	}
	defer f.Close()
	v, err := readPublished(f, path, task, algorithm, sims)
	if err != nil {
		return math.NaN(), usagef("published results: %v", err)
	}
	if math.IsNaN(v) {
		fmt.Fprintf(e.stderr, "note: %s has no C2ST median for %s, %s, %d simulations\n", path, task, algorithm, sims)
	}
	return v, nil
}

// sampleObservation draws n posterior samples at observation o.
func sampleObservation(ctx context.Context, e env, post *sbi.DirectPosterior, o *benchObs, n int, rng *rand.Rand) (*mat.Dense, error) {
	t0 := time.Now()
	c, err := post.At(o.ref.Observation)
	if err != nil {
		return nil, err
	}
	sr, err := c.SampleN(ctx, n, rng)
	if err != nil {
		return nil, err
	}
	o.SamplingSeconds = time.Since(t0).Seconds()
	o.Sampler, o.AcceptanceRate = "direct", sr.AcceptanceRate
	fmt.Fprintf(e.stderr, "observation %d: %d samples in %.2fs (acceptance %.3f)\n", o.K, n, o.SamplingSeconds, o.AcceptanceRate)
	return sr.Samples, nil
}

// c2stObservation runs the classifier test of samples against o's reference
// samples, on the first min(rows) rows of both, and returns that number of
// rows.
func c2stObservation(ctx context.Context, e env, o *benchObs, samples *mat.Dense, base *diagnostics.C2STSettings, rng *rand.Rand) (int, error) {
	ref := o.ref.PosteriorSamples
	nr, d := ref.Dims()
	ns, _ := samples.Dims()
	n := min(nr, ns)
	settings := *base
	bar := newProgress(e.stderr, e.tty, false, fmt.Sprintf("observation %d: C2ST", o.K), 5)
	settings.OnProgress = func(done, _ int) error {
		bar.update(done, "folds")
		return nil
	}
	res, err := diagnostics.C2ST(ctx, ref.Slice(0, n, 0, d).(*mat.Dense), samples.Slice(0, n, 0, d).(*mat.Dense), rng, &settings)
	if err != nil {
		return 0, err
	}
	o.C2ST, o.FoldAccuracy, o.C2STSeconds = res.Accuracy, res.FoldAccuracy, res.Runtime.Seconds()
	bar.finish(len(res.FoldAccuracy), fmt.Sprintf("%.4f in %.1fs", res.Accuracy, o.C2STSeconds))
	return n, nil
}

// writeC2STCSV writes c2st.csv: one row per observation, the published
// median empty when there is none.
func writeC2STCSV(path string, s *benchSummary, pub float64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	_ = w.Write([]string{"task", "method", "simulations", "observation", "c2st", "published_median"})
	pubText := ""
	if !math.IsNaN(pub) {
		pubText = strconv.FormatFloat(pub, 'g', -1, 64)
	}
	for _, o := range s.Observations {
		_ = w.Write([]string{s.Task, s.Method, strconv.Itoa(s.Simulations), strconv.Itoa(o.K),
			strconv.FormatFloat(o.C2ST, 'f', 4, 64), pubText})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// printBenchTable prints the per-observation results and their median next
// to the published median, with the sampler's diagnostics ("-" where the
// sampler has none) and the times.
func printBenchTable(w io.Writer, s *benchSummary, pub float64) {
	fmtPub := func(v float64) string {
		if math.IsNaN(v) {
			return "NaN"
		}
		return fmt.Sprintf("%.4f", v)
	}
	opt := func(v *float64, format string) string {
		if v == nil {
			return "-"
		}
		return fmt.Sprintf(format, *v)
	}
	fmt.Fprintf(w, "\n%-12s %8s %10s %10s %10s %9s %9s %9s %9s %9s\n", "observation", "C2ST", "published",
		"sampler", "acceptance", "max R-hat", "min ESS", "sample s", "C2ST s", "total s")
	for _, o := range s.Observations {
		fmt.Fprintf(w, "%-12d %8.4f %10s %10s %10.3f %9s %9s %9.2f %9.1f %9.1f\n", o.K, o.C2ST, fmtPub(pub), o.Sampler,
			o.AcceptanceRate, opt(o.RHatMax, "%.3f"), opt(o.ESSBulkMin, "%.0f"), o.SamplingSeconds, o.C2STSeconds, o.Seconds)
	}
	fmt.Fprintf(w, "%-12s %8.4f %10s\n", "median", s.MedianC2ST, fmtPub(pub))
	fmt.Fprintf(w, "C2ST %s on %d vs %d samples; the published value is the median over sbibm's 10 observations", s.C2STVariant, s.C2STRows, s.C2STRows)
	if s.Training != nil {
		fmt.Fprintf(w, "; training: %d simulations in %.1fs, %v epochs in %.1fs", s.Training.Simulations, s.Training.SimSeconds, s.Training.Epochs, s.Training.TrainSecs)
	}
	fmt.Fprintln(w)
	for _, o := range s.Observations {
		if s.Training == nil && o.Training != nil {
			fmt.Fprintf(w, "observation %d: training: %d simulations in %.1fs, %v epochs in %.1fs\n",
				o.K, o.Training.Simulations, o.Training.SimSeconds, o.Training.Epochs, o.Training.TrainSecs)
		}
	}
}

// medianOf returns the median of v (not modified), NaN when empty.
func medianOf(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// roundsReport sums the simulation and training figures of the rounds of an
// inference run.
func roundsReport(rounds []sbi.RoundResult) *trainReport {
	rep := &trainReport{}
	for _, rr := range rounds {
		rep.Simulations += rr.Simulation.Requested
		rep.Invalid += rr.Simulation.Invalid + rr.Simulation.Failed
		rep.SimSeconds += rr.Simulation.Runtime.Seconds() + rr.ProposalTime.Seconds()
		if rr.Train != nil {
			rep.Epochs = append(rep.Epochs, rr.Train.Epochs)
			rep.TrainSecs += rr.Train.Runtime.Seconds()
			rep.BestValLoss = rr.Train.BestValLoss
		}
	}
	return rep
}
