package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gosbi/gosbi/dist"
	"github.com/gosbi/gosbi/flows"
	"github.com/gosbi/gosbi/plots"
	"github.com/gosbi/gosbi/sbi"
	"github.com/gosbi/gosbi/simulators"
	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/plot/vg"
)

// pipeline describes one inference run: a simulator and prior, an
// observation, a budget, and where to write the results.
type pipeline struct {
	name        string // task name, for messages and the summary
	sim         simulators.Simulator
	prior       dist.Distribution
	thetaNames  []string
	xo          []float64
	method      string // "npe", "snpe", "nle", "snle", "nre" or "snre"
	sampler     string // for nle/nre: an MCMC kernel name, "rejection", "importance" or "vi"
	estimator   string // "maf" or "nsf"
	simulations int    // total over all rounds
	rounds      int
	samples     int
	seed        uint64
	maxEpochs   int // 0: until early stopping
	out         string
	plotName    string    // file name of the pair plot in out
	truth       []float64 // optional true parameters for the plot
	reference   *mat.Dense
	checkpoint  string     // folder of the resumable state, "" for none (see checkpoint.go)
	trainData   *trainData // simulations to train on instead of simulating (npe, nle, nre), or nil
	vi          *viOptions // the options of sampler "vi" (nil: defaults)
}

// summary is what summary.json holds.
type summary struct {
	Task               string     `json:"task"`
	TrainData          string     `json:"train_data,omitempty"`
	Method             string     `json:"method"`
	Estimator          string     `json:"estimator"`
	Seed               uint64     `json:"seed"`
	Observation        []float64  `json:"observation"`
	Simulations        int        `json:"simulations"`
	Rounds             int        `json:"rounds"`
	InvalidSimulations int        `json:"invalid_simulations"`
	FailedSimulations  int        `json:"failed_simulations"`
	Epochs             []int      `json:"epochs"`
	BestValLoss        float64    `json:"best_validation_loss"`
	BestValLogProb     *float64   `json:"best_validation_log_prob,omitempty"`
	NumSamples         int        `json:"num_samples"`
	Sampler            string     `json:"sampler"`
	AcceptanceRate     float64    `json:"acceptance_rate"`
	RHat               []*float64 `json:"rhat,omitempty"`
	ESSBulk            []*float64 `json:"ess_bulk,omitempty"`
	ESSTail            []*float64 `json:"ess_tail,omitempty"`
	ImportanceESS      *float64   `json:"importance_ess,omitempty"`
	Khat               *float64   `json:"khat,omitempty"`
	// The VI fields are set with sampler "vi" only (see sampleVI).
	VIObjective            string    `json:"vi_objective,omitempty"`
	VIFamily               string    `json:"vi_family,omitempty"`
	VIPriorStart           *bool     `json:"vi_prior_start,omitempty"`
	VIWarmStart            string    `json:"vi_warm_start,omitempty"`
	VIWarmStartEpochs      *int      `json:"vi_warm_start_epochs,omitempty"`
	VIWarmStartBestValLoss *float64  `json:"vi_warm_start_best_validation_loss,omitempty"`
	VIWarmStartSeconds     *float64  `json:"vi_warm_start_seconds,omitempty"`
	VIIterations           *int      `json:"vi_iterations,omitempty"`
	VIConverged            *bool     `json:"vi_converged,omitempty"`
	VIInitRounds           *int      `json:"vi_init_rounds,omitempty"`
	VIInitBeta             *float64  `json:"vi_init_beta,omitempty"`
	VIInitESS              *float64  `json:"vi_init_ess,omitempty"`
	VIInitSeconds          *float64  `json:"vi_init_seconds,omitempty"`
	VIFitSeconds           *float64  `json:"vi_fit_seconds,omitempty"`
	VIResample             *int      `json:"vi_resample,omitempty"`
	VIResampleKhat         *float64  `json:"vi_resample_khat,omitempty"`
	VIResampleESS          *float64  `json:"vi_resample_ess,omitempty"`
	Warnings               []string  `json:"warnings,omitempty"`
	PosteriorFile          string    `json:"posterior_file,omitempty"`
	VIPosteriorFile        string    `json:"vi_posterior_file,omitempty"` // sampler "vi": q (see sample_vi.go)
	SimulationSeconds      float64   `json:"simulation_seconds"`
	TrainingSeconds        float64   `json:"training_seconds"`
	SamplingSeconds        float64   `json:"sampling_seconds"`
	TotalSeconds           float64   `json:"total_seconds"`
	PosteriorMean          []float64 `json:"posterior_mean"`
	PosteriorStd           []float64 `json:"posterior_std"`
}

