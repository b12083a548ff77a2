package lifecycle_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/multierr"

	"github.com/reclaim-go/reclaim/lifecycle"
)

// events records what hooks did, in order, from any goroutine.
type events struct {
	mu   sync.Mutex
	list []string
}

func (ev *events) add(format string, args ...any) {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	ev.list = append(ev.list, fmt.Sprintf(format, args...))
}

func (ev *events) get() []string {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	return append([]string(nil), ev.list...)
}

// comp returns a component that records its start and stop.
func comp(ev *events, name string) lifecycle.Component {
	return lifecycle.Component{
		Name:  name,
		Start: func(context.Context) error { ev.add("start %s", name); return nil },
		Stop:  func(context.Context) error { ev.add("stop %s", name); return nil },
	}
}

func addAll(t *testing.T, g *lifecycle.Group, cs ...lifecycle.Component) {
	t.Helper()
	for _, c := range cs {
		require.NoError(t, g.Add(c))
	}
}

func TestStartsInOrderAndStopsInReverse(t *testing.T) {
	var ev events
	g := lifecycle.New()
	addAll(t, g, comp(&ev, "db"), comp(&ev, "cache"), comp(&ev, "http"))
	assert.False(t, g.Ready(), "ready before Start")
	require.NoError(t, g.Start(context.Background()))
	assert.True(t, g.Ready())
	require.NoError(t, g.Stop(context.Background()))
	assert.False(t, g.Ready())
	assert.Equal(t, []string{"start db", "start cache", "start http", "stop http", "stop cache", "stop db"}, ev.get())
	require.NoError(t, g.CheckLeaks(context.Background()))
}

func TestZeroGroup(t *testing.T) {
	var ev events
	var g lifecycle.Group
	addAll(t, &g, comp(&ev, "a"), comp(&ev, "b"))
	require.NoError(t, g.Start(context.Background()))
	require.NoError(t, g.Stop(context.Background()))
	assert.Equal(t, []string{"start a", "start b", "stop b", "stop a"}, ev.get())
}

func TestNilHooksAreSkipped(t *testing.T) {
	g := lifecycle.New()
	addAll(t, g, lifecycle.Component{Name: "nothing"})
	require.NoError(t, g.Start(context.Background()))
	require.NoError(t, g.Stop(context.Background()))
}

func TestAddAfterStartIsAnError(t *testing.T) {
	var ev events
	g := lifecycle.New()
	addAll(t, g, comp(&ev, "a"))
	require.NoError(t, g.Start(context.Background()))
	assert.ErrorIs(t, g.Add(comp(&ev, "late")), lifecycle.ErrStarted)
	assert.ErrorIs(t, g.Start(context.Background()), lifecycle.ErrStarted)
	require.NoError(t, g.Stop(context.Background()))
	assert.ErrorIs(t, g.Add(comp(&ev, "later")), lifecycle.ErrStarted)
	assert.ErrorIs(t, g.Start(context.Background()), lifecycle.ErrStarted)
	assert.Equal(t, []string{"start a", "stop a"}, ev.get())
}

func TestAddDuringStartIsAnError(t *testing.T) {
	var ev events
	g := lifecycle.New()
	var addErr error
	addAll(t, g, lifecycle.Component{Name: "adder", Start: func(context.Context) error {
		addErr = g.Add(comp(&ev, "late"))
		return nil
	}})
	require.NoError(t, g.Start(context.Background()))
	require.NoError(t, g.Stop(context.Background()))
	assert.ErrorIs(t, addErr, lifecycle.ErrStarted)
	assert.Empty(t, ev.get())
}

func TestStopBeforeStart(t *testing.T) {
	var ev events
	g := lifecycle.New()
	addAll(t, g, comp(&ev, "a"))
	require.NoError(t, g.Stop(context.Background()))
	assert.ErrorIs(t, g.Start(context.Background()), lifecycle.ErrStopped)
	assert.ErrorIs(t, g.Add(comp(&ev, "b")), lifecycle.ErrStopped)
	assert.ErrorIs(t, g.Go("w", func(context.Context) error { return nil }), lifecycle.ErrStopped)
	assert.Empty(t, ev.get(), "nothing started, nothing stopped")
}

func TestAddRejectsBadNames(t *testing.T) {
	var ev events
	g := lifecycle.New()
	assert.ErrorContains(t, g.Add(lifecycle.Component{}), "Component.Name")
	require.NoError(t, g.Add(comp(&ev, "db")))
	assert.ErrorContains(t, g.Add(comp(&ev, "db")), `the name "db" is taken`)
}

