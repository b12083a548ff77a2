// Package fds counts the process's open file descriptors, so that tests and
// the examples can prove that what was opened was closed.
package fds

import (
	"fmt"
	"os"
	"runtime"
)

// Count returns the number of file descriptors the process has open, read
// from /proc/self/fd (Linux) or /dev/fd (other Unix systems). The descriptor
// used to read the directory is not counted.
func Count() (int, error) {
	dir := "/proc/self/fd"
	if runtime.GOOS != "linux" {
		dir = "/dev/fd"
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, fmt.Errorf("fds: %w", err)
	}
	return len(entries) - 1, nil
}
