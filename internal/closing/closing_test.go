package closing_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reclaim-go/reclaim/internal/closing"
	"github.com/reclaim-go/reclaim/scope/scopetest"
)

func TestMain(m *testing.M) { scopetest.VerifyTestMain(m) }

func TestKeepsMaxAndCountsTheRest(t *testing.T) {
	var k closing.Errors
	for i := range closing.Max + 3 {
		k.Add(fmt.Errorf("e%d", i))
	}
	errs := k.Take("pkg", "close errors")
	require.Len(t, errs, closing.Max+1)
	assert.EqualError(t, errs[0], "e0")
	assert.EqualError(t, errs[closing.Max-1], fmt.Sprintf("e%d", closing.Max-1))
	assert.EqualError(t, errs[closing.Max], "pkg: 3 more close errors (not kept)")
	assert.Empty(t, k.Take("pkg", "close errors"), "Take empties the list")
}

func TestTakeWithoutOverflowAddsNoCount(t *testing.T) {
	var k closing.Errors
	e := errors.New("one")
	k.Add(e)
	assert.Equal(t, []error{e}, k.Take("pkg", "close errors"))
}

func TestWait(t *testing.T) {
	t.Run("nil done counts as closed", func(t *testing.T) {
		assert.True(t, closing.Wait(context.Background(), nil))
	})
	t.Run("closed done wins over a done ctx", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		done := make(chan struct{})
		close(done)
		assert.True(t, closing.Wait(ctx, done))
	})
	t.Run("ctx done first", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		assert.False(t, closing.Wait(ctx, make(chan struct{})))
	})
	t.Run("done closed while waiting", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			done := make(chan struct{})
			time.AfterFunc(time.Second, func() { close(done) })
			assert.True(t, closing.Wait(context.Background(), done))
		})
	})
}

func TestWaitTickingTicksUntilDone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		done := make(chan struct{})
		ticks := 0
		time.AfterFunc(35*time.Second, func() { close(done) })
		assert.True(t, closing.WaitTicking(context.Background(), done, 10*time.Second, func() { ticks++ }))
		assert.Equal(t, 3, ticks)

		ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
		defer cancel()
		ticks = 0
		assert.False(t, closing.WaitTicking(ctx, make(chan struct{}), 10*time.Second, func() { ticks++ }))
		assert.Equal(t, 2, ticks)
		assert.True(t, closing.WaitTicking(ctx, nil, time.Second, func() { t.Fatal("no wait, no tick") }))
	})
}

func TestKeepLogsInsteadOfKeepingOnceTheLastTakeIsDone(t *testing.T) {
	var k closing.Errors
	early, late := errors.New("early"), errors.New("late")
	assert.Nil(t, k.Keep("pkg", early), "kept for Close")
	assert.Equal(t, []error{early}, k.TakeFinal("pkg", "close errors"))
	log := k.Keep("pkg", late)
	require.NotNil(t, log, "after the last Take, an error is logged, not kept")
	assert.Empty(t, k.Take("pkg", "close errors"))
}
