package pool_test

// The behavioural cases of jackc/puddle v2's pool_test.go and of
// database/sql's sql_test.go that map onto Pool[T], ported from memory of
// those files (no copy of them was at hand): each test names the cases it
// stands for. The README's pool section lists the cases that differ on
// purpose, and why. Cases already held by another test of this package are
// named there, not repeated here.

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reclaim-go/reclaim/pool"
)

type portCtxKey struct{}

// puddle: TestPoolAcquireCallsConstructorWithAcquireContextValuesButNotDeadline.
func TestPortOpenGetsTheAcquireContextValuesButNotItsDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var got any
		var deadline time.Time
		p, err := pool.New(pool.Config[*poolRes]{
			Open: func(ctx context.Context) (*poolRes, error) {
				got = ctx.Value(portCtxKey{})
				deadline, _ = ctx.Deadline()
				return (&resFactory{}).Open(ctx)
			},
			MaxSize:     1,
			OpenTimeout: time.Hour,
		})
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(context.WithValue(context.Background(), portCtxKey{}, "v"), time.Second)
		defer cancel()
		l, err := p.Acquire(ctx)
		require.NoError(t, err)
		assert.Equal(t, "v", got)
		assert.Equal(t, time.Now().Add(time.Hour), deadline, "OpenTimeout's deadline, not the Acquire's")
		l.Release()
		closePool(t, p)
	})
}

// puddle: TestPoolAcquireDoesNotCreatesResourceWhenItWouldExceedMaxSize;
// database/sql: TestMaxOpenConns.
func TestPortAcquireNeverOpensBeyondMaxSize(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &resFactory{maxSize: 3}
		p := newTestPool(t, f, pool.Config[*poolRes]{MaxSize: 3})
		var wg sync.WaitGroup
		for range 50 {
			wg.Go(func() {
				for range 20 {
					l := mustAcquire(t, p)
					time.Sleep(time.Millisecond)
					l.Release()
				}
			})
		}
		wg.Wait()
		assert.False(t, f.overflow)
		assert.LessOrEqual(t, f.opens.Load(), int64(3))
		closePool(t, p)
	})
}

// puddle: TestPoolAcquireContextAlreadyCanceled.
func TestPortAcquireWithADoneContextOpensNothing(t *testing.T) {
	f := &resFactory{}
	p := newTestPool(t, f, pool.Config[*poolRes]{MaxSize: 1})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := p.Acquire(ctx)
	require.ErrorIs(t, err, context.Canceled)
	assert.Zero(t, f.calls.Load())
	closePool(t, p)
}

// puddle: TestPoolAcquireReturnsErrorFromFailedResourceCreate and
// TestSignalIsSentWhenResourceFailedToCreate: a failed create fails its
// caller, and a later Acquire creates again.
func TestPortFailedOpenFailsItsCallerAndTheNextAcquireOpensAgain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		refused := errors.New("refused")
		f := &resFactory{}
		f.setErr(refused)
		p := newTestPool(t, f, pool.Config[*poolRes]{MaxSize: 1})
		_, err := p.Acquire(context.Background())
		require.ErrorIs(t, err, refused)
		f.setErr(nil)
		time.Sleep(time.Minute) // past the backoff
		l := mustAcquire(t, p)
		l.Release()
		assert.EqualValues(t, 2, f.calls.Load())
		closePool(t, p)
	})
}

// puddle: TestPoolAcquireReusesResources; database/sql: the free list is
// used before a new connection is opened.
func TestPortAcquireReusesReleasedResources(t *testing.T) {
	f := &resFactory{}
	p := newTestPool(t, f, pool.Config[*poolRes]{MaxSize: 4})
	for range 100 {
		mustAcquire(t, p).Release()
	}
	assert.EqualValues(t, 1, f.opens.Load())
	closePool(t, p)
}

// puddle: TestResourceDestroyRemovesResourceFromPool; database/sql:
// driver.ErrBadConn drops the connection.
func TestPortDestroyRemovesTheResourceAndFreesItsPlace(t *testing.T) {
	f := &resFactory{}
	p := newTestPool(t, f, pool.Config[*poolRes]{MaxSize: 1})
	l := mustAcquire(t, p)
	first := l.Value()
	l.Destroy()
	assert.True(t, first.closed.Load())
	assert.Zero(t, p.Stats().Total)
	l = mustAcquire(t, p)
	assert.NotSame(t, first, l.Value())
	l.Release()
	closePool(t, p)
}

// puddle: TestResourcePanicsOnUsageWhenNotAcquired.
func TestPortLeaseUsedAfterReleasePanics(t *testing.T) {
	f := &resFactory{}
	p := newTestPool(t, f, pool.Config[*poolRes]{MaxSize: 1})
	l := mustAcquire(t, p)
	l.Release()
	assert.Panics(t, func() { l.Value() })
	assert.Panics(t, func() { l.Release() })
	assert.Panics(t, func() { l.Destroy() })
	closePool(t, p)
}

// puddle: TestPoolCloseIsSafeToCallMultipleTimes,
// TestPoolAcquireReturnsErrorWhenPoolIsClosed.
func TestPortCloseTwiceAndAcquireAfterClose(t *testing.T) {
	p := newTestPool(t, &resFactory{}, pool.Config[*poolRes]{MaxSize: 1})
	closePool(t, p)
	closePool(t, p)
	_, err := p.Acquire(context.Background())
	require.ErrorIs(t, err, pool.ErrClosed)
}

