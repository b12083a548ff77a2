package retry_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/reclaim-go/reclaim/retry"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	errTransient = errors.New("transient")
	errFatal     = errors.New("fatal")
)

// script returns a function whose n-th attempt returns errs[n-1], and nil
// once errs are used up, and a pointer to the number of calls.
func script(errs ...error) (func(*retry.Attempt) error, *int) {
	calls := new(int)
	return func(a *retry.Attempt) error {
		*calls++
		if a.Number() != *calls {
			panic(fmt.Sprintf("attempt %d numbered %d", *calls, a.Number()))
		}
		if *calls <= len(errs) {
			return errs[*calls-1]
		}
		return nil
	}, calls
}

func always(err error) (func(*retry.Attempt) error, *int) {
	calls := new(int)
	return func(*retry.Attempt) error { *calls++; return err }, calls
}

// fast never sleeps: the tests of what happens between attempts use
// synctest and longer delays.
var fast = retry.Policy{InitialDelay: retry.NoDelay}

func asError(t *testing.T, err error) *retry.Error {
	t.Helper()
	var e *retry.Error
	require.ErrorAs(t, err, &e)
	return e
}

func TestDoReturnsNilAtTheFirstSuccess(t *testing.T) {
	fn, calls := script(errTransient, errTransient)
	require.NoError(t, retry.Do(context.Background(), fast, fn))
	assert.Equal(t, 3, *calls)
}

func TestValueReturnsTheValueOfTheFirstSuccess(t *testing.T) {
	v, err := retry.Value(context.Background(), fast, func(a *retry.Attempt) (string, error) {
		if a.Number() < 3 {
			return "partial", errTransient
		}
		return fmt.Sprint("attempt ", a.Number()), nil
	})
	require.NoError(t, err)
	assert.Equal(t, "attempt 3", v)
}

func TestValueReturnsTheZeroValueWhenItGivesUp(t *testing.T) {
	v, err := retry.Value(context.Background(), fast, func(*retry.Attempt) (int, error) {
		return 42, errTransient
	})
	require.ErrorIs(t, err, errTransient)
	assert.Zero(t, v)
}

func TestExhaustedErrorCountsAttemptsAndWrapsTheLastError(t *testing.T) {
	e1, e2, e3 := errors.New("e1"), errors.New("e2"), errors.New("e3")
	fn, calls := script(e1, e2, e3)
	p := fast
	p.MaxAttempts = 3
	err := retry.Do(context.Background(), p, fn)

	assert.Equal(t, 3, *calls)
	assert.EqualError(t, err, "retry: all 3 attempts failed: e3")
	assert.ErrorIs(t, err, e3)
	assert.ErrorIs(t, err, retry.ErrExhausted)
	assert.NotErrorIs(t, err, e1, "earlier errors are in Errs, not in the chain")
	e := asError(t, err)
	assert.Equal(t, 3, e.Attempts)
	assert.Equal(t, []error{e1, e2, e3}, e.Errs)
	assert.Equal(t, e3, e.Last())
	assert.Equal(t, retry.ErrExhausted, e.Reason)
}

func TestOneAttemptMeansNoRetry(t *testing.T) {
	fn, calls := always(errTransient)
	p := fast
	p.MaxAttempts = 1
	err := retry.Do(context.Background(), p, fn)
	assert.Equal(t, 1, *calls)
	assert.EqualError(t, err, "retry: all 1 attempt failed: transient")
}

func TestPermanentStopsAtOnce(t *testing.T) {
	for name, err := range map[string]error{
		"direct":  retry.Permanent(errFatal),
		"wrapped": fmt.Errorf("loading: %w", retry.Permanent(errFatal)),
		"joined":  errors.Join(errTransient, retry.Permanent(errFatal)),
	} {
		t.Run(name, func(t *testing.T) {
			fn, calls := always(err)
			got := retry.Do(context.Background(), fast, fn)
			assert.Equal(t, 1, *calls)
			assert.ErrorIs(t, got, errFatal)
			e := asError(t, got)
			assert.Nil(t, e.Reason)
			assert.Equal(t, "retry: gave up after 1 attempt on an error that is not retried: "+err.Error(), got.Error())
		})
	}
	assert.NoError(t, retry.Permanent(nil))
	assert.Equal(t, "fatal", retry.Permanent(errFatal).Error())
}

