package soak

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/reclaim-go/reclaim/internal/fault"
	"github.com/reclaim-go/reclaim/pool"
	"github.com/reclaim-go/reclaim/retry"
)

// conn is a pooled loopback connection with the soak's bookkeeping: who
// holds it (an ownership token) and how many times it was closed.
type conn struct {
	id     int64
	c      net.Conn
	holder atomic.Int64
	closed atomic.Int32
}

var holderIDs atomic.Int64

// poolWorkload runs one phase of a Pool of loopback connections under a
// random configuration: a few goroutines acquire (with short deadlines, so
// that waiters cancel), use, and release or destroy connections, while
// Open, Close and HealthCheck end as the fault model chooses; the pool is
// then closed, at a random moment, sometimes under its holders. Nothing may
// be lent to two holders at once or lent after it was closed, every
// connection must be closed exactly once, and Close must return within its
// deadline.
func poolWorkload(r *run, w *worker, srv *server) {
	prefix, name := site("pool")
	var (
		mu    sync.Mutex
		conns []*conn
	)
	cfg := pool.Config[*conn]{
		MaxSize: 1 + w.rng.IntN(4),
		Open: func(ctx context.Context) (*conn, error) {
			if err := w.do(r, ctx, name("Open")); err != nil {
				return nil, err
			}
			var d net.Dialer
			c, err := d.DialContext(ctx, "tcp", srv.addr())
			if err != nil {
				return nil, err
			}
			cn := &conn{id: holderIDs.Add(1), c: c}
			mu.Lock()
			conns = append(conns, cn)
			mu.Unlock()
			return cn, nil
		},
		Close: func(cn *conn) error {
			if n := cn.closed.Add(1); n > 1 {
				r.violate(w.name, "%s: connection %d closed %d times", prefix, cn.id, n)
			}
			if h := cn.holder.Load(); h != 0 {
				r.violate(w.name, "%s: connection %d closed under holder %d", prefix, cn.id, h)
			}
			_ = cn.c.Close()
			return w.doWithoutContext(r, name("Close"))
		},
		HealthCheck: func(ctx context.Context, cn *conn) error {
			if cn.closed.Load() != 0 {
				r.violate(w.name, "%s: health check of closed connection %d", prefix, cn.id)
			}
			err := w.do(r, ctx, name("HealthCheck"))
			var inj *fault.Injected
			if errors.As(err, &inj) {
				r.in.Observe(err) // a failed check destroys the resource: that is its handling
			}
			return err
		},
		OpenTimeout: 100 * time.Millisecond,
		// A short backoff, so that a phase sees failures and recoveries.
		OpenBackoff: retry.Policy{InitialDelay: time.Millisecond, MaxDelay: 10 * time.Millisecond},
	}
	if w.rng.IntN(2) == 0 {
		cfg.MinIdle = w.rng.IntN(cfg.MaxSize + 1)
	}
	if w.rng.IntN(2) == 0 {
		cfg.MaxIdleTime = 20 * time.Millisecond
	}
	if w.rng.IntN(2) == 0 {
		cfg.MaxLifetime = 50 * time.Millisecond
	}
	if w.rng.IntN(3) == 0 {
		cfg.MaxWaiters = 1 + w.rng.IntN(2)
	}
	if w.rng.IntN(2) == 0 {
		cfg.Logger = slog.New(observer{r})
	}
	w.logf("%s: MaxSize %d MinIdle %d MaxIdleTime %v MaxLifetime %v MaxWaiters %d logger %v",
		prefix, cfg.MaxSize, cfg.MinIdle, cfg.MaxIdleTime, cfg.MaxLifetime, cfg.MaxWaiters, cfg.Logger != nil)
	p, err := pool.New(cfg)
	if err != nil {
		r.violate(w.name, "%s: pool.New: %v", prefix, err)
		return
	}

	o := runPhase(r, w, prefix, perCallback, time.Duration(cfg.MaxSize)*perCallback,
		func(g int, timeout time.Duration) func() bool {
			destroy := w.rng.IntN(4) == 0
			return func() bool { return borrow(r, w, p, prefix, timeout, destroy) }
		}, p.Close)
	checkClosed(r, w, prefix, &mu, &conns)
	// A failing Open's error reaches the callers it would have served; when
	// none was waiting (MinIdle, a construction whose caller gave up) it
	// has no caller.
	for _, e := range r.in.Pending(func(s string) bool { return s == name("Open") }) {
		if e.Kind == fault.Error {
			r.in.Observe(e)
		}
	}
	r.settle(w, prefix, o)
}

func (cn *conn) isClosed() bool { return cn.closed.Load() != 0 }

func (cn *conn) forceClose() string {
	_ = cn.c.Close()
	return fmt.Sprintf("connection %d", cn.id)
}

// borrow acquires one connection, checks and uses it, and gives it back.
// It reports whether the pool was closed.
func borrow(r *run, w *worker, p *pool.Pool[*conn], prefix string, timeout time.Duration, destroy bool) bool {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	l, err := p.Acquire(ctx)
	if err != nil {
		r.in.Observe(err)
		return errors.Is(err, pool.ErrClosed)
	}
	cn := l.Value()
	me := holderIDs.Add(1)
	if !cn.holder.CompareAndSwap(0, me) {
		r.violate(w.name, "%s: connection %d lent to holder %d while holder %d has it", prefix, cn.id, me, cn.holder.Load())
	}
	if cn.closed.Load() != 0 {
		r.violate(w.name, "%s: connection %d lent after it was closed", prefix, cn.id)
	}
	_ = cn.c.SetDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := cn.c.Write([]byte{1}); err == nil {
		var b [1]byte
		_, _ = cn.c.Read(b[:])
	}
	cn.holder.CompareAndSwap(me, 0)
	if destroy {
		l.Destroy()
	} else {
		l.Release()
	}
	return false
}

// observer is a slog.Handler that observes the errors logged to it: a
// pool or cache with a Logger hands its background errors to it.
type observer struct{ r *run }

func (o observer) Enabled(context.Context, slog.Level) bool { return true }
func (o observer) WithAttrs([]slog.Attr) slog.Handler       { return o }
func (o observer) WithGroup(string) slog.Handler            { return o }

func (o observer) Handle(_ context.Context, rec slog.Record) error {
	rec.Attrs(func(a slog.Attr) bool {
		if err, ok := a.Value.Any().(error); ok {
			o.r.in.Logged(err)
		}
		return true
	})
	return nil
}