func TestStartFailureStopsWhatStartedInReverse(t *testing.T) {
	var ev events
	errB := errors.New("b: connection refused")
	errStopA := errors.New("a: flush failed")
	g := lifecycle.New()
	a := comp(&ev, "a")
	a.Stop = func(context.Context) error { ev.add("stop a"); return errStopA }
	b := comp(&ev, "b")
	b.Start = func(context.Context) error { ev.add("start b"); return errB }
	addAll(t, g, comp(&ev, "z"), a, b, comp(&ev, "c"))

	err := g.Start(context.Background())
	require.Error(t, err)
	assert.ErrorIs(t, err, errB)
	assert.ErrorIs(t, err, errStopA)
	assert.Contains(t, err.Error(), `lifecycle: component "b": start: b: connection refused`)
	assert.Contains(t, err.Error(), `lifecycle: component "a": stop: a: flush failed`)
	assert.Equal(t, []string{"start z", "start a", "start b", "stop a", "stop z"}, ev.get())
	assert.False(t, g.Ready())

	// The group is stopped: Stop runs nothing and returns what Start did,
	// as Err does.
	assert.Equal(t, err, g.Stop(context.Background()))
	assert.Equal(t, err, g.Err())
	assert.ErrorIs(t, g.Cause(), errB, "the start's error is why the group stopped")
	assert.Len(t, ev.get(), 5)
}

func TestStartPanicIsAnErrorAndRollsBack(t *testing.T) {
	var ev events
	g := lifecycle.New()
	b := comp(&ev, "b")
	b.Start = func(context.Context) error { panic("nil map") }
	addAll(t, g, comp(&ev, "a"), b)
	err := g.Start(context.Background())
	var pe *lifecycle.PanicError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "b", pe.Name)
	assert.Equal(t, "start", pe.Op)
	assert.Equal(t, "nil map", pe.Value)
	assert.Contains(t, pe.Stack, "TestStartPanicIsAnErrorAndRollsBack")
	assert.Equal(t, []string{"start a", "stop a"}, ev.get())
}

func TestStartTimeoutRollsBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var ev events
		g := lifecycle.New(lifecycle.StartTimeout(time.Second))
		slow := comp(&ev, "slow")
		slow.Start = func(ctx context.Context) error {
			<-ctx.Done() // honours its context
			return ctx.Err()
		}
		addAll(t, g, comp(&ev, "a"), slow, comp(&ev, "c"))
		begin := time.Now()
		err := g.Start(context.Background())
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Contains(t, err.Error(), `component "slow": start`)
		assert.Equal(t, []string{"start a", "stop a"}, ev.get())
		// The hook's context expired a tenth early, so it returned in time
		// and was not abandoned.
		var te *lifecycle.TimeoutError
		assert.False(t, errors.As(err, &te), "a hook that honours its context is not abandoned")
		assert.Equal(t, 900*time.Millisecond, time.Since(begin))
	})
}

func TestHungStartIsAbandonedAndStoppedWhenItReturns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var ev events
		release := make(chan struct{})
		g := lifecycle.New(lifecycle.StartTimeout(2 * time.Second))
		hung := comp(&ev, "hung")
		hung.Start = func(context.Context) error {
			<-release // ignores its context
			ev.add("start hung returned")
			return nil
		}
		addAll(t, g, comp(&ev, "a"), hung, comp(&ev, "c"))
		begin := time.Now()
		err := g.Start(context.Background())
		assert.Equal(t, 2*time.Second+15*time.Second, time.Since(begin),
			"abandoned at its timeout, then waited for by the rollback for its share of the 30 s budget")
		var te *lifecycle.TimeoutError
		require.ErrorAs(t, err, &te)
		assert.Equal(t, "hung", te.Name)
		assert.Equal(t, "start", te.Op)
		assert.Equal(t, 2*time.Second, te.Timeout)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Contains(t, te.Stack, "TestHungStartIsAbandonedAndStoppedWhenItReturns", "the stack shows where the hook is stuck")
		assert.Equal(t, []string{"start a", "stop a"}, ev.get())

		close(release)
		synctest.Wait()
		assert.Equal(t, []string{"start a", "stop a", "start hung returned", "stop hung"}, ev.get(),
			"a start hook that returns after the rollback went on is stopped then, out of order")
		require.NoError(t, g.CheckLeaks(context.Background()))
	})
}

