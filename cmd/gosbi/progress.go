package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
)

// isTerminal reports whether f is a character device (an interactive
// terminal), in which case progress is drawn as a bar; otherwise plain lines
// are printed so that logs stay readable.
func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// progress reports the advance of one phase (simulation, training, sampling)
// on w: a progress bar on a terminal, otherwise a line at most every
// interval and one at the end.
type progress struct {
	w        io.Writer
	bar      *progressbar.ProgressBar
	label    string
	total    int
	last     time.Time
	interval time.Duration
	quiet    bool
}

// newProgress starts reporting a phase with a known total (total < 0 means
// unknown, as for training epochs).
func newProgress(w io.Writer, tty, quiet bool, label string, total int) *progress {
	p := &progress{w: w, label: label, total: total, interval: 2 * time.Second, quiet: quiet}
	if quiet {
		return p
	}
	if tty {
		p.bar = progressbar.NewOptions(total,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription(label),
			progressbar.OptionShowCount(),
			progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)
	}
	return p
}

// update moves the report to done, with an optional detail (e.g. losses).
func (p *progress) update(done int, detail string) {
	if p.quiet {
		return
	}
	if p.bar != nil {
		if detail != "" {
			p.bar.Describe(p.label + " " + detail)
		}
		_ = p.bar.Set(done)
		return
	}
	if now := time.Now(); now.Sub(p.last) >= p.interval {
		p.last = now
		p.line(done, detail)
	}
}

func (p *progress) line(done int, detail string) {
	if p.total > 0 {
		fmt.Fprintf(p.w, "%s: %d/%d %s\n", p.label, done, p.total, detail)
	} else {
		fmt.Fprintf(p.w, "%s: %d %s\n", p.label, done, detail)
	}
}

// finish closes the report with a final line.
func (p *progress) finish(done int, detail string) {
	if p.quiet {
		return
	}
	if p.bar != nil {
		_ = p.bar.Finish()
	}
	p.line(done, detail)
}
