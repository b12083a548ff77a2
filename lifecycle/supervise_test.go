package lifecycle_test

import (
	"context"
	"errors"
	"io"
	"math"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/multierr"

	"github.com/reclaim-go/reclaim/lifecycle"
	"github.com/reclaim-go/reclaim/retry"
)

// worker returns a goroutine function that runs until told to stop.
func worker(ev *events, name string) func(context.Context) error {
	return func(ctx context.Context) error {
		<-ctx.Done()
		ev.add("%s: %v", name, context.Cause(ctx))
		return ctx.Err()
	}
}

func TestGoroutinesAreCancelledBeforeComponentsStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var ev events
		g := lifecycle.New()
		require.NoError(t, g.Add(comp(&ev, "db")))
		require.NoError(t, g.Go("indexer", worker(&ev, "indexer")))
		require.NoError(t, g.Add(comp(&ev, "http")))
		require.NoError(t, g.Go("mailer", worker(&ev, "mailer")))
		mustStart(t, g)
		synctest.Wait()
		require.NoError(t, g.Stop(context.Background()))
		got := ev.get()
		assert.Equal(t, []string{"start db", "start http"}, got[:2])
		assert.ElementsMatch(t, []string{"indexer: lifecycle: group stopped", "mailer: lifecycle: group stopped"}, got[2:4])
		assert.Equal(t, []string{"stop http", "stop db"}, got[4:])
	})
}

func TestGoroutinesStopInPlaceWhenAsked(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var ev events
		g := lifecycle.New(lifecycle.CancelGoroutinesFirst(false))
		require.NoError(t, g.Add(comp(&ev, "db")))
		require.NoError(t, g.Go("indexer", worker(&ev, "indexer")))
		require.NoError(t, g.Add(comp(&ev, "http")))
		mustStart(t, g)
		require.NoError(t, g.Stop(context.Background()))
		assert.Equal(t, []string{"start db", "start http", "stop http", "indexer: lifecycle: group stopped", "stop db"}, ev.get())
	})
}

func TestGoroutineStartsAfterTheComponentsBeforeIt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var ev events
		g := lifecycle.New()
		require.NoError(t, g.Add(lifecycle.Component{Name: "db", Start: func(context.Context) error {
			time.Sleep(time.Second)
			ev.add("db up")
			return nil
		}}))
		require.NoError(t, g.Go("w", func(ctx context.Context) error {
			ev.add("w runs")
			<-ctx.Done()
			return nil
		}))
		require.NoError(t, g.Add(lifecycle.Component{Name: "http", Start: func(context.Context) error {
			synctest.Wait() // let w run first if it is going to
			ev.add("http up")
			return nil
		}}))
		mustStart(t, g)
		require.NoError(t, g.Stop(context.Background()))
		assert.Equal(t, []string{"db up", "w runs", "http up"}, ev.get())
	})
}

func TestGoWhileRunningStartsAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var ev events
		g := lifecycle.New()
		mustStart(t, g)
		require.NoError(t, g.Go("late", worker(&ev, "late")))
		synctest.Wait()
		require.NoError(t, g.Stop(context.Background()))
		assert.Equal(t, []string{"late: lifecycle: group stopped"}, ev.get())
		assert.ErrorIs(t, g.Go("after", worker(&ev, "after")), lifecycle.ErrStopped)
	})
}

func TestGoRejectsBadArguments(t *testing.T) {
	g := lifecycle.New()
	assert.ErrorContains(t, g.Go("", func(context.Context) error { return nil }), "name is empty")
	err := g.Go("w", func(context.Context) error { return nil }, lifecycle.Restart(retry.Policy{MaxAttempts: -1}))
	assert.ErrorContains(t, err, `lifecycle: Go "w": Restart: retry: invalid Policy: MaxAttempts`)
	assert.PanicsWithValue(t, "lifecycle: Go called with a nil func", func() { _ = g.Go("w", nil) })
}

func TestGoroutineReturningNilJustEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var ev events
		g := lifecycle.New()
		require.NoError(t, g.Add(comp(&ev, "db")))
		require.NoError(t, g.Go("once", func(context.Context) error { return nil }))
		mustStart(t, g)
		synctest.Wait()
		assert.True(t, g.Ready(), "a goroutine that is done is not a failure")
		require.NoError(t, g.Stop(context.Background()))
	})
}