// Issue #14, item 11: a late starter is stopped before what it depends on.
func TestLateStarterIsStoppedInOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var ev events
		g := lifecycle.New(lifecycle.StartTimeout(2 * time.Second))
		late := comp(&ev, "late")
		late.Start = func(context.Context) error {
			time.Sleep(5 * time.Second) // deaf to its context, but finite
			ev.add("start late returned")
			return nil
		}
		addAll(t, g, comp(&ev, "db"), late, comp(&ev, "http"))
		begin := time.Now()
		err := g.Start(context.Background())
		assert.Equal(t, 5*time.Second, time.Since(begin), "the rollback waited for the late starter")
		var te *lifecycle.TimeoutError
		require.ErrorAs(t, err, &te, "it still overran its start timeout")
		assert.Equal(t, []string{"start db", "start late returned", "stop late", "stop db"}, ev.get(),
			"late is stopped before db, which it depends on")
		assert.Equal(t, err, g.Stop(context.Background()))
	})
}

func TestLateStarterThatFailsIsNotStopped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var ev events
		g := lifecycle.New(lifecycle.StartTimeout(time.Second))
		late := comp(&ev, "late")
		late.Start = func(context.Context) error {
			time.Sleep(3 * time.Second)
			return errors.New("gave up")
		}
		addAll(t, g, comp(&ev, "db"), late)
		require.Error(t, g.Start(context.Background()))
		assert.Equal(t, []string{"start db", "stop db"}, ev.get())
	})
}

func TestRollbackHasAFreshStopBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var ev events
		g := lifecycle.New(lifecycle.StopTimeout(10 * time.Second))
		var stopBudget time.Duration
		a := comp(&ev, "a")
		a.Stop = func(ctx context.Context) error {
			d, ok := ctx.Deadline()
			require.True(t, ok)
			stopBudget = time.Until(d)
			time.Sleep(2 * time.Second) // a slow but finite stop
			ev.add("stop a")
			return nil
		}
		b := comp(&ev, "b")
		b.Start = func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }
		addAll(t, g, a, b)

		// Start's own context runs out while b starts; the rollback does
		// not inherit that spent deadline.
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		err := g.Start(ctx)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		var te *lifecycle.TimeoutError
		assert.False(t, errors.As(err, &te), "a stopped in its fresh budget: %v", err)
		assert.Equal(t, []string{"start a", "stop a"}, ev.get())
		assert.Equal(t, 10*time.Second-100*time.Millisecond, stopBudget, "the whole StopTimeout, less the hook's grace")
	})
}

func TestStopBudgetIsSharedOut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := lifecycle.New()
		budgets := map[string]time.Duration{}
		var mu sync.Mutex
		mk := func(name string, work time.Duration) lifecycle.Component {
			return lifecycle.Component{Name: name, Stop: func(ctx context.Context) error {
				d, _ := ctx.Deadline()
				mu.Lock()
				budgets[name] = time.Until(d)
				mu.Unlock()
				time.Sleep(work)
				return nil
			}}
		}
		addAll(t, g, mk("a", 0), mk("b", 0), mk("c", 3*time.Second))
		mustStart(t, g)
		ctx, cancel := context.WithTimeout(context.Background(), 12*time.Second)
		defer cancel()
		require.NoError(t, g.Stop(ctx))
		// c gets 12s/3 = 4s and uses 3s; b gets 9s/2 = 4.5s and uses none;
		// a gets the remaining 9s. Each hook's context expires a tenth of
		// its share (at most 100ms) before the share ends.
		assert.Equal(t, map[string]time.Duration{
			"c": 4*time.Second - 100*time.Millisecond,
			"b": 4500*time.Millisecond - 100*time.Millisecond,
			"a": 9*time.Second - 100*time.Millisecond,
		}, budgets)
	})
}

func mustStart(t *testing.T, g *lifecycle.Group) {
	t.Helper()
	require.NoError(t, g.Start(context.Background()))
}

