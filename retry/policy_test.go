package retry_test

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"
	"testing/synctest"
	"time"

	"github.com/reclaim-go/reclaim/retry"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func seeded() *rand.Rand { return rand.New(rand.NewPCG(1, 2)) }

func TestZeroPolicy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := retry.WithRand(retry.Policy{}, seeded())
		var at []time.Time
		err := retry.Do(t.Context(), p, func(*retry.Attempt) error {
			at = append(at, time.Now())
			return errTransient
		})
		assert.ErrorIs(t, err, retry.ErrExhausted)
		require.Len(t, at, 5, "5 attempts")

		// Full jitter over 100 ms doubling: each delay in [0, 100ms << n).
		want := retry.WithRand(retry.Policy{}, seeded())
		b, err := want.Backoff()
		require.NoError(t, err)
		for i := 1; i < len(at); i++ {
			d := at[i].Sub(at[i-1])
			assert.Equal(t, b.Next(), d, "the same draws as the Backoff")
			assert.Less(t, d, 100*time.Millisecond<<(i-1))
		}
	})
}

func TestZeroPolicyCapsDelaysAtThirtySeconds(t *testing.T) {
	b, err := retry.Policy{Jitter: retry.NoJitter}.Backoff()
	require.NoError(t, err)
	var d time.Duration
	for range 20 {
		d = b.Next()
	}
	assert.Equal(t, 30*time.Second, d)

	// A longer InitialDelay raises the default cap to itself.
	b, err = retry.Policy{Jitter: retry.NoJitter, InitialDelay: time.Minute}.Backoff()
	require.NoError(t, err)
	assert.Equal(t, time.Minute, b.Next())
	assert.Equal(t, time.Minute, b.Next())
}

func TestInvalidPoliciesAreRefusedBeforeAnyAttempt(t *testing.T) {
	for _, tc := range []struct {
		p    retry.Policy
		want string
	}{
		{retry.Policy{MaxAttempts: -1}, "retry: invalid Policy: MaxAttempts -1 must not be negative"},
		{retry.Policy{MaxElapsed: -time.Second}, "retry: invalid Policy: MaxElapsed -1s must not be negative"},
		{retry.Policy{MaxDelay: -1}, "retry: invalid Policy: MaxDelay -1ns must not be negative"},
		{retry.Policy{AttemptTimeout: -1}, "retry: invalid Policy: AttemptTimeout -1ns must not be negative"},
		{retry.Policy{Multiplier: 0.5}, "retry: invalid Policy: Multiplier 0.5 must be a finite number >= 1"},
		{retry.Policy{Multiplier: -2}, "retry: invalid Policy: Multiplier -2 must be a finite number >= 1"},
		{retry.Policy{Multiplier: math.NaN()}, "retry: invalid Policy: Multiplier NaN must be a finite number >= 1"},
		{retry.Policy{Multiplier: math.Inf(1)}, "retry: invalid Policy: Multiplier +Inf must be a finite number >= 1"},
		{retry.Policy{Jitter: retry.NoJitter + 1}, "retry: invalid Policy: Jitter 4 is not one of FullJitter, EqualJitter, DecorrelatedJitter, NoJitter"},
		{retry.Policy{InitialDelay: 2 * time.Second, MaxDelay: time.Second}, "retry: invalid Policy: MaxDelay 1s is below InitialDelay 2s"},
		{retry.Policy{MaxDelay: 50 * time.Millisecond}, "retry: invalid Policy: MaxDelay 50ms is below InitialDelay 100ms"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			fn, calls := always(nil)
			err := retry.Do(context.Background(), tc.p, fn)
			assert.EqualError(t, err, tc.want)
			assert.ErrorIs(t, err, retry.ErrInvalidPolicy, "item 8 of #13")
			assert.Zero(t, *calls)
			var e *retry.Error
			assert.NotErrorAs(t, err, &e)

			_, err = retry.Value(cancelled(), tc.p, func(*retry.Attempt) (int, error) { return 0, nil })
			assert.EqualError(t, err, tc.want, "checked before the context")
			assert.ErrorIs(t, err, retry.ErrInvalidPolicy)
			_, err = tc.p.Backoff()
			assert.EqualError(t, err, tc.want)
			assert.ErrorIs(t, err, retry.ErrInvalidPolicy)
		})
	}
}

func TestOddButValidPoliciesWork(t *testing.T) {
	for name, p := range map[string]retry.Policy{
		"huge multiplier":      {Multiplier: math.MaxFloat64, InitialDelay: time.Nanosecond, MaxAttempts: 4},
		"huge delays":          {InitialDelay: math.MaxInt64 / 8, MaxDelay: math.MaxInt64, Jitter: retry.NoJitter},
		"unbounded attempts":   {MaxAttempts: math.MaxInt, InitialDelay: retry.NoDelay, MaxElapsed: time.Nanosecond},
		"huge attempt timeout": {AttemptTimeout: math.MaxInt64},
		"huge MaxElapsed":      {MaxElapsed: math.MaxInt64, InitialDelay: retry.NoDelay},
		"NoDelay with a cap":   {InitialDelay: retry.NoDelay, MaxDelay: time.Hour},
		"any negative delay":   {InitialDelay: -time.Hour},
		"constant":             {Multiplier: 1, InitialDelay: time.Millisecond},
	} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				fn, calls := script(errTransient, errTransient)
				require.NoError(t, retry.Do(t.Context(), p, fn))
				assert.Equal(t, 3, *calls)
			})
		})
	}
}

func TestNoDelayArmsNoTimer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		var delays []time.Duration
		p := retry.Policy{InitialDelay: retry.NoDelay, Jitter: retry.NoJitter, MaxAttempts: 4}
		p.OnRetry = func(_ int, _ error, d time.Duration) { delays = append(delays, d) }
		fn, calls := always(retry.RetryAfter(errTransient, time.Hour))
		require.Error(t, retry.Do(t.Context(), p, fn))
		assert.Equal(t, 4, *calls)
		assert.Equal(t, []time.Duration{0, 0, 0}, delays, "retry-after hints capped by a MaxDelay of 0")
		assert.Zero(t, time.Since(start))
	})
	if raceEnabled {
		t.Skip("allocation counts are unreliable under the race detector")
	}
	// time.NewTimer allocates: a call that allocates nothing armed no timer.
	fn := failThenSucceed(3)
	p := retry.Policy{InitialDelay: retry.NoDelay, MaxAttempts: 4}
	assert.Zero(t, testing.AllocsPerRun(100, func() {
		if err := retry.Do(context.Background(), p, fn); err != nil {
			t.Fatal(err)
		}
	}))
}

// failThenSucceed returns a function that fails n times, then succeeds,
// over and over, without allocating.
func failThenSucceed(n int) func(*retry.Attempt) error {
	return func(a *retry.Attempt) error {
		if a.Number() <= n {
			return errTransient
		}
		return nil
	}
}
