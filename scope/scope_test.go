package scope_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/multierr"

	"github.com/reclaim-go/reclaim/scope"
)

// recorder logs which cleanups ran, in order.
type recorder struct {
	mu  sync.Mutex
	ran []string
}

func (r *recorder) add(name string) {
	r.mu.Lock()
	r.ran = append(r.ran, name)
	r.mu.Unlock()
}

func (r *recorder) log() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.ran...)
}

func (r *recorder) ok(name string) func() error {
	return func() error { r.add(name); return nil }
}

func (r *recorder) fail(name string, err error) func() error {
	return func() error { r.add(name); return err }
}

func TestZeroScope(t *testing.T) {
	var r recorder
	var s scope.Scope
	s.Defer(r.ok("a"))
	s.DeferFunc(func() { r.add("b") })
	assert.Equal(t, 2, s.Len())
	require.NoError(t, s.Close())
	assert.Equal(t, []string{"b", "a"}, r.log())
	assert.Zero(t, s.Len())
}

func TestCloseRunsEveryKindNewestFirst(t *testing.T) {
	var r recorder
	s := scope.New()
	s.Defer(r.ok("defer"))
	s.DeferFunc(func() { r.add("func") })
	s.DeferClose(closerFunc(r.ok("close")))
	s.DeferContext(func(context.Context) error { r.add("context"); return nil })
	require.NoError(t, s.Close())
	assert.Equal(t, []string{"context", "close", "func", "defer"}, r.log())
}

type closerFunc func() error

func (f closerFunc) Close() error { return f() }

func TestCloseCombinesErrorsInRunOrder(t *testing.T) {
	var r recorder
	e1, e2, e3 := errors.New("e1"), errors.New("e2"), errors.New("e3")
	s := scope.New()
	s.Defer(r.fail("1", e1))
	s.Defer(r.ok("ok"))
	s.Defer(r.fail("2", e2))
	s.Defer(r.fail("3", e3))
	err := s.Close()
	assert.Equal(t, []error{e3, e2, e1}, multierr.Errors(err))
	for _, e := range []error{e1, e2, e3} {
		assert.ErrorIs(t, err, e)
	}
	assert.Equal(t, []string{"3", "2", "ok", "1"}, r.log(), "a failing cleanup does not stop the ones after it")
}

func TestSingleErrorIsReturnedAsIs(t *testing.T) {
	e := errors.New("boom")
	var s scope.Scope
	s.Defer(func() error { return e })
	assert.Same(t, e, s.Close())
}

// As with defer statements, the panic that reaches the caller is the latest:
// here the older cleanup's.
func TestPanickingCleanupRunsTheRestThenPanicsAgain(t *testing.T) {
	var r recorder
	e := errors.New("after")
	var s scope.Scope
	s.Defer(r.ok("oldest"))
	s.Defer(func() error { r.add("panic2"); panic("second") })
	s.Defer(r.fail("fails", e))
	s.Defer(func() error { r.add("panic1"); panic("first") })
	s.Defer(r.ok("newest"))
	require.PanicsWithValue(t, "second", func() { _ = s.Close() })
	assert.Equal(t, []string{"newest", "panic1", "fails", "panic2", "oldest"}, r.log())
	assert.NoError(t, s.Close(), "the scope is closed after the panic")
}

func TestSecondCloseRunsNothingAndReturnsNil(t *testing.T) {
	var n atomic.Int32
	var s scope.Scope
	s.Defer(func() error { n.Add(1); return errors.New("once") })
	require.Error(t, s.Close())
	require.NoError(t, s.Close())
	require.NoError(t, s.CloseContext(context.Background()))
	var err error
	s.CloseInto(&err)
	assert.NoError(t, err)
	assert.Equal(t, int32(1), n.Load())
}

