package pool_test

import (
	"context"
	"errors"
	"log/slog"
	"runtime"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reclaim-go/reclaim/internal/fault"
	"github.com/reclaim-go/reclaim/internal/logtest"
	"github.com/reclaim-go/reclaim/pool"
	"github.com/reclaim-go/reclaim/retry"
)

// recovering runs fn as a caller that recovers (net/http does for every
// handler) and returns what it recovered.
func recovering(fn func()) (v any) {
	defer func() { v = recover() }()
	fn()
	return nil
}

func TestPoolPanickingHealthCheckStrandsNoSlot(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &resFactory{}
		var panics atomic.Bool
		p := newTestPool(t, f, pool.Config[*poolRes]{
			MaxSize: 1,
			HealthCheck: func(ctx context.Context, r *poolRes) error {
				if panics.Load() {
					panic("health check blew up")
				}
				return nil
			},
		})
		mustAcquire(t, p).Release()
		panics.Store(true)
		v := recovering(func() { _, _ = p.Acquire(context.Background()) })
		assert.Equal(t, "health check blew up", v, "the panic reaches the caller")
		st := p.Stats()
		assert.Zero(t, st.InUse, "no slot counted as lent with no lease")
		assert.Zero(t, st.Total, "the resource it checked is destroyed")
		assert.EqualValues(t, 1, st.DestroyedHealthCheck)

		panics.Store(false)
		l := mustAcquire(t, p) // MaxSize 1: the pool lends again
		l.Release()
		closePool(t, p)
		assert.Zero(t, f.live())
	})
}

func TestPoolPanickingCloseOfOneDroppedLeaseStrandsNoOther(t *testing.T) {
	expectDrops(t)
	f := &resFactory{}
	var closes atomic.Int32
	p, err := pool.New(pool.Config[*poolRes]{
		Open: f.Open,
		Close: func(r *poolRes) error {
			err := r.Close()
			if closes.Add(1) == 1 {
				panic("close blew up")
			}
			return err
		},
		MaxSize:       3,
		LeakThreshold: time.Hour,
		Logger:        slog.New(slog.DiscardHandler),
	})
	require.NoError(t, err)
	dropLease(t, p)
	dropLease(t, p)
	collectDropped(t, p, 2)
	// The next Acquire destroys both: the first Close panics, the second
	// still runs.
	v := recovering(func() { _, _ = p.Acquire(context.Background()) })
	assert.Equal(t, "close blew up", v)
	assert.EqualValues(t, 2, closes.Load())
	assert.EqualValues(t, 2, p.Stats().DestroyedDropped)
	assert.Zero(t, p.Stats().Total)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, p.Close(ctx), "Close drains")
	assert.Zero(t, f.live())
}

func TestPoolOpenPanicReachesTheWaitingCaller(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var panics atomic.Bool
		panics.Store(true)
		f := &resFactory{}
		p, err := pool.New(pool.Config[*poolRes]{
			Open: func(ctx context.Context) (*poolRes, error) {
				if panics.Load() {
					panic("dial blew up")
				}
				return f.Open(ctx)
			},
			MaxSize:     1,
			OpenBackoff: retry.Policy{InitialDelay: time.Second, Jitter: retry.NoJitter},
		})
		require.NoError(t, err)
		v := recovering(func() { _, _ = p.Acquire(context.Background()) })
		var pe *pool.PanicError
		require.ErrorAs(t, v.(error), &pe, "re-panicked in the caller as a *PanicError")
		assert.Equal(t, "dial blew up", pe.Value)
		assert.Contains(t, pe.Stack, "TestPoolOpenPanicReachesTheWaitingCaller", "with the stack of the Open")
		assert.EqualValues(t, 0, p.Stats().Panics, "delivered, so not reported")

		panics.Store(false)
		time.Sleep(time.Second) // the backoff
		mustAcquire(t, p).Release()
		closePool(t, p)
	})
}

func TestPoolBackgroundOpenPanicIsKeptForCloseOrLogged(t *testing.T) {
	t.Run("kept", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			p, err := pool.New(pool.Config[*poolRes]{
				Open:    func(context.Context) (*poolRes, error) { panic("warm-up blew up") },
				MaxSize: 1, MinIdle: 1,
			})
			require.NoError(t, err)
			synctest.Wait()
			assert.EqualValues(t, 1, p.Stats().Panics)
			err = p.Close(context.Background())
			var pe *pool.PanicError
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, "warm-up blew up", pe.Value)
		})
	})
	t.Run("logged", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var logs logtest.Buffer
			p, err := pool.New(pool.Config[*poolRes]{
				Open: func(context.Context) (*poolRes, error) {
					var v *poolRes
					runtimeGoexit()
					return v, nil
				},
				MaxSize: 1, MinIdle: 1,
				Logger: slog.New(slog.NewTextHandler(&logs, nil)),
			})
			require.NoError(t, err)
			synctest.Wait()
			assert.Contains(t, logs.String(), "called runtime.Goexit")
			require.NoError(t, p.Close(context.Background()))
		})
	})
}