// runPipeline simulates, trains, samples and writes every output file.
func runPipeline(ctx context.Context, e env, p pipeline) (*summary, error) {
	start := time.Now()
	if err := os.MkdirAll(p.out, 0o755); err != nil {
		return nil, err
	}
	src := rand.NewPCG(p.seed, 0x5eed)
	rng := rand.New(src)
	var ck *ckpt
	if p.checkpoint != "" {
		var resumed bool
		var err error
		if ck, resumed, err = openCheckpoint(p.checkpoint, p, src); err != nil {
			return nil, err
		}
		if resumed {
			fmt.Fprintf(e.stderr, "resuming from the checkpoint in %s\n", p.checkpoint)
		}
	}
	var est sbi.Estimator
	switch p.estimator {
	case "maf":
		est = flows.MAF{}
	case "nsf":
		est = flows.NSF{}
	default:
		return nil, usagef("unknown estimator %q (want maf or nsf)", p.estimator)
	}
	s := &summary{Task: p.name, Method: p.method, Estimator: p.estimator, Seed: p.seed, Observation: p.xo,
		Rounds: p.rounds, NumSamples: p.samples}
	perRound := p.simulations / p.rounds

	var (
		simBar   *progress
		trainBar *progress
		round    int
	)
	simulate := &simulators.Settings{OnProgress: func(pr simulators.Progress) error {
		if simBar == nil {
			simBar = newProgress(e.stderr, e.tty, false, fmt.Sprintf("round %d: simulating", round), pr.Total)
		}
		simBar.update(pr.Done, fmt.Sprintf("(%d invalid, %d failed)", pr.Invalid, pr.Failed))
		return nil
	}}
	train := &sbi.TrainSettings{Settings: flows.Settings{MaxEpochs: p.maxEpochs, OnEpoch: func(es flows.EpochStats) error {
		if trainBar == nil {
			trainBar = newProgress(e.stderr, e.tty, false, fmt.Sprintf("round %d: training", round), -1)
		}
		trainBar.update(es.Epoch, fmt.Sprintf("epoch %d val loss %.4f best %.4f (epoch %d)", es.Epoch, es.ValLoss, es.BestValLoss, es.BestEpoch))
		return nil
	}}}
	onRound := func(rr sbi.RoundResult) error {
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
	}

	var (
		samples *mat.Dense
		res     *sbi.InferResult
		sampled time.Time
		err     error
	)
	switch p.method {
	case "npe", "snpe":
		settings := &sbi.InferSettings{
			Config: &sbi.NPEConfig{Estimator: est}, Rounds: p.rounds,
			Simulate: simulate, Train: train, OnRound: onRound,
		}
		if p.method == "snpe" {
			settings.Observation = p.xo
		}
		var post *sbi.DirectPosterior
		if p.trainData != nil {
			s.TrainData = p.trainData.path
			post, res, err = inferFromFile(ctx, p.trainData, p, rng, settings, ck)
		} else {
			if ck != nil {
				settings.WrapSimulations, settings.TrainRound = ck.wrapSimulations, ck.trainRound(train)
			}
			post, res, err = sbi.Infer(ctx, p.sim, p.prior, perRound, rng, settings)
		}
		if err != nil {
			return nil, err
		}
		sampled = time.Now()
		c, err := post.At(p.xo)
		if err != nil {
			return nil, err
		}
		sr, err := c.SampleN(ctx, p.samples, rng)
		if err != nil {
			return nil, err
		}
		samples = sr.Samples
		s.Sampler = "direct"
		s.AcceptanceRate = sr.AcceptanceRate
		s.PosteriorFile = "posterior.gosbi"
		if err := sbi.SaveFile(filepath.Join(p.out, s.PosteriorFile), post); err != nil {
			return nil, err
		}
	default: // nle, snle, nre, snre
		xo := mat.NewDense(1, len(p.xo), append([]float64(nil), p.xo...))
		mcmcSettings := &sbi.MCMCSettings{}
		if p.sampler != "rejection" && p.sampler != "importance" && p.sampler != "vi" {
			k, err := sbi.KernelByName(p.sampler)
			if err != nil {
				return nil, usageError{err}
			}
			mcmcSettings.Kernel = k
		}
		settings := &sbi.PotentialInferSettings{
			NLE: &sbi.NLEConfig{Estimator: est}, Rounds: p.rounds, MCMC: mcmcSettings,
			Simulate: simulate, Train: train, OnRound: onRound,
		}
		if p.rounds > 1 {
			settings.Observation = xo
		}
		var warm *warmStart
		if p.sampler == "vi" && p.vi != nil && p.vi.warmStart == "npe" {
			warm = newWarmStart(e, p.prior, est, p.maxEpochs, src, ck)
			settings.OnSimulations = warm.onSimulations(ctx)
		}
		infer := sbi.InferNLE
		if strings.HasSuffix(p.method, "nre") {
			infer = sbi.InferNRE
		}
		if ck != nil {
			settings.WrapSimulations, settings.TrainRound = ck.wrapSimulations, ck.trainRound(train)
		}
		var post *sbi.MCMCPosterior
		if p.trainData != nil {
			s.TrainData = p.trainData.path
			post, res, err = inferPotentialFromFile(ctx, p.trainData, p, rng, settings, ck, strings.HasSuffix(p.method, "nre"), warm)
		} else {
			post, res, err = infer(ctx, p.sim, p.prior, perRound, rng, settings)
		}
		if err != nil {
			return nil, err
		}
		sampled = time.Now()
		s.Sampler = p.sampler
		s.PosteriorFile = "posterior.gosbi"
		if err := sbi.SaveMCMCFile(filepath.Join(p.out, s.PosteriorFile), post); err != nil {
			return nil, err
		}
		switch p.sampler {
		case "rejection", "importance":
			pot, err := post.Potential(xo)
			if err != nil {
				return nil, err
			}
			if p.sampler == "rejection" {
				rp, err := sbi.NewRejectionPosterior(ctx, pot, p.prior, rng, nil)
				if err != nil {
					return nil, err
				}
				rr, err := rp.SampleN(ctx, p.samples, rng)
				if err != nil {
					return nil, err
				}
				samples, s.AcceptanceRate = rr.Samples, rr.AcceptanceRate
				s.Warnings = append(rp.Warnings(), rr.Warnings...)
			} else {
				ip, err := sbi.NewImportanceSamplingPosterior(pot, p.prior, nil)
				if err != nil {
					return nil, err
				}
				ir, err := ip.SampleN(ctx, p.samples, rng)
				if err != nil {
					return nil, err
				}
				samples, s.AcceptanceRate = ir.Samples, 1
				s.ImportanceESS = finiteOrNil(ir.ESS)
			}
		case "vi":
			if p.vi == nil {
				p.vi = defaultVIOptions()
			}
			if samples, err = sampleVI(ctx, e, p, post, xo, warm, rng, s); err != nil {
				return nil, err
			}
		default:
			mr, err := post.Sample(ctx, xo, p.samples, rng)
			if err != nil {
				return nil, err
			}
			samples, s.AcceptanceRate, s.Warnings = mr.Samples, mr.AcceptanceRate, mr.Warnings
			s.RHat, s.ESSBulk, s.ESSTail = finitesOrNil(mr.RHat), finitesOrNil(mr.ESSBulk), finitesOrNil(mr.ESSTail)
		}
	}
	for _, rr := range res.Rounds {
		s.Simulations += rr.Simulation.Requested
		s.InvalidSimulations += rr.Simulation.Invalid
		s.FailedSimulations += rr.Simulation.Failed
		s.SimulationSeconds += rr.Simulation.Runtime.Seconds() + rr.ProposalTime.Seconds()
		if rr.Train != nil {
			s.Epochs = append(s.Epochs, rr.Train.Epochs)
			s.TrainingSeconds += rr.Train.Runtime.Seconds()
			s.BestValLoss = rr.Train.BestValLoss
		}
	}
	if !strings.HasSuffix(p.method, "nre") {
		// The NPE and NLE losses are negative mean log-densities; NRE's is a
		// classification loss.
		s.BestValLogProb = finiteOrNil(-s.BestValLoss)
	}
	s.SamplingSeconds = time.Since(sampled).Seconds()
	s.PosteriorMean, s.PosteriorStd = colMeanStd(samples)

	if err := simulators.WriteCSV(filepath.Join(p.out, "posterior_samples.csv"), samples, p.thetaNames); err != nil {
		return nil, err
	}
	if err := pairPlot(filepath.Join(p.out, p.plotName), samples, p.thetaNames, p.truth, p.reference,
		fmt.Sprintf("%s: %s posterior, %d simulations", p.name, strings.ToUpper(p.method), s.Simulations)); err != nil {
		return nil, err
	}
	s.TotalSeconds = time.Since(start).Seconds()
	if err := writeJSON(filepath.Join(p.out, "summary.json"), s); err != nil {
		return nil, err
	}
	return s, nil
}

