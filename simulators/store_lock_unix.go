//go:build unix

package simulators

import (
	"errors"
	"os"
	"syscall"
)

// lockFile takes an exclusive advisory lock (flock) on f without waiting
// and returns the function that releases it. It fails only when another
// process holds the lock; on a file system without locks it goes on
// unlocked.
func lockFile(f *os.File) (unlock func(), err error) {
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	switch {
	case err == nil:
		return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }, nil
	case errors.Is(err, syscall.EWOULDBLOCK):
		return nil, errors.New("another process is writing it")
	}
	return func() {}, nil
}
