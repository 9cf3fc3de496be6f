//go:build unix

package gemm

import (
	"syscall"
	"time"
)

// cpuTime returns the CPU time used by the process so far, or 0 if unknown.
// On a shared machine, flops per CPU second measure the code rather than
// the neighbours.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