// database/sql: TestMaxIdleConns / SetMaxIdleConns: the excess of a burst
// is closed when released, and counted (MaxIdleClosed there,
// DestroyedIdle here).
func TestPortMaxIdleClosesReleasesBeyondIt(t *testing.T) {
	f := &resFactory{}
	p := newTestPool(t, f, pool.Config[*poolRes]{MaxSize: 3, MaxIdle: 1, MaxConstructing: 3})
	a, b, c := mustAcquire(t, p), mustAcquire(t, p), mustAcquire(t, p)
	a.Release()
	b.Release()
	c.Release()
	st := p.Stats()
	assert.Equal(t, 1, st.Idle)
	assert.EqualValues(t, 2, st.DestroyedIdle)
	closePool(t, p)
}

// database/sql: TestConnMaxLifetime and TestConnExpiresFreshOutOfPool: an
// expired idle connection is never handed out; a fresh one is opened.
func TestPortExpiredIdleResourceIsReplacedNotLent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &resFactory{}
		p := newTestPool(t, f, pool.Config[*poolRes]{MaxSize: 1, MaxLifetime: time.Minute, LifetimeJitter: pool.NoLifetimeJitter})
		l := mustAcquire(t, p)
		old := l.Value()
		l.Release()
		time.Sleep(2 * time.Minute)
		l = mustAcquire(t, p)
		assert.NotSame(t, old, l.Value())
		assert.True(t, old.closed.Load())
		assert.EqualValues(t, 1, p.Stats().DestroyedLifetime)
		l.Release()
		closePool(t, p)
	})
}

// database/sql: TestSetConnMaxIdleTime: connections idle too long are
// closed by the cleaner (the janitor here).
func TestPortMaxIdleTimeClosesIdleResources(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &resFactory{}
		p := newTestPool(t, f, pool.Config[*poolRes]{MaxSize: 2, MaxIdleTime: time.Minute, MaxConstructing: 2})
		a, b := mustAcquire(t, p), mustAcquire(t, p)
		a.Release()
		b.Release()
		time.Sleep(61 * time.Second)
		synctest.Wait()
		assert.Zero(t, p.Stats().Total)
		assert.EqualValues(t, 2, p.Stats().DestroyedIdle)
		closePool(t, p)
	})
}

// database/sql: TestStats and TestMaxOpenConnsWaitDuration: the wait count
// and duration of callers that waited for a connection.
func TestPortStatsCountWaitsAndTheirDuration(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newTestPool(t, &resFactory{}, pool.Config[*poolRes]{MaxSize: 1})
		l := mustAcquire(t, p)
		w := acquireAsync(context.Background(), p)
		synctest.Wait()
		time.Sleep(time.Second)
		l.Release()
		r := <-w
		require.NoError(t, r.err)
		st := p.Stats()
		assert.EqualValues(t, 2, st.Waits, "the first waited for the Open, the second for the release")
		assert.Equal(t, time.Second, st.WaitTime)
		assert.Equal(t, 1, st.InUse)
		r.l.Release()
		closePool(t, p)
	})
}

// database/sql: TestPoolExhaustOnCancel (golang/go#10886 and #16593):
// callers that give up while waiting leave no slot behind, and the pool
// serves the next callers.
func TestPortCancelledWaitersDoNotExhaustThePool(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &resFactory{}
		p := newTestPool(t, f, pool.Config[*poolRes]{MaxSize: 1})
		l := mustAcquire(t, p)
		var cancels []context.CancelFunc
		var waits []<-chan acquired
		for range 10 {
			ctx, cancel := context.WithCancel(context.Background())
			cancels = append(cancels, cancel)
			waits = append(waits, acquireAsync(ctx, p))
		}
		synctest.Wait()
		for _, c := range cancels {
			c()
		}
		for _, w := range waits {
			require.ErrorIs(t, (<-w).err, context.Canceled)
		}
		l.Release()
		for range 10 {
			mustAcquire(t, p).Release()
		}
		assert.EqualValues(t, 1, f.opens.Load())
		closePool(t, p)
	})
}

// puddle: TestStress; database/sql: TestConcurrency. Many goroutines
// acquire, release and destroy; nothing is lent twice or leaked.
func TestPortStress(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &resFactory{maxSize: 4}
		p := newTestPool(t, f, pool.Config[*poolRes]{MaxSize: 4})
		var n atomic.Int64
		var wg sync.WaitGroup
		for g := range 16 {
			wg.Go(func() {
				for i := range 50 {
					ctx, cancel := context.WithTimeout(context.Background(), time.Duration(i%3)*time.Millisecond+time.Millisecond)
					l, err := p.Acquire(ctx)
					cancel()
					if err != nil {
						continue
					}
					l.Value().hold(t)
					n.Add(1)
					time.Sleep(time.Duration(g%3) * time.Millisecond)
					l.Value().unhold()
					if (g+i)%7 == 0 {
						l.Destroy()
					} else {
						l.Release()
					}
				}
			})
		}
		wg.Wait()
		assert.Positive(t, n.Load())
		assert.False(t, f.overflow)
		closePool(t, p)
		assert.Zero(t, f.live())
	})
}
