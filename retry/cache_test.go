package retry

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reclaim-go/reclaim/internal/goid"
	"github.com/reclaim-go/reclaim/scope"
)

var errCacheTest = errors.New("cache test: transient")

var noDelay = Policy{InitialDelay: NoDelay}

// emptySlot empties the calling goroutine's slot, so that the test sees
// only its own calls there.
func emptySlot(t *testing.T) *cacheSlot {
	t.Helper()
	if !goid.Known {
		t.Skip("no goroutine identity on this architecture: all goroutines share one slot")
	}
	s := slot()
	s.a.Store(nil)
	return s
}

// attemptOf runs a call whose attempts fail failures times, and returns
// the Attempt of its last attempt.
func attemptOf(t *testing.T, failures int, use func(*Attempt)) *Attempt {
	t.Helper()
	var got *Attempt
	require.NoError(t, Do(context.Background(), noDelay, func(a *Attempt) error {
		got = a
		if use != nil {
			use(a)
		}
		if a.Number() <= failures {
			return errCacheTest
		}
		return nil
	}))
	return got
}

func TestTheGoroutinesSlotRecyclesItsAttemptAcrossCalls(t *testing.T) {
	s := emptySlot(t)
	first := attemptOf(t, 0, nil)
	assert.Same(t, first, s.a.Load(), "an empty slot is filled as a call ends")
	for failures := range 4 {
		assert.Same(t, first, attemptOf(t, failures, nil), "after %d failures", failures)
		assert.Same(t, first, s.a.Load())
	}
	assert.Equal(t, uint64(idle), first.st.Load(), "idle in its slot")
}

func TestAnAttemptThatMadeSomethingLeavesTheSlotForGood(t *testing.T) {
	for name, use := range map[string]func(*Attempt){
		"Context": func(a *Attempt) { a.Context() },
		"Scope":   func(a *Attempt) { a.Scope() },
		"Release": func(a *Attempt) { a.Release() },
	} {
		t.Run(name, func(t *testing.T) {
			s := emptySlot(t)
			recycled := attemptOf(t, 0, nil)
			made := attemptOf(t, 0, use)
			assert.Same(t, recycled, made, "the slot's Attempt was handed out")
			assert.NotSame(t, made, s.a.Load(), "and is out of the slot")
			for failures := range 3 {
				assert.NotSame(t, made, attemptOf(t, failures, nil))
			}
			// A failed attempt that made something is dropped too, and the
			// next attempt of the call gets another Attempt.
			var seen []*Attempt
			require.NoError(t, Do(context.Background(), noDelay, func(a *Attempt) error {
				seen = append(seen, a)
				if a.Number() == 1 {
					use(a)
					return errCacheTest
				}
				return nil
			}))
			require.Len(t, seen, 2)
			assert.NotSame(t, seen[0], seen[1])
			assert.NotSame(t, seen[0], s.a.Load())
		})
	}
}

func TestANestedCallOnTheSameGoroutineFallsBackToThePool(t *testing.T) {
	s := emptySlot(t)
	slotted := attemptOf(t, 0, nil)
	var outer, inner *Attempt
	require.NoError(t, Do(context.Background(), noDelay, func(a *Attempt) error {
		outer = a
		return Do(context.Background(), noDelay, func(a *Attempt) error {
			inner = a
			assert.Equal(t, 1, outer.Number(), "the outer Attempt is untouched")
			return nil
		})
	}))
	assert.Same(t, slotted, outer, "the outer call claimed the slot's Attempt")
	assert.NotSame(t, outer, inner, "the busy slot sent the inner call to the pool")
	assert.Same(t, outer, s.a.Load(), "the outer Attempt is back in its slot")
}

func TestAPanickingCallDropsItsAttempt(t *testing.T) {
	for name, fn := range map[string]func(*Attempt) error{
		"in fn":      func(*Attempt) error { panic("boom") },
		"in OnRetry": func(*Attempt) error { return errCacheTest },
	} {
		t.Run(name, func(t *testing.T) {
			s := emptySlot(t)
			slotted := attemptOf(t, 0, nil)
			p := noDelay
			p.OnRetry = func(int, error, time.Duration) { panic("boom") }
			var got *Attempt
			assert.PanicsWithValue(t, "boom", func() {
				_ = Do(context.Background(), p, func(a *Attempt) error {
					got = a
					return fn(a)
				})
			})
			assert.Same(t, slotted, got)
			assert.Nil(t, s.a.Load(), "dropped from its slot")
			assert.PanicsWithValue(t,
				"retry: Attempt.Number called after the attempt's function returned",
				func() { got.Number() })
			assert.NotSame(t, got, attemptOf(t, 1, nil), "never handed out again")
		})
	}
}

