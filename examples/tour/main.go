// Command tour runs reclaim's examples on real resources in one process and
// checks that the process ends with the file descriptors and goroutines it
// started with. It exits non-zero if anything leaked.
//
//	go run ./examples/tour
package main

import (
	"fmt"
	"os"
	"runtime"
	"time"

	"github.com/reclaim-go/reclaim/internal/fds"
)

// A stop is one example of the tour: it prints its own short report and
// returns an error if it did not behave as it should.
type stop struct {
	name string
	run  func() error
}

var stops = []stop{
	{"scope: one Scope per file, half the work failing on purpose", scopeFiles},
}

func main() {
	if err := tour(); err != nil {
		fmt.Fprintln(os.Stderr, "tour:", err)
		os.Exit(1)
	}
}

func tour() error {
	fdsBefore, err := fds.Count()
	if err != nil {
		return err
	}
	goroutinesBefore := runtime.NumGoroutine()

	for i, s := range stops {
		fmt.Printf("%d. %s\n", i+1, s.name)
		if err := s.run(); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		fmt.Println()
	}

	fdsAfter, err := fds.Count()
	if err != nil {
		return err
	}
	goroutinesAfter := settledGoroutines(goroutinesBefore)
	fmt.Printf("open file descriptors: %d before, %d after\n", fdsBefore, fdsAfter)
	fmt.Printf("goroutines:            %d before, %d after\n", goroutinesBefore, goroutinesAfter)
	if fdsAfter != fdsBefore || goroutinesAfter != goroutinesBefore {
		return fmt.Errorf("leaked %d descriptor(s) and %d goroutine(s)", fdsAfter-fdsBefore, goroutinesAfter-goroutinesBefore)
	}
	fmt.Println("nothing leaked")
	return nil
}

// settledGoroutines gives goroutines that are on their way out (a closed
// connection's reader, say) a moment to finish before counting them.
func settledGoroutines(want int) int {
	n := runtime.NumGoroutine()
	for deadline := time.Now().Add(2 * time.Second); n != want && time.Now().Before(deadline); n = runtime.NumGoroutine() {
		time.Sleep(10 * time.Millisecond)
	}
	return n
}
