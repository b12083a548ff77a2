package lifecycle_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/multierr"

	"github.com/reclaim-go/reclaim/lifecycle"
)

// runGroup runs g in a goroutine; the result arrives on the channel.
func runGroup(ctx context.Context, g *lifecycle.Group) <-chan error {
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	return done
}

func TestRunDrainsThenStopsOnSignal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var ev events
		sigs := make(chan os.Signal, 3)
		g := lifecycle.New(lifecycle.Signals(sigs), lifecycle.DrainDelay(5*time.Second))
		addAll(t, g, comp(&ev, "db"), comp(&ev, "http"))
		done := runGroup(context.Background(), g)
		synctest.Wait()
		assert.True(t, g.Ready())

		time.Sleep(time.Minute)
		sigs <- syscall.SIGTERM
		synctest.Wait()
		assert.False(t, g.Ready(), "not ready as soon as the signal arrives")
		time.Sleep(5*time.Second - time.Nanosecond)
		assert.Equal(t, []string{"start db", "start http"}, ev.get(), "still serving during the drain")
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		assert.Equal(t, []string{"start db", "start http", "stop http", "stop db"}, ev.get())

		require.NoError(t, <-done, "a clean stop by signal is not an error")
		var se *lifecycle.SignalError
		require.ErrorAs(t, g.Cause(), &se, "the cause stays available")
		assert.Equal(t, syscall.SIGTERM, se.Signal)
		assert.Equal(t, "lifecycle: received signal terminated", g.Cause().Error())
		assert.NoError(t, g.Err())
	})
}

func TestRunSecondSignalCutsTheDrainAndForcesTheStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var ev events
		sigs := make(chan os.Signal, 3)
		g := lifecycle.New(lifecycle.Signals(sigs), lifecycle.DrainDelay(10*time.Second))
		addAll(t, g, comp(&ev, "db"), lifecycle.Component{Name: "http", Stop: func(ctx context.Context) error {
			<-ctx.Done() // waits for requests in flight until forced
			ev.add("stop http: %v", ctx.Err())
			return nil
		}})
		done := runGroup(context.Background(), g)
		synctest.Wait()
		sigs <- syscall.SIGTERM
		time.Sleep(time.Second)
		begin := time.Now()
		sigs <- os.Interrupt
		err := <-done
		assert.Zero(t, time.Since(begin), "no more drain, and the stop hooks are told to hurry")
		assert.Equal(t, []string{"start db", "stop http: context canceled", "stop db"}, ev.get())
		assert.ErrorIs(t, err, lifecycle.ErrForced, "a forced stop is an error, though every hook returned nil")
		assert.EqualError(t, err, "lifecycle: stop forced by a signal (signal interrupt)")
		var se *lifecycle.SignalError
		require.ErrorAs(t, g.Cause(), &se)
		assert.Equal(t, syscall.SIGTERM, se.Signal, "the reason is the first signal")
	})
}

func TestRunSecondSignalDuringTheStopForcesIt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var ev events
		sigs := make(chan os.Signal, 3)
		g := lifecycle.New(lifecycle.Signals(sigs))
		addAll(t, g, lifecycle.Component{Name: "http", Stop: func(ctx context.Context) error {
			<-ctx.Done()
			ev.add("stop http: %v", ctx.Err())
			return ctx.Err()
		}})
		done := runGroup(context.Background(), g)
		synctest.Wait()
		sigs <- syscall.SIGTERM
		time.Sleep(3 * time.Second)
		sigs <- syscall.SIGTERM
		err := <-done
		assert.Equal(t, []string{"stop http: context canceled"}, ev.get())
		assert.ErrorIs(t, err, context.Canceled, "the hook's error")
		assert.ErrorIs(t, multierr.Errors(err)[1], lifecycle.ErrForced, "then the forcing")
		assert.IsType(t, &lifecycle.SignalError{}, g.Cause())
	})
}

func TestRunThirdSignalDumpsGoroutinesAndReturns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sigs := make(chan os.Signal, 3)
		release := make(chan struct{})
		var dump bytes.Buffer
		g := lifecycle.New(lifecycle.Signals(sigs), lifecycle.DumpTo(&dump))
		addAll(t, g, lifecycle.Component{Name: "stuck", Stop: func(context.Context) error {
			<-release // deaf to everything
			return nil
		}})
		done := runGroup(context.Background(), g)
		synctest.Wait()
		sigs <- syscall.SIGTERM
		sigs <- syscall.SIGTERM
		sigs <- syscall.SIGTERM
		err := <-done
		assert.ErrorContains(t, err, "lifecycle: stop abandoned after signal terminated; goroutines dumped")
		var se *lifecycle.SignalError
		require.ErrorAs(t, g.Cause(), &se)
		assert.Contains(t, dump.String(), "lifecycle: goroutine dump")
		assert.Contains(t, dump.String(), "TestRunThirdSignalDumpsGoroutinesAndReturns", "the dump shows the stuck hook")

		// The stop goes on without Run; let it finish.
		close(release)
		require.NoError(t, g.Stop(context.Background()))
	})
}