func TestGoroutineFailureShutsTheGroupDown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var ev events
		boom := errors.New("queue gone")
		g := lifecycle.New()
		require.NoError(t, g.Add(comp(&ev, "db")))
		require.NoError(t, g.Go("consumer", func(context.Context) error {
			time.Sleep(time.Minute)
			return boom
		}))
		require.NoError(t, g.Go("other", worker(&ev, "other")))
		mustStart(t, g)
		time.Sleep(time.Minute)
		synctest.Wait()
		assert.False(t, g.Ready())
		assert.Equal(t, []string{"start db", "other: lifecycle: group stopped", "stop db"}, ev.get(),
			"the failure stopped the group without anyone calling Stop")
		err := g.Stop(context.Background())
		assert.ErrorIs(t, err, boom)
		assert.Equal(t, `lifecycle: goroutine "consumer": queue gone`, err.Error())
	})
}

func TestGoroutinePanicIsAnErrorWithItsNameAndStack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var ev events
		g := lifecycle.New()
		require.NoError(t, g.Add(comp(&ev, "db")))
		require.NoError(t, g.Go("parser", func(context.Context) error {
			time.Sleep(time.Second) // after Start returned
			panic(io.ErrUnexpectedEOF)
		}))
		mustStart(t, g)
		time.Sleep(time.Second)
		synctest.Wait()
		err := g.Stop(context.Background())
		var pe *lifecycle.PanicError
		require.ErrorAs(t, err, &pe)
		assert.Equal(t, "parser", pe.Name)
		assert.Equal(t, "goroutine", pe.Op)
		assert.Contains(t, pe.Stack, "TestGoroutinePanicIsAnErrorWithItsNameAndStack")
		assert.Contains(t, err.Error(), `lifecycle: goroutine "parser" panicked: unexpected EOF`)
		assert.ErrorIs(t, err, io.ErrUnexpectedEOF, "an error passed to panic is reachable")
		assert.Equal(t, []string{"start db", "stop db"}, ev.get())
	})
}

// Issue #14, item 8: a failure interrupts the start hook in progress.
func TestGoroutineFailureDuringStartFailsStart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var ev events
		boom := errors.New("boom")
		g := lifecycle.New(lifecycle.StartTimeout(time.Minute))
		require.NoError(t, g.Add(comp(&ev, "db")))
		require.NoError(t, g.Go("w", func(context.Context) error {
			time.Sleep(time.Second)
			return boom
		}))
		require.NoError(t, g.Add(lifecycle.Component{Name: "slow", Start: func(ctx context.Context) error {
			<-ctx.Done() // a minute-long migration, which honours its context
			ev.add("slow: %v", context.Cause(ctx))
			return ctx.Err()
		}}))
		require.NoError(t, g.Add(comp(&ev, "http")))
		begin := time.Now()
		err := g.Start(context.Background())
		assert.Equal(t, time.Second, time.Since(begin), "the rollback began as the goroutine failed, not at the hook's timeout")
		assert.ErrorIs(t, err, boom)
		assert.Equal(t, `lifecycle: goroutine "w": boom`, err.Error(), "the failure is Start's error")
		assert.Equal(t, []string{"start db", `slow: lifecycle: goroutine "w": boom`, "stop db"}, ev.get(), "slow is not stopped: its Stop is nil")
		assert.Equal(t, err, g.Err())
	})
}

func TestGoroutineFailureDuringStartAbandonsADeafHook(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		boom := errors.New("boom")
		g := lifecycle.New(lifecycle.StartTimeout(time.Minute), lifecycle.StopTimeout(time.Second))
		require.NoError(t, g.Go("w", func(context.Context) error { return boom }))
		require.NoError(t, g.Add(lifecycle.Component{Name: "slow", Start: func(context.Context) error {
			time.Sleep(time.Hour) // deaf to its context
			return errors.New("too late")
		}}))
		begin := time.Now()
		err := g.Start(context.Background())
		assert.Equal(t, 100*time.Millisecond+time.Second, time.Since(begin),
			"abandoned after the grace, not at the timeout; then waited for within the stop budget")
		assert.ErrorIs(t, multierr.Errors(err)[0], boom, "the failure first")
		var te *lifecycle.TimeoutError
		require.ErrorAs(t, err, &te, "then the hook that did not listen")
		assert.Equal(t, "slow", te.Name)
		time.Sleep(time.Hour)
		synctest.Wait()
	})
}

func TestGoroutineErrorDuringStopJoinsStopsError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		flush := errors.New("flush: broken pipe")
		g := lifecycle.New()
		require.NoError(t, g.Go("writer", func(ctx context.Context) error {
			<-ctx.Done()
			return flush
		}))
		require.NoError(t, g.Go("quiet", func(ctx context.Context) error {
			<-ctx.Done()
			return context.Cause(ctx) // what it was told is not an error
		}))
		mustStart(t, g)
		err := g.Stop(context.Background())
		assert.ErrorIs(t, err, flush)
		assert.Len(t, multierr.Errors(err), 1)
	})
}

