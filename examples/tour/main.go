// Command tour runs reclaim's examples on real resources in one process and
// checks that the process ends with the file descriptors and goroutines it
// started with. It exits non-zero if an example fails or anything leaked.
//
//	go run ./examples/tour            # every example
//	go run ./examples/tour files      # just the ones named
//
// Each example is a package of its own under examples/, with a Main(w)
// function that does the work and reports to w; read them there.
package main

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/reclaim-go/reclaim/examples/files"
	"github.com/reclaim-go/reclaim/examples/httpclient"
	"github.com/reclaim-go/reclaim/examples/locks"
	"github.com/reclaim-go/reclaim/examples/migrate"
	"github.com/reclaim-go/reclaim/examples/service"
	"github.com/reclaim-go/reclaim/examples/sqlite"
	"github.com/reclaim-go/reclaim/examples/tcppool"
	"github.com/reclaim-go/reclaim/internal/fds"
)

// An example prints its own short report and returns an error if it did not
// behave as it should.
type example struct {
	name    string
	summary string
	main    func(w io.Writer) error
}

var examples = []example{
	{"files", "one Scope per file, half the work failing on purpose, early close in a loop", files.Main},
	{"locks", "a Mutex and an RWMutex held through scopes, one released early", locks.Main},
	{"migrate", "before and after: the defer bugs reclaim removes, measured", migrate.Main},
	{"sqlite", "transactions that roll back only on failure, a failed Commit included", sqlite.Main},
	{"tcppool", "a pool of TCP connections dialed with retry, checked against the server's count", tcppool.Main},
	{"httpclient", "203 URLs fetched with retry from a flaky server; bodies read after retry.Value returns", httpclient.Main},
	{"service", "an HTTP service run by lifecycle, stopped by a real SIGTERM", service.Main},
}

func main() {
	if err := tour(os.Stdout, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "tour:", err)
		os.Exit(1)
	}
}

func tour(w io.Writer, names []string) error {
	run, err := pick(names)
	if err != nil {
		return err
	}
	fdsBefore, err := fds.Count() // also starts the runtime's poller
	if err != nil {
		return err
	}
	startSignalLoop()
	goroutinesBefore := settledGoroutines(-1)

	for i, ex := range run {
		fmt.Fprintf(w, "%d. %s: %s\n", i+1, ex.name, ex.summary)
		if err := ex.main(indent{w}); err != nil {
			return fmt.Errorf("%s: %w", ex.name, err)
		}
		fmt.Fprintln(w)
	}

	fdsAfter, err := fds.Count()
	if err != nil {
		return err
	}
	goroutinesAfter := settledGoroutines(goroutinesBefore)
	fmt.Fprintf(w, "open file descriptors: %d before, %d after\n", fdsBefore, fdsAfter)
	fmt.Fprintf(w, "goroutines:            %d before, %d after\n", goroutinesBefore, goroutinesAfter)
	if fdsAfter != fdsBefore || goroutinesAfter != goroutinesBefore {
		return fmt.Errorf("leaked %d descriptor(s) and %d goroutine(s)", fdsAfter-fdsBefore, goroutinesAfter-goroutinesBefore)
	}
	fmt.Fprintln(w, "nothing leaked")
	return nil
}

func pick(names []string) ([]example, error) {
	if len(names) == 0 {
		return examples, nil
	}
	var run []example
	for _, name := range names {
		found := false
		for _, ex := range examples {
			if ex.name == name {
				run, found = append(run, ex), true
			}
		}
		if !found {
			return nil, fmt.Errorf("no example named %q", name)
		}
	}
	return run, nil
}

// startSignalLoop starts the goroutine that os/signal keeps for the life of
// the process once anything asks for signals (the service example's
// lifecycle.Run does), so that it is counted before as well as after.
func startSignalLoop() {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGWINCH)
	signal.Stop(c)
}

// settledGoroutines gives goroutines that are on their way out (a closed
// connection's reader, say) a moment to finish before counting them: it
// waits until there are want goroutines, or until the count has not moved
// for 100 ms, for at most 2 s.
func settledGoroutines(want int) int {
	n, since := runtime.NumGoroutine(), time.Now()
	for deadline := since.Add(2 * time.Second); n != want && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
		if m := runtime.NumGoroutine(); m != n {
			n, since = m, time.Now()
		} else if time.Since(since) >= 100*time.Millisecond {
			break
		}
	}
	return n
}

// indent prefixes each line an example prints, so the tour reads as a list.
type indent struct{ w io.Writer }

func (in indent) Write(p []byte) (int, error) {
	var out []byte
	start := 0
	for i, c := range p {
		if c == '\n' {
			out = append(out, "   "...)
			out = append(out, p[start:i+1]...)
			start = i + 1
		}
	}
	if start < len(p) {
		out = append(out, "   "...)
		out = append(out, p[start:]...)
	}
	if _, err := in.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}
