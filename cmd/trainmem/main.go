// Command trainmem measures the peak memory and the time per epoch of
// training NPE on many simulations, held in memory or streamed from a
// simulation file, and prints one JSON object.
//
// Usage (one mode per process, since the peak is per process):
//
//	gosbi simulate -task gaussian_linear -n 1000000 -seed 1 -out /tmp/gl1m.gosbi
//	go run ./cmd/trainmem -mode memory -task gaussian_linear -n 1000000 -seed 1
//	go run ./cmd/trainmem -mode stream -file /tmp/gl1m.gosbi
//
// Both modes train on the same data (the file of a run holds exactly what
// simulators.Simulate returns for it): memory simulates with
// simulators.Simulate, appends the result to an NPE (which copies it) and
// drops it, then trains; stream opens the file as a simulators.StoreSource
// and trains through sbi.NPE.AppendSource. The peak resident set is VmHWM
// of /proc/self/status (Linux; -1 elsewhere); the Go heap peak is the
// largest value of runtime/metrics' /memory/classes/heap/objects:bytes
// sampled every 10 ms; raw_mb is the size of the valid θ and x as float64.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gosbi/gosbi/flows"
	"github.com/gosbi/gosbi/sbi"
	"github.com/gosbi/gosbi/simulators"
)

type report struct {
	Mode            string  `json:"mode"`
	Task            string  `json:"task"`
	Simulations     int     `json:"simulations"`
	Valid           int     `json:"valid"`
	RawMB           float64 `json:"raw_mb"`
	PrepareSeconds  float64 `json:"prepare_seconds"` // simulate+append, or open+check
	TrainSeconds    float64 `json:"train_seconds"`   // the whole Train call
	EpochSeconds    float64 `json:"epoch_seconds"`   // the first epoch (training and validation)
	Epochs          int     `json:"epochs"`
	BestValLoss     float64 `json:"best_val_loss"`
	PeakRSSMB       float64 `json:"peak_rss_mb"`
	PeakHeapMB      float64 `json:"peak_heap_mb"`
	PeakRSSOverRaw  float64 `json:"peak_rss_over_raw"`
	BlockReads      int     `json:"block_reads,omitempty"`
	MaxResidentRows int     `json:"max_resident_rows,omitempty"`
}

func main() {
	mode := flag.String("mode", "memory", "memory (simulate, then train in memory) or stream (train from -file)")
	task := flag.String("task", "gaussian_linear", "sbibm task (memory mode)")
	n := flag.Int("n", 1_000_000, "number of simulations (memory mode)")
	seed := flag.Uint64("seed", 1, "seed of the simulation run (memory mode; as gosbi simulate -seed)")
	file := flag.String("file", "", "simulation file (stream mode)")
	epochs := flag.Int("epochs", 1, "training epochs")
	flag.Parse()
	if err := run(*mode, *task, *n, *seed, *file, *epochs); err != nil {
		fmt.Fprintln(os.Stderr, "trainmem:", err)
		os.Exit(1)
	}
}

func run(mode, task string, n int, seed uint64, file string, epochs int) error {
	ctx := context.Background()
	var peak heapPeak
	stop := peak.start(10 * time.Millisecond)
	rep := report{Mode: mode}
	start := time.Now()
	var npe *sbi.NPE
	switch mode {
	case "memory":
		t, err := simulators.NewTask(task, "")
		if err != nil {
			return err
		}
		rep.Task, rep.Simulations = t.Name, n
		res, err := simulators.Simulate(ctx, t.Simulator, t.Prior, n, simulators.RunRNG(seed), nil)
		if err != nil {
			return err
		}
		if npe, err = sbi.NewNPE(t.Prior, nil); err != nil {
			return err
		}
		if _, err := npe.AppendSimulations(res.Data.Theta, res.Data.X, nil); err != nil {
			return err
		}
		res = nil // the NPE holds its own copy
	case "stream":
		r, err := simulators.OpenStore(file)
		if err != nil {
			return err
		}
		defer r.Close()
		h := r.Header()
		t, err := simulators.NewTask(h.Task, "")
		if err != nil {
			return err
		}
		rep.Task, rep.Simulations = t.Name, h.N
		src, err := simulators.NewStoreSource(r)
		if err != nil {
			return err
		}
		if npe, err = sbi.NewNPE(t.Prior, nil); err != nil {
			return err
		}
		if _, err := npe.AppendSource(ctx, src); err != nil {
			return err
		}
	default:
		return fmt.Errorf("unknown mode %q (want memory or stream)", mode)
	}
	rep.PrepareSeconds = time.Since(start).Seconds()
	rep.Valid = npe.NumSimulations()
	td := npe.Prior().Dim()
	tr, err := npe.Train(ctx, rand.New(rand.NewPCG(seed, 7)), &sbi.TrainSettings{Settings: flows.Settings{MaxEpochs: epochs}})
	if err != nil {
		return err
	}
	stop()
	rep.TrainSeconds = tr.Runtime.Seconds()
	rep.Epochs, rep.BestValLoss = tr.Epochs, tr.BestValLoss
	if len(tr.History) > 0 {
		rep.EpochSeconds = tr.History[0].Duration.Seconds()
	}
	if tr.Stream != nil {
		rep.BlockReads, rep.MaxResidentRows = tr.Stream.BlockReads, tr.Stream.MaxResidentRows
	}
	post, err := npe.Posterior(nil)
	if err != nil {
		return err
	}
	_, xdim := post.Dims()
	rep.RawMB = float64(rep.Valid*(td+xdim)*8) / 1e6
	rep.PeakRSSMB = vmHWM()
	rep.PeakHeapMB = float64(peak.max()) / 1e6
	rep.PeakRSSOverRaw = rep.PeakRSSMB / rep.RawMB
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// heapPeak samples the bytes of live and not yet swept heap objects.
type heapPeak struct {
	mu   sync.Mutex
	peak uint64
}

func (p *heapPeak) start(every time.Duration) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		tk := time.NewTicker(every)
		defer tk.Stop()
		for {
			metrics.Read(s)
			p.mu.Lock()
			p.peak = max(p.peak, s[0].Value.Uint64())
			p.mu.Unlock()
			select {
			case <-done:
				return
			case <-tk.C:
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

func (p *heapPeak) max() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.peak
}

// vmHWM returns the peak resident set size in MB from /proc/self/status,
// or -1 if it is not available.
func vmHWM() float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			if err != nil {
				return -1
			}
			return kb * 1024 / 1e6
		}
	}
	return -1
}