func TestConcurrentClosersReturnAfterEveryCleanupFinished(t *testing.T) {
	var s scope.Scope
	started, release := make(chan struct{}), make(chan struct{})
	var finished atomic.Bool
	s.DeferFunc(func() { finished.Store(true) })
	s.DeferFunc(func() { close(started); <-release })

	first := make(chan error)
	go func() { first <- s.Close() }()
	<-started

	const others = 4
	returned := make(chan error, others)
	for range others {
		go func() { returned <- s.Close() }()
	}
	for range 50 {
		runtime.Gosched()
	}
	select {
	case <-returned:
		t.Fatal("a concurrent Close returned while a cleanup was still running")
	default:
	}
	close(release)
	require.NoError(t, <-first)
	for range others {
		require.NoError(t, <-returned)
		assert.True(t, finished.Load())
	}
}

func TestCleanupRegisteredDuringCloseRunsBeforeCloseReturns(t *testing.T) {
	var r recorder
	var s scope.Scope
	s.Defer(r.ok("oldest"))
	s.DeferFunc(func() {
		r.add("registers")
		s.Defer(r.ok("late"))
	})
	require.NoError(t, s.Close())
	assert.Equal(t, []string{"registers", "late", "oldest"}, r.log())
}

func TestCleanupRegisteredAfterCloseRunsAtOnce(t *testing.T) {
	var r recorder
	e := errors.New("late failure")
	var s scope.Scope
	require.NoError(t, s.Close())

	h := s.Defer(r.fail("late", e))
	assert.Equal(t, []string{"late"}, r.log(), "ran at registration")
	assert.ErrorIs(t, h.Run(), e, "the handle reports the late run's error")
	assert.False(t, h.Cancel())

	s.OnFailure(r.ok("rollback"))
	assert.Equal(t, []string{"late"}, r.log(), "a failure-only cleanup does not run after a successful close")

	var f scope.Scope
	err := errors.New("body")
	f.CloseInto(&err)
	f.OnFailure(r.ok("rollback"))
	assert.Equal(t, []string{"late", "rollback"}, r.log(), "it runs after a failed close")
}

func TestNilRegistrationsPanicNamingTheMethod(t *testing.T) {
	var s scope.Scope
	assert.PanicsWithValue(t, "scope: Defer called with a nil func", func() { s.Defer(nil) })
	assert.PanicsWithValue(t, "scope: DeferFunc called with a nil func", func() { s.DeferFunc(nil) })
	assert.PanicsWithValue(t, "scope: DeferContext called with a nil func", func() { s.DeferContext(nil) })
	assert.PanicsWithValue(t, "scope: OnFailure called with a nil func", func() { s.OnFailure(nil) })
	assert.PanicsWithValue(t, "scope: DeferClose called with a nil io.Closer", func() { s.DeferClose(nil) })
	var f *os.File // as returned by a failed os.Open
	assert.PanicsWithValue(t, "scope: DeferClose called with a nil io.Closer", func() { s.DeferClose(f) })
	// Item 6: nil closers of every nilable kind panic at registration.
	var fn closerFunc // the common CloserFunc adapter
	assert.PanicsWithValue(t, "scope: DeferClose called with a nil io.Closer", func() { s.DeferClose(fn) })
	var m mapCloser
	assert.PanicsWithValue(t, "scope: DeferClose called with a nil io.Closer", func() { s.DeferClose(m) })
	var ch chanCloser
	assert.PanicsWithValue(t, "scope: DeferClose called with a nil io.Closer", func() { s.DeferClose(ch) })
	s.DeferClose(struct{ *nopCloser }{&nopCloser{}}) // a struct holding a pointer is a value
	s.DeferClose(mapCloser{})                        // an empty map is not nil
	assert.Equal(t, 2, s.Len())
	require.NoError(t, s.Close())
}

type mapCloser map[string]int

func (mapCloser) Close() error { return nil }

type chanCloser chan int

func (chanCloser) Close() error { return nil }

func TestNilRegistrationsLeaveTheScopeEmpty(t *testing.T) {
	var s scope.Scope
	assert.Panics(t, func() { s.Defer(nil) })
	assert.Zero(t, s.Len())
	require.NoError(t, s.Close())
}

