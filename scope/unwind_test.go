package scope_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reclaim-go/reclaim/internal/goid"
	"github.com/reclaim-go/reclaim/scope"
)

// Item 1: cleanups that call runtime.Goexit, any number of them, never stop
// the older ones, and the Scope still ends closed.
func TestEveryCleanupCallingGoexitStillRunsTheOlderOnes(t *testing.T) {
	var r recorder
	s := scope.New()
	for i := range 5 {
		s.Defer(r.ok(fmt.Sprint("ok", i)))
		s.DeferFunc(func() { r.add(fmt.Sprint("goexit", i)); runtime.Goexit() })
	}
	end := inGoroutine(func() { _ = s.Close() })
	assert.Equal(t, "goexit", end, "the Goexit reaches the caller, as with defer")
	assert.Equal(t, []string{"goexit4", "ok4", "goexit3", "ok3", "goexit2", "ok2", "goexit1", "ok1", "goexit0", "ok0"}, r.log())
	assert.NoError(t, s.Close(), "the scope is closed: a later Close returns")
	assert.Zero(t, s.Len())
}

func TestGoexitingCleanupsFailTheUnwinding(t *testing.T) {
	var r recorder
	var s scope.Scope
	s.OnFailure(r.ok("rollback"))
	s.DeferFunc(runtime.Goexit)
	s.DeferFunc(runtime.Goexit)
	inGoroutine(func() { _ = s.Close() })
	assert.Equal(t, []string{"rollback"}, r.log())
}

// Item 2: a panic in an older cleanup after a newer one called Goexit is
// raised, as with defer statements.
func TestPanicAfterGoexitReachesTheCaller(t *testing.T) {
	var r recorder
	var s scope.Scope
	s.Defer(r.ok("oldest"))
	s.DeferFunc(func() { panic("older") })
	s.DeferFunc(runtime.Goexit)
	assert.Equal(t, "panic older", inGoroutine(func() { _ = s.Close() }))
	assert.Equal(t, []string{"oldest"}, r.log())
	assert.NoError(t, s.Close())
}

// Plain defers would let the Goexit drop the panic; a Scope does not.
func TestGoexitAfterPanicDoesNotSwallowThePanic(t *testing.T) {
	var s scope.Scope
	s.DeferFunc(runtime.Goexit)
	s.DeferFunc(func() { panic("newer") })
	assert.Equal(t, "panic newer", inGoroutine(func() { _ = s.Close() }))
}

func TestRecoveredValueIsTheCleanupsOwn(t *testing.T) {
	boom := errors.New("boom")
	var s scope.Scope
	s.DeferFunc(func() { panic(boom) })
	defer func() {
		assert.Same(t, boom, recover(), "not wrapped: a recover sees the value itself")
	}()
	_ = s.Close()
}

// crashChild runs this test binary again as a child that does what the test
// named by child does when SCOPE_TEST_CRASH_CHILD is set, and returns its
// standard error; the child must crash.
func crashChild(t *testing.T, child string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+child+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), "SCOPE_TEST_CRASH_CHILD=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, "the child must crash; stderr:\n%s", stderr.String())
	assert.Equal(t, 2, exit.ExitCode(), "a panic exits with status 2")
	return stderr.String()
}

func isCrashChild() bool { return os.Getenv("SCOPE_TEST_CRASH_CHILD") == "1" }

func panickingCleanup() {
	panic("the bug")
}

// Items 2 and 3: the crash of a cleanup's panic, raised after the other
// cleanups ran (one of them calling Goexit), names the line that panicked.
func TestCrashOfACleanupPanicNamesTheLineThatPanicked(t *testing.T) {
	if isCrashChild() {
		done := make(chan struct{})
		go func() {
			defer close(done)
			var s scope.Scope
			s.DeferFunc(func() { fmt.Fprintln(os.Stderr, "older cleanup ran") })
			s.DeferFunc(panickingCleanup)
			s.DeferFunc(runtime.Goexit)
			_ = s.Close()
		}()
		<-done
		return
	}
	stderr := crashChild(t, "TestCrashOfACleanupPanicNamesTheLineThatPanicked")
	assert.Contains(t, stderr, "older cleanup ran")
	assert.Contains(t, stderr, "panic: the bug")
	_, file, _, _ := runtime.Caller(0)
	src, err := os.ReadFile(file)
	require.NoError(t, err)
	line := 1 + strings.Count(string(src[:strings.Index(string(src), `panic("the bug")`)]), "\n")
	assert.Contains(t, stderr, fmt.Sprintf("%s:%d", file, line), "the crash shows the line that panicked:\n%s", stderr)
}

func TestCrashUnderCloseIntoShowsTheBodysPanicLine(t *testing.T) {
	if isCrashChild() {
		func() (err error) {
			var s scope.Scope
			defer s.CloseInto(&err)
			s.DeferFunc(func() { panic("cleanup") })
			panickingCleanup()
			return nil
		}()
		return
	}
	stderr := crashChild(t, "TestCrashUnderCloseIntoShowsTheBodysPanicLine")
	assert.Contains(t, stderr, "panic: the bug")
	assert.Contains(t, stderr, "scope_test.panickingCleanup(")
}

// holder is an object whose Close closes the Scope that holds it.
type holder struct {
	s   *scope.Scope
	how string
}

func (h *holder) Close() error {
	switch h.how {
	case "CloseContext":
		return h.s.CloseContext(context.Background())
	case "CloseInto":
		var err error
		h.s.CloseInto(&err)
		return err
	default:
		return h.s.Close()
	}
}

// Item 4: a Close called from one of the Scope's own cleanups returns nil at
// once; the Close in progress runs the rest.
func TestCloseFromInsideACleanupReturnsAtOnce(t *testing.T) {
	if !goid.Known {
		t.Skip("no goroutine identity on this architecture: such a Close waits for itself")
	}
	for _, how := range []string{"Close", "CloseContext", "CloseInto"} {
		t.Run(how, func(t *testing.T) {
			var r recorder
			e := errors.New("older")
			s := scope.New()
			s.Defer(r.fail("older", e))
			h := &holder{s: s, how: how}
			s.DeferClose(h)
			s.Defer(r.ok("newer"))
			assert.ErrorIs(t, s.Close(), e, "the outer Close reports the older cleanup")
			assert.Equal(t, []string{"newer", "older"}, r.log())
			assert.NoError(t, h.Close(), "and the scope is closed")
		})
	}
}

func TestCloseFromAnotherGoroutineDuringTheUnwindingWaits(t *testing.T) {
	var s scope.Scope
	done := make(chan error)
	s.DeferFunc(func() { go func() { done <- s.Close() }() })
	require.NoError(t, s.Close())
	require.NoError(t, <-done)
}
