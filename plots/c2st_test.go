package plots

import (
	"errors"
	"fmt"
	"image/color"
	"log"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
)

// c2stBudgetSeries returns two methods at three budgets with five
// observations each, accuracies falling with the budget, and published
// medians for the first.
func c2stBudgetSeries() []C2STSeries {
	budgets := []float64{1000, 10_000, 100_000}
	var a, b C2STSeries
	a.Name, b.Name = "NPE", "NLE"
	for i, n := range budgets {
		for k := range 5 {
			a.X = append(a.X, n)
			a.C2ST = append(a.C2ST, 0.9-0.15*float64(i)+0.01*float64(k))
			b.X = append(b.X, n)
			b.C2ST = append(b.C2ST, 0.95-0.1*float64(i)+0.01*float64(k))
		}
	}
	a.PublishedX = budgets
	a.Published = []float64{0.87, math.NaN(), 0.56}
	return []C2STSeries{a, b}
}

func TestC2STWritesPNG(t *testing.T) {
	t.Parallel()
	obs := C2STSeries{Name: "gosbi NPE", X: []float64{1, 2, 3, 4, 5}, C2ST: []float64{0.61, 0.58, 0.66, 0.55, 0.7},
		Published: []float64{0.6076}}
	second := C2STSeries{Name: "gosbi SNPE", X: []float64{1, 2, 3, 4, 5}, C2ST: []float64{0.52, 0.49, 0.56, 0.53, 0.51}}
	cases := []struct {
		name   string
		cfg    *C2STConfig
		series []C2STSeries
		w, h   vg.Length
	}{
		{"observations", &C2STConfig{Title: "two_moons, 10,000 simulations"}, []C2STSeries{obs}, 5 * vg.Inch, 3.5 * vg.Inch},
		{"observations_two", nil, []C2STSeries{obs, second}, 6 * vg.Inch, 4 * vg.Inch},
		{"budgets", &C2STConfig{BySimulations: true}, c2stBudgetSeries(), 5 * vg.Inch, 4 * vg.Inch},
		{"one_budget", &C2STConfig{BySimulations: true}, []C2STSeries{{Name: "NPE", X: []float64{1e4, 1e4}, C2ST: []float64{0.6, 0.7}}},
			4 * vg.Inch, 3 * vg.Inch},
	}
	dir := t.TempDir()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, err := NewC2ST(c.cfg, c.series...)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, c.name+".png")
			if err := f.Save(path, c.w, c.h); err != nil {
				t.Fatal(err)
			}
			checkPNG(t, path, pixels(c.w), pixels(c.h))
		})
	}
}

// TestC2STAxes checks the ranges, scale and ticks of both forms.
func TestC2STAxes(t *testing.T) {
	t.Parallel()
	ranges := func(p *plot.Plot) string {
		return fmt.Sprintf("x [%.4g, %.4g] y [%.4g, %.4g]", p.X.Min, p.X.Max, p.Y.Min, p.Y.Max)
	}
	cases := []struct {
		name   string
		cfg    *C2STConfig
		series []C2STSeries
		want   string
	}{
		// Observations 3..9 get half a unit of margin; y is [0.5, 1] by default.
		{"default", nil, []C2STSeries{{X: []float64{3, 7, 9}, C2ST: []float64{0.6, 0.7, 0.8}}}, "x [2.5, 9.5] y [0.5, 1]"},
		// 0.47 (or a published 0.43) moves the lower end to the multiple of 0.05 below.
		{"below chance", nil, []C2STSeries{{X: []float64{1, 2}, C2ST: []float64{0.47, 0.7}}}, "x [0.5, 2.5] y [0.45, 1]"},
		{"published below chance", nil, []C2STSeries{{X: []float64{1, 2}, C2ST: []float64{0.57, 0.7}, Published: []float64{0.43}}},
			"x [0.5, 2.5] y [0.4, 1]"},
		{"fixed y", &C2STConfig{YRange: Range{0.4, 0.9}}, []C2STSeries{{X: []float64{1}, C2ST: []float64{0.6}}}, "x [0.5, 1.5] y [0.4, 0.9]"},
		// Budgets 1,000 to 100,000 padded by a factor of 1.5 on each side.
		{"budgets", &C2STConfig{BySimulations: true}, c2stBudgetSeries(), "x [666.7, 1.5e+05] y [0.5, 1]"},
		// A single budget is padded by a factor of 3.
		{"one budget", &C2STConfig{BySimulations: true}, []C2STSeries{{X: []float64{3000}, C2ST: []float64{0.6}}},
			"x [1000, 9000] y [0.5, 1]"},
	}
	for _, c := range cases {
		f, err := NewC2ST(c.cfg, c.series...)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		p := f.Panels[0][0]
		if got := ranges(p); got != c.want {
			t.Errorf("%s: got %s, want %s", c.name, got, c.want)
		}
		_, isLog := p.X.Scale.(plot.LogScale)
		if by := c.cfg != nil && c.cfg.BySimulations; isLog != by {
			t.Errorf("%s: log x scale %v, want %v", c.name, isLog, by)
		}
	}

	f, err := NewC2ST(nil, C2STSeries{X: []float64{3, 7, 9}, C2ST: []float64{0.6, 0.7, 0.8}})
	if err != nil {
		t.Fatal(err)
	}
	var labels []string
	for _, tk := range f.Panels[0][0].X.Tick.Marker.Ticks(2.5, 9.5) {
		labels = append(labels, tk.Label)
	}
	if got, want := strings.Join(labels, " "), "3 7 9"; got != want {
		t.Errorf("observation ticks: got %q, want %q", got, want)
	}
}

