//go:build !unix

package simulators

import "os/exec"

// detach does nothing where process groups are not available.
func detach(*exec.Cmd) {}

// killProcess kills the simulator process.
func killProcess(cmd *exec.Cmd) {
	if cmd.Process != nil {
		_ = cmd.Process.Kill()
	}
}
