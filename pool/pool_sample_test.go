package pool_test

import (
	"context"
	"math/bits"
	"math/rand/v2"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reclaim-go/reclaim/pool"
)

// exactHistogram records durations in pool.Histogram's buckets, every one
// of them: what the sampled HoldDurations estimates.
type exactHistogram struct{ h pool.Histogram }

func (e *exactHistogram) add(d time.Duration) {
	i := 0
	if d >= time.Microsecond {
		i = min(bits.Len64(uint64(d/time.Microsecond)), len(e.h.Counts)-1)
	}
	lo, hi := e.h.Bounds(i)
	if d < lo || d >= hi {
		panic("test: bucket computed wrongly")
	}
	e.h.Counts[i]++
	e.h.Sum += d
}

func TestPoolHoldDurationsSampledMatchTheExactDistribution(t *testing.T) {
	const leases = 200_000
	synctest.Test(t, func(t *testing.T) {
		p := newTestPool(t, &resFactory{}, pool.Config[*poolRes]{MaxSize: 1})
		defer closePool(t, p)
		var exact exactHistogram
		// Two modes, as a service with fast and slow requests has: 80% of
		// the holds take 1–2ms, 20% take 40–200ms.
		for range leases {
			d := time.Millisecond + rand.N(time.Millisecond)
			if rand.N(5) == 0 {
				d = 40*time.Millisecond + rand.N(160*time.Millisecond)
			}
			l := mustAcquire(t, p)
			time.Sleep(d)
			l.Release()
			exact.add(d)
		}
		got := p.Stats().HoldDurations
		require.EqualValues(t, leases, got.Count(), "Count is exact")
		assert.InEpsilon(t, float64(exact.h.Sum), float64(got.Sum), 0.15, "Sum: a sample of some 12,000")
		for i := range got.Counts {
			want := float64(exact.h.Counts[i]) / leases
			assert.InDelta(t, want, float64(got.Counts[i])/leases, 0.04, "share of bucket %d", i)
		}
		for _, q := range []float64{0.5, 0.75, 0.9, 0.99} {
			// A quantile falls in the same bucket, or at a bucket's edge,
			// the next one.
			w, g := exact.h.Quantile(q), got.Quantile(q)
			assert.True(t, g == w || g == 2*w || 2*g == w, "quantile %v: %v, exactly %v", q, g, w)
		}
	})
}

func TestPoolWaitDurationsSampledMatchTheExactDistribution(t *testing.T) {
	const waits = 200_000
	synctest.Test(t, func(t *testing.T) {
		p := newTestPool(t, &resFactory{}, pool.Config[*poolRes]{MaxSize: 1})
		defer closePool(t, p)
		var exact exactHistogram
		exact.add(0) // the first Acquire's construction takes no time in the bubble
		l := mustAcquire(t, p)
		for range waits {
			d := 100*time.Microsecond + rand.N(400*time.Microsecond)
			if rand.N(4) == 0 {
				d = 10*time.Millisecond + rand.N(90*time.Millisecond)
			}
			done := acquireAsync(context.Background(), p)
			time.Sleep(d) // the next Acquire waits for d
			synctest.Wait()
			l.Release()
			r := <-done
			require.NoError(t, r.err)
			l = r.l
			exact.add(d)
		}
		l.Release()
		st := p.Stats()
		got := st.WaitDurations
		require.EqualValues(t, waits+1, got.Count(), "Count is exact")
		require.EqualValues(t, waits+1, st.Waits, "Waits is exact: the first Acquire waited for its construction")
		assert.Equal(t, got.Sum, st.WaitTime)
		assert.InEpsilon(t, float64(exact.h.Sum), float64(got.Sum), 0.15, "Sum: a sample of some 12,000")
		for i := range got.Counts {
			want := float64(exact.h.Counts[i]) / waits
			assert.InDelta(t, want, float64(got.Counts[i])/waits, 0.04, "share of bucket %d", i)
		}
	})
}

func TestPoolHoldAndWaitDurationsAreExactForTheFirst64(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newTestPool(t, &resFactory{}, pool.Config[*poolRes]{MaxSize: 1})
		defer closePool(t, p)
		var holds, waits exactHistogram
		for i := range 64 {
			d := time.Duration(i+1) * time.Millisecond
			l := mustAcquire(t, p)
			time.Sleep(d)
			l.Release()
			holds.add(d)
			waits.add(0)
		}
		l := mustAcquire(t, p)
		waits.add(0)
		for i := range 63 {
			d := time.Duration(i+1) * time.Millisecond
			done := acquireAsync(context.Background(), p)
			time.Sleep(d)
			synctest.Wait()
			l.Release()
			holds.add(d)
			r := <-done
			require.NoError(t, r.err)
			l = r.l
			waits.add(d)
		}
		l.Release()
		holds.add(0)
		st := p.Stats()
		assert.Equal(t, holds.h, st.HoldDurations)
		assert.Equal(t, waits.h, st.WaitDurations)
		assert.Equal(t, waits.h.Sum, st.WaitTime)
	})
}

func TestPoolEveryHoldIsTimedWithLeakThreshold(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newTestPool(t, &resFactory{}, pool.Config[*poolRes]{MaxSize: 1, LeakThreshold: time.Hour})
		defer closePool(t, p)
		var exact exactHistogram
		for i := range 500 {
			d := time.Duration(i%37+1) * time.Millisecond
			l := mustAcquire(t, p)
			time.Sleep(d)
			l.Release()
			exact.add(d)
		}
		assert.Equal(t, exact.h, p.Stats().HoldDurations)
	})
}

func TestPoolLeaseErrorHeldIsNeverShortOfTheTruthForALeaseNotTimed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newTestPool(t, &resFactory{}, pool.Config[*poolRes]{MaxSize: 1})
		for range 1000 { // past the leases timed in full
			time.Sleep(time.Millisecond)
			mustAcquire(t, p).Release()
		}
		time.Sleep(time.Minute)
		l := mustAcquire(t, p)
		time.Sleep(3 * time.Second)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		err := p.Close(ctx)
		var le *pool.LeaseError
		require.ErrorAs(t, err, &le)
		assert.GreaterOrEqual(t, le.Held, 4*time.Second, "held 3s, then Close waited 1s")
		l.Release()
	})
}
