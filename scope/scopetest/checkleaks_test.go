package scopetest_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reclaim-go/reclaim/scope"
	"github.com/reclaim-go/reclaim/scope/scopetest"
)

// checkLeaks runs leak under CheckLeaks with a fake test that records the
// failures, then undo, and returns the failures.
func checkLeaks(t *testing.T, leak func() (undo func())) string {
	t.Helper()
	ft := &fakeT{TB: t}
	scopetest.CheckLeaks(ft)
	undo := leak()
	ft.end()
	if undo != nil {
		undo()
	}
	var all string
	for _, e := range ft.errors {
		all += e + "\n"
	}
	return all
}

func TestCheckLeaksReportsEveryKindTheTestLeaked(t *testing.T) {
	t.Run("scope", func(t *testing.T) {
		got := checkLeaks(t, func() func() {
			func() {
				s := scope.New() // LEAK HERE check scope
				s.DeferFunc(func() {})
			}()
			return nil
		})
		assert.Contains(t, got, "1× Scope dropped without being given back: 1 pending cleanup(s)")
		assert.Contains(t, got, leakLine(t, "check scope"))
	})
	t.Run("lease dropped", func(t *testing.T) {
		p := newPool(t)
		got := checkLeaks(t, func() func() {
			func() {
				_, err := p.Acquire(t.Context()) // LEAK HERE check lease dropped
				require.NoError(t, err)
			}()
			return nil
		})
		assert.Contains(t, got, "1× pool lease (pool.Pool[*scopetest_test.resource]) dropped without being given back")
		assert.Contains(t, got, leakLine(t, "check lease dropped"))
	})
	t.Run("lease held", func(t *testing.T) {
		p := newPool(t)
		got := checkLeaks(t, func() func() {
			l, err := p.Acquire(t.Context()) // LEAK HERE check lease held
			require.NoError(t, err)
			return l.Release
		})
		assert.Contains(t, got, "1× pool lease (pool.Pool[*scopetest_test.resource]) still held")
		assert.Contains(t, got, leakLine(t, "check lease held"))
	})
	t.Run("ref held", func(t *testing.T) {
		c := newCache(t)
		got := checkLeaks(t, func() func() {
			r, err := c.Get(t.Context(), "a") // LEAK HERE check ref held
			require.NoError(t, err)
			return func() { require.NoError(t, r.Close()) }
		})
		assert.Contains(t, got, "1× handles reference (handles.Cache key a) still held")
		assert.Contains(t, got, leakLine(t, "check ref held"))
	})
	t.Run("ref dropped", func(t *testing.T) {
		c := newCache(t)
		got := checkLeaks(t, func() func() {
			func() {
				_, err := c.Get(t.Context(), "a") // LEAK HERE check ref dropped
				require.NoError(t, err)
			}()
			return nil
		})
		assert.Contains(t, got, "1× handles reference (handles.Cache key a) dropped without being given back")
		assert.Contains(t, got, leakLine(t, "check ref dropped"))
	})
	t.Run("goroutine", func(t *testing.T) {
		got := checkLeaks(t, func() func() {
			block := make(chan struct{})
			go func() { <-block }() // LEAK HERE check goroutine
			return func() { close(block) }
		})
		assert.Contains(t, got, "goroutines started by the test still running")
		assert.Contains(t, got, leakLine(t, "check goroutine"))
	})
}

func TestCheckLeaksPassesATestThatGivesEverythingBack(t *testing.T) {
	t.Parallel()
	got := checkLeaks(t, func() func() {
		p, c := newPool(t), newCache(t)
		for range 10 {
			l, err := p.Acquire(t.Context())
			require.NoError(t, err)
			r, err := c.Get(t.Context(), "a")
			require.NoError(t, err)
			s := scope.New()
			s.DeferFunc(l.Release)
			s.Defer(r.Close)
			done := make(chan struct{})
			go func() { defer close(done) }()
			<-done
			require.NoError(t, s.Close())
		}
		return nil
	})
	assert.Empty(t, got)
}

// A parallel test's leak is not another's: the two tests below overlap,
// and the clean one runs its check while the other still holds a lease
// and a goroutine.
var (
	leakerHolds = make(chan struct{}, 1)
	cleanDone   = make(chan struct{}, 1)
)

func TestCheckLeaksUnderParallelLeaker(t *testing.T) {
	t.Parallel()
	p := newPool(t)
	got := checkLeaks(t, func() func() {
		l, err := p.Acquire(t.Context())
		require.NoError(t, err)
		block := make(chan struct{})
		go func() { <-block }()
		signal(leakerHolds)
		select { // the other test checks now
		case <-cleanDone:
		case <-time.After(10 * time.Second):
		}
		return func() { l.Release(); close(block) }
	})
	assert.Contains(t, got, "still held")
	assert.Contains(t, got, "goroutines started by the test still running")
}

func TestCheckLeaksUnderParallelClean(t *testing.T) {
	t.Parallel()
	t.Cleanup(func() { signal(cleanDone) }) // after the check, which runs first
	scopetest.CheckLeaks(t)
	select {
	case <-leakerHolds:
	case <-time.After(10 * time.Second):
		t.Log("the leaking test did not run alongside")
	}
	p := newPool(t)
	l, err := p.Acquire(t.Context())
	require.NoError(t, err)
	l.Release()
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
