package lifecycle_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reclaim-go/reclaim/lifecycle"
	"github.com/reclaim-go/reclaim/retry"
)

// The tests of issue #14, items 5 and 6: restarts count failure streaks,
// and a panic in a policy callback is the goroutine's failure.

// A daemon whose consumer fails once a day runs for months.
func TestRestartForgivesHealthyRuns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		begin := time.Now()
		var restarts []time.Duration // the delay before each restart
		g := lifecycle.New()
		require.NoError(t, g.Go("consumer", func(ctx context.Context) error {
			select {
			case <-time.After(24 * time.Hour):
				return errors.New("broker connection reset")
			case <-ctx.Done():
				return ctx.Err()
			}
		}, lifecycle.Restart(retry.Policy{
			MaxAttempts: 10, MaxElapsed: time.Hour, InitialDelay: time.Second, Jitter: retry.NoJitter,
			OnRetry: func(n int, _ error, d time.Duration) {
				assert.Equal(t, 1, n, "every failure is the first of its streak")
				restarts = append(restarts, d)
			},
		})))
		mustStart(t, g)
		time.Sleep(100*24*time.Hour - time.Minute)
		synctest.Wait()
		assert.True(t, g.Ready(), "still up after 100 daily failures, with MaxAttempts 10 and MaxElapsed 1h")
		require.Len(t, restarts, 99)
		for _, d := range restarts {
			require.Equal(t, time.Second, d, "the backoff starts over after each healthy run")
		}
		require.NoError(t, g.Stop(context.Background()))
		assert.Less(t, time.Since(begin), 101*24*time.Hour)
	})
}

// A crash loop is still stopped: a streak of short runs exhausts the policy.
func TestRestartStillBoundsACrashLoop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var runs []time.Duration
		begin := time.Now()
		g := lifecycle.New()
		require.NoError(t, g.Go("consumer", func(context.Context) error {
			runs = append(runs, time.Since(begin))
			if len(runs) == 1 {
				time.Sleep(time.Hour) // healthy for an hour
			}
			return errors.New("config missing")
		}, lifecycle.Restart(retry.Policy{MaxAttempts: 3, InitialDelay: time.Second, Jitter: retry.NoJitter})))
		mustStart(t, g)
		<-g.Done()
		h := time.Hour
		assert.Equal(t, []time.Duration{0, h + time.Second, h + 3*time.Second}, runs,
			"the healthy run's failure began a streak of 3 attempts: it, then two restarts")
		var re *retry.Error
		require.ErrorAs(t, g.Err(), &re)
		assert.Equal(t, 3, re.Attempts)
	})
}

func TestResetAfterSetsTheThreshold(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		runs := 0
		g := lifecycle.New()
		require.NoError(t, g.Go("w", func(context.Context) error {
			runs++
			time.Sleep(10 * time.Second) // healthy by the default (1 s), not by ResetAfter
			return errors.New("down")
		}, lifecycle.Restart(retry.Policy{MaxAttempts: 3, InitialDelay: time.Second, MaxDelay: time.Second}),
			lifecycle.ResetAfter(time.Minute)))
		mustStart(t, g)
		<-g.Done()
		assert.Equal(t, 3, runs, "10-second runs are one streak when ResetAfter is a minute")
	})
}

func TestResetAfterRejectsBadValues(t *testing.T) {
	g := lifecycle.New()
	nop := func(context.Context) error { return nil }
	assert.EqualError(t, g.Go("a", nop, lifecycle.ResetAfter(time.Second)), `lifecycle: Go "a": ResetAfter without Restart`)
	assert.EqualError(t, g.Go("b", nop, lifecycle.Restart(retry.Policy{}), lifecycle.ResetAfter(0)), `lifecycle: Go "b": ResetAfter 0s is not positive`)
	require.NoError(t, g.Stop(context.Background()))
}

func TestPanicsInPolicyCallbacksFailTheGoroutine(t *testing.T) {
	for _, tc := range []struct {
		name   string
		policy func(v any) retry.Policy
		op     string
	}{
		{"Retryable", func(v any) retry.Policy {
			return retry.Policy{Retryable: func(error) bool { panic(v) }}
		}, "Retryable"},
		{"OnRetry", func(v any) retry.Policy {
			return retry.Policy{InitialDelay: time.Hour, OnRetry: func(int, error, time.Duration) { panic(v) }}
		}, "OnRetry"},
	} {
		for _, v := range []any{"policy bug", nil} {
			t.Run(fmt.Sprint(tc.name, "/", v), func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					var ev events
					g := lifecycle.New()
					addAll(t, g, comp(&ev, "db"))
					require.NoError(t, g.Go("w", func(context.Context) error {
						time.Sleep(time.Second) // fails once the group runs
						return errors.New("down")
					}, lifecycle.Restart(tc.policy(v))))
					begin := time.Now()
					mustStart(t, g)
					<-g.Done()
					assert.Equal(t, time.Second, time.Since(begin), "no restart delay: the panic ends the goroutine")
					var pe *lifecycle.PanicError
					require.ErrorAs(t, g.Err(), &pe)
					assert.Equal(t, "w", pe.Name)
					assert.Equal(t, tc.op, pe.Op)
					assert.Contains(t, pe.Error(), `lifecycle: goroutine "w": restart policy's `+tc.op+" panicked")
					if v == nil {
						var pne *runtime.PanicNilError
						assert.ErrorAs(t, g.Err(), &pne, "panic(nil) too")
					}
					assert.Equal(t, []string{"start db", "stop db"}, ev.get())
				})
			})
		}
	}
}

func TestGoexitInOnRetryFailsTheGoroutine(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := lifecycle.New()
		require.NoError(t, g.Go("w", func(context.Context) error { time.Sleep(time.Second); return errors.New("down") },
			lifecycle.Restart(retry.Policy{OnRetry: func(int, error, time.Duration) { runtime.Goexit() }})))
		mustStart(t, g)
		<-g.Done()
		assert.ErrorContains(t, g.Err(), `goroutine "w" called runtime.Goexit`)
	})
}