type timeoutError struct{}

func (timeoutError) Error() string        { return "i/o timeout" }
func (timeoutError) Is(target error) bool { return target == context.DeadlineExceeded }

// Item 1 of #13: a context error is final only when the caller's context
// is done; otherwise it is a transport's timeout, retried like any error.
func TestContextErrorsAreRetriedWhileTheCallersContextIsAlive(t *testing.T) {
	for name, err := range map[string]error{
		"canceled":        context.Canceled,
		"deadline":        context.DeadlineExceeded,
		"wrapped":         fmt.Errorf("query: %w", context.Canceled),
		"Is method":       timeoutError{},
		"joined":          errors.Join(errTransient, context.DeadlineExceeded),
		"nested in Error": retry.Do(cancelled(), fast, func(*retry.Attempt) error { return nil }),
	} {
		t.Run(name, func(t *testing.T) {
			var seen []error
			p := fast
			p.MaxAttempts = 3
			p.Retryable = func(err error) bool { seen = append(seen, err); return true }
			fn, calls := always(err)
			got := retry.Do(context.Background(), p, fn)
			assert.Equal(t, 3, *calls)
			assert.ErrorIs(t, got, err)
			assert.Equal(t, retry.ErrExhausted, asError(t, got).Reason)
			assert.Equal(t, []error{err, err, err}, seen, "Retryable decides, as for any error")
		})
	}
}

func TestAContextErrorIsFinalOnceTheCallersContextIsDone(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	p := fast
	p.Retryable = func(error) bool { t.Error("Retryable asked after the caller's cancel"); return true }
	err := retry.Do(ctx, p, func(*retry.Attempt) error {
		calls++
		cancel()
		return fmt.Errorf("query: %w", context.Canceled)
	})
	assert.Equal(t, 1, calls)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, context.Canceled, asError(t, err).Reason)
}

func cancelled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

func TestRetryableDecidesWhichErrorsAreRetried(t *testing.T) {
	var seen []error
	p := fast
	p.Retryable = func(err error) bool {
		seen = append(seen, err)
		return !errors.Is(err, errFatal)
	}
	fn, calls := script(errTransient, errFatal, errTransient)
	err := retry.Do(context.Background(), p, fn)
	assert.Equal(t, 2, *calls)
	assert.ErrorIs(t, err, errFatal)
	assert.Equal(t, []error{errTransient, errFatal}, seen)

	seen = nil
	fn, calls = always(retry.Permanent(errTransient))
	require.Error(t, retry.Do(context.Background(), p, fn))
	assert.Equal(t, 1, *calls)
	assert.Empty(t, seen, "Retryable is not asked about Permanent errors")
}

func TestACancelledContextMeansZeroCalls(t *testing.T) {
	ctx, cancel := context.WithCancelCause(context.Background())
	cause := errors.New("shutting down")
	cancel(cause)

	fn, calls := always(nil)
	err := retry.Do(ctx, retry.Policy{}, fn)
	assert.Zero(t, *calls)
	assert.ErrorIs(t, err, context.Canceled)
	assert.ErrorIs(t, err, cause)
	assert.EqualError(t, err, "retry: context canceled (shutting down) before the first attempt")
	assert.Zero(t, asError(t, err).Attempts)

	_, err = retry.Value(cancelled(), retry.Policy{}, func(*retry.Attempt) (int, error) {
		t.Error("called")
		return 0, nil
	})
	assert.ErrorIs(t, err, context.Canceled)
}

func TestCancellingDuringADelayReturnsAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		go func() {
			time.Sleep(time.Second)
			cancel()
		}()
		start := time.Now()
		fn, calls := always(errTransient)
		err := retry.Do(ctx, retry.Policy{InitialDelay: time.Hour, Jitter: retry.NoJitter}, fn)

		assert.Equal(t, time.Second, time.Since(start))
		assert.Equal(t, 1, *calls)
		assert.ErrorIs(t, err, ctx.Err())
		assert.ErrorIs(t, err, errTransient)
		assert.EqualError(t, err, "retry: context canceled after 1 attempt: transient")
	})
}

// The worst case of the race between a cancellation and the delay's timer:
// both are ready when the call wakes up, and select picks either. Without
// the check after select, about half of these calls would make a second
// attempt.
func TestCancellationRacingTheTimerNeverStartsAnAttempt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		for range 3000 {
			ctx, cancel := context.WithCancel(t.Context())
			p := retry.Policy{InitialDelay: time.Second, Jitter: retry.NoJitter}
			p.OnRetry = func(_ int, _ error, d time.Duration) {
				time.Sleep(d) // the timer, armed before OnRetry, fires
				cancel()
			}
			fn, calls := always(errTransient)
			err := retry.Do(ctx, p, fn)
			require.Equal(t, 1, *calls)
			require.ErrorIs(t, err, context.Canceled)
		}
	})
}

// The same race with the cancellation in another goroutine, at the very
// instant the timer fires. When the wake-up is seen first, the attempt
// starts before the cancellation, which the attempt then sees; either way
// the call ends there, with both errors.
func TestCancellationAtTheInstantOfTheWakeUpEndsTheCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		wakeUpFirst := 0
		for range 2000 {
			ctx, cancel := context.WithCancel(t.Context())
			time.AfterFunc(time.Second, cancel)
			fn := func(a *retry.Attempt) error {
				if a.Number() > 1 {
					wakeUpFirst++
					synctest.Wait() // let the cancellation land
					require.Error(t, a.Context().Err())
				}
				return errTransient
			}
			err := retry.Do(ctx, retry.Policy{InitialDelay: time.Second, Jitter: retry.NoJitter}, fn)
			require.ErrorIs(t, err, context.Canceled)
			require.ErrorIs(t, err, errTransient)
			cancel()
		}
		t.Logf("the wake-up came first %d times in 2000", wakeUpFirst)
	})
}

func TestDeadlineAwareGiveUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		start := time.Now()
		fn, calls := always(errTransient)
		err := retry.Do(ctx, retry.Policy{InitialDelay: time.Second, Jitter: retry.NoJitter}, fn)

		// Attempts at 0s, 1s and 3s; the next, at 7s, would be too late.
		assert.Equal(t, 3*time.Second, time.Since(start))
		assert.Equal(t, 3, *calls)
		assert.ErrorIs(t, err, retry.ErrDeadline)
		assert.ErrorIs(t, err, errTransient)
		assert.ErrorIs(t, err, context.DeadlineExceeded, "a deadline all the same (item 2 of #13)")
		assert.NoError(t, ctx.Err())
		assert.EqualError(t, err, "retry: gave up after 3 attempts: the next delay (4s) would outlive the context deadline: transient")
	})
}

func TestMaxElapsedBoundsTheWholeCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		fn, calls := always(errTransient)
		p := retry.Policy{InitialDelay: time.Second, Jitter: retry.NoJitter, MaxAttempts: 100, MaxElapsed: 4 * time.Second}
		err := retry.Do(t.Context(), p, fn)

		assert.Equal(t, 3*time.Second, time.Since(start))
		assert.Equal(t, 3, *calls)
		assert.ErrorIs(t, err, retry.ErrExhausted)
		assert.EqualError(t, err, "retry: gave up after 3 attempts: the next delay (4s) would pass MaxElapsed (4s): transient")
	})
}