func TestPoolAcquireWhoseHealthCheckSpansCloseLendsNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &resFactory{}
		gate := make(chan struct{})
		var gated atomic.Bool
		p := newTestPool(t, f, pool.Config[*poolRes]{
			MaxSize: 1,
			HealthCheck: func(ctx context.Context, r *poolRes) error {
				if gated.Load() {
					<-gate
				}
				return nil
			},
		})
		mustAcquire(t, p).Release()
		gated.Store(true)
		w := acquireAsync(context.Background(), p)
		synctest.Wait()
		closed := make(chan error, 1)
		go func() { closed <- p.Close(context.Background()) }()
		synctest.Wait()
		close(gate)
		r := <-w
		require.ErrorIs(t, r.err, pool.ErrClosed)
		require.NoError(t, <-closed)
		assert.Zero(t, f.live())
	})
}

// TestPoolSurvivesEveryEndingOfEveryCallback drives Open, Close and
// HealthCheck through every ending of the fault model, under callers that
// recover, and checks after each that the pool still lends, never lends a
// resource twice, and that Close drains within its deadline.
func TestPoolSurvivesEveryEndingOfEveryCallback(t *testing.T) {
	for _, site := range []string{"Open", "Close", "HealthCheck"} {
		for _, k := range fault.Kinds() {
			t.Run(site+"/"+k.String(), func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) { poolFaultScenario(t, site, k) })
			})
		}
	}
}

func poolFaultScenario(t *testing.T, site string, kind fault.Kind) {
	in := fault.New(1, fault.Options{})
	var armed atomic.Int32
	armed.Store(3) // the first three calls of site misbehave
	faulty := func(s string) bool { return s == site && armed.Add(-1) >= 0 }
	f := &resFactory{}
	p, err := pool.New(pool.Config[*poolRes]{
		Open: func(ctx context.Context) (*poolRes, error) {
			if faulty("Open") {
				if err := in.Perform(ctx, "Open", kind); err != nil {
					return nil, err
				}
			}
			return f.Open(ctx)
		},
		Close: func(r *poolRes) error {
			err := r.Close()
			if faulty("Close") {
				if ferr := in.PerformWithoutContext("Close", kind); ferr != nil {
					return ferr
				}
			}
			return err
		},
		HealthCheck: func(ctx context.Context, r *poolRes) error {
			if faulty("HealthCheck") {
				return in.Perform(ctx, "HealthCheck", kind)
			}
			return nil
		},
		MaxSize:     2,
		MinIdle:     1,
		MaxIdleTime: time.Minute,
		OpenTimeout: time.Second,
		OpenBackoff: retry.Policy{InitialDelay: 10 * time.Millisecond, MaxDelay: 100 * time.Millisecond},
	})
	require.NoError(t, err)

	// call runs op as a caller that recovers and may be ended by Goexit,
	// and records what it saw.
	call := func(op func() error) {
		o := fault.Call(func() {
			if err := op(); err != nil {
				in.Observe(err)
			}
		})
		if o.Panicked {
			in.Recovered(o.Recovered)
		}
	}
	acquire := func() (l pool.Lease[*poolRes], ok bool) {
		call(func() error {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			var err error
			l, err = p.Acquire(ctx)
			if err == nil {
				l.Value().hold(t)
				ok = true
			}
			return err
		})
		return l, ok
	}
	giveBack := func(l pool.Lease[*poolRes], destroy bool) {
		l.Value().unhold()
		call(func() error {
			if destroy {
				l.Destroy()
			} else {
				l.Release()
			}
			return nil
		})
	}
	for round := range 4 {
		a, okA := acquire()
		b, okB := acquire()
		if okA {
			giveBack(a, round%2 == 1)
		}
		if okB {
			giveBack(b, false)
		}
		time.Sleep(2 * time.Minute) // idle resources expire; MinIdle refills
	}

	armed.Store(0)
	time.Sleep(time.Second) // past any backoff
	l, ok := acquire()
	require.True(t, ok, "the pool still lends")
	giveBack(l, false)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = p.Close(ctx)
	in.Observe(err)
	require.NotErrorIs(t, err, context.DeadlineExceeded, "Close drains within its deadline")
	assert.Zero(t, f.live(), "every resource closed")

	// Injected panics (and Close errors) are each seen exactly once; a
	// HealthCheck error only says the resource is broken, and an Open
	// error is given to the waiters that fail fast, so those are not
	// counted.
	r := in.Report()
	for _, e := range r.Unobserved {
		if e.Kind == fault.Panic || e.Site == "Close" {
			t.Errorf("never observed: %v", e)
		}
	}
	for _, e := range r.Twice {
		if e.Kind == fault.Panic || e.Site == "Close" {
			t.Errorf("observed twice: %v", e)
		}
	}
}

