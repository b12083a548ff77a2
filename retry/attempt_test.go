package retry_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/reclaim-go/reclaim/retry"
	"github.com/reclaim-go/reclaim/scope"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/multierr"
)

func TestTheAttemptContextIsCancelledWhenTheAttemptReturns(t *testing.T) {
	var wg sync.WaitGroup
	var first context.Context
	err := retry.Do(context.Background(), fast, func(a *retry.Attempt) error {
		ctx := a.Context()
		assert.NoError(t, ctx.Err())
		assert.Same(t, ctx, a.Context(), "one context per attempt")
		if a.Number() == 1 {
			first = ctx
			wg.Go(func() { <-ctx.Done() }) // a worker the attempt started
			return errTransient
		}
		assert.NotEqual(t, first, ctx)
		assert.ErrorIs(t, first.Err(), context.Canceled, "cancelled before the next attempt")
		return nil
	})
	require.NoError(t, err)
	wg.Wait()
}

func TestTheAttemptContextCarriesTheCallersValues(t *testing.T) {
	type key struct{}
	ctx := context.WithValue(context.Background(), key{}, "v")
	err := retry.Do(ctx, fast, func(a *retry.Attempt) error {
		assert.Equal(t, "v", a.Context().Value(key{}))
		return nil
	})
	require.NoError(t, err)
}

func TestConcurrentContextAndScopeCallsShareOneOfEach(t *testing.T) {
	err := retry.Do(context.Background(), fast, func(a *retry.Attempt) error {
		ctxs := make([]context.Context, 8)
		scopes := make([]*scope.Scope, 8)
		var wg sync.WaitGroup
		for i := range ctxs {
			wg.Go(func() { ctxs[i], scopes[i] = a.Context(), a.Scope() })
		}
		wg.Wait()
		for i := range ctxs {
			assert.Same(t, ctxs[0], ctxs[i])
			assert.Same(t, scopes[0], scopes[i])
		}
		return nil
	})
	require.NoError(t, err)
}

func TestAttemptTimeoutEndsEachAttemptAndIsRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		p := retry.Policy{AttemptTimeout: time.Second, InitialDelay: retry.NoDelay, MaxAttempts: 3}
		err := retry.Do(t.Context(), p, func(a *retry.Attempt) error {
			deadline, ok := a.Context().Deadline()
			assert.True(t, ok)
			assert.Equal(t, time.Now().Add(time.Second), deadline)
			<-a.Context().Done()
			return a.Context().Err()
		})
		assert.Equal(t, 3*time.Second, time.Since(start))
		assert.ErrorIs(t, err, retry.ErrExhausted)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Equal(t, 3, asError(t, err).Attempts)
	})
}

func TestTheCallersDeadlineIsNotRetriedEvenWithAnAttemptTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 1500*time.Millisecond)
		defer cancel()
		p := retry.Policy{AttemptTimeout: time.Second, InitialDelay: retry.NoDelay}
		calls := 0
		err := retry.Do(ctx, p, func(a *retry.Attempt) error {
			calls++
			<-a.Context().Done()
			return a.Context().Err()
		})
		assert.Equal(t, 2, calls) // timed out at 1s, then at the caller's 1.5s
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Equal(t, context.DeadlineExceeded, asError(t, err).Reason)
	})
}

func TestTheAttemptScopeClosesAsFailedBeforeTheDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		var log []string
		note := func(format string, args ...any) {
			log = append(log, fmt.Sprintf("%v ", time.Since(start))+fmt.Sprintf(format, args...))
		}
		var scopes []*scope.Scope
		p := retry.Policy{InitialDelay: time.Second, Jitter: retry.NoJitter}
		err := retry.Do(t.Context(), p, func(a *retry.Attempt) error {
			n := a.Number()
			note("attempt %d", n)
			scopes = append(scopes, a.Scope())
			a.Scope().DeferFunc(func() { note("close %d", n) })
			a.Scope().OnFailure(func() error { note("rollback %d", n); return nil })
			if n < 3 {
				return errTransient
			}
			return nil
		})
		require.NoError(t, err)
		assert.Equal(t, []string{
			"0s attempt 1", "0s rollback 1", "0s close 1",
			"1s attempt 2", "1s rollback 2", "1s close 2",
			"3s attempt 3", "3s close 3",
		}, log)
		assert.NotSame(t, scopes[0], scopes[1], "a Scope per attempt")

		// A Scope kept past its attempt is closed: late cleanups run at once.
		ran := false
		scopes[0].DeferFunc(func() { ran = true })
		assert.True(t, ran)
	})
}

