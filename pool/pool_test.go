package pool_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/multierr"

	"github.com/reclaim-go/reclaim/internal/track"
	"github.com/reclaim-go/reclaim/pool"
	"github.com/reclaim-go/reclaim/retry"
	"github.com/reclaim-go/reclaim/scope"
)

// poolRes is a resource made by a resFactory. It panics when closed twice
// and counts its holders, so that a resource lent to two holders at once
// is caught.
type poolRes struct {
	id      int
	f       *resFactory
	closed  atomic.Bool
	holders atomic.Int32
	bad     atomic.Bool // fails the health check
}

func (r *poolRes) Close() error {
	if r.closed.Swap(true) {
		panic("test: resource closed twice")
	}
	r.f.closes.Add(1)
	r.f.mu.Lock()
	defer r.f.mu.Unlock()
	return r.f.closeErr
}

// hold records that a holder got r, and fails the test if another holder
// has it.
func (r *poolRes) hold(t testing.TB) {
	t.Helper()
	if n := r.holders.Add(1); n != 1 {
		t.Errorf("resource %d lent to %d holders at once", r.id, n)
	}
	if r.closed.Load() {
		t.Errorf("resource %d lent after it was closed", r.id)
	}
}

func (r *poolRes) unhold() { r.holders.Add(-1) }

// resFactory makes poolRes values, with faults to inject: failing Opens,
// Opens that wait for a gate, failing Closes.
type resFactory struct {
	opens, closes, calls atomic.Int64

	mu         sync.Mutex
	err        error         // Open fails with it when set
	gate       chan struct{} // Open waits to receive from it when set
	running    int
	maxRunning int
	lastCtxErr error // ctx.Err() when the last Open returned
	closeErr   error
	maxSize    int // when set, an Open beyond it is an error
	overflow   bool
}

func (f *resFactory) Open(ctx context.Context) (*poolRes, error) {
	f.calls.Add(1)
	f.mu.Lock()
	f.running++
	f.maxRunning = max(f.maxRunning, f.running)
	gate := f.gate
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.running--
		f.lastCtxErr = ctx.Err()
		f.mu.Unlock()
	}()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	f.mu.Lock()
	err := f.err
	f.mu.Unlock()
	if err != nil {
		return nil, err
	}
	id := f.opens.Add(1)
	if f.maxSize > 0 && f.live() > int64(f.maxSize) {
		f.mu.Lock()
		f.overflow = true
		f.mu.Unlock()
	}
	return &poolRes{id: int(id), f: f}, nil
}

func (f *resFactory) live() int64 { return f.opens.Load() - f.closes.Load() }

func (f *resFactory) setErr(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

func (f *resFactory) setGate(g chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gate = g
}

func (f *resFactory) ctxErr() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lastCtxErr
}

func (f *resFactory) runningNow() (running, maxRunning int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.running, f.maxRunning
}

// newTestPool returns a pool of f's resources configured by cfg, whose
// Open is set to f.Open.
func newTestPool(t testing.TB, f *resFactory, cfg pool.Config[*poolRes]) *pool.Pool[*poolRes] {
	t.Helper()
	cfg.Open = f.Open
	p, err := pool.New(cfg)
	require.NoError(t, err)
	return p
}

func mustAcquire(t testing.TB, p *pool.Pool[*poolRes]) pool.Lease[*poolRes] {
	t.Helper()
	l, err := p.Acquire(context.Background())
	require.NoError(t, err)
	return l
}

func closePool(t testing.TB, p *pool.Pool[*poolRes]) {
	t.Helper()
	require.NoError(t, p.Close(context.Background()))
}

// acquireAsync starts an Acquire in a goroutine and returns where its
// result arrives.
type acquired struct {
	l   pool.Lease[*poolRes]
	err error
}

func acquireAsync(ctx context.Context, p *pool.Pool[*poolRes]) <-chan acquired {
	ch := make(chan acquired, 1)
	go func() {
		l, err := p.Acquire(ctx)
		ch <- acquired{l, err}
	}()
	return ch
}

// poolJanitors counts the pools' background goroutines.
func poolJanitors() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	return bytes.Count(buf, []byte(").janitorLoop("))
}

func TestNewRejectsInvalidConfigNamingTheField(t *testing.T) {
	open := func(context.Context) (*poolRes, error) { return nil, nil }
	for _, tc := range []struct {
		name string
		cfg  pool.Config[*poolRes]
		want string
	}{
		{"no Open", pool.Config[*poolRes]{MaxSize: 1}, "Config.Open"},
		{"no MaxSize", pool.Config[*poolRes]{Open: open}, "Config.MaxSize"},
		{"negative MaxSize", pool.Config[*poolRes]{Open: open, MaxSize: -1}, "Config.MaxSize"},
		{"MinIdle above MaxSize", pool.Config[*poolRes]{Open: open, MaxSize: 2, MinIdle: 3}, "Config.MinIdle"},
		{"negative MinIdle", pool.Config[*poolRes]{Open: open, MaxSize: 2, MinIdle: -1}, "Config.MinIdle"},
		{"negative MaxIdleTime", pool.Config[*poolRes]{Open: open, MaxSize: 1, MaxIdleTime: -1}, "Config.MaxIdleTime"},
		{"negative MaxLifetime", pool.Config[*poolRes]{Open: open, MaxSize: 1, MaxLifetime: -1}, "Config.MaxLifetime"},
		{"negative HealthCheckAfter", pool.Config[*poolRes]{Open: open, MaxSize: 1, HealthCheckAfter: -1}, "Config.HealthCheckAfter"},
		{"negative MaxWaiters", pool.Config[*poolRes]{Open: open, MaxSize: 1, MaxWaiters: -1}, "Config.MaxWaiters"},
		{"negative MaxConstructing", pool.Config[*poolRes]{Open: open, MaxSize: 1, MaxConstructing: -1}, "Config.MaxConstructing"},
		{"negative OpenTimeout", pool.Config[*poolRes]{Open: open, MaxSize: 1, OpenTimeout: -1}, "Config.OpenTimeout"},
		{"negative LeakThreshold", pool.Config[*poolRes]{Open: open, MaxSize: 1, LeakThreshold: -1}, "Config.LeakThreshold"},
		{"invalid OpenBackoff", pool.Config[*poolRes]{Open: open, MaxSize: 1, OpenBackoff: retry.Policy{MaxDelay: -1}}, "Config.OpenBackoff"},
		{"OpenBackoff.MaxAttempts ignored", pool.Config[*poolRes]{Open: open, MaxSize: 1, OpenBackoff: retry.Policy{MaxAttempts: 2}}, "Config.OpenBackoff.MaxAttempts is set, but the pool uses only the delay fields"},
		{"OpenBackoff.OnRetry ignored", pool.Config[*poolRes]{Open: open, MaxSize: 1, OpenBackoff: retry.Policy{OnRetry: func(int, error, time.Duration) {}}}, "Config.OpenBackoff.OnRetry"},
		{"MaxIdle below MinIdle", pool.Config[*poolRes]{Open: open, MaxSize: 4, MinIdle: 2, MaxIdle: 1}, "Config.MaxIdle"},
		{"MaxIdle above MaxSize", pool.Config[*poolRes]{Open: open, MaxSize: 4, MaxIdle: 5}, "Config.MaxIdle"},
		{"negative LifetimeJitter", pool.Config[*poolRes]{Open: open, MaxSize: 1, MaxLifetime: time.Hour, LifetimeJitter: -2}, "Config.LifetimeJitter"},
		{"LifetimeJitter above MaxLifetime", pool.Config[*poolRes]{Open: open, MaxSize: 1, MaxLifetime: time.Hour, LifetimeJitter: 2 * time.Hour}, "Config.LifetimeJitter"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := pool.New(tc.cfg)
			require.Error(t, err)
			assert.Nil(t, p)
			assert.Contains(t, err.Error(), tc.want)
			assert.True(t, strings.HasPrefix(err.Error(), "pool: "), err.Error())
		})
	}
}