func TestHungGoroutineIsAbandonedWithItsStack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var ev events
		release := make(chan struct{})
		g := lifecycle.New()
		require.NoError(t, g.Add(comp(&ev, "db")))
		require.NoError(t, g.Go("stubborn", func(context.Context) error {
			<-release // ignores its context
			return nil
		}))
		require.NoError(t, g.Go("polite", worker(&ev, "polite")))
		mustStart(t, g)
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
		defer cancel()
		err := g.Stop(ctx)
		var te *lifecycle.TimeoutError
		require.ErrorAs(t, err, &te)
		assert.Equal(t, "stubborn", te.Name)
		assert.Equal(t, "goroutine", te.Op)
		assert.Equal(t, 2*time.Second, te.Timeout, "the goroutines share half of the budget, db the other half")
		assert.Contains(t, te.Stack, "TestHungGoroutineIsAbandonedWithItsStack")
		assert.Equal(t, []string{"start db", "polite: lifecycle: group stopped", "stop db"}, ev.get())
		close(release)
		synctest.Wait()
	})
}

func TestRestartWithBackoffThenGiveUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var ev events
		begin := time.Now()
		var runs []time.Duration
		g := lifecycle.New()
		require.NoError(t, g.Add(comp(&ev, "db")))
		policy := retry.Policy{MaxAttempts: 4, InitialDelay: time.Second, Multiplier: 2, Jitter: retry.NoJitter}
		require.NoError(t, g.Go("flaky", func(context.Context) error {
			runs = append(runs, time.Since(begin))
			return io.ErrUnexpectedEOF
		}, lifecycle.Restart(policy)))
		mustStart(t, g)
		time.Sleep(time.Hour)
		synctest.Wait()
		assert.Equal(t, []time.Duration{0, time.Second, 3 * time.Second, 7 * time.Second}, runs,
			"restarted after 1s, 2s and 4s")
		assert.Equal(t, []string{"start db", "stop db"}, ev.get(), "giving up shut the group down")
		err := g.Stop(context.Background())
		assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
		assert.ErrorIs(t, err, retry.ErrExhausted)
		var re *retry.Error
		require.ErrorAs(t, err, &re)
		assert.Equal(t, 4, re.Attempts)
		assert.Contains(t, err.Error(), `lifecycle: goroutine "flaky": retry: all 4 attempts failed`)
	})
}

func TestRestartRecoversAndStopsCleanly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var ev events
		runs := 0
		var retried []int
		g := lifecycle.New()
		policy := retry.Policy{
			MaxAttempts:  math.MaxInt,
			InitialDelay: time.Second,
			Jitter:       retry.NoJitter,
			OnRetry:      func(n int, _ error, _ time.Duration) { retried = append(retried, n) },
		}
		require.NoError(t, g.Go("consumer", func(ctx context.Context) error {
			runs++
			if runs <= 2 {
				panic("transient")
			}
			return worker(&ev, "consumer")(ctx)
		}, lifecycle.Restart(policy)))
		mustStart(t, g)
		time.Sleep(time.Minute)
		assert.True(t, g.Ready(), "restarts are not failures")
		require.NoError(t, g.Stop(context.Background()), "earlier failures were retried, not reported")
		assert.Equal(t, 3, runs)
		assert.Equal(t, []int{1, 2}, retried, "the user's OnRetry still runs")
		assert.Equal(t, []string{"consumer: lifecycle: group stopped"}, ev.get())
	})
}

func TestStopDuringRestartDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		runs := 0
		g := lifecycle.New()
		require.NoError(t, g.Go("w", func(context.Context) error {
			runs++
			return errors.New("down")
		}, lifecycle.Restart(retry.Policy{InitialDelay: time.Hour, Jitter: retry.NoJitter})))
		mustStart(t, g)
		time.Sleep(time.Minute)
		begin := time.Now()
		require.NoError(t, g.Stop(context.Background()), "a goroutine waiting to restart is not a failure")
		assert.Zero(t, time.Since(begin), "the delay is cut short")
		assert.Equal(t, 1, runs)
	})
}

func TestRestartDoesNotMarkTheContextAsARetry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var inRetry bool
		g := lifecycle.New()
		require.NoError(t, g.Go("w", func(ctx context.Context) error {
			inRetry = retry.InRetry(ctx)
			<-ctx.Done()
			return nil
		}, lifecycle.Restart(retry.Policy{})))
		mustStart(t, g)
		synctest.Wait()
		require.NoError(t, g.Stop(context.Background()))
		assert.False(t, inRetry, "retries inside the goroutine keep their own attempts")
	})
}
