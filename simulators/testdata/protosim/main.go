// Command protosim is a tiny external simulator for the tests of package
// simulators. It speaks the line protocol of simulators.Command: one JSON
// request {"theta": [...], "seed": N} per line on stdin, one response per
// line on stdout.
//
// For θ = (a, b) it answers x = (a + b, u) with u uniform on [0, 1) drawn
// from a PCG stream seeded with the request's seed, except for these values
// of a, which trigger faults:
//
//	-1  write to stderr and exit with status 3 (a crash mid-run)
//	-2  hang without answering
//	-3  answer {"error": "theta out of range"}
//	-4  answer a line that is not JSON
//	-5  answer {"x": [NaN, Infinity]} as Python's json module writes it
//	-6  answer a 64 MiB line (a runaway print), then a valid response
//
// With -crash-after n it crashes on receiving request n+1, whatever θ.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"time"
)

func main() {
	crashAfter := flag.Int("crash-after", -1, "crash on receiving request n+1 (negative: never)")
	flag.Parse()
	in := bufio.NewScanner(os.Stdin)
	out := bufio.NewWriter(os.Stdout)
	for n := 0; in.Scan(); n++ {
		var req struct {
			Theta []float64 `json:"theta"`
			Seed  uint64    `json:"seed"`
		}
		if err := json.Unmarshal(in.Bytes(), &req); err != nil {
			fmt.Fprintln(os.Stderr, "protosim: bad request:", err)
			os.Exit(2)
		}
		if *crashAfter >= 0 && n >= *crashAfter {
			fmt.Fprintf(os.Stderr, "protosim: crashing on request %d\n", n+1)
			os.Exit(3)
		}
		a := req.Theta[0]
		switch a {
		case -1:
			fmt.Fprintln(os.Stderr, "protosim: segfault imminent")
			os.Exit(3)
		case -2:
			time.Sleep(time.Hour)
		case -3:
			fmt.Fprintln(out, `{"error": "theta out of range"}`)
		case -4:
			fmt.Fprintln(out, "hello, world")
		case -5:
			fmt.Fprintln(out, `{"x": [NaN, Infinity]}`)
		case -6:
			chunk := bytes.Repeat([]byte("x"), 1<<16)
			for range 1 << 10 {
				if _, err := out.Write(chunk); err != nil {
					os.Exit(4) // the reader gave up: a closed pipe
				}
			}
			fmt.Fprintln(out, `{"x": [0, 0]}`)
		default:
			u := rand.New(rand.NewPCG(req.Seed, 0)).Float64()
			resp, _ := json.Marshal(map[string][]float64{"x": {a + req.Theta[1], u}})
			fmt.Fprintf(out, "%s\n", resp)
		}
		out.Flush()
	}
}