func TestOnFailureRunsOnlyWhenTheScopeFails(t *testing.T) {
	t.Run("success drops it", func(t *testing.T) {
		var r recorder
		var s scope.Scope
		s.OnFailure(r.ok("rollback"))
		s.Defer(r.ok("close"))
		require.NoError(t, s.Close())
		assert.Equal(t, []string{"close"}, r.log())
	})
	t.Run("CloseInto with an error runs it", func(t *testing.T) {
		var r recorder
		var s scope.Scope
		s.OnFailure(r.ok("rollback"))
		s.Defer(r.ok("close"))
		err := errors.New("body")
		s.CloseInto(&err)
		assert.Equal(t, []string{"close", "rollback"}, r.log())
	})
	t.Run("a newer failing cleanup fails the rest of the unwinding", func(t *testing.T) {
		var r recorder
		flush := errors.New("flush")
		var s scope.Scope
		s.OnFailure(r.ok("remove half-written file"))
		s.Defer(r.fail("close file", flush))
		s.OnFailure(r.ok("newer rollback"))
		err := s.Close()
		assert.ErrorIs(t, err, flush)
		assert.Equal(t, []string{"close file", "remove half-written file"}, r.log(),
			"the newer failure-only cleanup had its turn before anything failed")
	})
	t.Run("a panicking cleanup fails the rest of the unwinding", func(t *testing.T) {
		var r recorder
		var s scope.Scope
		s.OnFailure(r.ok("rollback"))
		s.DeferFunc(func() { panic("cleanup bug") })
		assert.Panics(t, func() { _ = s.Close() })
		assert.Equal(t, []string{"rollback"}, r.log())
	})
}

func TestCloseIntoKeepsTheBodyErrorFirst(t *testing.T) {
	body, c1, c2 := errors.New("body"), errors.New("c1"), errors.New("c2")
	var s scope.Scope
	s.Defer(func() error { return c1 })
	s.Defer(func() error { return c2 })
	err := body
	s.CloseInto(&err)
	assert.Equal(t, []error{body, c2, c1}, multierr.Errors(err))

	var ok scope.Scope
	ok.Defer(func() error { return c1 })
	err = nil
	ok.CloseInto(&err)
	assert.Same(t, c1, err, "cleanup errors are not dropped on the success path")
}

func TestCloseIntoOnPanicRunsEverythingAsFailedThenPanicsWithTheOriginalValue(t *testing.T) {
	var r recorder
	boom := errors.New("boom")
	fn := func() (err error) {
		var s scope.Scope
		defer s.CloseInto(&err)
		s.OnFailure(r.ok("rollback"))
		s.Defer(r.ok("close"))
		s.DeferFunc(func() { panic("cleanup panic is not the one raised") })
		panic(boom)
	}
	var got any
	func() {
		defer func() { got = recover() }()
		_ = fn()
	}()
	assert.Same(t, boom, got)
	assert.Equal(t, []string{"close", "rollback"}, r.log())
}

func TestCloseIntoRaisesACleanupPanicAfterSettingTheError(t *testing.T) {
	e := errors.New("close")
	var err error
	var s scope.Scope
	s.Defer(func() error { return e })
	s.DeferFunc(func() { panic("bug") })
	assert.PanicsWithValue(t, "bug", func() { s.CloseInto(&err) })
	assert.ErrorIs(t, err, e)
}

type ctxKey struct{}

func TestContextCleanupsReceiveTheCloseContext(t *testing.T) {
	var s scope.Scope
	var got context.Context
	s.DeferContext(func(ctx context.Context) error { got = ctx; return ctx.Err() })
	ctx, cancel := context.WithCancel(context.WithValue(context.Background(), ctxKey{}, "v"))
	cancel()
	err := s.CloseContext(ctx)
	assert.ErrorIs(t, err, context.Canceled, "every cleanup runs even when ctx is done")
	assert.Equal(t, "v", got.Value(ctxKey{}))

	var b scope.Scope
	b.DeferContext(func(ctx context.Context) error { got = ctx; return nil })
	require.NoError(t, b.Close())
	assert.Equal(t, context.Background(), got)
}

