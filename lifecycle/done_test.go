package lifecycle_test

import (
	"context"
	"errors"
	"os"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reclaim-go/reclaim/lifecycle"
)

// The tests of issue #14, items 1 to 4: Run returns whenever the group
// stops, the group says when it is done and why, a clean stop is not an
// error, and Stop is deterministic once the stop has finished.

func TestRunReturnsWhenStopIsCalledElsewhere(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var ev events
		g := lifecycle.New(lifecycle.Signals(make(chan os.Signal)), lifecycle.DrainDelay(time.Hour))
		addAll(t, g, comp(&ev, "db"), comp(&ev, "http"))
		done := runGroup(context.Background(), g)
		synctest.Wait()
		time.Sleep(time.Minute)
		begin := time.Now()
		go func() { assert.NoError(t, g.Stop(context.Background())) }()
		require.NoError(t, <-done, "Run returns as soon as Stop has stopped the group, cleanly")
		assert.Zero(t, time.Since(begin), "no drain: Stop was asked for a stop, now")
		assert.Equal(t, []string{"start db", "start http", "stop http", "stop db"}, ev.get())
		assert.Equal(t, lifecycle.ErrStopped, g.Cause())
	})
}

func TestRunReturnsWhenStopIsCalledDuringTheDrain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var ev events
		sigs := make(chan os.Signal, 1)
		g := lifecycle.New(lifecycle.Signals(sigs), lifecycle.DrainDelay(10*time.Second))
		addAll(t, g, comp(&ev, "db"))
		done := runGroup(context.Background(), g)
		synctest.Wait()
		sigs <- syscall.SIGTERM
		time.Sleep(time.Second)
		go func() { assert.NoError(t, g.Stop(context.Background())) }()
		begin := time.Now()
		require.NoError(t, <-done)
		assert.Zero(t, time.Since(begin), "Stop cut the drain")
		assert.Equal(t, []string{"start db", "stop db"}, ev.get())
		assert.IsType(t, &lifecycle.SignalError{}, g.Cause(), "the first reason stays the cause")
	})
}

func TestRunReturnsWhenStopInterruptsTheStart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var ev events
		g := lifecycle.New(lifecycle.Signals(make(chan os.Signal)))
		addAll(t, g, comp(&ev, "db"), lifecycle.Component{Name: "migrations", Start: func(ctx context.Context) error {
			<-ctx.Done()
			return ctx.Err()
		}})
		done := runGroup(context.Background(), g)
		time.Sleep(time.Second)
		go func() { assert.NoError(t, g.Stop(context.Background())) }()
		require.NoError(t, <-done, "the hook obeyed: a clean stop")
		assert.Equal(t, []string{"start db", "stop db"}, ev.get())
	})
}

func TestDoneAndErrTellAStartStopUserOfAFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var ev events
		boom := errors.New("consumer lost its broker")
		g := lifecycle.New()
		addAll(t, g, comp(&ev, "db"))
		require.NoError(t, g.Go("consumer", func(context.Context) error {
			time.Sleep(time.Minute)
			return boom
		}))
		mustStart(t, g)
		select {
		case <-g.Done():
			t.Fatal("done while running")
		default:
		}
		assert.NoError(t, g.Err(), "no error before the stop has finished")
		assert.NoError(t, g.Cause(), "no cause while running")
		begin := time.Now()
		<-g.Done()
		assert.Equal(t, time.Minute, time.Since(begin), "the failure stopped the group")
		assert.ErrorIs(t, g.Err(), boom)
		assert.ErrorIs(t, g.Cause(), boom)
		assert.Equal(t, []string{"start db", "stop db"}, ev.get())
		assert.Equal(t, g.Err(), g.Stop(context.Background()), "Stop returns the same")
	})
}

func TestDoneOnAZeroGroupAndAfterACleanStop(t *testing.T) {
	var g lifecycle.Group
	done := g.Done()
	mustStart(t, &g)
	require.NoError(t, g.Stop(context.Background()))
	<-done
	assert.NoError(t, g.Err(), "a clean stop")
	assert.Equal(t, lifecycle.ErrStopped, g.Cause())
}

func TestRunReturnsErrorsOnlyWhenSomethingFailed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		errFlush := errors.New("flush failed")
		sigs := make(chan os.Signal, 1)
		g := lifecycle.New(lifecycle.Signals(sigs))
		addAll(t, g, lifecycle.Component{Name: "exporter", Stop: func(context.Context) error { return errFlush }})
		done := runGroup(context.Background(), g)
		synctest.Wait()
		sigs <- syscall.SIGTERM
		err := <-done
		assert.ErrorIs(t, err, errFlush, "asked to stop, but a component failed to")
		assert.Equal(t, `lifecycle: component "exporter": stop: flush failed`, err.Error(), "just the failure")
		assert.IsType(t, &lifecycle.SignalError{}, g.Cause())
	})
}

func TestStopAfterTheStopReturnsItsResultWhateverTheContext(t *testing.T) {
	for _, fail := range []bool{false, true} {
		errFlush := errors.New("flush failed")
		g := lifecycle.New()
		addAll(t, g, lifecycle.Component{Name: "exporter", Stop: func(context.Context) error {
			if fail {
				return errFlush
			}
			return nil
		}})
		mustStart(t, g)
		first := g.Stop(context.Background())
		cancelled, cancel := context.WithCancel(context.Background())
		cancel()
		for range 200 {
			require.Equal(t, first, g.Stop(cancelled), "no stop in progress: a done context changes nothing")
		}
		if fail {
			assert.ErrorIs(t, first, errFlush)
		}
	}
}

func TestNilContextsPanicNamingTheCall(t *testing.T) {
	g := lifecycle.New()
	//lint:ignore SA1012 the test is about a nil context
	assert.PanicsWithValue(t, "lifecycle: Start called with a nil context", func() { _ = g.Start(nil) }) //nolint:staticcheck
	//lint:ignore SA1012 the test is about a nil context
	assert.PanicsWithValue(t, "lifecycle: Run called with a nil context", func() { _ = g.Run(nil) }) //nolint:staticcheck
	//lint:ignore SA1012 the test is about a nil context
	assert.PanicsWithValue(t, "lifecycle: Stop called with a nil context", func() { _ = g.Stop(nil) }) //nolint:staticcheck
	//lint:ignore SA1012 the test is about a nil context
	assert.PanicsWithValue(t, "lifecycle: CheckLeaks called with a nil context", func() { _ = g.CheckLeaks(nil) }) //nolint:staticcheck
	require.NoError(t, g.Stop(context.Background()), "the group is unharmed")
}

func TestSignalForcesAStopCalledElsewhere(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var ev events
		sigs := make(chan os.Signal, 1)
		g := lifecycle.New(lifecycle.Signals(sigs))
		addAll(t, g, lifecycle.Component{Name: "http", Stop: func(ctx context.Context) error {
			<-ctx.Done() // drains until forced
			ev.add("stop http: %v", context.Cause(ctx))
			return nil
		}})
		done := runGroup(context.Background(), g)
		synctest.Wait()
		stopErr := make(chan error, 1)
		go func() { stopErr <- g.Stop(context.Background()) }()
		time.Sleep(time.Second)
		sigs <- syscall.SIGTERM
		err := <-done
		assert.ErrorIs(t, err, lifecycle.ErrForced)
		assert.NoError(t, <-stopErr, "Stop's own result: every hook returned nil")
		assert.Equal(t, []string{"stop http: lifecycle: stop forced by a signal"}, ev.get())
	})
}