func TestRunStopsWhenTheContextIsDone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var ev events
		g := lifecycle.New(lifecycle.Signals(make(chan os.Signal)))
		addAll(t, g, comp(&ev, "a"))
		ctx, cancel := context.WithCancelCause(context.Background())
		done := runGroup(ctx, g)
		synctest.Wait()
		cancel(errors.New("deploy finished"))
		require.NoError(t, <-done, "a clean stop by the context is not an error")
		assert.EqualError(t, g.Cause(), "lifecycle: context done: deploy finished")
		assert.Equal(t, []string{"start a", "stop a"}, ev.get())
	})
}

func TestRunStopsWhenAGoroutineFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var ev events
		boom := errors.New("consumer lost its broker")
		g := lifecycle.New(lifecycle.Signals(make(chan os.Signal)), lifecycle.DrainDelay(time.Second))
		addAll(t, g, comp(&ev, "db"))
		require.NoError(t, g.Go("consumer", func(context.Context) error {
			time.Sleep(time.Minute)
			return boom
		}))
		begin := time.Now()
		err := <-runGroup(context.Background(), g)
		assert.Equal(t, time.Minute+time.Second, time.Since(begin), "a failure drains too")
		assert.ErrorIs(t, err, boom)
		assert.Equal(t, `lifecycle: goroutine "consumer": consumer lost its broker`, err.Error(), "the failure is reported once")
		assert.Equal(t, []string{"start db", "stop db"}, ev.get())
	})
}

func TestRunReturnsStartsError(t *testing.T) {
	var ev events
	boom := errors.New("port in use")
	g := lifecycle.New(lifecycle.Signals(make(chan os.Signal)))
	addAll(t, g, comp(&ev, "db"), lifecycle.Component{Name: "http", Start: func(context.Context) error { return boom }})
	err := g.Run(context.Background())
	assert.ErrorIs(t, err, boom)
	assert.Equal(t, []string{"start db", "stop db"}, ev.get())
	assert.ErrorIs(t, g.Run(context.Background()), lifecycle.ErrStarted)
}

func TestRunOnAStoppedGroup(t *testing.T) {
	g := lifecycle.New(lifecycle.Signals(make(chan os.Signal)))
	require.NoError(t, g.Stop(context.Background()))
	assert.ErrorIs(t, g.Run(context.Background()), lifecycle.ErrStopped)
}

func TestRunSignalDuringStartStopsIt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var ev events
		sigs := make(chan os.Signal, 3)
		g := lifecycle.New(lifecycle.Signals(sigs), lifecycle.DrainDelay(time.Hour))
		addAll(t, g, comp(&ev, "db"), lifecycle.Component{Name: "migrations", Start: func(ctx context.Context) error {
			<-ctx.Done()
			ev.add("migrations: %v", context.Cause(ctx))
			return ctx.Err()
		}})
		done := runGroup(context.Background(), g)
		time.Sleep(time.Second)
		begin := time.Now()
		sigs <- os.Interrupt
		err := <-done
		assert.Zero(t, time.Since(begin), "no drain for a group that was never ready")
		require.NoError(t, err, "the start hook obeyed: a clean stop")
		var se *lifecycle.SignalError
		require.ErrorAs(t, g.Cause(), &se)
		assert.Equal(t, os.Interrupt, se.Signal)
		assert.Equal(t, []string{"start db", "migrations: lifecycle: received signal interrupt", "stop db"}, ev.get())
	})
}

func TestRunStopsWithinTheGracePeriod(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sigs := make(chan os.Signal, 3)
		release := make(chan struct{})
		g := lifecycle.New(lifecycle.Signals(sigs), lifecycle.GracePeriod(10*time.Second), lifecycle.DrainDelay(time.Hour))
		addAll(t, g, lifecycle.Component{Name: "stuck", Stop: func(context.Context) error { <-release; return nil }})
		done := runGroup(context.Background(), g)
		synctest.Wait()
		begin := time.Now()
		sigs <- syscall.SIGTERM
		err := <-done
		assert.Equal(t, 10*time.Second, time.Since(begin), "drain capped at half the grace period, the stop gets the rest")
		var te *lifecycle.TimeoutError
		require.ErrorAs(t, err, &te)
		assert.Equal(t, 5*time.Second, te.Timeout)
		close(release)
		synctest.Wait()
	})
}

func TestReadinessHandler(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := lifecycle.New()
		probe := func() (int, string) {
			rec := httptest.NewRecorder()
			g.Readiness().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
			assert.Equal(t, "no-store", rec.Header().Get("Cache-Control"))
			return rec.Code, rec.Body.String()
		}
		code, body := probe()
		assert.Equal(t, http.StatusServiceUnavailable, code)
		assert.Equal(t, "not ready\n", body)
		mustStart(t, g)
		code, body = probe()
		assert.Equal(t, http.StatusOK, code)
		assert.Equal(t, "ready\n", body)
		require.NoError(t, g.Stop(context.Background()))
		code, _ = probe()
		assert.Equal(t, http.StatusServiceUnavailable, code)
	})
}