func TestRunClosesAsFailedWhenFnFails(t *testing.T) {
	var r recorder
	body, c := errors.New("body"), errors.New("cleanup")
	err := scope.Run(context.Background(), func(ctx context.Context, s *scope.Scope) error {
		s.OnFailure(r.ok("rollback"))
		s.Defer(r.fail("close", c))
		return body
	})
	assert.Equal(t, []error{body, c}, multierr.Errors(err))
	assert.Equal(t, []string{"close", "rollback"}, r.log())

	var r2 recorder
	require.NoError(t, scope.Run(context.Background(), func(ctx context.Context, s *scope.Scope) error {
		s.OnFailure(r2.ok("rollback"))
		s.Defer(r2.ok("close"))
		return nil
	}))
	assert.Equal(t, []string{"close"}, r2.log())
}

func TestRunCancelsFnContextButNotTheCleanups(t *testing.T) {
	parent, cancelParent := context.WithCancel(context.WithValue(context.Background(), ctxKey{}, "request"))
	var fnCtx context.Context
	var cleanupErr, fnErrAtCleanup error
	var value any
	err := scope.Run(parent, func(ctx context.Context, s *scope.Scope) error {
		fnCtx = ctx
		s.DeferContext(func(ctx context.Context) error {
			fnErrAtCleanup = fnCtx.Err()
			cleanupErr = ctx.Err()
			value = ctx.Value(ctxKey{})
			return nil
		})
		cancelParent() // the request is cancelled while fn runs
		return nil
	})
	require.NoError(t, err)
	assert.ErrorIs(t, fnErrAtCleanup, context.Canceled, "fn's context is cancelled before cleanups run")
	assert.NoError(t, cleanupErr, "cleanups get a context that is never cancelled")
	assert.Equal(t, "request", value, "with the request's values")
}

func TestRunClosesAsFailedAndPanicsAgainWhenFnPanics(t *testing.T) {
	var r recorder
	assert.PanicsWithValue(t, "fn", func() {
		_ = scope.Run(context.Background(), func(ctx context.Context, s *scope.Scope) error {
			s.OnFailure(r.ok("rollback"))
			panic("fn")
		})
	})
	assert.Equal(t, []string{"rollback"}, r.log())
}

func TestRunTreatsGoexitAsFailure(t *testing.T) {
	var r recorder
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = scope.Run(context.Background(), func(ctx context.Context, s *scope.Scope) error {
			s.OnFailure(r.ok("rollback"))
			s.Defer(r.ok("close"))
			runtime.Goexit() // as t.FailNow does
			return nil
		})
	}()
	<-done
	assert.Equal(t, []string{"close", "rollback"}, r.log())
}

func TestCleanupCallingGoexitDoesNotStopTheOthers(t *testing.T) {
	var r recorder
	done := make(chan struct{})
	go func() {
		defer close(done)
		var s scope.Scope
		s.Defer(r.ok("oldest"))
		s.DeferFunc(runtime.Goexit)
		s.Defer(r.ok("newest"))
		_ = s.Close()
		r.add("not reached")
	}()
	<-done
	assert.Equal(t, []string{"newest", "oldest"}, r.log())
}

func TestRecordSitesNamesWhereTheCleanupWasRegistered(t *testing.T) {
	e := errors.New("close failed")
	s := scope.New(scope.RecordSites(true))
	_, file, line, _ := runtime.Caller(0)
	s.Defer(func() error { return e }) // line+1
	err := s.Close()
	require.ErrorIs(t, err, e)
	var ce *scope.CleanupError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, fmt.Sprintf("%s:%d", file, line+1), ce.Site)
	assert.Contains(t, ce.Cleanup, "TestRecordSitesNamesWhereTheCleanupWasRegistered")
	assert.Contains(t, err.Error(), fmt.Sprintf("registered at %s:%d: close failed", file, line+1))

	plain := scope.New()
	plain.Defer(func() error { return e })
	assert.Same(t, e, plain.Close(), "without site recording the error is returned as is")
}

