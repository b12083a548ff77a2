package scopetest

import (
	"context"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/multierr"

	"github.com/reclaim-go/reclaim/internal/track"
	"github.com/reclaim-go/reclaim/scope"
)

// New returns a Scope made with opts, site recording on, that is closed by
// t.Cleanup when the test and its subtests end. Each cleanup error is
// reported with t.Error, naming the cleanup's registration site; a
// panicking cleanup fails the test the way any panicking t.Cleanup does.
// A cleanup may call t.FailNow (require.NoError): the older cleanups still
// run, as with t.Cleanup.
// The Scope's DeferContext cleanups receive [context.Background], not
// t.Context, which is already cancelled by then.
func New(t testing.TB, opts ...scope.Option) *scope.Scope {
	t.Helper()
	s := scope.New(append([]scope.Option{scope.RecordSites(true)}, opts...)...)
	t.Cleanup(func() {
		for _, err := range multierr.Errors(s.Close()) {
			t.Error(err)
		}
	})
	return s
}

// CheckLeaks fails t, when it ends, for what t leaked, naming each
// resource and the stack that created or acquired it:
//
//   - Scopes that became unreachable while they still held cleanups;
//   - pool leases and handles references dropped without being given back,
//     and those still held when t ends;
//   - goroutines that t started, directly or not, still running when t
//     ends (it waits up to a second for them to return).
//
// From the call on, until every test that called it has ended, every Scope,
// lease and reference in the process is tracked, whatever RECLAIM_LEAKS
// says. When t ends, CheckLeaks collects garbage so that dropped resources
// are found.
//
// What is attributed to t: a Scope, lease or reference whose creation
// stack contains t's top-level test function (a frame named pkg.TestX or
// pkg.TestX.funcN, for a test or subtest of TestX), so one made in a
// goroutine that t started from a closure counts, and one made in a
// goroutine running a named function does not; a goroutine labelled by
// CheckLeaks, which sets a pprof label on t's goroutine (replacing its
// labels) that every goroutine it starts inherits, down the tree. A
// dropped resource reported here is not reported again by
// [VerifyTestMain]; one still held is, if it is still held when the run
// ends. File descriptors cannot be told apart by test under t.Parallel:
// [VerifyTestMain] checks them for the whole run.
//
// It also returns an Option that watches every Scope made with it (leak
// detection [scope.LeaksFull]; a [scope.DetectLeaks] given after it still
// overrides it), for scopes made where the stack does not show the test:
//
//	opt := scopetest.CheckLeaks(t)
//	srv := newServer(opt) // calls scope.New(opt)
//
// It works under t.Parallel: each test sees only its own resources.
func CheckLeaks(t testing.TB) scope.Option {
	t.Helper()
	var (
		mu    sync.Mutex
		leaks []scope.Leak
	)
	restore := track.Force()
	label := labelGoroutines(t.Name())
	t.Cleanup(func() {
		defer restore()
		pprof.SetGoroutineLabels(context.Background()) // this goroutine is not one t started
		mine := belongsTo(t.Name())
		var running []string
		for deadline, delay := time.Now().Add(time.Second), time.Millisecond; ; delay = min(2*delay, 100*time.Millisecond) {
			collectGarbage()
			running = labelled(label)
			if len(running) == 0 && len(heldBy(mine)) == 0 || time.Now().After(deadline) {
				break
			}
			time.Sleep(delay)
		}
		if dropped := track.Take(mine); len(dropped) > 0 {
			t.Errorf("scopetest: %d resources dropped without being given back:\n%s", len(dropped), track.Report(dropped))
		}
		if held := heldBy(mine); len(held) > 0 {
			t.Errorf("scopetest: %d resources still held at the end of the test:\n%s", len(held), track.Report(held))
		}
		if len(running) > 0 {
			t.Errorf("scopetest: goroutines started by the test still running:\n%s", strings.Join(running, "\n"))
		}
		mu.Lock()
		defer mu.Unlock()
		for _, l := range leaks {
			t.Errorf("scopetest: %v", l)
		}
	})
	return scope.Options(scope.DetectLeaks(scope.LeaksFull), scope.OnLeak(func(l scope.Leak) {
		mu.Lock()
		leaks = append(leaks, l)
		mu.Unlock()
	}))
}

// heldBy returns the leases and references still held that belong to a
// test.
func heldBy(mine func(track.Leak) bool) []track.Leak {
	var out []track.Leak
	for _, l := range track.Live(track.Leases, track.Refs) {
		if mine(l) {
			out = append(out, l)
		}
	}
	return out
}

// belongsTo returns whether a resource was created by the test named name
// (or one of its subtests, or a closure of either): whether a frame of its
// creation stack is the top-level test function or a closure in it.
func belongsTo(name string) func(track.Leak) bool {
	top, _, _ := strings.Cut(name, "/")
	return func(l track.Leak) bool {
		// Created holds "function\n\tfile:line\n" pairs.
		for line := range strings.Lines(l.Created) {
			if strings.HasPrefix(line, "\t") {
				continue
			}
			fn := strings.TrimSpace(line)
			fn = fn[strings.LastIndexByte(fn, '/')+1:]
			_, fn, _ = strings.Cut(fn, ".") // after the package name
			if fn == top || strings.HasPrefix(fn, top+".") {
				return true
			}
		}
		return false
	}
}

// labelKey is the pprof label CheckLeaks sets on a test's goroutine.
const labelKey = "reclaim/scopetest"

var labelSeq atomic.Uint64

// labelGoroutines labels the calling goroutine, and so every goroutine it
// starts from now on, with a value unique to this call, and returns the
// label as it appears in a goroutine profile.
func labelGoroutines(name string) string {
	v := name + "#" + strconv.FormatUint(labelSeq.Add(1), 10)
	pprof.SetGoroutineLabels(pprof.WithLabels(context.Background(), pprof.Labels(labelKey, v)))
	return strconv.Quote(labelKey) + ":" + strconv.Quote(v)
}

// labelled returns the records of the goroutine profile, one per stack
// with its count, of the goroutines that carry label.
func labelled(label string) []string {
	var buf strings.Builder
	if err := pprof.Lookup("goroutine").WriteTo(&buf, 1); err != nil {
		return []string{"goroutine profile: " + err.Error()}
	}
	var out []string
	_, recs, _ := strings.Cut(buf.String(), "\n") // after the "goroutine profile: total N" line
	for _, rec := range strings.Split(recs, "\n\n") {
		if strings.Contains(rec, label) {
			out = append(out, rec)
		}
	}
	return out
}

// collectGarbage runs the collector and waits until the runtime cleanups it
// queued have run: a sentinel's cleanup runs after those queued before it.
// Two rounds catch objects freed only once the first round's cleanups ran.
func collectGarbage() {
	for range 2 {
		done := make(chan struct{})
		sentinel := new([16]byte)
		runtime.AddCleanup(sentinel, func(ch chan struct{}) { close(ch) }, done)
		sentinel = nil
		runtime.GC()
		t := time.NewTimer(5 * time.Second)
		select {
		case <-done:
		case <-t.C:
		}
		t.Stop()
	}
}