func TestPoolReusesIdleResourcesMostRecentlyUsedFirst(t *testing.T) {
	f := &resFactory{}
	p := newTestPool(t, f, pool.Config[*poolRes]{MaxSize: 3})
	a, b, c := mustAcquire(t, p), mustAcquire(t, p), mustAcquire(t, p)
	ra, rb, rc := a.Value(), b.Value(), c.Value()
	a.Release()
	b.Release()
	c.Release()

	l := mustAcquire(t, p)
	require.Same(t, rc, l.Value(), "the last released is lent first")
	l.Release()
	l = mustAcquire(t, p)
	require.Same(t, rc, l.Value())
	m, n := mustAcquire(t, p), mustAcquire(t, p)
	assert.Same(t, rb, m.Value())
	assert.Same(t, ra, n.Value())
	l.Release()
	m.Release()
	n.Release()
	assert.EqualValues(t, 3, f.opens.Load(), "nothing opened beyond the first three")
	closePool(t, p)
	assert.Zero(t, f.live())
}

func TestPoolServesWaitersFirstComeFirstServed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &resFactory{}
		p := newTestPool(t, f, pool.Config[*poolRes]{MaxSize: 1})
		first := mustAcquire(t, p)
		const n = 6
		served := make(chan int, n)
		for i := range n {
			go func() {
				l, err := p.Acquire(context.Background())
				if !assert.NoError(t, err) {
					return
				}
				served <- i
				l.Release()
			}()
			synctest.Wait() // waiter i is queued before waiter i+1 arrives
		}
		require.Equal(t, n, p.Stats().Waiters)
		first.Release()
		for i := range n {
			require.Equal(t, i, <-served)
		}
		synctest.Wait()
		st := p.Stats()
		assert.Zero(t, st.Waiters)
		assert.EqualValues(t, 1, st.Opened, "one resource went round the queue")
		closePool(t, p)
	})
}

func TestPoolAcquireHonoursItsContextWhileWaiting(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &resFactory{}
		p := newTestPool(t, f, pool.Config[*poolRes]{MaxSize: 1})
		held := mustAcquire(t, p)

		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_, err := p.Acquire(ctx)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		var ae *pool.AcquireError
		require.ErrorAs(t, err, &ae)
		assert.Equal(t, 3*time.Second, ae.Waited)
		assert.Equal(t, 1, ae.Stats.InUse, "the snapshot shows why it waited")
		assert.Equal(t, 1, ae.Stats.Waiters)
		assert.Equal(t, 1, ae.Stats.MaxSize)
		assert.Contains(t, err.Error(), "1/1 in use")
		assert.Zero(t, p.Stats().Waiters, "a waiter that gave up leaves the queue")

		// Cancellation with a cause: both are seen.
		cause := errors.New("client went away")
		cctx, ccancel := context.WithCancelCause(context.Background())
		done := acquireAsync(cctx, p)
		synctest.Wait()
		ccancel(cause)
		r := <-done
		require.ErrorIs(t, r.err, context.Canceled)
		require.ErrorIs(t, r.err, cause)

		// A context done on entry fails at once, without waiting.
		_, err = p.Acquire(cctx)
		require.ErrorAs(t, err, &ae)
		assert.Zero(t, ae.Waited)

		assert.EqualValues(t, 3, p.Stats().Canceled)
		held.Release()
		closePool(t, p)
	})
}

func TestPoolConstructionOutlivesACancelledAcquirer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &resFactory{}
		gate := make(chan struct{})
		f.setGate(gate)
		p := newTestPool(t, f, pool.Config[*poolRes]{MaxSize: 2})

		ctx, cancel := context.WithCancel(context.Background())
		done := acquireAsync(ctx, p)
		synctest.Wait()
		require.Equal(t, 1, p.Stats().Constructing)
		cancel()
		require.ErrorIs(t, (<-done).err, context.Canceled)
		require.Equal(t, 1, p.Stats().Constructing, "the construction goes on")

		gate <- struct{}{}
		synctest.Wait()
		assert.NoError(t, f.ctxErr(), "Open's context was not cancelled with the acquirer's")
		st := p.Stats()
		assert.Equal(t, 1, st.Idle, "the resource landed in the pool")
		assert.Equal(t, 1, st.Total)

		f.setGate(nil)
		l := mustAcquire(t, p)
		assert.EqualValues(t, 1, f.opens.Load(), "the next caller got it")
		l.Release()
		closePool(t, p)
	})
}

func TestPoolConstructionIsBoundedByOpenTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &resFactory{}
		f.setGate(make(chan struct{})) // never opens
		p := newTestPool(t, f, pool.Config[*poolRes]{MaxSize: 1, OpenTimeout: 5 * time.Second})
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := p.Acquire(ctx)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		time.Sleep(4*time.Second - time.Nanosecond)
		synctest.Wait()
		assert.Equal(t, 1, p.Stats().Constructing)
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		assert.Zero(t, p.Stats().Constructing)
		assert.ErrorIs(t, f.ctxErr(), context.DeadlineExceeded)
		closePool(t, p)
	})
}

func TestPoolLeaseUsedAfterReleaseNeverReachesTheResource(t *testing.T) {
	f := &resFactory{}
	p := newTestPool(t, f, pool.Config[*poolRes]{MaxSize: 1})
	l := mustAcquire(t, p)
	res := l.Value()
	cp := l // a copy stands for the same lease
	l.Release()

	for _, stale := range []pool.Lease[*poolRes]{l, cp} {
		assert.PanicsWithValue(t, "pool: lease used after Release or Destroy", func() { stale.Value() })
		assert.PanicsWithValue(t, "pool: lease used after Release or Destroy", func() { stale.Release() })
		assert.PanicsWithValue(t, "pool: lease used after Release or Destroy", func() { stale.Destroy() })
		assert.ErrorIs(t, stale.Close(), pool.ErrLeaseDone)
	}

	// The resource now belongs to someone else; the stale lease still
	// cannot reach it, and its misuse does not disturb the new holder.
	m := mustAcquire(t, p)
	require.Same(t, res, m.Value())
	assert.Panics(t, func() { l.Value() })
	assert.ErrorIs(t, l.Close(), pool.ErrLeaseDone)
	assert.Equal(t, 1, p.Stats().InUse)
	assert.Same(t, res, m.Value())

	m.Destroy()
	assert.PanicsWithValue(t, "pool: lease used after Release or Destroy", func() { m.Value() })
	assert.PanicsWithValue(t, "pool: lease used after Release or Destroy", func() { m.Release() })
	assert.PanicsWithValue(t, "pool: lease used after Release or Destroy", func() { m.Destroy() })
	assert.NoError(t, m.Close(), "Close after Destroy is a no-op")
	st := p.Stats()
	assert.Zero(t, st.Total)
	assert.EqualValues(t, 1, st.DestroyedExplicit)
	closePool(t, p)
}

func TestZeroLeaseIsGivenBack(t *testing.T) {
	var l pool.Lease[*poolRes]
	assert.PanicsWithValue(t, "pool: use of a zero Lease", func() { l.Value() })
	assert.PanicsWithValue(t, "pool: use of a zero Lease", func() { l.Release() })
	assert.PanicsWithValue(t, "pool: use of a zero Lease", func() { l.Destroy() })
	assert.ErrorIs(t, l.Close(), pool.ErrLeaseDone)
}

func TestLeaseIsAScopeCloser(t *testing.T) {
	f := &resFactory{}
	p := newTestPool(t, f, pool.Config[*poolRes]{MaxSize: 2})
	err := scope.Run(context.Background(), func(ctx context.Context, s *scope.Scope) error {
		l, err := p.Acquire(ctx)
		if err != nil {
			return err
		}
		s.DeferClose(l)
		assert.Equal(t, 1, p.Stats().InUse)
		return nil
	})
	require.NoError(t, err)
	st := p.Stats()
	assert.Zero(t, st.InUse)
	assert.Equal(t, 1, st.Idle, "the scope released the lease for reuse")
	closePool(t, p)
}

func TestLeaseInAScopeIsDestroyedOnFailureAndReleasedOnSuccess(t *testing.T) {
	f := &resFactory{}
	p := newTestPool(t, f, pool.Config[*poolRes]{MaxSize: 1})
	broken := errors.New("protocol error")
	use := func(fail bool) error {
		return scope.Run(context.Background(), func(ctx context.Context, s *scope.Scope) error {
			l, err := p.Acquire(ctx)
			if err != nil {
				return err
			}
			s.DeferClose(l)
			s.OnFailure(func() error { l.Destroy(); return nil })
			if fail {
				return broken
			}
			return nil
		})
	}
	require.NoError(t, use(false))
	assert.Equal(t, 1, p.Stats().Idle, "released on success")
	err := use(true)
	require.ErrorIs(t, err, broken)
	assert.Len(t, multierr.Errors(err), 1, "the Close after Destroy adds no error")
	st := p.Stats()
	assert.Zero(t, st.Total, "destroyed on failure")
	assert.EqualValues(t, 1, st.DestroyedExplicit)
	closePool(t, p)
}

func TestPoolStatsCountAcquiresWaitsAndDurations(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &resFactory{}
		p := newTestPool(t, f, pool.Config[*poolRes]{MaxSize: 1})

		// The first Acquire waits for its construction (no time passes in
		// the bubble), then holds for 3s.
		l := mustAcquire(t, p)
		time.Sleep(3 * time.Second)
		l.Release()
		// The second finds it idle and holds for 100ms.
		l = mustAcquire(t, p)
		done := acquireAsync(context.Background(), p)
		time.Sleep(100 * time.Millisecond)
		synctest.Wait()
		st := p.Stats()
		assert.Equal(t, 1, st.Total)
		assert.Equal(t, 1, st.InUse)
		assert.Zero(t, st.Idle)
		assert.Equal(t, 1, st.Waiters)
		l.Release()
		// The third waited 100ms for it.
		r := <-done
		require.NoError(t, r.err)
		r.l.Destroy()

		st = p.Stats()
		assert.EqualValues(t, 3, st.Acquires)
		assert.EqualValues(t, 2, st.Waits)
		assert.Equal(t, 100*time.Millisecond, st.WaitTime)
		assert.EqualValues(t, 3, st.WaitDurations.Count())
		assert.EqualValues(t, 2, st.WaitDurations.Counts[0], "two acquires without delay")
		assert.EqualValues(t, 1, st.WaitDurations.Counts[17], "100ms lies in [2^16µs, 2^17µs)")
		assert.Equal(t, 131072*time.Microsecond, st.WaitDurations.Quantile(1))
		assert.Equal(t, time.Microsecond, st.WaitDurations.Quantile(0.5))
		assert.EqualValues(t, 3, st.HoldDurations.Count())
		assert.Equal(t, 3*time.Second+100*time.Millisecond, st.HoldDurations.Sum)
		assert.Equal(t, (3*time.Second+100*time.Millisecond)/3, st.HoldDurations.Mean())
		assert.EqualValues(t, 1, st.Opened)
		assert.EqualValues(t, 1, st.DestroyedExplicit)
		assert.EqualValues(t, 1, st.Destroyed())
		assert.Zero(t, st.Total)
		closePool(t, p)
	})
}