func TestPoolOneFailedOpenFailsOneCaller(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		refused := errors.New("connection refused")
		f := &resFactory{}
		p := newTestPool(t, f, pool.Config[*poolRes]{
			MaxSize: 4, MaxConstructing: 1,
			OpenBackoff: retry.Policy{InitialDelay: time.Second, Jitter: retry.NoJitter},
		})
		held := []pool.Lease[*poolRes]{mustAcquire(t, p), mustAcquire(t, p), mustAcquire(t, p)}
		gate := make(chan struct{})
		f.setGate(gate)
		f.setErr(refused)
		var waiters []<-chan acquired
		for range 10 {
			waiters = append(waiters, acquireAsync(context.Background(), p))
			synctest.Wait()
		}
		gate <- struct{}{} // the one construction fails
		synctest.Wait()
		assert.EqualValues(t, 1, p.Stats().FailFast, "one failed Open fails one caller")
		assert.Equal(t, 9, p.Stats().Waiters, "the others wait for the leases out")

		f.setGate(nil)
		f.setErr(nil)
		for _, l := range held {
			l.Release()
		}
		failed := 0
		for _, w := range waiters {
			r := <-w
			if r.err != nil {
				require.ErrorIs(t, r.err, refused)
				failed++
				continue
			}
			r.l.Release()
		}
		assert.Equal(t, 1, failed)
		closePool(t, p)
	})
}

func TestPoolMaxWaitersBoundsWaitingNotGrowth(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &resFactory{}
		gate := make(chan struct{})
		f.setGate(gate)
		p := newTestPool(t, f, pool.Config[*poolRes]{MaxSize: 8, MaxWaiters: 1})
		var waiters []<-chan acquired
		for range 8 {
			waiters = append(waiters, acquireAsync(context.Background(), p))
		}
		synctest.Wait()
		assert.Zero(t, p.Stats().Busy, "a caller a construction can serve is not a waiter")
		// The pool is growing to its bound: one more may wait, the next
		// is busy.
		extra := acquireAsync(context.Background(), p)
		synctest.Wait()
		_, err := p.Acquire(context.Background())
		require.ErrorIs(t, err, pool.ErrBusy)

		close(gate)
		for _, w := range append(waiters, extra) {
			r := <-w
			require.NoError(t, r.err)
			r.l.Release()
		}
		assert.LessOrEqual(t, f.opens.Load(), int64(8), "within MaxSize")
		closePool(t, p)
	})
}

func runtimeGoexit() { runtime.Goexit() }

func TestPoolPanickingCloseInPoolCloseStrandsNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &resFactory{}
		var closes atomic.Int32
		p, err := pool.New(pool.Config[*poolRes]{
			Open: f.Open,
			Close: func(r *poolRes) error {
				err := r.Close()
				if closes.Add(1) == 1 {
					panic("close blew up")
				}
				return err
			},
			MaxSize: 3, MaxConstructing: 3,
		})
		require.NoError(t, err)
		a, b, c := mustAcquire(t, p), mustAcquire(t, p), mustAcquire(t, p)
		a.Release()
		b.Release()
		v := recovering(func() { _ = p.Close(context.Background()) })
		assert.Equal(t, "close blew up", v)
		assert.EqualValues(t, 2, closes.Load(), "the other idle resource is closed too")
		c.Release() // destroyed: the pool is closed
		require.NoError(t, p.Close(context.Background()), "a second Close finishes the work")
		assert.Zero(t, f.live())
		assert.Zero(t, p.Stats().Total)
	})
}

func TestObjectPoolPanickingResetLeavesThePoolUsable(t *testing.T) {
	var panics atomic.Bool
	panics.Store(true)
	op := pool.ObjectPool[int]{Reset: func(x *int) bool {
		if panics.Load() {
			panic("reset blew up")
		}
		*x = 0
		return true
	}}
	x := op.Get()
	*x = 7
	assert.Equal(t, "reset blew up", recovering(func() { op.Put(x) }))
	panics.Store(false)
	y := op.Get()
	assert.Zero(t, *y, "the value Reset panicked on was not kept")
	op.Put(y)
}
