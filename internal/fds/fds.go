// Package fds counts the process's open file descriptors, so that tests and
// the examples can prove that what was opened was closed.
package fds

import (
	"fmt"
	"os"
	"runtime"
	"sync"
)

var pollerOnce sync.Once

func startPoller() {
	if f, err := os.Open(os.DevNull); err == nil {
		f.Close()
	}
}

// Count returns the number of file descriptors the process has open, read
// from /proc/self/fd (Linux) or /dev/fd (other Unix systems). The descriptor
// used to read the directory is not counted.
//
// The first file a Go program opens also starts the runtime's poller, which
// keeps descriptors of its own (epoll and an eventfd on Linux) for the life
// of the process. Count starts it before its first count, so that a count
// taken before any file was opened matches one taken after.
func Count() (int, error) {
	pollerOnce.Do(startPoller)
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
