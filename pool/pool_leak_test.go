package pool_test

import (
	"context"
	"errors"
	"log/slog"
	"runtime"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reclaim-go/reclaim/internal/logtest"
	"github.com/reclaim-go/reclaim/internal/track"
	"github.com/reclaim-go/reclaim/pool"
	"github.com/reclaim-go/reclaim/retry"
)

// expectDrops takes the leases that t drops on purpose, found by the
// registry since the package's TestMain (scopetest.VerifyTestMain) tracks
// every lease, out of the registry's record when t ends, so that the run's
// check does not report them.
func expectDrops(t *testing.T) {
	t.Cleanup(func() {
		track.Take(func(l track.Leak) bool {
			return strings.Contains(l.Created, "."+t.Name()+"\n") || strings.Contains(l.Created, "."+t.Name()+".func")
		})
	})
}

func TestPoolReportsALeaseHeldPastLeakThresholdOnceAndWhenItComesBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs logtest.Buffer
		f := &resFactory{}
		p := newTestPool(t, f, pool.Config[*poolRes]{
			MaxSize:       2,
			LeakThreshold: time.Minute,
			Logger:        slog.New(slog.NewTextHandler(&logs, nil)),
		})
		l := holdLeaseForLeakTest(t, p)
		quick := mustAcquire(t, p)
		time.Sleep(10 * time.Second)
		quick.Release() // well within the threshold: never reported

		time.Sleep(50*time.Second - time.Nanosecond)
		synctest.Wait()
		require.Empty(t, logs.String())
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		out := logs.String()
		assert.Contains(t, out, "lease held longer than LeakThreshold")
		assert.Contains(t, out, "held=1m0s")
		assert.Contains(t, out, "holdLeaseForLeakTest", "the report names where the lease was acquired")
		assert.EqualValues(t, 1, p.Stats().LeaksReported)

		time.Sleep(time.Hour)
		synctest.Wait()
		assert.Equal(t, 1, strings.Count(logs.String(), "held longer than LeakThreshold"), "reported once")

		l.Release()
		out = logs.String()
		assert.Contains(t, out, "lease given back after being held longer than LeakThreshold")
		assert.Contains(t, out, "held=1h1m0s")
		assert.Equal(t, 2, strings.Count(out, "holdLeaseForLeakTest"))
		closePool(t, p)
	})
}

func holdLeaseForLeakTest(t *testing.T, p *pool.Pool[*poolRes]) pool.Lease[*poolRes] {
	l, err := p.Acquire(context.Background())
	require.NoError(t, err)
	return l
}

// dropLease acquires a lease and loses it.
//
//go:noinline
func dropLease(t *testing.T, p *pool.Pool[*poolRes]) {
	l, err := p.Acquire(context.Background())
	require.NoError(t, err)
	l.Value().hold(t)
	l.Value().unhold()
}

// collectDropped runs the collector until the pool has found n dropped
// leases. The collector's cleanups run in a goroutine of their own: there
// is nothing to wait on but the result.
func collectDropped(t *testing.T, p *pool.Pool[*poolRes], n uint64) {
	t.Helper()
	for i := 0; p.Stats().LeasesDropped < n; i++ {
		if i == 1000 {
			t.Fatalf("the dropped lease was not found after %d collections", i)
		}
		runtime.GC()
		runtime.Gosched()
	}
}

func TestPoolDetectsALeaseDroppedWithoutReleaseAndReclaimsItsSlot(t *testing.T) {
	expectDrops(t)
	var logs logtest.Buffer
	f := &resFactory{}
	p := newTestPool(t, f, pool.Config[*poolRes]{
		MaxSize:       1,
		LeakThreshold: time.Hour,
		Logger:        slog.New(slog.NewTextHandler(&logs, nil)),
	})
	dropLease(t, p)
	collectDropped(t, p, 1)
	assert.Contains(t, logs.String(), "lease dropped without Release")
	assert.Contains(t, logs.String(), "dropLease", "the report names where it was acquired")

	// The pool is full with the dropped lease's resource; the next Acquire
	// destroys it and makes a new one.
	l := mustAcquire(t, p)
	st := p.Stats()
	assert.EqualValues(t, 1, st.DestroyedDropped)
	assert.EqualValues(t, 2, f.opens.Load())
	assert.EqualValues(t, 1, f.live())
	l.Release()
	closePool(t, p)
	assert.Zero(t, f.live())
}