func TestHungStopHookIsAbandonedAndTheRestStillStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var ev events
		release := make(chan struct{})
		g := lifecycle.New()
		hung := comp(&ev, "hung")
		hung.Stop = func(context.Context) error {
			ev.add("stop hung")
			<-release // ignores its context: a Shutdown that never ends
			ev.add("stop hung returned")
			return nil
		}
		addAll(t, g, comp(&ev, "db"), hung, comp(&ev, "http"))
		mustStart(t, g)

		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		begin := time.Now()
		err := g.Stop(ctx)
		assert.Equal(t, 1500*time.Millisecond, time.Since(begin), "http took no time, hung its 1.5s share (3s/2), db no time")

		var te *lifecycle.TimeoutError
		require.ErrorAs(t, err, &te)
		assert.Equal(t, "hung", te.Name)
		assert.Equal(t, "stop", te.Op)
		assert.Equal(t, 1500*time.Millisecond, te.Timeout)
		assert.Contains(t, te.Stack, "TestHungStopHookIsAbandonedAndTheRestStillStop")
		assert.Contains(t, te.Stack, "chan receive", "the stack says what the hook waits on")
		assert.Contains(t, err.Error(), `lifecycle: component "hung": stop did not return within 1.5s and was abandoned; its goroutine:`)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Equal(t, []string{"start db", "start hung", "start http", "stop http", "stop hung", "stop db"}, ev.get(),
			"db still stops after hung is abandoned")

		leaks := g.CheckLeaks(ctx)
		var le *lifecycle.LeakError
		require.ErrorAs(t, leaks, &le, "the abandoned hook is still running")
		assert.Equal(t, `component "hung": stop`, le.Name)

		close(release)
		synctest.Wait()
		assert.Equal(t, "stop hung returned", ev.get()[6])
		require.NoError(t, g.CheckLeaks(context.Background()))
	})
}

func TestComponentStopTimeoutReplacesItsShare(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		defer close(release)
		g := lifecycle.New(lifecycle.StopTimeout(time.Minute))
		addAll(t, g,
			lifecycle.Component{Name: "a"},
			lifecycle.Component{Name: "hung", StopTimeout: 5 * time.Second, Stop: func(context.Context) error {
				<-release
				return nil
			}})
		mustStart(t, g)
		begin := time.Now()
		err := g.Stop(context.Background())
		assert.Equal(t, 5*time.Second, time.Since(begin))
		var te *lifecycle.TimeoutError
		require.ErrorAs(t, err, &te)
		assert.Equal(t, 5*time.Second, te.Timeout)
	})
}

func TestSpentBudgetStillCallsEveryStopHook(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var ev events
		g := lifecycle.New()
		mk := func(name string) lifecycle.Component {
			return lifecycle.Component{Name: name, Stop: func(ctx context.Context) error {
				<-ctx.Done() // a drain that ends with the context
				ev.add("stop %s: %v", name, ctx.Err())
				return nil
			}}
		}
		addAll(t, g, mk("a"), mk("b"))
		mustStart(t, g)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		time.Sleep(2 * time.Second) // the budget is spent before Stop begins
		require.NoError(t, g.Stop(ctx), "hooks that return when their context is done are not abandoned")
		assert.Equal(t, []string{"stop b: context deadline exceeded", "stop a: context deadline exceeded"}, ev.get())
	})
}

func TestCancelledStopContextAbandonsNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var ev events
		g := lifecycle.New()
		addAll(t, g, lifecycle.Component{Name: "a", Stop: func(ctx context.Context) error {
			<-ctx.Done()
			time.Sleep(time.Second) // closing connections takes a moment
			ev.add("stop a: %v", ctx.Err())
			return nil
		}})
		mustStart(t, g)
		ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
		go func() {
			time.Sleep(time.Minute)
			cancel() // forced: the hook is told to hurry, but still waited for
		}()
		require.NoError(t, g.Stop(ctx))
		assert.Equal(t, []string{"stop a: context canceled"}, ev.get())
	})
}

func TestStopIsIdempotentAndSafeConcurrently(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var ev events
		errStop := errors.New("b: flush failed")
		g := lifecycle.New()
		b := comp(&ev, "b")
		b.Stop = func(context.Context) error {
			time.Sleep(time.Second)
			ev.add("stop b")
			return errStop
		}
		addAll(t, g, comp(&ev, "a"), b)
		mustStart(t, g)

		const callers = 8
		errs := make([]error, callers)
		var wg sync.WaitGroup
		for i := range callers {
			wg.Go(func() { errs[i] = g.Stop(context.Background()) })
		}
		wg.Wait()
		for _, err := range errs {
			assert.ErrorIs(t, err, errStop, "every caller gets the stop's error once it has finished")
			assert.Len(t, multierr.Errors(err), 1)
		}
		assert.ErrorIs(t, g.Stop(context.Background()), errStop, "a later call too")
		assert.Equal(t, []string{"start a", "start b", "stop b", "stop a"}, ev.get(), "each hook ran once")
	})
}

func TestStopWaiterGivesUpWithItsContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := lifecycle.New()
		addAll(t, g, lifecycle.Component{Name: "slow", Stop: func(context.Context) error {
			time.Sleep(10 * time.Second)
			return nil
		}})
		mustStart(t, g)
		first := make(chan error)
		go func() { first <- g.Stop(context.Background()) }()
		synctest.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		err := g.Stop(ctx)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.ErrorContains(t, err, "waiting for the stop in progress")
		require.NoError(t, <-first)
	})
}

