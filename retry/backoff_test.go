package retry_test

import (
	"math"
	"testing"
	"time"

	"github.com/reclaim-go/reclaim/retry"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func backoff(t *testing.T, p retry.Policy) retry.Backoff {
	t.Helper()
	b, err := retry.WithRand(p, seeded()).Backoff()
	require.NoError(t, err)
	return b
}

func TestJitterKeepsEachDelayInItsRange(t *testing.T) {
	const base, maxDelay = 10 * time.Millisecond, time.Second
	exp := func(n int) time.Duration { return min(base<<min(n-1, 20), maxDelay) }
	for _, tc := range []struct {
		jitter retry.Jitter
		lo, hi func(n int, prev time.Duration) time.Duration // [lo, hi]
	}{
		{retry.NoJitter,
			func(n int, _ time.Duration) time.Duration { return exp(n) },
			func(n int, _ time.Duration) time.Duration { return exp(n) }},
		{retry.FullJitter,
			func(int, time.Duration) time.Duration { return 0 },
			func(n int, _ time.Duration) time.Duration { return exp(n) - 1 }},
		{retry.EqualJitter,
			func(n int, _ time.Duration) time.Duration { return exp(n) - exp(n)/2 },
			func(n int, _ time.Duration) time.Duration { return exp(n) - 1 }},
		{retry.DecorrelatedJitter,
			func(int, time.Duration) time.Duration { return base },
			func(_ int, prev time.Duration) time.Duration { return min(3*prev, maxDelay) }},
	} {
		b := backoff(t, retry.Policy{InitialDelay: base, MaxDelay: maxDelay, Jitter: tc.jitter})
		prev, distinct := base, map[time.Duration]bool{}
		for n := 1; n <= 1000; n++ {
			d := b.Next()
			require.GreaterOrEqual(t, d, tc.lo(n, prev), "jitter %d, delay %d", tc.jitter, n)
			require.LessOrEqual(t, d, tc.hi(n, prev), "jitter %d, delay %d", tc.jitter, n)
			prev = d
			distinct[d] = true
		}
		if tc.jitter != retry.NoJitter {
			assert.Greater(t, len(distinct), 100, "jitter %d draws random delays", tc.jitter)
		}
	}
}

func TestDelayArithmeticSaturates(t *testing.T) {
	for name, p := range map[string]retry.Policy{
		"max multiplier": {Multiplier: math.MaxFloat64, InitialDelay: 1, MaxDelay: math.MaxInt64},
		"max delays":     {InitialDelay: math.MaxInt64, MaxDelay: math.MaxInt64},
		"just below max": {InitialDelay: math.MaxInt64 - 1, MaxDelay: math.MaxInt64, Multiplier: 1.0000001},
		"default cap":    {Multiplier: 1e300},
	} {
		for j := retry.FullJitter; j <= retry.NoJitter; j++ {
			p.Jitter = j
			b := backoff(t, p)
			maxDelay := p.MaxDelay
			if maxDelay == 0 {
				maxDelay = 30 * time.Second
			}
			for n := range 200 {
				d := b.Next()
				require.GreaterOrEqual(t, d, time.Duration(0), "%s, jitter %d, delay %d", name, j, n)
				require.LessOrEqual(t, d, maxDelay, "%s, jitter %d, delay %d", name, j, n)
			}
		}
	}
	// A long run stays at the cap.
	b := backoff(t, retry.Policy{Jitter: retry.NoJitter, InitialDelay: 1, MaxDelay: math.MaxInt64})
	for range 1_000_000 {
		b.Next()
	}
	assert.Equal(t, time.Duration(math.MaxInt64), b.Next())
}

func TestBackoffResetStartsOver(t *testing.T) {
	b := backoff(t, retry.Policy{Jitter: retry.NoJitter})
	assert.Equal(t, 100*time.Millisecond, b.Next())
	assert.Equal(t, 200*time.Millisecond, b.Next())
	fork := b
	b.Reset()
	assert.Equal(t, 100*time.Millisecond, b.Next())
	assert.Equal(t, 400*time.Millisecond, fork.Next(), "a copy goes on from where it was")
}

func TestNoDelayBackoffIsAlwaysZero(t *testing.T) {
	b := backoff(t, retry.Policy{InitialDelay: retry.NoDelay, MaxDelay: time.Hour})
	for range 10 {
		assert.Zero(t, b.Next())
	}
}
