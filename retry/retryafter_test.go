package retry_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"testing"
	"testing/synctest"
	"time"

	"github.com/reclaim-go/reclaim/retry"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2015, 10, 21, 7, 28, 0, 0, time.UTC)
	for _, tc := range []struct {
		value string
		want  time.Duration
		ok    bool
	}{
		{"120", 2 * time.Minute, true},
		{"0", 0, true},
		{" 5 ", 5 * time.Second, true},
		{"9223372036", 9223372036 * time.Second, true},
		{"9223372037", math.MaxInt64, true}, // saturates
		{"99999999999999999999999", math.MaxInt64, true},
		{"Wed, 21 Oct 2015 07:30:00 GMT", 2 * time.Minute, true},      // IMF-fixdate
		{"Wednesday, 21-Oct-15 07:28:30 GMT", 30 * time.Second, true}, // RFC 850
		{"Wed Oct 21 07:29:00 2015", time.Minute, true},               // asctime
		{"Wed, 21 Oct 2015 07:00:00 GMT", 0, true},                    // in the past
		{"", 0, false},
		{"-1", 0, false},
		{"1.5", 0, false},
		{"+5", 0, false},
		{"5s", 0, false},
		{"soon", 0, false},
		{"Wed, 21 Oct 2015 07:30:00 CET", 0, false},
	} {
		t.Run(tc.value, func(t *testing.T) {
			d, ok := retry.ParseRetryAfter(tc.value, now)
			assert.Equal(t, tc.ok, ok)
			assert.Equal(t, tc.want, d)
		})
	}
}

type throttledError struct{ wait time.Duration }

func (e throttledError) Error() string             { return fmt.Sprintf("429, retry in %v", e.wait) }
func (e throttledError) RetryAfter() time.Duration { return e.wait }

func TestRetryAfterReplacesTheNextDelayUpToMaxDelay(t *testing.T) {
	p := retry.Policy{InitialDelay: time.Second, MaxDelay: 5 * time.Second, Jitter: retry.NoJitter}
	for _, tc := range []struct {
		err  error
		want time.Duration
	}{
		{retry.RetryAfter(errTransient, 3*time.Second), 3 * time.Second},
		{retry.RetryAfter(errTransient, time.Millisecond), time.Millisecond},
		{retry.RetryAfter(errTransient, time.Hour), 5 * time.Second},
		{retry.RetryAfter(errTransient, -time.Hour), 0},
		{fmt.Errorf("get: %w", retry.RetryAfter(errTransient, 2*time.Second)), 2 * time.Second},
		{throttledError{4 * time.Second}, 4 * time.Second},
		{errors.Join(errTransient, throttledError{time.Minute}), 5 * time.Second},
	} {
		t.Run(tc.err.Error(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				fn, _ := script(tc.err)
				var delay time.Duration
				p.OnRetry = func(_ int, _ error, d time.Duration) { delay = d }
				start := time.Now()
				require.NoError(t, retry.Do(t.Context(), p, fn))
				assert.Equal(t, tc.want, delay)
				assert.Equal(t, tc.want, time.Since(start))
			})
		})
	}
}

func TestRetryAfterPastTheDeadlineGivesUpAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		fn, calls := always(retry.RetryAfter(errTransient, 20*time.Second))
		err := retry.Do(ctx, retry.Policy{MaxDelay: time.Minute}, fn)
		assert.Equal(t, 1, *calls)
		assert.ErrorIs(t, err, retry.ErrDeadline)
		assert.ErrorIs(t, err, errTransient)
		assert.EqualError(t, err, "retry: gave up after 1 attempt: the next delay (20s) would outlive the context deadline: transient")
	})
}

func TestRetryAfterKeepsTheError(t *testing.T) {
	assert.NoError(t, retry.RetryAfter(nil, time.Second))
	err := retry.RetryAfter(errTransient, time.Second)
	assert.EqualError(t, err, "transient")
	assert.ErrorIs(t, err, errTransient)
}
