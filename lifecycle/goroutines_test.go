package lifecycle_test

import (
	"context"
	"fmt"
	"runtime/pprof"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/multierr"

	"github.com/reclaim-go/reclaim/lifecycle"
)

// janitor stands for a pool whose background goroutine, started by its
// constructor, its Close may forget to stop.
type janitor struct {
	quit, done chan struct{}
}

func startJanitor() *janitor {
	j := &janitor{quit: make(chan struct{}), done: make(chan struct{})}
	go j.loop()
	return j
}

func (j *janitor) loop() {
	defer close(j.done)
	<-j.quit
}

func (j *janitor) stop() { close(j.quit); <-j.done }

func TestCheckLeaksFindsGoroutinesStartedByHooks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var j *janitor
		g := lifecycle.New()
		require.NoError(t, g.Add(lifecycle.Component{
			Name:  "pool",
			Start: func(context.Context) error { j = startJanitor(); return nil },
			Stop:  func(context.Context) error { return nil }, // forgets the janitor
		}))
		mustStart(t, g)
		require.NoError(t, g.Stop(context.Background()))

		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		begin := time.Now()
		err := g.CheckLeaks(ctx)
		assert.Equal(t, time.Second, time.Since(begin), "it waits for the goroutines until ctx is done")
		var le *lifecycle.LeakError
		require.ErrorAs(t, err, &le)
		assert.Len(t, multierr.Errors(err), 1)
		assert.Equal(t, `component "pool": start`, le.Name, "the leak is traced to the hook that started it")
		assert.Equal(t, 1, le.Count)
		assert.Contains(t, le.Stack, "lifecycle_test.(*janitor).loop")
		assert.Contains(t, le.Created, "TestCheckLeaksFindsGoroutinesStartedByHooks", "where the component was added")
		assert.Contains(t, err.Error(), "lifecycle: goroutine of component \"pool\": start still running:\ngithub.com/reclaim-go/reclaim/lifecycle_test.(*janitor).loop")

		j.stop()
		require.NoError(t, g.CheckLeaks(context.Background()))
	})
}

func TestCheckLeaksFindsGrandchildrenOfGoroutines(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		g := lifecycle.New()
		require.NoError(t, g.Go("spawner", func(ctx context.Context) error {
			for range 3 {
				go func() { go func() { <-release }(); <-release }()
			}
			<-ctx.Done()
			return nil
		}))
		mustStart(t, g)
		synctest.Wait()
		require.NoError(t, g.Stop(context.Background()))
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		defer cancel()
		err := g.CheckLeaks(ctx)
		total := 0
		for _, e := range multierr.Errors(err) {
			le, ok := e.(*lifecycle.LeakError)
			require.True(t, ok, "%T", e)
			assert.Equal(t, `goroutine "spawner"`, le.Name)
			assert.Contains(t, le.Created, "TestCheckLeaksFindsGrandchildrenOfGoroutines", "where Go was called")
			total += le.Count
		}
		assert.Equal(t, 6, total, "children and grandchildren")
		close(release)
		require.NoError(t, g.CheckLeaks(context.Background()))
	})
}

func TestCheckLeaksCountsOnlyItsGroup(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		defer close(release)
		go func() { <-release }() // the caller's goroutine, not the group's

		leaky := lifecycle.New()
		require.NoError(t, leaky.Go("leaker", func(ctx context.Context) error {
			go func() { <-release }()
			return nil
		}))
		clean := lifecycle.New()
		require.NoError(t, clean.Go("worker", func(ctx context.Context) error { <-ctx.Done(); return nil }))
		mustStart(t, leaky)
		mustStart(t, clean)
		synctest.Wait()
		require.NoError(t, leaky.Stop(context.Background()))
		require.NoError(t, clean.Stop(context.Background()))

		assert.NoError(t, clean.CheckLeaks(context.Background()))
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		defer cancel()
		var le *lifecycle.LeakError
		require.ErrorAs(t, leaky.CheckLeaks(ctx), &le)
		assert.Equal(t, `goroutine "leaker"`, le.Name)
	})
}

// Under t.Parallel a process-wide check such as goleak.VerifyNone sees the
// goroutines of every test; the group sees only its own.
func TestCheckLeaksUnderParallelTests(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	for i := range 4 {
		leak := i == 0
		t.Run(fmt.Sprint("leak=", leak, "/", i), func(t *testing.T) {
			t.Parallel()
			g := lifecycle.New()
			started := make(chan struct{})
			require.NoError(t, g.Add(lifecycle.Component{Name: "c", Start: func(context.Context) error {
				if leak {
					go func() { <-release }()
				}
				close(started)
				return nil
			}}))
			mustStart(t, g)
			<-started
			require.NoError(t, g.Stop(context.Background()))
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			err := g.CheckLeaks(ctx)
			if leak {
				assert.Error(t, err)
			} else {
				assert.NoError(t, err)
			}
		})
	}
}

func TestCheckLeaksWithoutDeadlineWaitsOneSecond(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		g := lifecycle.New()
		require.NoError(t, g.Go("w", func(context.Context) error {
			go func() { <-release }()
			return nil
		}))
		mustStart(t, g)
		require.NoError(t, g.Stop(context.Background()))
		begin := time.Now()
		assert.Error(t, g.CheckLeaks(context.Background()))
		assert.Equal(t, time.Second, time.Since(begin))
		close(release)
	})
}

func TestCheckLeaksOnZeroGroup(t *testing.T) {
	var g lifecycle.Group
	require.NoError(t, g.CheckLeaks(context.Background()))
}

// Issue #14, item 9: goroutines that label themselves with pprof.Do and
// the context the group gave are still the group's.
func TestCheckLeaksSeesGoroutinesUnderPprofDo(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		quit := make(chan struct{})
		g := lifecycle.New()
		labelled := func(ctx context.Context) {
			go pprof.Do(ctx, pprof.Labels("worker", "evictor"), func(context.Context) { <-quit })
		}
		require.NoError(t, g.Add(lifecycle.Component{
			Name:  "cache",
			Start: func(ctx context.Context) error { labelled(ctx); return nil },
		}))
		require.NoError(t, g.Go("indexer", func(ctx context.Context) error {
			pprof.Do(ctx, pprof.Labels("worker", "indexer"), func(ctx context.Context) {
				go func() { <-quit }() // inherits the labels pprof.Do set
			})
			<-ctx.Done()
			return nil
		}))
		mustStart(t, g)
		synctest.Wait()
		require.NoError(t, g.Stop(context.Background()))

		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		var names []string
		for _, err := range multierr.Errors(g.CheckLeaks(ctx)) {
			var le *lifecycle.LeakError
			require.ErrorAs(t, err, &le)
			names = append(names, le.Name)
		}
		assert.ElementsMatch(t, []string{`component "cache": start`, `goroutine "indexer"`}, names)
		close(quit)
		require.NoError(t, g.CheckLeaks(context.Background()))
	})
}