func TestHistogramBucketsDoubleFromOneMicrosecond(t *testing.T) {
	var h pool.Histogram
	lo, hi := h.Bounds(0)
	assert.Equal(t, time.Duration(0), lo)
	assert.Equal(t, time.Microsecond, hi)
	lo, hi = h.Bounds(1)
	assert.Equal(t, time.Microsecond, lo)
	assert.Equal(t, 2*time.Microsecond, hi)
	lo, hi = h.Bounds(11)
	assert.Equal(t, 1024*time.Microsecond, lo)
	assert.Equal(t, 2048*time.Microsecond, hi)
	last := len(h.Counts) - 1
	lo, _ = h.Bounds(last)
	assert.Greater(t, lo, 75*time.Hour)
	assert.Panics(t, func() { h.Bounds(len(h.Counts)) })
	assert.Zero(t, h.Quantile(0.5))
	assert.Zero(t, h.Mean())
}

func TestPoolMaxWaitersFailsFastWithErrBusy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &resFactory{}
		p := newTestPool(t, f, pool.Config[*poolRes]{MaxSize: 1, MaxWaiters: 2})
		held := mustAcquire(t, p)
		w1 := acquireAsync(context.Background(), p)
		synctest.Wait()
		w2 := acquireAsync(context.Background(), p)
		synctest.Wait()
		_, err := p.Acquire(context.Background())
		require.ErrorIs(t, err, pool.ErrBusy)
		assert.EqualValues(t, 1, p.Stats().Busy)
		held.Release()
		r := <-w1
		require.NoError(t, r.err)
		r.l.Release()
		r = <-w2
		require.NoError(t, r.err)
		r.l.Release()
		closePool(t, p)
	})
}

func TestPoolLimitsConcurrentConstructions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &resFactory{}
		gate := make(chan struct{})
		f.setGate(gate)
		p := newTestPool(t, f, pool.Config[*poolRes]{MaxSize: 10, MaxConstructing: 2})
		var waiters []<-chan acquired
		for range 6 {
			waiters = append(waiters, acquireAsync(context.Background(), p))
		}
		synctest.Wait()
		running, _ := f.runningNow()
		assert.Equal(t, 2, running)
		assert.Equal(t, 2, p.Stats().Constructing)
		close(gate)
		var leases []pool.Lease[*poolRes]
		for _, w := range waiters {
			r := <-w
			require.NoError(t, r.err)
			leases = append(leases, r.l)
		}
		for _, l := range leases {
			l.Release()
		}
		_, maxRunning := f.runningNow()
		assert.Equal(t, 2, maxRunning)
		assert.EqualValues(t, 6, f.opens.Load())
		closePool(t, p)
	})
}

func TestPoolDefaultMaxConstructingIsFour(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &resFactory{}
		gate := make(chan struct{})
		f.setGate(gate)
		p := newTestPool(t, f, pool.Config[*poolRes]{MaxSize: 10})
		for range 8 {
			acquireAsync(context.Background(), p)
		}
		synctest.Wait()
		assert.Equal(t, 4, p.Stats().Constructing)
		close(gate)
		synctest.Wait()
		// The leases were never taken out of their channels: Close gives
		// up on them at once.
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		err := p.Close(ctx)
		var le *pool.LeaseError
		require.ErrorAs(t, err, &le)
		assert.Zero(t, f.live())
	})
}

func TestPoolBacksOffAfterOpenFailsAndFailsFastMeanwhile(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		refused := errors.New("connection refused")
		f := &resFactory{}
		f.setErr(refused)
		p := newTestPool(t, f, pool.Config[*poolRes]{
			MaxSize:     4,
			OpenBackoff: retry.Policy{InitialDelay: time.Second, MaxDelay: 4 * time.Second, Jitter: retry.NoJitter},
		})
		ctx := context.Background()

		_, err := p.Acquire(ctx)
		require.ErrorIs(t, err, refused, "the waiter gets the Open error")
		require.EqualValues(t, 1, f.calls.Load())

		// Backing off for 1s: callers fail fast with the last error, and
		// the server is left alone.
		for range 3 {
			_, err = p.Acquire(ctx)
			require.ErrorIs(t, err, refused)
		}
		assert.EqualValues(t, 1, f.calls.Load())
		assert.Contains(t, err.Error(), "next attempt in 1s")

		time.Sleep(time.Second)
		_, err = p.Acquire(ctx)
		require.ErrorIs(t, err, refused)
		assert.EqualValues(t, 2, f.calls.Load(), "one attempt once the delay is over")
		assert.Contains(t, err.Error(), "next attempt in 2s", "the delay doubles")

		time.Sleep(time.Second)
		_, err = p.Acquire(ctx)
		require.ErrorIs(t, err, refused)
		assert.EqualValues(t, 2, f.calls.Load())
		time.Sleep(time.Second)
		_, err = p.Acquire(ctx)
		require.ErrorIs(t, err, refused)
		assert.EqualValues(t, 3, f.calls.Load())

		// The server comes back; after the delay, the pool serves again
		// and a later failure starts the backoff over.
		f.setErr(nil)
		time.Sleep(4 * time.Second)
		l := mustAcquire(t, p)
		l.Destroy() // so that the next caller has nothing to wait for
		f.setErr(refused)
		_, err = p.Acquire(ctx)
		require.ErrorIs(t, err, refused)
		assert.Contains(t, err.Error(), "next attempt in 1s")

		st := p.Stats()
		assert.EqualValues(t, 4, st.OpenErrors)
		assert.EqualValues(t, 1, st.Opened)
		assert.EqualValues(t, 8, st.FailFast, "every failed Acquire")
		closePool(t, p)
	})
}

