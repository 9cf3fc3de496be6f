package simulators

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"
)

// benchSimulate runs Simulate for task with the given number of workers,
// 10,000 simulations per iteration, and reports simulations per second.
func benchSimulate(b *testing.B, task string, workers int) {
	b.ReportAllocs()
	t := mustTask(b, task)
	const n = 10_000
	rng := rand.New(rand.NewPCG(1, 1))
	start := time.Now()
	for b.Loop() {
		res, err := Simulate(context.Background(), t.Simulator, t.Prior, n, rng, &Settings{Workers: workers})
		if err != nil {
			b.Fatal(err)
		}
		if res.Report.Done != n {
			b.Fatalf("%v", res.Report)
		}
	}
	b.ReportMetric(float64(n*b.N)/time.Since(start).Seconds(), "sims/s")
}

func BenchmarkSimulateTwoMoons1(b *testing.B) { benchSimulate(b, "two_moons", 1) }
func BenchmarkSimulateTwoMoons2(b *testing.B) { benchSimulate(b, "two_moons", 2) }
func BenchmarkSimulateSLCP1(b *testing.B)     { benchSimulate(b, "slcp", 1) }
func BenchmarkSimulateSLCP2(b *testing.B)     { benchSimulate(b, "slcp", 2) }
func BenchmarkSimulateSIR1(b *testing.B)      { benchSimulate(b, "sir", 1) }
func BenchmarkSimulateSIR2(b *testing.B)      { benchSimulate(b, "sir", 2) }

// The other tasks, one worker, for reference.
func BenchmarkSimulateLotkaVolterra1(b *testing.B)   { benchSimulate(b, "lotka_volterra", 1) }
func BenchmarkSimulateSLCPDistractors1(b *testing.B) { benchSimulate(b, "slcp_distractors", 1) }
func BenchmarkSimulateBernoulliGLM1(b *testing.B)    { benchSimulate(b, "bernoulli_glm", 1) }