func TestStopDuringStartInterruptsIt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var ev events
		g := lifecycle.New(lifecycle.StartTimeout(time.Hour))
		b := comp(&ev, "b")
		b.Start = func(ctx context.Context) error {
			<-ctx.Done()
			ev.add("start b: %v", context.Cause(ctx))
			return ctx.Err()
		}
		addAll(t, g, comp(&ev, "a"), b, comp(&ev, "c"))
		startErr := make(chan error)
		go func() { startErr <- g.Start(context.Background()) }()
		time.Sleep(time.Second)
		require.NoError(t, g.Stop(context.Background()))
		err := <-startErr
		assert.ErrorIs(t, err, lifecycle.ErrStopped)
		assert.Equal(t, []string{"start a", "start b: lifecycle: group stopped", "stop a"}, ev.get(),
			"b never started, so it is not stopped; c never starts")
	})
}

func TestStopDuringStartAbandonsAHungHook(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var ev events
		release := make(chan struct{})
		g := lifecycle.New(lifecycle.StartTimeout(-1)) // no timeout
		b := comp(&ev, "b")
		b.Start = func(context.Context) error { <-release; return nil }
		addAll(t, g, comp(&ev, "a"), b)
		startErr := make(chan error, 1)
		go func() { startErr <- g.Start(context.Background()) }()
		time.Sleep(time.Minute)
		begin := time.Now()
		go func() {
			time.Sleep(time.Second)
			close(release)
		}()
		stopErr := g.Stop(context.Background())
		assert.Equal(t, time.Second, time.Since(begin), "the hook had a grace to notice, then the stop waited for it")
		err := <-startErr
		var ste *lifecycle.TimeoutError
		require.ErrorAs(t, stopErr, &ste, "a hook deaf to Stop is a failure, not a clean stop")
		assert.ErrorIs(t, err, lifecycle.ErrStopped)
		var te *lifecycle.TimeoutError
		require.ErrorAs(t, err, &te)
		assert.Equal(t, "b", te.Name)
		assert.Equal(t, time.Minute+100*time.Millisecond, te.Timeout, "how long the hook ran")
		assert.Equal(t, []string{"start a", "stop b", "stop a"}, ev.get(), "b started late and is stopped in its place")
	})
}

func TestStartHookRuntimeGoexitIsAnError(t *testing.T) {
	var ev events
	g := lifecycle.New()
	b := comp(&ev, "b")
	b.Start = func(context.Context) error { runtime.Goexit(); return nil }
	addAll(t, g, comp(&ev, "a"), b)
	err := g.Start(context.Background())
	assert.ErrorContains(t, err, `component "b": start called runtime.Goexit`)
	assert.Equal(t, []string{"start a", "stop a"}, ev.get())
}

func TestStartContextCarriesValues(t *testing.T) {
	type key struct{}
	g := lifecycle.New()
	var got any
	addAll(t, g, lifecycle.Component{Name: "a", Start: func(ctx context.Context) error {
		got = ctx.Value(key{})
		return nil
	}})
	require.NoError(t, g.Start(context.WithValue(context.Background(), key{}, "v")))
	require.NoError(t, g.Stop(context.Background()))
	assert.Equal(t, "v", got)
}

func TestErrorMessagesNameTheComponent(t *testing.T) {
	g := lifecycle.New()
	addAll(t, g, lifecycle.Component{Name: "db", Stop: func(context.Context) error { return errors.New("boom") }})
	mustStart(t, g)
	err := g.Stop(context.Background())
	assert.Equal(t, `lifecycle: component "db": stop: boom`, err.Error())
	assert.True(t, strings.HasPrefix(err.Error(), "lifecycle: "))
}

// BenchmarkGroupStartStop10 measures the group's own cost for a service
// of ten components whose hooks do nothing: a goroutine per hook, with its
// label and id, and the bookkeeping around it.
func BenchmarkGroupStartStop10(b *testing.B) {
	b.ReportAllocs()
	noop := func(context.Context) error { return nil }
	for b.Loop() {
		g := lifecycle.New()
		for i := range 10 {
			_ = g.Add(lifecycle.Component{Name: fmt.Sprint("c", i), Start: noop, Stop: noop})
		}
		if err := g.Start(context.Background()); err != nil {
			b.Fatal(err)
		}
		if err := g.Stop(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}
