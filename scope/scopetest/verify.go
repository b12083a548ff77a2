package scopetest

import (
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/reclaim-go/reclaim/internal/fds"
	"github.com/reclaim-go/reclaim/internal/track"
)

// VerifyTestMain runs the tests of m and, when they pass, fails the run if
// anything leaked, with a report that names each resource and the stack that
// created or acquired it, grouped by stack with counts:
//
//   - goroutines still running (goleak's check; opts are goleak's options,
//     such as goleak.IgnoreTopFunction and goleak.Cleanup);
//   - Scopes garbage-collected with cleanups pending;
//   - pool leases and handles references dropped without being given back,
//     and those still held;
//   - file descriptors opened during the run and still open (Linux; elsewhere
//     the check is skipped, with a note).
//
// It is the one line of a package's TestMain:
//
//	func TestMain(m *testing.M) { scopetest.VerifyTestMain(m) }
//
// While it runs, leak tracking is on for every Scope, lease and reference,
// whatever RECLAIM_LEAKS says (a Scope made with an explicit
// scope.DetectLeaks keeps its own level), except in a run asked for
// benchmarks (-test.bench), which measure untracked code unless
// RECLAIM_LEAKS says otherwise; before it reports, it runs the
// garbage collector so that what was dropped is found, and waits up to a
// few seconds for what is still held to be given back. It calls os.Exit.
func VerifyTestMain(m *testing.M, opts ...goleak.Option) {
	goleak.VerifyTestMain(verified{m, os.Stderr}, opts...)
}

// verified runs the tests and then the checks of every kind but goroutines,
// which goleak.VerifyTestMain does after it.
type verified struct {
	m interface{ Run() int }
	w io.Writer
}

func (v verified) Run() int {
	if !benchmarking() {
		restore := track.Force()
		defer restore()
	}
	before, fdErr := openFDs()
	code := v.m.Run()
	if code != 0 {
		return code
	}
	if fdErr != nil {
		fmt.Fprintf(v.w, "scopetest: file descriptors not checked: %v\n", fdErr)
	}
	if report := leaks(before, fdErr); report != "" {
		fmt.Fprint(v.w, report)
		return 1
	}
	return 0
}

// benchmarking reports whether the run was asked for benchmarks
// (-test.bench): then tracking is left as RECLAIM_LEAKS says, so that they
// measure the code users run. It parses the flags, as testing.M.Run would.
func benchmarking() bool {
	if !flag.Parsed() {
		flag.Parse()
	}
	f := flag.Lookup("test.bench")
	return f != nil && f.Value.String() != ""
}

// settle bounds the wait for resources given back by goroutines that are
// still ending when the tests return.
const settle = 2 * time.Second

// leaks checks every kind but goroutines and returns the report, or "" when
// nothing leaked.
func leaks(fdsBefore map[string]string, fdErr error) string {
	var (
		held   []track.Leak
		opened []string
	)
	for deadline, delay := time.Now().Add(settle), time.Millisecond; ; delay = min(2*delay, 100*time.Millisecond) {
		collectGarbage()
		held = track.Live(track.Leases, track.Refs)
		if fdErr == nil {
			opened = newFDs(fdsBefore)
		}
		if len(held) == 0 && len(opened) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(delay)
	}
	var b strings.Builder
	dropped, lost := track.Dropped()
	if len(dropped) > 0 {
		fmt.Fprintf(&b, "scopetest: %d resources dropped without being given back:\n%s", len(dropped), track.Report(dropped))
		if lost > 0 {
			fmt.Fprintf(&b, "(and %d more not kept)\n", lost)
		}
		b.WriteString("\n")
	}
	if len(held) > 0 {
		fmt.Fprintf(&b, "scopetest: %d resources still held after the tests:\n%s\n", len(held), track.Report(held))
	}
	if len(opened) > 0 {
		fmt.Fprintf(&b, "scopetest: %d file descriptors opened during the tests are still open:\n  %s\n\n",
			len(opened), strings.Join(opened, "\n  "))
	}
	return b.String()
}

// openFDs maps each open descriptor to what it points to.
func openFDs() (map[string]string, error) {
	if runtime.GOOS != "linux" {
		return nil, fmt.Errorf("needs /proc/self/fd, which %s does not have", runtime.GOOS)
	}
	if _, err := fds.Count(); err != nil { // also starts the runtime's poller
		return nil, err
	}
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return nil, err
	}
	m := make(map[string]string, len(entries))
	for _, e := range entries {
		if target, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil {
			m[e.Name()] = target
		}
	}
	return m, nil
}

// newFDs lists the descriptors open now that were not open, or pointed
// elsewhere, before.
func newFDs(before map[string]string) []string {
	now, err := openFDs()
	if err != nil {
		return nil
	}
	var out []string
	for fd, target := range now {
		if before[fd] != target {
			out = append(out, fmt.Sprintf("fd %s -> %s", fd, target))
		}
	}
	sort.Strings(out)
	return out
}
