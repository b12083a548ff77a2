package scope_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/multierr"

	"github.com/reclaim-go/reclaim/scope"
)

func TestParallelMembersRunConcurrently(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var s scope.Scope
		p := s.Parallel()
		var closed atomic.Int32
		for range 50 {
			p.DeferClose(closerFunc(func() error {
				time.Sleep(20 * time.Millisecond) // a connection's Close
				closed.Add(1)
				return nil
			}))
		}
		start := time.Now()
		require.NoError(t, s.Close())
		assert.Equal(t, 20*time.Millisecond, time.Since(start), "50 closes of 20ms take 20ms, not 1s")
		assert.EqualValues(t, 50, closed.Load())
	})
}

func TestParallelKeepsItsPlaceInTheStack(t *testing.T) {
	var rec recorder
	var s scope.Scope
	s.Defer(rec.ok("oldest"))
	p := s.Parallel()
	s.Defer(rec.ok("newer"))
	// Members added after newer entries still run at the group's place.
	p.Defer(func() error { rec.add("member"); return nil })
	p.DeferFunc(func() { rec.add("member") })
	p.DeferContext(func(context.Context) error { rec.add("member"); return nil })
	require.NoError(t, s.Close())
	assert.Equal(t, []string{"newer", "member", "member", "member", "oldest"}, rec.log())
}

// TestParallelErrorsMatchASequentialScope checks a group against a model:
// the same cleanups registered one by one on a Scope. The group must keep
// every error, newest member first, as the sequential Scope reports them.
func TestParallelErrorsMatchASequentialScope(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		n := rng.IntN(8)
		errs := make([]error, n)
		for i := range errs {
			if rng.IntN(2) == 0 {
				errs[i] = fmt.Errorf("round %d member %d", round, i)
			}
		}
		var seq, par scope.Scope
		g := par.Parallel()
		for i := range n {
			pause := time.Duration(rng.IntN(3)) * time.Microsecond // finish in any order
			seq.Defer(func() error { return errs[i] })
			g.Defer(func() error {
				time.Sleep(pause)
				return errs[i]
			})
		}
		want, got := seq.Close(), par.Close()
		assert.Equal(t, multierr.Errors(want), multierr.Errors(got), "round %d", round)
		for _, e := range errs {
			if e != nil {
				assert.ErrorIs(t, got, e)
			}
		}
	}
}

func TestParallelPanicIsRaisedAfterTheWholeScopeUnwound(t *testing.T) {
	var rec recorder
	var s scope.Scope
	s.Defer(rec.ok("older"))
	p := s.Parallel()
	p.Defer(rec.ok("member 1"))
	p.DeferFunc(func() { panic("member 2") })
	p.Defer(func() error { panic("member 3") })
	p.Defer(rec.ok("member 4"))
	assert.PanicsWithValue(t, "member 2", func() { _ = s.Close() }, "the oldest panicking member's value, as in turn")
	log := rec.log()
	assert.ElementsMatch(t, []string{"member 1", "member 4", "older"}, log)
	assert.Equal(t, "older", log[len(log)-1], "the older cleanup ran after the group, before the panic")
	assert.NoError(t, s.Close(), "the scope is closed")
}

func TestParallelPanicNilIsRaisedToo(t *testing.T) {
	var s scope.Scope
	s.Parallel().DeferFunc(func() { panic(nil) })
	defer func() {
		var pn *runtime.PanicNilError
		err, _ := recover().(error)
		assert.ErrorAs(t, err, &pn)
	}()
	_ = s.Close()
}

func TestParallelGoexitEndsTheClosingGoroutineAfterEverything(t *testing.T) {
	var rec recorder
	var s scope.Scope
	s.Defer(rec.ok("older"))
	p := s.Parallel()
	p.DeferFunc(runtime.Goexit)
	p.Defer(rec.ok("member"))
	goexited := make(chan bool)
	go func() {
		normal := false
		defer func() { goexited <- !normal && recover() == nil }()
		_ = s.Close()
		normal = true
	}()
	assert.True(t, <-goexited, "Close ended its goroutine by Goexit, as a cleanup calling Goexit does")
	assert.Equal(t, []string{"member", "older"}, rec.log())
	assert.NoError(t, s.Close(), "the scope is closed, and a later Close returns")
}

func TestParallelMemberAddedAfterTheGroupRanRunsAtOnce(t *testing.T) {
	var s scope.Scope
	p := s.Parallel()
	require.NoError(t, s.Close())
	ran := false
	late := errors.New("late")
	h := p.Defer(func() error { ran = true; return late })
	assert.True(t, ran, "a member added after its group ran runs at once")
	assert.ErrorIs(t, h.Run(), late, "and its Handle reports the error")
}

func TestParallelRejectsNilMembers(t *testing.T) {
	var s scope.Scope
	p := s.Parallel()
	assert.PanicsWithValue(t, "scope: Parallel.Defer called with a nil func", func() { p.Defer(nil) })
	assert.PanicsWithValue(t, "scope: Parallel.DeferFunc called with a nil func", func() { p.DeferFunc(nil) })
	assert.PanicsWithValue(t, "scope: Parallel.DeferContext called with a nil func", func() { p.DeferContext(nil) })
	var f *nopCloser
	assert.PanicsWithValue(t, "scope: Parallel.DeferClose called with a nil io.Closer", func() { p.DeferClose(f) })
	require.NoError(t, s.Close())
}

func TestParallelMembersShareTheGroupsDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := scope.New(scope.CleanupTimeout(time.Second))
		p := s.Parallel()
		var sawDeadline sync.WaitGroup
		for range 3 {
			sawDeadline.Add(1)
			p.DeferContext(func(ctx context.Context) error {
				defer sawDeadline.Done()
				<-ctx.Done() // a Shutdown that honours its context
				return ctx.Err()
			})
		}
		start := time.Now()
		err := s.Close()
		sawDeadline.Wait()
		assert.Equal(t, time.Second, time.Since(start))
		assert.ErrorIs(t, err, context.DeadlineExceeded)
	})
}

// ExampleScope_Parallel closes many connections at once: the group takes
// one place in the stack, and its members run concurrently when it is
// reached.
func ExampleScope_Parallel() {
	var s scope.Scope
	conns := s.Parallel()
	for i := range 3 {
		conns.DeferClose(closerFunc(func() error {
			time.Sleep(10 * time.Millisecond) // each Close takes a while
			return fmt.Errorf("conn %d: close failed", i)
		}))
	}
	start := time.Now()
	err := s.Close()
	fmt.Println(len(multierr.Errors(err)), "errors, kept newest first:", err)
	fmt.Println("took less than 30ms:", time.Since(start) < 30*time.Millisecond)
	// Output:
	// 3 errors, kept newest first: conn 2: close failed; conn 1: close failed; conn 0: close failed
	// took less than 30ms: true
}

func TestParallelMemberDeafToItsDeadlineIsAbandonedWithTheGroup(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := scope.New(scope.CleanupTimeout(time.Second))
		release := make(chan struct{})
		p := s.Parallel()
		p.DeferFunc(func() { <-release }) // ignores every deadline
		p.DeferContext(func(ctx context.Context) error { <-ctx.Done(); return nil })
		start := time.Now()
		err := s.Close()
		assert.Equal(t, time.Second, time.Since(start), "Close returns at the group's deadline")
		assert.ErrorIs(t, err, scope.ErrCleanupTimeout)
		close(release) // the abandoned member ends; nothing outlives the test
		synctest.Wait()
	})
}