// A late call on an idle Attempt panics without marking it: the slot
// keeps serving calls.
func TestALateCallLeavesTheIdleAttemptUsable(t *testing.T) {
	s := emptySlot(t)
	kept := attemptOf(t, 0, nil)
	for _, use := range []func(){
		func() { kept.Number() },
		func() { kept.Context() },
		func() { kept.Scope() },
		func() { kept.Release() },
	} {
		assert.Panics(t, use)
		assert.Equal(t, uint64(idle), kept.st.Load())
	}
	assert.Same(t, kept, attemptOf(t, 2, nil))
	assert.Same(t, kept, s.a.Load())
}

// A goroutine that asks for the Scope while the attempt returns either
// gets it, and then the Attempt is never reused and the Scope is closed,
// or panics: never both, never a recycled Attempt with a live Scope.
func TestAMethodRacingTheReturnEitherMakesOrPanics(t *testing.T) {
	for range 500 {
		var (
			kept *scope.Scope
			done = make(chan struct{})
			got  *Attempt
		)
		require.NoError(t, Do(context.Background(), noDelay, func(a *Attempt) error {
			got = a
			go func() {
				defer close(done)
				defer func() { _ = recover() }()
				kept = a.Scope()
			}()
			return nil
		}))
		<-done
		if kept == nil {
			continue
		}
		ran := false
		kept.DeferFunc(func() { ran = true })
		assert.True(t, ran, "the Scope closed as the attempt ended: late cleanups run at once")
		assert.NotEqual(t, uint64(idle), got.st.Load(), "an Attempt that made a Scope is never idle")
		for range 3 {
			assert.NotSame(t, got, attemptOf(t, 0, nil))
		}
	}
}

// Many more goroutines than slots: the slots collide, and no Attempt is
// ever used by two calls at once.
func TestConcurrentCallsNeverShareAnAttempt(t *testing.T) {
	const workers, calls = 4 * cacheSlots, 50
	var (
		mu    sync.Mutex
		inUse = map[*Attempt]bool{}
		wg    sync.WaitGroup
	)
	enter := func(a *Attempt) {
		mu.Lock()
		defer mu.Unlock()
		if inUse[a] {
			t.Error("an Attempt is used by two calls at once")
		}
		inUse[a] = true
	}
	leave := func(a *Attempt) {
		mu.Lock()
		defer mu.Unlock()
		delete(inUse, a)
	}
	for w := range workers {
		wg.Go(func() {
			for i := range calls {
				failures := (w + i) % 3
				n := 0
				err := Do(context.Background(), noDelay, func(a *Attempt) error {
					enter(a)
					defer leave(a)
					n++
					if got := a.Number(); got != n {
						t.Errorf("attempt %d numbered %d", n, got)
					}
					if i%7 == 0 {
						a.Context() // made: dropped, refilled from the pool
					}
					if n <= failures {
						return errCacheTest
					}
					return nil
				})
				if err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
}

// TestAnIdleAttemptLetsGoOfItsContextAtTheNextCollection: the Attempt a
// slot keeps after a call that succeeded at once still refers to that
// call's context, until a garbage collection clears it.
func TestAnIdleAttemptLetsGoOfItsContextAtTheNextCollection(t *testing.T) {
	s := emptySlot(t)
	attemptOf(t, 0, nil) // fills the slot
	type key struct{}
	held := new([64]byte)
	collected := make(chan struct{})
	runtime.AddCleanup(held, func(ch chan struct{}) { close(ch) }, collected)
	ctx := context.WithValue(context.Background(), key{}, held)
	require.NoError(t, Do(ctx, noDelay, func(*Attempt) error { return nil }))
	a := s.a.Load()
	require.NotNil(t, a)
	require.True(t, a.st.CompareAndSwap(idle, claimed), "idle in its slot")
	require.NotNil(t, a.parent, "kept until a collection")
	assert.Same(t, held, a.parent.Value(key{}))
	a.st.Store(idle)
	held, ctx = nil, nil //nolint:ineffassign,wastedassign // dropped for the collector
	for range 20 {
		runtime.GC()
		select {
		case <-collected:
			// Claimed, as a call would, to read what the sweep wrote.
			require.True(t, a.st.CompareAndSwap(idle, claimed), "idle again after the sweep")
			assert.Nil(t, a.parent, "the idle Attempt let go of the context")
			a.st.Store(idle)
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatal("the context of the last call is still kept after 20 collections")
}
