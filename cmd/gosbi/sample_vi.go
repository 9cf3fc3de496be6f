package main

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/gosbi/gosbi/sbi"
	"github.com/gosbi/gosbi/vi"
	"gonum.org/v1/gonum/mat"
)

// viPosteriorFile is the VI posterior that 'gosbi infer -sampler vi' writes
// in its output folder (sbi.SaveVIFile, with the potential), next to
// posterior.gosbi, the MCMC posterior of the same likelihood or ratio
// estimate: 'gosbi sample' draws from q with the first and runs MCMC with
// the second.
const viPosteriorFile = "posterior_vi.gosbi"

// saveVIPosterior writes vp, with the MCMC posterior post whose potential
// it was fitted to, to viPosteriorFile in the folder out and records the
// file in s.
func saveVIPosterior(out string, vp *sbi.VIPosterior, post *sbi.MCMCPosterior, s *summary) error {
	if err := sbi.SaveVIFile(filepath.Join(out, viPosteriorFile), vp, post); err != nil {
		return err
	}
	s.VIPosteriorFile = viPosteriorFile
	return nil
}

// sampleVIFile draws n samples from the loaded VI posterior vp: from q
// directly, no MCMC. q was fitted at the observation stored in the file;
// an observation file (obsPath, "" for none) must hold that same
// observation. It returns the samples, the dimension of θ and the text that
// says how they were drawn; warnings (k-hat above vi.KhatThreshold) go to
// stderr.
func sampleVIFile(stderr io.Writer, vp *sbi.VIPosterior, obsPath string, n int, rng *rand.Rand) (*mat.Dense, int, string, error) {
	stored := vp.Observation()
	k, xd := stored.Dims()
	if obsPath != "" {
		xo, err := readObservation(obsPath, xd)
		if err != nil {
			return nil, 0, "", err
		}
		if k != 1 || !mat.Equal(mat.NewDense(1, xd, xo), stored) {
			return nil, 0, "", usagef("observation %s: the VI posterior's q was fitted at another observation (%v); "+
				"omit -observation to sample at that one, or sample the MCMC posterior (%s) at this one",
				obsPath, mat.Formatted(stored, mat.Squeeze()), "posterior.gosbi")
		}
	}
	samples, err := vp.SampleN(n, rng)
	if err != nil {
		return nil, 0, "", err
	}
	r := vp.Result()
	khat := "n/a"
	if k := finiteOrNil(r.Khat); k != nil {
		khat = fmt.Sprintf("%.2f", *k)
	}
	detail := fmt.Sprintf("drawn directly from the VI posterior q, no MCMC; fit of %d iterations, k-hat %s", r.Iterations, khat)
	if r.Khat > vi.KhatThreshold {
		fmt.Fprintf(stderr, "warning: the VI posterior's PSIS k-hat is %.2f > %.1f: q is a poor fit of the potential; consider MCMC (posterior.gosbi)\n",
			r.Khat, vi.KhatThreshold)
	}
	return samples, vp.Dim(), detail, nil
}

// posteriorFileError returns, of the errors of sbi.LoadFile, LoadMCMCFile
// and LoadVIFile on the named file, the one of the loader whose kind the
// file's magic announces (that error says what is wrong with it), or the
// first when the file is of no known kind.
func posteriorFileError(name string, direct, mcmc, vierr error) error {
	magic := make([]byte, 8)
	if f, err := os.Open(name); err == nil {
		_, _ = io.ReadFull(f, magic)
		f.Close()
	}
	switch {
	case bytes.Equal(magic, []byte("GOSBIMCM")):
		return mcmc
	case bytes.Equal(magic, []byte("GOSBIVIP")):
		return vierr
	}
	return direct
}