func TestRecordSitesNamesACloserByItsType(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "x")
	require.NoError(t, err)
	require.NoError(t, f.Close())
	s := scope.New(scope.RecordSites(true))
	s.DeferClose(f) // closing twice fails
	var ce *scope.CleanupError
	require.ErrorAs(t, s.Close(), &ce)
	assert.Equal(t, "(*os.File).Close", ce.Cleanup)
	assert.ErrorIs(t, ce, os.ErrClosed)
}

func TestReleaseMovesEveryPendingCleanup(t *testing.T) {
	var r recorder
	s := scope.New(scope.RecordSites(true))
	h := s.Defer(r.ok("a"))
	s.Defer(r.fail("b", errors.New("b")))
	moved := s.Release()

	assert.Zero(t, s.Len())
	assert.Equal(t, 2, moved.Len())
	assert.False(t, h.Cancel(), "handles stay bound to the receiver")

	s.Defer(r.ok("receiver is reusable"))
	require.NoError(t, s.Close())
	assert.Equal(t, []string{"receiver is reusable"}, r.log())

	var ce *scope.CleanupError
	require.ErrorAs(t, moved.Close(), &ce, "the new scope keeps the options")
	assert.Equal(t, []string{"receiver is reusable", "b", "a"}, r.log())
}

// Item 8: the constructor's rollbacks belong to the construction that
// succeeded; they do not run at the object's own Close, failed or not.
func TestReleaseDropsTheFailureOnlyCleanups(t *testing.T) {
	var r recorder
	newThing := func() (_ *scope.Scope, err error) {
		var s scope.Scope
		defer s.CloseInto(&err)
		s.Defer(r.ok("close a"))
		s.OnFailure(r.ok("remove a"))
		s.Defer(r.fail("close b", errors.New("b")))
		return s.Release(), nil
	}
	thing, err := newThing()
	require.NoError(t, err)
	assert.Empty(t, r.log(), "nothing ran at construction")
	assert.Equal(t, 2, thing.Len())
	assert.Error(t, thing.Close(), "the object's Close fails...")
	assert.Equal(t, []string{"close b", "close a"}, r.log(), "...without rolling back the construction")
}

func TestReleaseOfManyCleanupsKeepsTheirOrder(t *testing.T) {
	var r recorder
	var s scope.Scope
	for i := range 20 {
		s.Defer(r.ok(fmt.Sprint(i)))
	}
	moved := s.Release()
	require.NoError(t, moved.Close())
	log := r.log()
	require.Len(t, log, 20)
	for i, name := range log {
		assert.Equal(t, fmt.Sprint(19-i), name)
	}
}

func TestReleaseOfAClosedScopePanics(t *testing.T) {
	var s scope.Scope
	require.NoError(t, s.Close())
	assert.PanicsWithValue(t, "scope: Release called on a closed Scope", func() { s.Release() })
}

func TestConcurrentRegistrationAndCloseRunEveryCleanupExactlyOnce(t *testing.T) {
	const goroutines, each = 8, 200
	var runs [goroutines * each]atomic.Int32
	s := scope.New()
	var wg sync.WaitGroup
	start := make(chan struct{})
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for i := range each {
				n := &runs[g*each+i]
				s.DeferFunc(func() { n.Add(1) })
			}
		}()
	}
	close(start)
	for range 100 { // let some registrations land before Close
		runtime.Gosched()
	}
	require.NoError(t, s.Close())
	wg.Wait() // registrations after Close ran at once
	for i := range runs {
		require.Equal(t, int32(1), runs[i].Load(), "cleanup %d", i)
	}
}

func TestCleanupsRegisteredDuringCloseRunNextAsTheNewest(t *testing.T) {
	var r recorder
	var s scope.Scope
	for i := range 10 {
		s.Defer(r.ok(fmt.Sprint("old", i)))
	}
	s.DeferFunc(func() {
		r.add("b")
		s.DeferFunc(func() {
			r.add("x")
			s.Defer(r.ok("y"))
		})
	})
	s.Defer(r.ok("c"))
	require.NoError(t, s.Close())
	want := []string{"c", "b", "x", "y"}
	for i := 9; i >= 0; i-- {
		want = append(want, fmt.Sprint("old", i))
	}
	assert.Equal(t, want, r.log())
}
