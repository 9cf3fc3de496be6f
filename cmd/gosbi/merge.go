package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/gosbi/gosbi/simulators"
)

// runMerge merges the shard files of a run into its complete file.
func runMerge(ctx context.Context, e env, args []string) error {
	flags := newFlags(e, "merge", "-out FILE SHARD_FILE...")
	out := flags.String("out", "", "complete simulation file to write")
	inputs, err := parseWithArgs(flags, args)
	if err != nil {
		return err
	}
	switch {
	case *out == "":
		return usagef("-out FILE is required")
	case len(inputs) == 0:
		return usagef("no shard files given")
	}
	info, err := simulators.Merge(*out, inputs...)
	if err != nil {
		return storeInputError(err)
	}
	h := info.Header
	fmt.Fprintf(e.stdout, "merged %d files into %s: %d chunks, %d simulations (%s, seed %d), %d bytes\n",
		len(inputs), *out, info.Chunks, h.N, runName(&h), h.Seed, info.Bytes)
	return nil
}

// runExport writes the data of a complete simulation file as a dataset.
func runExport(ctx context.Context, e env, args []string) error {
	flags := newFlags(e, "export", "-in FILE -theta THETA.npy|.csv -x X.npy|.csv [-drop-invalid]")
	in := flags.String("in", "", "complete simulation file")
	thetaOut := flags.String("theta", "", "file for θ, one simulation per row: .npy or .csv (with a header of names)")
	xOut := flags.String("x", "", "file for x: .npy or .csv")
	drop := flags.Bool("drop-invalid", false, "leave out failed simulations and those with NaN or ±Inf in x")
	if err := parse(flags, args); err != nil {
		return err
	}
	if *in == "" || *thetaOut == "" || *xOut == "" {
		return usagef("-in, -theta and -x are required")
	}
	for _, f := range []string{*thetaOut, *xOut} {
		if !strings.HasSuffix(f, ".npy") && !strings.HasSuffix(f, ".csv") {
			return usagef("%s: want a .npy or .csv file", f)
		}
	}
	d, _, err := readCompleteStore(*in)
	if err != nil {
		return err
	}
	total, dropped := d.Len(), 0
	if *drop {
		if d, dropped, err = d.FilterInvalid(); err != nil {
			return err
		}
		if d.Len() == 0 {
			return fmt.Errorf("%s: no valid simulations to export", *in)
		}
	}
	tn, xn := d.ThetaNames, d.XNames
	for _, w := range []struct {
		name  string
		write func() error
	}{
		{*thetaOut, func() error {
			if strings.HasSuffix(*thetaOut, ".npy") {
				return simulators.WriteNPY(*thetaOut, d.Theta)
			}
			return simulators.WriteCSV(*thetaOut, d.Theta, tn)
		}},
		{*xOut, func() error {
			if strings.HasSuffix(*xOut, ".npy") {
				return simulators.WriteNPY(*xOut, d.X)
			}
			return simulators.WriteCSV(*xOut, d.X, xn)
		}},
	} {
		if err := w.write(); err != nil {
			return err
		}
	}
	fmt.Fprintf(e.stdout, "wrote %d of %d simulations (%d dropped) to %s and %s\n", d.Len(), total, dropped, *thetaOut, *xOut)
	return nil
}

// readCompleteStore reads a complete simulation file: all of its rows, in
// index order, with its header.
func readCompleteStore(name string) (*simulators.Dataset, simulators.StoreHeader, error) {
	r, err := simulators.OpenStore(name)
	if err != nil {
		return nil, simulators.StoreHeader{}, storeInputError(err)
	}
	defer r.Close()
	h := r.Header()
	if !h.Complete {
		return nil, h, usagef("%s holds shard %d of %d, %d chunks of %d: merge the shards first ('gosbi merge'): %w",
			name, h.Shard, h.Shards, len(r.Chunks()), h.NumChunks(), simulators.ErrIncomplete)
	}
	res, err := r.ReadAll()
	if err != nil {
		return nil, h, storeInputError(err)
	}
	return res.Data, h, nil
}

// storeInputError turns errors caused by the simulation files given into
// usage errors (exit status 2).
func storeInputError(err error) error {
	for _, target := range []error{simulators.ErrFormat, simulators.ErrMismatch, simulators.ErrIncomplete,
		simulators.ErrDuplicate, simulators.ErrInput, os.ErrNotExist} {
		if errors.Is(err, target) {
			return usageError{err}
		}
	}
	return err
}

// runName describes what a run simulated.
func runName(h *simulators.StoreHeader) string {
	if h.Task != "" {
		return h.Task
	}
	return fmt.Sprintf("command %q", h.Command)
}

// parseWithArgs parses flags that may come before, between or after the
// positional arguments, and returns the positional ones.
func parseWithArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageError{err}
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}