func TestOnRetryGetsTheAttemptItsErrorAndTheDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		type call struct {
			attempt int
			err     error
			delay   time.Duration
		}
		var got []call
		p := retry.Policy{InitialDelay: time.Second, Multiplier: 3, Jitter: retry.NoJitter, MaxAttempts: 3}
		p.OnRetry = func(attempt int, err error, delay time.Duration) {
			got = append(got, call{attempt, err, delay})
		}
		e1, e2, e3 := errors.New("e1"), errors.New("e2"), errors.New("e3")
		fn, _ := script(e1, e2, e3)
		require.Error(t, retry.Do(t.Context(), p, fn))
		assert.Equal(t, []call{{1, e1, time.Second}, {2, e2, 3 * time.Second}}, got,
			"not called after the last attempt")
	})
}

func TestNoGoroutineIsStarted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		before := runtime.NumGoroutine()
		p := retry.Policy{InitialDelay: time.Second, MaxAttempts: 3}
		p.OnRetry = func(int, error, time.Duration) {
			assert.Equal(t, before, runtime.NumGoroutine())
		}
		fn, _ := always(errTransient)
		require.Error(t, retry.Do(t.Context(), p, fn))
		assert.Equal(t, before, runtime.NumGoroutine())
	})
}

func TestTheDelayBeforeEachAttemptFollowsThePolicy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := retry.Policy{InitialDelay: 100 * time.Millisecond, MaxDelay: 350 * time.Millisecond, Jitter: retry.NoJitter, MaxAttempts: 5}
		var at []time.Duration
		start := time.Now()
		fn := func(*retry.Attempt) error {
			at = append(at, time.Since(start))
			return errTransient
		}
		require.Error(t, retry.Do(t.Context(), p, fn))
		ms := time.Millisecond
		assert.Equal(t, []time.Duration{0, 100 * ms, 300 * ms, 650 * ms, 1000 * ms}, at)
	})
}

func TestANilFuncPanics(t *testing.T) {
	assert.PanicsWithValue(t, "retry: Do called with a nil func", func() {
		_ = retry.Do(context.Background(), retry.Policy{}, nil)
	})
	assert.PanicsWithValue(t, "retry: Value called with a nil func", func() {
		_, _ = retry.Value[int](context.Background(), retry.Policy{}, nil)
	})
}

func TestConcurrentCallsDoNotShareState(t *testing.T) {
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				fails := (g + i) % 4
				v, err := retry.Value(context.Background(), fast, func(a *retry.Attempt) (int, error) {
					a.Scope().DeferFunc(func() {})
					if a.Context().Err() != nil {
						return 0, errFatal
					}
					if a.Number() <= fails {
						return 0, errTransient
					}
					return a.Number(), nil
				})
				if err != nil || v != fails+1 {
					t.Errorf("goroutine %d call %d: got %d, %v; want %d", g, i, v, err, fails+1)
				}
			}
		})
	}
	wg.Wait()
}

func TestValuePanicsThroughAfterClosingTheScope(t *testing.T) {
	rolledBack := false
	assert.PanicsWithValue(t, "boom", func() {
		_, _ = retry.Value(context.Background(), fast, func(a *retry.Attempt) (int, error) {
			a.Scope().OnFailure(func() error { rolledBack = true; return nil })
			panic("boom")
		})
	})
	assert.True(t, rolledBack)
}

func TestACallWithManyAttemptsKeepsEveryError(t *testing.T) {
	p := fast
	p.MaxAttempts = 200
	fn, calls := always(errTransient)
	err := retry.Do(context.Background(), p, fn)
	assert.Equal(t, 200, *calls)
	assert.Len(t, asError(t, err).Errs, 200)

	fn, calls = script(errTransient)
	require.NoError(t, retry.Do(context.Background(), p, fn), "later calls start afresh")
	assert.Equal(t, 2, *calls)
}