func TestPoolDroppedLeaseServesAWaiterInsideASynctestBubble(t *testing.T) {
	expectDrops(t)
	synctest.Test(t, func(t *testing.T) {
		f := &resFactory{}
		p := newTestPool(t, f, pool.Config[*poolRes]{
			MaxSize:       1,
			LeakThreshold: time.Minute,
			Logger:        slog.New(slog.DiscardHandler),
		})
		dropLease(t, p)
		w := acquireAsync(context.Background(), p)
		synctest.Wait()
		// The cleanup runs outside the bubble: it may only record the
		// drop, and the janitor, which runs while leases are tracked,
		// reclaims the slot at its next look.
		collectDropped(t, p, 1)
		time.Sleep(time.Minute)
		r := <-w
		require.NoError(t, r.err)
		assert.EqualValues(t, 1, p.Stats().DestroyedDropped)
		r.l.Release()
		closePool(t, p)
		assert.Zero(t, f.live())
	})
}

func TestPoolReleasedTrackedLeaseIsNotReportedAsDropped(t *testing.T) {
	f := &resFactory{}
	p := newTestPool(t, f, pool.Config[*poolRes]{
		MaxSize:       1,
		LeakThreshold: time.Hour,
		Logger:        slog.New(slog.DiscardHandler),
	})
	for range 100 {
		l := mustAcquire(t, p)
		l.Release()
	}
	for range 3 {
		runtime.GC()
	}
	assert.Zero(t, p.Stats().LeasesDropped)
	closePool(t, p)
}

func TestPoolCloseReclaimsALeaseDroppedWhileItWaits(t *testing.T) {
	expectDrops(t)
	synctest.Test(t, func(t *testing.T) {
		f := &resFactory{}
		p := newTestPool(t, f, pool.Config[*poolRes]{
			MaxSize:       1,
			LeakThreshold: time.Minute,
			Logger:        slog.New(slog.DiscardHandler),
		})
		l := mustAcquire(t, p)
		closed := make(chan error, 1)
		go func() { closed <- p.Close(context.Background()) }()
		synctest.Wait()
		// Dropped after Close started waiting: the cleanup, outside the
		// bubble, only records it, and Close finds it at its next look.
		dropHeld(&l)
		collectDropped(t, p, 1)
		time.Sleep(time.Minute)
		require.NoError(t, <-closed)
		assert.EqualValues(t, 1, p.Stats().DestroyedDropped)
		assert.Zero(t, f.live())
	})
}

// dropHeld loses the lease *l.
//
//go:noinline
func dropHeld(l *pool.Lease[*poolRes]) { *l = pool.Lease[*poolRes]{} }

func TestPoolCloseWithoutDeadlineLogsTheLeasesStillOut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs logtest.Buffer
		f := &resFactory{}
		p := newTestPool(t, f, pool.Config[*poolRes]{
			MaxSize:       1,
			LeakThreshold: time.Hour,
			Logger:        slog.New(slog.NewTextHandler(&logs, nil)),
		})
		l := holdLeaseForLeakTest(t, p)
		closed := make(chan error, 1)
		go func() { closed <- p.Close(context.Background()) }()
		time.Sleep(35 * time.Second)
		out := logs.String()
		assert.Equal(t, 3, strings.Count(out, "Close is waiting for leases still out"), "every 10s, not more")
		assert.Contains(t, out, "holdLeaseForLeakTest", "with where the lease was acquired")
		l.Release()
		require.NoError(t, <-closed)
	})
}

func TestPoolLogsBackgroundOpenFailuresAtABoundedRate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs logtest.Buffer
		f := &resFactory{}
		f.setErr(errors.New("connection refused"))
		p := newTestPool(t, f, pool.Config[*poolRes]{
			MaxSize: 1, MinIdle: 1,
			OpenBackoff: retry.Policy{InitialDelay: time.Second, MaxDelay: time.Second, Jitter: retry.NoJitter},
			Logger:      slog.New(slog.NewTextHandler(&logs, nil)),
		})
		time.Sleep(25 * time.Second)
		out := logs.String()
		assert.GreaterOrEqual(t, f.calls.Load(), int64(20), "the warm-up keeps trying")
		assert.Equal(t, 3, strings.Count(out, "background Open failed"), "once per 10s")
		assert.Contains(t, out, "connection refused")
		assert.Contains(t, out, "suppressed=9")
		closePool(t, p)
	})
}
