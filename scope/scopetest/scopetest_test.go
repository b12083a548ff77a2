package scopetest_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reclaim-go/reclaim/scope"
	"github.com/reclaim-go/reclaim/scope/scopetest"
)

func TestMain(m *testing.M) { scopetest.VerifyTestMain(m) }

// fakeT records failures so that the helpers' verdicts can be checked; it
// runs cleanups like testing does, newest first.
type fakeT struct {
	testing.TB
	errors   []string
	cleanups []func()
}

func (f *fakeT) Helper()           {}
func (f *fakeT) Cleanup(fn func()) { f.cleanups = append(f.cleanups, fn) }
func (f *fakeT) Error(args ...any) { f.errors = append(f.errors, fmt.Sprint(args...)) }
func (f *fakeT) Errorf(format string, args ...any) {
	f.errors = append(f.errors, fmt.Sprintf(format, args...))
}

func (f *fakeT) end() {
	for i := len(f.cleanups) - 1; i >= 0; i-- {
		f.cleanups[i]()
	}
}

func TestNewClosesAtTestEndAndFailsOnCleanupErrors(t *testing.T) {
	ft := &fakeT{TB: t}
	s := scopetest.New(ft)
	closed := false
	s.DeferFunc(func() { closed = true })
	s.Defer(func() error { return errors.New("flush failed") })
	assert.False(t, closed)
	ft.end()
	assert.True(t, closed)
	require.Len(t, ft.errors, 1)
	assert.Contains(t, ft.errors[0], "flush failed")
	assert.Contains(t, ft.errors[0], "scopetest_test.go:", "the error names the registration site")
}

func TestNewWithARealFile(t *testing.T) {
	s := scopetest.New(t)
	f, err := os.CreateTemp(t.TempDir(), "scopetest")
	require.NoError(t, err)
	s.DeferClose(f)
	_, err = f.WriteString("closed by t.Cleanup")
	require.NoError(t, err)
}

//go:noinline
func leak(opt scope.Option) {
	s := scope.New(opt)
	s.DeferFunc(func() {})
}

func TestCheckLeaksFailsTheTestForALeakedScope(t *testing.T) {
	ft := &fakeT{TB: t}
	opt := scopetest.CheckLeaks(ft)
	leak(opt)
	closed := scope.New(opt)
	closed.DeferFunc(func() {})
	require.NoError(t, closed.Close())
	ft.end()
	require.Len(t, ft.errors, 1)
	assert.Contains(t, ft.errors[0], "leaked Scope with 1 pending cleanup(s)")
	assert.Contains(t, ft.errors[0], "scopetest_test.leak")
}

func TestCheckLeaksPassesWhenEveryScopeIsClosed(t *testing.T) {
	t.Parallel()
	opt := scopetest.CheckLeaks(t)
	for range 10 {
		s := scope.New(opt)
		s.DeferFunc(func() {})
		require.NoError(t, s.Close())
	}
}

// Item 7: CheckLeaks watches every Scope made with it, even when
// RECLAIM_LEAKS asks for sampling or for none. The variable is read once per
// process, so the test runs this binary again with it set.
func TestCheckLeaksWatchesEveryScopeWhateverRECLAIM_LEAKSSays(t *testing.T) {
	if os.Getenv("SCOPETEST_LEAK_CHILD") == "1" {
		ft := &fakeT{TB: t}
		opt := scopetest.CheckLeaks(ft)
		for range 5 {
			leak(opt)
		}
		ft.end()
		fmt.Fprintf(os.Stderr, "leaks reported: %d\n", len(ft.errors))
		return
	}
	for _, level := range []string{"sampled", "off", "full"} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCheckLeaksWatchesEveryScopeWhateverRECLAIM_LEAKSSays$", "-test.count=1")
		cmd.Env = append(os.Environ(), "SCOPETEST_LEAK_CHILD=1", "RECLAIM_LEAKS="+level)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		require.NoError(t, cmd.Run(), stderr.String())
		assert.Contains(t, stderr.String(), "leaks reported: 5\n", "RECLAIM_LEAKS=%s", level)
	}
}

// Item 1: cleanups that call t.FailNow (runtime.Goexit), as require.NoError
// does, never stop the older ones, and the Scope ends closed.
func TestCleanupsCallingFailNowStillRunTheOlderOnes(t *testing.T) {
	ft := &fakeT{TB: t}
	s := scopetest.New(ft)
	var ran []string
	s.DeferFunc(func() { ran = append(ran, "oldest") })
	s.DeferFunc(func() { ran = append(ran, "fails 1"); runtime.Goexit() })
	s.DeferFunc(func() { ran = append(ran, "fails 2"); runtime.Goexit() })
	s.DeferFunc(func() { ran = append(ran, "fails 3"); runtime.Goexit() })
	done := make(chan struct{})
	go func() { defer close(done); ft.end() }() // FailNow ends the test's goroutine
	<-done
	assert.Equal(t, []string{"fails 3", "fails 2", "fails 1", "oldest"}, ran)
	assert.NoError(t, s.Close(), "the scope is closed: a later Close returns")
}