// pairPlot draws the posterior samples, with the reference samples and true
// parameters when known, and saves the figure at path.
func pairPlot(path string, samples *mat.Dense, names []string, truth []float64, reference *mat.Dense, title string) error {
	sets := []plots.SampleSet{{Name: "gosbi posterior", Samples: samples}}
	if reference != nil {
		sets = append(sets, plots.SampleSet{Name: "reference", Samples: reference})
	}
	fig, err := plots.NewPair(&plots.PairConfig{Labels: names, Truth: truth, Title: title}, sets...)
	if err != nil {
		return err
	}
	_, d := samples.Dims()
	size := vg.Length(max(4, min(12, 2*d))) * vg.Inch
	return fig.Save(path, size, size)
}

// finiteOrNil returns &v, or nil (JSON null) when v is NaN or infinite.
func finiteOrNil(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

func finitesOrNil(vs []float64) []*float64 {
	out := make([]*float64, len(vs))
	for i, v := range vs {
		out[i] = finiteOrNil(v)
	}
	return out
}

// maxFinite returns the largest finite value of vs (NaN if none).
func maxFinite(vs []float64) float64 {
	m := math.NaN()
	for _, v := range vs {
		if !math.IsNaN(v) && !math.IsInf(v, 0) && (math.IsNaN(m) || v > m) {
			m = v
		}
	}
	return m
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

func colMeanStd(m *mat.Dense) (mean, std []float64) {
	r, c := m.Dims()
	mean, std = make([]float64, c), make([]float64, c)
	for j := range c {
		var s, ss float64
		for i := range r {
			s += m.At(i, j)
		}
		mu := s / float64(r)
		for i := range r {
			d := m.At(i, j) - mu
			ss += d * d
		}
		mean[j] = mu
		if r > 1 {
			std[j] = math.Sqrt(ss / float64(r-1))
		}
	}
	return mean, std
}

// readObservation reads an sbibm-format observation file (a header row and
// one data row) and checks its length.
func readObservation(path string, want int) ([]float64, error) {
	if path == "" {
		return nil, usagef("-observation is required")
	}
	m, _, err := simulators.ReadCSV(path)
	if err != nil {
		return nil, usageError{fmt.Errorf("observation: %w", err)}
	}
	r, c := m.Dims()
	if r != 1 {
		return nil, usagef("observation %s: %d data rows, want exactly 1", path, r)
	}
	if c != want {
		return nil, usagef("observation %s: %d values, the task's x has %d", path, c, want)
	}
	xo := mat.Row(nil, 0, m)
	for j, v := range xo {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, usagef("observation %s: value %d is %v", path, j+1, v)
		}
	}
	return xo, nil
}

func runInfer(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "infer", "-task NAME -observation FILE.csv [flags]")
	task := fs.String("task", "", "sbibm task name (see 'gosbi tasks')")
	method := fs.String("method", "npe", "inference method: npe, snpe, nle, snle, nre or snre")
	sampler := fs.String("sampler", "", "posterior sampler for nle/nre: slice (default), slice_chains, nuts, hmc, mh, rejection, importance or vi")
	nsim := fs.Int("simulations", 10_000, "simulation budget (total over all rounds)")
	obs := fs.String("observation", "", "observation file: sbibm CSV with a header row and one data row")
	nsamples := fs.Int("num-samples", 10_000, "number of posterior samples to draw")
	seed := fs.Uint64("seed", 1, "random seed")
	out := fs.String("out", "out", "output folder")
	rounds := fs.Int("rounds", 0, "number of rounds of sequential methods (default 2; npe, nle, nre: 1)")
	estimator := fs.String("estimator", "maf", "density estimator: maf or nsf")
	data := fs.String("data", "", "sbibm data folder (needed by slcp_distractors only)")
	maxEpochs := fs.Int("max-epochs", 0, "cap on training epochs per round (0: until early stopping)")
	viFlags := addVIFlags(fs)
	checkpoint := fs.String("checkpoint", "", "folder for the resumable state of the run (every method and round): rerun the same command to resume after an interrupt")
	trainFile := fs.String("train-data", "", "complete simulation file of the task (from 'gosbi simulate' or 'gosbi merge') to train on\ninstead of simulating; streamed from disk in blocks (npe, nle, nre)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *trainFile != "" {
		switch {
		case *method != "npe" && *method != "nle" && *method != "nre":
			return usagef("-train-data with -method %s: only the single-round npe, nle and nre train on a simulation file", *method)
		case visited(fs)["simulations"]:
			return usagef("-train-data and -simulations: the budget is the file's number of simulations")
		}
	}
	if *task == "" {
		return usagef("-task is required (one of %s)", strings.Join(simulators.TaskNames(), ", "))
	}
	t, err := simulators.NewTask(*task, *data)
	if err != nil {
		if errors.Is(err, simulators.ErrUnknownTask) {
			return usagef("unknown task %q (want one of %s)", *task, strings.Join(simulators.TaskNames(), ", "))
		}
		return usageError{err}
	}
	switch *method {
	case "npe", "nle", "nre":
		if *rounds == 0 {
			*rounds = 1
		}
		if *rounds != 1 {
			return usagef("-rounds %d: %s is a single round (use -method s%s)", *rounds, *method, *method)
		}
	case "snpe", "snle", "snre":
		if *rounds == 0 {
			*rounds = 2
		}
	default:
		return usagef("unknown method %q (want npe, snpe, nle, snle, nre or snre)", *method)
	}
	switch {
	case strings.HasSuffix(*method, "npe"):
		if *sampler != "" && *sampler != "direct" {
			return usagef("-sampler %q: %s samples its posterior directly", *sampler, *method)
		}
		*sampler = "direct"
	case *sampler == "":
		*sampler = "slice"
	case *sampler == "rejection" || *sampler == "importance" || *sampler == "vi":
	default:
		if _, err := sbi.KernelByName(*sampler); err != nil {
			return usagef("unknown sampler %q (want slice, slice_chains, nuts, hmc, mh, rejection, importance or vi)", *sampler)
		}
	}
	switch {
	case *rounds < 1:
		return usagef("-rounds %d: want at least 1", *rounds)
	case *nsim < 2**rounds:
		return usagef("-simulations %d: want at least 2 per round", *nsim)
	case *nsamples < 1:
		return usagef("-num-samples %d: want at least 1", *nsamples)
	case *maxEpochs < 0:
		return usagef("-max-epochs %d: want 0 or more", *maxEpochs)
	}
	if *estimator != "maf" && *estimator != "nsf" {
		return usagef("unknown estimator %q (want maf or nsf)", *estimator)
	}
	viOpts, err := viFlags.options(fs, *sampler, *nsamples)
	if err != nil {
		return err
	}
	td, xd := t.Dims()
	xo, err := readObservation(*obs, xd)
	if err != nil {
		return err
	}
	var tdata *trainData
	if *trainFile != "" {
		if tdata, err = openTrainData(*trainFile, t.Name, td, xd); err != nil {
			return err
		}
		defer tdata.Close()
		*nsim = tdata.src.Report().Requested
	}
	s, err := runPipeline(ctx, e, pipeline{
		name: t.Name, sim: t.Simulator, prior: t.Prior, thetaNames: t.ThetaNames, xo: xo,
		method: *method, sampler: *sampler, estimator: *estimator, simulations: *nsim, rounds: *rounds, samples: *nsamples,
		seed: *seed, maxEpochs: *maxEpochs, out: *out, plotName: "pairplot.png", checkpoint: *checkpoint, trainData: tdata,
		vi: viOpts,
	})
	if err != nil {
		if *checkpoint != "" && ctx.Err() != nil {
			return fmt.Errorf("%w: the state is saved in %s; run the same command again to resume (%v)", errInterrupted, *checkpoint, err)
		}
		return err
	}
	fmt.Fprintf(e.stdout, "%s %s: %d simulations, %v epochs, best validation loss %.3f, %s sampler acceptance %.3f\n",
		s.Task, s.Method, s.Simulations, s.Epochs, s.BestValLoss, s.Sampler, s.AcceptanceRate)
	if line := viLine(s); line != "" {
		fmt.Fprintln(e.stdout, line)
	}
	for _, w := range s.Warnings {
		fmt.Fprintf(e.stdout, "warning: %s\n", w)
	}
	fmt.Fprintf(e.stdout, "times: simulation %.1fs, training %.1fs, sampling %.2fs, total %.1fs\n",
		s.SimulationSeconds, s.TrainingSeconds, s.SamplingSeconds, s.TotalSeconds)
	files := "posterior_samples.csv,pairplot.png,summary.json"
	if s.PosteriorFile != "" {
		files += "," + s.PosteriorFile
	}
	if s.VIPosteriorFile != "" {
		files += "," + s.VIPosteriorFile
	}
	fmt.Fprintf(e.stdout, "wrote %s/{%s}\n", *out, files)
	return nil
}

