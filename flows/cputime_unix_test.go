//go:build unix

package flows

import (
	"syscall"
	"time"
)

// processCPUTime returns the CPU time used by the process so far, or 0 if
// unknown.
func processCPUTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