// TestC2STLegend checks the legend entries and their default labels.
func TestC2STLegend(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		cfg    *C2STConfig
		series []C2STSeries
		want   string
	}{
		{"observations", nil, []C2STSeries{{Name: "NPE", X: []float64{1}, C2ST: []float64{0.6}, Published: []float64{0.6}}},
			"NPE|NPE (published median)"},
		{"custom published name", nil, []C2STSeries{{Name: "NPE", X: []float64{1}, C2ST: []float64{0.6},
			Published: []float64{0.6}, PublishedName: "sbibm"}}, "NPE|sbibm"},
		{"missing published", nil, []C2STSeries{{Name: "NPE", X: []float64{1}, C2ST: []float64{0.6}, Published: []float64{math.NaN()}}},
			"NPE"},
		{"unnamed", nil, []C2STSeries{{X: []float64{1}, C2ST: []float64{0.6}, Published: []float64{0.6}}}, ""},
		{"budgets", &C2STConfig{BySimulations: true}, c2stBudgetSeries(), "NPE (median)|NPE (published median)|NLE (median)"},
	}
	for _, c := range cases {
		f, err := NewC2ST(c.cfg, c.series...)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		var got []string
		for _, e := range f.Legend {
			got = append(got, e.Label)
		}
		if s := strings.Join(got, "|"); s != c.want {
			t.Errorf("%s: got legend %q, want %q", c.name, s, c.want)
		}
	}
}

// TestC2STDrawsPublishedLine checks that the published median reaches the
// image: a dashed line across a 5-inch panel at 96 dpi covers about
// 400 × 5/8 (dash duty cycle) × 1.6 (line width in pixels) ≈ 400 pixels of
// its colour, so a published value must add more than 150 such pixels, and a
// NaN one none.
func TestC2STDrawsPublishedLine(t *testing.T) {
	t.Parallel()
	magenta := color.NRGBA{R: 0xff, B: 0xff, A: 0xff}
	s := C2STSeries{X: []float64{1, 2, 3}, C2ST: []float64{0.6, 0.65, 0.7}, Color: magenta}
	count := func(published []float64) int {
		s := s
		s.Published = published
		f, err := NewC2ST(nil, s)
		if err != nil {
			t.Fatal(err)
		}
		return countNear(t, f, 5*vg.Inch, 3*vg.Inch, magenta)
	}
	without, with, missing := count(nil), count([]float64{0.8}), count([]float64{math.NaN()})
	if with-without < 150 {
		t.Errorf("published line adds %d pixels (%d with, %d without), want > 150", with-without, with, without)
	}
	if missing != without {
		t.Errorf("a NaN published value changes the image: %d pixels, want %d", missing, without)
	}
	if without < 30 {
		t.Errorf("the points cover %d pixels, want > 30 (3 markers of radius 3 pt)", without)
	}
}

func TestC2STBadInput(t *testing.T) {
	t.Parallel()
	one := []float64{1}
	bySim := &C2STConfig{BySimulations: true}
	cases := []struct {
		name   string
		cfg    *C2STConfig
		series []C2STSeries
		want   error
	}{
		{"no series", nil, nil, ErrEmpty},
		{"empty series", nil, []C2STSeries{{}}, ErrEmpty},
		{"lengths", nil, []C2STSeries{{X: []float64{1, 2}, C2ST: []float64{0.6}}}, ErrShape},
		{"NaN accuracy", nil, []C2STSeries{{X: one, C2ST: []float64{math.NaN()}}}, ErrNonFinite},
		{"Inf x", nil, []C2STSeries{{X: []float64{math.Inf(1)}, C2ST: []float64{0.6}}}, ErrNonFinite},
		{"accuracy above 1", nil, []C2STSeries{{X: one, C2ST: []float64{1.2}}}, ErrInvalid},
		{"negative accuracy", nil, []C2STSeries{{X: one, C2ST: []float64{-0.1}}}, ErrInvalid},
		{"two published by observation", nil, []C2STSeries{{X: one, C2ST: []float64{0.6}, Published: []float64{0.6, 0.7}}}, ErrShape},
		{"published x by observation", nil, []C2STSeries{{X: one, C2ST: []float64{0.6}, Published: []float64{0.6}, PublishedX: one}}, ErrShape},
		{"published out of range", nil, []C2STSeries{{X: one, C2ST: []float64{0.6}, Published: []float64{1.5}}}, ErrInvalid},
		{"published Inf", nil, []C2STSeries{{X: one, C2ST: []float64{0.6}, Published: []float64{math.Inf(-1)}}}, ErrNonFinite},
		{"zero budget", bySim, []C2STSeries{{X: []float64{0}, C2ST: []float64{0.6}}}, ErrInvalid},
		{"published lengths", bySim, []C2STSeries{{X: one, C2ST: []float64{0.6}, Published: []float64{0.6, 0.7}, PublishedX: one}}, ErrShape},
		{"published budget", bySim, []C2STSeries{{X: one, C2ST: []float64{0.6}, Published: []float64{0.6}, PublishedX: []float64{-5}}}, ErrInvalid},
		{"published budget NaN", bySim, []C2STSeries{{X: one, C2ST: []float64{0.6}, Published: []float64{0.6},
			PublishedX: []float64{math.NaN()}}}, ErrNonFinite},
		{"y range", &C2STConfig{YRange: Range{1, 0.5}}, []C2STSeries{{X: one, C2ST: []float64{0.6}}}, ErrInvalid},
	}
	for _, c := range cases {
		f, err := NewC2ST(c.cfg, c.series...)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: got error %v, want %v", c.name, err, c.want)
		}
		if f != nil {
			t.Errorf("%s: got a figure along with the error", c.name)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "plots: ") {
			t.Errorf("%s: error %q lacks the package prefix", c.name, err)
		}
	}
}

