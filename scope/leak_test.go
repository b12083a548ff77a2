package scope_test

import (
	"bytes"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reclaim-go/reclaim/scope"
)

// collectGarbage runs the collector and waits until the runtime cleanups it
// queued have run: a sentinel's cleanup runs after those queued before it.
func collectGarbage() {
	for range 2 {
		done := make(chan struct{})
		sentinel := new([16]byte)
		runtime.AddCleanup(sentinel, func(ch chan struct{}) { close(ch) }, done)
		sentinel = nil
		runtime.GC()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
	}
}

type leakLog struct {
	mu    sync.Mutex
	leaks []scope.Leak
}

func (l *leakLog) report(k scope.Leak) { l.mu.Lock(); l.leaks = append(l.leaks, k); l.mu.Unlock() }

func (l *leakLog) all() []scope.Leak {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]scope.Leak(nil), l.leaks...)
}

//go:noinline
func leakAScope(log *leakLog) {
	s := scope.New(scope.OnLeak(log.report))
	s.DeferFunc(func() {})
	s.DeferFunc(func() {})
}

//go:noinline
func dropAClosedScope(log *leakLog) {
	s := scope.New(scope.OnLeak(log.report))
	s.DeferFunc(func() {})
	_ = s.Close()
}

func TestLeakedScopeIsReportedWithTheStackThatCreatedIt(t *testing.T) {
	var log leakLog
	leakAScope(&log)
	dropAClosedScope(&log)
	collectGarbage()
	leaks := log.all()
	require.Len(t, leaks, 1, "only the scope dropped with pending cleanups is reported")
	assert.Equal(t, 2, leaks[0].Pending)
	assert.Contains(t, leaks[0].Created, "scope_test.leakAScope")
	assert.Contains(t, leaks[0].String(), "leaked Scope with 2 pending cleanup(s)")
}

func TestLeakDetectionOffReportsNothing(t *testing.T) {
	var log leakLog
	func() {
		s := scope.New(scope.OnLeak(log.report), scope.DetectLeaks(scope.LeaksOff))
		s.DeferFunc(func() {})
	}()
	collectGarbage()
	assert.Empty(t, log.all())
}

func TestSampledLeakDetectionWatchesOneScopeInSampleRate(t *testing.T) {
	var log leakLog
	const n = 4 * scope.LeakSampleRate
	func() {
		for range n {
			s := scope.New(scope.DetectLeaks(scope.LeaksSampled), scope.OnLeak(log.report))
			s.DeferFunc(func() {})
		}
	}()
	collectGarbage()
	assert.Len(t, log.all(), n/scope.LeakSampleRate)
}

func TestReleasedScopeIsWatchedLikeItsParent(t *testing.T) {
	var log leakLog
	func() {
		s := scope.New(scope.OnLeak(log.report))
		s.DeferFunc(func() {})
		_ = s.Release() // dropped with one cleanup
		require.NoError(t, s.Close())
	}()
	collectGarbage()
	leaks := log.all()
	require.Len(t, leaks, 1)
	assert.Equal(t, 1, leaks[0].Pending)
	assert.Contains(t, leaks[0].Created, "TestReleasedScopeIsWatchedLikeItsParent")
}

// TestLeakEnvironmentVariable runs this test binary again with RECLAIM_LEAKS
// set, since the variable is read once per process.
func TestLeakEnvironmentVariable(t *testing.T) {
	if os.Getenv("SCOPE_TEST_LEAK_CHILD") == "1" {
		func() {
			s := scope.New()
			s.DeferFunc(func() {})
		}()
		collectGarbage()
		return
	}
	for _, tc := range []struct {
		value string
		leak  bool
	}{{"full", true}, {"off", false}, {"", false}} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestLeakEnvironmentVariable$", "-test.count=1")
		cmd.Env = append(os.Environ(), "SCOPE_TEST_LEAK_CHILD=1", "RECLAIM_LEAKS="+tc.value)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		require.NoError(t, cmd.Run(), stderr.String())
		if tc.leak {
			assert.Contains(t, stderr.String(), "scope: leaked Scope with 1 pending cleanup(s), created at:")
			assert.Contains(t, stderr.String(), "TestLeakEnvironmentVariable")
		} else {
			assert.NotContains(t, stderr.String(), "leaked Scope", "RECLAIM_LEAKS=%q", tc.value)
		}
	}
}

func TestOptionsAppliesItsOptionsInOrder(t *testing.T) {
	var on, off leakLog
	func() {
		s := scope.New(scope.Options(scope.DetectLeaks(scope.LeaksOff), scope.OnLeak(on.report)))
		s.DeferFunc(func() {})
		s2 := scope.New(scope.Options(scope.OnLeak(off.report), scope.DetectLeaks(scope.LeaksOff)))
		s2.DeferFunc(func() {})
	}()
	collectGarbage()
	assert.Len(t, on.all(), 1, "OnLeak after LeaksOff turns detection on")
	assert.Empty(t, off.all(), "LeaksOff after OnLeak turns it off")
}
