package scopetest

import (
	"runtime"
	"sync"
	"testing"
	"time"

	"go.uber.org/multierr"

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

// CheckLeaks returns an Option that watches every Scope made with it (leak
// detection [scope.LeaksFull], whatever RECLAIM_LEAKS says; a
// [scope.DetectLeaks] given after it still overrides it). When the test
// ends, CheckLeaks collects
// garbage and fails the test for each watched Scope that became unreachable
// while it still held cleanups, printing the stack that created it. Pass the
// Option to the code under test wherever it makes scopes:
//
//	opt := scopetest.CheckLeaks(t)
//	srv := newServer(opt) // calls scope.New(opt)
//
// It works under t.Parallel: each test sees only its own scopes.
func CheckLeaks(t testing.TB) scope.Option {
	t.Helper()
	var (
		mu    sync.Mutex
		leaks []scope.Leak
	)
	t.Cleanup(func() {
		collectGarbage()
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
