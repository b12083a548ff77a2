package scope_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
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

func TestBackgroundCleanupsRunAfterTheScopeClosedAndCloseWaitsForThem(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		bg := scope.NewBackground(0)
		var sent atomic.Int32
		flushErr := errors.New("audit sink down")
		for i := range 5 {
			var s scope.Scope
			s.DeferBackground(bg, func(ctx context.Context) error {
				time.Sleep(time.Second) // sending an audit record
				sent.Add(1)
				if i == 3 {
					return flushErr
				}
				return nil
			})
			start := time.Now()
			require.NoError(t, s.Close())
			assert.Zero(t, time.Since(start), "the request's Scope does not wait for its background cleanup")
		}
		start := time.Now()
		err := bg.Close(context.Background())
		assert.Equal(t, time.Second, time.Since(start), "the five ran at once and Close waited for them")
		assert.EqualValues(t, 5, sent.Load())
		assert.Equal(t, []error{flushErr}, multierr.Errors(err), "Close returns their errors")
	})
}

func TestBackgroundBoundsItsGoroutines(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		bg := scope.NewBackground(2)
		var running, most atomic.Int32
		for range 10 {
			var s scope.Scope
			s.DeferBackground(bg, func(context.Context) error {
				n := running.Add(1)
				for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
				}
				time.Sleep(time.Second)
				running.Add(-1)
				return nil
			})
			require.NoError(t, s.Close())
		}
		synctest.Wait()
		assert.Equal(t, 2, backgroundWorkers(), "a burst of ten starts two goroutines, not ten")
		start := time.Now()
		require.NoError(t, bg.Close(context.Background()))
		assert.Equal(t, 5*time.Second, time.Since(start), "ten cleanups of 1s, two at a time")
		assert.EqualValues(t, 2, most.Load())
		synctest.Wait()
		assert.Zero(t, backgroundWorkers(), "no goroutine is left when there is no work")
	})
}

// backgroundWorkers counts the goroutines a Background runs cleanups on.
// runtime.NumGoroutine would count the whole process's, and a goroutine of
// an earlier test that ends meanwhile would skew it.
func backgroundWorkers() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	return strings.Count(string(buf), "scope.(*Background).work(")
}

func TestBackgroundCloseGivesUpAtItsDeadlineAndNamesWhatStillRuns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		bg := scope.NewBackground(1)
		var cancelled atomic.Int32
		for range 2 {
			var s scope.Scope
			s.DeferBackground(bg, func(ctx context.Context) error {
				select {
				case <-time.After(time.Hour): // an upload that takes too long
				case <-ctx.Done():
					cancelled.Add(1)
				}
				return ctx.Err()
			})
			require.NoError(t, s.Close())
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		start := time.Now()
		err := bg.Close(ctx)
		assert.Equal(t, time.Second, time.Since(start))
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Contains(t, err.Error(), "gave up on 2 cleanup(s)")
		assert.Contains(t, err.Error(), "background_test.go:")
		assert.Contains(t, err.Error(), "(running for 1s)")
		assert.Contains(t, err.Error(), "(not started)")
		// Close cancelled their contexts: they end, and a later Close
		// collects what they returned.
		err = bg.Close(context.Background())
		assert.EqualValues(t, 2, cancelled.Load())
		assert.Len(t, multierr.Errors(err), 2)
		assert.ErrorIs(t, err, context.Canceled)
	})
}

func TestBackgroundReportsPanicsAndGoexitsAndKeepsWorking(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		bg := scope.NewBackground(1)
		var after atomic.Bool
		var s scope.Scope
		s.DeferBackground(bg, func(context.Context) error { after.Store(true); return nil })
		s.DeferBackground(bg, func(context.Context) error { runtime.Goexit(); return nil })
		s.DeferBackground(bg, func(context.Context) error { panic("audit encoder bug") })
		require.NoError(t, s.Close())
		err := bg.Close(context.Background())
		assert.True(t, after.Load(), "the queue went on after a panic and a Goexit")
		errs := multierr.Errors(err)
		require.Len(t, errs, 2)
		var pe *scope.PanicError
		require.ErrorAs(t, errs[0], &pe)
		assert.Equal(t, "audit encoder bug", pe.Value)
		assert.Contains(t, pe.Cleanup, "background_test.go:")
		assert.Contains(t, pe.Stack, "background_test.go")
		assert.Contains(t, errs[1].Error(), "called runtime.Goexit")
	})
}

func TestBackgroundCleanupKeepsTheValuesButNotTheCancellationOfItsScope(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		bg := scope.NewBackground(0)
		var s scope.Scope
		got := make(chan any, 1)
		s.DeferBackground(bg, func(ctx context.Context) error {
			time.Sleep(time.Second)
			if ctx.Err() != nil {
				got <- ctx.Err()
			} else {
				got <- ctx.Value(ctxKey{})
			}
			return nil
		})
		ctx, cancel := context.WithCancel(context.WithValue(context.Background(), ctxKey{}, "request 42"))
		require.NoError(t, s.CloseContext(ctx))
		cancel() // the request is over; its audit record is still sent
		require.NoError(t, bg.Close(context.Background()))
		assert.Equal(t, "request 42", <-got)
	})
}

func TestBackgroundClosedRunsLateCleanupsInTheUnwinding(t *testing.T) {
	bg := scope.NewBackground(0)
	require.NoError(t, bg.Close(context.Background()))
	var s scope.Scope
	late := errors.New("sent inline")
	s.DeferBackground(bg, func(context.Context) error { return late })
	assert.ErrorIs(t, s.Close(), late, "a cleanup reached after its Background closed runs in the Scope's Close")
}

func TestBackgroundRejectsNil(t *testing.T) {
	var s scope.Scope
	assert.PanicsWithValue(t, "scope: DeferBackground called with a nil *Background", func() {
		s.DeferBackground(nil, func(context.Context) error { return nil })
	})
	assert.PanicsWithValue(t, "scope: DeferBackground called with a nil func", func() {
		s.DeferBackground(scope.NewBackground(1), nil)
	})
}

func TestBackgroundConcurrentScopesAndClose(t *testing.T) {
	bg := scope.NewBackground(4)
	var ran atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				var s scope.Scope
				s.DeferBackground(bg, func(context.Context) error { ran.Add(1); return nil })
				_ = s.Close()
			}
		}()
	}
	wg.Wait()
	require.NoError(t, bg.Close(context.Background()))
	assert.EqualValues(t, 800, ran.Load(), "every cleanup ran, in the background or inline after Close")
}

// ExampleBackground sends an audit record after each request without
// making the request wait, and drains the records at shutdown. In a
// service, hand the Background to lifecycle.ContextCloser so that the
// shutdown drains it within the grace period.
func ExampleBackground() {
	audit := scope.NewBackground(8) // at most 8 records in flight
	var mu sync.Mutex
	var sent []string

	handle := func(req string) error {
		var s scope.Scope
		defer s.Close()
		s.DeferBackground(audit, func(ctx context.Context) error {
			time.Sleep(10 * time.Millisecond) // the audit sink is slow
			mu.Lock()
			sent = append(sent, req)
			mu.Unlock()
			return nil
		})
		return nil // answer the request at once
	}
	for i := range 3 {
		_ = handle(fmt.Sprint("req", i))
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := audit.Close(ctx) // shutdown: wait for the records in flight
	mu.Lock()
	defer mu.Unlock()
	fmt.Println(err, len(sent), "records sent")
	// Output: <nil> 3 records sent
}
