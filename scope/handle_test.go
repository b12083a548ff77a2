package scope_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reclaim-go/reclaim/scope"
)

func TestHandleRunRunsOneEntryNowAndOnlyOnce(t *testing.T) {
	var r recorder
	e := errors.New("b")
	var s scope.Scope
	s.Defer(r.ok("a"))
	hb := s.Defer(r.fail("b", e))
	s.Defer(r.ok("c"))

	assert.ErrorIs(t, hb.Run(), e)
	assert.Equal(t, []string{"b"}, r.log())
	assert.Equal(t, 2, s.Len(), "the rest of the stack is intact")
	assert.NoError(t, hb.Run(), "a second Run does nothing")

	require.NoError(t, s.Close())
	assert.Equal(t, []string{"b", "c", "a"}, r.log())
}

func TestHandleCancelRemovesTheEntryWithoutRunningIt(t *testing.T) {
	var r recorder
	var s scope.Scope
	s.Defer(r.ok("a"))
	h := s.Defer(r.ok("b"))
	assert.True(t, h.Cancel())
	assert.False(t, h.Cancel())
	assert.NoError(t, h.Run())
	require.NoError(t, s.Close())
	assert.Equal(t, []string{"a"}, r.log())
}

func TestHandleAfterCloseControlsNothing(t *testing.T) {
	var n int
	var s scope.Scope
	h := s.DeferFunc(func() { n++ })
	require.NoError(t, s.Close())
	assert.False(t, h.Cancel())
	assert.NoError(t, h.Run())
	assert.Equal(t, 1, n)
}

func TestZeroHandle(t *testing.T) {
	var h scope.Handle
	assert.NoError(t, h.Run())
	assert.False(t, h.Cancel())
}

func TestHandleRunsAFailureOnlyCleanupOnRequest(t *testing.T) {
	var r recorder
	var s scope.Scope
	h := s.OnFailure(r.ok("rollback"))
	require.NoError(t, h.Run())
	require.NoError(t, s.Close())
	assert.Equal(t, []string{"rollback"}, r.log())
}

func TestHandleRunPassesContextBackground(t *testing.T) {
	var s scope.Scope
	var got context.Context
	h := s.DeferContext(func(ctx context.Context) error { got = ctx; return nil })
	require.NoError(t, h.Run())
	assert.Equal(t, context.Background(), got)
}

func TestHandleRunPropagatesAPanic(t *testing.T) {
	var s scope.Scope
	h := s.DeferFunc(func() { panic("now") })
	assert.PanicsWithValue(t, "now", func() { _ = h.Run() })
	assert.Zero(t, s.Len())
	require.NoError(t, s.Close())
}

func TestEarlyCloseInALoopKeepsTheScopeSmall(t *testing.T) {
	var s scope.Scope
	var closed int
	for range 1000 {
		h := s.DeferFunc(func() { closed++ })
		require.NoError(t, h.Run())
	}
	assert.Zero(t, s.Len())
	assert.Equal(t, 1000, closed)
}

func TestHandleFindsEntriesBeyondTheInlineOnes(t *testing.T) {
	var r recorder
	var s scope.Scope
	hs := make([]scope.Handle, 20)
	for i := range hs {
		hs[i] = s.Defer(r.ok(string(rune('a' + i))))
	}
	assert.True(t, hs[3].Cancel())
	assert.True(t, hs[15].Cancel())
	require.NoError(t, hs[9].Run())
	require.NoError(t, hs[19].Run())
	assert.Equal(t, 16, s.Len())
	require.NoError(t, s.Close())
	log := r.log()
	assert.Equal(t, []string{"j", "t"}, log[:2])
	assert.Equal(t, []string{"s", "r", "q", "o", "n", "m", "l", "k", "i", "h", "g", "f", "e", "c", "b", "a"}, log[2:])
}

func TestHandleRunRacingCloseRunsTheCleanupOnce(t *testing.T) {
	for range 200 {
		var runs atomic.Int32
		var s scope.Scope
		hs := make([]scope.Handle, 16)
		for i := range hs {
			hs[i] = s.DeferFunc(func() { runs.Add(1) })
		}
		var wg sync.WaitGroup
		for _, h := range hs {
			wg.Add(1)
			go func() { defer wg.Done(); _ = h.Run() }()
		}
		require.NoError(t, s.Close())
		wg.Wait()
		require.Equal(t, int32(len(hs)), runs.Load())
	}
}