func TestCleanupErrorsJoinTheAttemptError(t *testing.T) {
	errClose := errors.New("close failed")
	p := fast
	p.MaxAttempts = 2
	err := retry.Do(context.Background(), p, func(a *retry.Attempt) error {
		a.Scope().Defer(func() error { return errClose })
		return errTransient
	})
	e := asError(t, err)
	assert.Equal(t, []error{errTransient, errClose}, multierr.Errors(e.Errs[0]), "the attempt's error first")
	assert.ErrorIs(t, err, errClose)
	assert.ErrorIs(t, err, errTransient)
	assert.Equal(t, retry.ErrExhausted, e.Reason)
	assert.Equal(t, 2, e.Attempts)
}

func TestAPanickingAttemptClosesItsScopeAsFailedAndPanicsOn(t *testing.T) {
	rolledBack := false
	var ctx context.Context
	assert.PanicsWithValue(t, "boom", func() {
		_ = retry.Do(context.Background(), fast, func(a *retry.Attempt) error {
			ctx = a.Context()
			a.Scope().OnFailure(func() error { rolledBack = true; return nil })
			panic("boom")
		})
	})
	assert.True(t, rolledBack)
	assert.ErrorIs(t, ctx.Err(), context.Canceled)

	// The call's state was abandoned, not recycled half-used.
	fn, calls := script(errTransient)
	require.NoError(t, retry.Do(context.Background(), fast, fn))
	assert.Equal(t, 2, *calls)
}

func TestNestedCallsKnowTheyAreInsideARetry(t *testing.T) {
	assert.False(t, retry.InRetry(context.Background()))
	err := retry.Do(context.Background(), fast, func(a *retry.Attempt) error {
		assert.True(t, retry.InRetry(a.Context()))
		type key struct{}
		assert.True(t, retry.InRetry(context.WithValue(a.Context(), key{}, 1)))
		return nil
	})
	require.NoError(t, err)
}

func TestOnceWhenNestedKeepsAttemptsFromMultiplying(t *testing.T) {
	for _, tc := range []struct {
		once  bool
		inner int
	}{{once: false, inner: 9}, {once: true, inner: 3}} {
		t.Run(fmt.Sprint("OnceWhenNested=", tc.once), func(t *testing.T) {
			outer := retry.Policy{InitialDelay: retry.NoDelay, MaxAttempts: 3}
			inner := outer
			inner.OnceWhenNested = tc.once
			backend := 0
			err := retry.Do(context.Background(), outer, func(a *retry.Attempt) error {
				return retry.Do(a.Context(), inner, func(*retry.Attempt) error {
					backend++
					return errTransient
				})
			})
			assert.Equal(t, tc.inner, backend)
			assert.ErrorIs(t, err, errTransient)
			assert.Equal(t, 3, asError(t, err).Attempts)
		})
	}
	// A policy with OnceWhenNested retries as usual outside a retry.
	fn, calls := always(errTransient)
	require.Error(t, retry.Do(context.Background(), retry.Policy{InitialDelay: retry.NoDelay, OnceWhenNested: true}, fn))
	assert.Equal(t, 5, *calls)
}

func TestAPermanentErrorStopsTheEnclosingRetryToo(t *testing.T) {
	outerCalls := 0
	err := retry.Do(context.Background(), fast, func(a *retry.Attempt) error {
		outerCalls++
		return retry.Do(a.Context(), fast, func(*retry.Attempt) error {
			return retry.Permanent(errFatal)
		})
	})
	assert.Equal(t, 1, outerCalls)
	assert.ErrorIs(t, err, errFatal)
}

type callKey struct{}

