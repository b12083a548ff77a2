package closing_test

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reclaim-go/reclaim/internal/closing"
)

func TestGuardGoexitReportsEveryEnding(t *testing.T) {
	assert.Nil(t, closing.GuardGoexit("cb", func() {}))

	pe := closing.GuardGoexit("cb", func() { panic("boom") })
	require.NotNil(t, pe)
	assert.Equal(t, "boom", pe.Value)
	assert.False(t, pe.Goexit)
	assert.Contains(t, pe.Stack, "TestGuardGoexitReportsEveryEnding")
	assert.Contains(t, pe.Error(), "cb panicked: boom")

	pe = closing.GuardGoexit("cb", func() { panic(nil) })
	require.NotNil(t, pe)
	var pn *runtime.PanicNilError
	assert.ErrorAs(t, pe, &pn, "Unwrap reaches an error value")

	pe = closing.GuardGoexit("cb", runtime.Goexit)
	require.NotNil(t, pe)
	assert.True(t, pe.Goexit)
	assert.Nil(t, pe.Value)
	assert.Equal(t, "cb called runtime.Goexit", pe.Error())

	boom := errors.New("boom")
	pe = closing.Guard("cb", func() { panic(boom) })
	assert.ErrorIs(t, pe, boom)
}

func TestThrottleAllowsOncePerPeriodAndCountsTheRest(t *testing.T) {
	var th closing.Throttle
	ok, n := th.Allow(0, time.Second)
	assert.True(t, ok)
	assert.Zero(t, n)
	for range 3 {
		ok, _ = th.Allow(500*time.Millisecond, time.Second)
		assert.False(t, ok)
	}
	ok, n = th.Allow(time.Second, time.Second)
	assert.True(t, ok)
	assert.Equal(t, 3, n)
}

type errCloser struct{ err error }

func (c errCloser) Close() error { return c.err }

type plainCloser struct{ n *int }

func (c plainCloser) Close() { *c.n++ }

type ctxCloser struct{ n *int }

func (c ctxCloser) Close(ctx context.Context) error { *c.n++; return ctx.Err() }

func TestCloserRecognisesTheThreeForms(t *testing.T) {
	boom := errors.New("boom")
	fn, ok := closing.Closer[errCloser]()
	require.True(t, ok)
	assert.ErrorIs(t, fn(errCloser{boom}), boom)

	n := 0
	fn2, ok := closing.Closer[plainCloser]()
	require.True(t, ok)
	assert.NoError(t, fn2(plainCloser{&n}))
	fn3, ok := closing.Closer[ctxCloser]()
	require.True(t, ok)
	assert.NoError(t, fn3(ctxCloser{&n}))
	assert.Equal(t, 2, n)

	_, ok = closing.Closer[int]()
	assert.False(t, ok)
	_, ok = closing.Closer[any]()
	assert.False(t, ok, "a type without the method, whatever its values")

	fn4, ok := closing.Closer[interface{ Close() error }]()
	require.True(t, ok)
	assert.NoError(t, fn4(nil), "a nil interface value closes as a no-op")
}
