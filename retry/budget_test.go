package retry_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/reclaim-go/reclaim/retry"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBudgetThrottlesRetriesOnceHalfTheTokensAreSpent(t *testing.T) {
	b := retry.NewBudget(10, 0.1)
	assert.Equal(t, 10.0, b.Tokens())
	p := retry.Policy{InitialDelay: retry.NoDelay, MaxAttempts: 3, Budget: b}

	// Every failed attempt takes a token; a retry needs more than 5 left.
	for _, tc := range []struct {
		attempts int
		reason   error
		tokens   float64
	}{
		{3, retry.ErrExhausted, 7}, // 9 and 8 left: retried; 7 after the last
		{2, retry.ErrThrottled, 5}, // 6 left: retried; 5 left: refused
		{1, retry.ErrThrottled, 4}, // the first attempt is never refused
	} {
		fn, calls := always(errTransient)
		err := retry.Do(context.Background(), p, fn)
		assert.Equal(t, tc.attempts, *calls)
		assert.ErrorIs(t, err, tc.reason)
		assert.ErrorIs(t, err, errTransient)
		assert.Equal(t, tc.tokens, b.Tokens())
	}
	fn, _ := always(errTransient)
	err := retry.Do(context.Background(), p, fn)
	assert.EqualError(t, err, "retry: gave up after 1 attempt: throttled by the retry budget: transient")

	// Successes refill it, by tokenRatio each, up to maxTokens.
	for range 40 {
		require.NoError(t, retry.Do(context.Background(), p, func(*retry.Attempt) error { return nil }))
	}
	assert.InDelta(t, 7.0, b.Tokens(), 1e-9)
	fn, calls := script(errTransient)
	require.NoError(t, retry.Do(context.Background(), p, fn))
	assert.Equal(t, 2, *calls, "a retry is allowed again")
	for range 100 {
		require.NoError(t, retry.Do(context.Background(), p, func(*retry.Attempt) error { return nil }))
	}
	assert.Equal(t, 10.0, b.Tokens())
}

func TestBudgetIgnoresErrorsThatAreNotRetried(t *testing.T) {
	b := retry.NewBudget(2, 1)
	p := retry.Policy{InitialDelay: retry.NoDelay, Budget: b}
	fn, _ := always(retry.Permanent(errFatal))
	require.Error(t, retry.Do(context.Background(), p, fn))
	p.Retryable = func(err error) bool { return !errors.Is(err, errFatal) }
	fn, _ = always(errFatal)
	require.Error(t, retry.Do(context.Background(), p, fn))
	assert.Equal(t, 2.0, b.Tokens())
}

func TestBudgetIsSafeForConcurrentUse(t *testing.T) {
	b := retry.NewBudget(100, 0.5)
	p := retry.Policy{InitialDelay: retry.NoDelay, MaxAttempts: 3, Budget: b}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				fail := (g+i)%3 != 0
				_ = retry.Do(context.Background(), p, func(*retry.Attempt) error {
					if fail {
						return errTransient
					}
					return nil
				})
				tokens := b.Tokens()
				if tokens < 0 || tokens > 100 {
					t.Errorf("tokens %v out of [0, 100]", tokens)
				}
			}
		})
	}
	wg.Wait()
}

func TestNewBudgetPanicsOnInvalidParameters(t *testing.T) {
	assert.PanicsWithValue(t, "retry: NewBudget: maxTokens 0 must be in [1, 2^40]", func() { retry.NewBudget(0, 0.1) })
	assert.PanicsWithValue(t, "retry: NewBudget: maxTokens -1 must be in [1, 2^40]", func() { retry.NewBudget(-1, 0.1) })
	assert.PanicsWithValue(t, "retry: NewBudget: tokenRatio 0 must be in [0.001, maxTokens]", func() { retry.NewBudget(10, 0) })
	assert.PanicsWithValue(t, "retry: NewBudget: tokenRatio 11 must be in [0.001, maxTokens]", func() { retry.NewBudget(10, 11) })
	assert.Panics(t, func() { retry.NewBudget(10, -1) })
}

func TestZeroBudgetRefusesEveryRetry(t *testing.T) {
	fn, calls := always(errTransient)
	err := retry.Do(context.Background(), retry.Policy{InitialDelay: retry.NoDelay, Budget: new(retry.Budget)}, fn)
	assert.Equal(t, 1, *calls)
	assert.ErrorIs(t, err, retry.ErrThrottled)
}
