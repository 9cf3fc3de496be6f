// Package simulators wraps simulators, runs them at scale, reproducibly and
// safely, stores their output, and provides the ten benchmark tasks of sbibm
// (Lueckmann et al., "Benchmarking Simulation-Based Inference", AISTATS
// 2021) with their reference data.
//
// # Simulators
//
// A Simulator maps one parameter vector θ to one data vector x:
//
//	Run(ctx, dst, theta []float64, rng *rand.Rand) ([]float64, error)
//
// writes x into dst (allocated when nil), takes all its randomness from rng
// and returns an error for a failed simulation. Dims reports the lengths of
// θ and x. SimulatorFunc turns a plain function into a Simulator; a
// simulator that vectorises can add the BatchSimulator capability. The
// method is called Run so that it is not confused with the driver Simulate.
//
// # Running many simulations
//
// Simulate draws n parameter vectors from a proposal (usually the prior) and
// simulates each; SimulateAt simulates given parameters. Both run a pool of
// Settings.Workers goroutines (default GOMAXPROCS) over chunks of ChunkSize
// simulations, and chunk c takes all its randomness from the stream
// rand.NewPCG(seed, c), with seed drawn once from the caller's rng, so the
// result is bit-identical for any number of workers. A simulation that
// returns an error or panics is counted as failed (its x is NaN), one that
// returns NaN or ±Inf as invalid; the run goes on, and the Result carries
// per-row statuses and a Report with the counts, the first few errors and
// the wall time. Settings.OnProgress reports progress; cancelling ctx (or
// returning an error from OnProgress) stops the run and returns what had
// finished, saying how much.
//
// # External programs
//
// Command runs a simulator written in any language as a separate program. It
// starts one process per worker, keeps it for many simulations and talks to
// it in a line protocol over its standard input and output, one JSON object
// per line, UTF-8, each line ending in "\n":
//
//   - request, to the program: {"theta": [0.5, -1.2], "seed": 1234567}
//     where seed is an integer in [0, 2³¹) that the program must use to seed
//     all of its randomness, so that runs are reproducible;
//   - response, from the program: {"x": [0.51, -1.19, 3.0]} with exactly
//     the declared number of values (NaN, Infinity, -Infinity and null are
//     accepted and mark the simulation invalid), or {"error": "message"} to
//     report a failed simulation; the process then keeps serving. Other
//     fields are ignored.
//
// The program answers each request before the next one is sent, writes
// nothing else to standard output (logging goes to standard error), and
// exits when its standard input closes. A response that is not valid JSON of
// this shape, a response line longer than 1 MiB plus 32 bytes per value of
// x, a process that exits, and one that does not answer within
// CommandSettings.Timeout fail that simulation only: the process is killed
// and a new one serves the next simulation. The error carries the exit
// status and the end of the program's standard error.
//
// # An external simulator in Python
//
// This program adds Gaussian noise to θ; Python's json module writes NaN and
// Infinity in the form the protocol accepts:
//
//	import json, random, sys
//
//	for line in sys.stdin:
//	    request = json.loads(line)
//	    rng = random.Random(request["seed"])
//	    try:
//	        x = [t + rng.gauss(0.0, 0.1) for t in request["theta"]]
//	        print(json.dumps({"x": x}), flush=True)
//	    except Exception as e:
//	        print(json.dumps({"error": str(e)}), flush=True)
//
// It is used from Go as
//
//	sim, err := simulators.NewCommand(2, 2, "python3", []string{"sim.py"}, nil)
//	defer sim.Close()
//	res, err := simulators.Simulate(ctx, sim, prior, 10_000, rng, nil)
//
// A round trip through the protocol costs a few tens of microseconds (see the
// package benchmarks), negligible for simulators worth running externally.
//
// # Datasets and files
//
// Dataset holds θ and x as *mat.Dense with one simulation per row, with
// Append, Subset, Split and FilterInvalid. SaveCSV/LoadCSV store it as two
// CSV files with a header row of names, and SaveNPY/LoadNPY as two NumPy
// .npy files, so data moves to and from Python's sbi (numpy.load,
// torch.from_numpy; float32 arrays are read too). ReadCSV, WriteCSV, ReadNPY
// and WriteNPY do the same for one matrix. Malformed files give a *FileError
// naming the file and, where it applies, the row, line and column. Readers
// allocate according to the data present, never to a size a header
// announces; compressed reference files may expand to 256 MiB at most.
//
// # Simulation files: durable, resumable, sharded runs
//
// A run of N simulations with seed S is the data Simulate(ctx, sim, prior,
// N, RunRNG(S), s) returns; its chunk c draws from
// rand.NewPCG(ChunkSeed(S), c). SimulateChunks runs any subset of the chunks
// and hands each to a callback as it finishes. A StoreWriter (from
// OpenStoreWriter) appends finished chunks to a simulation file, fsyncing
// each, and Shard drives the two: a killed run loses only the chunks in
// flight, and running it again on the same file resumes it. Shard I of K
// holds the chunks c with c mod K = I (ShardChunks), each in its own file;
// Merge checks that the shards hold every chunk exactly once and writes the
// complete file, byte-identical to that of an unsharded run. OpenStore
// reads a file chunk by chunk (ReadChunk, All) or whole (ReadAll), without
// loading more than it is asked for. `gosbi simulate` and `gosbi merge`
// are the command-line face of these functions.
//
// A simulation file (version StoreVersion, little-endian) is
//
//	"GOSBISIM"  version uint32  L uint32  header (L bytes of JSON)  CRC-32C uint32
//	record*
//
// with the header's CRC-32C (Castagnoli) taken over version, L and the JSON,
// which is a StoreHeader: task or command, prior_sha256, seed, n,
// chunk_size, theta_dim, x_dim, theta_names, x_names, shard, shards,
// complete. Each record holds one finished chunk c of r simulations:
//
//	len uint32 = 8 + 8·r·(theta_dim + x_dim) + r
//	c uint64
//	θ: r·theta_dim float64, row by row
//	x: r·x_dim float64, row by row
//	status: r bytes (1 ok, 2 invalid, 3 failed)
//	CRC-32C uint32 over len through status
//
// Records are appended in order of completion. A torn or corrupt record
// (a killed writer, a bad disk) is cut off when the file is resumed and
// reported by readers with its offset. When every chunk is present the file
// is rewritten, through a temporary file and a rename, in canonical form:
// records in index order, complete true, shard 0 of 1. Readers bound what
// they allocate by the file's size and the format's limits (dimensions up
// to 2²⁰, a chunk's record up to 1 GiB, a header up to 16 MiB).
//
// External simulators take their prior from a JSON specification: see
// PriorSpec.
//
// # Benchmark tasks
//
// NewTask returns one of the ten sbibm tasks by name (TaskNames lists them):
// gaussian_linear, gaussian_linear_uniform, slcp, slcp_distractors,
// bernoulli_glm, bernoulli_glm_raw, gaussian_mixture, two_moons, sir and
// lotka_volterra, defined exactly as in sbibm v1.1.1. A Task holds the prior
// (a dist.Distribution), the simulator, the names of θ and x and, where the
// likelihood is tractable, the likelihood as a dist.Conditional; the
// gaussian_linear task also has its analytic posterior. SIR and
// Lotka–Volterra solve their ODEs with the adaptive Dormand–Prince solver of
// package simulators/ode. LoadReference reads the observation, the true
// parameters and the 10,000 reference posterior samples of observation K
// from a folder in sbibm's layout
// (<task>/num_observation_K/{observation.csv, true_parameters.csv,
// reference_posterior_samples.csv.bz2}), for any K present.
//
// Only slcp_distractors needs constants from that folder (its 92-dimensional
// Student-t mixture and output permutation exist only as data); NewTask takes
// the folder for it and returns an error wrapping ErrNoData when they are
// missing. The bernoulli_glm stimulus is regenerated exactly (numpy's
// RandomState(42).randn(100), rounded to float32), so those tasks need no
// files.
//
// # Errors
//
// Functions return errors wrapping the sentinels ErrInput, ErrShape,
// ErrFormat, ErrPanic, ErrUnknownTask and ErrNoData, for external
// programs ErrTimeout, ErrCrashed, ErrProtocol, ErrProgram and ErrClosed,
// and for simulation files ErrMismatch, ErrIncomplete, ErrDuplicate and
// ErrLocked.
// Failures of single simulations inside Simulate are not errors of Simulate:
// they are counted and reported in the Result.
package simulators