func TestPoolFailsEveryWaiterNothingWouldServeWhenOpenFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		refused := errors.New("connection refused")
		f := &resFactory{}
		gate := make(chan struct{})
		f.setGate(gate)
		f.setErr(refused)
		p := newTestPool(t, f, pool.Config[*poolRes]{MaxSize: 4, MaxConstructing: 1})
		var waiters []<-chan acquired
		for range 3 {
			waiters = append(waiters, acquireAsync(context.Background(), p))
		}
		synctest.Wait()
		gate <- struct{}{}
		for _, w := range waiters {
			require.ErrorIs(t, (<-w).err, refused)
		}
		assert.EqualValues(t, 1, f.calls.Load(), "one failure fails them all")
		closePool(t, p)
	})
}

func TestPoolWaiterCoveredByALeaseWaitsThroughABackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		refused := errors.New("connection refused")
		f := &resFactory{}
		p := newTestPool(t, f, pool.Config[*poolRes]{
			MaxSize:     2,
			OpenBackoff: retry.Policy{InitialDelay: time.Minute, Jitter: retry.NoJitter},
		})
		held := mustAcquire(t, p)
		f.setErr(refused)

		// One lease is out: the caller waits for it through the Open
		// failure, since a release will serve it, and so does a second
		// one arriving during the backoff: this is no outage.
		w := acquireAsync(context.Background(), p)
		synctest.Wait()
		st := p.Stats()
		require.EqualValues(t, 1, st.OpenErrors)
		require.Equal(t, 1, st.Waiters)
		w2 := acquireAsync(context.Background(), p)
		synctest.Wait()
		assert.EqualValues(t, 2, f.calls.Load(), "no Open during the backoff")
		assert.Equal(t, 2, p.Stats().Waiters)

		held.Release()
		r := <-w
		require.NoError(t, r.err)
		r.l.Release()
		r = <-w2
		require.NoError(t, r.err)
		r.l.Release()
		closePool(t, p)
	})
}

func TestPoolClosesIdleResourcesAfterMaxIdleTimeDownToMinIdle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &resFactory{}
		p := newTestPool(t, f, pool.Config[*poolRes]{MaxSize: 4, MinIdle: 1, MaxIdleTime: time.Minute})
		synctest.Wait()
		require.Equal(t, 1, p.Stats().Idle, "MinIdle is opened at once")
		a, b, c := mustAcquire(t, p), mustAcquire(t, p), mustAcquire(t, p)
		synctest.Wait() // MinIdle is restored
		a.Release()
		time.Sleep(10 * time.Second)
		b.Release()
		time.Sleep(10 * time.Second)
		c.Release()
		synctest.Wait()
		require.Equal(t, 4, p.Stats().Idle)

		// The first idle resource was released at t=0, but the one opened
		// to restore MinIdle has been idle since then too; they go first.
		time.Sleep(40 * time.Second)
		synctest.Wait()
		st := p.Stats()
		assert.EqualValues(t, 2, st.DestroyedIdle)
		assert.Equal(t, 2, st.Idle)
		time.Sleep(10 * time.Second)
		synctest.Wait()
		st = p.Stats()
		assert.EqualValues(t, 3, st.DestroyedIdle)
		assert.Equal(t, 1, st.Idle, "MinIdle stays")
		assert.Zero(t, poolJanitors(), "nothing left to expire: no background goroutine")

		time.Sleep(time.Hour)
		synctest.Wait()
		assert.Equal(t, 1, p.Stats().Idle)
		assert.EqualValues(t, 1, f.live())
		closePool(t, p)
		assert.Zero(t, f.live())
	})
}

func TestPoolKeepsMinIdleWarmWithinMaxSize(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &resFactory{}
		p := newTestPool(t, f, pool.Config[*poolRes]{MaxSize: 3, MinIdle: 2})
		synctest.Wait()
		assert.Equal(t, 2, p.Stats().Idle)
		a, b := mustAcquire(t, p), mustAcquire(t, p)
		synctest.Wait()
		st := p.Stats()
		assert.Equal(t, 1, st.Idle, "refilled up to MaxSize")
		assert.Equal(t, 3, st.Total)
		b.Destroy()
		synctest.Wait()
		assert.Equal(t, 2, p.Stats().Idle)
		a.Release()
		synctest.Wait()
		assert.Equal(t, 3, p.Stats().Idle)
		assert.EqualValues(t, 4, f.opens.Load())
		closePool(t, p)
		assert.Zero(t, f.live())
	})
}

func TestPoolMinIdleWarmUpBacksOffWhenOpenFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &resFactory{}
		f.setErr(errors.New("refused"))
		p := newTestPool(t, f, pool.Config[*poolRes]{
			MaxSize:     2,
			MinIdle:     1,
			OpenBackoff: retry.Policy{InitialDelay: time.Second, MaxDelay: time.Second, Jitter: retry.NoJitter},
		})
		synctest.Wait()
		assert.EqualValues(t, 1, f.calls.Load())
		time.Sleep(time.Second)
		synctest.Wait()
		assert.EqualValues(t, 2, f.calls.Load(), "the janitor tries again after the delay")
		f.setErr(nil)
		time.Sleep(time.Second)
		synctest.Wait()
		assert.Equal(t, 1, p.Stats().Idle)
		assert.Zero(t, poolJanitors())
		closePool(t, p)
	})
}

func TestPoolMaxLifetimeWithJitterNeverCutsALeaseShort(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &resFactory{}
		start := time.Now()
		const n = 8
		p := newTestPool(t, f, pool.Config[*poolRes]{MaxSize: n + 1, MaxLifetime: 10 * time.Minute, MaxConstructing: n + 1})
		var leases []pool.Lease[*poolRes]
		for range n {
			leases = append(leases, mustAcquire(t, p))
		}
		held := mustAcquire(t, p)
		for _, l := range leases {
			l.Release()
		}

		time.Sleep(9 * time.Minute)
		synctest.Wait()
		require.Zero(t, p.Stats().DestroyedLifetime, "no lifetime is below 90%")
		moments := map[int64]bool{}
		for p.Stats().DestroyedLifetime < n {
			before := p.Stats().DestroyedLifetime
			time.Sleep(time.Second)
			synctest.Wait()
			if p.Stats().DestroyedLifetime > before {
				moments[time.Now().Unix()] = true
			}
		}
		assert.LessOrEqual(t, time.Since(start), 10*time.Minute+time.Second)
		assert.Greater(t, len(moments), 1, "jitter spreads the expiries")

		time.Sleep(time.Until(start.Add(10 * time.Minute)))
		synctest.Wait()
		assert.Equal(t, 1, p.Stats().InUse, "the held lease outlives its lifetime")
		assert.False(t, held.Value().closed.Load())
		held.Release()
		st := p.Stats()
		assert.EqualValues(t, n+1, st.DestroyedLifetime, "destroyed on release")
		assert.Zero(t, st.Total)
		closePool(t, p)
	})
}