// Item 3 of #13: inside the attempt's own cleanups, Context and Scope
// return the attempt's (cancelled) context and its closing Scope, even when
// the attempt never asked for them; nothing of it reaches the next call.
func TestCleanupsSeeTheirOwnAttempt(t *testing.T) {
	ctx := context.WithValue(context.Background(), callKey{}, "A")
	var inCleanup context.Context
	var late []string
	err := retry.Do(ctx, fast, func(a *retry.Attempt) error {
		s := a.Scope()
		s.DeferFunc(func() {
			assert.Same(t, s, a.Scope(), "the closing Scope")
			a.Scope().DeferFunc(func() { late = append(late, "registered by a cleanup") })
			inCleanup = a.Context()
			assert.Equal(t, 1, a.Number())
		})
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, []string{"registered by a cleanup"}, late, "ran before Do returned")
	require.NotNil(t, inCleanup)
	assert.ErrorIs(t, inCleanup.Err(), context.Canceled)
	assert.Equal(t, "A", inCleanup.Value(callKey{}))

	// The next calls start afresh: the caller's values, no cleanup of A.
	for range 10 {
		ctx := context.WithValue(context.Background(), callKey{}, "B")
		require.NoError(t, retry.Do(ctx, fast, func(a *retry.Attempt) error {
			assert.Equal(t, "B", a.Context().Value(callKey{}))
			assert.NoError(t, a.Context().Err())
			assert.Zero(t, a.Scope().Len())
			return nil
		}))
	}
	assert.Len(t, late, 1)
}

// Item 3 of #13: an Attempt used after its function returned panics, like
// a testing.T after its test, whether it made a context or not, and within
// a call as after it.
func TestAnAttemptUsedAfterItsFunctionReturnedPanics(t *testing.T) {
	use := map[string]func(a *retry.Attempt){
		"Number":  func(a *retry.Attempt) { a.Number() },
		"Context": func(a *retry.Attempt) { a.Context() },
		"Scope":   func(a *retry.Attempt) { a.Scope() },
		"Release": func(a *retry.Attempt) { a.Release() },
	}
	for name, fn := range use {
		t.Run(name, func(t *testing.T) {
			msg := "retry: Attempt." + name + " called after the attempt's function returned"
			var kept, made *retry.Attempt
			require.NoError(t, retry.Do(context.Background(), fast, func(a *retry.Attempt) error {
				kept = a
				return nil
			}))
			assert.PanicsWithValue(t, msg, func() { fn(kept) }, "an Attempt that made nothing")
			require.NoError(t, retry.Do(context.Background(), fast, func(a *retry.Attempt) error {
				made = a
				a.Context()
				a.Scope()
				return nil
			}))
			assert.PanicsWithValue(t, msg, func() { fn(made) }, "an Attempt that made a context and a Scope")

			// Within a call: the first attempt's Attempt, used during the second.
			var first *retry.Attempt
			require.NoError(t, retry.Do(context.Background(), fast, func(a *retry.Attempt) error {
				if a.Number() == 1 {
					first = a
					a.Context()
					return errTransient
				}
				assert.NotSame(t, first, a)
				assert.PanicsWithValue(t, msg, func() { fn(first) })
				return nil
			}))
		})
	}
}

// Item 3 of #13: thousands of concurrent calls, whose cleanups use their
// Attempt, some asking for its context and Scope in the attempt and some
// only in cleanups, and some not at all, never see another call's context
// value or cleanup.
func TestConcurrentCallsNeverSeeEachOthersAttempts(t *testing.T) {
	const workers, calls = 32, 128
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range calls {
				id := w*calls + i
				ctx := context.WithValue(context.Background(), callKey{}, id)
				var ran []int
				registered := 0
				err := retry.Do(ctx, fast, func(a *retry.Attempt) error {
					switch (id + a.Number()) % 3 {
					case 0: // makes nothing: the Attempt is recycled
						return fail(a.Number() <= id%3)
					case 1:
						if got := a.Context().Value(callKey{}); got != id {
							t.Errorf("call %d: context value %v", id, got)
						}
					}
					registered++
					a.Scope().DeferFunc(func() {
						if got := a.Context().Value(callKey{}); got != id {
							t.Errorf("call %d: a cleanup saw context value %v", id, got)
						}
						a.Scope().DeferFunc(func() { ran = append(ran, id) })
					})
					return fail(a.Number() <= id%3)
				})
				if err != nil {
					t.Errorf("call %d: %v", id, err)
				}
				if len(ran) != registered {
					t.Errorf("call %d: %d cleanups ran before Do returned, want %d", id, len(ran), registered)
				}
				for _, got := range ran {
					if got != id {
						t.Errorf("call %d ran a cleanup of call %d", id, got)
					}
				}
			}
		})
	}
	wg.Wait()
}

func fail(b bool) error {
	if b {
		return errTransient
	}
	return nil
}

// Item 6 of #13: Release keeps a successful attempt's context and cleanups
// until the caller closes the returned Scope; a failed attempt keeps
// nothing.
func TestReleaseKeepsASuccessfulAttemptAlive(t *testing.T) {
	var log []string
	var ctxs []context.Context
	var kept *scope.Scope
	err := retry.Do(context.Background(), fast, func(a *retry.Attempt) error {
		n := a.Number()
		ctxs = append(ctxs, a.Context())
		kept = a.Release()
		assert.Same(t, kept, a.Release(), "one per attempt")
		a.Scope().DeferFunc(func() { log = append(log, fmt.Sprint("close ", n)) })
		a.Scope().OnFailure(func() error { log = append(log, fmt.Sprint("rollback ", n)); return nil })
		kept.DeferFunc(func() { log = append(log, fmt.Sprint("kept ", n)) })
		if n == 1 {
			return errTransient
		}
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, []string{"rollback 1", "close 1", "kept 1"}, log, "a failed attempt keeps nothing")
	assert.ErrorIs(t, ctxs[0].Err(), context.Canceled)
	assert.NoError(t, ctxs[1].Err(), "the successful attempt's context lives on")

	log = nil
	require.NoError(t, kept.Close())
	assert.ErrorIs(t, ctxs[1].Err(), context.Canceled)
	assert.Equal(t, []string{"close 2", "kept 2"}, log, "cancel, then the attempt's cleanups, then the kept ones")
}