func runSample(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "sample", "-posterior FILE -observation FILE.csv -out FILE.csv [flags]")
	postFile := fs.String("posterior", "", "saved posterior (written by infer)")
	obs := fs.String("observation", "", "observation file: sbibm CSV with a header row and one data row")
	nsamples := fs.Int("num-samples", 10_000, "number of posterior samples to draw")
	seed := fs.Uint64("seed", 1, "random seed")
	out := fs.String("out", "", "output CSV file")
	if err := parse(fs, args); err != nil {
		return err
	}
	switch {
	case *postFile == "":
		return usagef("-posterior is required")
	case *out == "":
		return usagef("-out is required")
	case *nsamples < 1:
		return usagef("-num-samples %d: want at least 1", *nsamples)
	}
	rng := rand.New(rand.NewPCG(*seed, 0x5eed))
	var (
		samples *mat.Dense
		td      int
		detail  string
	)
	if post, err := sbi.LoadFile(*postFile); err == nil {
		// A neural posterior estimate (NPE, SNPE): sample it directly.
		var xd int
		td, xd = post.Dims()
		xo, err := readObservation(*obs, xd)
		if err != nil {
			return err
		}
		c, err := post.At(xo)
		if err != nil {
			return err
		}
		sr, err := c.SampleN(ctx, *nsamples, rng)
		if err != nil {
			return err
		}
		samples, detail = sr.Samples, fmt.Sprintf("acceptance rate %.3f", sr.AcceptanceRate)
	} else if mp, merr := sbi.LoadMCMCFile(*postFile); merr == nil {
		// A likelihood or ratio estimate (NLE, NRE): sample its potential by MCMC.
		var xd int
		td, xd = mp.Dims()
		xo, err := readObservation(*obs, xd)
		if err != nil {
			return err
		}
		mr, err := mp.Sample(ctx, mat.NewDense(1, xd, xo), *nsamples, rng)
		if err != nil {
			return err
		}
		samples, detail = mr.Samples, fmt.Sprintf("MCMC, max R-hat %.3f", maxFinite(mr.RHat))
		for _, w := range mr.Warnings {
			fmt.Fprintf(e.stderr, "warning: %s\n", w)
		}
	} else if vp, _, verr := sbi.LoadVIFile(*postFile); verr == nil {
		// A variational posterior (-sampler vi): draw from its q directly.
		if samples, td, detail, verr = sampleVIFile(e.stderr, vp, *obs, *nsamples, rng); verr != nil {
			return verr
		}
	} else {
		return usageError{posteriorFileError(*postFile, err, merr, verr)}
	}
	names := make([]string, td)
	for i := range names {
		names[i] = fmt.Sprintf("theta_%d", i+1)
	}
	if err := simulators.WriteCSV(*out, samples, names); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "wrote %d samples to %s (%s)\n", *nsamples, *out, detail)
	return nil
}

func runTasks(_ context.Context, e env, args []string) error {
	fs := newFlags(e, "tasks", "")
	if err := parse(fs, args); err != nil {
		return err
	}
	for _, name := range simulators.TaskNames() {
		t, err := simulators.NewTask(name, "")
		if err != nil {
			fmt.Fprintf(e.stdout, "%-26s (needs -data: %v)\n", name, err)
			continue
		}
		td, xd := t.Dims()
		fmt.Fprintf(e.stdout, "%-26s θ: %2d  x: %3d\n", name, td, xd)
	}
	return nil
}