func TestPoolHealthChecksResourcesIdleLongerThanTheThreshold(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &resFactory{}
		var checks atomic.Int32
		p := newTestPool(t, f, pool.Config[*poolRes]{
			MaxSize:          2,
			HealthCheckAfter: 30 * time.Second,
			HealthCheck: func(ctx context.Context, r *poolRes) error {
				checks.Add(1)
				if r.bad.Load() {
					return errors.New("broken pipe")
				}
				return ctx.Err()
			},
		})
		l := mustAcquire(t, p)
		first := l.Value()
		l.Release()
		time.Sleep(10 * time.Second)
		l = mustAcquire(t, p)
		assert.Zero(t, checks.Load(), "idle for less than the threshold")
		l.Release()
		time.Sleep(30 * time.Second)
		l = mustAcquire(t, p)
		assert.EqualValues(t, 1, checks.Load())
		assert.Same(t, first, l.Value())
		first.bad.Store(true)
		l.Release()
		time.Sleep(time.Minute)
		l = mustAcquire(t, p)
		assert.EqualValues(t, 2, checks.Load())
		assert.NotSame(t, first, l.Value(), "the broken one was destroyed and replaced")
		assert.True(t, first.closed.Load())
		assert.EqualValues(t, 1, p.Stats().DestroyedHealthCheck)
		l.Release()
		closePool(t, p)
	})
}

func TestPoolCloseFailsWaitersClosesIdleAndWaitsForLeases(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &resFactory{}
		p := newTestPool(t, f, pool.Config[*poolRes]{MaxSize: 2})
		a, b := mustAcquire(t, p), mustAcquire(t, p)
		b.Release()
		b = mustAcquire(t, p)
		w := acquireAsync(context.Background(), p)
		synctest.Wait()
		b.Release() // to the waiter
		r := <-w
		require.NoError(t, r.err)
		w = acquireAsync(context.Background(), p)
		synctest.Wait()

		closed := make(chan error, 1)
		go func() { closed <- p.Close(context.Background()) }()
		require.ErrorIs(t, (<-w).err, pool.ErrClosed)
		_, err := p.Acquire(context.Background())
		require.ErrorIs(t, err, pool.ErrClosed)
		synctest.Wait()
		select {
		case err := <-closed:
			t.Fatalf("Close returned %v with leases out", err)
		default:
		}
		a.Release()
		assert.EqualValues(t, 1, f.live(), "released after Close: destroyed")
		r.l.Destroy()
		require.NoError(t, <-closed)
		assert.Zero(t, f.live())
		st := p.Stats()
		assert.EqualValues(t, 1, st.DestroyedClose)
		assert.EqualValues(t, 1, st.DestroyedExplicit)
		assert.Zero(t, st.Total)
		require.NoError(t, p.Close(context.Background()), "a second Close is a no-op")
	})
}

func TestPoolCloseGivesUpOnLateLeasesAndNamesWhereTheyWereAcquired(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &resFactory{}
		p := newTestPool(t, f, pool.Config[*poolRes]{MaxSize: 2, LeakThreshold: time.Hour})
		late := mustAcquire(t, p)
		idle := mustAcquire(t, p)
		idle.Release()
		time.Sleep(2 * time.Second)

		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		err := p.Close(ctx)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		var le *pool.LeaseError
		require.ErrorAs(t, err, &le)
		assert.Equal(t, 3*time.Second, le.Held)
		assert.Contains(t, le.Stack(), "TestPoolCloseGivesUpOnLateLeasesAndNamesWhereTheyWereAcquired")
		assert.Contains(t, err.Error(), "1 leases still out")
		assert.Contains(t, err.Error(), "pool_test.go:")
		assert.True(t, late.Value().closed.Load(), "destroyed under its holder")
		assert.Zero(t, f.live())
		late.Release() // harmless
		assert.Zero(t, p.Stats().Total)
		assert.Zero(t, poolJanitors())
	})
}

func TestPoolCloseSaysWhenAcquireStacksWereNotRecorded(t *testing.T) {
	f := &resFactory{}
	p := newTestPool(t, f, pool.Config[*poolRes]{MaxSize: 1})
	l := mustAcquire(t, p)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := p.Close(ctx)
	var le *pool.LeaseError
	require.ErrorAs(t, err, &le)
	assert.Empty(t, le.Stack())
	assert.Contains(t, le.Error(), "set Config.LeakThreshold")
	assert.NoError(t, l.Close())
}

func TestPoolCloseCancelsRunningOpens(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &resFactory{}
		f.setGate(make(chan struct{}))
		p := newTestPool(t, f, pool.Config[*poolRes]{MaxSize: 1})
		w := acquireAsync(context.Background(), p)
		synctest.Wait()
		require.NoError(t, p.Close(context.Background()))
		require.ErrorIs(t, (<-w).err, pool.ErrClosed)
		assert.ErrorIs(t, f.ctxErr(), context.Canceled)
	})
}

func TestPoolCloseReturnsCloseErrors(t *testing.T) {
	f := &resFactory{closeErr: errors.New("close failed")}
	p := newTestPool(t, f, pool.Config[*poolRes]{MaxSize: 2})
	a, b := mustAcquire(t, p), mustAcquire(t, p)
	a.Destroy() // in the background: kept for Close
	b.Release()
	err := p.Close(context.Background())
	require.ErrorIs(t, err, f.closeErr)
	assert.Len(t, multierr.Errors(err), 2)
	assert.EqualValues(t, 2, p.Stats().CloseErrors)
}

func TestPoolUsesTheConfiguredClose(t *testing.T) {
	var closed []int
	p, err := pool.New(pool.Config[int]{
		Open:    func(context.Context) (int, error) { return 7, nil },
		Close:   func(v int) error { closed = append(closed, v); return nil },
		MaxSize: 1,
	})
	require.NoError(t, err)
	l, err := p.Acquire(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 7, l.Value())
	l.Destroy()
	assert.Equal(t, []int{7}, closed)
	require.NoError(t, p.Close(context.Background()))
}

