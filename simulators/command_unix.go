//go:build unix

package simulators

import (
	"os/exec"
	"syscall"
)

// detach starts the simulator process in a process group of its own, so
// that a Ctrl-C at the terminal reaches gosbi (which then stops cleanly and
// keeps what finished) but not the simulators it is waiting for.
func detach(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// killProcess kills the simulator process and everything it started in its
// process group (a shell wrapper's children, say).
func killProcess(cmd *exec.Cmd) {
	if cmd.Process == nil {
		return
	}
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); err != nil {
		_ = cmd.Process.Kill()
	}
}