func TestLogTicker(t *testing.T) {
	t.Parallel()
	labelled := func(lo, hi float64) (string, int) {
		var s []string
		ticks := logTicker{}.Ticks(lo, hi)
		for _, tk := range ticks {
			if tk.Label != "" {
				s = append(s, tk.Label)
			}
		}
		return strings.Join(s, " "), len(ticks)
	}
	cases := []struct {
		lo, hi float64
		want   string
		n      int // all ticks, labelled or not
	}{
		// 7..9 × 100, 1..9 × 1000, 1..9 × 10⁴, 1 × 10⁵.
		{666.7, 150_000, "1,000 10,000 100,000", 3 + 9 + 9 + 1},
		// No power of ten inside: the multiples 2..7 × 1000 are labelled.
		{1333, 7500, "2,000 3,000 4,000 5,000 6,000 7,000", 6},
		{0.5, 20, "1 10", 5 + 9 + 2},
		{0, 10, "", 0},
		{5, 5, "", 0},
	}
	for _, c := range cases {
		got, n := labelled(c.lo, c.hi)
		if got != c.want || n != c.n {
			t.Errorf("Ticks(%v, %v): got labels %q and %d ticks, want %q and %d", c.lo, c.hi, got, n, c.want, c.n)
		}
	}
	for v, want := range map[float64]string{0: "0", 999: "999", 1000: "1,000", 1_234_567: "1,234,567", -25_000: "-25,000", 0.25: "0.25"} {
		if got := groupThousands(v); got != want {
			t.Errorf("groupThousands(%v): got %q, want %q", v, got, want)
		}
	}
}

func TestMediansByX(t *testing.T) {
	t.Parallel()
	xs, med := mediansByX([]float64{100, 10, 100, 10, 100, 1000}, []float64{0.9, 0.6, 0.7, 0.8, 0.8, 0.5})
	if got, want := fmt.Sprint(xs, med), "[10 100 1000] [0.7 0.8 0.5]"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	if !math.IsNaN(median(nil)) {
		t.Errorf("median of nothing is %v, want NaN", median(nil))
	}
}

// This example plots the C2ST of five observations against the sbibm paper's
// median for the same task, method and budget, and a second figure of C2ST
// against the simulation budget for two methods.
func ExampleNewC2ST() {
	fig, err := NewC2ST(&C2STConfig{Title: "two_moons, NPE, 10,000 simulations"}, C2STSeries{
		Name:      "gosbi NPE",
		X:         []float64{1, 2, 3, 4, 5},
		C2ST:      []float64{0.612, 0.583, 0.655, 0.571, 0.604},
		Published: []float64{0.6076},
	})
	if err != nil {
		log.Fatal(err)
	}
	p := fig.Panels[0][0]
	fmt.Printf("y from %.2f to %.2f; legend: %s, %s\n", p.Y.Min, p.Y.Max, fig.Legend[0].Label, fig.Legend[1].Label)

	fig, err = NewC2ST(&C2STConfig{BySimulations: true},
		C2STSeries{Name: "NPE", X: []float64{1e3, 1e3, 1e4, 1e4}, C2ST: []float64{0.85, 0.89, 0.61, 0.63}},
		C2STSeries{Name: "SNPE", X: []float64{1e3, 1e3, 1e4, 1e4}, C2ST: []float64{0.8, 0.84, 0.55, 0.57}})
	if err != nil {
		log.Fatal(err)
	}
	p = fig.Panels[0][0]
	fmt.Printf("x from %.0f to %.0f on a log scale; %d legend entries\n", p.X.Min, p.X.Max, len(fig.Legend))
	// Output:
	// y from 0.50 to 1.00; legend: gosbi NPE, gosbi NPE (published median)
	// x from 667 to 15000 on a log scale; 2 legend entries
}