func TestPoolRunsNoBackgroundGoroutineWithoutDeadlines(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &resFactory{}
		p := newTestPool(t, f, pool.Config[*poolRes]{MaxSize: 2})
		l := mustAcquire(t, p)
		l.Release()
		synctest.Wait()
		assert.Zero(t, poolJanitors())

		q := newTestPool(t, f, pool.Config[*poolRes]{MaxSize: 2, MaxIdleTime: time.Minute})
		l = mustAcquire(t, q)
		l.Release()
		synctest.Wait()
		assert.Equal(t, 1, poolJanitors(), "an idle resource to expire")
		time.Sleep(time.Minute)
		synctest.Wait()
		assert.Zero(t, poolJanitors(), "gone once nothing is left to expire")
		closePool(t, p)
		closePool(t, q)
	})
}

func TestPoolAcquireAndReleaseAllocateNothing(t *testing.T) {
	t.Cleanup(track.Set(track.Off)) // the claim is about untracked leases; TestMain forces tracking
	f := &resFactory{}
	p := newTestPool(t, f, pool.Config[*poolRes]{MaxSize: 1, MaxIdleTime: time.Hour, MaxLifetime: time.Hour})
	defer closePool(t, p)
	ctx := context.Background()
	allocs := testing.AllocsPerRun(1000, func() {
		l, err := p.Acquire(ctx)
		if err != nil {
			panic(err)
		}
		_ = l.Value()
		l.Release()
	})
	assert.Zero(t, allocs, "idle resource")
}

func TestPoolHandOffToWaitersAllocatesNothing(t *testing.T) {
	if poolRace {
		t.Skip("the race detector makes sync.Pool drop waiters at random")
	}
	t.Cleanup(track.Set(track.Off)) // the claim is about untracked leases; TestMain forces tracking
	f := &resFactory{}
	p := newTestPool(t, f, pool.Config[*poolRes]{MaxSize: 1})
	defer closePool(t, p)
	const workers, rounds = 4, 2000
	run := func(start chan struct{}, wg *sync.WaitGroup) {
		for range workers {
			wg.Go(func() {
				<-start
				for range rounds {
					l, err := p.Acquire(context.Background())
					if err != nil {
						panic(err)
					}
					runtime.Gosched() // let the others queue up
					l.Release()
				}
			})
		}
	}
	// Warm up: the waiters' channels are made once.
	var wg sync.WaitGroup
	start := make(chan struct{})
	run(start, &wg)
	close(start)
	wg.Wait()

	start = make(chan struct{})
	run(start, &wg)
	runtime.GC() // empty nothing during the measure
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	close(start)
	wg.Wait()
	runtime.ReadMemStats(&after)
	st := p.Stats()
	require.Greater(t, st.Waits, uint64(workers*rounds/10), "the measure covers waits")
	assert.Less(t, after.Mallocs-before.Mallocs, uint64(workers*rounds/100))
}

func TestPoolConcurrentUseNeverLendsAResourceTwice(t *testing.T) {
	f := &resFactory{maxSize: 4}
	p := newTestPool(t, f, pool.Config[*poolRes]{MaxSize: 4, MaxWaiters: 100})
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := range 300 {
				ctx, cancel := context.WithTimeout(context.Background(), time.Duration(i%3)*time.Millisecond)
				l, err := p.Acquire(ctx)
				cancel()
				if err != nil {
					if !errors.Is(err, context.DeadlineExceeded) {
						t.Errorf("Acquire: %v", err)
					}
					continue
				}
				r := l.Value()
				r.hold(t)
				runtime.Gosched()
				r.unhold()
				if (g+i)%17 == 0 {
					l.Destroy()
				} else {
					l.Release()
				}
			}
		})
	}
	wg.Wait()
	// A construction started for an Acquire that timed out outlives it and
	// lands in the pool: wait for those before counting.
	require.Eventually(t, func() bool { return p.Stats().Constructing == 0 }, 10*time.Second, time.Millisecond)
	st := p.Stats()
	assert.Zero(t, st.InUse)
	assert.Zero(t, st.Waiters)
	assert.Equal(t, st.Total, st.Idle)
	assert.EqualValues(t, st.Total, f.live())
	assert.False(t, f.overflow, "more than MaxSize resources open at once")
	closePool(t, p)
	assert.Zero(t, f.live())
}

// ctxCloser closes with a context, as *pgx.Conn does.
type ctxCloser struct{ closed *atomic.Int32 }

func (c ctxCloser) Close(ctx context.Context) error {
	c.closed.Add(1)
	return ctx.Err()
}

// plainCloser closes without returning an error.
type plainCloser struct{ closed *atomic.Int32 }

func (c plainCloser) Close() { c.closed.Add(1) }

func TestPoolClosesEveryResourceOrRefusesTheConfig(t *testing.T) {
	_, err := pool.New(pool.Config[int]{
		Open:    func(context.Context) (int, error) { return 1, nil },
		MaxSize: 1,
	})
	require.ErrorContains(t, err, "Config.Close is required: int has no Close method")

	var closed atomic.Int32
	p, err := pool.New(pool.Config[ctxCloser]{
		Open:    func(context.Context) (ctxCloser, error) { return ctxCloser{&closed}, nil },
		MaxSize: 1,
	})
	require.NoError(t, err, "Close(context.Context) error is recognised")
	l, err := p.Acquire(context.Background())
	require.NoError(t, err)
	l.Destroy()
	assert.EqualValues(t, 1, closed.Load())
	require.NoError(t, p.Close(context.Background()))

	q, err := pool.New(pool.Config[plainCloser]{
		Open:    func(context.Context) (plainCloser, error) { return plainCloser{&closed}, nil },
		MaxSize: 1,
	})
	require.NoError(t, err, "Close() is recognised")
	l2, err := q.Acquire(context.Background())
	require.NoError(t, err)
	l2.Release()
	require.NoError(t, q.Close(context.Background()))
	assert.EqualValues(t, 2, closed.Load())
}

