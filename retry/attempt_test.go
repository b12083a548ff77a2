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
		if a.Number() == 1 {
			return errTransient
		}
		return nil // succeeded, but its cleanup failed: the attempt failed
	})
	e := asError(t, err)
	assert.Equal(t, []error{errTransient, errClose}, multierr.Errors(e.Errs[0]), "the attempt's error first")
	assert.Equal(t, errClose, e.Errs[1])
	assert.ErrorIs(t, err, errClose)
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