func TestHistogramQuantileOfAnyInput(t *testing.T) {
	var h pool.Histogram
	h.Counts[1] = 3 // [1µs, 2µs)
	h.Counts[4] = 1 // [8µs, 16µs)
	assert.Zero(t, h.Quantile(math.NaN()), "NaN: 0")
	assert.Equal(t, 2*time.Microsecond, h.Quantile(-1), "below 0: the minimum's bucket")
	assert.Equal(t, 2*time.Microsecond, h.Quantile(0))
	assert.Equal(t, 2*time.Microsecond, h.Quantile(0.75))
	assert.Equal(t, 16*time.Microsecond, h.Quantile(0.76))
	assert.Equal(t, 16*time.Microsecond, h.Quantile(1))
	assert.Equal(t, 16*time.Microsecond, h.Quantile(math.Inf(1)), "above 1: the maximum's bucket")
	assert.Equal(t, 2*time.Microsecond, h.Quantile(math.Inf(-1)))
	h.Counts[len(h.Counts)-1] = 1
	lo, _ := h.Bounds(len(h.Counts) - 1)
	assert.Equal(t, lo, h.Quantile(1), "the last bucket has no upper bound")
}

func TestPoolUsesEveryOpenBackoffFieldItAccepts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &resFactory{}
		f.setErr(errors.New("refused"))
		p := newTestPool(t, f, pool.Config[*poolRes]{
			MaxSize: 1, MinIdle: 1,
			OpenBackoff: retry.Policy{InitialDelay: time.Second, Multiplier: 3, MaxDelay: 9 * time.Second, Jitter: retry.NoJitter},
			Logger:      slog.New(slog.DiscardHandler),
		})
		// Attempts at 0, 1s, 1+3=4s, 4+9=13s, 13+9=22s.
		for _, at := range []struct {
			t     time.Duration
			calls int64
		}{{500 * time.Millisecond, 1}, {1500 * time.Millisecond, 2}, {3900 * time.Millisecond, 2}, {4100 * time.Millisecond, 3}, {12900 * time.Millisecond, 3}, {13100 * time.Millisecond, 4}, {22100 * time.Millisecond, 5}} {
			time.Sleep(time.Until(time.Unix(946684800, 0).Add(at.t)))
			synctest.Wait()
			assert.Equal(t, at.calls, f.calls.Load(), "at %v", at.t)
		}
		closePool(t, p)
	})
}

func TestPoolMaxIdleClosesTheExcessOfABurst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &resFactory{}
		p := newTestPool(t, f, pool.Config[*poolRes]{MaxSize: 8, MaxIdle: 2, MaxConstructing: 8})
		var burst []pool.Lease[*poolRes]
		for range 8 {
			burst = append(burst, mustAcquire(t, p))
		}
		for _, l := range burst {
			l.Release()
		}
		st := p.Stats()
		assert.Equal(t, 2, st.Idle)
		assert.Equal(t, 2, st.Total)
		assert.EqualValues(t, 6, st.DestroyedIdle)
		assert.EqualValues(t, 2, f.live())
		closePool(t, p)
	})
}

func TestPoolLifetimeJitterIsExactAndCanBeTurnedOff(t *testing.T) {
	for _, tc := range []struct {
		name          string
		jitter        time.Duration
		earliest, max time.Duration
	}{
		{"default: (90%, 100%]", 0, 9*time.Minute + time.Nanosecond, 10 * time.Minute},
		{"one minute", time.Minute, 9*time.Minute + time.Nanosecond, 10 * time.Minute},
		{"none", pool.NoLifetimeJitter, 10 * time.Minute, 10 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := &resFactory{}
				start := time.Now()
				const n = 16
				p := newTestPool(t, f, pool.Config[*poolRes]{
					MaxSize: n, MaxConstructing: n,
					MaxLifetime: 10 * time.Minute, LifetimeJitter: tc.jitter,
				})
				var leases []pool.Lease[*poolRes]
				for range n {
					leases = append(leases, mustAcquire(t, p))
				}
				for _, l := range leases {
					l.Release()
				}
				var first, last time.Duration
				for p.Stats().DestroyedLifetime < n {
					before := p.Stats().DestroyedLifetime
					time.Sleep(time.Second)
					synctest.Wait()
					if p.Stats().DestroyedLifetime > before {
						if first == 0 {
							first = time.Since(start)
						}
						last = time.Since(start)
					}
				}
				// Expiries are seen at the next whole second.
				assert.GreaterOrEqual(t, first, tc.earliest.Truncate(time.Second))
				assert.LessOrEqual(t, last, tc.max, "no resource outlives MaxLifetime")
				if tc.jitter == pool.NoLifetimeJitter {
					assert.Equal(t, first, last, "all together")
				}
				closePool(t, p)
			})
		})
	}
}

// doneOnSecondLook is a context that is not done when Acquire first
// checks it, and done from then on: an Acquire that queues up and gives
// up, with nothing allocated to set it up.
type doneOnSecondLook struct {
	context.Context
	looks int
	done  chan struct{}
}

func (c *doneOnSecondLook) Err() error {
	c.looks++
	if c.looks == 1 {
		return nil
	}
	return context.Canceled
}

func (c *doneOnSecondLook) Done() <-chan struct{} { return c.done }

func TestPoolAcquireThatGivesUpAllocatesOnlyItsError(t *testing.T) {
	if poolRace {
		t.Skip("the race detector makes sync.Pool drop waiters at random")
	}
	f := &resFactory{}
	p := newTestPool(t, f, pool.Config[*poolRes]{MaxSize: 1})
	defer closePool(t, p)
	held := mustAcquire(t, p)
	defer held.Release()

	done, cancel := context.WithCancel(context.Background())
	cancel()
	allocs := testing.AllocsPerRun(1000, func() {
		if _, err := p.Acquire(done); !errors.Is(err, context.Canceled) {
			panic(err)
		}
	})
	assert.EqualValues(t, 1, allocs, "done on entry: the *AcquireError")

	ctx := &doneOnSecondLook{Context: context.Background(), done: make(chan struct{})}
	close(ctx.done)
	allocs = testing.AllocsPerRun(1000, func() {
		ctx.looks = 0
		if _, err := p.Acquire(ctx); !errors.Is(err, context.Canceled) {
			panic(err)
		}
	})
	assert.EqualValues(t, 1, allocs, "gave up waiting: the *AcquireError")
	assert.Positive(t, p.Stats().Canceled)
}
